//! One partition: appends under the cross-process lock, crash recovery, fsync.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Code, Error, IoContext, Result};
use crate::fsutil::sync_dir;
use crate::layout;
use crate::record::batch::{self, RecordIn};
use crate::storage::index::{self, Entry};
use crate::storage::segment::{self, Step, Walk};
use crate::storage::state::{Durable, State};
use crate::sync::wake::Wake;
use crate::sync::{lock, unpoisoned};

/// The index is fdatasync'ed once it has this many unsynced entries (1 MiB of log).
const INDEX_SYNC_ENTRIES: u64 = 256;

/// Appends are cut into batches of about this size.
const MAX_BATCH_BYTES: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Page cache only: survives a process crash, not a power loss.
    None,
    /// A background flush (by the log) every interval.
    Interval,
    /// `append` returns only after fdatasync covers the records.
    Always,
}

/// The active segment, as this process has it open.
struct Active {
    base: u64,
    log: Arc<File>,
    index: Arc<File>,
    index_len: u64,
    last_indexed: u64,
}

/// What a sync would cover now: see [`Partition::published`].
struct Published {
    durable: Durable,
    log: Arc<File>,
    index: Arc<File>,
    /// The index has grown enough to be synced with the log this time.
    index_dirty: bool,
}

/// Where [`Partition::rebuild`] starts walking a segment.
#[derive(Clone, Copy)]
enum From {
    /// At its first batch.
    Start,
    /// At the last index entry below this published next offset (same boot).
    Published(u64),
    /// At the durable record's position, keeping its index entries.
    Durable(Durable),
}

#[derive(Default)]
struct Writer {
    active: Option<Active>,
    buf: Vec<u8>,
    /// (position in buf, base offset) of each batch being appended.
    batches: Vec<(usize, u64)>,
}

pub struct Partition {
    pub topic: String,
    pub id: u32,
    dir: PathBuf,
    segment_bytes: u64,
    durability: Durability,
    state: State,
    wake: Arc<Wake>,
    writer: Mutex<Writer>,
    /// (segment base, position) known to be on stable storage.
    synced: Mutex<(u64, u64)>,
    dirty: AtomicBool,
}

fn open_rw(path: &Path, truncate: bool) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .open(path)
        .ctx(format_args!("opening {}", path.display()))
}

impl Partition {
    pub fn open(
        topic: &str,
        id: u32,
        dir: PathBuf,
        segment_bytes: u64,
        durability: Durability,
        wake: Arc<Wake>,
    ) -> Result<Partition> {
        let state = State::open(&layout::partition_state(&dir))?;
        let p = Partition {
            topic: topic.to_string(),
            id,
            dir,
            segment_bytes,
            durability,
            state,
            wake,
            writer: Mutex::default(),
            synced: Mutex::default(),
            dirty: AtomicBool::new(false),
        };
        if !p.state.clean() {
            // A crash left it mid-append, or it predates this boot: recover now,
            // so readers never trust a stale end.
            p.with_lock(|_| Ok(()))?;
        }
        Ok(p)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn unknown(&self) -> Error {
        Error::new(
            Code::UnknownTopic,
            format!(
                "topic '{}' was deleted; create it again to use it",
                self.topic
            ),
        )
    }

    /// Runs `f` holding this process's writer and the cross-process lock,
    /// after recovering from any crashed writer.
    fn with_lock<T>(&self, f: impl FnOnce(&mut Writer) -> Result<T>) -> Result<T> {
        let mut w = unpoisoned(&self.writer);
        let _guard = lock::exclusive(&self.state.file).ctx("locking partition")?;
        if self.state.deleted() {
            return Err(self.unknown());
        }
        if !self.state.clean() {
            w.active = None;
            self.recover()?;
        }
        f(&mut w)
    }

    /// Opens the active segment, reusing this process's handles if still current.
    fn active<'w>(&self, w: &'w mut Writer, base: u64) -> Result<&'w mut Active> {
        if w.active.as_ref().is_none_or(|a| a.base != base) {
            let log = open_rw(&layout::segment_log(&self.dir, base), false)?;
            let index = open_rw(&layout::segment_index(&self.dir, base), false)?;
            w.active = Some(Active {
                base,
                log: Arc::new(log),
                index: Arc::new(index),
                index_len: 0,
                last_indexed: 0,
            });
        }
        let a = w.active.as_mut().unwrap();
        // Other processes append (and index) too: take the index's length from
        // the file, not from this process's last append.
        let len = index::whole_len(&a.index)?;
        if len != a.index_len {
            a.last_indexed = index::last(&a.index, len, base)?.map_or(0, |e| e.pos);
            a.index_len = len;
        }
        Ok(a)
    }

    /// Appends `records` (non-empty) as one contiguous run of offsets; returns the first.
    pub fn append(&self, records: &[RecordIn]) -> Result<u64> {
        let (first, synced) = self.with_lock(|w| {
            let next = self.state.next_offset();
            let (mut base, mut end) = self.state.active();
            w.buf.clear();
            w.batches.clear();
            let mut offset = next;
            for chunk in chunks(records) {
                w.batches.push((w.buf.len(), offset));
                batch::encode(&mut w.buf, offset, chunk);
                offset += chunk.len() as u64;
            }
            self.state.begin();
            if end > 0 && end + w.buf.len() as u64 > self.segment_bytes {
                self.roll(w, base, end, next)?;
                (base, end) = (next, 0);
            }
            let buf = std::mem::take(&mut w.buf);
            let batches = std::mem::take(&mut w.batches);
            let a = self.active(w, base)?;
            let written = a.log.write_all_at(&buf, end).ctx("appending to segment");
            let indexed = written.and_then(|()| {
                for &(at, off) in &batches {
                    let pos = end + at as u64;
                    if pos - a.last_indexed >= index::INTERVAL {
                        let e = Entry { offset: off, pos };
                        a.index
                            .write_all_at(&e.encode(base), a.index_len)
                            .ctx("writing index")?;
                        a.index_len += index::ENTRY;
                        a.last_indexed = pos;
                    }
                }
                Ok(())
            });
            let new_end = end + buf.len() as u64;
            let log = a.log.clone();
            w.buf = buf;
            w.batches = batches;
            // On error `appending` stays set: the next holder cuts the partial write.
            indexed?;
            self.state.publish(base, new_end, offset);
            Ok((next, (base, new_end, log)))
        })?;
        self.wake.notify();
        self.dirty.store(true, Ordering::Release);
        if self.durability == Durability::Always {
            let (base, end, log) = synced;
            self.sync_to(base, end, &log)?;
        }
        Ok(first)
    }

    /// Seals the active segment (which ends at `end`) and starts one at `next`.
    fn roll(&self, w: &mut Writer, base: u64, end: u64, next: u64) -> Result<()> {
        let sealed = match self.durability {
            Durability::None => None,
            _ => {
                let a = self.active(w, base)?;
                let index_len = index::whole_len(&a.index)?;
                a.index.sync_data().ctx("syncing sealed index")?;
                a.log.sync_data().ctx("syncing sealed segment")?;
                Some(Durable {
                    base,
                    pos: end,
                    next,
                    index_len,
                })
            }
        };
        let log = open_rw(&layout::segment_log(&self.dir, next), true)?;
        let index = open_rw(&layout::segment_index(&self.dir, next), true)?;
        if let Some(d) = sealed {
            sync_dir(&self.dir)?;
            self.note_durable(d);
        }
        w.active = Some(Active {
            base: next,
            log: Arc::new(log),
            index: Arc::new(index),
            index_len: 0,
            last_indexed: 0,
        });
        Ok(())
    }

    /// fdatasync so that `log` is durable up to `end`. Concurrent callers share
    /// one sync: the first covers every append published before it started.
    /// Once the sync returned, the durable record in `state` moves up to it.
    fn sync_to(&self, base: u64, end: u64, log: &File) -> Result<()> {
        let mut synced = unpoisoned(&self.synced);
        if *synced >= (base, end) {
            return Ok(());
        }
        match self.published()? {
            Some(now) if now.durable.base == base && now.durable.pos >= end => {
                if now.index_dirty {
                    now.index.sync_data().ctx("syncing index")?;
                }
                now.log.sync_data().ctx("syncing segment")?;
                *synced = (*synced).max((base, now.durable.pos));
                self.record_durable(now.durable)?;
            }
            _ => {
                log.sync_data().ctx("syncing segment")?;
                *synced = (*synced).max((base, end));
            }
        }
        Ok(())
    }

    /// What is published now, read under the lock so that the fields agree,
    /// with the active segment's files; `None` while a crashed writer's append
    /// is pending (the next append recovers it) or once the topic is deleted.
    fn published(&self) -> Result<Option<Published>> {
        let mut w = unpoisoned(&self.writer);
        let _guard = lock::exclusive(&self.state.file).ctx("locking partition")?;
        if self.state.deleted() || !self.state.clean() {
            return Ok(None);
        }
        let (base, end) = self.state.active();
        let next = self.state.next_offset();
        let a = self.active(&mut w, base)?;
        // The index needs no sync for the log to be durable: recovery keeps the
        // entries the record covers and indexes from the record on. So it is
        // synced only once it has grown by INDEX_SYNC_ENTRIES; until then the
        // record keeps its last synced length, which stays true.
        let len = index::whole_len(&a.index)?;
        let synced_len = self
            .state
            .durable()
            .filter(|r| r.base == base)
            .map_or(0, |r| r.index_len);
        let index_dirty = len >= synced_len + INDEX_SYNC_ENTRIES * index::ENTRY;
        let durable = Durable {
            base,
            pos: end,
            next,
            index_len: if index_dirty { len } else { synced_len },
        };
        Ok(Some(Published {
            durable,
            log: a.log.clone(),
            index: a.index.clone(),
            index_dirty,
        }))
    }

    /// Moves the durable record up to `d`, which a completed sync covers.
    fn record_durable(&self, d: Durable) -> Result<()> {
        let _w = unpoisoned(&self.writer);
        let _guard = lock::exclusive(&self.state.file).ctx("locking partition")?;
        if !self.state.deleted() && self.state.clean() {
            self.note_durable(d);
        }
        Ok(())
    }

    /// With the lock held: records `d` if it is ahead of the record and still
    /// published (a recovery in between may have cut the log).
    fn note_durable(&self, d: Durable) {
        let (base, end) = self.state.active();
        let published = base > d.base || (base == d.base && end >= d.pos);
        if published && self.state.durable().is_none_or(|r| r < d) {
            self.state.set_durable(Some(d));
        }
    }

    /// Flushes what this process appended since the last flush.
    pub fn flush(&self) -> Result<()> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let current = unpoisoned(&self.writer)
            .active
            .as_ref()
            .map(|a| (a.base, a.log.clone()));
        if let Some((base, log)) = current {
            let (now_base, end) = self.state.active();
            if now_base == base {
                return self.sync_to(base, end, &log);
            }
            log.sync_data().ctx("syncing segment")?;
        }
        Ok(())
    }

    /// Marks the partition deleted for every process that has it open.
    pub fn mark_deleted(&self) -> Result<()> {
        let _w = unpoisoned(&self.writer);
        let _guard = lock::exclusive(&self.state.file).ctx("locking partition")?;
        self.state.mark_deleted();
        self.wake.notify();
        Ok(())
    }

    /// Rebuilds the writer state from the files. With a state from this boot,
    /// `next_offset` is trusted and only the tail after the last index entry
    /// below it is walked. Otherwise (power loss, damaged state) the log is
    /// re-validated batch by batch and cut at the first bad batch: from the
    /// durable record when it verifies, else from the start of the last segment.
    fn recover(&self) -> Result<()> {
        let trusted = self.state.trusted_boot();
        let published = self.state.next_offset();
        let mut bases = segment::list(&self.dir)?;
        if trusted {
            // Segments from a roll that never published anything past them.
            for &b in bases.iter().filter(|&&b| b > published) {
                remove_segment(&self.dir, b)?;
            }
            bases.retain(|&b| b <= published);
        }
        let durable = self.state.durable().filter(|d| bases.contains(&d.base));
        let Some(&(mut base)) = bases.last() else {
            let start = if trusted { published } else { 0 };
            open_rw(&layout::segment_log(&self.dir, start), true)?;
            open_rw(&layout::segment_index(&self.dir, start), true)?;
            self.state.set_durable(None);
            self.state.reset(start, start, 0, start);
            return Ok(());
        };
        let (end, next, kept) = loop {
            let from = match durable {
                _ if trusted => From::Published(published),
                Some(d) if d.base == base => From::Durable(d),
                _ => From::Start,
            };
            let (end, next, kept) = self.rebuild(base, from)?;
            // After a power loss, a segment rolled to but never synced may be
            // empty; the previous one then holds the tail. (One the durable
            // record names was rolled to after the previous one was synced.)
            if !trusted && end == 0 && bases.len() > 1 && durable.is_none_or(|d| d.base < base) {
                remove_segment(&self.dir, base)?;
                bases.pop();
                base = *bases.last().unwrap();
                continue;
            }
            break (end, next, kept);
        };
        // The record holds while its segment and bytes are still there.
        let holds = durable
            .filter(|d| d.base < base || (d.base == base && d.pos <= end && d.index_len <= kept));
        if holds != self.state.durable() {
            self.state.set_durable(holds);
        }
        self.state.reset(bases[0], base, end, next);
        Ok(())
    }

    /// Walks segment `base` from `from`, validating each batch, cuts the log
    /// after the last good one (and below the published offset), rewrites the
    /// index after the entries it kept. Returns (end, next, index bytes kept).
    fn rebuild(&self, base: u64, from: From) -> Result<(u64, u64, u64)> {
        let log = open_rw(&layout::segment_log(&self.dir, base), false)?;
        let index_path = layout::segment_index(&self.dir, base);
        let mut reader = segment::Reader::default();
        let limit = match from {
            From::Published(limit) => Some(limit),
            _ => None,
        };
        let (mut entries, mut walk) = match from {
            From::Start => (Vec::new(), Walk::start(base)),
            From::Published(limit) => published_start(&log, &index_path, base, limit, &mut reader)?,
            From::Durable(d) => durable_start(&log, &index_path, d, &mut reader)?
                .unwrap_or((Vec::new(), Walk::start(base))),
        };
        let kept = entries.len();
        let mut last_indexed = entries.last().map_or(0, |e| e.pos);
        while let Step::Batch(h, _) = walk.next(&mut reader, &log, u64::MAX, 0)? {
            if limit.is_some_and(|l| h.next_offset() > l) {
                break;
            }
            if walk.pos - last_indexed >= index::INTERVAL {
                entries.push(Entry {
                    offset: walk.expect,
                    pos: walk.pos,
                });
                last_indexed = walk.pos;
            }
            walk.advance(&h);
        }
        let (pos, next) = (walk.pos, walk.expect);
        if log.metadata().ctx("stat segment")?.len() != pos {
            log.set_len(pos).ctx("cutting torn tail")?;
        }
        // The kept entries stay in place (the durable ones may be relied on
        // after another power loss); only the tail is rewritten.
        let index = open_rw(&index_path, false)?;
        let kept_len = kept as u64 * index::ENTRY;
        if index.metadata().ctx("stat index")?.len() != kept_len {
            index.set_len(kept_len).ctx("cutting index")?;
        }
        let tail: Vec<u8> = entries[kept..]
            .iter()
            .flat_map(|e| e.encode(base))
            .collect();
        if !tail.is_empty() {
            index.write_all_at(&tail, kept_len).ctx("rewriting index")?;
        }
        Ok((pos, next, kept_len))
    }
}

/// Where a same-boot recovery starts: the last index entry that still points
/// at a batch below `limit`, with the entries up to it.
fn published_start(
    log: &File,
    index_path: &Path,
    base: u64,
    limit: u64,
    reader: &mut segment::Reader,
) -> Result<(Vec<Entry>, Walk)> {
    let mut entries = index::read(index_path, base)?;
    // Not below `base`: an entry for the segment's first offset is looked at too.
    let target = limit.saturating_sub(1).max(base);
    let e = index::lookup(&entries, base, target);
    let at = Walk::at(e);
    let lands = e.pos > 0 && at.lands(reader, log, u64::MAX)?;
    let keep = match lands {
        true => entries.iter().position(|x| *x == e).map_or(0, |i| i + 1),
        false => 0,
    };
    entries.truncate(keep);
    Ok((entries, if lands { at } else { Walk::start(base) }))
}

/// Where a recovery from the durable record `d` starts: its position, with
/// its index entries. `None` (scan the segment from its start) when the files
/// do not fit the record: shorter than it says, or an index entry that is out
/// of order or does not point at a valid batch below its position.
fn durable_start(
    log: &File,
    index_path: &Path,
    d: Durable,
    reader: &mut segment::Reader,
) -> Result<Option<(Vec<Entry>, Walk)>> {
    let fits = d.pos <= u64::from(u32::MAX)
        && d.next >= d.base
        && d.index_len.is_multiple_of(index::ENTRY)
        && log.metadata().ctx("stat segment")?.len() >= d.pos;
    if !fits {
        return Ok(None);
    }
    let mut entries = index::read(index_path, d.base)?;
    let n = (d.index_len / index::ENTRY) as usize;
    if entries.len() < n {
        return Ok(None);
    }
    entries.truncate(n);
    let ordered = entries
        .windows(2)
        .all(|w| w[0].offset < w[1].offset && w[0].pos < w[1].pos);
    let below = entries
        .last()
        .is_none_or(|e| e.pos < d.pos && e.offset < d.next);
    if !ordered || !below {
        return Ok(None);
    }
    if let Some(e) = entries.last() {
        let step = Walk::at(*e).next(reader, log, u64::MAX, 0)?;
        if !matches!(step, Step::Batch(..)) {
            return Ok(None);
        }
    }
    let walk = Walk {
        pos: d.pos,
        expect: d.next,
    };
    Ok(Some((entries, walk)))
}

fn remove_segment(dir: &Path, base: u64) -> Result<()> {
    for path in [
        layout::segment_log(dir, base),
        layout::segment_index(dir, base),
    ] {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).ctx(format_args!("removing {}", path.display()))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Splits records into runs of about `MAX_BATCH_BYTES`.
fn chunks<'a, 'r>(records: &'a [RecordIn<'r>]) -> impl Iterator<Item = &'a [RecordIn<'r>]> {
    let mut rest = records;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut size = 0;
        let n = rest
            .iter()
            .position(|r| {
                size += r.size() + 32;
                size > MAX_BATCH_BYTES
            })
            .map_or(rest.len(), |i| i.max(1));
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    })
}
