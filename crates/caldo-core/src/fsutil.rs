//! File-system helpers every metadata write goes through.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{IoContext, Result};

/// Replaces `path` with `bytes` atomically: a temp file in the same
/// directory, renamed over `path`, so a reader or a crashed writer never
/// leaves half a file. With `durable` (the log's durability is not 'none')
/// also durably: the temp file is fsynced before the rename and the
/// directory after it, so a power loss leaves the old or the new bytes.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy());
    // Unique per call: threads of one process may write the same file at once.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let written = File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| sync_if(&f, durable)))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.ctx(format_args!("writing {}", path.display()))?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

fn sync_if(f: &File, durable: bool) -> std::io::Result<()> {
    if durable {
        f.sync_all()
    } else {
        Ok(())
    }
}

/// The bytes of the file at `path`; a missing file reads as empty (an
/// index not written yet).
pub(crate) fn read_or_empty(path: &Path) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).ctx(format_args!("reading {}", path.display())),
    }
}

/// fsyncs a directory, so that entries created or renamed in it survive a power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx(format_args!("syncing {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one", true).unwrap();
        write_atomic(&path, b"two, longer", false).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two, longer");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
