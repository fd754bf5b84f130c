//! The process's bounded cache of open partition files, as Kafka and LMDB
//! keep theirs: a log of 10,000 partitions is opened, written and read by a
//! process allowed 1,024 descriptors.
//!
//! A [`Handle`] names one file (path and mode) and holds its descriptor while
//! the cache lets it: once more than the budget are open, the least recently
//! used are closed, and the next [`Handle::get`] opens the path again and says
//! so, because the path may name another file by then (compaction renames
//! over segments; retention unlinks them). A caller that needs the very file
//! it had checks that it got it back (see the cursor). A descriptor in use
//! stays open until its user drops its `Arc`, so eviction never pulls a file
//! from under a read, a write or a held lock.
//!
//! The budget is half the soft `RLIMIT_NOFILE`, leaving the rest to the
//! process's own sockets and files and to caldo's few per-log files.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::error::{IoContext, Result};
use crate::sync::unpoisoned;

/// How a file is opened. Neither creates: a file gone is `NotFound`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Read,
    ReadWrite,
}

impl Mode {
    fn open(self, path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(self == Mode::ReadWrite)
            .open(path)
    }
}

/// The fewest descriptors the cache keeps, whatever the limit.
const MIN_BUDGET: usize = 16;

pub struct Files {
    budget: AtomicUsize,
    /// Handles holding a descriptor now.
    open: AtomicUsize,
    clock: AtomicU64,
    /// Every handle that held a descriptor when last looked at.
    handles: Mutex<Vec<Weak<Slot>>>,
}

struct Slot {
    path: PathBuf,
    mode: Mode,
    file: Mutex<Option<Arc<File>>>,
    used: AtomicU64,
    files: &'static Files,
}

/// One cached file; cheap to clone.
#[derive(Clone)]
pub struct Handle(Arc<Slot>);

/// The process's cache.
pub fn files() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| Files::new(default_budget()))
}

/// Half the soft descriptor limit.
fn default_budget() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    usize::try_from(soft / 2)
        .unwrap_or(usize::MAX)
        .max(MIN_BUDGET)
}

fn too_many(e: &io::Error) -> bool {
    let errno = e.raw_os_error().map(rustix::io::Errno::from_raw_os_error);
    matches!(
        errno,
        Some(rustix::io::Errno::MFILE | rustix::io::Errno::NFILE)
    )
}

impl Files {
    pub fn new(budget: usize) -> Files {
        Files {
            budget: AtomicUsize::new(budget.max(1)),
            open: AtomicUsize::new(0),
            clock: AtomicU64::new(0),
            handles: Mutex::new(Vec::new()),
        }
    }

    /// How many descriptors the cache keeps at most.
    pub fn budget(&self) -> usize {
        self.budget.load(Ordering::Relaxed)
    }

    /// Descriptors the cache holds now.
    pub fn open_count(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// `file`, opened by the caller from `path`, into the cache.
    pub fn adopt(&'static self, path: &Path, mode: Mode, file: Arc<File>) -> Handle {
        let slot = Arc::new(Slot {
            path: path.to_path_buf(),
            mode,
            file: Mutex::new(Some(file)),
            used: AtomicU64::new(self.tick()),
            files: self,
        });
        let open = self.open.fetch_add(1, Ordering::AcqRel) + 1;
        self.opened(&slot, open);
        Handle(slot)
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// Opens `path`; at the process's limit, closes idle files and tries again.
    fn open_file(&self, path: &Path, mode: Mode) -> io::Result<File> {
        match mode.open(path) {
            Err(e) if too_many(&e) => {
                self.evict_to(self.open_count() / 2);
                mode.open(path)
            }
            r => r,
        }
    }

    /// Lists a slot that has a new descriptor (counted, now `open` in all),
    /// closing the least recently used beyond the budget (an eighth more at
    /// once, so that a scan is rare).
    fn opened(&self, slot: &Arc<Slot>, open: usize) {
        let mut handles = unpoisoned(&self.handles);
        handles.push(Arc::downgrade(slot));
        // Handles dropped while open leave their entries; below the budget no
        // scan clears them, so clear them here once they are half the list.
        if handles.len() >= 2 * self.open_count().max(64) {
            handles.retain(|h| h.strong_count() > 0);
        }
        drop(handles);
        let budget = self.budget();
        if open > budget {
            self.evict_to(budget - budget / 8);
        }
    }

    /// Closes idle descriptors, least recently used first, until at most
    /// `keep` are open; one in use by another thread right now is skipped.
    pub fn evict_to(&self, keep: usize) {
        let mut handles = unpoisoned(&self.handles);
        let mut live: Vec<(u64, Arc<Slot>)> = handles
            .iter()
            .filter_map(Weak::upgrade)
            .map(|s| (s.used.load(Ordering::Relaxed), s))
            .collect();
        // A handle closed and opened again is listed twice.
        live.sort_by_key(|(_, s)| Arc::as_ptr(s));
        live.dedup_by(|a, b| Arc::ptr_eq(&a.1, &b.1));
        live.sort_by_key(|(used, _)| *used);
        let mut over = self.open_count().saturating_sub(keep);
        for (_, slot) in &live {
            if over == 0 {
                break;
            }
            if let Ok(mut file) = slot.file.try_lock() {
                if file.take().is_some() {
                    self.open.fetch_sub(1, Ordering::AcqRel);
                    over -= 1;
                }
            }
        }
        *handles = live
            .iter()
            .filter(|(_, s)| s.file.try_lock().map_or(true, |f| f.is_some()))
            .map(|(_, s)| Arc::downgrade(s))
            .collect();
    }
}

impl Handle {
    /// The file, and true when it had to be opened again since the last call
    /// (its path may name another file now, or none: `NotFound`).
    pub fn get(&self) -> io::Result<(Arc<File>, bool)> {
        let slot = &self.0;
        slot.used.store(slot.files.tick(), Ordering::Relaxed);
        let mut file = unpoisoned(&slot.file);
        if let Some(f) = &*file {
            return Ok((f.clone(), false));
        }
        let f = Arc::new(slot.files.open_file(&slot.path, slot.mode)?);
        *file = Some(f.clone());
        // Counted before an eviction can see it, so the count never goes below zero.
        let open = slot.files.open.fetch_add(1, Ordering::AcqRel) + 1;
        drop(file);
        slot.files.opened(slot, open);
        Ok((f, true))
    }

    /// The file, opened again if it was closed.
    pub fn file(&self) -> Result<Arc<File>> {
        self.get()
            .map(|(f, _)| f)
            .ctx(format_args!("opening {}", self.0.path.display()))
    }

    pub fn path(&self) -> &Path {
        &self.0.path
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if unpoisoned(&self.file).is_some() {
            self.files.open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn leaked(budget: usize) -> &'static Files {
        Box::leak(Box::new(Files::new(budget)))
    }

    fn open(files: &'static Files, path: &Path) -> Handle {
        files.adopt(path, Mode::Read, Arc::new(File::open(path).unwrap()))
    }

    #[test]
    fn keeps_at_most_the_budget_and_reopens_the_least_recently_used() {
        let files = leaked(8);
        let dir = tempfile::tempdir().unwrap();
        let handles: Vec<Handle> = (0..40)
            .map(|i| {
                let path = dir.path().join(i.to_string());
                std::fs::write(&path, i.to_string()).unwrap();
                let h = open(files, &path);
                assert!(files.open_count() <= 8, "{}", files.open_count());
                h
            })
            .collect();
        // The newest stayed open; the oldest were closed and open again.
        assert!(!handles[39].get().unwrap().1);
        let (f, reopened) = handles[0].get().unwrap();
        assert!(reopened);
        let mut s = String::new();
        io::Read::read_to_string(&mut &*f, &mut s).unwrap();
        assert_eq!(s, "0");
        assert!(files.open_count() <= 8);
        assert!(unpoisoned(&files.handles).len() <= 40);
        // A descriptor in use survives eviction; dropped handles uncount theirs.
        files.evict_to(0);
        assert_eq!(files.open_count(), 0);
        assert!(f.metadata().is_ok(), "still open through its Arc");
        drop(handles);
        assert_eq!(files.open_count(), 0);
        // Handles dropped while open leave no entries behind.
        for i in 0..1000 {
            let path = dir.path().join((i % 40).to_string());
            drop(open(files, &path));
        }
        assert!(unpoisoned(&files.handles).len() < 200);
    }

    #[test]
    fn a_path_replaced_while_closed_opens_the_new_file() {
        let files = leaked(4);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        std::fs::write(&path, "old").unwrap();
        let h = open(files, &path);
        let old = h.get().unwrap().0.metadata().unwrap().ino();
        let other = dir.path().join("seg.cleaned");
        std::fs::write(&other, "new").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert!(!h.get().unwrap().1, "still the old file while open");
        files.evict_to(0);
        let (f, reopened) = h.get().unwrap();
        assert!(reopened);
        assert_ne!(f.metadata().unwrap().ino(), old);
        std::fs::remove_file(&path).unwrap();
        files.evict_to(0);
        let e = h.get().err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
