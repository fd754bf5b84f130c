//! Segment files: `<base:020>.log` holds batches from offset `base` on;
//! `<base:020>.index` is its sparse index.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{IoContext, Result};
use crate::layout;
use crate::record::batch::{self, BatchHeader};

const READ_AHEAD: usize = 256 * 1024;

/// Base offsets of the segments in `dir`, ascending.
pub fn list(dir: &Path) -> Result<Vec<u64>> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).ctx(format_args!("listing {}", dir.display()))? {
        let name = entry.ctx("listing segments")?.file_name();
        if let Some(base) = layout::segment_base(&name.to_string_lossy()) {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// The segment holding `offset`: the greatest base not above it.
pub fn floor(bases: &[u64], offset: u64) -> Option<u64> {
    bases.iter().rev().find(|&&b| b <= offset).copied()
}

/// Buffered batch reads from one segment file.
#[derive(Default)]
pub struct Reader {
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    start: u64,
    /// Batches below this offset were complete when `buf` was read.
    final_below: u64,
}

impl Reader {
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.final_below = 0;
    }

    fn covers(&self, pos: u64, len: usize) -> bool {
        pos >= self.start && pos + len as u64 <= self.start + self.buf.len() as u64
    }

    fn fill(&mut self, file: &File, pos: u64, need: usize, hw: u64) -> io::Result<()> {
        // Never more than the file holds: a damaged length field may claim up
        // to 4 GiB, which must read as "no batch here", not as an allocation.
        let left = file.metadata()?.len().saturating_sub(pos);
        let want = need
            .max(READ_AHEAD)
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        self.buf.resize(want, 0);
        let mut got = 0;
        while got < want {
            match file.read_at(&mut self.buf[got..], pos + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.buf.truncate(got);
        self.start = pos;
        self.final_below = hw;
        Ok(())
    }

    fn slice(&self, pos: u64, len: usize) -> &[u8] {
        let at = (pos - self.start) as usize;
        &self.buf[at..at + len]
    }

    /// The batch at `pos`, not yet CRC-checked, or `None` if no batch starts
    /// there. `hw` is the partition's next offset, loaded before this call:
    /// buffered bytes of a batch at or above what was final when read are read
    /// again, as a crashed writer's leftovers may have been replaced since.
    pub fn batch_at(
        &mut self,
        file: &File,
        pos: u64,
        hw: u64,
    ) -> Result<Option<(BatchHeader, &[u8])>> {
        let mut fresh = false;
        loop {
            if !self.covers(pos, batch::HEADER_LEN) {
                self.fill(file, pos, batch::HEADER_LEN, hw)
                    .ctx("reading segment")?;
                fresh = true;
            }
            let header = match self.covers(pos, batch::HEADER_LEN) {
                true => batch::parse_header(self.slice(pos, batch::HEADER_LEN)),
                false => None,
            };
            let stale = header.is_none_or(|h| h.base_offset >= self.final_below);
            if stale && !fresh {
                self.fill(file, pos, batch::HEADER_LEN, hw)
                    .ctx("reading segment")?;
                fresh = true;
                continue;
            }
            let Some(h) = header else { return Ok(None) };
            if !self.covers(pos, h.size) {
                self.fill(file, pos, h.size, hw).ctx("reading segment")?;
                fresh = true;
                if !self.covers(pos, h.size) {
                    return Ok(None);
                }
                continue;
            }
            return Ok(Some((h, self.slice(pos, h.size))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::RecordIn;

    #[test]
    fn names_sort_and_floor() {
        let dir = tempfile::tempdir().unwrap();
        for b in [0u64, 100, 2500] {
            File::create(layout::segment_log(dir.path(), b)).unwrap();
            File::create(layout::segment_index(dir.path(), b)).unwrap();
        }
        File::create(layout::partition_state(dir.path())).unwrap();
        let bases = list(dir.path()).unwrap();
        assert_eq!(bases, vec![0, 100, 2500]);
        assert_eq!(floor(&bases, 99), Some(0));
        assert_eq!(floor(&bases, 100), Some(100));
        assert_eq!(floor(&bases, 9999), Some(2500));
    }

    #[test]
    fn reader_walks_batches_and_stops_at_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = layout::segment_log(dir.path(), 0);
        let mut bytes = Vec::new();
        let value = vec![1u8; 100_000];
        for i in 0..5u64 {
            let r = [RecordIn {
                key: None,
                value: Some(&value),
                headers: &[],
                timestamp: 0,
            }];
            batch::encode(&mut bytes, i, &r);
        }
        bytes.extend_from_slice(&[0u8; 300]);
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let mut r = Reader::default();
        let mut pos = 0;
        let mut seen = 0;
        while let Some((h, b)) = r.batch_at(&file, pos, u64::MAX).unwrap() {
            assert!(batch::crc_ok(b));
            assert_eq!(h.base_offset, seen);
            pos += h.size as u64;
            seen += 1;
        }
        assert_eq!(seen, 5);
    }

    #[test]
    fn a_huge_length_field_is_no_batch_and_no_huge_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = layout::segment_log(dir.path(), 0);
        let mut bytes = Vec::new();
        let r = [RecordIn {
            key: None,
            value: Some(b"v"),
            headers: &[],
            timestamp: 0,
        }];
        batch::encode(&mut bytes, 0, &r);
        bytes[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let mut reader = Reader::default();
        assert!(reader.batch_at(&file, 0, u64::MAX).unwrap().is_none());
        assert!(reader.buf.capacity() < 1 << 20, "{}", reader.buf.capacity());
    }
}
