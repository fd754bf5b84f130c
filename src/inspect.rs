//! Read-only inspection of segment files for `caldo dump` and `caldo verify`:
//! no `NativeLog`, no locks, nothing written.

use std::path::Path;

use caldo_core::inspect::{self, BatchInfo, Damage, PartitionFiles};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::{blocking, guard, Outcome};

#[napi(object)]
pub struct InspectSegment {
    pub base: f64,
    pub file: String,
    pub bytes: f64,
}

#[napi(object)]
pub struct InspectFiles {
    /// From the partition's state file; absent when it is unreadable.
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub segments: Vec<InspectSegment>,
}

#[napi(object)]
pub struct InspectBatch {
    pub segment: String,
    pub position: f64,
    pub base_offset: f64,
    pub last_offset: f64,
    pub count: u32,
    pub size: f64,
    pub first_timestamp: f64,
    pub max_timestamp: f64,
    pub crc_ok: bool,
}

#[napi(object)]
pub struct InspectDamage {
    pub segment: String,
    pub position: f64,
    pub offset: f64,
    pub reason: String,
}

#[napi(object)]
pub struct InspectPartition {
    pub batches: Vec<InspectBatch>,
    pub damage: Vec<InspectDamage>,
}

#[napi(object)]
pub struct InspectScan {
    pub batches: f64,
    pub records: f64,
    pub bytes: f64,
    pub damage: Option<InspectDamage>,
}

fn batch(segment: &str, b: &BatchInfo) -> InspectBatch {
    InspectBatch {
        segment: segment.to_string(),
        position: b.position as f64,
        base_offset: b.base_offset as f64,
        last_offset: b.last_offset as f64,
        count: b.count,
        size: b.size as f64,
        first_timestamp: b.first_timestamp as f64,
        max_timestamp: b.max_timestamp as f64,
        crc_ok: b.crc_ok,
    }
}

fn damage(segment: &str, d: Damage) -> InspectDamage {
    InspectDamage {
        segment: segment.to_string(),
        position: d.position as f64,
        offset: d.offset as f64,
        reason: d.reason,
    }
}

fn files(dir: &str, topic: &str, partition: u32) -> caldo_core::Result<PartitionFiles> {
    inspect::partition_files(Path::new(dir), topic, partition)
}

/// True when `dir` holds a caldo log.
#[napi]
pub fn is_log(dir: String) -> Outcome<bool> {
    guard(|| Ok(inspect::is_log(Path::new(&dir))))
}

/// Every partition on disk, as [topic, partition], internal topics included.
#[napi]
pub fn inspect_partitions(dir: String) -> Outcome<Vec<TopicPartitionId>> {
    guard(|| {
        let list = inspect::partitions(Path::new(&dir))?;
        Ok(list
            .into_iter()
            .map(|(topic, partition)| TopicPartitionId { topic, partition })
            .collect())
    })
}

#[napi(object)]
pub struct TopicPartitionId {
    pub topic: String,
    pub partition: u32,
}

/// A partition's segment files and published offsets.
#[napi]
pub fn inspect_files(dir: String, topic: String, partition: u32) -> Outcome<InspectFiles> {
    guard(|| {
        let f = files(&dir, &topic, partition)?;
        Ok(InspectFiles {
            low: f.offsets.map(|(low, _)| low as f64),
            high: f.offsets.map(|(_, high)| high as f64),
            segments: f
                .segments
                .into_iter()
                .map(|s| InspectSegment {
                    base: s.base as f64,
                    file: s.file,
                    bytes: s.bytes as f64,
                })
                .collect(),
        })
    })
}

/// Every batch of a partition whose last offset is at least `from_offset`, and
/// each segment's damage.
#[napi]
pub fn inspect_partition<'env>(
    env: &'env Env,
    dir: String,
    topic: String,
    partition: u32,
    from_offset: f64,
) -> Result<PromiseRaw<'env, Outcome<InspectPartition>>> {
    let from = from_offset.max(0.0) as u64;
    blocking(env, move || {
        let f = files(&dir, &topic, partition)?;
        let mut out = InspectPartition {
            batches: Vec::new(),
            damage: Vec::new(),
        };
        for (i, seg) in f.segments.iter().enumerate() {
            if f.segments.get(i + 1).is_some_and(|next| next.base <= from) {
                continue;
            }
            let scan = inspect::scan_segment(&f, i, from, |b| {
                out.batches.push(batch(&seg.file, b));
            })?;
            out.damage.extend(scan.damage.map(|d| damage(&seg.file, d)));
        }
        Ok(out)
    })
}

/// Checks one segment (by base offset) of a partition.
#[napi]
pub fn verify_segment<'env>(
    env: &'env Env,
    dir: String,
    topic: String,
    partition: u32,
    base: f64,
) -> Result<PromiseRaw<'env, Outcome<InspectScan>>> {
    blocking(env, move || {
        let f = files(&dir, &topic, partition)?;
        // A segment removed since it was listed has nothing left to check.
        let Some(i) = f.segments.iter().position(|s| s.base as f64 == base) else {
            return Ok(InspectScan {
                batches: 0.0,
                records: 0.0,
                bytes: 0.0,
                damage: None,
            });
        };
        let scan = inspect::scan_segment(&f, i, 0, |_| {})?;
        Ok(InspectScan {
            batches: scan.batches as f64,
            records: scan.records as f64,
            bytes: scan.bytes as f64,
            damage: scan.damage.map(|d| damage(&f.segments[i].file, d)),
        })
    })
}
