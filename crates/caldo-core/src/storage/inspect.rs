//! Read-only inspection of a partition's segment files, batch by batch, for
//! `caldo dump` and `caldo verify`. Takes no lock, opens files read-only and
//! writes nothing, so it works beside live writers and on a damaged log.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Code, Error, IoContext, Result};
use crate::layout;
use crate::record::batch::{self, BatchHeader};
use crate::storage::segment::{self, Step, Walk};
use crate::storage::state;
use crate::storage::topic::validate_name;

/// One `<base:020>.log` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentFile {
    pub base: u64,
    /// The file name, e.g. `00000000000000000000.log`.
    pub file: String,
    pub bytes: u64,
}

/// A partition directory as it is on disk now.
#[derive(Clone, Debug)]
pub struct PartitionFiles {
    pub dir: PathBuf,
    /// (log start, next offset) from the state file, when it is readable.
    pub offsets: Option<(u64, u64)>,
    /// Ascending by base offset.
    pub segments: Vec<SegmentFile>,
}

/// One batch's header, as found at `position` in its segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchInfo {
    pub position: u64,
    pub base_offset: u64,
    pub last_offset: u64,
    pub count: u32,
    pub size: u64,
    pub first_timestamp: i64,
    pub max_timestamp: i64,
    pub crc_ok: bool,
}

impl BatchInfo {
    fn new(position: u64, h: &BatchHeader, crc_ok: bool) -> BatchInfo {
        BatchInfo {
            position,
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
            count: h.count,
            size: h.size as u64,
            first_timestamp: h.first_timestamp,
            max_timestamp: h.max_timestamp,
            crc_ok,
        }
    }
}

/// Where a segment stops making sense.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub position: u64,
    /// The offset the batch at `position` should have started with.
    pub offset: u64,
    pub reason: String,
}

/// What walking one segment found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentScan {
    /// Good batches and their records.
    pub batches: u64,
    pub records: u64,
    /// Bytes walked: up to the damage, the published end, or the file's end.
    pub bytes: u64,
    pub damage: Option<Damage>,
}

/// True when `dir` holds a caldo log.
pub fn is_log(dir: &Path) -> bool {
    layout::meta(dir).is_file()
}

/// Names of the entries of `dir` that `keep` accepts, sorted; none if `dir` is gone.
fn names(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        r => r.ctx(format_args!("listing {}", dir.display()))?,
    };
    let mut out = Vec::new();
    for e in entries {
        let name = e.ctx("listing")?.file_name().to_string_lossy().into_owned();
        if keep(&name) {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Every (topic, partition) directory on disk, internal topics included,
/// topics being created or deleted (hidden) left out.
pub fn partitions(dir: &Path) -> Result<Vec<(String, u32)>> {
    let topics = layout::topics(dir);
    let mut out = Vec::new();
    for topic in names(&topics, |n| {
        validate_name("topic", n).is_ok() && !n.starts_with('.')
    })? {
        let topic_dir = layout::topic(&topics, &topic);
        let mut ids: Vec<u32> = names(&topic_dir, |_| true)?
            .iter()
            .filter_map(|n| n.parse().ok())
            .filter(|&id| layout::partition(&topic_dir, id).is_dir())
            .collect();
        ids.sort_unstable();
        out.extend(ids.into_iter().map(|id| (topic.clone(), id)));
    }
    Ok(out)
}

/// Lists partition `partition` of `topic` in the log directory `dir`.
pub fn partition_files(dir: &Path, topic: &str, partition: u32) -> Result<PartitionFiles> {
    validate_name("topic", topic)?;
    let topic_dir = layout::topic(&layout::topics(dir), topic);
    if !topic_dir.is_dir() {
        return Err(Error::new(
            Code::UnknownTopic,
            format!("unknown topic '{topic}' in {}", dir.display()),
        ));
    }
    let part_dir = layout::partition(&topic_dir, partition);
    if !part_dir.is_dir() {
        return Err(Error::new(
            Code::InvalidPartition,
            format!("topic '{topic}' has no partition {partition}"),
        ));
    }
    let offsets = state::peek(&layout::partition_state(&part_dir))?;
    let segments = segment::sizes(&part_dir)?
        .into_iter()
        .map(|(base, bytes)| {
            let path = layout::segment_log(&part_dir, base);
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            SegmentFile { base, file, bytes }
        })
        .collect();
    Ok(PartitionFiles {
        dir: part_dir,
        offsets,
        segments,
    })
}

/// Why no batch could be read at `pos`.
fn no_batch_reason(file: &File, pos: u64, len: u64) -> String {
    let mut head = [0u8; batch::HEADER_LEN];
    if len - pos < head.len() as u64 || file.read_exact_at(&mut head, pos).is_err() {
        return format!(
            "truncated: {} bytes left, less than a batch header",
            len - pos
        );
    }
    match batch::parse_header(&head) {
        Some(h) => format!(
            "truncated: a batch of {} bytes with {} left in the file",
            h.size,
            len - pos
        ),
        None => "no valid batch header".to_string(),
    }
}

fn damage(walk: &Walk, reason: String) -> Option<Damage> {
    Some(Damage {
        position: walk.pos,
        offset: walk.expect,
        reason,
    })
}

/// Walks segment `index` of `files` from its start, calling `visit` for each
/// batch whose last offset is at least `from`. Stops at the partition's
/// published end, at the file's end, or at the first damaged batch (a bad
/// header, a bad CRC, or a base offset out of sequence, which the CRC does not
/// cover); a segment that ends before the offset the next one starts at (or
/// before the published end) is damaged too.
pub fn scan_segment(
    files: &PartitionFiles,
    index: usize,
    from: u64,
    mut visit: impl FnMut(&BatchInfo),
) -> Result<SegmentScan> {
    let seg = &files.segments[index];
    let high = files.offsets.map_or(u64::MAX, |(_, next)| next);
    let ends_at = files
        .segments
        .get(index + 1)
        .map_or(files.offsets.map(|(_, next)| next), |s| Some(s.base));
    let path = files.dir.join(&seg.file);
    let file = File::open(&path).ctx(format_args!("opening {}", path.display()))?;
    let len = file.metadata().ctx("stat segment")?.len();
    let mut reader = segment::Reader::default();
    let mut scan = SegmentScan::default();
    let mut walk = Walk::start(seg.base);
    while walk.pos < len && walk.expect < high {
        let step = walk.next(&mut reader, &file, high, 0)?;
        let (h, crc_ok) = match step {
            Step::End => {
                scan.damage = damage(&walk, no_batch_reason(&file, walk.pos, len));
                break;
            }
            Step::Batch(h, _) => (h, true),
            Step::BadCrc(h) => (h, false),
            Step::OutOfSequence(h, bytes) => (h, batch::crc_ok(bytes)),
        };
        if h.last_offset() >= from {
            visit(&BatchInfo::new(walk.pos, &h, crc_ok));
        }
        if h.base_offset != walk.expect {
            let reason = format!(
                "base offset {} where {} was expected",
                h.base_offset, walk.expect
            );
            scan.damage = damage(&walk, reason);
            break;
        }
        if !crc_ok {
            scan.damage = damage(&walk, "CRC mismatch".to_string());
            break;
        }
        scan.batches += 1;
        scan.records += u64::from(h.count);
        walk.advance(&h);
    }
    scan.bytes = walk.pos;
    if scan.damage.is_none() {
        if let Some(end) = ends_at.filter(|&end| walk.expect < end) {
            let reason = format!(
                "the segment ends at offset {}, records up to {end} are missing",
                walk.expect
            );
            scan.damage = damage(&walk, reason);
        }
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::RecordIn;
    use crate::storage::partition::Durability;
    use crate::{Log, Placed, TopicConfig};
    use std::time::Duration;

    fn log_with(dir: &Path, records: usize) -> Log {
        let log = Log::open(dir, Durability::None, Duration::from_secs(1)).unwrap();
        let config = TopicConfig {
            partitions: 1,
            segment_bytes: 4096,
            // Old timestamps: kept, not expired by retention.
            retention_ms: -1,
            ..TopicConfig::default()
        };
        log.create_topic("t", &config).unwrap();
        let value = [7u8; 300];
        for i in 0..records {
            let placed = [Placed {
                partition: Some(0),
                record: RecordIn {
                    key: None,
                    value: Some(&value),
                    headers: &[],
                    timestamp: 1000 + i as i64,
                },
            }];
            log.append("t", &placed, 0).unwrap();
        }
        log
    }

    fn scan_all(files: &PartitionFiles) -> Vec<(Vec<BatchInfo>, SegmentScan)> {
        (0..files.segments.len())
            .map(|i| {
                let mut seen = Vec::new();
                let scan = scan_segment(files, i, 0, |b| seen.push(*b)).unwrap();
                (seen, scan)
            })
            .collect()
    }

    #[test]
    fn walks_every_batch_of_every_segment() {
        let dir = tempfile::tempdir().unwrap();
        let _log = log_with(dir.path(), 40);
        let files = partition_files(dir.path(), "t", 0).unwrap();
        assert_eq!(files.offsets, Some((0, 40)));
        assert!(files.segments.len() > 2, "{:?}", files.segments);
        let mut next = 0;
        for (i, (batches, scan)) in scan_all(&files).into_iter().enumerate() {
            assert_eq!(scan.damage, None);
            assert_eq!(scan.bytes, files.segments[i].bytes);
            assert_eq!(batches.len() as u64, scan.batches);
            for b in batches {
                assert_eq!((b.base_offset, b.last_offset, b.count), (next, next, 1));
                assert_eq!(b.first_timestamp, 1000 + next as i64);
                assert!(b.crc_ok);
                next += 1;
            }
        }
        assert_eq!(next, 40);
    }

    #[test]
    fn from_skips_earlier_batches() {
        let dir = tempfile::tempdir().unwrap();
        let _log = log_with(dir.path(), 5);
        let files = partition_files(dir.path(), "t", 0).unwrap();
        let mut seen = Vec::new();
        let scan = scan_segment(&files, 0, 3, |b| seen.push(b.base_offset)).unwrap();
        assert_eq!(seen, vec![3, 4]);
        assert_eq!(scan.batches, 5);
    }

    #[test]
    fn a_flipped_byte_stops_the_segment_with_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let _log = log_with(dir.path(), 40);
        let files = partition_files(dir.path(), "t", 0).unwrap();
        let second = scan_all(&files)[0].0[1];
        let at = second.position + second.size - 1;
        let path = files.dir.join(&files.segments[0].file);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[at as usize] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let scans = scan_all(&files);
        let (batches, scan) = &scans[0];
        let damage = scan.damage.as_ref().unwrap();
        assert_eq!((damage.position, damage.offset), (second.position, 1));
        assert_eq!(damage.reason, "CRC mismatch");
        assert_eq!(scan.batches, 1);
        assert!(!batches[1].crc_ok);
        assert_eq!(batches.len(), 2);
        assert!(scans[1..].iter().all(|(_, s)| s.damage.is_none()));
    }

    #[test]
    fn garbage_a_bad_base_offset_and_a_short_segment_are_damage() {
        let dir = tempfile::tempdir().unwrap();
        let _log = log_with(dir.path(), 40);
        let files = partition_files(dir.path(), "t", 0).unwrap();
        let path = |i: usize| files.dir.join(&files.segments[i].file);
        let first = scan_all(&files)[0].0.clone();

        let good = std::fs::read(path(0)).unwrap();
        let mut bytes = good.clone();
        bytes[first[1].position as usize] ^= 1; // base offset: outside the CRC
        std::fs::write(path(0), &bytes).unwrap();
        let damage = scan_segment(&files, 0, 0, |_| {}).unwrap().damage.unwrap();
        assert_eq!(damage.reason, "base offset 0 where 1 was expected");
        std::fs::write(path(0), &good).unwrap();

        let mut bytes = std::fs::read(path(1)).unwrap();
        bytes[12] = 0; // magic
        std::fs::write(path(1), &bytes).unwrap();
        let damage = scan_segment(&files, 1, 0, |_| {}).unwrap().damage.unwrap();
        assert_eq!(
            (damage.position, damage.reason.as_str()),
            (0, "no valid batch header")
        );

        let last = first.last().unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(path(0))
            .unwrap()
            .set_len(last.position + 10)
            .unwrap();
        let files = partition_files(dir.path(), "t", 0).unwrap();
        let damage = scan_segment(&files, 0, 0, |_| {}).unwrap().damage.unwrap();
        assert!(damage.reason.starts_with("truncated"), "{}", damage.reason);
    }

    #[test]
    fn a_segment_ending_early_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let _log = log_with(dir.path(), 40);
        let files = partition_files(dir.path(), "t", 0).unwrap();
        let first = scan_all(&files)[0].0.clone();
        let last = first.last().unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(files.dir.join(&files.segments[0].file))
            .unwrap()
            .set_len(last.position)
            .unwrap();
        let damage = scan_segment(&files, 0, 0, |_| {}).unwrap().damage.unwrap();
        assert_eq!(damage.offset, last.base_offset);
        assert!(damage.reason.contains("missing"), "{}", damage.reason);
    }

    #[test]
    fn stops_at_the_published_end() {
        let dir = tempfile::tempdir().unwrap();
        let _log = log_with(dir.path(), 3);
        let mut files = partition_files(dir.path(), "t", 0).unwrap();
        let path = files.dir.join(&files.segments[0].file);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0xAB; 100]); // a crashed writer's leftovers
        std::fs::write(&path, &bytes).unwrap();
        let scan = scan_segment(&files, 0, 0, |_| {}).unwrap();
        assert_eq!((scan.batches, scan.damage), (3, None));
        files.offsets = None; // an unreadable state: everything is walked
        let scan = scan_segment(&files, 0, 0, |_| {}).unwrap();
        assert_eq!(scan.damage.unwrap().offset, 3);
    }

    #[test]
    fn unknown_topics_and_partitions_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let _log = log_with(dir.path(), 0);
        let err = partition_files(dir.path(), "nope", 0).unwrap_err();
        assert_eq!(err.code, Code::UnknownTopic);
        let err = partition_files(dir.path(), "t", 1).unwrap_err();
        assert_eq!(err.code, Code::InvalidPartition);
        let err = partition_files(dir.path(), "../t", 0).unwrap_err();
        assert_eq!(err.code, Code::InvalidTopic);
    }
}
