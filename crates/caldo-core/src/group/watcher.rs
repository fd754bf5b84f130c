//! The death-watcher: a thread per member that reaps the group as soon as
//! another member's process exits, and follows every change of the state.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::thread::JoinHandle;

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags};
use rustix::fs::inotify;
use rustix::process::{pidfd_open, Pid, PidfdFlags};

use super::state::{GroupDir, MemberInfo};
use crate::error::{Error, IoContext, Result};
use crate::log::Log;

pub(super) struct Watcher {
    stop: OwnedFd,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    pub(super) fn spawn(log: Arc<Log>, group: Arc<GroupDir>) -> Result<Watcher> {
        let stop = eventfd(0, EventfdFlags::CLOEXEC).map_err(|e| Error::io("eventfd", e.into()))?;
        let stop2 = stop.try_clone().ctx("eventfd")?;
        let notify = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
            .map_err(|e| Error::io("inotify", e.into()))?;
        // state.json is only ever replaced by a rename into the directory.
        inotify::add_watch(&notify, group.dir(), inotify::WatchFlags::MOVED_TO)
            .map_err(|e| Error::io("inotify", e.into()))?;
        let thread = std::thread::spawn(move || watch(&log, &group, &stop2, &notify));
        Ok(Watcher {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = rustix::io::write(&self.stop, &1u64.to_ne_bytes());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A pidfd per other member's process; true if one of them is already gone.
fn pidfds(members: &[MemberInfo]) -> (Vec<OwnedFd>, bool) {
    let me = std::process::id();
    let mut fds = Vec::new();
    let mut gone = false;
    for m in members.iter().filter(|m| m.pid != me) {
        match Pid::from_raw(m.pid as i32).map(|p| pidfd_open(p, PidfdFlags::empty())) {
            Some(Ok(fd)) => fds.push(fd),
            Some(Err(rustix::io::Errno::SRCH)) => gone = true,
            // Without pidfds (old kernels), deaths are found at the next join or leave.
            _ => {}
        }
    }
    (fds, gone)
}

fn watch(log: &Log, group: &GroupDir, stop: &OwnedFd, notify: &OwnedFd) {
    loop {
        // A damaged state is repaired here; a state that cannot be read at
        // all is read again at its next change.
        let members = group.current(log).map(|st| st.members).unwrap_or_default();
        let (pidfds, mut gone) = pidfds(&members);
        if !gone {
            let mut fds = vec![
                PollFd::new(stop, PollFlags::IN),
                PollFd::new(notify, PollFlags::IN),
            ];
            fds.extend(pidfds.iter().map(|fd| PollFd::new(fd, PollFlags::IN)));
            if poll(&mut fds, None).is_err() {
                continue;
            }
            if !fds[0].revents().is_empty() {
                return;
            }
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1024];
            while inotify::Reader::new(notify.as_fd(), &mut buf)
                .next()
                .is_ok()
            {}
            gone = fds[2..].iter().any(|f| !f.revents().is_empty());
        }
        if gone {
            // Errors here surface to the members at their next sync.
            let _ = group.update(log, false, |_| Ok(()));
        }
    }
}
