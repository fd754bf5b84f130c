//! Producer ids, unique across the processes that share the log: each
//! process takes a block of them at a time from `txn/ids` (the next free id,
//! 8 bytes little-endian) under the file's lock, as Kafka's brokers take
//! blocks from the controller.

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::error::{IoContext, Result};
use crate::layout;
use crate::sync::{lock, unpoisoned};

const BLOCK: i64 = 64;

pub(crate) struct Ids {
    path: PathBuf,
    durable: bool,
    /// The ids left in this process's block: `next..end`.
    block: Mutex<(i64, i64)>,
}

impl Ids {
    pub(crate) fn new(dir: &std::path::Path, durable: bool) -> Ids {
        Ids {
            path: layout::producer_ids(dir),
            durable,
            block: Mutex::new((0, 0)),
        }
    }

    /// A producer id no other producer of this log has had.
    pub(crate) fn next(&self) -> Result<i64> {
        let mut block = unpoisoned(&self.block);
        if block.0 == block.1 {
            *block = self.take_block()?;
        }
        let id = block.0;
        block.0 += 1;
        Ok(id)
    }

    fn take_block(&self) -> Result<(i64, i64)> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).ctx(format_args!("creating {}", dir.display()))?;
        }
        let file = lock::open(&self.path)?;
        let _guard = lock::exclusive(&file).ctx("locking producer ids")?;
        let mut b = [0u8; 8];
        let start = match file.read_at(&mut b, 0).ctx("reading producer ids")? {
            8 => i64::from_le_bytes(b),
            _ => 0,
        };
        let end = start + BLOCK;
        file.write_all_at(&end.to_le_bytes(), 0)
            .ctx("writing producer ids")?;
        // A power loss must not hand out the same ids again.
        if self.durable {
            file.sync_data().ctx("syncing producer ids")?;
        }
        Ok((start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_handles() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (Ids::new(dir.path(), false), Ids::new(dir.path(), true));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            assert!(seen.insert(a.next().unwrap()));
            assert!(seen.insert(b.next().unwrap()));
        }
        // Each handle took 4 blocks of 64 for its 200.
        assert_eq!(Ids::new(dir.path(), false).next().unwrap(), 8 * BLOCK);
    }
}
