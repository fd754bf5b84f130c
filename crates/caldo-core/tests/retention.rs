//! Retention on real files: by time, by size, deleteRecords, alterTopic,
//! the cleaner lock, and a clean cut short by a crash.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use caldo_core::internals::{layout, segment};
use caldo_core::{
    CleanupPolicy, Code, Cursor, Durability, Log, Placed, Position, RecordIn, TopicChanges,
    TopicConfig,
};

const DAY: i64 = 86_400_000;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn open(dir: &Path) -> Log {
    Log::open_with(dir, Durability::None, Duration::from_secs(1), None).unwrap()
}

fn topic(log: &Log, name: &str, cfg: TopicConfig) {
    let cfg = TopicConfig {
        partitions: 1,
        segment_bytes: 4096,
        ..cfg
    };
    log.create_topic(name, &cfg).unwrap();
}

/// Appends `n` records of 500 bytes stamped `ts`, one append each, with
/// keys unique in the call; returns the last offset.
fn append(log: &Log, name: &str, n: usize, ts: i64) -> u64 {
    let value = [1u8; 500];
    let mut last = 0;
    for i in 0..n {
        let key = i.to_string();
        let r = Placed {
            partition: Some(0),
            record: RecordIn {
                key: Some(key.as_bytes()),
                value: Some(&value),
                headers: &[],
                timestamp: ts,
            },
        };
        last = log.append(name, &[r], 0).unwrap()[0].1;
    }
    last
}

fn pdir(dir: &Path, name: &str) -> PathBuf {
    dir.join("topics").join(name).join("0")
}

fn offsets(c: &mut Cursor) -> Vec<u64> {
    let mut out = Vec::new();
    c.fetch(usize::MAX, &mut |r| {
        out.push(r.offset);
        true
    })
    .unwrap();
    out
}

fn low(log: &Log, name: &str) -> u64 {
    let info = log.topics(false).unwrap();
    info.iter().find(|t| t.name == name).unwrap().partitions[0].low
}

#[test]
fn by_time_old_segments_go_the_active_stays_and_a_lagging_cursor_moves_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    topic(
        &log,
        "t",
        TopicConfig {
            retention_ms: DAY,
            ..Default::default()
        },
    );
    append(&log, "t", 30, now() - 3 * DAY);
    let mut lagging = log.cursor("t", 0, Position::Earliest).unwrap();
    let before = segment::list(&pdir(dir.path(), "t")).unwrap();
    assert!(before.len() > 3, "{before:?}");
    // Nothing newer yet: every sealed segment goes, the active one stays.
    let r = log.clean().unwrap();
    assert_eq!(r.segments, before.len() as u64 - 1);
    let after = segment::list(&pdir(dir.path(), "t")).unwrap();
    assert_eq!(after, [*before.last().unwrap()]);
    assert_eq!(low(&log, "t"), after[0]);
    assert_eq!(r.partitions[0].removed.log_start, after[0]);
    // New records keep their segments, the old active one too (its largest
    // timestamp is new now).
    append(&log, "t", 30, now());
    assert_eq!(log.clean().unwrap().segments, 0);
    let kept = segment::list(&pdir(dir.path(), "t")).unwrap();
    assert_eq!(kept[0], after[0], "{kept:?}");
    let got = offsets(&mut lagging);
    assert_eq!(
        got[0], kept[0],
        "the lagging cursor goes on from the log start"
    );
    assert_eq!(lagging.take_reset(), Some((0, kept[0])));
    assert_eq!(lagging.take_reset(), None);
    // Nothing left to do: a second clean removes nothing.
    assert_eq!(log.clean().unwrap().segments, 0);
}

#[test]
fn by_size_keeps_at_least_retention_bytes_and_compact_keeps_all() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    topic(
        &log,
        "s",
        TopicConfig {
            retention_bytes: 8192,
            ..Default::default()
        },
    );
    topic(
        &log,
        "c",
        TopicConfig {
            retention_bytes: 1,
            retention_ms: 1,
            cleanup_policy: CleanupPolicy::Compact,
            ..Default::default()
        },
    );
    append(&log, "s", 60, now());
    append(&log, "c", 60, now() - DAY);
    log.clean().unwrap();
    let sizes = segment::sizes(&pdir(dir.path(), "s")).unwrap();
    let total: u64 = sizes.iter().map(|s| s.1).sum();
    assert!(total >= 8192, "keeps at least retentionBytes: {sizes:?}");
    assert!(total - sizes[0].1 < 8192, "drops what it can: {sizes:?}");
    assert_eq!(low(&log, "s"), sizes[0].0);
    assert!(segment::list(&pdir(dir.path(), "c")).unwrap().len() > 3);
    assert_eq!(low(&log, "c"), 0);
}

#[test]
fn delete_records_moves_the_log_start_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    topic(&log, "t", TopicConfig::default());
    let last = append(&log, "t", 30, now());
    let e = log.delete_records("t", 0, last + 2).unwrap_err();
    assert_eq!(e.code, Code::OffsetOutOfRange);
    let e = log.delete_records("nope", 0, 0).unwrap_err();
    assert_eq!(e.code, Code::UnknownTopic);
    let e = log.delete_records("t", 3, 0).unwrap_err();
    assert_eq!(e.code, Code::InvalidPartition);
    let segs = segment::list(&pdir(dir.path(), "t")).unwrap();
    let mid = segs[2] + 1;
    assert_eq!(log.delete_records("t", 0, mid).unwrap(), mid);
    assert_eq!(segment::list(&pdir(dir.path(), "t")).unwrap()[0], segs[2]);
    assert_eq!(
        log.delete_records("t", 0, 1).unwrap(),
        mid,
        "never moves back"
    );
    let mut c = log.cursor("t", 0, Position::Earliest).unwrap();
    assert_eq!(offsets(&mut c)[0], mid);
    let mut c = log.cursor("t", 0, Position::Offset(0)).unwrap();
    assert_eq!(c.take_reset(), Some((0, mid)));
    drop(log);
    let log = open(dir.path());
    assert_eq!(low(&log, "t"), mid);
    assert_eq!(log.delete_records("t", 0, last + 1).unwrap(), last + 1);
    assert_eq!(low(&log, "t"), last + 1);
    let mut c = log.cursor("t", 0, Position::Earliest).unwrap();
    assert!(offsets(&mut c).is_empty());
    append(&log, "t", 1, now());
    assert_eq!(offsets(&mut c), [last + 1]);
}

#[test]
fn alter_topic_is_seen_by_another_log_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path());
    let b = open(dir.path());
    topic(&a, "t", TopicConfig::default());
    append(&b, "t", 20, now() - 3 * DAY);
    assert_eq!(b.clean().unwrap().segments, 0, "7 days by default");
    let info = a
        .alter_topic(
            "t",
            &TopicChanges {
                retention_ms: Some(DAY),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(info.config.retention_ms, DAY);
    assert!(
        b.clean().unwrap().segments > 0,
        "the other log reads the new config"
    );
    let t = b.topics(false).unwrap();
    assert_eq!(t[0].config.retention_ms, DAY);
    assert_eq!(t[0].config.segment_bytes, 4096, "other settings kept");
    for (changes, code) in [
        (
            TopicChanges {
                partitions: Some(2),
                ..Default::default()
            },
            Code::InvalidArg,
        ),
        (
            TopicChanges {
                retention_ms: Some(0),
                ..Default::default()
            },
            Code::InvalidArg,
        ),
        (
            TopicChanges {
                segment_ms: Some(0),
                ..Default::default()
            },
            Code::InvalidArg,
        ),
        (
            TopicChanges {
                min_cleanable_dirty_ratio: Some(2.0),
                ..Default::default()
            },
            Code::InvalidArg,
        ),
    ] {
        assert_eq!(a.alter_topic("t", &changes).unwrap_err().code, code);
    }
    let e = a.alter_topic("nope", &TopicChanges::default()).unwrap_err();
    assert_eq!(e.code, Code::UnknownTopic);
    assert!(!dir.path().join("topics/nope").exists());
    // An old topic.json without the new fields reads with the defaults.
    let json = dir.path().join("topics/t/topic.json");
    std::fs::write(
        &json,
        br#"{"partitions":1,"segmentBytes":4096,"maxMessageBytes":1048576}"#,
    )
    .unwrap();
    let c = open(dir.path());
    let t = c.topics(false).unwrap();
    assert_eq!(t[0].config.retention_ms, 7 * DAY);
    assert_eq!(t[0].config.cleanup_policy, CleanupPolicy::Delete);
}

#[test]
fn segment_ms_rolls_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.create_topic(
        "t",
        &TopicConfig {
            segment_ms: 50,
            ..Default::default()
        },
    )
    .unwrap();
    append(&log, "t", 2, now());
    assert_eq!(segment::list(&pdir(dir.path(), "t")).unwrap().len(), 1);
    std::thread::sleep(Duration::from_millis(80));
    append(&log, "t", 1, now());
    assert_eq!(segment::list(&pdir(dir.path(), "t")).unwrap(), [0, 2]);
}

#[test]
fn a_partition_another_process_cleans_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    topic(
        &log,
        "t",
        TopicConfig {
            retention_ms: DAY,
            ..Default::default()
        },
    );
    append(&log, "t", 30, now() - 3 * DAY);
    let lock = std::fs::File::open(pdir(dir.path(), "t").join("cleaner"))
        .or_else(|_| std::fs::File::create(pdir(dir.path(), "t").join("cleaner")))
        .unwrap();
    // Another open file description holding the lock, as another process would.
    caldo_core::internals::lock::hold(&lock).unwrap();
    let r = log.clean().unwrap();
    assert_eq!((r.segments, r.busy), (0, 1));
    drop(lock);
    assert!(log.clean().unwrap().segments > 0);
}

#[test]
fn a_clean_cut_short_by_a_crash_leaves_a_readable_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    topic(&log, "t", TopicConfig::default());
    append(&log, "t", 30, now());
    let p = pdir(dir.path(), "t");
    let segs = segment::list(&p).unwrap();
    // The cleaner moved the log start to segs[2], removed segs[0]'s log file
    // and died: segs[0]'s index and all of segs[1] are left.
    log.delete_records("t", 0, 0).unwrap();
    caldo_core::internals::state::State::open(&p.join("state"))
        .unwrap()
        .advance_log_start(segs[2]);
    std::fs::remove_file(layout::segment_log(&p, segs[0])).unwrap();
    drop(log);
    let log = open(dir.path());
    assert_eq!(low(&log, "t"), segs[2]);
    let mut c = log.cursor("t", 0, Position::Earliest).unwrap();
    assert_eq!(offsets(&mut c)[0], segs[2]);
    let r = log.clean().unwrap();
    assert_eq!(r.segments, 1);
    assert!(!layout::segment_index(&p, segs[0]).exists());
    assert!(!layout::segment_log(&p, segs[1]).exists());
    assert_eq!(segment::list(&p).unwrap()[0], segs[2]);
}

#[test]
fn a_topic_created_again_is_judged_by_its_own_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let cfg = TopicConfig {
        retention_ms: DAY,
        ..Default::default()
    };
    topic(&log, "t", cfg.clone());
    append(&log, "t", 30, now() - 3 * DAY);
    assert!(log.clean().unwrap().segments > 0);
    log.delete_topic("t").unwrap();
    topic(&log, "t", cfg);
    append(&log, "t", 30, now());
    assert_eq!(log.clean().unwrap().segments, 0, "fresh segments stay");
    assert_eq!(low(&log, "t"), 0);
}
