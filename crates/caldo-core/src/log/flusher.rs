//! The background flush of `Durability::Interval`.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::Topics;
use crate::error::Result;
use crate::storage::topic::Topic;
use crate::sync::unpoisoned;

pub(super) struct Flusher {
    /// Dropped to stop the flusher.
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Flusher {
    /// fdatasyncs what this process appended, every `interval`.
    pub(super) fn spawn(topics: Topics, interval: Duration) -> Flusher {
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                // A failed background flush is retried at the next tick; the
                // error reaches the user through the appends that hit it.
                let _ = flush_all(&topics);
            }
        });
        Flusher { stop, thread }
    }

    pub(super) fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

pub(super) fn flush_all(topics: &Topics) -> Result<()> {
    let all: Vec<Arc<Topic>> = unpoisoned(topics).values().cloned().collect();
    for t in all.iter().filter(|t| !t.deleted()) {
        for p in &t.partitions {
            p.flush()?;
        }
    }
    Ok(())
}
