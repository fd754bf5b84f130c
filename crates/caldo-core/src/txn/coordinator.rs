//! The transaction coordinator of one transactional id, in
//! `txn/<id>/` (see `layout`): `state` (producer id, epoch, status, the
//! partitions of the open transaction, as JSON in one of two slots written
//! in turn, so a torn write leaves the other), written under `lock`; `fence`, a mapped word holding the producer id and epoch that may
//! write, checked by every transactional append under the partition lock;
//! and `owners/<name>`, locked by the live producer for its lifetime.
//!
//! Kafka's protocol: a partition is added to the state before the
//! producer's first write to it; commit and abort first record the decision
//! (`prepareCommit`, `prepareAbort`), then write a marker to every partition,
//! then go back to `empty`. Whoever finds a decision recorded completes it.

use std::cell::Cell;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use memmap2::MmapMut;
use serde::{Deserialize, Serialize};

use crate::error::{Code, Error, IoContext, Result};
use crate::fsutil::sync_dir;
use crate::layout;
use crate::log::Opener;
use crate::record::control::Marker;
use crate::storage::partition::sync_all;
use crate::sync::{lock, shared};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum Status {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TxnState {
    pub producer_id: i64,
    pub epoch: i16,
    pub status: Status,
    /// The partitions the open transaction wrote to (or may have).
    pub partitions: Vec<(String, u32)>,
    /// When the open transaction started (ms since the epoch).
    pub started_ms: i64,
    pub timeout_ms: u64,
    /// The owner file of the producer that holds this epoch.
    pub owner: String,
}

/// The fence word's value for `pid` at `epoch`; 0 (what a new file holds)
/// lets no producer write.
fn pack(pid: i64, epoch: i16) -> u64 {
    (((pid + 1) as u64) << 16) | u64::from(epoch as u16)
}

pub(super) struct Coordinator {
    pub id: String,
    dir: PathBuf,
    lock: File,
    /// The state file, kept open: a transaction reads and writes it five times.
    state: File,
    /// The newest whole slot's sequence, as `locked` last read it.
    seq: Cell<Option<u64>>,
    fence: MmapMut,
    durable: bool,
}

impl Coordinator {
    pub fn open(o: &Opener, id: &str) -> Result<Coordinator> {
        let dir = layout::txn(&layout::txns(o.log_dir()), id);
        std::fs::create_dir_all(layout::txn_owners(&dir))
            .ctx(format_args!("creating {}", dir.display()))?;
        let lock = lock::open(&layout::txn_lock(&dir))?;
        let state = lock::open(&layout::txn_state(&dir))?;
        let (_, fence) = shared::map(&layout::txn_fence(&dir), 8, "fence")?;
        Ok(Coordinator {
            id: id.to_string(),
            dir,
            lock,
            state,
            seq: Cell::new(None),
            fence,
            durable: o.durable(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `f` on the state (`None` if there is none yet) under the lock.
    pub fn locked<T>(&self, f: impl FnOnce(&mut Option<TxnState>) -> Result<T>) -> Result<T> {
        let _guard = lock::exclusive(&self.lock).ctx("locking transaction state")?;
        let newest = newest(&self.state)?;
        self.seq.set(newest.as_ref().map(|(seq, _)| *seq));
        let mut state = newest
            .map(|(_, json)| parse(&self.dir, &json))
            .transpose()?;
        f(&mut state)
    }

    /// Replaces the state, durably unless the log's durability is 'none'.
    pub fn write(&self, st: &TxnState) -> Result<()> {
        self.write_as(st, self.durable)
    }

    /// Writes `st` into the slot after the newest one (a rename per change
    /// would cost more than the rest of a transaction). Only inside `locked`,
    /// which read the newest one.
    fn write_as(&self, st: &TxnState, durable: bool) -> Result<()> {
        let json = serde_json::to_vec(st).expect("txn state serializes");
        let seq = self.seq.get().map_or(0, |s| s + 1);
        if json.len() as u64 > SLOT - SLOT_HEADER as u64 {
            return Err(Error::new(
                Code::InvalidArg,
                "a transaction touched too many partitions to record",
            ));
        }
        let mut buf = Vec::with_capacity(SLOT_HEADER + json.len());
        buf.extend_from_slice(&STATE_MAGIC.to_le_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&seq.to_le_bytes());
        buf.extend_from_slice(&(json.len() as u32).to_le_bytes());
        buf.extend_from_slice(&json);
        let crc = crc32fast::hash(&buf[8..]);
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
        self.state
            .write_all_at(&buf, (seq % 2) * SLOT)
            .ctx("writing transaction state")?;
        if durable {
            self.state.sync_data().ctx("syncing transaction state")?;
            // No whole slot before: the file may be new, its name not yet durable.
            if seq == 0 {
                sync_dir(&self.dir)?;
            }
        }
        self.seq.set(Some(seq));
        Ok(())
    }

    /// Lets `pid` at `epoch` write, and no one else.
    pub fn set_fence(&self, pid: i64, epoch: i16) {
        shared::u64_at(&self.fence, 0).store(pack(pid, epoch), Ordering::SeqCst);
    }

    /// Lets no producer write (a stuck one's transaction is being aborted).
    pub fn clear_fence(&self) {
        shared::u64_at(&self.fence, 0).store(0, Ordering::SeqCst);
    }

    /// `Ok` while `pid` at `epoch` still holds the fence.
    pub fn check_fence(&self, pid: i64, epoch: i16) -> Result<()> {
        if shared::u64_at(&self.fence, 0).load(Ordering::SeqCst) == pack(pid, epoch) {
            return Ok(());
        }
        Err(self.fenced())
    }

    pub fn fenced(&self) -> Error {
        Error::new(
            Code::Fenced,
            format!(
                "this producer of transactionalId '{}' was fenced: another producer opened the same transactionalId, or its transaction went past transactionTimeoutMs and was aborted; nothing it did since is visible. Close it (and create a new one to go on)",
                self.id
            ),
        )
    }

    /// True when the owner file `name` is locked by a live producer.
    pub fn owner_alive(&self, name: &str) -> Result<bool> {
        let path = layout::txn_owner(&self.dir, name);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e).ctx(format_args!("opening {}", path.display())),
        };
        let free = lock::try_exclusive(&file)
            .ctx("checking a transaction's owner")?
            .is_some();
        Ok(!free)
    }
}

/// Bytes of each of the two slots of the state file.
const SLOT: u64 = 1 << 20;
/// magic u32 · crc u32 (of what follows) · sequence u64 · length u32, then the JSON.
const SLOT_HEADER: usize = 20;
const STATE_MAGIC: u32 = u32::from_le_bytes(*b"CLDT");

/// Slot `i`'s header: (sequence, JSON length, CRC), `None` if empty or not one.
fn header(file: &File, i: u64) -> Result<Option<(u64, usize, u32)>> {
    let mut h = [0u8; SLOT_HEADER];
    match file.read_exact_at(&mut h, i * SLOT) {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        r => r.ctx("reading transaction state")?,
    }
    let u32_at = |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().unwrap());
    let len = u32_at(16) as usize;
    if u32_at(0) != STATE_MAGIC || len as u64 > SLOT - SLOT_HEADER as u64 {
        return Ok(None);
    }
    let seq = u64::from_le_bytes(h[8..16].try_into().unwrap());
    Ok(Some((seq, len, u32_at(4))))
}

/// The newest whole slot of the state file: (sequence, JSON), `None` if
/// there is none. A torn newest slot leaves the other.
fn newest(file: &File) -> Result<Option<(u64, Vec<u8>)>> {
    let mut slots = Vec::with_capacity(2);
    for i in [0, 1] {
        if let Some(h) = header(file, i)? {
            slots.push((i, h));
        }
    }
    slots.sort_by_key(|(_, (seq, _, _))| std::cmp::Reverse(*seq));
    for (i, (seq, len, crc)) in slots {
        let mut json = vec![0u8; len];
        if file
            .read_exact_at(&mut json, i * SLOT + SLOT_HEADER as u64)
            .is_err()
        {
            continue;
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&seq.to_le_bytes());
        h.update(&(len as u32).to_le_bytes());
        h.update(&json);
        if h.finalize() == crc {
            return Ok(Some((seq, json)));
        }
    }
    Ok(None)
}

fn parse(dir: &Path, json: &[u8]) -> Result<TxnState> {
    serde_json::from_slice(json).map_err(|e| {
        let path = layout::txn_state(dir);
        Error::new(Code::Corrupt, format!("{} is damaged: {e}", path.display()))
    })
}

/// The state in `dir`, read without the lock; `None` if there is none yet.
pub(super) fn read(dir: &Path) -> Result<Option<TxnState>> {
    let path = layout::txn_state(dir);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).ctx(format_args!("reading {}", path.display())),
    };
    newest(&file)?
        .map(|(_, json)| parse(dir, &json))
        .transpose()
}

/// Writes the decided outcome's marker to every partition of `st`'s
/// transaction, with the lock held. A partition where the producer wrote
/// nothing, or that already has its marker, is left alone.
pub(super) fn complete(o: &Opener, co: &Coordinator, st: &mut TxnState) -> Result<()> {
    let commit = match st.status {
        Status::PrepareCommit => true,
        Status::PrepareAbort => false,
        Status::Empty | Status::Ongoing => return Ok(()),
    };
    let marker = Marker {
        commit,
        coordinator_epoch: 0,
    };
    let mut unsynced = Vec::new();
    let written = st.partitions.iter().try_for_each(|(topic, p)| {
        match o.partition(topic, *p) {
            Ok(part) => {
                let left = part.end_txn(st.producer_id, st.epoch, marker)?;
                unsynced.extend(left.map(|u| (part, u)));
                Ok(())
            }
            // A topic deleted since holds nothing to end.
            Err(e) if e.code == Code::UnknownTopic => Ok(()),
            Err(e) => Err(e),
        }
    });
    // The markers' syncs together; those written are synced even after an error.
    sync_all(unsynced)?;
    written?;
    st.status = Status::Empty;
    st.partitions.clear();
    // Not synced: should a power loss take it, the decision recorded before is
    // completed again, and every marker of it is found written.
    co.write_as(st, false)
}
