//! A reader's position in one partition. Reads only below the published next
//! offset, checks every batch's CRC, and keeps one segment open at a time, so
//! its memory does not grow with the log.
//!
//! What it returns depends on its isolation, as in Kafka's fetch: read
//! committed stops at the last stable offset and skips the batches of
//! aborted transactions (found in the `.txnindex` files); neither returns
//! control records, whose offsets are gaps the position moves past.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use crate::error::{Code, Error, IoContext, Result};
use crate::layout;
use crate::record::batch::{self, RecordRef};
use crate::storage::files::{files, Handle, Mode};
use crate::storage::index;
use crate::storage::partition::Partition;
use crate::storage::segment::{self, Step, Walk};
use crate::storage::txnindex::{self, AbortedTxn};

/// Which records a cursor returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// Up to the last stable offset; no aborted or control records.
    ReadCommitted,
    /// Every data record up to the high watermark; no control records.
    ReadUncommitted,
    /// Everything, control records too (the offsets store reads markers).
    Raw,
}

impl Isolation {
    pub fn parse(s: &str) -> Result<Isolation> {
        match s {
            "read_committed" => Ok(Isolation::ReadCommitted),
            "read_uncommitted" => Ok(Isolation::ReadUncommitted),
            _ => Err(Error::new(
                Code::InvalidArg,
                format!("isolation must be 'read_committed' or 'read_uncommitted', got {s:?}"),
            )),
        }
    }
}

/// Aborted transactions at or after the cursor, as of a stable end.
#[derive(Default)]
struct Aborted {
    list: Vec<AbortedTxn>,
    /// The stable end when `list` was read: every transaction aborted below
    /// it is in the list.
    upto: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    Earliest,
    Latest,
    Offset(u64),
}

/// Where a fetch stopped inside a batch: the next fetch goes on from there
/// instead of checking and decoding the batch from its start again, which
/// made each small fetch cost a whole batch.
#[derive(Clone, Copy)]
struct Within {
    /// The batch's position in the segment, and the offset to go on from.
    pos: u64,
    next: u64,
    at: batch::Resume,
}

struct Open {
    base: u64,
    /// In the process's file cache: a cursor at rest holds no descriptor.
    file: Handle,
    /// So that a file compaction put in its place is told from it.
    ino: u64,
    walk: Walk,
    within: Option<Within>,
}

/// How often a reader looks again for the file holding its next offset
/// before calling the partition damaged; each look follows a compaction's
/// change of the directory, which cannot happen without end.
const RELOCATIONS: u32 = 16;

pub struct Cursor {
    part: Arc<Partition>,
    next: u64,
    seg: Option<Open>,
    reader: segment::Reader,
    /// (from, to) when the position fell below the log start and moved to it.
    reset: Option<(u64, u64)>,
    isolation: Isolation,
    aborted: Aborted,
}

impl Cursor {
    pub fn new(part: Arc<Partition>, at: Position) -> Cursor {
        let mut c = Cursor {
            part,
            next: 0,
            seg: None,
            reader: segment::Reader::default(),
            reset: None,
            isolation: Isolation::ReadUncommitted,
            aborted: Aborted::default(),
        };
        c.seek(at);
        c
    }

    pub fn set_isolation(&mut self, isolation: Isolation) {
        self.isolation = isolation;
    }

    /// Where reading stops now: the last stable offset when read committed,
    /// else the high watermark.
    pub fn end(&self) -> u64 {
        match self.isolation {
            Isolation::ReadCommitted => self.part.state().stable_end(),
            _ => self.high_watermark(),
        }
    }

    /// True when a transactional batch of `pid` at `offset` was aborted.
    /// Reads the transaction indexes again only when the stable end moved
    /// past what they were read for.
    fn is_aborted(&mut self, pid: i64, offset: u64, end: u64) -> Result<bool> {
        let covered = |a: &Aborted| a.list.iter().any(|t| t.covers(pid, offset));
        if covered(&self.aborted) || self.aborted.upto >= end {
            return Ok(covered(&self.aborted));
        }
        let list = txnindex::read_after(self.part.dir(), offset)?;
        self.aborted = Aborted { list, upto: end };
        Ok(covered(&self.aborted))
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
        // Read for positions after this one: aborted transactions before it may be missing.
        self.aborted = Aborted::default();
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

    /// The partition's next offset.
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

    /// Opens segment `base`; `None` when it is gone (a cleaner removed it).
    fn open(&mut self, base: u64) -> Result<Option<Arc<File>>> {
        let path = layout::segment_log(self.part.dir(), base);
        let file = match File::open(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            f => Arc::new(f.ctx(format_args!("opening {}", path.display()))?),
        };
        let ino = file.metadata().ctx("stat segment")?.ino();
        self.seg = Some(Open {
            base,
            file: files().adopt(&path, Mode::Read, file.clone()),
            ino,
            walk: Walk::start(base),
            within: None,
        });
        self.reader.clear();
        Ok(Some(file))
    }

    /// The open segment's file. When the cache closed it meanwhile, the one
    /// at its path now must be the same file, and the walk must still land
    /// on a batch there; otherwise (the file was replaced or removed, and its
    /// inode maybe reused) the segment is closed, to be located again by offset.
    fn segment_file(&mut self, hw: u64) -> Result<Option<Arc<File>>> {
        let seg = self.seg.as_mut().unwrap();
        let (file, reopened) = match seg.file.get() {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.seg = None;
                return Ok(None);
            }
            Err(e) => return Err(e).ctx(format_args!("opening {}", seg.file.path().display())),
        };
        if !reopened {
            return Ok(Some(file));
        }
        // Bytes buffered from the file before are not trusted for another.
        self.reader.clear();
        seg.within = None;
        let same = file.metadata().ctx("stat segment")?.ino() == seg.ino;
        if same && seg.walk.lands(&mut self.reader, &file, hw)? {
            return Ok(Some(file));
        }
        self.seg = None;
        Ok(None)
    }

    /// Opens the segment holding `next`, at the indexed position at or
    /// before it. Retention or compaction may remove or replace files
    /// between the listing and the open: then it looks again.
    fn locate(&mut self) -> Result<()> {
        for _ in 0..RELOCATIONS {
            let bases = segment::list(self.part.dir())?;
            let Some(base) = segment::floor(&bases, self.next) else {
                return Err(self.corrupt(self.next, "no segment holds the record"));
            };
            if self.locate_in(base)? {
                return Ok(());
            }
        }
        Err(self.corrupt(self.next, "segment files keep changing"))
    }

    /// [`Cursor::locate`] in segment `base`; false when it is gone. An index
    /// read from another version of the file (a compaction replaced it in
    /// between) is caught because its entry does not land on a batch.
    fn locate_in(&mut self, base: u64) -> Result<bool> {
        let entries = index::read(&layout::segment_index(self.part.dir(), base), base)?;
        let at = Walk::at(index::lookup(&entries, base, self.next));
        let Some(file) = self.open(base)? else {
            return Ok(false);
        };
        let hw = self.high_watermark();
        let seg = self.seg.as_mut().unwrap();
        if at.lands(&mut self.reader, &file, hw)? {
            seg.walk = at;
        }
        Ok(true)
    }

    /// Hands records from the current position to `visit` until it returns
    /// false, `max` records were handed out, or the end is reached (the
    /// published end, or the last stable offset when read committed).
    /// Never waits. Returns how many records were handed out.
    pub fn fetch(
        &mut self,
        max: usize,
        visit: &mut dyn FnMut(&RecordRef) -> bool,
    ) -> Result<usize> {
        let mut n = 0;
        let mut moves = 0;
        while n < max {
            if self.part.state().deleted() {
                return Err(self.part.unknown());
            }
            self.below_start();
            let hw = self.high_watermark();
            let end = self.end().min(hw);
            if self.next >= end {
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
            let Some(file) = self.segment_file(hw)? else {
                continue;
            };
            let seg = self.seg.as_mut().unwrap();
            let next = self.next;
            let resumed = match seg.within.take() {
                Some(w) if w.pos == seg.walk.pos && w.next == next => seg
                    .walk
                    .again(&mut self.reader, &file, hw)?
                    .map(|h| (h, w.at)),
                _ => None,
            };
            let (h, from) = match resumed {
                Some(r) => r,
                None => match seg.walk.next(&mut self.reader, &file, hw, next)? {
                    Step::Batch(h, _) => (h, batch::Resume::START),
                    Step::BadCrc(h) => {
                        return Err(self.corrupt(h.base_offset, "batch fails its CRC check"))
                    }
                    // A batch at or past the published end is a crashed writer's leftover.
                    Step::OutOfSequence(h, _) if h.base_offset < hw => {
                        self.segment_end(true, &mut moves)?;
                        continue;
                    }
                    Step::OutOfSequence(..) | Step::End => {
                        self.segment_end(false, &mut moves)?;
                        continue;
                    }
                },
            };
            moves = 0;
            let skip = match self.isolation {
                Isolation::Raw => false,
                _ if h.control() => true,
                Isolation::ReadCommitted if h.transactional() => {
                    self.is_aborted(h.stamp.producer_id, h.base_offset, end)?
                }
                _ => false,
            };
            let seg = self.seg.as_mut().unwrap();
            if skip {
                self.next = h.next_offset();
                seg.walk.advance(&h);
                continue;
            }
            let bytes = seg.walk.bytes(&self.reader, &h);
            let mut stopped = false;
            let mut last = next;
            let ok = batch::decode_from(bytes, &h, from, |r| {
                if r.offset < next {
                    return true;
                }
                n += 1;
                last = r.offset;
                let more = visit(&r) && n < max;
                stopped = !more;
                more
            });
            let Some(at) = ok else {
                return Err(self.corrupt(h.base_offset, "malformed batch"));
            };
            if stopped && last < h.last_offset() {
                self.next = last + 1;
                let pos = seg.walk.pos;
                seg.within = Some(Within {
                    pos,
                    next: self.next,
                    at,
                });
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

    /// No batch in sequence where the walk stands: the end of this file. The
    /// next offset is at the start of the next segment, or in a file a
    /// compaction put in place since this one was opened (then this one was
    /// replaced, or the next one removed): the segment holding it now is
    /// looked up. Else an error: `out_of_sequence` is a batch below the
    /// published end there, either junk after a sealed segment's last batch
    /// or a damaged base offset.
    fn segment_end(&mut self, out_of_sequence: bool, moves: &mut u32) -> Result<()> {
        let seg = self.seg.as_ref().unwrap();
        let (seg_base, ino, expect, next) = (seg.base, seg.ino, seg.walk.expect, self.next);
        let bases = segment::list(self.part.dir())?;
        if let Some(base) = segment::floor(&bases, next) {
            let path = layout::segment_log(self.part.dir(), base);
            let same = base == seg_base && std::fs::metadata(&path).is_ok_and(|m| m.ino() == ino);
            if !same && *moves < RELOCATIONS {
                *moves += 1;
                // The next segment starts right here: no index to read.
                let found = match base == next {
                    true => self.open(base)?.is_some(),
                    false => self.locate_in(base)?,
                };
                if !found {
                    self.seg = None;
                }
                return Ok(());
            }
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
