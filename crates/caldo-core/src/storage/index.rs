//! Sparse offset index: one entry per `INTERVAL` bytes of log, mapping an
//! offset (relative to the segment base) to the position of its batch.
//! Rebuilt from the log after a crash, never trusted beyond what it points at.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{IoContext, Result};

pub const INTERVAL: u64 = 4096;
pub const ENTRY: u64 = 8;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    pub rel: u32,
    pub pos: u32,
}

impl Entry {
    pub fn encode(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&self.rel.to_le_bytes());
        b[4..].copy_from_slice(&self.pos.to_le_bytes());
        b
    }
}

pub fn decode(bytes: &[u8]) -> Vec<Entry> {
    bytes
        .chunks_exact(ENTRY as usize)
        .map(|c| Entry {
            rel: u32::from_le_bytes(c[..4].try_into().unwrap()),
            pos: u32::from_le_bytes(c[4..].try_into().unwrap()),
        })
        .collect()
}

/// All entries of an index file; a missing file is an empty index.
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes)
                .ctx(format_args!("reading {}", path.display()))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).ctx(format_args!("opening {}", path.display())),
    }
    Ok(decode(&bytes))
}

/// The entry with the greatest `rel <= target`, or the segment start.
/// Entries past a torn or stale tail may be out of order; only the sorted
/// prefix is searched.
pub fn lookup(entries: &[Entry], target: u32) -> Entry {
    let sorted = entries
        .windows(2)
        .position(|w| w[1].rel <= w[0].rel || w[1].pos <= w[0].pos)
        .map_or(entries.len(), |i| i + 1);
    let entries = &entries[..sorted];
    match entries.partition_point(|e| e.rel <= target) {
        0 => Entry::default(),
        i => entries[i - 1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(rel: u32, pos: u32) -> Entry {
        Entry { rel, pos }
    }

    #[test]
    fn lookup_finds_the_floor_entry() {
        let idx = [e(10, 4100), e(25, 8200), e(40, 12300)];
        assert_eq!(lookup(&idx, 0), e(0, 0));
        assert_eq!(lookup(&idx, 9), e(0, 0));
        assert_eq!(lookup(&idx, 10), e(10, 4100));
        assert_eq!(lookup(&idx, 30), e(25, 8200));
        assert_eq!(lookup(&idx, 1_000_000), e(40, 12300));
        assert_eq!(lookup(&[], 5), e(0, 0));
    }

    #[test]
    fn lookup_ignores_a_disordered_tail() {
        let idx = [e(10, 4100), e(25, 8200), e(3, 100), e(90, 9)];
        assert_eq!(lookup(&idx, 95), e(25, 8200));
    }

    #[test]
    fn encodes_round_trip() {
        let idx = vec![e(1, 2), e(u32::MAX, 7)];
        let bytes: Vec<u8> = idx.iter().flat_map(|x| x.encode()).collect();
        assert_eq!(decode(&bytes), idx);
        assert_eq!(decode(&bytes[..12]), vec![e(1, 2)]);
    }
}
