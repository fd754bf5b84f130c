//! One partition: appends under the cross-process lock (`append`), fsync and
//! the durable record (`durability`), crash recovery (`recovery`).

mod append;
mod compaction;
mod durability;
mod recovery;
mod retention;
mod times;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Code, Error, IoContext, Result};
use crate::layout;
use crate::storage::files::{files, Handle, Mode};
use crate::storage::index;
use crate::storage::state::State;
use crate::sync::wake::Wake;
use crate::sync::{lock, unpoisoned};

pub(crate) use append::Write;
pub use append::{fail_appends_for_tests, FailAt, Producing};
pub use compaction::{dirty_ratio, Compacted, Compaction};
pub use durability::Durability;
pub(crate) use durability::{sync_all, Unsynced};
pub(crate) use retention::now_ms;
pub use retention::{segment_max_timestamp, Removed, Rules, Seg};

/// The active segment, as this process has it open (through the file cache).
struct Active {
    base: u64,
    log: Handle,
    index: Handle,
    index_len: u64,
    last_indexed: u64,
    time: Handle,
    /// Bytes of the time index, and its last entry's timestamp (or `i64::MIN`).
    time_len: u64,
    time_max: i64,
    /// (from, to, max): the greatest timestamp of the batches between those
    /// positions, as this process last appended them.
    run: (u64, u64, i64),
    /// The next offset this process published with its last append here.
    published: Option<u64>,
}

impl Active {
    fn new(base: u64, log: Handle, index: Handle, time: Handle) -> Active {
        Active {
            base,
            log,
            index,
            index_len: 0,
            last_indexed: 0,
            time,
            time_len: 0,
            time_max: i64::MIN,
            published: None,
            run: (0, 0, i64::MIN),
        }
    }
}

#[derive(Default)]
struct Writer {
    active: Option<Active>,
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
    /// Rolls the active segment once it was started this long ago (ms).
    pub(crate) segment_ms: u64,
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

/// [`open_rw`] into the process's file cache.
fn cached_rw(path: &Path, truncate: bool) -> Result<Handle> {
    Ok(files().adopt(path, Mode::ReadWrite, Arc::new(open_rw(path, truncate)?)))
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
            segment_ms: u64::MAX,
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

    /// This process's writer and the cross-process lock, taken in that order.
    fn locked(&self) -> Result<(MutexGuard<'_, Writer>, lock::Guard<Arc<File>>)> {
        let w = unpoisoned(&self.writer);
        let Some(file) = self.state.lock_file()? else {
            return Err(self.unknown());
        };
        let guard = lock::exclusive(file).ctx("locking partition")?;
        Ok((w, guard))
    }

    /// Runs `f` holding this process's writer and the cross-process lock,
    /// after recovering from any crashed writer.
    fn with_lock<T>(&self, f: impl FnOnce(&mut Writer) -> Result<T>) -> Result<T> {
        let (mut w, _guard) = self.locked()?;
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
        let fresh = w.active.as_ref().is_none_or(|a| a.base != base);
        if fresh {
            let log = cached_rw(&layout::segment_log(&self.dir, base), false)?;
            let index = cached_rw(&layout::segment_index(&self.dir, base), false)?;
            let time = cached_rw(&layout::segment_time_index(&self.dir, base), false)?;
            w.active = Some(Active::new(base, log, index, time));
        }
        let a = w.active.as_mut().unwrap();
        // Other processes append (and index) too. While the next offset is the
        // one this process published last, nobody did since (an append that
        // failed leaves `appending` set, and recovery drops `w.active`);
        // otherwise take the index's length from the file.
        if a.published == Some(self.state.next_offset()) {
            return Ok(a);
        }
        let index_file = a.index.file()?;
        let len = index::whole_len(&index_file)?;
        if fresh || len != a.index_len {
            a.last_indexed = index::last(&index_file, len, base)?.map_or(0, |e| e.pos);
            a.index_len = len;
            // The time index moves with the offset index (one entry each), so
            // it needs a look only when that did, or when newly opened.
            self.sync_times(a)?;
        }
        Ok(a)
    }

    /// Marks the partition deleted for every process that has it open.
    pub fn mark_deleted(&self) -> Result<()> {
        let (_w, _guard) = self.locked()?;
        self.state.mark_deleted();
        self.wake.notify();
        Ok(())
    }
}
