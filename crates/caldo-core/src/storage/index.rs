//! Sparse offset index: one entry per `INTERVAL` bytes of log, mapping an
//! offset to the position of its batch. Rebuilt from the log after a crash,
//! never trusted beyond what it points at.
//!
//! On disk an entry is 8 bytes: the offset relative to the segment base (u32)
//! and the position (u32), little-endian. Callers see absolute offsets only.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{IoContext, Result};

pub const INTERVAL: u64 = 4096;
pub const ENTRY: u64 = 8;

/// The batch starting at `offset` is at `pos` in its segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub offset: u64,
    pub pos: u64,
}

impl Entry {
    /// The start of segment `base`: where a walk begins without an entry.
    pub fn start(base: u64) -> Entry {
        Entry {
            offset: base,
            pos: 0,
        }
    }

    /// The on-disk form in segment `base` (segments stay below 4 GiB and
    /// 2^32 offsets, so both fields fit).
    pub fn encode(self, base: u64) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&((self.offset - base) as u32).to_le_bytes());
        b[4..].copy_from_slice(&(self.pos as u32).to_le_bytes());
        b
    }
}

/// The whole entries in `bytes`, an index of segment `base`.
pub fn decode(bytes: &[u8], base: u64) -> Vec<Entry> {
    bytes
        .chunks_exact(ENTRY as usize)
        .map(|c| Entry {
            offset: base.saturating_add(u32::from_le_bytes(c[..4].try_into().unwrap()).into()),
            pos: u32::from_le_bytes(c[4..].try_into().unwrap()).into(),
        })
        .collect()
}

/// All entries of the index file of segment `base`; a missing file is an empty index.
pub fn read(path: &Path, base: u64) -> Result<Vec<Entry>> {
    let bytes = crate::fsutil::read_or_empty(path)?;
    Ok(decode(&bytes, base))
}

/// The length of an open index file, in whole entries.
pub fn whole_len(index: &File) -> Result<u64> {
    Ok(index.metadata().ctx("stat index")?.len() / ENTRY * ENTRY)
}

/// The last entry of an open index of segment `base` that is `len` bytes long
/// (see [`whole_len`]).
pub fn last(index: &File, len: u64, base: u64) -> Result<Option<Entry>> {
    if len == 0 {
        return Ok(None);
    }
    let mut bytes = [0u8; ENTRY as usize];
    index
        .read_exact_at(&mut bytes, len - ENTRY)
        .ctx("reading index")?;
    Ok(decode(&bytes, base).pop())
}

/// The entry with the greatest `offset <= target`, or the start of segment
/// `base`. Entries past a torn or stale tail may be out of order; only the
/// sorted prefix is searched.
pub fn lookup(entries: &[Entry], base: u64, target: u64) -> Entry {
    let sorted = entries
        .windows(2)
        .position(|w| w[1].offset <= w[0].offset || w[1].pos <= w[0].pos)
        .map_or(entries.len(), |i| i + 1);
    let entries = &entries[..sorted];
    match entries.partition_point(|e| e.offset <= target) {
        0 => Entry::start(base),
        i => entries[i - 1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 1000;

    fn e(rel: u64, pos: u64) -> Entry {
        Entry {
            offset: BASE + rel,
            pos,
        }
    }

    #[test]
    fn lookup_finds_the_floor_entry() {
        let idx = [e(10, 4100), e(25, 8200), e(40, 12300)];
        assert_eq!(lookup(&idx, BASE, BASE), e(0, 0));
        assert_eq!(lookup(&idx, BASE, BASE + 9), e(0, 0));
        assert_eq!(lookup(&idx, BASE, BASE + 10), e(10, 4100));
        assert_eq!(lookup(&idx, BASE, BASE + 30), e(25, 8200));
        assert_eq!(lookup(&idx, BASE, BASE + 1_000_000), e(40, 12300));
        assert_eq!(lookup(&[], BASE, BASE + 5), e(0, 0));
    }

    #[test]
    fn lookup_ignores_a_disordered_tail() {
        let idx = [e(10, 4100), e(25, 8200), e(3, 100), e(90, 9)];
        assert_eq!(lookup(&idx, BASE, BASE + 95), e(25, 8200));
    }

    #[test]
    fn encodes_round_trip() {
        let idx = vec![e(1, 2), e(u64::from(u32::MAX), 7)];
        let bytes: Vec<u8> = idx.iter().flat_map(|x| x.encode(BASE)).collect();
        assert_eq!(bytes[..8], [1, 0, 0, 0, 2, 0, 0, 0], "relative on disk");
        assert_eq!(decode(&bytes, BASE), idx);
        assert_eq!(decode(&bytes[..12], BASE), vec![e(1, 2)]);
    }

    #[test]
    fn reads_the_last_whole_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let mut bytes: Vec<u8> = [e(5, 4096), e(9, 8200)]
            .iter()
            .flat_map(|x| x.encode(BASE))
            .collect();
        bytes.extend_from_slice(&[1, 2, 3]); // a torn entry
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let len = whole_len(&file).unwrap();
        assert_eq!(len, 16);
        assert_eq!(last(&file, len, BASE).unwrap(), Some(e(9, 8200)));
        assert_eq!(last(&file, 0, BASE).unwrap(), None);
        assert_eq!(read(&path, BASE).unwrap().len(), 2);
    }
}
