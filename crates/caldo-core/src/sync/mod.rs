//! Synchronisation within and across processes.

pub mod lock;
pub(crate) mod shared;
pub(crate) mod signal;
pub mod wake;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, going on if a thread panicked while holding it: every guarded
/// value here is left consistent between statements, and a panic is already
/// reported to the caller as `ERR_INTERNAL`.
pub(crate) fn unpoisoned<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
