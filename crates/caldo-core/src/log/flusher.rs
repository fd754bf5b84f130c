//! The background syncs: with `Durability::Interval`, of what this process
//! appended, every interval; with `Durability::None`, of the segments it
//! sealed, after each roll (see `Partition::sync_rolled`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Topics;
use crate::error::Result;
use crate::storage::partition::Partition;
use crate::storage::topic::Topic;
use crate::sync::signal::ROLLED;
use crate::sync::unpoisoned;

/// How long a roll flusher sleeps without a roll before it looks again.
const ROLL_WAIT: Duration = Duration::from_secs(60);

pub(super) struct Flusher {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Flusher {
    /// fdatasyncs what this process appended, every `interval`.
    pub(super) fn every(topics: Topics, interval: Duration) -> Flusher {
        Flusher::spawn(move |stopped| {
            let mut next = Instant::now() + interval;
            let mut seen = ROLLED.count();
            while !stopped() {
                let now = Instant::now();
                if now < next {
                    // Rolls wake this wait too; only the interval counts here.
                    seen = ROLLED.wait(seen, next - now, stopped);
                    continue;
                }
                next = now + interval;
                // A failed background flush is retried at the next tick; the
                // error reaches the user through the appends that hit it.
                let _ = each_partition(&topics, Partition::flush);
            }
        })
    }

    /// fdatasyncs the segments sealed in this process, after each roll.
    pub(super) fn on_rolls(topics: Topics) -> Flusher {
        Flusher::spawn(move |stopped| {
            let mut seen = ROLLED.count();
            while !stopped() {
                seen = ROLLED.wait(seen, ROLL_WAIT, stopped);
                if stopped() {
                    break;
                }
                // Retried after the next roll, or a minute later.
                let _ = each_partition(&topics, Partition::sync_rolled);
            }
        })
    }

    fn spawn(run: impl FnOnce(&dyn Fn() -> bool) + Send + 'static) -> Flusher {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || run(&|| stopping.load(Ordering::Acquire)));
        Flusher { stop, thread }
    }

    pub(super) fn stop(self) {
        self.stop.store(true, Ordering::Release);
        ROLLED.interrupt();
        let _ = self.thread.join();
    }
}

pub(super) fn flush_all(topics: &Topics) -> Result<()> {
    each_partition(topics, Partition::flush)
}

/// Runs `f` on every partition of the topics this process has open, up to
/// the first error.
fn each_partition(topics: &Topics, f: fn(&Partition) -> Result<()>) -> Result<()> {
    let all: Vec<Arc<Topic>> = unpoisoned(topics).values().cloned().collect();
    for t in all.iter().filter(|t| !t.deleted()) {
        for p in &t.partitions {
            f(p)?;
        }
    }
    Ok(())
}
