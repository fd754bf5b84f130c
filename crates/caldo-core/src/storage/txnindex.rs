//! The aborted-transaction index: `<base:020>.txnindex` beside each segment,
//! one entry per transaction aborted by a marker in that segment, in Kafka's
//! 34-byte `AbortedTxn` layout (big-endian, as Kafka writes it): version
//! int16 · producer id int64 · first offset int64 · last offset (the abort
//! marker's) int64 · last stable offset int64. Read-committed readers skip a
//! transactional batch of producer P at offset O when an entry of P has
//! `first <= O < last`.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{IoContext, Result};
use crate::layout;
use crate::storage::segment;

pub const ENTRY: usize = 34;
const VERSION: i16 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: u64,
    pub last_offset: u64,
    pub last_stable_offset: u64,
}

impl AbortedTxn {
    pub fn encode(&self) -> [u8; ENTRY] {
        let mut b = [0u8; ENTRY];
        b[..2].copy_from_slice(&VERSION.to_be_bytes());
        b[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        b[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        b[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        b[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        b
    }

    pub fn decode(b: &[u8; ENTRY]) -> AbortedTxn {
        let u64_at = |at: usize| u64::from_be_bytes(b[at..at + 8].try_into().unwrap());
        AbortedTxn {
            producer_id: u64_at(2) as i64,
            first_offset: u64_at(10),
            last_offset: u64_at(18),
            last_stable_offset: u64_at(26),
        }
    }

    /// True when this aborted transaction covers a batch of `pid` at `offset`.
    pub fn covers(&self, pid: i64, offset: u64) -> bool {
        self.producer_id == pid && self.first_offset <= offset && offset < self.last_offset
    }
}

/// The whole entries of the index at `path`; a missing file has none.
pub fn read(path: &Path) -> Result<Vec<AbortedTxn>> {
    let bytes = crate::fsutil::read_or_empty(path)?;
    Ok(bytes
        .chunks_exact(ENTRY)
        .map(|c| AbortedTxn::decode(c.try_into().unwrap()))
        .collect())
}

/// The aborted transactions of the partition in `dir` whose marker is past
/// `offset`: the entries of the segments from the one holding `offset` on
/// (an entry is in its marker's segment, which is at or after its records').
pub fn read_after(dir: &Path, offset: u64) -> Result<Vec<AbortedTxn>> {
    let bases = segment::list(dir)?;
    let from = segment::floor(&bases, offset).unwrap_or(0);
    let mut list = Vec::new();
    for b in bases.into_iter().filter(|&b| b >= from) {
        let entries = read(&layout::segment_txn_index(dir, b))?;
        list.extend(entries.into_iter().filter(|t| t.last_offset > offset));
    }
    Ok(list)
}

/// Appends `e` after the whole entries of the index at `path`.
pub fn append(path: &Path, e: &AbortedTxn) -> Result<()> {
    let opened = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path);
    let f = opened.ctx(format_args!("opening {}", path.display()))?;
    let len = f.metadata().ctx("stat txnindex")?.len();
    let at = len - len % ENTRY as u64;
    f.write_all_at(&e.encode(), at)
        .ctx(format_args!("writing {}", path.display()))
}

/// Drops the entries whose marker is at or past `next` (cut by recovery),
/// and any torn tail.
pub fn cut(path: &Path, next: u64) -> Result<()> {
    let entries = read(path)?;
    let keep = entries.iter().take_while(|e| e.last_offset < next).count();
    let len = (keep * ENTRY) as u64;
    match OpenOptions::new().write(true).open(path) {
        Ok(f) => {
            if f.metadata().ctx("stat txnindex")?.len() != len {
                f.set_len(len).ctx("cutting txnindex")?;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).ctx(format_args!("opening {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: u64, last: u64, lso: u64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        }
    }

    // Kafka's TransactionIndexTest entries, laid out as AbortedTxn's ByteBuffer.
    #[test]
    fn entries_are_kafkas_bytes() {
        let e = txn(1, 5, 15, 13);
        let mut kafka = vec![0u8, 0];
        for v in [1i64, 5, 15, 13] {
            kafka.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(e.encode().to_vec(), kafka);
        assert_eq!(AbortedTxn::decode(&e.encode()), e);
        let big = txn(0x0102_0304_0506_0708, 1 << 40, (1 << 40) + 2, (1 << 40) + 3);
        assert_eq!(
            big.encode()[..10],
            [0, 0, 1, 2, 3, 4, 5, 6, 7, 8],
            "version then the producer id, big-endian"
        );
    }

    #[test]
    fn appends_read_back_and_recovery_cuts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.txnindex");
        let all = [
            txn(0, 0, 10, 11),
            txn(1, 5, 15, 13),
            txn(2, 18, 35, 25),
            txn(3, 32, 50, 40),
        ];
        for e in &all {
            append(&path, e).unwrap();
        }
        assert_eq!(read(&path).unwrap(), all);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4 * 34);
        // A torn entry is not read, and the next append replaces it.
        let f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all_at(&[9; 20], 4 * 34).unwrap();
        assert_eq!(read(&path).unwrap(), all);
        append(&path, &txn(3, 50, 60, 55)).unwrap();
        assert_eq!(read(&path).unwrap().len(), 5);
        cut(&path, 35).unwrap();
        assert_eq!(read(&path).unwrap(), all[..2]);
        assert!(all[1].covers(1, 5) && all[1].covers(1, 14));
        assert!(!all[1].covers(1, 15) && !all[1].covers(2, 6) && !all[1].covers(1, 4));
        cut(&dir.path().join("missing.txnindex"), 0).unwrap();
    }
}
