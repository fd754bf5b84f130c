//! A topic's configuration (`topic.json`): its settings, their defaults and
//! limits, and changes to them.

use serde::{Deserialize, Serialize};

use crate::error::{Code, Error, Result};

pub const MAX_PARTITIONS: u32 = 10_000;
pub const MIN_SEGMENT_BYTES: u64 = 4096;
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;
pub const MAX_MESSAGE_BYTES: u32 = 256 << 20;

/// Kafka's `cleanup.policy`: `compact` keeps the last record of each key,
/// `delete` applies retention by time and size, `compact,delete` both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CleanupPolicy {
    #[serde(rename = "delete")]
    Delete,
    #[serde(rename = "compact")]
    Compact,
    #[serde(rename = "compact,delete")]
    CompactDelete,
}

impl CleanupPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        }
    }
    /// True when retention by time and size removes segments.
    pub fn deletes(self) -> bool {
        self != CleanupPolicy::Compact
    }
    /// True when the cleaner keeps only the last record of each key.
    pub fn compacts(self) -> bool {
        self != CleanupPolicy::Delete
    }
}

/// The topic's configuration, as `topic.json` holds it. Fields added after
/// the first format read with their defaults from older files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicConfig {
    pub partitions: u32,
    pub segment_bytes: u64,
    pub max_message_bytes: u32,
    /// How long records are kept, judged by a segment's largest timestamp; -1: forever.
    #[serde(default = "defaults::retention_ms")]
    pub retention_ms: i64,
    /// The size a partition's segments may reach before the oldest go; -1: no limit.
    #[serde(default = "defaults::unlimited")]
    pub retention_bytes: i64,
    /// The active segment is rolled once its first record is older than this.
    #[serde(default = "defaults::segment_ms")]
    pub segment_ms: u64,
    #[serde(default = "defaults::cleanup_policy")]
    pub cleanup_policy: CleanupPolicy,
    /// How long compaction keeps tombstones, judged by their batch's largest timestamp.
    #[serde(default = "defaults::delete_retention_ms")]
    pub delete_retention_ms: u64,
    /// Segments holding records younger than this are not compacted.
    #[serde(default)]
    pub min_compaction_lag_ms: u64,
    /// Compaction starts once this share of the sealed segments' bytes is dirty.
    #[serde(default = "defaults::min_cleanable_dirty_ratio")]
    pub min_cleanable_dirty_ratio: f64,
}

mod defaults {
    use super::CleanupPolicy;
    pub const DAY_MS: u64 = 24 * 3600 * 1000;
    pub fn retention_ms() -> i64 {
        7 * DAY_MS as i64
    }
    pub fn unlimited() -> i64 {
        -1
    }
    pub fn segment_ms() -> u64 {
        7 * DAY_MS
    }
    pub fn cleanup_policy() -> CleanupPolicy {
        CleanupPolicy::Delete
    }
    pub fn delete_retention_ms() -> u64 {
        DAY_MS
    }
    pub fn min_cleanable_dirty_ratio() -> f64 {
        0.5
    }
}

/// Changes to a topic's configuration: each field given replaces the one in
/// the config (at creation, the defaults; later, the topic's current one).
#[derive(Clone, Debug, Default)]
pub struct TopicChanges {
    pub partitions: Option<u32>,
    pub segment_bytes: Option<u64>,
    pub max_message_bytes: Option<u32>,
    pub retention_ms: Option<i64>,
    pub retention_bytes: Option<i64>,
    pub segment_ms: Option<u64>,
    pub cleanup_policy: Option<CleanupPolicy>,
    pub delete_retention_ms: Option<u64>,
    pub min_compaction_lag_ms: Option<u64>,
    pub min_cleanable_dirty_ratio: Option<f64>,
}

impl TopicChanges {
    /// `config` with these changes applied (not yet validated).
    pub fn apply(&self, config: &TopicConfig) -> TopicConfig {
        let c = config.clone();
        TopicConfig {
            partitions: self.partitions.unwrap_or(c.partitions),
            segment_bytes: self.segment_bytes.unwrap_or(c.segment_bytes),
            max_message_bytes: self.max_message_bytes.unwrap_or(c.max_message_bytes),
            retention_ms: self.retention_ms.unwrap_or(c.retention_ms),
            retention_bytes: self.retention_bytes.unwrap_or(c.retention_bytes),
            segment_ms: self.segment_ms.unwrap_or(c.segment_ms),
            cleanup_policy: self.cleanup_policy.unwrap_or(c.cleanup_policy),
            delete_retention_ms: self.delete_retention_ms.unwrap_or(c.delete_retention_ms),
            min_compaction_lag_ms: self
                .min_compaction_lag_ms
                .unwrap_or(c.min_compaction_lag_ms),
            min_cleanable_dirty_ratio: self
                .min_cleanable_dirty_ratio
                .unwrap_or(c.min_cleanable_dirty_ratio),
        }
    }
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            partitions: 1,
            segment_bytes: 128 << 20,
            max_message_bytes: 1 << 20,
            retention_ms: defaults::retention_ms(),
            retention_bytes: defaults::unlimited(),
            segment_ms: defaults::segment_ms(),
            cleanup_policy: defaults::cleanup_policy(),
            delete_retention_ms: defaults::delete_retention_ms(),
            min_compaction_lag_ms: 0,
            min_cleanable_dirty_ratio: defaults::min_cleanable_dirty_ratio(),
        }
    }
}

impl TopicConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::new(Code::InvalidArg, m));
        if !(1..=MAX_PARTITIONS).contains(&self.partitions) {
            return bad(format!(
                "partitions must be from 1 to {MAX_PARTITIONS}, got {}",
                self.partitions
            ));
        }
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes) {
            return bad(format!(
                "segmentBytes must be from {MIN_SEGMENT_BYTES} to {MAX_SEGMENT_BYTES}, got {}",
                self.segment_bytes
            ));
        }
        if !(1..=MAX_MESSAGE_BYTES).contains(&self.max_message_bytes) {
            return bad(format!(
                "maxMessageBytes must be from 1 to {MAX_MESSAGE_BYTES}, got {}",
                self.max_message_bytes
            ));
        }
        let max = crate::options::MAX_SAFE as i64;
        for (what, v) in [
            ("retentionMs", self.retention_ms),
            ("retentionBytes", self.retention_bytes),
        ] {
            if v != -1 && !(1..=max).contains(&v) {
                return bad(format!(
                    "{what} must be -1 (no limit) or an integer from 1 to {max}, got {v}"
                ));
            }
        }
        for (what, v, min) in [
            ("segmentMs", self.segment_ms, 1),
            ("deleteRetentionMs", self.delete_retention_ms, 0),
            ("minCompactionLagMs", self.min_compaction_lag_ms, 0),
        ] {
            if !(min..=max as u64).contains(&v) {
                return bad(format!(
                    "{what} must be an integer from {min} to {max}, got {v}"
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.min_cleanable_dirty_ratio) {
            return bad(format!(
                "minCleanableDirtyRatio must be from 0 to 1, got {}",
                self.min_cleanable_dirty_ratio
            ));
        }
        Ok(())
    }
}
