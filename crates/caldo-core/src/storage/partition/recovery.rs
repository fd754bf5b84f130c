//! Crash recovery: the writer state rebuilt from the files, torn tails cut.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{open_rw, times, Partition};
use crate::error::{IoContext, Result};
use crate::layout;
use crate::storage::index::{self, Entry};
use crate::storage::segment::{self, Step, Walk};
use crate::storage::state::{Durable, PRODUCER_SLOTS};
use crate::storage::txnindex;

/// Where [`Partition::rebuild`] starts walking a segment.
#[derive(Clone, Copy)]
enum From {
    /// At its first batch.
    Start,
    /// At the last index entry below this published next offset (same boot).
    Published(u64),
    /// At the durable record's position, keeping its index entries.
    Durable(Durable),
}

impl Partition {
    /// Rebuilds the writer state from the files. With a state from this boot,
    /// `next_offset` is trusted and only the tail after the last index entry
    /// below it is walked. Otherwise (power loss, damaged state) the log is
    /// re-validated batch by batch and cut at the first bad batch: from the
    /// durable record when it verifies, else from the start of the last segment.
    pub(super) fn recover(&self) -> Result<()> {
        let trusted = self.state.trusted_boot();
        let published = self.state.next_offset();
        let mut bases = segment::list(&self.dir)?;
        if trusted {
            // Segments from a roll that never published anything past them.
            for &b in bases.iter().filter(|&&b| b > published) {
                remove_segment(&self.dir, b)?;
            }
            bases.retain(|&b| b <= published);
        }
        let durable = self.state.durable().filter(|d| bases.contains(&d.base));
        if !trusted {
            self.walk_sealed(&mut bases, durable)?;
        }
        let Some(&(mut base)) = bases.last() else {
            let start = if trusted { published } else { 0 };
            open_rw(&layout::segment_log(&self.dir, start), true)?;
            open_rw(&layout::segment_index(&self.dir, start), true)?;
            open_rw(&layout::segment_time_index(&self.dir, start), true)?;
            self.state.set_durable(None);
            self.state.reset(start, start, 0, start);
            return Ok(());
        };
        let (end, next, kept) = loop {
            let from = match durable {
                _ if trusted => From::Published(published),
                Some(d) if d.base == base => From::Durable(d),
                _ => From::Start,
            };
            let (end, next, kept) = self.rebuild(base, from, None)?;
            // After a power loss, a segment rolled to but never synced may be
            // empty; the previous one then holds the tail. (One the durable
            // record names was rolled to after the previous one was synced.)
            if !trusted && end == 0 && bases.len() > 1 && durable.is_none_or(|d| d.base < base) {
                remove_segment(&self.dir, base)?;
                bases.pop();
                base = *bases.last().unwrap();
                continue;
            }
            break (end, next, kept);
        };
        // The record holds while its segment and bytes are still there.
        let holds = durable
            .filter(|d| d.base < base || (d.base == base && d.pos <= end && d.index_len <= kept));
        if holds != self.state.durable() {
            self.state.set_durable(holds);
        }
        txnindex::cut(&layout::segment_txn_index(&self.dir, base), next)?;
        self.state.cut_producers(next);
        if !trusted {
            self.close_ended_txns(&bases, next)?;
        }
        // The log start survives (moved by retention or deleteRecords) if it
        // verifies; the first remaining segment is its floor.
        let kept = self.state.verified_log_start().unwrap_or(0);
        let start = kept.max(bases[0]).min(next.max(bases[0]));
        self.state.reset(start, base, end, next);
        Ok(())
    }

    /// After a power loss: the segments sealed since the durable record's
    /// segment may not have reached the disk in full (a roll leaves their sync
    /// to the next one); without a record, none is known to have. Validates
    /// each, oldest first, from the record on (or from the first segment);
    /// the log ends in the first one that is cut short or followed by a gap,
    /// and the segments after it are removed.
    fn walk_sealed(&self, bases: &mut Vec<u64>, durable: Option<Durable>) -> Result<()> {
        let first = durable.map_or(Some(0), |d| bases.iter().position(|&b| b == d.base));
        let Some(first) = first else {
            return Ok(());
        };
        for i in first..bases.len().saturating_sub(1) {
            let (base, following) = (bases[i], bases[i + 1]);
            let from = match durable {
                Some(d) if d.base == base => From::Durable(d),
                _ => From::Start,
            };
            let (_, next, _) = self.rebuild(base, from, Some(following))?;
            if next != following {
                for &later in &bases[i + 1..] {
                    remove_segment(&self.dir, later)?;
                }
                bases.truncate(i + 1);
                break;
            }
        }
        Ok(())
    }

    /// After a power loss the producer table is as last written back: a
    /// transaction it shows open may have its marker on disk. Walks the log
    /// from the oldest open transaction's first offset and closes those
    /// whose marker is there.
    fn close_ended_txns(&self, bases: &[u64], next: u64) -> Result<()> {
        let open: Vec<(usize, u64)> = (0..PRODUCER_SLOTS)
            .filter_map(|i| Some((i, self.state.producer(i)?.open()?)))
            .collect();
        let Some(from) = open.iter().map(|(_, f)| *f).min() else {
            return Ok(());
        };
        let mut reader = segment::Reader::default();
        for &b in bases
            .iter()
            .filter(|&&b| segment::floor(bases, from) <= Some(b))
        {
            let log = open_rw(&layout::segment_log(&self.dir, b), false)?;
            let mut walk = Walk::start(b);
            while let Step::Batch(h, _) = walk.next(&mut reader, &log, next, from)? {
                for &(i, first) in &open {
                    let Some(mut e) = self.state.producer(i) else {
                        continue;
                    };
                    if h.control() && e.pid == h.stamp.producer_id && h.base_offset >= first {
                        e.txn_end = Some(h.base_offset);
                        self.state.set_producer(i, Some(&e));
                    }
                }
                walk.advance(&h);
            }
            reader.clear();
        }
        self.state.refresh_open_first();
        Ok(())
    }

    /// Walks segment `base` from `from`, validating each batch, cuts the log
    /// after the last good one (and below the published offset), rewrites the
    /// index after the entries it kept. A segment that ends at `sealed_at`
    /// (the next one's base) gets the time entry that seals it, bounding all
    /// of it. Returns (end, next, index bytes kept).
    fn rebuild(&self, base: u64, from: From, sealed_at: Option<u64>) -> Result<(u64, u64, u64)> {
        let log = open_rw(&layout::segment_log(&self.dir, base), false)?;
        let index_path = layout::segment_index(&self.dir, base);
        let mut reader = segment::Reader::default();
        let limit = match from {
            From::Published(limit) => Some(limit),
            _ => None,
        };
        let (mut entries, mut walk) = match from {
            From::Start => (Vec::new(), Walk::start(base)),
            From::Published(limit) => published_start(&log, &index_path, base, limit, &mut reader)?,
            From::Durable(d) => durable_start(&log, &index_path, d, &mut reader)?
                .unwrap_or((Vec::new(), Walk::start(base))),
        };
        let kept = entries.len();
        let time_path = layout::segment_time_index(&self.dir, base);
        let (times, mut tracker) = times::start(&log, &time_path, base, &entries, walk.pos)?;
        let mut last_indexed = entries.last().map_or(0, |e| e.pos);
        while let Step::Batch(h, _) = walk.next(&mut reader, &log, u64::MAX, 0)? {
            if limit.is_some_and(|l| h.next_offset() > l) {
                break;
            }
            if walk.pos - last_indexed >= index::INTERVAL {
                tracker.point(walk.expect);
                entries.push(Entry {
                    offset: walk.expect,
                    pos: walk.pos,
                });
                last_indexed = walk.pos;
            }
            tracker.saw(&h);
            walk.advance(&h);
        }
        let (pos, next) = (walk.pos, walk.expect);
        if log.metadata().ctx("stat segment")?.len() != pos {
            log.set_len(pos).ctx("cutting torn tail")?;
        }
        // The kept entries stay in place (the durable ones may be relied on
        // after another power loss); only the tail is rewritten.
        let index = open_rw(&index_path, false)?;
        let kept_len = kept as u64 * index::ENTRY;
        if index.metadata().ctx("stat index")?.len() != kept_len {
            index.set_len(kept_len).ctx("cutting index")?;
        }
        let tail: Vec<u8> = entries[kept..]
            .iter()
            .flat_map(|e| e.encode(base))
            .collect();
        if !tail.is_empty() {
            index.write_all_at(&tail, kept_len).ctx("rewriting index")?;
        }
        if sealed_at == Some(next) {
            tracker.point(next);
        }
        times::write(&time_path, base, &times, &tracker.entries)?;
        Ok((pos, next, kept_len))
    }
}

/// Where a same-boot recovery starts: the last index entry that still points
/// at a batch below `limit`, with the entries up to it.
fn published_start(
    log: &File,
    index_path: &Path,
    base: u64,
    limit: u64,
    reader: &mut segment::Reader,
) -> Result<(Vec<Entry>, Walk)> {
    let mut entries = index::read(index_path, base)?;
    // Not below `base`: an entry for the segment's first offset is looked at too.
    let target = limit.saturating_sub(1).max(base);
    let e = index::lookup(&entries, base, target);
    let at = Walk::at(e);
    let lands = e.pos > 0 && at.lands(reader, log, u64::MAX)?;
    let keep = match lands {
        true => entries.iter().position(|x| *x == e).map_or(0, |i| i + 1),
        false => 0,
    };
    entries.truncate(keep);
    Ok((entries, if lands { at } else { Walk::start(base) }))
}

/// Where a recovery from the durable record `d` starts: its position, with
/// its index entries. `None` (scan the segment from its start) when the files
/// do not fit the record: shorter than it says, or an index entry that is out
/// of order or does not point at a valid batch below its position.
fn durable_start(
    log: &File,
    index_path: &Path,
    d: Durable,
    reader: &mut segment::Reader,
) -> Result<Option<(Vec<Entry>, Walk)>> {
    let fits = d.pos <= u64::from(u32::MAX)
        && d.next >= d.base
        && d.index_len.is_multiple_of(index::ENTRY)
        && log.metadata().ctx("stat segment")?.len() >= d.pos;
    if !fits {
        return Ok(None);
    }
    let mut entries = index::read(index_path, d.base)?;
    let n = (d.index_len / index::ENTRY) as usize;
    if entries.len() < n {
        return Ok(None);
    }
    entries.truncate(n);
    let ordered = entries
        .windows(2)
        .all(|w| w[0].offset < w[1].offset && w[0].pos < w[1].pos);
    let below = entries
        .last()
        .is_none_or(|e| e.pos < d.pos && e.offset < d.next);
    if !ordered || !below {
        return Ok(None);
    }
    if let Some(e) = entries.last() {
        let step = Walk::at(*e).next(reader, log, u64::MAX, 0)?;
        if !matches!(step, Step::Batch(..)) {
            return Ok(None);
        }
    }
    let walk = Walk {
        pos: d.pos,
        expect: d.next,
    };
    Ok(Some((entries, walk)))
}

/// Removes a segment's log and indexes (those that exist).
pub(super) fn remove_segment(dir: &Path, base: u64) -> Result<()> {
    for path in [
        layout::segment_log(dir, base),
        layout::segment_index(dir, base),
        layout::segment_time_index(dir, base),
        layout::segment_txn_index(dir, base),
    ] {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).ctx(format_args!("removing {}", path.display()))
            }
            _ => {}
        }
    }
    Ok(())
}
