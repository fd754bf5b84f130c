//! The cleaner: retention run by the processes that have the log open. A
//! thread per log wakes every `cleanIntervalMs` and on segment rolls in this
//! process; per partition, the first process to take the cleaner lock does
//! the work and the others skip it.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{load_topic, Opener};
use crate::error::{IoContext, Result};
use crate::layout;
use crate::storage::partition::{self, segment_max_timestamp, Compaction, Removed, Rules};
use crate::storage::topic::{validate_name, Topic};
use crate::sync::signal::ROLLED;
use crate::sync::unpoisoned;

/// What one partition's clean did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cleaned {
    pub topic: String,
    pub partition: u32,
    pub removed: Removed,
}

/// What a clean of the log did: the partitions it removed segments from or
/// compacted (`bytes` counts both), and how many it skipped because another
/// process was cleaning them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanReport {
    pub segments: u64,
    pub bytes: u64,
    pub partitions: Vec<Cleaned>,
    pub busy: u32,
}

/// Sealed segments' largest timestamps, read once: sealed segments do not
/// change. Keyed by the file's inode, size and mtime too, as a topic deleted
/// and created again has segments of the same names (and maybe inodes).
#[derive(Default)]
pub(super) struct Timestamps(HashMap<(PathBuf, u64, [i64; 4]), Option<i64>>);

impl Timestamps {
    fn get(&mut self, dir: &Path, base: u64) -> Result<Option<i64>> {
        let path = layout::segment_log(dir, base);
        let meta = std::fs::metadata(&path).ctx(format_args!("stat {}", path.display()))?;
        let file = [
            meta.ino() as i64,
            meta.size() as i64,
            meta.mtime(),
            meta.mtime_nsec(),
        ];
        let key = (dir.to_path_buf(), base, file);
        if let Some(ts) = self.0.get(&key) {
            return Ok(*ts);
        }
        let ts = segment_max_timestamp(dir, base)?;
        if self.0.len() > 100_000 {
            self.0.clear();
        }
        self.0.insert(key, ts);
        Ok(ts)
    }
}

pub(super) fn rules(t: &Topic) -> Rules {
    let c = &t.config;
    Rules {
        retention_ms: c.retention_ms,
        retention_bytes: c.retention_bytes,
        deletes: c.cleanup_policy.deletes(),
        compaction: c.cleanup_policy.compacts().then_some(Compaction {
            delete_retention_ms: c.delete_retention_ms,
            min_lag_ms: c.min_compaction_lag_ms,
            min_dirty_ratio: c.min_cleanable_dirty_ratio,
            segment_bytes: c.segment_bytes,
        }),
    }
}

/// Cleans one partition into `report`; `force` compacts whatever is dirty.
pub(super) fn clean_partition(
    t: &Topic,
    p: &partition::Partition,
    ts: &Mutex<Timestamps>,
    force: bool,
    report: &mut CleanReport,
) -> Result<()> {
    let now = partition::now_ms();
    let mut ts = unpoisoned(ts);
    match p.clean(&rules(t), now, force, &mut |dir, base| ts.get(dir, base))? {
        None => report.busy += 1,
        Some(r) if r.segments > 0 || r.compacted.bytes_before > 0 => {
            report.segments += r.segments;
            report.bytes += r.bytes + r.compacted.bytes_before - r.compacted.bytes_after;
            report.partitions.push(Cleaned {
                topic: t.name.clone(),
                partition: p.id,
                removed: r,
            });
        }
        Some(_) => {}
    }
    Ok(())
}

/// Cleans every topic of the log, `__consumer_offsets` included. A topic
/// deleted meanwhile is skipped; a partition that fails (a damaged segment)
/// does not stop the others, and the first such error is returned at the end.
pub(super) fn clean_all(o: &Opener, ts: &Mutex<Timestamps>, force: bool) -> Result<CleanReport> {
    let mut report = CleanReport::default();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&o.topics_dir).ctx("listing topics")? {
        let name = entry.ctx("listing topics")?.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with('.') && validate_name("topic", &name).is_ok() {
            names.push(name.into_owned());
        }
    }
    names.sort();
    let mut failed = None;
    for name in names {
        let Ok(t) = load_topic(o, &name) else {
            continue; // deleted meanwhile, or damaged: `topics()` reports it
        };
        for p in &t.partitions {
            match clean_partition(&t, p, ts, force, &mut report) {
                Err(_) if t.deleted() => break,
                Err(e) => {
                    failed.get_or_insert(e);
                }
                Ok(()) => {}
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

pub(super) struct Cleaner {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Cleaner {
    /// Cleans every `interval` and after every segment roll in this process.
    pub(super) fn spawn(o: Opener, ts: Arc<Mutex<Timestamps>>, interval: Duration) -> Cleaner {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let stopped = || stopping.load(Ordering::Acquire);
            let mut seen = ROLLED.count();
            while !stopped() {
                seen = ROLLED.wait(seen, interval, &stopped);
                if stopped() {
                    break;
                }
                // Errors are retried at the next tick; `clean()` reports them.
                let _ = clean_all(&o, &ts, false);
            }
        });
        Cleaner { stop, thread }
    }

    pub(super) fn stop(self) {
        self.stop.store(true, Ordering::Release);
        ROLLED.interrupt();
        let _ = self.thread.join();
    }
}
