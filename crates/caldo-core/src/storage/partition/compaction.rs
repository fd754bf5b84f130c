//! Compaction: keeps the last record of each key, Kafka's log cleaner run
//! under the partition's cleaner lock (see `retention.rs`'s `clean`).
//!
//! The dirty part (from the state's `cleaned_to` to the first segment that
//! cannot be cleaned yet) is read into a map of each key's last offset; then
//! the sealed segments up to its end are rewritten in groups of about a
//! segment's size. A group is written to `.cleaned` files beside it; then an
//! empty marker `<base>-<end>.swap` is created (from then on the new files
//! win), the `.cleaned` files are renamed over the first segment's files, the
//! group's other segments unlinked, and the marker removed. A crash before
//! the marker leaves the old segments (the `.cleaned` files are removed);
//! after it, the next clean finishes the swap from the marker. Records keep their offsets: each kept batch
//! starts where the one before it ended and the last one of a group is
//! stretched to the group's end, so batches still follow one another with no
//! gap between them and the segments' bases do not change.
//!
//! Transactions, as Kafka's cleaner treats them: nothing at or past the last
//! stable offset is cleaned (an open transaction's outcome is not known);
//! the batches of aborted transactions are dropped and never enter the key
//! map; a commit or abort marker stays while a record of its transaction is
//! kept before it, or until `deleteRetentionMs` has passed, as a tombstone.
//!
//! Readers in other processes hold segment files open: an unlinked or
//! replaced file stays readable for them, and a cursor that reaches the end
//! of a file looks up which file holds its next offset now (`cursor.rs`).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::recovery::remove_segment;
use super::retention::Seg;
use super::{open_rw, Durability, Partition};
use crate::crash::crash_point;
use crate::error::{Code, Error, IoContext, Result};
use crate::fsutil::sync_dir;
use crate::layout;
use crate::record::batch::{self, BatchHeader, RecordRef};
use crate::storage::index::{self, Entry};
use crate::storage::segment::{self, Step, Walk};
use crate::storage::timeindex::Tracker;
use crate::storage::txnindex;

/// At most this many keys are mapped per clean; the dirty part beyond the
/// segment where it is reached waits for the next clean (Kafka's dedupe buffer).
const MAX_KEYS: usize = 1 << 22;

/// A compacting topic's settings, as the cleaner applies them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Compaction {
    pub delete_retention_ms: u64,
    pub min_lag_ms: u64,
    pub min_dirty_ratio: f64,
    pub segment_bytes: u64,
}

/// What a compaction did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Bytes read from the segments rewritten, and written in their place.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Records dropped (older values, expired tombstones, records without a key).
    pub records_removed: u64,
}

/// A key's hash is already uniform: use its low bits as they are.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

/// Each key's last offset in the dirty part, by a 128-bit hash of the key
/// (two independently keyed SipHashes, so no input can aim at a collision).
struct OffsetMap {
    hash: (RandomState, RandomState),
    last: HashMap<u128, u64, BuildHasherDefault<Prehashed>>,
}

impl OffsetMap {
    fn new() -> OffsetMap {
        OffsetMap {
            hash: (RandomState::new(), RandomState::new()),
            last: HashMap::default(),
        }
    }
    fn key(&self, key: &[u8]) -> u128 {
        (u128::from(self.hash.0.hash_one(key)) << 64) | u128::from(self.hash.1.hash_one(key))
    }
    fn put(&mut self, key: &[u8], offset: u64) {
        let k = self.key(key);
        self.last.insert(k, offset);
    }
    fn last(&self, key: &[u8]) -> Option<u64> {
        self.last.get(&self.key(key)).copied()
    }
}

/// The share of the sealed segments' bytes past `cleaned_to`: what
/// compaction has not read yet (`segs` ascending, the active one last).
pub fn dirty_ratio(segs: &[Seg], cleaned_to: u64) -> f64 {
    let sealed = &segs[..segs.len().saturating_sub(1)];
    let total: u64 = sealed.iter().map(|s| s.bytes).sum();
    let dirty: u64 = sealed
        .iter()
        .filter(|s| s.base >= cleaned_to)
        .map(|s| s.bytes)
        .sum();
    match total {
        0 => 0.0,
        t => dirty as f64 / t as f64,
    }
}

/// Calls `f` with each batch of the sealed segment `base`, which must end
/// exactly where segment `end` starts; else the segment is damaged and
/// nothing of it is cleaned.
fn each_batch(
    dir: &Path,
    base: u64,
    end: u64,
    f: &mut dyn FnMut(&BatchHeader, &[u8]) -> Result<()>,
) -> Result<()> {
    let path = layout::segment_log(dir, base);
    let file = File::open(&path).ctx(format_args!("opening {}", path.display()))?;
    let len = file.metadata().ctx("stat segment")?.len();
    let mut reader = segment::Reader::default();
    let mut walk = Walk::start(base);
    loop {
        match walk.next(&mut reader, &file, u64::MAX, 0)? {
            Step::Batch(h, bytes) => {
                f(&h, bytes)?;
                walk.advance(&h);
            }
            Step::End if walk.pos == len && walk.expect == end => return Ok(()),
            _ => {
                return Err(Error::new(
                    Code::Corrupt,
                    format!(
                        "{} is damaged at position {} (offset {}); not compacting it; run `caldo verify`",
                        path.display(),
                        walk.pos,
                        walk.expect
                    ),
                ))
            }
        }
    }
}

/// Attributes 0 and no producer: the template of a batch made by the cleaner.
const NO_PRODUCER: [u8; batch::HEADER_LEN] = {
    let mut t = [0u8; batch::HEADER_LEN];
    let mut i = 42;
    while i < batch::HEADER_LEN {
        t[i] = 0xff;
        i += 1;
    }
    t
};

/// One group's new segment, being written to `.cleaned` files.
struct Output {
    base: u64,
    log: BufWriter<File>,
    pos: u64,
    index: Vec<u8>,
    times: Vec<u8>,
    last_indexed: u64,
    tracker: Tracker,
    /// The last kept batch, held back so that the group's end can stretch it.
    pending: Vec<u8>,
    /// Where the next kept batch starts: the end of `pending`.
    expect: u64,
    /// The largest timestamp of batches dropped since `pending`.
    carried: i64,
    changed: bool,
}

impl Output {
    fn create(dir: &Path, base: u64) -> Result<Output> {
        let file = open_rw(&layout::cleaned(&layout::segment_log(dir, base)), true)?;
        Ok(Output {
            base,
            log: BufWriter::with_capacity(1 << 20, file),
            pos: 0,
            index: Vec::new(),
            times: Vec::new(),
            last_indexed: 0,
            tracker: Tracker::after(&[]),
            pending: Vec::new(),
            expect: base,
            carried: i64::MIN,
            changed: false,
        })
    }

    /// Writes the held-back batch, with index entries as the appender makes them.
    fn write_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let h = batch::parse_header(&self.pending).expect("a batch the cleaner encoded");
        if self.pos - self.last_indexed >= index::INTERVAL {
            let t = self.tracker.point(h.base_offset);
            self.times.extend_from_slice(&t.encode(self.base));
            let e = Entry {
                offset: h.base_offset,
                pos: self.pos,
            };
            self.index.extend_from_slice(&e.encode(self.base));
            self.last_indexed = self.pos;
        }
        self.tracker.saw(&h);
        self.log
            .write_all(&self.pending)
            .ctx("writing compacted segment")?;
        self.pos += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// Keeps `records` of batch `h` (`bytes`); all of them when `whole`.
    fn keep(
        &mut self,
        h: &BatchHeader,
        bytes: &[u8],
        records: &[RecordRef],
        whole: bool,
    ) -> Result<()> {
        self.write_pending()?;
        let max = self.carried.max(h.max_timestamp);
        if whole && h.base_offset == self.expect && max == h.max_timestamp {
            self.pending.extend_from_slice(bytes);
        } else {
            batch::encode_kept(
                &mut self.pending,
                bytes,
                self.expect,
                h.last_offset(),
                max,
                records,
            );
            self.changed = true;
        }
        self.expect = h.next_offset();
        self.carried = i64::MIN;
        Ok(())
    }

    fn drop_batch(&mut self, h: &BatchHeader) {
        self.carried = self.carried.max(h.max_timestamp);
        self.changed = true;
    }

    /// Ends the segment at offset `end` and writes its files; returns its size.
    fn finish(mut self, dir: &Path, end: u64, durable: bool) -> Result<u64> {
        if self.pending.is_empty() {
            batch::encode_kept(
                &mut self.pending,
                &NO_PRODUCER,
                self.expect,
                end - 1,
                self.carried,
                &[],
            );
        } else if self.expect != end || self.carried != i64::MIN {
            let h = batch::parse_header(&self.pending).expect("a batch the cleaner encoded");
            batch::stretch(
                &mut self.pending,
                end - 1,
                self.carried.max(h.max_timestamp),
            );
        }
        self.write_pending()?;
        let t = self.tracker.point(end);
        self.times.extend_from_slice(&t.encode(self.base));
        let log = self
            .log
            .into_inner()
            .map_err(|e| e.into_error())
            .ctx("writing compacted segment")?;
        for (path, bytes) in [
            (layout::segment_index(dir, self.base), &self.index),
            (layout::segment_time_index(dir, self.base), &self.times),
        ] {
            let f = open_rw(&layout::cleaned(&path), true)?;
            f.write_all_at(bytes, 0).ctx("writing compacted index")?;
            if durable {
                f.sync_data().ctx("syncing compacted index")?;
            }
        }
        if durable {
            log.sync_data().ctx("syncing compacted segment")?;
        }
        Ok(self.pos)
    }
}

/// Puts the compacted segment `base`..`end` in place of the old ones, once
/// its swap marker exists: its companions and log renamed over the first
/// segment's (each only if still there: a crash may have renamed it
/// already), then the group's other segments removed, then the marker.
/// Also what recovery does with a marker found.
fn finish_swap(dir: &Path, base: u64, end: u64, durable: bool) -> Result<()> {
    for path in [
        layout::segment_index(dir, base),
        layout::segment_time_index(dir, base),
        layout::segment_log(dir, base),
    ] {
        match std::fs::rename(layout::cleaned(&path), &path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).ctx(format_args!("renaming {}", path.display()))
            }
            _ => {}
        }
    }
    crash_point("compaction:renamed");
    // Ascending, so that a reader never finds a later old segment without
    // the earlier ones it follows.
    for b in segment::list(dir)? {
        if b > base && b < end {
            remove_segment(dir, b)?;
            crash_point("compaction:old-removed");
        }
    }
    let swap = layout::segment_swap(dir, base, end);
    std::fs::remove_file(&swap).ctx(format_args!("removing {}", swap.display()))?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Finishes the swaps a crash interrupted (their markers are still there)
/// and removes `.cleaned` files of a compaction that did not reach its
/// marker. Under the cleaner lock.
pub(super) fn recover(dir: &Path, durable: bool) -> Result<()> {
    let mut swaps = Vec::new();
    for entry in std::fs::read_dir(dir).ctx(format_args!("listing {}", dir.display()))? {
        let name = entry.ctx("listing segments")?.file_name();
        if let Some(range) = layout::swap_range(&name.to_string_lossy()) {
            swaps.push(range);
        }
    }
    swaps.sort_unstable();
    for (base, end) in swaps {
        finish_swap(dir, base, end, durable)?;
    }
    remove_cleaned(dir)
}

/// Removes every `.cleaned` file in `dir`.
fn remove_cleaned(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).ctx(format_args!("listing {}", dir.display()))? {
        let name = entry.ctx("listing segments")?.file_name();
        if name.to_string_lossy().ends_with(".cleaned") {
            let path = dir.join(&name);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).ctx(format_args!("removing {}", path.display()))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// True when `dir` holds files of an unfinished compaction.
pub(super) fn leftovers(names: &[String]) -> bool {
    names
        .iter()
        .any(|n| n.ends_with(".cleaned") || layout::swap_range(n).is_some())
}

impl Partition {
    /// Compacts the sealed segments `segs` (ascending, the active one last),
    /// if their dirty share reaches `min_dirty_ratio` (any share when
    /// `force`). `max_ts` gives a segment's largest timestamp. Called under
    /// the cleaner lock, after retention.
    pub(super) fn compact(
        &self,
        c: &Compaction,
        segs: &[Seg],
        now_ms: i64,
        force: bool,
        max_ts: &mut dyn FnMut(u64) -> Result<Option<i64>>,
    ) -> Result<Compacted> {
        let mut done = Compacted::default();
        // Sealed segments old enough to clean; each ends where the next starts.
        let mut cleanable = segs.len().saturating_sub(1);
        if c.min_lag_ms > 0 {
            for (i, s) in segs[..cleanable].iter().enumerate() {
                let young = max_ts(s.base)?
                    .is_some_and(|ts| now_ms.saturating_sub(ts) < c.min_lag_ms as i64);
                if young {
                    cleanable = i;
                    break;
                }
            }
        }
        // Never at or past the last stable offset.
        let stable = self.state.stable_end();
        while cleanable > 0 && segs[cleanable].base > stable {
            cleanable -= 1;
        }
        if cleanable == 0 {
            return Ok(done);
        }
        let aborted = txnindex::read_after(&self.dir, segs[0].base)?;
        let is_aborted = |h: &BatchHeader| {
            h.transactional()
                && aborted
                    .iter()
                    .any(|t| t.covers(h.stamp.producer_id, h.base_offset))
        };
        let first_dirty = self.state.cleaned_to();
        let ratio = dirty_ratio(&segs[..=cleanable], first_dirty);
        if ratio == 0.0 || (!force && ratio < c.min_dirty_ratio) {
            return Ok(done);
        }
        // The map of the dirty part; `end` is where it stops.
        let mut map = OffsetMap::new();
        let mut end = segs[0].base;
        for i in 0..cleanable {
            let (s, next) = (segs[i], segs[i + 1].base);
            if s.base < first_dirty {
                end = next;
                continue;
            }
            if map.last.len() >= MAX_KEYS {
                break;
            }
            each_batch(&self.dir, s.base, next, &mut |h, bytes| {
                if h.control() || is_aborted(h) {
                    return Ok(());
                }
                let ok = batch::decode(bytes, h, |r| {
                    if let Some(k) = r.key {
                        map.put(k, r.offset);
                    }
                    true
                });
                ok.ok_or_else(|| self.malformed(h))
            })?;
            end = next;
        }
        let delete_horizon = now_ms.saturating_sub(c.delete_retention_ms as i64);
        let retain = |r: &RecordRef, h: &BatchHeader| match r.key {
            None => false,
            Some(k) if map.last(k).is_some_and(|o| o > r.offset) => false,
            Some(_) => r.value.is_some() || h.max_timestamp >= delete_horizon,
        };
        let durable = self.durability != Durability::None;
        let upto = segs
            .iter()
            .position(|s| s.base == end)
            .expect("end is a segment's base");
        // Producers with a record of their transaction kept since their last marker.
        let mut kept_txn = HashSet::new();
        for group in groups(&segs[..=upto], c.segment_bytes) {
            let n = group.len() - 1;
            let (first, group_end, members) = (group[0].base, group[n].base, &group[..n]);
            let mut out = Output::create(&self.dir, first)?;
            for (i, s) in members.iter().enumerate() {
                done.bytes_before += s.bytes;
                each_batch(&self.dir, s.base, group[i + 1].base, &mut |h, bytes| {
                    let pid = h.stamp.producer_id;
                    // A marker or an aborted batch goes or stays whole.
                    let whole = match () {
                        _ if h.control() => {
                            Some(kept_txn.remove(&pid) || h.max_timestamp >= delete_horizon)
                        }
                        _ if is_aborted(h) => Some(false),
                        _ => None,
                    };
                    let mut kept = Vec::with_capacity(h.count as usize);
                    let ok = batch::decode(bytes, h, |r| {
                        if whole.unwrap_or_else(|| retain(&r, h)) {
                            kept.push(r);
                        }
                        true
                    });
                    ok.ok_or_else(|| self.malformed(h))?;
                    done.records_removed += u64::from(h.count) - kept.len() as u64;
                    if h.transactional() && !h.control() && !kept.is_empty() {
                        kept_txn.insert(pid);
                    }
                    match kept.is_empty() {
                        true => out.drop_batch(h),
                        false => out.keep(h, bytes, &kept, kept.len() == h.count as usize)?,
                    }
                    Ok(())
                })?;
            }
            let changed = out.changed || members.len() > 1;
            let size = out.finish(&self.dir, group_end, durable)?;
            if !changed {
                done.bytes_after += members[0].bytes;
                remove_cleaned(&self.dir)?;
                continue;
            }
            crash_point("compaction:cleaned-written");
            // The commit point: from here on the new files win.
            let swap = layout::segment_swap(&self.dir, first, group_end);
            File::create(&swap).ctx(format_args!("creating {}", swap.display()))?;
            if durable {
                sync_dir(&self.dir)?;
            }
            crash_point("compaction:swap-committed");
            finish_swap(&self.dir, first, group_end, durable)?;
            done.bytes_after += size;
        }
        self.state.set_cleaned_to(end);
        Ok(done)
    }

    fn malformed(&self, h: &BatchHeader) -> Error {
        Error::new(
            Code::Corrupt,
            format!(
                "malformed batch in topic '{}' partition {} at offset {}; not compacting it; run `caldo verify`",
                self.topic, self.id, h.base_offset
            ),
        )
    }
}

/// Splits `segs` (the segments to rewrite, followed by the one after them)
/// into runs of about `segment_bytes` whose offsets fit a segment's index;
/// each run is returned with the segment that follows it.
fn groups(segs: &[Seg], segment_bytes: u64) -> Vec<&[Seg]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start + 1 < segs.len() {
        let mut end = start + 1;
        let mut bytes = segs[start].bytes;
        while end + 1 < segs.len()
            && bytes + segs[end].bytes <= segment_bytes
            && segs[end + 1].base - segs[start].base <= u64::from(u32::MAX)
        {
            bytes += segs[end].bytes;
            end += 1;
        }
        out.push(&segs[start..=end]);
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(spec: &[(u64, u64)]) -> Vec<Seg> {
        spec.iter()
            .map(|&(base, bytes)| Seg { base, bytes })
            .collect()
    }

    #[test]
    fn groups_fill_up_to_a_segment_and_carry_their_end() {
        let s = segs(&[(0, 40), (10, 40), (20, 40), (30, 100), (40, 0)]);
        let g = groups(&s, 100);
        let ranges: Vec<Vec<u64>> = g
            .iter()
            .map(|g| g.iter().map(|s| s.base).collect())
            .collect();
        assert_eq!(ranges, [vec![0, 10, 20], vec![20, 30], vec![30, 40]]);
        assert!(groups(&s[..1], 100).is_empty());
    }

    #[test]
    fn the_dirty_ratio_counts_sealed_segments_past_the_cleaned_offset() {
        let s = segs(&[(0, 30), (10, 10), (20, 999)]);
        assert_eq!(dirty_ratio(&s, 0), 1.0);
        assert_eq!(dirty_ratio(&s, 10), 0.25);
        assert_eq!(dirty_ratio(&s, 20), 0.0);
        assert_eq!(dirty_ratio(&s[..1], 0), 0.0);
    }
}
