//! Segment files: `<base:020>.log` holds batches from offset `base` on;
//! `<base:020>.index` is its sparse index.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{IoContext, Result};
use crate::layout;
use crate::record::batch::{self, BatchHeader};
use crate::storage::index;

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

/// (base offset, bytes) of each segment file in `dir`, ascending; one a
/// cleaner removes meanwhile is left out.
pub fn sizes(dir: &Path) -> Result<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    for base in list(dir)? {
        let path = layout::segment_log(dir, base);
        match std::fs::metadata(&path) {
            Ok(meta) => out.push((base, meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).ctx(format_args!("stat {}", path.display())),
        }
    }
    Ok(out)
}

/// The segment holding `offset`: the greatest base not above it.
pub fn floor(bases: &[u64], offset: u64) -> Option<u64> {
    bases.iter().rev().find(|&&b| b <= offset).copied()
}

/// Buffered batch reads from one segment file.
#[derive(Default)]
pub struct Reader {
    /// Zeroed once as it grows, not per read: a reader at the end of the log
    /// reads a few bytes into it at a time.
    buf: Vec<u8>,
    /// How much of `buf` the last read filled.
    len: usize,
    /// File position of `buf[0]`.
    start: u64,
    /// Batches below this offset were complete when `buf` was read.
    final_below: u64,
}

impl Reader {
    pub fn clear(&mut self) {
        self.len = 0;
        self.start = 0;
        self.final_below = 0;
    }

    fn covers(&self, pos: u64, len: usize) -> bool {
        pos >= self.start && pos + len as u64 <= self.start + self.len as u64
    }

    fn fill(&mut self, file: &File, pos: u64, need: usize, hw: u64) -> io::Result<()> {
        let mut want = need.max(READ_AHEAD);
        if need > READ_AHEAD {
            // Never more than the file holds: a damaged length field may claim
            // up to 4 GiB, which must read as "no batch here", not as an
            // allocation. Batches within the read-ahead need no stat.
            let left = file.metadata()?.len().saturating_sub(pos);
            want = want.min(usize::try_from(left).unwrap_or(usize::MAX));
        }
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        // Reads until `need` is in: the read-ahead past it is taken only as
        // far as one call gives, so the file's end costs no second call.
        let mut got = 0;
        while got < need {
            match file.read_at(&mut self.buf[got..want], pos + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.len = got;
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
    fn batch_at(&mut self, file: &File, pos: u64, hw: u64) -> Result<Option<(BatchHeader, &[u8])>> {
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

/// One step of a [`Walk`].
#[derive(Debug)]
pub enum Step<'a> {
    /// The batch in sequence, whole, with a matching CRC.
    Batch(BatchHeader, &'a [u8]),
    /// No batch starts here: the end of the data, a torn tail or garbage.
    End,
    /// A batch starts here, but not at the expected offset (base offsets
    /// are outside the CRC, so a damaged one is caught by the sequence).
    OutOfSequence(BatchHeader, &'a [u8]),
    /// The batch in sequence fails its CRC check.
    BadCrc(BatchHeader),
}

/// A walk through one segment's batches in offset order. Recovery, readers
/// and inspection all step through segments with it, so that they agree on
/// what a good batch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walk {
    /// Where the next batch starts.
    pub pos: u64,
    /// The base offset that batch must have.
    pub expect: u64,
}

impl Walk {
    /// From the start of segment `base`.
    pub fn start(base: u64) -> Walk {
        Walk::at(index::Entry::start(base))
    }

    /// From the batch index entry `e` points at.
    pub fn at(e: index::Entry) -> Walk {
        Walk {
            pos: e.pos,
            expect: e.offset,
        }
    }

    /// True when a batch in sequence starts here (its CRC not yet checked):
    /// an index entry that says so can be walked from.
    pub fn lands(&self, reader: &mut Reader, file: &File, hw: u64) -> Result<bool> {
        let found = reader.batch_at(file, self.pos, hw)?;
        Ok(found.is_some_and(|(h, _)| h.base_offset == self.expect))
    }

    /// The batch here, stepping over (unchecked, as nothing of them is
    /// returned) whole batches below `from`. `hw` is as for [`Reader`].
    pub fn next<'r>(
        &mut self,
        reader: &'r mut Reader,
        file: &File,
        hw: u64,
        from: u64,
    ) -> Result<Step<'r>> {
        loop {
            let (expect, pos) = (self.expect, self.pos);
            let found = reader.batch_at(file, pos, hw)?.map(|(h, bytes)| {
                let in_sequence = h.base_offset == expect;
                let skip = in_sequence && h.last_offset() < from;
                (
                    h,
                    in_sequence,
                    skip,
                    !skip && in_sequence && batch::crc_ok(bytes),
                )
            });
            let Some((h, in_sequence, skip, crc_ok)) = found else {
                return Ok(Step::End);
            };
            if skip {
                self.advance(&h);
                continue;
            }
            let bytes = reader.slice(pos, h.size);
            return Ok(match (in_sequence, crc_ok) {
                (false, _) => Step::OutOfSequence(h, bytes),
                (true, false) => Step::BadCrc(h),
                (true, true) => Step::Batch(h, bytes),
            });
        }
    }

    /// The batch the last [`Walk::next`] returned (and checked), again,
    /// without checking its CRC a second time: for a reader that stopped
    /// inside it. `None` if it is no longer there.
    pub fn again(&self, reader: &mut Reader, file: &File, hw: u64) -> Result<Option<BatchHeader>> {
        let found = reader.batch_at(file, self.pos, hw)?;
        Ok(found
            .map(|(h, _)| h)
            .filter(|h| h.base_offset == self.expect))
    }

    /// The bytes of batch `h`, which the last [`Walk::next`] returned from
    /// `reader` (still buffered there).
    pub fn bytes<'r>(&self, reader: &'r Reader, h: &BatchHeader) -> &'r [u8] {
        reader.slice(self.pos, h.size)
    }

    /// Past batch `h`, the one this walk is at.
    pub fn advance(&mut self, h: &BatchHeader) {
        self.pos += h.size as u64;
        self.expect = h.next_offset();
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
            batch::encode(&mut bytes, i, &r, &batch::Stamp::NONE);
        }
        bytes.extend_from_slice(&[0u8; 300]);
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let mut r = Reader::default();
        let mut walk = Walk::start(0);
        let mut seen = 0;
        while let Step::Batch(h, _) = walk.next(&mut r, &file, u64::MAX, 0).unwrap() {
            assert_eq!(h.base_offset, seen);
            walk.advance(&h);
            seen += 1;
        }
        assert_eq!(seen, 5);
        assert_eq!(walk.pos, bytes.len() as u64 - 300, "stops at the garbage");
        // Stepping over batches below an offset, then out of sequence.
        let mut walk = Walk::start(0);
        let Step::Batch(h, _) = walk.next(&mut r, &file, u64::MAX, 3).unwrap() else {
            panic!("no batch 3")
        };
        assert_eq!(h.base_offset, 3);
        walk.expect = 7;
        assert!(matches!(
            walk.next(&mut r, &file, u64::MAX, 0).unwrap(),
            Step::OutOfSequence(..)
        ));
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
        batch::encode(&mut bytes, 0, &r, &batch::Stamp::NONE);
        bytes[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let mut reader = Reader::default();
        assert!(reader.batch_at(&file, 0, u64::MAX).unwrap().is_none());
        assert!(reader.buf.capacity() < 1 << 20, "{}", reader.buf.capacity());
    }
}
