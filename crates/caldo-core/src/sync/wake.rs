//! The wake-up word: a counter in a small file that every process maps.
//! Appenders bump it; readers at the end of the log sleep on it (futex on the
//! shared mapping), so an append anywhere wakes them and idle readers cost no CPU.
//! One word per log directory, because a reader waits on many partitions at once.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use memmap2::MmapMut;
use rustix::thread::futex;

use crate::error::Result;
use crate::sync::shared;

const SIZE: u64 = 64;

pub struct Wake {
    map: MmapMut,
}

impl Wake {
    pub fn open(path: &Path) -> Result<Wake> {
        let (_, map) = shared::map(path, SIZE, "wake")?;
        Ok(Wake { map })
    }

    fn word(&self, at: usize) -> &AtomicU32 {
        shared::u32_at(&self.map, at)
    }
    fn counter(&self) -> &AtomicU32 {
        self.word(0)
    }
    fn waiters(&self) -> &AtomicU32 {
        self.word(4)
    }

    /// The current value; pass it to [`Wake::wait`] after finding nothing to read.
    pub fn seq(&self) -> u32 {
        self.counter().load(SeqCst)
    }

    /// Called after publishing an append.
    pub fn notify(&self) {
        self.counter().fetch_add(1, SeqCst);
        if self.waiters().load(SeqCst) > 0 {
            let _ = futex::wake(self.counter(), futex::Flags::empty(), i32::MAX as u32);
        }
    }

    /// Sleeps until the counter moves past `seen` or `timeout` passes.
    /// Returns true if it moved.
    pub fn wait(&self, seen: u32, timeout: Duration) -> bool {
        self.waiters().fetch_add(1, SeqCst);
        let ts = rustix::time::Timespec {
            tv_sec: timeout.as_secs() as i64,
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        // EAGAIN (already moved), EINTR and ETIMEDOUT all just return; the caller re-checks.
        let _ = futex::wait(self.counter(), futex::Flags::empty(), seen, Some(&ts));
        self.waiters().fetch_sub(1, SeqCst);
        self.seq() != seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn notify_wakes_a_waiter_from_another_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wake");
        let a = Wake::open(&path).unwrap();
        let b = Arc::new(Wake::open(&path).unwrap());
        let seen = a.seq();
        let b2 = b.clone();
        let t = std::thread::spawn(move || {
            let start = Instant::now();
            let moved = b2.wait(seen, Duration::from_secs(10));
            (moved, start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(50));
        a.notify();
        let (moved, took) = t.join().unwrap();
        assert!(moved);
        assert!(took < Duration::from_secs(5));
    }

    #[test]
    fn wait_returns_at_once_if_already_moved_and_times_out_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let w = Wake::open(&dir.path().join("wake")).unwrap();
        let seen = w.seq();
        w.notify();
        assert!(w.wait(seen, Duration::from_secs(10)));
        assert!(!w.wait(w.seq(), Duration::from_millis(20)));
    }
}
