//! Committed group offsets, stored as records in the internal topic
//! `__consumer_offsets`, keyed by (group, topic, partition); the last record
//! for a key wins. Each process keeps a map and tails the topic to update it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::{Code, Error, Result};
use crate::record::batch::RecordIn;
use crate::record::partitioner::partition_for_key;
use crate::storage::cursor::{Cursor, Position};
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

struct Tail {
    cursor: Cursor,
    /// group → its committed offsets, as read so far.
    groups: HashMap<String, Committed>,
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
                Mutex::new(Tail {
                    cursor: Cursor::new(p.clone(), Position::Earliest),
                    groups: HashMap::new(),
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
        let timestamp = now_ms();
        let values = offsets.iter().map(|(tp, offset)| {
            let v = Value {
                offset: *offset,
                timestamp,
            };
            (tp, Some(serde_json::to_vec(&v).expect("value serializes")))
        });
        self.write(group, values, timestamp)
    }

    /// Writes a tombstone for each offset `group` has committed, as one batch.
    pub fn forget(&self, group: &str) -> Result<()> {
        let committed = self.committed(group)?;
        self.write(group, committed.keys().map(|tp| (tp, None)), now_ms())
    }

    /// Appends one record per (topic, partition) of `group` as one batch.
    fn write<'a>(
        &self,
        group: &str,
        values: impl Iterator<Item = (&'a (String, u32), Option<Vec<u8>>)>,
        timestamp: i64,
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
        self.topic.partitions[self.partition_of(group)].append(&records)?;
        Ok(())
    }

    /// What `group` has committed, read up to the end of its partition now.
    pub fn committed(&self, group: &str) -> Result<Committed> {
        let mut tail = unpoisoned(&self.tails[self.partition_of(group)]);
        let Tail { cursor, groups } = &mut *tail;
        let mut bad = None;
        cursor.fetch(usize::MAX, &mut |r| {
            let parsed = r
                .key
                .and_then(|k| serde_json::from_slice::<(String, String, u32)>(k).ok());
            let Some((g, t, p)) = parsed else {
                bad = Some(r.offset);
                return false;
            };
            match r.value.map(serde_json::from_slice::<Value>) {
                Some(Ok(v)) => {
                    groups.entry(g).or_default().insert((t, p), v.offset);
                }
                // A tombstone: the group's offset was deleted.
                None => {
                    if let Some(entry) = groups.get_mut(&g) {
                        entry.remove(&(t, p));
                        if entry.is_empty() {
                            groups.remove(&g);
                        }
                    }
                }
                Some(Err(_)) => {
                    bad = Some(r.offset);
                    return false;
                }
            }
            true
        })?;
        if let Some(offset) = bad {
            return Err(Error::new(
                Code::Corrupt,
                format!("{TOPIC} holds a record that is not a committed offset at offset {offset}"),
            ));
        }
        Ok(groups.get(group).cloned().unwrap_or_default())
    }
}
