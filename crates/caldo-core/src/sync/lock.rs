//! Cross-process exclusive locks: `flock`, released by the kernel when the
//! holder dies. Never taken over by timeout.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

/// Held until dropped; `F` is the file borrowed or shared (`Arc<File>`).
pub struct Guard<F: AsFd>(F);

fn take(file: impl AsFd, op: FlockOperation) -> io::Result<()> {
    loop {
        match flock(&file, op) {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// Blocks until this open file description holds the lock.
pub fn exclusive<F: AsFd>(file: F) -> io::Result<Guard<F>> {
    take(&file, FlockOperation::LockExclusive)?;
    Ok(Guard(file))
}

/// The lock if no one else holds it; `None` at once if someone does.
pub fn try_exclusive<F: AsFd>(file: F) -> io::Result<Option<Guard<F>>> {
    match take(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(Guard(file))),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

impl<F: AsFd> Drop for Guard<F> {
    fn drop(&mut self) {
        let _ = take(&self.0, FlockOperation::Unlock);
    }
}

/// Opens (creating if missing) a file used as a lock.
pub(crate) fn open(path: &Path) -> crate::Result<File> {
    use crate::error::IoContext;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .ctx(format_args!("opening {}", path.display()))
}

/// Takes the lock for as long as `file` stays open (a member's lifetime).
pub fn hold(file: &File) -> io::Result<()> {
    take(file, FlockOperation::LockExclusive)
}

/// One byte of a shared lock file, locked through its open file description
/// (Linux's OFD locks): exclusive against every other description of the
/// file, in this process too, and released on drop or when the process dies,
/// like a flock. One file and one descriptor then serve many locks.
pub struct Range {
    file: std::sync::Arc<File>,
    at: u64,
}

fn ofd_lock(file: &File, at: u64, kind: libc::c_short) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let lock = libc::flock {
        l_type: kind,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: libc::off_t::try_from(at).map_err(|_| io::ErrorKind::InvalidInput)?,
        l_len: 1,
        l_pid: 0,
    };
    // SAFETY: F_OFD_SETLK reads the flock struct passed, which outlives the call.
    match unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &lock) } {
        -1 => Err(io::Error::last_os_error()),
        _ => Ok(()),
    }
}

/// Byte `at` of `file` if no other description holds it; `None` at once if one does.
pub fn try_range(file: &std::sync::Arc<File>, at: u64) -> io::Result<Option<Range>> {
    match ofd_lock(file, at, libc::F_WRLCK as libc::c_short) {
        Ok(()) => Ok(Some(Range {
            file: file.clone(),
            at,
        })),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Drop for Range {
    fn drop(&mut self) {
        let _ = ofd_lock(&self.file, self.at, libc::F_UNLCK as libc::c_short);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn ranges_exclude_other_descriptions_and_free_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("owners");
        let (a, b) = (
            Arc::new(open(&path).unwrap()),
            Arc::new(open(&path).unwrap()),
        );
        let held = try_range(&a, 3).unwrap().expect("free");
        assert!(
            try_range(&b, 3).unwrap().is_none(),
            "another description, same process"
        );
        let other = try_range(&b, 4).unwrap().expect("another byte is free");
        drop(held);
        assert!(try_range(&b, 3).unwrap().is_some());
        drop((other, a));
    }
}
