//! The wake-up word: a counter in a small file that every process maps.
//! Appenders bump it; readers at the end of the log sleep on it (futex on the
//! shared mapping), so an append anywhere wakes them and idle readers cost no CPU.
//! One word per log directory, because a reader waits on many partitions at once.
//! A reader sleeps either on a thread ([`Wake::wait`]) or, with no thread, in
//! an io_uring ([`Ring`]) whose fd an event loop polls.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use io_uring::{opcode, squeue, types, IoUring, Probe};
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

/// futex2's flag for a 32-bit word; without FUTEX2_PRIVATE, so that it meets
/// the appenders' shared FUTEX_WAKE.
const FUTEX2_SIZE_U32: u32 = 0x02;
const FUTEX_BITSET_MATCH_ANY: u64 = 0xffff_ffff;
/// Bit of a request's user data that marks its linked timeout.
const TIMEOUT_BIT: u64 = 1 << 63;

/// Waits on the wake-up word without a thread: each wait is an io_uring
/// FUTEX_WAIT (kernel 6.7+) linked to a timeout. Its completion makes the
/// ring's fd readable, so the appender's wake-up reaches the thread that polls
/// that fd directly: one thread wake-up per record instead of three (waking a
/// waiter thread, its futex wake-up, and its hand-over to the event loop).
pub struct Ring {
    ring: IoUring,
    wake: Arc<Wake>,
    /// Armed waits: id → the counter value they wait to move past.
    armed: HashMap<u64, u32>,
}

impl Ring {
    /// `None` where io_uring or its futex wait is not available (older
    /// kernels, or io_uring disabled by sysctl or seccomp), or where the
    /// environment says `CALDO_IO_URING=0`: wait on a thread.
    pub fn new(wake: Arc<Wake>) -> Option<Ring> {
        if std::env::var_os("CALDO_IO_URING").is_some_and(|v| v == "0") {
            return None;
        }
        let ring = IoUring::new(64).ok()?;
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe).ok()?;
        let supported = [opcode::FutexWait::CODE, opcode::LinkTimeout::CODE];
        if !supported.iter().all(|&op| probe.is_supported(op)) {
            return None;
        }
        Some(Ring {
            ring,
            wake,
            armed: HashMap::new(),
        })
    }

    /// Readable when a wait has completed; then call [`Ring::completed`].
    pub fn fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }

    /// Starts wait `id`: it completes once the counter moves past `seen` (at
    /// once if it already has), or after `timeout`.
    pub fn arm(&mut self, id: u64, seen: u32, timeout: Duration) -> io::Result<()> {
        let ts = types::Timespec::from(timeout);
        let wait = opcode::FutexWait::new(
            self.wake.counter().as_ptr(),
            u64::from(seen),
            FUTEX_BITSET_MATCH_ANY,
            FUTEX2_SIZE_U32,
        )
        .build()
        .flags(squeue::Flags::IO_LINK)
        .user_data(id);
        let limit = opcode::LinkTimeout::new(&ts)
            .build()
            .user_data(id | TIMEOUT_BIT);
        // Counted before the kernel compares the word, as `Wake::wait` does,
        // so that an append after the comparison sees a waiter to wake.
        self.wake.waiters().fetch_add(1, SeqCst);
        // SAFETY: the word lives in `self.wake`'s mapping, which this ring
        // keeps alive for as long as the request can run (dropping the ring
        // cancels it first); the kernel copies `ts` during the submit below,
        // and every push is submitted at once, so the queue has room.
        let pushed = unsafe { self.ring.submission().push_multiple(&[wait, limit]) };
        if pushed.is_err() {
            self.wake.waiters().fetch_sub(1, SeqCst);
            return Err(io::Error::other("io_uring submission queue full"));
        }
        if let Err(e) = self.ring.submit() {
            self.wake.waiters().fetch_sub(1, SeqCst);
            return Err(e);
        }
        self.armed.insert(id, seen);
        Ok(())
    }

    /// The waits that completed since the last call: (id, whether the
    /// counter moved). Never blocks.
    pub fn completed(&mut self) -> Vec<(u64, bool)> {
        let mut done = Vec::new();
        for cqe in self.ring.completion() {
            let id = cqe.user_data();
            if id & TIMEOUT_BIT != 0 {
                continue;
            }
            if let Some(seen) = self.armed.remove(&id) {
                self.wake.waiters().fetch_sub(1, SeqCst);
                done.push((id, self.wake.seq() != seen));
            }
        }
        done
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // The ring's requests end with its fd; they no longer wait.
        for _ in self.armed.drain() {
            self.wake.waiters().fetch_sub(1, SeqCst);
        }
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

    /// Waits until the ring's fd is readable (as an event loop would), at most 10 s.
    fn poll_ring(r: &mut Ring) -> Vec<(u64, bool)> {
        use rustix::event::{poll, PollFd, PollFlags};
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(r.fd()) };
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        let ts = rustix::time::Timespec {
            tv_sec: 10,
            tv_nsec: 0,
        };
        poll(&mut fds, Some(&ts)).unwrap();
        r.completed()
    }

    #[test]
    fn ring_wait_completes_on_another_mappings_notify_or_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wake");
        let a = Wake::open(&path).unwrap();
        let Some(mut r) = Ring::new(Arc::new(Wake::open(&path).unwrap())) else {
            panic!("io_uring's FUTEX_WAIT is not available on this kernel");
        };
        // Already moved: completes at once, as moved.
        let seen = a.seq();
        a.notify();
        r.arm(1, seen, Duration::from_secs(10)).unwrap();
        assert_eq!(poll_ring(&mut r), vec![(1, true)]);
        // Woken by another mapping's notify, not by its 10 s timeout.
        let start = Instant::now();
        r.arm(2, a.seq(), Duration::from_secs(10)).unwrap();
        assert_eq!(
            a.waiters().load(SeqCst),
            1,
            "an armed wait counts as a waiter"
        );
        assert!(r.completed().is_empty(), "nothing moved yet");
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            a.notify();
            a
        });
        assert_eq!(poll_ring(&mut r), vec![(2, true)]);
        assert!(start.elapsed() < Duration::from_secs(5));
        let a = t.join().unwrap();
        assert_eq!(a.waiters().load(SeqCst), 0);
        // Nothing moves: the timeout ends it, as not moved.
        let start = Instant::now();
        r.arm(3, a.seq(), Duration::from_millis(30)).unwrap();
        assert_eq!(poll_ring(&mut r), vec![(3, false)]);
        assert!(start.elapsed() >= Duration::from_millis(25));
        // A dropped ring no longer counts its armed waits.
        r.arm(4, a.seq(), Duration::from_secs(10)).unwrap();
        assert_eq!(a.waiters().load(SeqCst), 1);
        drop(r);
        assert_eq!(a.waiters().load(SeqCst), 0);
    }
}
