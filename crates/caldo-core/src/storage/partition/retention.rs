//! Retention: which old segments go (a pure plan), the log start moved and
//! the files removed under the partition's cleaner lock, `deleteRecords`,
//! and the segment age that rolls the active segment (`segmentMs`).

use std::fs::File;
use std::path::Path;

use super::compaction::{self, Compacted, Compaction};
use super::recovery::remove_segment;
use super::{open_rw, Durability, Partition};
use crate::error::{Code, Error, IoContext, Result};
use crate::layout;
use crate::storage::index;
use crate::storage::segment::{self, Step, Walk};
use crate::sync::lock;

/// A segment as the plan sees it: its base offset and `.log` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seg {
    pub base: u64,
    pub bytes: u64,
}

/// A topic's retention settings, as the plan applies them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rules {
    /// -1: no limit by time.
    pub retention_ms: i64,
    /// -1: no limit by size.
    pub retention_bytes: i64,
    /// False for `cleanupPolicy: 'compact'`: nothing goes by time or size.
    pub deletes: bool,
    /// For `compact` and `compact,delete`.
    pub compaction: Option<Compaction>,
}

/// What a clean removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub segments: u64,
    pub bytes: u64,
    /// The partition's log start afterwards.
    pub log_start: u64,
    pub compacted: Compacted,
}

/// How many of the oldest segments (`segs`, ascending by base) go. Kafka's
/// rules: a segment goes when every record in it is below the log start; or
/// (with a deleting policy) when its largest timestamp is more than
/// `retention_ms` before `now_ms` (a segment without a batch counts as
/// expired); or when the partition without it still holds at least
/// `retention_bytes`. Only a prefix goes (the first segment that stays stops
/// the plan) and the last segment, the active one, never goes. `max_ts` gives
/// a segment's largest timestamp; it is asked only when needed.
pub fn plan(
    segs: &[Seg],
    log_start: u64,
    rules: &Rules,
    now_ms: i64,
    max_ts: &mut dyn FnMut(u64) -> Result<Option<i64>>,
) -> Result<usize> {
    let mut total: u64 = segs.iter().map(|s| s.bytes).sum();
    let mut n = 0;
    for (i, s) in segs.iter().enumerate().take(segs.len().saturating_sub(1)) {
        let below_start = segs[i + 1].base <= log_start;
        let by_size = rules.deletes
            && rules.retention_bytes >= 0
            && total - s.bytes >= rules.retention_bytes as u64;
        let mut by_time = || -> Result<bool> {
            if !rules.deletes || rules.retention_ms < 0 {
                return Ok(false);
            }
            Ok(max_ts(s.base)?.is_none_or(|ts| now_ms.saturating_sub(ts) > rules.retention_ms))
        };
        if !(below_start || by_size || by_time()?) {
            break;
        }
        total -= s.bytes;
        n += 1;
    }
    Ok(n)
}

/// The largest timestamp in segment `base` of the partition in `dir` (read
/// from its batches after the last index entry); `None` when it holds no batch.
pub fn segment_max_timestamp(dir: &Path, base: u64) -> Result<Option<i64>> {
    let path = layout::segment_log(dir, base);
    let file = File::open(&path).ctx(format_args!("opening {}", path.display()))?;
    let entries = index::read(&layout::segment_index(dir, base), base)?;
    let mut reader = segment::Reader::default();
    let mut walk = Walk::at(index::lookup(&entries, base, u64::MAX));
    if !walk.lands(&mut reader, &file, u64::MAX)? {
        walk = Walk::start(base);
    }
    let mut max = None;
    while let Step::Batch(h, _) = walk.next(&mut reader, &file, u64::MAX, 0)? {
        max = max.max(Some(h.max_timestamp));
        walk.advance(&h);
    }
    Ok(max)
}

/// What a partition directory holds, as the cleaner sees it.
struct Files {
    /// `.log` bases, ascending.
    logs: Vec<u64>,
    /// `.index` and `.timeindex` bases, ascending.
    indexes: Vec<u64>,
    /// Files of a compaction a crash interrupted.
    leftovers: bool,
}

impl Files {
    fn list(dir: &Path) -> Result<Files> {
        let (mut logs, mut indexes, mut others) = (Vec::new(), Vec::new(), Vec::new());
        for entry in std::fs::read_dir(dir).ctx(format_args!("listing {}", dir.display()))? {
            let name = entry.ctx("listing segments")?.file_name();
            let name = name.to_string_lossy();
            if let Some(b) = layout::segment_base(&name) {
                logs.push(b);
            } else if let Some(b) = layout::segment_companion_base(&name) {
                indexes.push(b);
            } else {
                others.push(name.into_owned());
            }
        }
        logs.sort_unstable();
        indexes.sort_unstable();
        indexes.dedup();
        let leftovers = compaction::leftovers(&others);
        Ok(Files {
            logs,
            indexes,
            leftovers,
        })
    }

    /// Index files whose segment is gone (below the first one), or leftovers.
    fn stray(&self) -> bool {
        let first = self.logs.first().copied().unwrap_or(u64::MAX);
        self.leftovers || self.indexes.iter().any(|b| *b < first)
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Partition {
    /// Removes the segments [`plan`] picks, then compacts (if the topic
    /// does and enough of it is dirty, or any of it when `force`), if no
    /// other process is cleaning this partition (`None` then). The log start
    /// moves first, under the append lock (held only for that store); the
    /// files go after, so a crash in between leaves files below the log
    /// start that the next clean removes. Compaction never takes the append
    /// lock. An idle partition costs a directory listing (and a `stat` per
    /// segment when it compacts or has a size limit).
    pub fn clean(
        &self,
        rules: &Rules,
        now_ms: i64,
        force: bool,
        max_ts: &mut dyn FnMut(&Path, u64) -> Result<Option<i64>>,
    ) -> Result<Option<Removed>> {
        let log_start = self.state.log_start();
        let files = Files::list(&self.dir)?;
        let nothing = Ok(Some(Removed {
            log_start,
            ..Removed::default()
        }));
        if files.logs.len() < 2 && !files.stray() {
            return nothing;
        }
        // A first look without the lock, stat'ing only for a size limit or
        // compaction (and the timestamps are cached): an idle tick stops here.
        // An error (a segment another process removed meanwhile) is looked at
        // under the lock.
        let compacts = rules.compaction.is_some();
        let sized = compacts || (rules.deletes && rules.retention_bytes >= 0);
        let due = self.segs(&files.logs, sized).and_then(|segs| {
            let n = plan(&segs, log_start, rules, now_ms, &mut |b| {
                max_ts(&self.dir, b)
            })?;
            let dirty = match rules.compaction {
                Some(c) => {
                    let ratio = compaction::dirty_ratio(&segs[n..], self.state.cleaned_to());
                    ratio > 0.0 && (force || ratio >= c.min_dirty_ratio)
                }
                None => false,
            };
            Ok(n > 0 || dirty)
        });
        if matches!(due, Ok(false)) && !files.stray() {
            return nothing;
        }
        let lock_file = open_rw(&layout::partition_cleaner(&self.dir), false)?;
        let Some(_cleaning) = lock::try_exclusive(&lock_file).ctx("locking cleaner")? else {
            return Ok(None);
        };
        if self.state.deleted() {
            return Err(self.unknown());
        }
        let durable = self.durability != Durability::None;
        compaction::recover(&self.dir, durable)?;
        // Recovery after a power loss walks the segments from the durable
        // record's on, which a roll leaves to the next sync: none of them is
        // removed or rewritten (it would be walked from the record's position).
        // A sync first moves the record up to the active segment.
        if self
            .state
            .durable()
            .is_some_and(|d| d.base < self.state.active().0)
        {
            self.sync_published()?;
        }
        let walked = self.state.durable().map_or(u64::MAX, |d| d.base);
        // A listing may miss segments rolled while it runs (and show later
        // ones): only those up to the active one before it are certain.
        let active = self.state.active().0.min(walked);
        let files = Files::list(&self.dir)?;
        let mut segs = self.segs(&files.logs, true)?;
        segs.retain(|s| s.base <= active);
        let n = plan(&segs, self.state.log_start(), rules, now_ms, &mut |b| {
            max_ts(&self.dir, b)
        })?;
        let mut removed = Removed {
            log_start: self.state.log_start(),
            ..Removed::default()
        };
        let keep_from = segs.get(n).map_or(u64::MAX, |s| s.base);
        if n > 0 {
            removed.log_start = self.with_lock(|_| Ok(self.state.advance_log_start(keep_from)))?;
            if durable {
                self.state.sync()?;
            }
        }
        for s in &segs[..n] {
            remove_segment(&self.dir, s.base)?;
            removed.segments += 1;
            removed.bytes += s.bytes;
        }
        // Indexes whose segment a crash already removed.
        for &b in files
            .indexes
            .iter()
            .filter(|&&b| b < keep_from && !files.logs.contains(&b))
        {
            remove_segment(&self.dir, b)?;
        }
        if let Some(c) = &rules.compaction {
            removed.compacted =
                self.compact(c, &segs[n..], now_ms, force, &mut |b| max_ts(&self.dir, b))?;
        }
        Ok(Some(removed))
    }

    /// The segments `bases`, with their sizes if `sized` (else 0).
    fn segs(&self, bases: &[u64], sized: bool) -> Result<Vec<Seg>> {
        bases
            .iter()
            .map(|&base| {
                let bytes = match sized {
                    false => 0,
                    true => {
                        let path = layout::segment_log(&self.dir, base);
                        let meta = std::fs::metadata(&path);
                        meta.ctx(format_args!("stat {}", path.display()))?.len()
                    }
                };
                Ok(Seg { base, bytes })
            })
            .collect()
    }

    /// Moves the log start forward to `before` (Kafka's DeleteRecords);
    /// returns the log start afterwards. Past the high watermark is refused.
    pub fn delete_records(&self, before: u64) -> Result<u64> {
        let start = self.with_lock(|_| {
            let high = self.state.next_offset();
            if before > high {
                return Err(Error::new(
                    Code::OffsetOutOfRange,
                    format!(
                        "deleteRecords: offset {before} is past the high watermark {high} of topic '{}' partition {}",
                        self.topic, self.id
                    ),
                ));
            }
            Ok(self.state.advance_log_start(before))
        })?;
        if self.durability != Durability::None {
            self.state.sync()?;
        }
        Ok(start)
    }

    /// True when the active segment was started more than `segmentMs` ago
    /// (its start time is in the partition state; one not known yet is now).
    /// Called under the append lock.
    pub(super) fn segment_aged(&self) -> bool {
        let (since, now) = (self.state.segment_since(), now_ms());
        if since <= 0 {
            self.state.set_segment_since(now);
            return false;
        }
        now.saturating_sub(since) > self.segment_ms as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn segs(sizes: &[u64]) -> Vec<Seg> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &bytes)| Seg {
                base: i as u64 * 100,
                bytes,
            })
            .collect()
    }

    fn rules(retention_ms: i64, retention_bytes: i64) -> Rules {
        Rules {
            retention_ms,
            retention_bytes,
            deletes: true,
            compaction: None,
        }
    }

    /// Segment `base / 100` has its largest timestamp `age[i]` days before now.
    fn run(s: &[Seg], start: u64, r: Rules, age: &[i64]) -> usize {
        let now = 100 * DAY;
        let mut asked = Vec::new();
        let n = plan(s, start, &r, now, &mut |b| {
            asked.push(b);
            Ok(Some(now - age[(b / 100) as usize] * DAY))
        })
        .unwrap();
        assert!(
            !asked.contains(&s.last().unwrap().base),
            "never reads the active segment"
        );
        n
    }

    #[test]
    fn by_time_a_prefix_goes_never_the_active() {
        let s = segs(&[10, 10, 10, 10]);
        assert_eq!(run(&s, 0, rules(7 * DAY, -1), &[9, 8, 6, 9]), 2);
        assert_eq!(run(&s, 0, rules(7 * DAY, -1), &[9, 9, 9, 9]), 3);
        assert_eq!(run(&s, 0, rules(7 * DAY, -1), &[1, 9, 9, 9]), 0);
        assert_eq!(run(&s, 0, rules(-1, -1), &[99, 99, 99, 99]), 0);
        assert_eq!(run(&s[..1], 0, rules(7 * DAY, 1), &[99]), 0);
    }

    #[test]
    fn by_size_keeps_at_least_retention_bytes() {
        let s = segs(&[100, 100, 100, 50]);
        let none = [0; 4];
        assert_eq!(run(&s, 0, rules(-1, 350), &none), 0);
        assert_eq!(run(&s, 0, rules(-1, 250), &none), 1);
        assert_eq!(run(&s, 0, rules(-1, 150), &none), 2);
        assert_eq!(run(&s, 0, rules(-1, 1), &none), 3);
    }

    #[test]
    fn below_the_log_start_goes_whatever_the_policy() {
        let s = segs(&[10, 10, 10]);
        let compact = Rules {
            deletes: false,
            ..rules(1, 1)
        };
        assert_eq!(run(&s, 100, compact, &[99; 3]), 1);
        assert_eq!(run(&s, 150, compact, &[99; 3]), 1);
        assert_eq!(run(&s, 200, compact, &[99; 3]), 2);
        assert_eq!(run(&s, 0, compact, &[99; 3]), 0, "compact alone keeps all");
        assert_eq!(run(&s, 999, rules(-1, -1), &[0; 3]), 2, "never the active");
    }

    #[test]
    fn an_empty_sealed_segment_counts_as_expired() {
        let s = segs(&[0, 10]);
        let n = plan(&s, 0, &rules(DAY, -1), 0, &mut |_| Ok(None)).unwrap();
        assert_eq!(n, 1);
    }
}
