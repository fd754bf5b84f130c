//! fsync: group commit of concurrent syncs, and the durable record that
//! tells recovery after a power loss how much of the log is on disk.

use std::fs::File;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::Partition;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::sync_dir;
use crate::layout;
use crate::storage::state::Durable;
use crate::storage::{index, segment};
use crate::sync::unpoisoned;

/// The index is fdatasync'ed once it has this many unsynced entries (1 MiB of log).
const INDEX_SYNC_ENTRIES: u64 = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Page cache only: survives a process crash, not a power loss.
    None,
    /// A background flush (by the log) every interval.
    Interval,
    /// `append` returns only after fdatasync covers the records.
    Always,
}

/// An `'always'` append or marker whose sync its caller does, so that a
/// send to several partitions syncs them together (`sync_all`): ext4
/// commits concurrent fdatasyncs in one journal transaction.
pub(crate) enum Unsynced {
    /// The log up to `end` of segment `base`.
    To { base: u64, end: u64, log: Arc<File> },
    /// What is published: a retried duplicate's first attempt may not have synced.
    Published,
}

/// Syncs what each partition's appends left, at once on a thread each
/// when there are several; the first error, once all are done.
pub(crate) fn sync_all(pending: Vec<(Arc<Partition>, Unsynced)>) -> Result<()> {
    let mut pending = pending.into_iter();
    let Some((first, u)) = pending.next() else {
        return Ok(());
    };
    std::thread::scope(|scope| {
        let mut result = Ok(());
        let mut others = Vec::new();
        for (p, u) in pending {
            let part = p.clone();
            match std::thread::Builder::new().spawn_scoped(scope, move || part.sync(u)) {
                Ok(handle) => others.push(handle),
                // No thread to spare: synced here, up to what is published.
                Err(_) => result = result.and(p.sync_published().map(drop)),
            }
        }
        result = first.sync(u).and(result);
        for handle in others {
            let r = handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            result = result.and(r);
        }
        result
    })
}

/// What a sync would cover now: see [`Partition::published`].
struct Published {
    durable: Durable,
    log: Arc<File>,
    index: Arc<File>,
    time: Arc<File>,
    /// The index has grown enough to be synced with the log this time.
    index_dirty: bool,
}

impl Partition {
    /// fdatasync so that `log` is durable up to `end`. Concurrent callers share
    /// one sync: the first covers every append published before it started.
    /// Once the sync returned, the durable record in `state` moves up to it.
    pub(super) fn sync_to(&self, base: u64, end: u64, log: &File) -> Result<()> {
        let mut synced = unpoisoned(&self.synced);
        if *synced >= (base, end) {
            return Ok(());
        }
        match self.published()? {
            Some(now) => {
                self.sync_sealed(now.durable.base)?;
                if now.index_dirty {
                    // The time index first: a durable offset entry has its time entry.
                    now.time.sync_data().ctx("syncing time index")?;
                    now.index.sync_data().ctx("syncing index")?;
                }
                now.log.sync_data().ctx("syncing segment")?;
                *synced = (*synced).max((now.durable.base, now.durable.pos));
                self.record_durable(now.durable)?;
            }
            None => {
                self.sync_sealed(base)?;
                log.sync_data().ctx("syncing segment")?;
                *synced = (*synced).max((base, end));
            }
        }
        Ok(())
    }

    /// Does the sync an append or marker left.
    pub(crate) fn sync(&self, u: Unsynced) -> Result<()> {
        match u {
            Unsynced::To { base, end, log } => self.sync_to(base, end, &log),
            Unsynced::Published => self.sync_published().map(drop),
        }
    }

    /// fdatasync up to what is published now; false (nothing synced) while a
    /// crashed writer's append is pending or once the topic is deleted.
    pub(super) fn sync_published(&self) -> Result<bool> {
        match self.published()? {
            Some(now) => self
                .sync_to(now.durable.base, now.durable.pos, &now.log)
                .map(|()| true),
            None => Ok(false),
        }
    }

    /// fdatasyncs in full the segments sealed since the durable record's
    /// (those from its segment up to `upto`) and the directory, if any: a
    /// roll leaves that to the next sync rather than stall every writer of the
    /// partition under the lock for a whole segment, and the record may pass
    /// a segment only once all of it is on disk.
    fn sync_sealed(&self, upto: u64) -> Result<()> {
        let from = self.state.durable().map_or(0, |d| d.base);
        if from >= upto {
            return Ok(());
        }
        let bases = match segment::list(&self.dir) {
            Ok(bases) => bases,
            Err(e) if gone(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        for base in bases.into_iter().filter(|b| (from..upto).contains(b)) {
            // The time index before the offset index, as for the active segment.
            for path in [
                layout::segment_time_index(&self.dir, base),
                layout::segment_index(&self.dir, base),
                layout::segment_log(&self.dir, base),
            ] {
                match File::open(&path) {
                    Ok(f) => f.sync_data().ctx("syncing sealed segment")?,
                    // Removed meanwhile by retention, which syncs first.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e).ctx(format_args!("opening {}", path.display())),
                }
            }
        }
        match sync_dir(&self.dir) {
            Err(e) if gone(&e) => Ok(()),
            r => r,
        }
    }

    /// What is published now, read under the lock so that the fields agree,
    /// with the active segment's files; `None` while a crashed writer's append
    /// is pending (the next append recovers it) or once the topic is deleted.
    fn published(&self) -> Result<Option<Published>> {
        let (mut w, _guard) = self.locked()?;
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
        let index = a.index.file()?;
        let len = index::whole_len(&index)?;
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
            log: a.log.file()?,
            index,
            time: a.time.file()?,
            index_dirty,
        }))
    }

    /// Moves the durable record up to `d`, which a completed sync covers.
    fn record_durable(&self, d: Durable) -> Result<()> {
        let (_w, _guard) = self.locked()?;
        if !self.state.deleted() && self.state.clean() {
            self.note_durable(d);
        }
        Ok(())
    }

    /// With the lock held: records `d` if it is ahead of the record and still
    /// published (a recovery in between may have cut the log).
    pub(super) fn note_durable(&self, d: Durable) {
        let (base, end) = self.state.active();
        let published = base > d.base || (base == d.base && end >= d.pos);
        if published && self.state.durable().is_none_or(|r| r < d) {
            self.state.set_durable(Some(d));
        }
    }

    /// Makes the segments sealed so far durable and moves the record to the
    /// active segment's start. With `'none'` these are the only syncs: they
    /// keep the walk of recovery after a power loss to the active segment
    /// rather than the whole log (as Kafka flushes a rolled segment whatever
    /// its flush policy). Outside the lock but for the record's move.
    pub fn sync_rolled(&self) -> Result<()> {
        let (base, _) = self.state.active();
        // Nothing sealed since the record (or, without one, since the start).
        if self.state.durable().map_or(0, |d| d.base) >= base {
            return Ok(());
        }
        self.sync_sealed(base)?;
        self.record_durable(Durable {
            base,
            pos: 0,
            next: base,
            index_len: 0,
        })
    }

    /// Flushes what this process appended since the last flush.
    pub fn flush(&self) -> Result<()> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        match self.sync_published() {
            Ok(true) => Ok(()),
            Ok(false) => {
                // A crashed writer's append is pending: the next append
                // recovers it, and the next flush syncs.
                self.dirty.store(true, Ordering::Release);
                Ok(())
            }
            Err(e) if gone(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The partition's directory is gone (its topic deleted, or removed from
/// outside while the log was open): nothing of it is left to sync.
fn gone(e: &Error) -> bool {
    e.errno == Some("ENOENT")
}
