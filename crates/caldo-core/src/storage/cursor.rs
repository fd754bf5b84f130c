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
use crate::storage::segment::{self, Step, Walk};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    Earliest,
    Latest,
    Offset(u64),
}

struct Open {
    base: u64,
    file: File,
    walk: Walk,
}

pub struct Cursor {
    part: Arc<Partition>,
    next: u64,
    seg: Option<Open>,
    reader: segment::Reader,
    /// (from, to) when the position fell below the log start and moved to it.
    reset: Option<(u64, u64)>,
}

impl Cursor {
    pub fn new(part: Arc<Partition>, at: Position) -> Cursor {
        let mut c = Cursor {
            part,
            next: 0,
            seg: None,
            reader: segment::Reader::default(),
            reset: None,
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
        self.reset = match at {
            Position::Offset(o) if o < low => Some((o, low)),
            _ => None,
        };
        self.seg = None;
        self.reader.clear();
    }

    /// Where the position fell below the log start and moved to it since
    /// the last call: (from, to). Kafka's `auto.offset.reset` to earliest.
    pub fn take_reset(&mut self) -> Option<(u64, u64)> {
        self.reset.take()
    }

    /// Moves to the log start if retention or deleteRecords passed the position.
    fn below_start(&mut self) -> bool {
        let start = self.part.state().log_start();
        if self.next >= start {
            return false;
        }
        let from = self.reset.map_or(self.next, |r| r.0);
        self.reset = Some((from, start));
        self.next = start;
        self.seg = None;
        self.reader.clear();
        true
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

    fn open(&mut self, base: u64) -> Result<()> {
        let path = layout::segment_log(self.part.dir(), base);
        let file = File::open(&path).ctx(format_args!("opening {}", path.display()))?;
        self.seg = Some(Open {
            base,
            file,
            walk: Walk::start(base),
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
        let at = Walk::at(index::lookup(&entries, base, self.next));
        self.open(base)?;
        let hw = self.high_watermark();
        let seg = self.seg.as_mut().unwrap();
        if at.lands(&mut self.reader, &seg.file, hw)? {
            seg.walk = at;
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
            self.below_start();
            let hw = self.high_watermark();
            if self.next >= hw {
                break;
            }
            if self.seg.is_none() {
                if let Err(e) = self.locate() {
                    // Its segment was removed since the check above.
                    if self.below_start() {
                        continue;
                    }
                    return Err(e);
                }
            }
            let seg = self.seg.as_mut().unwrap();
            let next = self.next;
            let (h, bytes) = match seg.walk.next(&mut self.reader, &seg.file, hw, next)? {
                Step::Batch(h, bytes) => (h, bytes),
                Step::BadCrc(h) => {
                    return Err(self.corrupt(h.base_offset, "batch fails its CRC check"))
                }
                // A batch at or past the published end is a crashed writer's leftover.
                Step::OutOfSequence(h, _) if h.base_offset < hw => {
                    self.segment_end(true)?;
                    continue;
                }
                Step::OutOfSequence(..) | Step::End => {
                    self.segment_end(false)?;
                    continue;
                }
            };
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
            seg.walk.advance(&h);
            if stopped {
                break;
            }
        }
        Ok(n)
    }

    /// No batch in sequence where the walk stands: the end of this segment,
    /// where the record is at the start of the next one. Else an error:
    /// `out_of_sequence` is a batch below the published end there, either
    /// junk after a sealed segment's last batch or a damaged base offset.
    fn segment_end(&mut self, out_of_sequence: bool) -> Result<()> {
        let seg = self.seg.as_ref().unwrap();
        let (seg_base, expect, next) = (seg.base, seg.walk.expect, self.next);
        if next != seg_base && layout::segment_log(self.part.dir(), next).exists() {
            return self.open(next);
        }
        if self.part.state().deleted() {
            return Err(self.part.unknown());
        }
        if self.below_start() {
            return Ok(());
        }
        if out_of_sequence {
            return Err(self.corrupt(expect, "batch out of sequence (damaged base offset)"));
        }
        Err(self.corrupt(next, "missing or damaged batch"))
    }
}
