//! The append path: batches encoded, written and indexed under the lock,
//! then published; segments rolled when full.

use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;

use super::{open_rw, Active, Durability, Partition, Writer};
use crate::error::{IoContext, Result};
use crate::fsutil::sync_dir;
use crate::layout;
use crate::record::batch::{self, RecordIn};
use crate::storage::index::{self, Entry};
use crate::storage::state::Durable;

/// Appends are cut into batches of about this size.
const MAX_BATCH_BYTES: usize = 1 << 20;

impl Partition {
    /// Appends `records` (non-empty) as one contiguous run of offsets; returns the first.
    pub fn append(&self, records: &[RecordIn]) -> Result<u64> {
        let (first, synced) = self.with_lock(|w| {
            let next = self.state.next_offset();
            let (mut base, mut end) = self.state.active();
            w.buf.clear();
            w.batches.clear();
            let mut offset = next;
            for chunk in chunks(records) {
                w.batches.push((w.buf.len(), offset));
                batch::encode(&mut w.buf, offset, chunk);
                offset += chunk.len() as u64;
            }
            self.state.begin();
            let full = end + w.buf.len() as u64 > self.segment_bytes;
            let aged = self.segment_aged();
            if end > 0 && (full || aged) {
                self.roll(w, base, end, next)?;
                (base, end) = (next, 0);
            }
            let buf = std::mem::take(&mut w.buf);
            let batches = std::mem::take(&mut w.batches);
            let a = self.active(w, base)?;
            let written = a.log.write_all_at(&buf, end).ctx("appending to segment");
            let indexed = written.and_then(|()| {
                let mut run = self.run_max(a, end)?;
                for &(at, off) in &batches {
                    let pos = end + at as u64;
                    if pos - a.last_indexed >= index::INTERVAL {
                        // The time entry goes first: an offset entry on disk
                        // always has its time entry before it.
                        self.add_time(a, off, run)?;
                        run = i64::MIN;
                        let e = Entry { offset: off, pos };
                        a.index
                            .write_all_at(&e.encode(base), a.index_len)
                            .ctx("writing index")?;
                        a.index_len += index::ENTRY;
                        a.last_indexed = pos;
                    }
                    run = run
                        .max(batch::parse_header(&buf[at..]).map_or(i64::MAX, |h| h.max_timestamp));
                }
                a.run = (a.last_indexed, end + buf.len() as u64, run);
                Ok(())
            });
            let new_end = end + buf.len() as u64;
            let log = a.log.clone();
            w.buf = buf;
            w.batches = batches;
            // On error `appending` stays set: the next holder cuts the partial write.
            indexed?;
            self.state.publish(base, new_end, offset);
            Ok((next, (base, new_end, log)))
        })?;
        self.wake.notify();
        self.dirty.store(true, Ordering::Release);
        if self.durability == Durability::Always {
            let (base, end, log) = synced;
            self.sync_to(base, end, &log)?;
        }
        Ok(first)
    }

    /// Seals the active segment (which ends at `end`) and starts one at `next`.
    fn roll(&self, w: &mut Writer, base: u64, end: u64, next: u64) -> Result<()> {
        // The sealed segment's last time entry covers all of it.
        let a = self.active(w, base)?;
        let run = self.run_max(a, end)?;
        self.add_time(a, next, run)?;
        let sealed = match self.durability {
            Durability::None => None,
            _ => {
                let index_len = index::whole_len(&a.index)?;
                a.time.sync_data().ctx("syncing sealed time index")?;
                a.index.sync_data().ctx("syncing sealed index")?;
                a.log.sync_data().ctx("syncing sealed segment")?;
                Some(Durable {
                    base,
                    pos: end,
                    next,
                    index_len,
                })
            }
        };
        let log = open_rw(&layout::segment_log(&self.dir, next), true)?;
        let index = open_rw(&layout::segment_index(&self.dir, next), true)?;
        let time = open_rw(&layout::segment_time_index(&self.dir, next), true)?;
        if let Some(d) = sealed {
            sync_dir(&self.dir)?;
            self.note_durable(d);
        }
        self.state.set_segment_since(super::now_ms());
        crate::sync::signal::ROLLED.notify();
        w.active = Some(Active::new(next, log, index, time));
        Ok(())
    }
}

/// Splits records into runs of about `MAX_BATCH_BYTES`.
fn chunks<'a, 'r>(records: &'a [RecordIn<'r>]) -> impl Iterator<Item = &'a [RecordIn<'r>]> {
    let mut rest = records;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut size = 0;
        let n = rest
            .iter()
            .position(|r| {
                size += r.size() + 32;
                size > MAX_BATCH_BYTES
            })
            .map_or(rest.len(), |i| i.max(1));
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    })
}
