//! An in-process signal: a counter bumped by notifiers, waited for with a
//! timeout. Segment rolls use it to wake this process's cleaners.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::unpoisoned;

pub struct Signal {
    count: Mutex<u64>,
    cv: Condvar,
}

/// Bumped by every segment roll in this process.
pub static ROLLED: Signal = Signal::new();

impl Signal {
    pub const fn new() -> Signal {
        Signal {
            count: Mutex::new(0),
            cv: Condvar::new(),
        }
    }

    pub fn count(&self) -> u64 {
        *unpoisoned(&self.count)
    }

    pub fn notify(&self) {
        *unpoisoned(&self.count) += 1;
        self.cv.notify_all();
    }

    /// Wakes every waiter without moving the count (they check their `stop`).
    pub fn interrupt(&self) {
        let _count = unpoisoned(&self.count);
        self.cv.notify_all();
    }

    /// Waits until the count moves past `seen`, `stop` returns true (checked
    /// on every notify), or `timeout` passes; returns the count.
    pub fn wait(&self, seen: u64, timeout: Duration, stop: &dyn Fn() -> bool) -> u64 {
        let guard = unpoisoned(&self.count);
        let (guard, _) = self
            .cv
            .wait_timeout_while(guard, timeout, |c| *c == seen && !stop())
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard
    }
}
