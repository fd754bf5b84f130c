//! End-to-end checks of the engine on real files.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use caldo_core::internals::state::State;
use caldo_core::internals::{files, layout, segment};
use caldo_core::{Code, Cursor, Durability, Log, Placed, Position, RecordIn, TopicConfig};

fn open(dir: &Path) -> Log {
    Log::open(dir, Durability::None, Duration::from_secs(1)).unwrap()
}

fn rec(value: &[u8]) -> Placed<'_> {
    Placed {
        partition: Some(0),
        record: RecordIn {
            key: None,
            value: Some(value),
            headers: &[],
            timestamp: 7,
        },
    }
}

fn read_all(c: &mut Cursor) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    c.fetch(usize::MAX, &mut |r| {
        out.push((r.offset, r.value.unwrap_or_default().to_vec()));
        true
    })
    .unwrap();
    out
}

fn small_topic(log: &Log, name: &str) {
    let cfg = TopicConfig {
        partitions: 1,
        segment_bytes: 8192,
        max_message_bytes: 4096,
        // Old timestamps: kept, not expired by retention.
        retention_ms: -1,
        ..Default::default()
    };
    log.create_topic(name, &cfg).unwrap();
}

#[test]
fn appends_read_back_across_segment_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    small_topic(&log, "t");
    for i in 0..2000u32 {
        let v = format!("value-{i:05}-{}", "x".repeat(80));
        let out = log.append("t", &[rec(v.as_bytes())], 0).unwrap();
        assert_eq!(out, vec![(0, u64::from(i))]);
    }
    let segs = segment::list(&dir.path().join("topics/t/0")).unwrap();
    assert!(segs.len() > 10, "segments rolled: {segs:?}");
    let mut c = log.cursor("t", 0, Position::Earliest).unwrap();
    let all = read_all(&mut c);
    assert_eq!(all.len(), 2000);
    for (i, (off, v)) in all.iter().enumerate() {
        assert_eq!(*off, i as u64);
        assert!(v.starts_with(format!("value-{i:05}").as_bytes()));
    }
    // Seek into the middle of a later segment, through its index.
    for target in [0u64, 1, 777, 1999] {
        c.seek(Position::Offset(target));
        let mut first = None;
        c.fetch(1, &mut |r| {
            first = Some(r.offset);
            true
        })
        .unwrap();
        assert_eq!(first, Some(target));
    }
    c.seek(Position::Latest);
    assert_eq!(c.position(), 2000);
    assert!(read_all(&mut c).is_empty());
}

#[test]
fn fetch_stops_mid_batch_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    small_topic(&log, "t");
    let values: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i]).collect();
    let recs: Vec<Placed> = values.iter().map(|v| rec(v)).collect();
    log.append("t", &recs, 0).unwrap();
    let mut c = log.cursor("t", 0, Position::Earliest).unwrap();
    let mut got = Vec::new();
    assert_eq!(
        c.fetch(3, &mut |r| {
            got.push(r.offset);
            true
        })
        .unwrap(),
        3
    );
    assert_eq!(
        c.fetch(100, &mut |r| {
            got.push(r.offset);
            r.offset < 5
        })
        .unwrap(),
        3
    );
    assert_eq!(
        c.fetch(100, &mut |r| {
            got.push(r.offset);
            true
        })
        .unwrap(),
        4
    );
    assert_eq!(got, (0..10).collect::<Vec<u64>>());
}

#[test]
fn one_record_fetches_go_on_inside_a_batch_and_start_over_after_a_seek() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    small_topic(&log, "t");
    let values: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; usize::from(i) + 1]).collect();
    for half in values.chunks(10) {
        let recs: Vec<Placed> = half.iter().map(|v| rec(v)).collect();
        log.append("t", &recs, 0).unwrap();
    }
    let mut c = log.cursor("t", 0, Position::Earliest).unwrap();
    let one = |c: &mut Cursor| {
        let mut got = None;
        let n = c
            .fetch(1, &mut |r| {
                got = Some((r.offset, r.value.unwrap().to_vec()));
                true
            })
            .unwrap();
        assert_eq!(n, 1);
        got.unwrap()
    };
    for i in 0..7u64 {
        assert_eq!(one(&mut c), (i, values[i as usize].clone()));
    }
    // Back into the batch it stopped in, then on across the next one.
    c.seek(Position::Offset(2));
    for i in 2..20u64 {
        assert_eq!(one(&mut c), (i, values[i as usize].clone()));
    }
    assert_eq!(c.fetch(1, &mut |_| true).unwrap(), 0);
}

#[test]
fn placement_by_partition_key_and_round_robin() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.create_topic(
        "t",
        &TopicConfig {
            partitions: 4,
            ..Default::default()
        },
    )
    .unwrap();
    let r = |partition, key: Option<&'static [u8]>| Placed {
        partition,
        record: RecordIn {
            key,
            value: None,
            headers: &[],
            timestamp: 0,
        },
    };
    let out = log
        .append(
            "t",
            &[r(Some(3), Some(b"0")), r(None, Some(b"0")), r(None, None)],
            6,
        )
        .unwrap();
    assert_eq!(out[0], (3, 0));
    assert_eq!(out[1].0, 971027396 % 4);
    assert_eq!(out[2].0, 6 % 4);
    let err = log.append("t", &[r(Some(4), None)], 0).unwrap_err();
    assert_eq!(err.code, Code::InvalidPartition);
}

#[test]
fn rejected_appends_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    small_topic(&log, "t");
    let big = vec![0u8; 5000];
    let err = log.append("t", &[rec(b"ok"), rec(&big)], 0).unwrap_err();
    assert_eq!(err.code, Code::MessageTooLarge);
    assert_eq!(log.topics(false).unwrap()[0].partitions[0].high, 0);
    assert_eq!(
        log.append("nope", &[rec(b"x")], 0).unwrap_err().code,
        Code::UnknownTopic
    );
    assert_eq!(
        log.append("../x", &[rec(b"x")], 0).unwrap_err().code,
        Code::InvalidTopic
    );
    assert_eq!(
        log.create_topic("t", &TopicConfig::default())
            .unwrap_err()
            .code,
        Code::TopicExists
    );
}

#[test]
fn concurrent_writers_through_separate_handles_stay_dense() {
    writers_stay_dense(false);
}

#[test]
fn concurrent_writers_stay_dense_while_the_file_cache_closes_every_file() {
    writers_stay_dense(true);
}

/// Four writers append pairs; with `evict`, each closes every cached file
/// (state locks and active segments, the others' too) after each append.
fn writers_stay_dense(evict: bool) {
    // Separate Log instances hold separate file descriptions, so they contend
    // on the flock exactly as separate processes do.
    let dir = tempfile::tempdir().unwrap();
    small_topic(&open(dir.path()), "t");
    let writers: Vec<_> = (0..4u8)
        .map(|w| {
            let path = dir.path().to_path_buf();
            std::thread::spawn(move || {
                let log = open(&path);
                let mut reader = log.cursor("t", 0, Position::Earliest).unwrap();
                let mut read = 0;
                for i in 0..500u32 {
                    let v = [vec![w], i.to_le_bytes().to_vec()].concat();
                    log.append("t", &[rec(&v), rec(&v)], 0).unwrap();
                    if evict {
                        files::files().evict_to(0);
                        // A reader across rolls and closed files misses nothing.
                        for (off, _) in read_all(&mut reader) {
                            assert_eq!(off, read);
                            read += 1;
                        }
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let log = open(dir.path());
    let all = read_all(&mut log.cursor("t", 0, Position::Earliest).unwrap());
    assert_eq!(all.len(), 4000);
    let mut last = [None::<u32>; 4];
    for (i, (off, v)) in all.iter().enumerate() {
        assert_eq!(*off, i as u64);
        let seq = u32::from_le_bytes(v[1..5].try_into().unwrap());
        let prev = &mut last[v[0] as usize];
        // Each pair is contiguous and each writer's order is kept.
        assert!(
            prev.is_none_or(|p| p == seq || p + 1 == seq),
            "writer {} went {prev:?} -> {seq}",
            v[0]
        );
        *prev = Some(seq);
    }
}

fn torn_tail(dir: &Path, junk: &[u8]) {
    let pdir = dir.join("topics/t/0");
    let last = *segment::list(&pdir).unwrap().last().unwrap();
    let path = layout::segment_log(&pdir, last);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(junk);
    std::fs::write(&path, bytes).unwrap();
    // What a writer killed mid-append leaves: the flag set, the bytes unpublished.
    State::open(&pdir.join("state")).unwrap().begin();
}

#[test]
fn a_crashed_writer_is_cut_back_to_the_published_end() {
    for junk in [vec![0u8; 100], vec![0xAB; 3000], {
        // A whole, valid-looking but unpublished batch.
        let mut b = Vec::new();
        caldo_core::internals::batch::encode(
            &mut b,
            300,
            &[RecordIn {
                key: None,
                value: Some(b"ghost"),
                headers: &[],
                timestamp: 0,
            }],
            &caldo_core::internals::batch::Stamp::NONE,
        );
        b
    }] {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = open(dir.path());
            small_topic(&log, "t");
            for i in 0..300u32 {
                log.append("t", &[rec(&i.to_le_bytes())], 0).unwrap();
            }
        }
        torn_tail(dir.path(), &junk);
        let log = open(dir.path());
        assert_eq!(
            log.append("t", &[rec(b"after")], 0).unwrap(),
            vec![(0, 300)]
        );
        let all = read_all(&mut log.cursor("t", 0, Position::Earliest).unwrap());
        assert_eq!(all.len(), 301);
        assert_eq!(all[300].1, b"after");
        assert!(all.iter().all(|(_, v)| v != b"ghost"));
    }
}

#[test]
fn a_state_from_another_boot_is_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path());
        small_topic(&log, "t");
        for i in 0..500u32 {
            log.append("t", &[rec(&i.to_le_bytes())], 0).unwrap();
        }
    }
    // Garbage after the last batch, and a state file that cannot be trusted.
    torn_tail(dir.path(), &[0x5A; 777]);
    let state = dir.path().join("topics/t/0/state");
    std::fs::write(&state, vec![0xEEu8; 4096]).unwrap();
    let log = open(dir.path());
    let info = &log.topics(false).unwrap()[0].partitions[0];
    assert_eq!((info.low, info.high), (0, 500));
    assert_eq!(log.append("t", &[rec(b"next")], 0).unwrap(), vec![(0, 500)]);
    assert_eq!(
        read_all(&mut log.cursor("t", 0, Position::Offset(499)).unwrap()).len(),
        2
    );
}

#[test]
fn a_flipped_bit_is_reported_as_corrupt_not_returned() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    small_topic(&log, "t");
    for i in 0..100u32 {
        log.append("t", &[rec(&i.to_le_bytes())], 0).unwrap();
    }
    let path = layout::segment_log(&dir.path().join("topics/t/0"), 0);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[700] ^= 0x10;
    std::fs::write(&path, bytes).unwrap();
    let mut c = log.cursor("t", 0, Position::Earliest).unwrap();
    let mut seen = 0;
    let err = c
        .fetch(usize::MAX, &mut |_| {
            seen += 1;
            true
        })
        .unwrap_err();
    assert_eq!(err.code, Code::Corrupt);
    assert!(
        err.message.contains("topic 't' partition 0 at offset"),
        "{}",
        err.message
    );
    assert!(seen < 100);
}

#[test]
fn deleting_a_topic_stops_other_handles() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path()), open(dir.path()));
    small_topic(&a, "t");
    b.append("t", &[rec(b"x")], 0).unwrap();
    let mut c = b.cursor("t", 0, Position::Earliest).unwrap();
    a.delete_topic("t").unwrap();
    assert_eq!(
        b.append("t", &[rec(b"x")], 0).unwrap_err().code,
        Code::UnknownTopic
    );
    assert_eq!(
        c.fetch(10, &mut |_| true).unwrap_err().code,
        Code::UnknownTopic
    );
    small_topic(&a, "t");
    assert_eq!(b.append("t", &[rec(b"y")], 0).unwrap(), vec![(0, 0)]);
    assert!(a
        .topics(false)
        .unwrap()
        .iter()
        .all(|t| !t.name.starts_with('.')));
}

#[test]
fn an_append_wakes_a_waiting_reader() {
    let dir = tempfile::tempdir().unwrap();
    let a = Arc::new(open(dir.path()));
    small_topic(&a, "t");
    let b = open(dir.path());
    let seen = b.wake_seq();
    let a2 = a.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        a2.append("t", &[rec(b"x")], 0).unwrap();
    });
    // A wait that only times out returns late: the append must cut it short.
    let timeout = Duration::from_secs(10);
    let start = Instant::now();
    let moved = b.wait(seen, timeout);
    let took = start.elapsed();
    assert!(moved, "the wait saw no append");
    assert!(took < timeout / 2, "woken only by the timeout: {took:?}");
    // The append was published before the wake: it is readable already.
    let all = read_all(&mut b.cursor("t", 0, Position::Earliest).unwrap());
    assert_eq!(all, vec![(0, b"x".to_vec())]);
    t.join().unwrap();
}

#[test]
fn always_durability_appends_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Durability::Always, Duration::from_secs(1)).unwrap();
    small_topic(&log, "t");
    for i in 0..50u32 {
        log.append("t", &[rec(&i.to_le_bytes())], 0).unwrap();
    }
    log.close().unwrap();
    assert_eq!(
        log.append("t", &[rec(b"x")], 0).unwrap_err().code,
        Code::Closed
    );
}

#[test]
fn junk_after_a_sealed_segments_last_batch_is_skipped_not_read() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path());
        small_topic(&log, "t");
        for i in 0..300u32 {
            let v = format!("value-{i:05}-{}", "x".repeat(80));
            log.append("t", &[rec(v.as_bytes())], 0).unwrap();
        }
    }
    // A power loss can leave stale bytes (here: a whole valid batch, offset 0) after
    // a sealed segment's end; the next segment still starts where it should.
    let pdir = dir.path().join("topics/t/0");
    let first = layout::segment_log(&pdir, 0);
    let bytes = std::fs::read(&first).unwrap();
    let stale = caldo_core::internals::batch::parse_header(&bytes).unwrap();
    let mut junk = bytes.clone();
    junk.extend_from_slice(&bytes[..stale.size]);
    std::fs::write(&first, junk).unwrap();
    let log = open(dir.path());
    let mut c = log.cursor("t", 0, Position::Earliest).unwrap();
    let all = read_all(&mut c);
    assert_eq!(all.len(), 300);
    assert!(all.iter().enumerate().all(|(i, (o, _))| *o == i as u64));
}

#[test]
fn two_writers_keep_one_ordered_index() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path()), open(dir.path()));
    a.create_topic("t", &TopicConfig::default()).unwrap();
    let value = vec![7u8; 1500];
    for i in 0..200 {
        let w = if i % 3 == 0 { &a } else { &b };
        w.append("t", &[rec(&value)], 0).unwrap();
    }
    let pdir = dir.path().join("topics/t/0");
    let entries = caldo_core::internals::index::read(&layout::segment_index(&pdir, 0), 0).unwrap();
    assert!(entries.len() > 50, "an entry per 4 KiB: {}", entries.len());
    assert!(
        entries
            .windows(2)
            .all(|w| w[0].offset < w[1].offset && w[0].pos < w[1].pos),
        "ordered"
    );
    // One entry per INTERVAL bytes of log, whoever wrote them: none overwritten.
    let spacing = caldo_core::internals::index::INTERVAL + 1600;
    assert!(entries[0].pos <= spacing, "the first entry is there");
    assert!(
        entries.windows(2).all(|w| w[1].pos - w[0].pos <= spacing),
        "no gaps"
    );
    let len = std::fs::metadata(layout::segment_log(&pdir, 0))
        .unwrap()
        .len();
    assert!(
        len - entries.last().unwrap().pos <= spacing,
        "indexed to the end"
    );
    let log = std::fs::read(layout::segment_log(&pdir, 0)).unwrap();
    for e in &entries {
        let h = caldo_core::internals::batch::parse_header(&log[e.pos as usize..]).unwrap();
        assert_eq!(h.base_offset, e.offset, "entry points at its batch");
    }
}
