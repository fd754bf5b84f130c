//! Sparse time index: one entry per offset-index entry, plus one when the
//! segment is sealed. An entry `(timestamp, offset)` says that every record
//! of the segment below `offset` has a timestamp at or below `timestamp`: the
//! greatest timestamp so far, so entries never go down even when the records'
//! timestamps (given by the producer) do. A search for the first record at or
//! after a time starts at the last entry older than that time, then scans.
//!
//! On disk an entry is 12 bytes, little-endian: the timestamp (i64) and the
//! offset relative to the segment base (u32). Callers see absolute offsets.
//! Like the offset index it is rebuilt from the log after a crash and never
//! trusted beyond what it points at: a reader uses only the ordered prefix of
//! entries below the published end.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{IoContext, Result};
use crate::record::batch::BatchHeader;

pub const ENTRY: u64 = 12;

/// Records of the segment below `offset` have timestamps `<= timestamp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub timestamp: i64,
    pub offset: u64,
}

impl Entry {
    /// The on-disk form in segment `base`.
    pub fn encode(self, base: u64) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.timestamp.to_le_bytes());
        b[8..].copy_from_slice(&((self.offset - base) as u32).to_le_bytes());
        b
    }
}

/// The whole entries in `bytes`, a time index of segment `base`.
pub fn decode(bytes: &[u8], base: u64) -> Vec<Entry> {
    bytes
        .chunks_exact(ENTRY as usize)
        .map(|c| Entry {
            timestamp: i64::from_le_bytes(c[..8].try_into().unwrap()),
            offset: base.saturating_add(u32::from_le_bytes(c[8..].try_into().unwrap()).into()),
        })
        .collect()
}

/// Every entry of the time index at `path`, or `None` when the file is missing
/// (a segment written before time indexes existed).
pub fn read(path: &Path, base: u64) -> Result<Option<Vec<Entry>>> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes)
                .ctx(format_args!("reading {}", path.display()))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).ctx(format_args!("opening {}", path.display())),
    }
    Ok(Some(decode(&bytes, base)))
}

/// The last whole entry of the open time index of segment `base`, and the
/// file's length in whole entries.
pub fn last(file: &File, base: u64) -> Result<(u64, Option<Entry>)> {
    let len = file.metadata().ctx("stat time index")?.len() / ENTRY * ENTRY;
    if len == 0 {
        return Ok((0, None));
    }
    let mut bytes = [0u8; ENTRY as usize];
    file.read_exact_at(&mut bytes, len - ENTRY)
        .ctx("reading time index")?;
    Ok((len, decode(&bytes, base).pop()))
}

/// The entries that can be relied on below the published next offset `hw`:
/// the prefix ordered by offset (strictly) and timestamp, pointing below or
/// at `hw`. A torn or stale tail is left out.
pub fn usable(entries: &[Entry], hw: u64) -> &[Entry] {
    let ordered = entries
        .windows(2)
        .position(|w| w[1].offset <= w[0].offset || w[1].timestamp < w[0].timestamp)
        .map_or(entries.len(), |i| i + 1);
    let below = entries[..ordered].partition_point(|e| e.offset <= hw);
    &entries[..below]
}

/// Where a search for the first record with a timestamp `>= target` may start
/// in segment `base`: the offset of the last entry older than `target` (every
/// record before it is older), else the segment's start. `entries` as from
/// [`usable`].
pub fn lookup(entries: &[Entry], base: u64, target: i64) -> u64 {
    match entries.partition_point(|e| e.timestamp < target) {
        0 => base,
        i => entries[i - 1].offset,
    }
}

/// The running maximum of a walk through a segment, and the entries it makes.
#[derive(Debug)]
pub struct Tracker {
    /// At or above every timestamp seen so far.
    pub max: i64,
    pub entries: Vec<Entry>,
}

impl Tracker {
    /// Starting after the entries `kept`, whose last one bounds what is before it.
    pub fn after(kept: &[Entry]) -> Tracker {
        Tracker {
            max: kept.last().map_or(i64::MIN, |e| e.timestamp),
            entries: Vec::new(),
        }
    }

    /// The walk passes batch `h`.
    pub fn saw(&mut self, h: &BatchHeader) {
        self.max = self.max.max(h.max_timestamp);
    }

    /// An offset-index entry (or the segment's end) at `offset`: one entry here.
    pub fn point(&mut self, offset: u64) -> Entry {
        let e = Entry {
            timestamp: self.max,
            offset,
        };
        self.entries.push(e);
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 500;

    fn e(timestamp: i64, rel: u64) -> Entry {
        Entry {
            timestamp,
            offset: BASE + rel,
        }
    }

    #[test]
    fn encodes_round_trip() {
        let idx = vec![e(1_700_000_000_000, 3), e(i64::MAX, u64::from(u32::MAX))];
        let bytes: Vec<u8> = idx.iter().flat_map(|x| x.encode(BASE)).collect();
        assert_eq!(bytes.len(), 24);
        assert_eq!(bytes[8..12], [3, 0, 0, 0], "offset relative to the base");
        assert_eq!(decode(&bytes, BASE), idx);
        assert_eq!(
            decode(&bytes[..20], BASE),
            vec![idx[0]],
            "torn entry dropped"
        );
    }

    #[test]
    fn lookup_starts_after_what_is_older() {
        let idx = [e(100, 10), e(100, 20), e(250, 30), e(400, 40)];
        assert_eq!(lookup(&idx, BASE, 50), BASE, "before the first");
        assert_eq!(lookup(&idx, BASE, 100), BASE, "equal is not older");
        assert_eq!(lookup(&idx, BASE, 101), BASE + 20, "last of equal ones");
        assert_eq!(lookup(&idx, BASE, 300), BASE + 30);
        assert_eq!(lookup(&idx, BASE, 10_000), BASE + 40);
        assert_eq!(lookup(&[], BASE, 10_000), BASE);
    }

    #[test]
    fn usable_drops_disorder_and_what_is_unpublished() {
        let idx = [e(100, 10), e(200, 20), e(150, 30), e(300, 40)];
        assert_eq!(usable(&idx, u64::MAX), &idx[..2], "timestamp went down");
        let idx = [e(100, 10), e(200, 20), e(300, 20)];
        assert_eq!(usable(&idx, u64::MAX), &idx[..2], "offset did not go up");
        let idx = [e(100, 10), e(200, 20), e(300, 30)];
        assert_eq!(usable(&idx, BASE + 20), &idx[..2], "past the published end");
        // A zero-filled tail (a power loss) is out of order.
        let mut bytes: Vec<u8> = idx.iter().flat_map(|x| x.encode(BASE)).collect();
        bytes.extend_from_slice(&[0; 24]);
        assert_eq!(usable(&decode(&bytes, BASE), u64::MAX), &idx);
    }

    #[test]
    fn tracker_keeps_the_maximum_when_time_goes_back() {
        let h = |max_timestamp| BatchHeader {
            base_offset: 0,
            size: 0,
            count: 1,
            last_offset_delta: 0,
            first_timestamp: max_timestamp,
            max_timestamp,
            stamp: crate::record::batch::Stamp::NONE,
        };
        let mut t = Tracker::after(&[e(50, 1)]);
        t.saw(&h(40));
        assert_eq!(t.point(BASE + 2), e(50, 2));
        t.saw(&h(90));
        t.saw(&h(10));
        assert_eq!(t.point(BASE + 4), e(90, 4));
        assert_eq!(Tracker::after(&[]).max, i64::MIN);
    }

    #[test]
    fn read_tells_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        assert_eq!(read(&path, BASE).unwrap(), None);
        std::fs::write(&path, e(7, 1).encode(BASE)).unwrap();
        assert_eq!(read(&path, BASE).unwrap(), Some(vec![e(7, 1)]));
        let f = File::open(&path).unwrap();
        assert_eq!(last(&f, BASE).unwrap(), (12, Some(e(7, 1))));
    }
}
