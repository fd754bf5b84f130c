//! Offsets by time, as Kafka's ListOffsets: the first offset whose record has
//! a timestamp at or after a target. Timestamps are the producer's and may go
//! backwards, so the answer is the first such record in offset order, not a
//! binary search on timestamps. Each segment costs a time-index lookup and a
//! short scan of batches (their header's max timestamp first, then records);
//! a sealed segment whose last time entry is older than the target is skipped
//! whole. A segment without a time index (written before they existed) is
//! scanned from its start.

use std::fs::File;
use std::path::Path;

use crate::error::{Code, Error, IoContext, Result};
use crate::layout;
use crate::record::batch;
use crate::storage::index;
use crate::storage::partition::Partition;
use crate::storage::segment::{self, Step, Walk};
use crate::storage::timeindex;

/// The first offset at or after the log start whose record's timestamp is
/// `>= target`, or `Err(high watermark)` when no record is that recent: the
/// published next offset the search saw, where such a record would go.
pub fn offset_for_time(part: &Partition, target: i64) -> Result<std::result::Result<u64, u64>> {
    let state = part.state();
    if state.deleted() {
        return Err(part.unknown());
    }
    let hw = state.next_offset();
    let low = state.log_start();
    let bases = segment::list(part.dir())?;
    let mut reader = segment::Reader::default();
    for (i, &base) in bases.iter().enumerate() {
        let end = bases.get(i + 1).copied().unwrap_or(hw).min(hw);
        if base >= hw || end <= low || end <= base {
            continue;
        }
        if let Some(&next) = bases.get(i + 1) {
            if sealed_max_timestamp(part.dir(), base, next)?.is_some_and(|t| t < target) {
                continue;
            }
        }
        let path = layout::segment_time_index(part.dir(), base);
        let times = timeindex::read(&path, base)?.unwrap_or_default();
        let times = timeindex::usable(&times, hw);
        let from = timeindex::lookup(times, base, target).max(low);
        if let Some(o) = scan(part, base, from, target, hw, &mut reader)? {
            return Ok(Ok(o));
        }
    }
    if state.deleted() {
        return Err(part.unknown());
    }
    Ok(Err(hw))
}

/// The greatest timestamp of sealed segment `base`, which ends at offset
/// `end` (the next segment's base), from the entry its roll wrote last in its
/// time index; `None` when there is no such entry (a segment written before
/// time indexes existed): then only its records can tell.
pub fn sealed_max_timestamp(dir: &Path, base: u64, end: u64) -> Result<Option<i64>> {
    let path = layout::segment_time_index(dir, base);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).ctx(format_args!("opening {}", path.display())),
    };
    let (_, last) = timeindex::last(&file, base)?;
    Ok(last.filter(|e| e.offset == end).map(|e| e.timestamp))
}

/// The first record at or after `from` in segment `base`, below `hw`, with a
/// timestamp `>= target`.
fn scan(
    part: &Partition,
    base: u64,
    from: u64,
    target: i64,
    hw: u64,
    reader: &mut segment::Reader,
) -> Result<Option<u64>> {
    let path = layout::segment_log(part.dir(), base);
    let log = match File::open(&path) {
        Ok(f) => f,
        // Removed since it was listed (the topic was deleted).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).ctx(format_args!("opening {}", path.display())),
    };
    reader.clear();
    let entries = index::read(&layout::segment_index(part.dir(), base), base)?;
    let at = Walk::at(index::lookup(&entries, base, from));
    let mut walk = match at.pos > 0 && at.lands(reader, &log, hw)? {
        true => at,
        false => Walk::start(base),
    };
    loop {
        let (h, bytes) = match walk.next(reader, &log, hw, from)? {
            Step::Batch(h, bytes) => (h, bytes),
            Step::BadCrc(h) => {
                return Err(Error::new(
                    Code::Corrupt,
                    format!(
                        "batch fails its CRC check in topic '{}' partition {} at offset {}; run `caldo verify`",
                        part.topic, part.id, h.base_offset
                    ),
                ))
            }
            Step::End | Step::OutOfSequence(..) => return Ok(None),
        };
        if h.base_offset >= hw {
            return Ok(None);
        }
        if h.max_timestamp >= target {
            let mut found = None;
            batch::decode(bytes, &h, |r| {
                if r.offset >= from && r.offset < hw && r.timestamp >= target {
                    found = Some(r.offset);
                }
                found.is_none()
            });
            if found.is_some() {
                return Ok(found);
            }
        }
        walk.advance(&h);
    }
}
