//! Files that every process maps and changes through atomics only: the
//! partition state and the wake-up word.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64};

use memmap2::MmapMut;

use crate::error::{IoContext, Result};

/// Opens (creating if missing, growing to `size`) the `what` file at `path`
/// and maps it shared.
pub(crate) fn map(path: &Path, size: u64, what: &str) -> Result<(File, MmapMut)> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .ctx(format_args!("opening {}", path.display()))?;
    if file.metadata().ctx(format_args!("stat {what} file"))?.len() < size {
        file.set_len(size).ctx(format_args!("sizing {what} file"))?;
    }
    // SAFETY: only accessed through atomics (other processes change it
    // concurrently, which atomics allow); never truncated below `size`.
    let map = unsafe { MmapMut::map_mut(&file) }.ctx(format_args!("mapping {what} file"))?;
    Ok((file, map))
}

pub(crate) fn u32_at(map: &MmapMut, at: usize) -> &AtomicU32 {
    assert!(at.is_multiple_of(4) && at + 4 <= map.len());
    // SAFETY: in bounds and 4-aligned (the mapping is page-aligned); lives as long as `map`.
    unsafe { &*(map.as_ptr().add(at) as *const AtomicU32) }
}

pub(crate) fn u64_at(map: &MmapMut, at: usize) -> &AtomicU64 {
    assert!(at.is_multiple_of(8) && at + 8 <= map.len());
    // SAFETY: as above, 8-aligned.
    unsafe { &*(map.as_ptr().add(at) as *const AtomicU64) }
}
