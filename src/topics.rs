//! `NativeLog`'s topic calls: create, alter, delete, list, retention and
//! offsets by time.

use caldo_core::options::{int, int32, limit, ratio, MAX_SAFE};
use caldo_core::{CleanupPolicy, TopicChanges, TopicConfig};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::{blocking, Outcome};
use crate::log::NativeLog;
use crate::types::{
    nullable, Nullable, TopicPartition, TopicPartitionOffset, TopicPartitionTimestamp,
};

#[napi(object)]
pub struct TopicOptions {
    pub partitions: Option<f64>,
    pub segment_bytes: Option<f64>,
    pub max_message_bytes: Option<f64>,
    pub retention_ms: Option<f64>,
    pub retention_bytes: Option<f64>,
    pub segment_ms: Option<f64>,
    pub cleanup_policy: Option<String>,
    pub delete_retention_ms: Option<f64>,
    pub min_compaction_lag_ms: Option<f64>,
    pub min_cleanable_dirty_ratio: Option<f64>,
}

/// What one partition's clean removed.
#[napi(object)]
pub struct CleanedPartition {
    pub topic: String,
    pub partition: u32,
    /// Segments removed by retention.
    pub segments: f64,
    /// Bytes freed by retention and compaction.
    pub bytes: f64,
    /// Records compaction dropped (older values, expired tombstones).
    pub records_removed: f64,
    /// The partition's log start afterwards.
    pub log_start: f64,
}

#[napi(object)]
pub struct CleanResult {
    pub segments: f64,
    pub bytes: f64,
    pub partitions: Vec<CleanedPartition>,
    /// Partitions skipped because another process was cleaning them.
    pub busy: u32,
}

#[napi(object)]
pub struct PartitionInfo {
    pub partition: u32,
    pub low: f64,
    pub high: f64,
    /// The last stable offset (`high` unless a transaction is open).
    pub lso: f64,
    /// Bytes of its segment files on disk.
    pub bytes: f64,
    /// For a compacted topic, the share of its sealed bytes not compacted yet.
    pub dirty_ratio: f64,
}

#[napi(object)]
pub struct TopicConfigInfo {
    pub partitions: u32,
    pub segment_bytes: f64,
    pub max_message_bytes: u32,
    pub retention_ms: f64,
    pub retention_bytes: f64,
    pub segment_ms: f64,
    pub cleanup_policy: String,
    pub delete_retention_ms: f64,
    pub min_compaction_lag_ms: f64,
    pub min_cleanable_dirty_ratio: f64,
}

/// Why a topic cannot be read (its `topic.json` is damaged, say).
#[napi(object)]
pub struct Damage {
    pub code: String,
    pub message: String,
}

#[napi(object)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: Vec<PartitionInfo>,
    /// `null` for a damaged topic.
    pub config: Nullable<TopicConfigInfo>,
    pub damage: Option<Damage>,
}

fn topic_info(t: caldo_core::TopicInfo) -> TopicInfo {
    let healthy = t.damage.is_none();
    TopicInfo {
        name: t.name,
        config: nullable(healthy.then_some(TopicConfigInfo {
            partitions: t.config.partitions,
            segment_bytes: t.config.segment_bytes as f64,
            max_message_bytes: t.config.max_message_bytes,
            retention_ms: t.config.retention_ms as f64,
            retention_bytes: t.config.retention_bytes as f64,
            segment_ms: t.config.segment_ms as f64,
            cleanup_policy: t.config.cleanup_policy.as_str().to_string(),
            delete_retention_ms: t.config.delete_retention_ms as f64,
            min_compaction_lag_ms: t.config.min_compaction_lag_ms as f64,
            min_cleanable_dirty_ratio: t.config.min_cleanable_dirty_ratio,
        })),
        damage: t.damage.map(|e| Damage {
            code: e.code.as_str().to_string(),
            message: e.message,
        }),
        partitions: t
            .partitions
            .into_iter()
            .map(|p| PartitionInfo {
                partition: p.partition,
                low: p.low as f64,
                high: p.high as f64,
                lso: p.lso as f64,
                bytes: p.bytes as f64,
                dirty_ratio: p.dirty_ratio,
            })
            .collect(),
    }
}

/// The settings `o` gives; the core checks the values (ranges, names).
fn topic_changes(o: &TopicOptions) -> caldo_core::Result<TopicChanges> {
    let ms = |what, v: Option<f64>, min| v.map(|v| int(what, v, min, MAX_SAFE)).transpose();
    Ok(TopicChanges {
        partitions: o
            .partitions
            .map(|v| int32("partitions", v, 0, u32::MAX))
            .transpose()?,
        segment_bytes: o
            .segment_bytes
            .map(|v| int("segmentBytes", v, 0, u64::MAX))
            .transpose()?,
        max_message_bytes: o
            .max_message_bytes
            .map(|v| int32("maxMessageBytes", v, 0, u32::MAX))
            .transpose()?,
        retention_ms: o
            .retention_ms
            .map(|v| limit("retentionMs", v))
            .transpose()?,
        retention_bytes: o
            .retention_bytes
            .map(|v| limit("retentionBytes", v))
            .transpose()?,
        segment_ms: ms("segmentMs", o.segment_ms, 1)?,
        cleanup_policy: o
            .cleanup_policy
            .as_deref()
            .map(CleanupPolicy::parse)
            .transpose()?,
        delete_retention_ms: ms("deleteRetentionMs", o.delete_retention_ms, 0)?,
        min_compaction_lag_ms: ms("minCompactionLagMs", o.min_compaction_lag_ms, 0)?,
        min_cleanable_dirty_ratio: o
            .min_cleanable_dirty_ratio
            .map(|v| ratio("minCleanableDirtyRatio", v))
            .transpose()?,
    })
}

fn clean_result(r: caldo_core::CleanReport) -> CleanResult {
    CleanResult {
        segments: r.segments as f64,
        bytes: r.bytes as f64,
        busy: r.busy,
        partitions: r
            .partitions
            .into_iter()
            .map(|c| CleanedPartition {
                topic: c.topic,
                partition: c.partition,
                segments: c.removed.segments as f64,
                bytes: (c.removed.bytes + c.removed.compacted.bytes_before
                    - c.removed.compacted.bytes_after) as f64,
                records_removed: c.removed.compacted.records_removed as f64,
                log_start: c.removed.log_start as f64,
            })
            .collect(),
    }
}

#[napi]
impl NativeLog {
    #[napi]
    pub fn create_topic<'env>(
        &self,
        env: &'env Env,
        name: String,
        cfg: TopicOptions,
    ) -> Result<PromiseRaw<'env, Outcome<TopicInfo>>> {
        let log = self.inner.clone();
        blocking(env, move || {
            let config = topic_changes(&cfg)?.apply(&TopicConfig::default());
            log.create_topic(&name, &config).map(topic_info)
        })
    }

    /// Changes a topic's settings (all but `partitions`).
    #[napi]
    pub fn alter_topic<'env>(
        &self,
        env: &'env Env,
        name: String,
        cfg: TopicOptions,
    ) -> Result<PromiseRaw<'env, Outcome<TopicInfo>>> {
        let log = self.inner.clone();
        blocking(env, move || {
            log.alter_topic(&name, &topic_changes(&cfg)?)
                .map(topic_info)
        })
    }

    /// Moves a partition's log start to `before`; resolves to the log start.
    #[napi]
    pub fn delete_records<'env>(
        &self,
        env: &'env Env,
        topic: String,
        partition: f64,
        before: f64,
    ) -> Result<PromiseRaw<'env, Outcome<f64>>> {
        let log = self.inner.clone();
        blocking(env, move || {
            let p = int32("partition", partition, 0, u32::MAX)?;
            let before = int("offset", before, 0, MAX_SAFE)?;
            Ok(log.delete_records(&topic, p, before)? as f64)
        })
    }

    /// Runs retention now on every topic.
    #[napi]
    pub fn clean<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Outcome<CleanResult>>> {
        let log = self.inner.clone();
        blocking(env, move || log.clean().map(clean_result))
    }

    #[napi]
    pub fn delete_topic<'env>(
        &self,
        env: &'env Env,
        name: String,
    ) -> Result<PromiseRaw<'env, Outcome<()>>> {
        let log = self.inner.clone();
        blocking(env, move || log.delete_topic(&name))
    }

    #[napi]
    pub fn topics<'env>(
        &self,
        env: &'env Env,
        internal: bool,
    ) -> Result<PromiseRaw<'env, Outcome<Vec<TopicInfo>>>> {
        let log = self.inner.clone();
        blocking(env, move || {
            Ok(log.topics(internal)?.into_iter().map(topic_info).collect())
        })
    }

    /// Per partition, the first offset whose record's timestamp is at or
    /// after the one given, or the high watermark when none is that recent.
    #[napi]
    pub fn offsets_for_times<'env>(
        &self,
        env: &'env Env,
        query: Vec<TopicPartitionTimestamp>,
    ) -> Result<PromiseRaw<'env, Outcome<Vec<TopicPartitionOffset>>>> {
        let log = self.inner.clone();
        blocking(env, move || {
            query
                .into_iter()
                .map(|q| {
                    let (topic, p) = TopicPartition {
                        topic: q.topic,
                        partition: q.partition,
                    }
                    .tp()?;
                    let ts = caldo_core::options::timestamp("timestamp", q.timestamp)?;
                    let offset = log
                        .offset_for_time_or_end(&topic, p, ts)?
                        .unwrap_or_else(|hw| hw);
                    Ok(TopicPartitionOffset {
                        topic,
                        partition: p.into(),
                        offset: offset as f64,
                    })
                })
                .collect()
        })
    }
}
