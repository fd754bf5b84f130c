//! Ends the transactions nobody else will: any process with the log open
//! runs a sweep every second. A transaction whose producer died (its owner
//! lock is free: the kernel let go at once) is aborted, or completed if its
//! outcome was decided; one open longer than its `transactionTimeoutMs` is
//! aborted and its live producer fenced.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::coordinator::{complete, read, Coordinator, Status};
use crate::error::{IoContext, Result};
use crate::layout;
use crate::log::Opener;
use crate::storage::partition::now_ms;
use crate::sync::unpoisoned;

/// How often a process looks for transactions to end.
pub(crate) const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Ends every transaction of the log whose producer is dead or timed out.
pub(crate) fn sweep(o: &Opener) -> Result<()> {
    let dir = layout::txns(o.log_dir());
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).ctx(format_args!("listing {}", dir.display())),
    };
    for entry in entries {
        let entry = entry.ctx("listing transactions")?;
        let id = entry.file_name().to_string_lossy().into_owned();
        // A look without the lock first: an idle id costs one read.
        let path = layout::txn(&dir, &id);
        if !path.is_dir() || read(&path)?.is_none_or(|s| s.status == Status::Empty) {
            continue;
        }
        let co = Coordinator::open(o, &id)?;
        co.locked(|st| {
            let Some(s) = st.as_mut().filter(|s| s.status != Status::Empty) else {
                return Ok(());
            };
            let dead = !co.owner_alive(&s.owner)?;
            let expired = s.status == Status::Ongoing
                && now_ms().saturating_sub(s.started_ms) > s.timeout_ms as i64;
            if !dead && !expired {
                return Ok(());
            }
            // A stuck producer fails at its next call; the next producer of
            // this id bumps the epoch and writes again.
            co.clear_fence();
            if s.status == Status::Ongoing {
                s.status = Status::PrepareAbort;
                co.write(s)?;
            }
            complete(o, &co, s)
        })?;
    }
    Ok(())
}

pub(crate) struct Sweeper {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<()>,
}

impl Sweeper {
    pub(crate) fn spawn(o: Opener, interval: Duration) -> Sweeper {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let (flag, cv) = &*stopping;
            let mut stopped = unpoisoned(flag);
            while !*stopped {
                stopped = cv
                    .wait_timeout(stopped, interval)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
                if *stopped {
                    break;
                }
                drop(stopped);
                // Errors are retried at the next tick.
                let _ = sweep(&o);
                stopped = unpoisoned(flag);
            }
        });
        Sweeper { stop, thread }
    }

    pub(crate) fn stop(self) {
        *unpoisoned(&self.stop.0) = true;
        self.stop.1.notify_all();
        let _ = self.thread.join();
    }
}
