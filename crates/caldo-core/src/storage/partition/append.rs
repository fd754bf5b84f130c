//! The append path: batches encoded, written and indexed under the lock,
//! then published; segments rolled when full. Appends of a producer are
//! checked against the partition's producer table first: a retried
//! duplicate of its last append is not written again, and a transactional
//! producer that was fenced writes nothing.

use std::cell::RefCell;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::Mutex;

use super::{cached_rw, Active, Durability, Partition, Unsynced, Writer};
use crate::error::{Code, Error, IoContext, Result};
use crate::layout;
use crate::record::batch::{self, RecordIn, Stamp, TRANSACTIONAL};
use crate::record::control::Marker;
use crate::storage::index::{self, Entry};
use crate::storage::state::Producer;
use crate::storage::txnindex::{self, AbortedTxn};
use crate::sync::unpoisoned;

/// Appends are cut into batches of about this size.
const MAX_BATCH_BYTES: usize = 1 << 20;
/// A thread's encoding buffer is kept for the next append up to this size.
const KEPT_BUF_BYTES: usize = 4 * MAX_BATCH_BYTES;

/// An append encoded before the lock: the bytes, and each batch's
/// (position in them, first offset).
#[derive(Default)]
struct Encoded {
    buf: Vec<u8>,
    batches: Vec<(usize, u64)>,
}

impl Encoded {
    /// Encodes `records` as batches of about `MAX_BATCH_BYTES` at offsets from 0.
    fn encode(&mut self, records: &[RecordIn], producer: Option<&Producing>) {
        self.buf.clear();
        self.batches.clear();
        let mut offset = 0;
        for chunk in chunks(records) {
            self.batches.push((self.buf.len(), offset));
            let stamp = producer.map_or(Stamp::NONE, |p| Stamp {
                producer_id: p.pid,
                epoch: p.epoch,
                base_sequence: p.seq.wrapping_add(offset as i32),
                attributes: if p.transactional { TRANSACTIONAL } else { 0 },
            });
            batch::encode(&mut self.buf, offset, chunk, &stamp);
            offset += chunk.len() as u64;
        }
    }
}

thread_local! {
    /// This thread's encoding buffers, kept between appends.
    static ENCODED: RefCell<Encoded> = RefCell::default();
}

/// Who appends: an idempotent or transactional producer.
pub struct Producing<'a> {
    pub pid: i64,
    pub epoch: i16,
    /// The sequence of the append's first record.
    pub seq: i32,
    pub transactional: bool,
    /// For a transactional producer: false once it was fenced. Checked under
    /// the partition lock, so a fence and its abort markers come after any
    /// batch that passed it.
    pub current: &'a dyn Fn() -> Result<()>,
}

/// Tests only: where an injected append failure strikes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FailAt {
    /// After the records are written, before they are published: what a
    /// crash there leaves in the files.
    Written,
    /// After they are published, before they are acknowledged, as a failed
    /// fsync would.
    Published,
}

/// Tests only: partition directories whose next appends fail, where, and
/// how many; `FAILS_ARMED` keeps the look off the append path.
static FAILS: Mutex<Vec<(PathBuf, FailAt, u32)>> = Mutex::new(Vec::new());
static FAILS_ARMED: AtomicBool = AtomicBool::new(false);

/// Tests only: the next `n` appends to the partition in `dir`, by any log
/// of this process, fail at `at`.
pub fn fail_appends_for_tests(dir: &Path, at: FailAt, n: u32) {
    let mut fails = unpoisoned(&FAILS);
    fails.retain(|(d, _, _)| d != dir);
    fails.push((dir.to_path_buf(), at, n));
    FAILS_ARMED.store(true, Ordering::Release);
}

fn injected_failure(dir: &Path, at: FailAt) -> Result<()> {
    if !FAILS_ARMED.load(Ordering::Acquire) {
        return Ok(());
    }
    let mut fails = unpoisoned(&FAILS);
    let Some((_, _, n)) = fails
        .iter_mut()
        .find(|(d, a, n)| d == dir && *a == at && *n > 0)
    else {
        return Ok(());
    };
    *n -= 1;
    Err(Error::new(
        Code::Io,
        format!("injected failure at {at:?} (tests)"),
    ))
}

/// Writes one partition's share of an append, plain or as a producer:
/// its first offset, and the sync it leaves (see `append_unsynced`).
pub(crate) type Write<'w> =
    dyn FnMut(&Arc<Partition>, &[RecordIn]) -> Result<(u64, Option<Unsynced>)> + 'w;

/// What the producer table says about an append, under the lock.
enum Check {
    /// A retry of the last append: it is at this offset already.
    Duplicate(u64),
    /// Write it; into this table slot.
    Write(usize),
}

impl Partition {
    fn check_producer(&self, p: &Producing, n: usize) -> Result<Check> {
        (p.current)()?;
        let last_seq = p.seq.wrapping_add(n as i32 - 1);
        if let Some((slot, e)) = self.state.find_producer(p.pid) {
            if e.epoch == p.epoch && e.first_seq == p.seq && e.last_seq == last_seq {
                return Ok(Check::Duplicate(e.offset));
            }
            return Ok(Check::Write(slot));
        }
        match self.state.free_producer_slot() {
            Some(slot) => {
                self.state.set_producer(slot, None);
                Ok(Check::Write(slot))
            }
            None => Err(Error::new(
                Code::InvalidTxnState,
                format!(
                    "{}/{} has {} open transactions, as many as it can track; commit or abort some first",
                    self.topic,
                    self.id,
                    crate::storage::state::PRODUCER_SLOTS
                ),
            )),
        }
    }

    /// Appends `records` (non-empty) as one contiguous run of offsets; returns
    /// the first. With `producer`, a retry of its last append returns where
    /// that was written instead of writing it again.
    pub fn append(&self, records: &[RecordIn], producer: Option<&Producing>) -> Result<u64> {
        let (first, unsynced) = self.append_unsynced(records, producer)?;
        if let Some(u) = unsynced {
            self.sync(u)?;
        }
        Ok(first)
    }

    /// [`Partition::append`], leaving an `'always'` append's sync to the
    /// caller (see [`sync_all`](super::sync_all)).
    pub(crate) fn append_unsynced(
        &self,
        records: &[RecordIn],
        producer: Option<&Producing>,
    ) -> Result<(u64, Option<Unsynced>)> {
        ENCODED.with_borrow_mut(|e| {
            // Encoded before the lock is taken, at offsets from 0: only the base
            // offsets depend on where the append lands, and the CRC leaves them out.
            e.encode(records, producer);
            let appended = self.append_encoded(&mut e.buf, &mut e.batches, records.len(), producer);
            if e.buf.capacity() > KEPT_BUF_BYTES {
                e.buf = Vec::new();
            }
            appended
        })
    }

    fn append_encoded(
        &self,
        buf: &mut [u8],
        batches: &mut [(usize, u64)],
        n: usize,
        producer: Option<&Producing>,
    ) -> Result<(u64, Option<Unsynced>)> {
        let (first, synced) = self.with_lock(|w| {
            let next = self.state.next_offset();
            let slot = match producer.map(|p| self.check_producer(p, n)) {
                Some(Ok(Check::Duplicate(at))) => return Ok((at, None)),
                Some(Ok(Check::Write(slot))) => Some(slot),
                Some(Err(e)) => return Err(e),
                None => None,
            };
            for (at, offset) in batches.iter_mut() {
                *offset += next;
                batch::set_base_offset(&mut buf[*at..], *offset);
            }
            if let (Some(p), Some(slot)) = (producer, slot) {
                self.open_txn(slot, p, next)?;
            }
            let mut note = |_: u64| {
                if let (Some(p), Some(slot)) = (producer, slot) {
                    self.note_append(slot, p, n, next);
                }
                Ok(())
            };
            let after = next + n as u64;
            let written = self.write_encoded(w, buf, batches, next, after, &mut note)?;
            Ok((next, Some(written)))
        })?;
        if synced.is_some() {
            self.dirty.store(true, Ordering::Release);
        }
        injected_failure(&self.dir, FailAt::Published)?;
        let unsynced = (self.durability == Durability::Always).then(|| match synced {
            Some((base, end, log)) => Unsynced::To { base, end, log },
            // A retried duplicate: make sure the first attempt's sync happened.
            None => Unsynced::Published,
        });
        Ok((first, unsynced))
    }

    /// A transaction's first append here opens it in table slot `slot`
    /// (which holds the last stable offset back at `next`) before anything is
    /// written. Synced first: after a power loss that kept the records, the
    /// table must know the transaction is open, or they would read as
    /// committed. An append that then fails leaves it open with nothing in
    /// it, which its end (or a fence, or the sweep) closes.
    fn open_txn(&self, slot: usize, p: &Producing, next: u64) -> Result<()> {
        let e = self.state.producer(slot);
        if !p.transactional || e.is_some_and(|e| e.open().is_some()) {
            return Ok(());
        }
        // The epoch and sequences stay those of the last append written
        // (`note_append` moves them): a retry of this one, should it fail,
        // must not match them. A new entry has none to match.
        let mut e = e.unwrap_or(Producer {
            pid: p.pid,
            epoch: p.epoch,
            first_seq: -1,
            last_seq: -1,
            ..Producer::default()
        });
        (e.txn_first, e.txn_end) = (Some(next), None);
        self.state.set_producer(slot, Some(&e));
        self.state.refresh_open_first();
        if self.durability != Durability::None {
            self.state.sync()?;
        }
        Ok(())
    }

    /// Records `p`'s append of `n` records at `next` in table slot `slot`
    /// (for dropping a retry of it), before the append is published.
    fn note_append(&self, slot: usize, p: &Producing, n: usize, next: u64) {
        let mut e = self.state.producer(slot).unwrap_or(Producer {
            pid: p.pid,
            ..Producer::default()
        });
        e.epoch = p.epoch;
        e.first_seq = p.seq;
        e.last_seq = p.seq.wrapping_add(n as i32 - 1);
        e.offset = next;
        self.state.set_producer(slot, Some(&e));
    }

    /// Ends `pid`'s open transaction here, if it has one: writes the commit
    /// or abort marker (and, for an abort, the aborted-transaction index
    /// entry), then lets the last stable offset pass it. Leaves an `'always'`
    /// marker's sync to the caller, as `append_unsynced` does; nothing is
    /// written when no transaction of `pid` is open here (already ended, or
    /// nothing written).
    pub(crate) fn end_txn(&self, pid: i64, epoch: i16, marker: Marker) -> Result<Option<Unsynced>> {
        let synced = self.with_lock(|w| {
            let Some((slot, mut e)) = self.state.find_producer(pid) else {
                return Ok(None);
            };
            let Some(first) = e.open() else {
                return Ok(None);
            };
            let at = self.state.next_offset();
            let mut buf = Vec::with_capacity(batch::HEADER_LEN + 32);
            marker.encode(&mut buf, at, pid, epoch, super::now_ms());
            let mut note = |base: u64| {
                // An abort's index entry first: once the table closes the
                // transaction, the last stable offset passes its records, and a
                // reader must find them aborted.
                if !marker.commit {
                    let entry = AbortedTxn {
                        producer_id: pid,
                        first_offset: first,
                        last_offset: at,
                        last_stable_offset: self.state.stable_end().max(at + 1),
                    };
                    txnindex::append(&layout::segment_txn_index(&self.dir, base), &entry)?;
                }
                e.txn_end = Some(at);
                e.epoch = epoch;
                self.state.set_producer(slot, Some(&e));
                self.state.refresh_open_first();
                Ok(())
            };
            self.write_encoded(w, &buf, &[(0, at)], at, at + 1, &mut note)
                .map(Some)
        })?;
        let Some((base, end, log)) = synced else {
            return Ok(None);
        };
        self.dirty.store(true, Ordering::Release);
        Ok((self.durability == Durability::Always).then_some(Unsynced::To { base, end, log }))
    }

    /// Writes the encoded batches in `buf` (offsets `next..after`; `batches`
    /// has each one's position in `buf` and base offset) at the published
    /// end, rolling first if the segment is full or old, indexes them, runs
    /// `before_publish` with the segment base, publishes, and wakes readers.
    /// Returns (segment base, new end, segment file) for a sync.
    fn write_encoded(
        &self,
        w: &mut Writer,
        buf: &[u8],
        batches: &[(usize, u64)],
        next: u64,
        after: u64,
        before_publish: &mut dyn FnMut(u64) -> Result<()>,
    ) -> Result<(u64, u64, Arc<File>)> {
        let (mut base, mut end) = self.state.active();
        self.state.begin();
        let full = end + buf.len() as u64 > self.segment_bytes;
        let aged = self.segment_aged();
        if end > 0 && (full || aged) {
            self.roll(w, base, end, next)?;
            (base, end) = (next, 0);
        }
        let a = self.active(w, base)?;
        let log = a.log.file()?;
        let written = log.write_all_at(buf, end).ctx("appending to segment");
        let indexed = written.and_then(|()| {
            let mut run = self.run_max(a, end)?;
            for &(at, off) in batches {
                let pos = end + at as u64;
                if pos - a.last_indexed >= index::INTERVAL {
                    // The time entry goes first: an offset entry on disk
                    // always has its time entry before it.
                    self.add_time(a, off, run)?;
                    run = i64::MIN;
                    let e = Entry { offset: off, pos };
                    a.index
                        .file()?
                        .write_all_at(&e.encode(base), a.index_len)
                        .ctx("writing index")?;
                    a.index_len += index::ENTRY;
                    a.last_indexed = pos;
                }
                run =
                    run.max(batch::parse_header(&buf[at..]).map_or(i64::MAX, |h| h.max_timestamp));
            }
            a.run = (a.last_indexed, end + buf.len() as u64, run);
            a.published = Some(after);
            Ok(())
        });
        let new_end = end + buf.len() as u64;
        // On error `appending` stays set: the next holder cuts the partial write.
        indexed?;
        injected_failure(&self.dir, FailAt::Written)?;
        before_publish(base)?;
        self.state.publish(base, new_end, after);
        // Before the unlock: a reader in another process needs only the
        // published end, and its wake-up (the slow part) overlaps the rest.
        self.wake.notify();
        Ok((base, new_end, log))
    }

    /// Seals the active segment (which ends at `end`) and starts one at `next`.
    fn roll(&self, w: &mut Writer, base: u64, end: u64, next: u64) -> Result<()> {
        // The sealed segment's last time entry covers all of it.
        let a = self.active(w, base)?;
        let run = self.run_max(a, end)?;
        self.add_time(a, next, run)?;
        // Not synced here, where it would stall every writer of the partition
        // for a whole segment: the next sync covers it first, outside the lock
        // (as Kafka flushes a rolled segment in the background), and recovery
        // after a power loss validates the segments from the durable record's.
        let log = cached_rw(&layout::segment_log(&self.dir, next), true)?;
        let index = cached_rw(&layout::segment_index(&self.dir, next), true)?;
        let time = cached_rw(&layout::segment_time_index(&self.dir, next), true)?;
        self.state.set_segment_since(super::now_ms());
        crate::sync::signal::ROLLED.notify();
        w.active = Some(Active::new(next, log, index, time));
        Ok(())
    }
}

/// Splits records into runs of about `MAX_BATCH_BYTES`.
fn chunks<'a, 'r>(records: &'a [RecordIn<'r>]) -> impl Iterator<Item = &'a [RecordIn<'r>]> {
    let mut rest = records;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut size = 0;
        let n = rest
            .iter()
            .position(|r| {
                size += r.size() + 32;
                size > MAX_BATCH_BYTES
            })
            .map_or(rest.len(), |i| i.max(1));
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    })
}
