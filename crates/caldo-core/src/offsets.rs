//! Committed group offsets, stored as records in the internal topic
//! `__consumer_offsets`, keyed by (group, topic, partition); the last record
//! for a key wins. Each process keeps a map and tails the topic to update it.
//! Offsets sent in a transaction are transactional records: the tail holds
//! them per producer and applies them at their commit marker, or drops
//! them at an abort marker.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::{Code, Error, Result};
use crate::record::batch::{RecordIn, CONTROL, TRANSACTIONAL};
use crate::record::control::Marker;
use crate::record::partitioner::partition_for_key;
use crate::storage::cursor::{Cursor, Isolation, Position};
use crate::storage::partition::{Partition, Write};
use crate::storage::topic::{CleanupPolicy, Topic, TopicConfig};
use crate::sync::unpoisoned;

pub const TOPIC: &str = "__consumer_offsets";
/// Groups hash onto these, so busy groups do not contend for one lock.
pub const PARTITIONS: u32 = 8;
/// Small segments: a new process reads its group's partition from the start,
/// and compaction leaves only each key's last record in sealed segments, so
/// a join reads the live keys plus at most about two segments of commits.
const SEGMENT_BYTES: u64 = 256 << 10;

/// `__consumer_offsets`'s configuration.
pub fn config() -> TopicConfig {
    TopicConfig {
        partitions: PARTITIONS,
        segment_bytes: SEGMENT_BYTES,
        cleanup_policy: CleanupPolicy::Compact,
        retention_ms: -1,
        ..TopicConfig::default()
    }
}

#[derive(Serialize, Deserialize)]
struct Value {
    offset: u64,
    timestamp: i64,
}

/// (topic, partition) → committed offset, for one group.
pub type Committed = BTreeMap<(String, u32), u64>;

/// One offsets record: (group, topic, partition) and the offset, `None` for a tombstone.
type Entry = (String, (String, u32), Option<u64>);

struct Tail {
    cursor: Cursor,
    /// group → its committed offsets, as read so far.
    groups: HashMap<String, Committed>,
    /// Offsets of open transactions, per producer id, not applied yet.
    pending: HashMap<i64, Vec<Entry>>,
}

impl Tail {
    fn apply(&mut self, (group, tp, offset): Entry) {
        match offset {
            Some(o) => {
                self.groups.entry(group).or_default().insert(tp, o);
            }
            // A tombstone: the group's offset was deleted.
            None => {
                if let Some(entry) = self.groups.get_mut(&group) {
                    entry.remove(&tp);
                    if entry.is_empty() {
                        self.groups.remove(&group);
                    }
                }
            }
        }
    }
}

pub struct Offsets {
    topic: Arc<Topic>,
    tails: Vec<Mutex<Tail>>,
}

fn key(group: &str, topic: &str, partition: u32) -> Vec<u8> {
    serde_json::to_vec(&(group, topic, partition)).expect("key serializes")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Offsets {
    pub fn new(topic: Arc<Topic>) -> Offsets {
        let tails = topic
            .partitions
            .iter()
            .map(|p| {
                let mut cursor = Cursor::new(p.clone(), Position::Earliest);
                cursor.set_isolation(Isolation::Raw);
                Mutex::new(Tail {
                    cursor,
                    groups: HashMap::new(),
                    pending: HashMap::new(),
                })
            })
            .collect();
        Offsets { topic, tails }
    }

    fn partition_of(&self, group: &str) -> usize {
        partition_for_key(group.as_bytes(), self.tails.len() as u32) as usize
    }

    /// Writes offsets for `group` as one batch: all of them or none.
    pub fn commit(&self, group: &str, offsets: &[((String, u32), u64)]) -> Result<()> {
        self.commit_with(group, offsets, &mut |p, records| {
            p.append_unsynced(records, None)
        })
    }

    /// The partition that holds `group`'s offsets.
    pub fn partition(&self, group: &str) -> &Arc<Partition> {
        &self.topic.partitions[self.partition_of(group)]
    }

    /// [`Offsets::commit`], the batch written by `write` (a transactional
    /// producer's, for offsets sent in a transaction).
    pub(crate) fn commit_with(
        &self,
        group: &str,
        offsets: &[((String, u32), u64)],
        write: &mut Write,
    ) -> Result<()> {
        let timestamp = now_ms();
        let values = offsets.iter().map(|(tp, offset)| {
            let v = Value {
                offset: *offset,
                timestamp,
            };
            (tp, Some(serde_json::to_vec(&v).expect("value serializes")))
        });
        self.write(group, values, timestamp, write)
    }

    /// Writes a tombstone for each offset `group` has committed, as one batch.
    pub fn forget(&self, group: &str) -> Result<()> {
        let committed = self.committed(group)?;
        let tombstones = committed.keys().map(|tp| (tp, None));
        self.write(group, tombstones, now_ms(), &mut |p, records| {
            p.append_unsynced(records, None)
        })
    }

    /// Appends one record per (topic, partition) of `group` as one batch.
    fn write<'a>(
        &self,
        group: &str,
        values: impl Iterator<Item = (&'a (String, u32), Option<Vec<u8>>)>,
        timestamp: i64,
        write: &mut Write,
    ) -> Result<()> {
        let encoded: Vec<(Vec<u8>, Option<Vec<u8>>)> =
            values.map(|((t, p), v)| (key(group, t, *p), v)).collect();
        if encoded.is_empty() {
            return Ok(());
        }
        let records: Vec<RecordIn> = encoded
            .iter()
            .map(|(k, v)| RecordIn {
                key: Some(k),
                value: v.as_deref(),
                headers: &[],
                timestamp,
            })
            .collect();
        let p = self.partition(group);
        match write(p, &records)? {
            (_, Some(unsynced)) => p.sync(unsynced),
            (_, None) => Ok(()),
        }
    }

    /// What `group` has committed, read up to the end of its partition now.
    pub fn committed(&self, group: &str) -> Result<Committed> {
        Ok(self.committed_unstable(group)?.0)
    }

    /// [`Offsets::committed`], and the partitions whose offsets an open
    /// transaction is changing: until it ends, their committed offset is not
    /// known (Kafka's unstable offset commit).
    pub fn committed_unstable(&self, group: &str) -> Result<(Committed, BTreeSet<(String, u32)>)> {
        let mut tail = unpoisoned(&self.tails[self.partition_of(group)]);
        let tail = &mut *tail;
        let mut read = Vec::new();
        let mut bad = None;
        tail.cursor.fetch(usize::MAX, &mut |r| {
            if r.stamp.attributes & CONTROL != 0 {
                let marker = r.key.zip(r.value).and_then(|(k, v)| Marker::parse(k, v));
                read.push((r.stamp.producer_id, Err(marker.is_some_and(|m| m.commit))));
                return true;
            }
            let parsed = r
                .key
                .and_then(|k| serde_json::from_slice::<(String, String, u32)>(k).ok());
            let Some((g, t, p)) = parsed else {
                bad = Some(r.offset);
                return false;
            };
            let offset = match r.value.map(serde_json::from_slice::<Value>) {
                Some(Ok(v)) => Some(v.offset),
                None => None,
                Some(Err(_)) => {
                    bad = Some(r.offset);
                    return false;
                }
            };
            let pid = match r.stamp.attributes & TRANSACTIONAL {
                0 => -1,
                _ => r.stamp.producer_id,
            };
            read.push((pid, Ok((g, (t, p), offset))));
            true
        })?;
        for (pid, rec) in read {
            match rec {
                Ok(entry) if pid < 0 => tail.apply(entry),
                Ok(entry) => tail.pending.entry(pid).or_default().push(entry),
                Err(commit) => {
                    for entry in tail.pending.remove(&pid).unwrap_or_default() {
                        if commit {
                            tail.apply(entry);
                        }
                    }
                }
            }
        }
        if let Some(offset) = bad {
            return Err(Error::new(
                Code::Corrupt,
                format!("{TOPIC} holds a record that is not a committed offset at offset {offset}"),
            ));
        }
        let unstable = tail
            .pending
            .values()
            .flatten()
            .filter(|(g, _, _)| g == group)
            .map(|(_, tp, _)| tp.clone())
            .collect();
        Ok((
            tail.groups.get(group).cloned().unwrap_or_default(),
            unstable,
        ))
    }
}
