//! One partition: appends under the cross-process lock, crash recovery, fsync.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::batch::{self, RecordIn};
use crate::error::{Code, Error, IoContext, Result};
use crate::index::{self, Entry};
use crate::lock;
use crate::segment;
use crate::state::State;
use crate::wake::Wake;

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
    index: File,
    index_len: u64,
    last_indexed: u64,
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

fn lock_poisoned<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx(format_args!("syncing {}", dir.display()))
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
        let state = State::open(&dir.join("state"))?;
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
        let mut w = lock_poisoned(&self.writer);
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
            let log = open_rw(&segment::log_path(&self.dir, base), false)?;
            let index = open_rw(&segment::index_path(&self.dir, base), false)?;
            let index_len = index.metadata().ctx("stat index")?.len() / index::ENTRY * index::ENTRY;
            let mut last = [0u8; 8];
            let last_indexed = match index_len {
                0 => 0,
                n => {
                    index
                        .read_exact_at(&mut last, n - index::ENTRY)
                        .ctx("reading index")?;
                    index::decode(&last)[0].pos.into()
                }
            };
            w.active = Some(Active {
                base,
                log: Arc::new(log),
                index,
                index_len,
                last_indexed,
            });
        }
        Ok(w.active.as_mut().unwrap())
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
                self.roll(w, base, next)?;
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
                        let e = Entry {
                            rel: (off - base) as u32,
                            pos: pos as u32,
                        };
                        a.index
                            .write_all_at(&e.encode(), a.index_len)
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

    /// Seals the active segment and starts one at `next`.
    fn roll(&self, w: &mut Writer, base: u64, next: u64) -> Result<()> {
        if self.durability != Durability::None {
            self.active(w, base)?
                .log
                .sync_data()
                .ctx("syncing sealed segment")?;
        }
        let log = open_rw(&segment::log_path(&self.dir, next), true)?;
        let index = open_rw(&segment::index_path(&self.dir, next), true)?;
        if self.durability != Durability::None {
            sync_dir(&self.dir)?;
        }
        w.active = Some(Active {
            base: next,
            log: Arc::new(log),
            index,
            index_len: 0,
            last_indexed: 0,
        });
        Ok(())
    }

    /// fdatasync so that `log` is durable up to `end`. Concurrent callers share
    /// one sync: the first covers every append published before it started.
    fn sync_to(&self, base: u64, end: u64, log: &File) -> Result<()> {
        let mut synced = lock_poisoned(&self.synced);
        if *synced >= (base, end) {
            return Ok(());
        }
        let (now_base, now_end) = self.state.active();
        let covers = if now_base == base && now_end > end {
            now_end
        } else {
            end
        };
        log.sync_data().ctx("syncing segment")?;
        *synced = (*synced).max((base, covers));
        Ok(())
    }

    /// Flushes what this process appended since the last flush.
    pub fn flush(&self) -> Result<()> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let current = lock_poisoned(&self.writer)
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
        let _w = lock_poisoned(&self.writer);
        let _guard = lock::exclusive(&self.state.file).ctx("locking partition")?;
        self.state.mark_deleted();
        self.wake.notify();
        Ok(())
    }

    /// Rebuilds the writer state from the files. With a state from this boot,
    /// `next_offset` is trusted and only the tail after the last index entry
    /// below it is walked; otherwise (power loss, damaged state) the last
    /// segment is re-validated from its start, batch by batch, and cut at the
    /// first bad one.
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
        let Some(&(mut base)) = bases.last() else {
            let start = if trusted { published } else { 0 };
            open_rw(&segment::log_path(&self.dir, start), true)?;
            open_rw(&segment::index_path(&self.dir, start), true)?;
            self.state.reset(start, start, 0, start);
            return Ok(());
        };
        let (end, next) = loop {
            let limit = trusted.then_some(published);
            let (end, next) = self.rebuild(base, limit)?;
            // After a power loss, a segment rolled to but never synced may be
            // empty; the previous one then holds the tail.
            if !trusted && end == 0 && bases.len() > 1 {
                remove_segment(&self.dir, base)?;
                bases.pop();
                base = *bases.last().unwrap();
                continue;
            }
            break (end, next);
        };
        self.state.reset(bases[0], base, end, next);
        Ok(())
    }

    /// Walks segment `base`, validating each batch, cuts the log after the last
    /// good one (and below `limit`), rewrites the index tail. Returns (end, next).
    fn rebuild(&self, base: u64, limit: Option<u64>) -> Result<(u64, u64)> {
        let log = open_rw(&segment::log_path(&self.dir, base), false)?;
        let index_path = segment::index_path(&self.dir, base);
        let mut entries = if limit.is_some() {
            index::read(&index_path)?
        } else {
            Vec::new()
        };
        let mut reader = segment::Reader::default();
        // Start from the last index entry that still points at a batch below the limit.
        let mut keep = 0;
        let (mut pos, mut next) = (0u64, base);
        if let Some(limit) = limit {
            let target = limit
                .saturating_sub(1)
                .saturating_sub(base)
                .min(u64::from(u32::MAX)) as u32;
            let e = index::lookup(&entries, target);
            if e.pos > 0 {
                if let Some((h, _)) = reader.batch_at(&log, e.pos.into(), u64::MAX)? {
                    if h.base_offset == base + u64::from(e.rel) {
                        keep = entries.iter().position(|x| *x == e).map_or(0, |i| i + 1);
                        (pos, next) = (e.pos.into(), h.base_offset);
                    }
                }
            }
        }
        entries.truncate(keep);
        let mut last_indexed = entries.last().map_or(0, |e| u64::from(e.pos));
        while let Some((h, bytes)) = reader.batch_at(&log, pos, u64::MAX)? {
            if h.base_offset != next
                || limit.is_some_and(|l| h.next_offset() > l)
                || !batch::crc_ok(bytes)
            {
                break;
            }
            if pos - last_indexed >= index::INTERVAL {
                entries.push(Entry {
                    rel: (next - base) as u32,
                    pos: pos as u32,
                });
                last_indexed = pos;
            }
            pos += h.size as u64;
            next = h.next_offset();
        }
        log.set_len(pos).ctx("cutting torn tail")?;
        let bytes: Vec<u8> = entries.iter().flat_map(|e| e.encode()).collect();
        std::fs::write(&index_path, bytes).ctx("rewriting index")?;
        Ok((pos, next))
    }
}

fn remove_segment(dir: &Path, base: u64) -> Result<()> {
    for path in [segment::log_path(dir, base), segment::index_path(dir, base)] {
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
