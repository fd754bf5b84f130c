//! Compaction on real files, against a reference model: the last record of
//! each key stays at its offset, older ones go from sealed segments,
//! tombstones go only after `deleteRetentionMs`, readers read on through a
//! cleaning, and leftovers of an interrupted one are cleared.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod rng;
use caldo_core::internals::{files, segment};
use caldo_core::{
    CleanupPolicy, Code, Cursor, Durability, Log, Placed, Position, RecordIn, TopicChanges,
    TopicConfig,
};
use rng::Rng;

const DAY: i64 = 86_400_000;
/// Where a partition's `state` holds the boot id it was written under.
const AT_BOOT: std::ops::Range<usize> = 56..72;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn open(dir: &Path) -> Log {
    Log::open_with(dir, Durability::None, Duration::from_secs(1), None).unwrap()
}

fn pdir(dir: &Path, name: &str) -> PathBuf {
    dir.join("topics").join(name).join("0")
}

/// A record read: (offset, key, value).
type Read = (u64, Vec<u8>, Option<Vec<u8>>);

/// (key, value) written at each offset.
type Written = BTreeMap<u64, (Vec<u8>, Option<Vec<u8>>)>;

#[derive(Default)]
struct Model {
    written: Written,
}

impl Model {
    fn append(&mut self, log: &Log, rng: &mut Rng, n: usize, keys: u64, ts: i64) {
        self.append_named(log, rng, "k", n, keys, ts);
    }

    fn append_named(&mut self, log: &Log, rng: &mut Rng, name: &str, n: usize, keys: u64, ts: i64) {
        let mut owned = Vec::new();
        for _ in 0..n {
            let key = format!("{name}{}", rng.range(0, keys - 1)).into_bytes();
            let value = (!rng.chance(10)).then(|| rng.some_bytes(300));
            owned.push((key, value));
        }
        let placed: Vec<Placed> = owned
            .iter()
            .map(|(k, v)| Placed {
                partition: Some(0),
                record: RecordIn {
                    key: Some(k),
                    value: v.as_deref(),
                    headers: &[],
                    timestamp: ts,
                },
            })
            .collect();
        // A few appends, so that batches have different sizes.
        let mut at = 0;
        while at < placed.len() {
            let len = rng.range(1, 40) as usize;
            let chunk = &placed[at..(at + len).min(placed.len())];
            let out = log.append("c", chunk, 0).unwrap();
            for (i, (_, offset)) in out.iter().enumerate() {
                self.written.insert(*offset, owned[at + i].clone());
            }
            at += chunk.len();
        }
    }

    fn last_of_each_key(&self) -> HashMap<&[u8], u64> {
        let mut last = HashMap::new();
        for (o, (k, _)) in &self.written {
            last.insert(k.as_slice(), *o);
        }
        last
    }
}

fn read_all(c: &mut Cursor) -> Vec<Read> {
    read_all_some(c, usize::MAX)
}

/// What every read of a compacted partition must satisfy.
fn check(model: &Model, got: &[Read], sealed_below: u64) {
    for w in got.windows(2) {
        assert!(
            w[0].0 < w[1].0,
            "offsets ascend: {} then {}",
            w[0].0,
            w[1].0
        );
    }
    for (o, k, v) in got {
        assert_eq!(
            model.written.get(o),
            Some(&(k.clone(), v.clone())),
            "offset {o}"
        );
    }
    let at: HashMap<u64, ()> = got.iter().map(|r| (r.0, ())).collect();
    for (k, o) in model.last_of_each_key() {
        let tombstone = model.written[&o].1.is_none();
        assert!(
            tombstone || at.contains_key(&o),
            "last value of {k:?} at {o} kept"
        );
    }
    let mut seen = HashMap::new();
    for (o, k, _) in got.iter().filter(|r| r.0 < sealed_below) {
        assert!(
            seen.insert(k.clone(), *o).is_none(),
            "{k:?} once in the sealed segments"
        );
    }
}

/// A fresh log with compacted topic "c" whose tombstones stay a day.
fn compacted_log() -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    compacted(&log, DAY as u64);
    (dir, log)
}

fn compacted(log: &Log, delete_retention_ms: u64) {
    let cfg = TopicConfig {
        segment_bytes: 4096,
        cleanup_policy: CleanupPolicy::Compact,
        delete_retention_ms,
        retention_ms: -1,
        ..TopicConfig::default()
    };
    log.create_topic("c", &cfg).unwrap();
}

#[test]
fn keeps_the_last_record_of_each_key_at_its_offset() {
    let (dir, log) = compacted_log();
    let (mut rng, mut model) = (Rng(7), Model::default());
    let mut reader = log.cursor("c", 0, Position::Earliest).unwrap();
    let mut tailed = Vec::new();
    for round in 0..6 {
        model.append(&log, &mut rng, 400, 50, now());
        // A reader part-way through when the cleaning starts reads on.
        tailed.extend(read_all_some(&mut reader, 150));
        let before: u64 = segment::sizes(&pdir(dir.path(), "c"))
            .unwrap()
            .iter()
            .map(|s| s.1)
            .sum();
        let report = log.clean().unwrap();
        let segs = segment::list(&pdir(dir.path(), "c")).unwrap();
        let active = *segs.last().unwrap();
        let got = read_all(&mut log.cursor("c", 0, Position::Earliest).unwrap());
        check(&model, &got, active);
        let after: u64 = segment::sizes(&pdir(dir.path(), "c"))
            .unwrap()
            .iter()
            .map(|s| s.1)
            .sum();
        assert!(after < before, "round {round}: {before} -> {after}");
        assert_eq!(report.bytes, before - after, "round {round}");
        let info = &log.topics(false).unwrap()[0].partitions[0];
        assert_eq!(info.dirty_ratio, 0.0, "round {round}: all sealed is clean");
        tailed.extend(read_all(&mut reader));
        check(&model, &tailed, 0);
    }
    // Reading at an offset compaction removed starts at the next record.
    let got = read_all(&mut log.cursor("c", 0, Position::Earliest).unwrap());
    let gap = got.windows(2).find(|w| w[1].0 > w[0].0 + 1).unwrap();
    let mut c = log.cursor("c", 0, Position::Offset(gap[0].0 + 1)).unwrap();
    assert_eq!(read_all(&mut c)[0].0, gap[1].0);
    // A fresh log over the same files reads the same.
    drop(log);
    let log = open(dir.path());
    let again = read_all(&mut log.cursor("c", 0, Position::Earliest).unwrap());
    assert_eq!(again, got);
}

#[test]
fn a_reader_whose_file_the_cache_closed_reads_on_across_a_compaction_swap() {
    let (_dir, log) = compacted_log();
    let (mut rng, mut model) = (Rng(11), Model::default());
    let mut reader = log.cursor("c", 0, Position::Earliest).unwrap();
    let mut tailed = Vec::new();
    for round in 0..6 {
        model.append(&log, &mut rng, 400, 50, now());
        // Part-way through a sealed segment, then the segment is compacted
        // (renamed over, or unlinked) while the reader holds no descriptor:
        // it must find its offset again, not read the new file at its old place.
        tailed.extend(read_all_some(&mut reader, 150 + round * 7));
        let report = log.clean().unwrap();
        assert!(report.bytes > 0, "round {round} compacted");
        files::files().evict_to(0);
        tailed.extend(read_all(&mut reader));
        check(&model, &tailed, 0);
        assert_eq!(
            tailed.last().unwrap().0,
            *model.written.keys().last().unwrap()
        );
    }
}

fn read_all_some(c: &mut Cursor, max: usize) -> Vec<Read> {
    let mut out = Vec::new();
    c.fetch(max, &mut |r| {
        out.push((
            r.offset,
            r.key.unwrap().to_vec(),
            r.value.map(<[u8]>::to_vec),
        ));
        true
    })
    .unwrap();
    out
}

#[test]
fn tombstones_go_only_after_delete_retention() {
    for (retention, kept) in [(DAY as u64, false), (10 * DAY as u64, true)] {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        compacted(&log, retention);
        let mut model = Model::default();
        // Records and tombstones 3 days old, then new records of other keys
        // that seal their segments.
        model.append_named(&log, &mut Rng(11), "old", 300, 40, now() - 3 * DAY);
        model.append_named(&log, &mut Rng(12), "new", 300, 10, now());
        log.clean().unwrap();
        let got = read_all(&mut log.cursor("c", 0, Position::Earliest).unwrap());
        let at: HashMap<u64, ()> = got.iter().map(|r| (r.0, ())).collect();
        let last = model.last_of_each_key();
        let tombstones: Vec<u64> = last
            .iter()
            .filter(|(k, o)| k.starts_with(b"old") && model.written[o].1.is_none())
            .map(|(_, o)| *o)
            .collect();
        assert!(!tombstones.is_empty());
        for o in tombstones {
            assert_eq!(
                at.contains_key(&o),
                kept,
                "tombstone at {o}, retention {retention}"
            );
        }
        let active = *segment::list(&pdir(dir.path(), "c"))
            .unwrap()
            .last()
            .unwrap();
        check(&model, &got, active);
    }
}

#[test]
fn records_without_a_key_are_refused_and_leftovers_are_cleared() {
    let (dir, log) = compacted_log();
    let keyless = RecordIn {
        key: None,
        value: Some(b"v"),
        headers: &[],
        timestamp: now(),
    };
    let placed = |record| Placed {
        partition: Some(0),
        record,
    };
    let e = log.append("c", &[placed(keyless)], 0).unwrap_err();
    assert_eq!(e.code, Code::InvalidArg);
    assert!(e.message.contains("give every record a key"), "{e}");
    // A topic altered to compact drops what has no key when it cleans.
    let cfg = TopicConfig {
        segment_bytes: 4096,
        ..TopicConfig::default()
    };
    log.create_topic("d", &cfg).unwrap();
    let big = [1u8; 200];
    let record = RecordIn {
        value: Some(&big),
        ..keyless
    };
    for _ in 0..40 {
        log.append("d", &[placed(record), placed(record)], 0)
            .unwrap();
    }
    let mut model = Model::default();
    log.alter_topic(
        "c",
        &TopicChanges {
            min_cleanable_dirty_ratio: Some(0.0),
            ..TopicChanges::default()
        },
    )
    .unwrap();
    model.append(&log, &mut Rng(5), 300, 20, now());
    // Files an interrupted compaction left: cleared, nothing else touched.
    let p = pdir(dir.path(), "c");
    std::fs::write(p.join("00000000000000000000.log.cleaned"), b"junk").unwrap();
    std::fs::write(p.join("00000000000000000000.index.cleaned"), b"junk").unwrap();
    log.clean().unwrap();
    assert!(!p.join("00000000000000000000.log.cleaned").exists());
    assert!(!p.join("00000000000000000000.index.cleaned").exists());
    let segs = segment::list(&p).unwrap();
    let got = read_all(&mut log.cursor("c", 0, Position::Earliest).unwrap());
    check(&model, &got, *segs.last().unwrap());
    log.alter_topic(
        "d",
        &TopicChanges {
            cleanup_policy: Some(CleanupPolicy::Compact),
            ..TopicChanges::default()
        },
    )
    .unwrap();
    log.clean().unwrap();
    let mut c = log.cursor("d", 0, Position::Earliest).unwrap();
    let mut got = Vec::new();
    c.fetch(usize::MAX, &mut |r| {
        got.push(r.offset);
        true
    })
    .unwrap();
    let active = *segment::list(&pdir(dir.path(), "d"))
        .unwrap()
        .last()
        .unwrap();
    assert!(active > 0);
    let expected: Vec<u64> = (active..80).collect();
    assert_eq!(got, expected, "only the active segment's records are left");
    assert_eq!(c.position(), 80);
}

#[test]
fn a_power_loss_after_compacting_segments_rolled_since_the_last_sync_loses_nothing() {
    // A roll does not sync: after a power loss, recovery validates the
    // segments from the durable record's on. A cleaning that rewrote them
    // with the record still pointing into one would make that walk cut the
    // log; the cleaner syncs first, which moves the record past them.
    let dir = tempfile::tempdir().unwrap();
    let interval = Duration::from_secs(3600);
    let log = Log::open_with(dir.path(), Durability::Interval, interval, None).unwrap();
    compacted(&log, DAY as u64);
    let (mut rng, mut model) = (Rng(23), Model::default());
    // The record lands in the first segment, whose records before it go (their
    // keys come again); compaction rewrites it in place with records after it
    // that stay (their keys are not seen again).
    model.append(&log, &mut rng, 4, 50, now());
    log.flush().unwrap();
    model.append_named(&log, &mut rng, "once", 40, 1 << 40, now());
    model.append(&log, &mut rng, 800, 50, now());
    let report = log.clean().unwrap();
    assert!(report.bytes > 0, "compacted");
    let want = read_all(&mut log.cursor("c", 0, Position::Earliest).unwrap());
    // The power loss: every file reached the disk, and `state` as it was
    // (closing would sync), from another boot.
    let state = pdir(dir.path(), "c").join("state");
    let mut bytes = std::fs::read(&state).unwrap();
    drop(log);
    bytes[AT_BOOT].copy_from_slice(&[0xAB; 16]);
    std::fs::write(&state, bytes).unwrap();
    let log = Log::open_with(dir.path(), Durability::Interval, interval, None).unwrap();
    let got = read_all(&mut log.cursor("c", 0, Position::Earliest).unwrap());
    assert_eq!(got, want);
    let active = *segment::list(&pdir(dir.path(), "c"))
        .unwrap()
        .last()
        .unwrap();
    check(&model, &got, active);
    assert_eq!(got.last().unwrap().0, *model.written.keys().last().unwrap());
}
