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

use super::{check_not_internal, load_topic, Opener};
use crate::error::{IoContext, Result};
use crate::layout;
use crate::storage::partition::{self, segment_max_timestamp, Removed, Rules};
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

/// What a clean of the log did: the partitions it removed segments from, and
/// how many it skipped because another process was cleaning them.
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
    Rules {
        retention_ms: t.config.retention_ms,
        retention_bytes: t.config.retention_bytes,
        deletes: t.config.cleanup_policy.deletes(),
    }
}

/// Cleans one partition into `report`.
pub(super) fn clean_partition(
    t: &Topic,
    p: &partition::Partition,
    ts: &Mutex<Timestamps>,
    report: &mut CleanReport,
) -> Result<()> {
    let now = partition::now_ms();
    let mut ts = unpoisoned(ts);
    match p.clean(&rules(t), now, &mut |dir, base| ts.get(dir, base))? {
        None => report.busy += 1,
        Some(r) if r.segments > 0 => {
            report.segments += r.segments;
            report.bytes += r.bytes;
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

/// Cleans every user topic of the log (internal ones keep everything).
/// A topic deleted meanwhile is skipped; other errors stop the clean.
pub(super) fn clean_all(o: &Opener, ts: &Mutex<Timestamps>) -> Result<CleanReport> {
    let mut report = CleanReport::default();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&o.topics_dir).ctx("listing topics")? {
        let name = entry.ctx("listing topics")?.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with('.')
            && check_not_internal(&name).is_ok()
            && validate_name("topic", &name).is_ok()
        {
            names.push(name.into_owned());
        }
    }
    names.sort();
    for name in names {
        let Ok(t) = load_topic(o, &name) else {
            continue; // deleted meanwhile, or damaged: `topics()` reports it
        };
        for p in &t.partitions {
            match clean_partition(&t, p, ts, &mut report) {
                Err(_) if t.deleted() => break,
                r => r?,
            }
        }
    }
    Ok(report)
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
                let _ = clean_all(&o, &ts);
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
