//! The time index of the active segment, kept by the writer: an entry before
//! each offset-index entry and one when the segment is sealed, each bounding
//! the timestamps of the records before it (see `storage::timeindex`).

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::{Active, Partition};
use crate::error::{IoContext, Result};
use crate::layout;
use crate::record::batch;
use crate::storage::index;
use crate::storage::segment::{self, Step, Walk};
use crate::storage::timeindex::{self, Entry, Tracker};

/// The greatest timestamp of the batches of `log` between `from` and `to`,
/// from their headers; `i64::MAX` (which bounds anything) if one does not parse.
fn headers_max(log: &File, mut from: u64, to: u64) -> Result<i64> {
    let mut max = i64::MIN;
    let mut buf = [0u8; batch::HEADER_LEN];
    while from < to {
        log.read_exact_at(&mut buf, from).ctx("reading segment")?;
        let Some(h) = batch::parse_header(&buf) else {
            return Ok(i64::MAX);
        };
        max = max.max(h.max_timestamp);
        from += h.size as u64;
    }
    Ok(max)
}

/// The time entries of segment `base`, one per offset-index entry in
/// `points`, from a walk of its batches up to position `end`. An entry the
/// walk cannot reach bounds nothing and says `i64::MAX`.
pub(super) fn build(
    log: &File,
    base: u64,
    points: &[index::Entry],
    end: u64,
) -> Result<Vec<Entry>> {
    let mut reader = segment::Reader::default();
    let mut walk = Walk::start(base);
    let mut t = Tracker::after(&[]);
    let mut points = points.iter().peekable();
    while walk.pos < end {
        let Step::Batch(h, _) = walk.next(&mut reader, log, u64::MAX, 0)? else {
            break;
        };
        while let Some(p) = points.next_if(|p| p.pos <= walk.pos) {
            t.point(p.offset);
        }
        t.saw(&h);
        walk.advance(&h);
    }
    t.max = i64::MAX;
    for p in points {
        t.point(p.offset);
    }
    Ok(t.entries)
}

impl Partition {
    /// Brings this process's view of the active segment's time index up to
    /// date; rebuilds the index from the log when it does not match the offset
    /// index (a segment written before time indexes existed).
    pub(super) fn sync_times(&self, a: &mut Active) -> Result<()> {
        let time = a.time.file()?;
        let len = time.metadata().ctx("stat time index")?.len();
        let entries = a.index_len / index::ENTRY;
        if len == a.time_len && len == entries * timeindex::ENTRY {
            return Ok(());
        }
        let (whole, last) = timeindex::last(&time, a.base)?;
        let last_point = index::last(&*a.index.file()?, a.index_len, a.base)?;
        let matches = len == whole
            && whole == entries * timeindex::ENTRY
            && last.map(|e| e.offset) == last_point.map(|e| e.offset);
        if !matches {
            let (active, end) = self.state.active();
            let end = if active == a.base { end } else { 0 };
            let points = index::read(&layout::segment_index(&self.dir, a.base), a.base)?;
            let points = &points[..(entries as usize).min(points.len())];
            let built = build(&*a.log.file()?, a.base, points, end)?;
            let bytes: Vec<u8> = built.iter().flat_map(|e| e.encode(a.base)).collect();
            time.set_len(0).ctx("cutting time index")?;
            time.write_all_at(&bytes, 0).ctx("writing time index")?;
            a.time_len = bytes.len() as u64;
            a.time_max = built.last().map_or(i64::MIN, |e| e.timestamp);
            a.run = (0, 0, i64::MIN);
            return Ok(());
        }
        a.time_len = whole;
        a.time_max = last.map_or(i64::MIN, |e| e.timestamp);
        Ok(())
    }

    /// The greatest timestamp of the batches after the last offset-index entry
    /// up to position `end`, from this process's last append if it wrote them.
    pub(super) fn run_max(&self, a: &Active, end: u64) -> Result<i64> {
        let (from, to, max) = a.run;
        if from == a.last_indexed && to == end {
            return Ok(max);
        }
        headers_max(&*a.log.file()?, a.last_indexed, end)
    }

    /// Appends the time entry at `offset`: what came before bounds at most
    /// the last entry's timestamp and `run`, the batches since.
    pub(super) fn add_time(&self, a: &mut Active, offset: u64, run: i64) -> Result<()> {
        let e = Entry {
            timestamp: a.time_max.max(run),
            offset,
        };
        a.time
            .file()?
            .write_all_at(&e.encode(a.base), a.time_len)
            .ctx("writing time index")?;
        a.time_len += timeindex::ENTRY;
        a.time_max = e.timestamp;
        Ok(())
    }
}

/// Where recovery's time index starts for a walk that resumes at `pos` after
/// the offset-index entries `points` it kept: the time entries that match
/// them (or, when there are none such, entries rebuilt from the log), and a
/// tracker that bounds every record before `pos`.
pub(super) fn start(
    log: &File,
    path: &std::path::Path,
    base: u64,
    points: &[index::Entry],
    pos: u64,
) -> Result<(Vec<Entry>, Tracker)> {
    let mut times = timeindex::read(path, base)?.unwrap_or_default();
    let matches = times.len() >= points.len()
        && times.iter().zip(points).all(|(t, p)| t.offset == p.offset)
        && timeindex::usable(&times[..points.len()], u64::MAX).len() == points.len();
    let times = match matches {
        true => {
            times.truncate(points.len());
            times
        }
        false => build(log, base, points, pos)?,
    };
    let mut t = Tracker::after(&times);
    t.max = t
        .max
        .max(headers_max(log, points.last().map_or(0, |p| p.pos), pos)?);
    Ok((times, t))
}

/// Writes the time index at `path`: `kept` entries stay in place (when the
/// file holds them), `tail` follows them.
pub(super) fn write(
    path: &std::path::Path,
    base: u64,
    kept: &[Entry],
    tail: &[Entry],
) -> Result<()> {
    let file = super::open_rw(path, false)?;
    let on_disk = timeindex::read(path, base)?.unwrap_or_default();
    let (keep, rest): (usize, Vec<Entry>) = match on_disk.starts_with(kept) {
        true => (kept.len(), tail.to_vec()),
        false => (0, kept.iter().chain(tail).copied().collect()),
    };
    let keep_len = keep as u64 * timeindex::ENTRY;
    if file.metadata().ctx("stat time index")?.len() != keep_len {
        file.set_len(keep_len).ctx("cutting time index")?;
    }
    let bytes: Vec<u8> = rest.iter().flat_map(|e| e.encode(base)).collect();
    if !bytes.is_empty() {
        file.write_all_at(&bytes, keep_len)
            .ctx("rewriting time index")?;
    }
    Ok(())
}
