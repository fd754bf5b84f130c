//! Offsets by time on real files: the time index written by appends, its
//! lookups against a brute-force scan, timestamps that go backwards, crash
//! recovery and segments written before time indexes existed.

use std::path::Path;
use std::time::Duration;

use caldo_core::internals::state::State;
use caldo_core::internals::{layout, segment};
use caldo_core::{Code, Cursor, Durability, Log, Placed, Position, RecordIn, TopicConfig};

fn open(dir: &Path) -> Log {
    Log::open(dir, Durability::None, Duration::from_secs(1)).unwrap()
}

// The update keeps this test's topics valid as the config grows fields.
#[allow(clippy::needless_update)]
fn small_topic(log: &Log, name: &str) {
    let cfg = TopicConfig {
        partitions: 1,
        segment_bytes: 16384,
        max_message_bytes: 4096,
        // Records are stamped long ago: keep them past the default retention.
        retention_ms: -1,
        ..TopicConfig::default()
    };
    log.create_topic(name, &cfg).unwrap();
}

/// The timestamp of record `i`: mostly rising, every 7th one far in the past,
/// every 13th one a little in the future.
fn ts_of(i: u64) -> i64 {
    let t = 1_000_000 + i as i64 * 10;
    match (i % 7, i % 13) {
        (0, _) => t - 5_000,
        (_, 0) => t + 35,
        _ => t,
    }
}

/// Appends records `from..to` in calls of `per_call` records.
fn append(log: &Log, from: u64, to: u64, per_call: u64) {
    let values: Vec<Vec<u8>> = (from..to)
        .map(|i| format!("v{i:06}-{}", "x".repeat(60)).into_bytes())
        .collect();
    let mut i = from;
    for chunk in values.chunks(per_call as usize) {
        let recs: Vec<Placed> = chunk
            .iter()
            .enumerate()
            .map(|(k, v)| Placed {
                partition: Some(0),
                record: RecordIn {
                    key: None,
                    value: Some(v),
                    headers: &[],
                    timestamp: ts_of(i + k as u64),
                },
            })
            .collect();
        log.append("t", &recs, 0).unwrap();
        i += chunk.len() as u64;
    }
}

fn all(c: &mut Cursor) -> Vec<(u64, i64)> {
    let mut out = Vec::new();
    c.fetch(usize::MAX, &mut |r| {
        out.push((r.offset, r.timestamp));
        true
    })
    .unwrap();
    out
}

/// Every interesting target agrees with a brute-force scan.
fn check(log: &Log) {
    let records = all(&mut log.cursor("t", 0, Position::Earliest).unwrap());
    let max = records.iter().map(|r| r.1).max().unwrap();
    let min = records.iter().map(|r| r.1).min().unwrap();
    let mut targets: Vec<i64> = vec![0, min - 1, min, max, max + 1, i64::MAX];
    targets.extend(
        records
            .iter()
            .step_by(17)
            .flat_map(|r| [r.1 - 1, r.1, r.1 + 1]),
    );
    for t in targets {
        let want = records.iter().find(|r| r.1 >= t).map(|r| r.0);
        assert_eq!(log.offset_for_time("t", 0, t).unwrap(), want, "target {t}");
    }
    let hw = records.len() as u64;
    assert_eq!(
        log.offset_for_time_or_end("t", 0, max + 1).unwrap(),
        Err(hw)
    );
}

fn pdir(dir: &Path) -> std::path::PathBuf {
    dir.join("topics/t/0")
}

/// The active segment's time index has one entry per offset-index entry.
fn active_indexes_agree(dir: &Path) {
    let p = pdir(dir);
    let last = *segment::list(&p).unwrap().last().unwrap();
    let index = std::fs::metadata(layout::segment_index(&p, last))
        .unwrap()
        .len();
    let time = std::fs::metadata(layout::segment_time_index(&p, last))
        .unwrap()
        .len();
    assert_eq!(
        index / 8,
        time / 12,
        "index {index} bytes, time index {time} bytes"
    );
}

#[test]
fn lookups_match_a_scan_over_segments_and_batches() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    small_topic(&log, "t");
    append(&log, 0, 1500, 1);
    append(&log, 1500, 3000, 40);
    let bases = segment::list(&pdir(dir.path())).unwrap();
    assert!(bases.len() > 5, "{bases:?}");
    for (i, &b) in bases.iter().enumerate() {
        let path = layout::segment_time_index(&pdir(dir.path()), b);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() % 12, 0);
        if let Some(&next) = bases.get(i + 1) {
            // A sealed segment ends with an entry at its end.
            let last = &bytes[bytes.len() - 12..];
            assert_eq!(
                u64::from(u32::from_le_bytes(last[8..].try_into().unwrap())),
                next - b
            );
        }
    }
    active_indexes_agree(dir.path());
    check(&log);
    assert_eq!(log.offset_for_time("t", 0, 0).unwrap(), Some(0));
    let e = log.offset_for_time("nope", 0, 0).unwrap_err();
    assert_eq!(e.code, Code::UnknownTopic);
    let e = log.offset_for_time("t", 9, 0).unwrap_err();
    assert_eq!(e.code, Code::InvalidPartition);
}

#[test]
fn an_empty_partition_has_no_offset_for_any_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    small_topic(&log, "t");
    assert_eq!(log.offset_for_time("t", 0, 0).unwrap(), None);
    assert_eq!(log.offset_for_time_or_end("t", 0, 5).unwrap(), Err(0));
}

#[test]
fn two_writers_keep_the_index_true() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path());
    small_topic(&a, "t");
    let b = open(dir.path());
    for round in 0..30u64 {
        let w = if round % 2 == 0 { &a } else { &b };
        append(w, round * 100, round * 100 + 100, 1 + round % 5);
    }
    active_indexes_agree(dir.path());
    check(&a);
    check(&b);
}

fn torn_tail(dir: &Path) {
    let p = pdir(dir);
    let last = *segment::list(&p).unwrap().last().unwrap();
    for (path, junk) in [
        (layout::segment_log(&p, last), vec![0xAB; 5000]),
        (layout::segment_time_index(&p, last), vec![0x11; 30]),
        (layout::segment_index(&p, last), vec![0x22; 20]),
    ] {
        let Ok(mut bytes) = std::fs::read(&path) else {
            continue; // a segment without a time index
        };
        bytes.extend_from_slice(&junk);
        std::fs::write(&path, bytes).unwrap();
    }
    State::open(&p.join("state")).unwrap().begin();
}

#[test]
fn a_crash_torn_tail_is_cut_from_the_time_index_too() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path());
        small_topic(&log, "t");
        append(&log, 0, 900, 3);
    }
    torn_tail(dir.path());
    let log = open(dir.path());
    check(&log);
    active_indexes_agree(dir.path());
    append(&log, 900, 1300, 2);
    active_indexes_agree(dir.path());
    check(&log);
}

#[test]
fn a_state_from_another_boot_rebuilds_the_time_index() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path());
        small_topic(&log, "t");
        append(&log, 0, 1000, 4);
    }
    torn_tail(dir.path());
    std::fs::write(pdir(dir.path()).join("state"), vec![0xEEu8; 4096]).unwrap();
    let log = open(dir.path());
    check(&log);
    active_indexes_agree(dir.path());
    append(&log, 1000, 1200, 1);
    check(&log);
}

#[test]
fn segments_without_a_time_index_still_answer() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path());
        small_topic(&log, "t");
        append(&log, 0, 1200, 1);
    }
    // As a log written before time indexes existed.
    let p = pdir(dir.path());
    for b in segment::list(&p).unwrap() {
        std::fs::remove_file(layout::segment_time_index(&p, b)).unwrap();
    }
    let log = open(dir.path());
    check(&log);
    // The next append builds the active segment's index from its log.
    append(&log, 1200, 1700, 1);
    active_indexes_agree(dir.path());
    check(&log);
    // And a crashed writer on such a segment is recovered, index included.
    let last = *segment::list(&p).unwrap().last().unwrap();
    std::fs::remove_file(layout::segment_time_index(&p, last)).unwrap();
    drop(log);
    torn_tail(dir.path());
    let log = open(dir.path());
    check(&log);
    active_indexes_agree(dir.path());
}

#[test]
fn deleting_a_topic_removes_its_time_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    small_topic(&log, "t");
    append(&log, 0, 10, 1);
    assert!(layout::segment_time_index(&pdir(dir.path()), 0).exists());
    log.delete_topic("t").unwrap();
    assert!(!pdir(dir.path()).exists());
    assert_eq!(
        log.offset_for_time("t", 0, 0).unwrap_err().code,
        Code::UnknownTopic
    );
}
