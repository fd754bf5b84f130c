//! The partition state file, mapped by every process that opens the partition.
//! `next_offset` is what readers trust: a batch is readable once it is below it.
//! The other fields are the writer's cache, valid only while `appending` is 0
//! and the boot id is this boot's; otherwise the next lock holder recovers.
//!
//! The durable record (`AT_DURABLE..`) says how much of the log an fdatasync
//! has covered: it is written only after the sync returned and only moves
//! forward, so whatever version of it survives a power loss is a lower bound
//! of what is on disk. A checksum guards it against a torn or garbage page.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use memmap2::MmapMut;

use crate::error::{IoContext, Result};
use crate::storage::files::{self, Handle, Mode};
use crate::sync::shared;

const SIZE: u64 = 4096;
const MAGIC: u32 = u32::from_le_bytes(*b"CLDP");
const VERSION: u32 = 1;

const AT_MAGIC: usize = 0;
const AT_VERSION: usize = 4;
const AT_NEXT: usize = 8;
const AT_START: usize = 16;
const AT_ACTIVE: usize = 24;
const AT_END: usize = 32;
const AT_APPENDING: usize = 40;
const AT_PID: usize = 44;
const AT_DELETED: usize = 48;
const AT_BOOT: usize = 56; // 16 bytes
const AT_DURABLE: usize = 72; // 4 × u64: segment base, position, next offset, index length
const AT_DURABLE_SUM: usize = 104; // u32
/// Partition 0 only: bumped each time the topic's `topic.json` is altered.
const AT_CONFIG_GEN: usize = 112;
/// When the active segment was started (ms since the epoch; 0: not known).
const AT_SEGMENT_SINCE: usize = 120;
/// A checksum of the log start, so that one moved by retention is trusted
/// after a power loss only if it verifies (u32).
const AT_START_SUM: usize = 128;
const START_TAG: &[u8; 4] = b"CLDS";
/// The first offset of the oldest open transaction, plus one (0: none).
/// With `AT_NEXT` it gives the last stable offset that readers see.
const AT_OPEN_FIRST: usize = 136;
/// The producer table: one entry per producer id that appended here lately
/// (see [`Producer`]); only the lock holder reads or writes it.
const AT_PRODUCERS: usize = 320;
const PRODUCER_ENTRY: usize = 48;
pub const PRODUCER_SLOTS: usize = (SIZE as usize - AT_PRODUCERS) / PRODUCER_ENTRY;
/// Compaction's first dirty offset: below it the log was compacted. Only a
/// hint (a lost value re-cleans), so it has no checksum.
const AT_CLEANED_TO: usize = 256;

fn start_checksum(start: u64) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(START_TAG);
    h.update(&start.to_le_bytes());
    h.finalize()
}
const DURABLE_TAG: &[u8; 4] = b"CLDD";

/// A prefix of the log known to be on stable storage: segment `base` up to
/// `pos` (where offset `next` starts), and its index file up to `index_len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Durable {
    pub base: u64,
    pub pos: u64,
    pub next: u64,
    pub index_len: u64,
}

impl Durable {
    fn fields(self) -> [u64; 4] {
        [self.base, self.pos, self.next, self.index_len]
    }
    /// Never 0 for all-zero fields, so a zeroed page does not verify.
    fn checksum(fields: [u64; 4]) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(DURABLE_TAG);
        for f in fields {
            h.update(&f.to_le_bytes());
        }
        h.finalize()
    }
}

/// What the partition knows of one producer id: its last append (for
/// dropping a retried duplicate) and its open transaction, if any (for the
/// last stable offset and the aborted-transaction index).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Producer {
    pub pid: i64,
    pub epoch: i16,
    /// Sequences of the first and last record of its last append (-1: unknown).
    pub first_seq: i32,
    pub last_seq: i32,
    /// The first offset of its last append.
    pub offset: u64,
    /// The first offset of its current or last transaction here.
    pub txn_first: Option<u64>,
    /// Where that transaction's marker is, once one was written.
    pub txn_end: Option<u64>,
}

impl Producer {
    /// An open transaction: data written, no marker yet.
    pub fn open(&self) -> Option<u64> {
        self.txn_first.filter(|_| self.txn_end.is_none())
    }
}

/// This machine boot's id, so a state written before a power loss is not trusted.
pub fn boot_id() -> [u8; 16] {
    static ID: OnceLock<[u8; 16]> = OnceLock::new();
    *ID.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
        let hex: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        let mut id = [0u8; 16];
        for (i, pair) in hex.chunks(2).take(16).enumerate() {
            let s = std::str::from_utf8(pair).unwrap_or("0");
            id[i] = u8::from_str_radix(s, 16).unwrap_or(0);
        }
        id
    })
}

/// `(log start, next offset)` as the state file at `path` holds them now, read
/// without mapping, locking or creating anything; `None` when it is missing,
/// short, or not a state file of ours.
pub fn peek(path: &Path) -> Result<Option<(u64, u64)>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).ctx(format_args!("reading {}", path.display())),
    };
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    if (bytes.len() as u64) < SIZE || u32_at(AT_MAGIC) != MAGIC || u32_at(AT_VERSION) != VERSION {
        return Ok(None);
    }
    Ok(Some((u64_at(AT_START), u64_at(AT_NEXT))))
}

pub struct State {
    /// Also the partition's lock file, in the process's file cache: the
    /// mapping outlives the descriptor.
    file: Handle,
    ino: u64,
    map: MmapMut,
}

impl State {
    /// Opens (creating if missing) the state file at `path`.
    pub fn open(path: &Path) -> Result<State> {
        let (file, map) = shared::map(path, SIZE, "state")?;
        let ino = file.metadata().ctx("stat state file")?.ino();
        let file = files::files().adopt(path, Mode::ReadWrite, Arc::new(file));
        Ok(State { file, ino, map })
    }

    /// The state file, to lock; `None` when the file mapped is no longer at
    /// its path (the topic was deleted, and maybe created again).
    pub fn lock_file(&self) -> Result<Option<Arc<File>>> {
        match self.file.get() {
            Ok((f, false)) => Ok(Some(f)),
            Ok((f, true)) if f.metadata().ctx("stat state file")?.ino() == self.ino => Ok(Some(f)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).ctx(format_args!("opening {}", self.file.path().display())),
        }
    }

    fn u64(&self, at: usize) -> &AtomicU64 {
        shared::u64_at(&self.map, at)
    }
    fn u32(&self, at: usize) -> &AtomicU32 {
        shared::u32_at(&self.map, at)
    }

    /// The first unwritten offset: everything below it is complete and readable.
    pub fn next_offset(&self) -> u64 {
        self.u64(AT_NEXT).load(Ordering::Acquire)
    }
    /// The lowest offset still on disk.
    pub fn log_start(&self) -> u64 {
        self.u64(AT_START).load(Ordering::Acquire)
    }
    /// Moves the log start forward (never back); only the lock holder calls this.
    pub fn advance_log_start(&self, to: u64) -> u64 {
        let start = self.log_start().max(to);
        self.set_log_start(start);
        start
    }
    fn set_log_start(&self, start: u64) {
        self.u64(AT_START).store(start, Ordering::Release);
        self.u32(AT_START_SUM)
            .store(start_checksum(start), Ordering::Release);
    }
    /// The log start if the header is ours and its checksum verifies.
    pub fn verified_log_start(&self) -> Option<u64> {
        let start = self.log_start();
        let ours = self.u32(AT_MAGIC).load(Ordering::Acquire) == MAGIC;
        let sum = self.u32(AT_START_SUM).load(Ordering::Acquire);
        (ours && sum == start_checksum(start)).then_some(start)
    }
    /// The topic configuration's generation (kept in partition 0's state).
    pub fn config_gen(&self) -> u64 {
        self.u64(AT_CONFIG_GEN).load(Ordering::Acquire)
    }
    pub fn bump_config_gen(&self) {
        self.u64(AT_CONFIG_GEN).fetch_add(1, Ordering::AcqRel);
    }
    /// When the active segment was started (ms since the epoch), 0 if not known.
    pub fn segment_since(&self) -> i64 {
        self.u64(AT_SEGMENT_SINCE).load(Ordering::Acquire) as i64
    }
    /// Only the lock holder calls this.
    pub fn set_segment_since(&self, ms: i64) {
        self.u64(AT_SEGMENT_SINCE)
            .store(ms as u64, Ordering::Release);
    }
    /// The last stable offset: below it every transaction is decided. Read
    /// committed readers stop here; it is the next offset when none is open.
    pub fn stable_end(&self) -> u64 {
        let next = self.next_offset();
        match self.u64(AT_OPEN_FIRST).load(Ordering::Acquire) {
            0 => next,
            first => next.min(first - 1),
        }
    }

    /// Producer table slot `i`, `None` when free.
    pub fn producer(&self, i: usize) -> Option<Producer> {
        let at = AT_PRODUCERS + i * PRODUCER_ENTRY;
        let load = |o: usize| self.u64(at + o).load(Ordering::Relaxed);
        let pid = load(0);
        let opt = |v: u64| v.checked_sub(1);
        let seqs = load(32);
        (pid != 0).then(|| Producer {
            pid: (pid - 1) as i64,
            offset: load(8),
            txn_first: opt(load(16)),
            txn_end: opt(load(24)),
            first_seq: seqs as u32 as i32,
            last_seq: (seqs >> 32) as u32 as i32,
            epoch: load(40) as u16 as i16,
        })
    }

    /// Writes slot `i` (`None` frees it); only the lock holder calls this.
    pub fn set_producer(&self, i: usize, p: Option<&Producer>) {
        let at = AT_PRODUCERS + i * PRODUCER_ENTRY;
        let opt = |v: Option<u64>| v.map_or(0, |v| v + 1);
        let fields = p.map_or([0; 6], |p| {
            [
                p.pid as u64 + 1,
                p.offset,
                opt(p.txn_first),
                opt(p.txn_end),
                u64::from(p.first_seq as u32) | u64::from(p.last_seq as u32) << 32,
                u64::from(p.epoch as u16),
            ]
        });
        for (k, f) in fields.into_iter().enumerate() {
            self.u64(at + 8 * k).store(f, Ordering::Relaxed);
        }
    }

    /// The slot of `pid`, or `None`.
    pub fn find_producer(&self, pid: i64) -> Option<(usize, Producer)> {
        (0..PRODUCER_SLOTS).find_map(|i| self.producer(i).filter(|p| p.pid == pid).map(|p| (i, p)))
    }

    /// A slot for a new producer: a free one, else the one that appended
    /// longest ago and has no open transaction; `None` if every slot has one.
    pub fn free_producer_slot(&self) -> Option<usize> {
        let mut best: Option<(usize, u64)> = None;
        for i in 0..PRODUCER_SLOTS {
            match self.producer(i) {
                None => return Some(i),
                Some(p) if p.open().is_none() && best.is_none_or(|(_, o)| p.offset < o) => {
                    best = Some((i, p.offset))
                }
                _ => {}
            }
        }
        best.map(|(i, _)| i)
    }

    /// Stores the oldest open transaction's first offset (lock holder only,
    /// before publishing the append that changed the table).
    pub fn refresh_open_first(&self) {
        let first = (0..PRODUCER_SLOTS)
            .filter_map(|i| self.producer(i)?.open())
            .min();
        self.u64(AT_OPEN_FIRST)
            .store(first.map_or(0, |f| f + 1), Ordering::Release);
    }

    /// After recovery cut the log at `next`: forgets appends past it, and
    /// reopens a transaction whose marker was cut.
    pub fn cut_producers(&self, next: u64) {
        for i in 0..PRODUCER_SLOTS {
            let Some(mut p) = self.producer(i) else {
                continue;
            };
            if p.offset >= next {
                (p.first_seq, p.last_seq) = (-1, -1);
            }
            if p.txn_first.is_some_and(|f| f >= next) {
                (p.txn_first, p.txn_end) = (None, None);
            }
            if p.txn_end.is_some_and(|e| e >= next) {
                p.txn_end = None;
            }
            self.set_producer(i, Some(&p));
        }
        self.refresh_open_first();
    }

    /// Where compaction stopped last: records from here on are dirty.
    pub fn cleaned_to(&self) -> u64 {
        self.u64(AT_CLEANED_TO).load(Ordering::Acquire)
    }
    /// Only the cleaner lock holder calls this.
    pub fn set_cleaned_to(&self, offset: u64) {
        self.u64(AT_CLEANED_TO).store(offset, Ordering::Release);
    }
    /// Writes the mapped state back to the file (msync).
    pub fn sync(&self) -> Result<()> {
        self.map.flush().ctx("syncing partition state")
    }

    /// Set by `deleteTopic`; a damaged header (no magic) cannot say so.
    pub fn deleted(&self) -> bool {
        self.u32(AT_DELETED).load(Ordering::Acquire) != 0
            && self.u32(AT_MAGIC).load(Ordering::Acquire) == MAGIC
    }
    pub fn mark_deleted(&self) {
        self.u32(AT_DELETED).store(1, Ordering::Release);
    }

    /// True when the writer fields can be trusted without a recovery scan.
    pub fn clean(&self) -> bool {
        self.trusted_boot() && self.u32(AT_APPENDING).load(Ordering::Acquire) == 0
    }
    /// True when the header is ours and the state was written during this boot,
    /// so `next_offset` is not stale from before a machine crash.
    pub fn trusted_boot(&self) -> bool {
        self.u32(AT_MAGIC).load(Ordering::Acquire) == MAGIC
            && self.u32(AT_VERSION).load(Ordering::Acquire) == VERSION
            && self.boot() == boot_id()
    }

    fn boot(&self) -> [u8; 16] {
        let mut id = [0u8; 16];
        for i in 0..2 {
            let v = self.u64(AT_BOOT + 8 * i).load(Ordering::Relaxed);
            id[8 * i..8 * i + 8].copy_from_slice(&v.to_le_bytes());
        }
        id
    }

    /// Writer cache: (active segment base, end position in it).
    pub fn active(&self) -> (u64, u64) {
        (
            self.u64(AT_ACTIVE).load(Ordering::Relaxed),
            self.u64(AT_END).load(Ordering::Relaxed),
        )
    }

    /// The durable record, if it verifies.
    pub fn durable(&self) -> Option<Durable> {
        let sum = self.u32(AT_DURABLE_SUM).load(Ordering::Acquire);
        let f: [u64; 4] =
            std::array::from_fn(|i| self.u64(AT_DURABLE + 8 * i).load(Ordering::Relaxed));
        (Durable::checksum(f) == sum).then_some(Durable {
            base: f[0],
            pos: f[1],
            next: f[2],
            index_len: f[3],
        })
    }

    /// Replaces the durable record (`None` clears it); only the lock holder calls this.
    pub fn set_durable(&self, d: Option<Durable>) {
        let fields = d.map_or([0; 4], Durable::fields);
        let sum = d.map_or(0, |_| Durable::checksum(fields));
        for (i, f) in fields.into_iter().enumerate() {
            self.u64(AT_DURABLE + 8 * i).store(f, Ordering::Relaxed);
        }
        self.u32(AT_DURABLE_SUM).store(sum, Ordering::Release);
    }

    /// Marks an append in progress; a crash before [`State::publish`] leaves it set.
    pub fn begin(&self) {
        // Read once: a syscall per append otherwise, and Node never forks without exec.
        static PID: OnceLock<u32> = OnceLock::new();
        let pid = *PID.get_or_init(std::process::id);
        self.u32(AT_PID).store(pid, Ordering::Relaxed);
        self.u32(AT_APPENDING).store(1, Ordering::SeqCst);
    }

    /// Publishes a completed append (or a recovery): readers may now read below `next`.
    pub fn publish(&self, active: u64, end: u64, next: u64) {
        self.u64(AT_ACTIVE).store(active, Ordering::Relaxed);
        self.u64(AT_END).store(end, Ordering::Relaxed);
        self.u64(AT_NEXT).store(next, Ordering::Release);
        self.u32(AT_APPENDING).store(0, Ordering::Release);
    }

    /// Rewrites the header after a recovery, stamping this boot.
    pub fn reset(&self, log_start: u64, active: u64, end: u64, next: u64) {
        self.u32(AT_APPENDING).store(1, Ordering::SeqCst);
        let boot = boot_id();
        for (i, half) in boot.chunks(8).enumerate() {
            let v = u64::from_le_bytes(half.try_into().unwrap());
            self.u64(AT_BOOT + 8 * i).store(v, Ordering::Relaxed);
        }
        self.u32(AT_DELETED).store(0, Ordering::Relaxed);
        self.u32(AT_MAGIC).store(MAGIC, Ordering::Relaxed);
        self.u32(AT_VERSION).store(VERSION, Ordering::Relaxed);
        self.set_log_start(log_start);
        self.publish(active, end, next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    #[test]
    fn durable_record_round_trips_and_damage_does_not_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let s = State::open(&path).unwrap();
        assert_eq!(s.durable(), None, "a zeroed page holds no record");
        assert_ne!(Durable::checksum([0; 4]), 0);
        let d = Durable {
            base: 100,
            pos: 4096,
            next: 140,
            index_len: 8,
        };
        s.set_durable(Some(d));
        assert_eq!(s.durable(), Some(d));
        drop(s);
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, &[0xff], AT_DURABLE as u64 + 9).unwrap();
        let s = State::open(&path).unwrap();
        assert_eq!(s.durable(), None, "a flipped byte does not verify");
        s.set_durable(Some(d));
        s.set_durable(None);
        assert_eq!(s.durable(), None);
    }

    #[test]
    fn the_producer_table_round_trips_and_sets_the_stable_end() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(&dir.path().join("state")).unwrap();
        s.reset(0, 0, 0, 100);
        assert_eq!(
            s.stable_end(),
            100,
            "older state files have no open transaction"
        );
        assert_eq!(PRODUCER_SLOTS, 78);
        let p = Producer {
            pid: 0,
            epoch: -1,
            first_seq: i32::MAX,
            last_seq: -1,
            offset: 90,
            txn_first: Some(40),
            txn_end: None,
        };
        s.set_producer(3, Some(&p));
        assert_eq!(s.producer(3), Some(p));
        assert_eq!(s.find_producer(0), Some((3, p)));
        s.refresh_open_first();
        assert_eq!(s.stable_end(), 40);
        s.cut_producers(95);
        assert_eq!(s.stable_end(), 40);
        s.set_producer(
            3,
            Some(&Producer {
                txn_end: Some(96),
                ..p
            }),
        );
        s.refresh_open_first();
        assert_eq!(s.stable_end(), 100);
        s.cut_producers(96);
        assert_eq!(
            s.stable_end(),
            40,
            "a marker cut by recovery reopens its transaction"
        );
        s.cut_producers(40);
        assert_eq!(s.stable_end(), 100, "so does data: nothing of it is left");
        let q = s.producer(3).unwrap();
        assert_eq!((q.first_seq, q.last_seq, q.txn_first), (-1, -1, None));
        s.set_producer(3, None);
        assert_eq!(s.producer(3), None);
        for i in 0..PRODUCER_SLOTS {
            let open = Producer {
                pid: i as i64,
                txn_first: Some(i as u64),
                ..p
            };
            s.set_producer(i, Some(&open));
        }
        assert_eq!(
            s.free_producer_slot(),
            None,
            "every slot has an open transaction"
        );
        s.set_producer(
            7,
            Some(&Producer {
                pid: 7,
                offset: 1,
                ..Default::default()
            }),
        );
        assert_eq!(s.free_producer_slot(), Some(7));
    }
}
