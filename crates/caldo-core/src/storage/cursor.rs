//! A reader's position in one partition. Reads only below the published next
//! offset, checks every batch's CRC, and keeps one segment open at a time, so
//! its memory does not grow with the log.

use std::fs::File;
use std::sync::Arc;

use crate::error::{Code, Error, IoContext, Result};
use crate::layout;
use crate::record::batch::{self, RecordRef};
use crate::storage::index;
use crate::storage::partition::Partition;
use crate::storage::segment;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    Earliest,
    Latest,
    Offset(u64),
}

struct Open {
    base: u64,
    file: File,
    pos: u64,
    /// The base offset the batch at `pos` must have: base offsets are outside
    /// the CRC, so a damaged one is caught by the sequence instead.
    expect: u64,
}

pub struct Cursor {
    part: Arc<Partition>,
    next: u64,
    seg: Option<Open>,
    reader: segment::Reader,
}

impl Cursor {
    pub fn new(part: Arc<Partition>, at: Position) -> Cursor {
        let mut c = Cursor {
            part,
            next: 0,
            seg: None,
            reader: segment::Reader::default(),
        };
        c.seek(at);
        c
    }

    pub fn partition(&self) -> &Arc<Partition> {
        &self.part
    }

    /// Moves to `at`; offsets outside the log are clamped to its ends.
    pub fn seek(&mut self, at: Position) {
        let state = self.part.state();
        let (low, high) = (state.log_start(), state.next_offset());
        self.next = match at {
            Position::Earliest => low,
            Position::Latest => high,
            Position::Offset(o) => o.clamp(low, high),
        };
        self.seg = None;
        self.reader.clear();
    }

    /// The offset of the next record this cursor returns.
    pub fn position(&self) -> u64 {
        self.next
    }

    pub fn high_watermark(&self) -> u64 {
        self.part.state().next_offset()
    }

    fn corrupt(&self, offset: u64, what: &str) -> Error {
        Error::new(
            Code::Corrupt,
            format!(
                "{what} in topic '{}' partition {} at offset {offset}; run `caldo verify`",
                self.part.topic, self.part.id
            ),
        )
    }

    fn open(&mut self, base: u64, pos: u64) -> Result<()> {
        let path = layout::segment_log(self.part.dir(), base);
        let file = File::open(&path).ctx(format_args!("opening {}", path.display()))?;
        self.seg = Some(Open {
            base,
            file,
            pos,
            expect: base,
        });
        self.reader.clear();
        Ok(())
    }

    /// Finds the segment and indexed position at or before `next`.
    fn locate(&mut self) -> Result<()> {
        let bases = segment::list(self.part.dir())?;
        let Some(base) = segment::floor(&bases, self.next) else {
            return Err(self.corrupt(self.next, "no segment holds the record"));
        };
        let entries = index::read(&layout::segment_index(self.part.dir(), base), base)?;
        let e = index::lookup(&entries, base, self.next);
        self.open(base, 0)?;
        let hw = self.high_watermark();
        let seg = self.seg.as_ref().unwrap();
        let hit = self.reader.batch_at(&seg.file, e.pos, hw)?;
        if hit.is_some_and(|(h, _)| h.base_offset == e.offset) {
            let seg = self.seg.as_mut().unwrap();
            seg.pos = e.pos;
            seg.expect = e.offset;
        }
        Ok(())
    }

    /// Hands records from the current position to `visit` until it returns
    /// false, `max` records were handed out, or the published end is reached.
    /// Never waits. Returns how many records were handed out.
    pub fn fetch(
        &mut self,
        max: usize,
        visit: &mut dyn FnMut(&RecordRef) -> bool,
    ) -> Result<usize> {
        let mut n = 0;
        while n < max {
            if self.part.state().deleted() {
                return Err(self.part.unknown());
            }
            let hw = self.high_watermark();
            if self.next >= hw {
                break;
            }
            if self.seg.is_none() {
                self.locate()?;
            }
            let seg = self.seg.as_mut().unwrap();
            let next = self.next;
            let found = self.reader.batch_at(&seg.file, seg.pos, hw)?;
            // A batch at or past the published end is a crashed writer's leftover;
            // one out of sequence is either junk after a sealed segment's last batch
            // or a damaged base offset (base offsets are outside the CRC).
            let found = found.filter(|(h, _)| h.base_offset < hw);
            let in_sequence = found.filter(|(h, _)| h.base_offset == seg.expect);
            let Some((h, bytes)) = in_sequence else {
                // The end of this segment: the record is at the start of the next one.
                let seg_base = seg.base;
                let expect = seg.expect;
                let path = layout::segment_log(self.part.dir(), next);
                if next != seg_base && path.exists() {
                    self.open(next, 0)?;
                    continue;
                }
                if self.part.state().deleted() {
                    return Err(self.part.unknown());
                }
                if found.is_some() {
                    return Err(self.corrupt(expect, "batch out of sequence (damaged base offset)"));
                }
                return Err(self.corrupt(next, "missing or damaged batch"));
            };
            if h.last_offset() < next {
                seg.pos += h.size as u64;
                seg.expect = h.next_offset();
                continue;
            }
            if !batch::crc_ok(bytes) {
                return Err(self.corrupt(h.base_offset, "batch fails its CRC check"));
            }
            let mut stopped = false;
            let mut last = next;
            let ok = batch::decode(bytes, &h, |r| {
                if r.offset < next {
                    return true;
                }
                n += 1;
                last = r.offset;
                let more = visit(&r) && n < max;
                stopped = !more;
                more
            });
            if ok.is_none() {
                return Err(self.corrupt(h.base_offset, "malformed batch"));
            }
            if stopped && last < h.last_offset() {
                self.next = last + 1;
                break;
            }
            self.next = h.next_offset();
            seg.pos += h.size as u64;
            seg.expect = self.next;
            if stopped {
                break;
            }
        }
        Ok(n)
    }
}
