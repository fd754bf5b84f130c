//! Cross-process exclusive locks: `flock`, released by the kernel when the
//! holder dies. Never taken over by timeout.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

pub struct Guard<'a>(&'a File);

fn take(file: &File, op: FlockOperation) -> io::Result<()> {
    loop {
        match flock(file, op) {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// Blocks until this open file description holds the lock.
pub fn exclusive(file: &File) -> io::Result<Guard<'_>> {
    take(file, FlockOperation::LockExclusive)?;
    Ok(Guard(file))
}

/// The lock if no one else holds it; `None` at once if someone does.
pub fn try_exclusive(file: &File) -> io::Result<Option<Guard<'_>>> {
    match take(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(Guard(file))),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let _ = take(self.0, FlockOperation::Unlock);
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
