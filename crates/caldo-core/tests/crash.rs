//! Randomized crash points on real files.
//!
//! Each round appends to a small-segment topic with `Durability::Always`,
//! remembers what was acknowledged and how long each file was at the last
//! acknowledgement, optionally starts one more append that is never
//! acknowledged (the one in flight when the crash hits), then simulates the
//! crash on the files and reopens. Some rounds use `Durability::Interval`
//! instead: what is durable is what the last `flush` covered, and the appends
//! after it (none synced, several segments rolled) are what a power loss may
//! tear anywhere, sealed segments included.
//!
//! - power loss: every byte past the last synced length is lost or replaced by
//!   zeros, garbage or stale bytes; `state` is from another boot or damaged.
//!   What a sync covers: the active `.log` and `.index` up to the published
//!   end, every segment sealed since the last sync in full, directory entries
//!   of new segments. Never `state` itself: its durable record (written after
//!   each sync) survives as of the last sync, or an earlier one (stale but
//!   valid), or damaged.
//! - process crash: the page cache survives, but the writer died between
//!   `begin` and `publish`: its write may be partial and `state` still holds
//!   the previous end with `appending` set.
//!
//! After reopening, every acknowledged record must be there with its value,
//! anything past them must be a prefix of the in-flight append (never garbage),
//! offsets must be dense from 0, and a new append must work and read back.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use caldo_core::{Code, Cursor, Durability, Log, Placed, Position, RecordIn, TopicConfig};

mod rng;
use rng::Rng;

const ROUNDS: u64 = 1200;
/// Stops adding rounds past this (a slow disk), as long as the minimum ran.
const MIN_ROUNDS: u64 = 1000;
const TIME_BUDGET: Duration = Duration::from_secs(25);

/// A value that says where it belongs, with a length that varies so batches
/// straddle segment boundaries in many ways.
fn value(rng: &mut Rng, round: u64, p: u32, offset: u64) -> Vec<u8> {
    let mut v = format!("r{round}-p{p}-o{offset}-").into_bytes();
    let pad = rng.range(0, 500) as usize;
    v.extend((0..pad).map(|i| b'a' + ((offset as usize + i) % 26) as u8));
    v
}

/// Every file in the topic's partition directories and its length.
fn lengths(topic_dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    for part in std::fs::read_dir(topic_dir).unwrap() {
        let part = part.unwrap().path();
        if !part.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&part).unwrap() {
            let f = f.unwrap().path();
            out.insert(f.clone(), std::fs::metadata(&f).unwrap().len());
        }
    }
    out
}

fn read_all(c: &mut Cursor) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    c.fetch(usize::MAX, &mut |r| {
        assert_eq!(r.key, None, "records were written without keys");
        out.push((r.offset, r.value.expect("records have values").to_vec()));
        true
    })
    .unwrap_or_else(|e| panic!("reading after recovery: {e}"));
    out
}

/// Appends `n` records spread over the topic's partitions; returns what was
/// placed where, as (partition, offset, value).
fn append(
    log: &Log,
    rng: &mut Rng,
    round: u64,
    partitions: u32,
    next: &mut [u64],
) -> Vec<(u32, u64, Vec<u8>)> {
    let n = rng.range(1, 4) as usize;
    let mut planned = Vec::with_capacity(n);
    for _ in 0..n {
        let p = rng.range(0, u64::from(partitions) - 1) as u32;
        let v = value(rng, round, p, next[p as usize]);
        next[p as usize] += 1;
        planned.push((p, v));
    }
    let recs: Vec<Placed> = planned
        .iter()
        .map(|(p, v)| Placed {
            partition: Some(*p),
            record: RecordIn {
                key: None,
                value: Some(v),
                headers: &[],
                // Going up and down with the value's length, for the time index.
                timestamp: 1_700_000_000_000 + round as i64 + (v.len() as i64 % 97) * 1000,
            },
        })
        .collect();
    let placed = log.append("t", &recs, 0).unwrap();
    planned
        .into_iter()
        .zip(placed)
        .map(|((p, v), (pp, off))| {
            assert_eq!(p, pp);
            (p, off, v)
        })
        .collect()
}

/// Replaces `bytes[from..]`, which never reached the disk, with zeros,
/// garbage, or stale bytes (here: the file's head, whole batches that start
/// where they are copied to, at the wrong offsets).
fn scramble(rng: &mut Rng, bytes: &mut [u8], from: usize) {
    if from >= bytes.len() {
        return;
    }
    match rng.range(0, 3) {
        0 => bytes[from..].fill(0),
        1 => {
            let junk = rng.bytes(bytes.len() - from);
            bytes[from..].copy_from_slice(&junk);
        }
        2 if from > 0 => {
            for i in from..bytes.len() {
                bytes[i] = bytes[(i - from) % from];
            }
        }
        _ => {} // the unsynced bytes happened to reach the disk
    }
}

/// A point in `lo..=hi`, often exactly `lo` (a batch boundary when `lo` is a
/// synced length).
fn point(rng: &mut Rng, lo: u64, hi: u64) -> u64 {
    if rng.chance(4) {
        lo
    } else {
        rng.range(lo, hi)
    }
}

/// Power loss: each file keeps at least its synced bytes; the rest is cut,
/// scrambled or extended with garbage.
fn lose_power(rng: &mut Rng, now: &BTreeMap<PathBuf, u64>, synced: &BTreeMap<PathBuf, u64>) {
    for (path, &len) in now {
        let name = path.file_name().unwrap().to_str().unwrap();
        if name == "state" {
            continue;
        }
        let floor = synced.get(path).copied().unwrap_or(0);
        // A segment created by the in-flight append's roll: its directory
        // entry was synced, but the crash may also have come before the roll.
        if !synced.contains_key(path) && rng.chance(3) {
            std::fs::remove_file(path).unwrap();
            continue;
        }
        let mut bytes = std::fs::read(path).unwrap();
        assert_eq!(bytes.len() as u64, len);
        assert!(len >= floor, "{name}: {len} < synced {floor}");
        // Bytes up to `torn` reached the disk, the rest up to `cut` did not,
        // and the file may have grown past `cut` with garbage.
        let cut = point(rng, floor, len);
        let torn = point(rng, floor, cut) as usize;
        bytes.truncate(cut as usize);
        // A sealed segment whose size was synced has nothing written past
        // it since: it cannot come back longer.
        let sealed = name.ends_with(".log")
            && synced.get(path) == Some(&len)
            && now.keys().any(|other| {
                other.parent() == path.parent()
                    && other.extension().is_some_and(|e| e == "log")
                    && other.file_name().unwrap() > path.file_name().unwrap()
            });
        if !sealed && rng.chance(4) {
            let extra = rng.range(1, 300) as usize;
            bytes.resize(cut as usize + extra, 0);
        }
        scramble(rng, &mut bytes, torn);
        std::fs::write(path, &bytes).unwrap();
    }
}

const AT_NEXT: u64 = 8;
const AT_APPENDING: u64 = 40;
const AT_PID: u64 = 44;
const AT_BOOT: u64 = 56;
/// The durable record and its checksum.
const DURABLE: std::ops::Range<usize> = 72..108;

fn write_at(path: &Path, at: u64, bytes: &[u8]) {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap();
    f.write_all_at(bytes, at).unwrap();
}

/// A `state` file after a power loss: stale, from another boot, or damaged.
fn damage_state(rng: &mut Rng, path: &Path) {
    match rng.range(0, 4) {
        0 => {
            // From another boot, fields as they were.
            write_at(path, AT_BOOT, &rng.bytes(16));
        }
        1 => {
            // From another boot, with stale writer fields (never synced).
            write_at(path, AT_BOOT, &rng.bytes(16));
            write_at(path, AT_NEXT, &rng.bytes(32));
            write_at(path, AT_APPENDING, &[rng.range(0, 1) as u8, 0, 0, 0]);
        }
        2 => {
            // All zeros: the page never reached the disk.
            std::fs::write(path, vec![0u8; 4096]).unwrap();
        }
        3 => {
            // Garbage, or a short file.
            let n = [0, 7, 100, 4096][rng.range(0, 3) as usize];
            std::fs::write(path, rng.bytes(n)).unwrap();
        }
        _ => {
            std::fs::remove_file(path).unwrap();
        }
    }
}

/// The durable record that survives a power loss: the state page as written
/// after the last acknowledged sync (`acked`), or an earlier one, or damaged.
fn durable_after_power_loss(rng: &mut Rng, path: &Path, acked: &[u8], earlier: &[Vec<u8>]) {
    let mut record = acked[DURABLE].to_vec();
    match rng.range(0, 5) {
        0 | 1 => {}
        2 | 3 if !earlier.is_empty() => {
            let i = rng.range(0, earlier.len() as u64 - 1) as usize;
            record = earlier[i][DURABLE].to_vec();
        }
        2 | 3 => {}
        4 => {
            let i = rng.range(0, record.len() as u64 - 1) as usize;
            record[i] ^= 1 << rng.range(0, 7);
        }
        _ => record = rng.bytes(record.len()),
    }
    write_at(path, DURABLE.start as u64, &record);
}

#[derive(Clone, Copy, Debug)]
enum Crash {
    PowerLoss,
    ProcessCrash,
}

fn round(round: u64, rng: &mut Rng) {
    let dir = tempfile::tempdir().unwrap();
    let topic_dir = dir.path().join("topics/t");
    let partitions = rng.range(1, 2) as u32;
    // Interval: no background flush within the round; `flush` is the sync.
    let interval = rng.chance(3);
    // A process crash keeps the page cache: only the append it cut short
    // matters, which the 'always' rounds cover.
    let crash = if !interval && rng.chance(4) {
        Crash::ProcessCrash
    } else {
        Crash::PowerLoss
    };
    // expected[p][o]: the value at offset o; acked[p]: how many are acknowledged.
    let mut expected: Vec<Vec<Vec<u8>>> = vec![Vec::new(); partitions as usize];
    let mut next = vec![0u64; partitions as usize];
    let (synced, states, earlier, now, acked) = {
        let log = match interval {
            true => Log::open(dir.path(), Durability::Interval, Duration::from_secs(3600)),
            false => Log::open(dir.path(), Durability::Always, Duration::from_secs(1)),
        }
        .unwrap();
        let cfg = TopicConfig {
            partitions,
            segment_bytes: 4096,
            max_message_bytes: 4096,
            // Old timestamps: kept, not expired by retention.
            retention_ms: -1,
            ..Default::default()
        };
        log.create_topic("t", &cfg).unwrap();
        let read_states = || -> Vec<Vec<u8>> {
            (0..partitions)
                .map(|p| std::fs::read(topic_dir.join(format!("{p}/state"))).unwrap())
                .collect()
        };
        // The states after each acknowledged append but the last.
        let mut earlier: Vec<Vec<Vec<u8>>> = Vec::new();
        let appends = rng.range(0, 10);
        for i in 0..appends {
            if i > 0 {
                earlier.push(read_states());
            }
            for (p, off, v) in append(&log, rng, round, partitions, &mut next) {
                assert_eq!(off, expected[p as usize].len() as u64);
                expected[p as usize].push(v);
            }
        }
        if interval {
            log.flush().unwrap();
        }
        // Everything below these lengths was fdatasync'ed: by the last ack, or the flush.
        let synced = lengths(&topic_dir);
        let acked: Vec<usize> = expected.iter().map(Vec::len).collect();
        let states = read_states();
        // Interval: appends after the flush, never synced, rolling several
        // segments. Always: the append in flight when the crash hits.
        let unsynced = match interval {
            true => rng.range(0, 30),
            false => rng.range(0, 1),
        };
        for _ in 0..unsynced {
            for (p, off, v) in append(&log, rng, round, partitions, &mut next) {
                assert_eq!(off, expected[p as usize].len() as u64);
                expected[p as usize].push(v);
            }
        }
        let now = lengths(&topic_dir);
        // The crash is simulated below, on the files as they are now.
        drop(log);
        (synced, states, earlier, now, acked)
    };

    match crash {
        Crash::PowerLoss => {
            lose_power(rng, &now, &synced);
            for p in 0..partitions {
                let path = topic_dir.join(format!("{p}/state"));
                damage_state(rng, &path);
                let earlier: Vec<Vec<u8>> = earlier.iter().map(|s| s[p as usize].clone()).collect();
                durable_after_power_loss(rng, &path, &states[p as usize], &earlier);
            }
        }
        Crash::ProcessCrash => {
            for p in 0..partitions {
                let pdir = topic_dir.join(p.to_string());
                // The writer died between begin and publish: state still has the
                // previous end, with `appending` set; its write may be partial.
                let state = pdir.join("state");
                std::fs::write(&state, &states[p as usize]).unwrap();
                write_at(&state, AT_PID, &u32::MAX.to_le_bytes());
                write_at(&state, AT_APPENDING, &1u32.to_le_bytes());
                for (path, &len) in &now {
                    if path.parent() != Some(pdir.as_path())
                        || path.extension().is_none_or(|e| e != "log")
                    {
                        continue;
                    }
                    let before = synced.get(path).copied().unwrap_or(0);
                    let cut = rng.range(before, len);
                    OpenOptions::new()
                        .write(true)
                        .open(path)
                        .unwrap()
                        .set_len(cut)
                        .unwrap();
                }
            }
        }
    }

    let ctx = format!("round {round} ({crash:?}, {partitions} partitions, interval: {interval})");
    let log = Log::open(dir.path(), Durability::Always, Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{ctx}: reopening: {e}"));
    let info = log
        .topics(false)
        .unwrap_or_else(|e| panic!("{ctx}: listing topics: {e}"));
    assert_eq!(info.len(), 1, "{ctx}");
    for p in 0..partitions {
        let pi = &info[0].partitions[p as usize];
        let exp = &expected[p as usize];
        let acked = acked[p as usize];
        let mut c = log.cursor("t", p, Position::Earliest).unwrap();
        let got = read_all(&mut c);
        assert_eq!(pi.low, 0, "{ctx}: partition {p} starts at 0");
        assert_eq!(
            got.len() as u64,
            pi.high,
            "{ctx}: partition {p} reads to its high watermark"
        );
        assert!(
            got.len() >= acked,
            "{ctx}: partition {p} lost acknowledged records: {} < {acked}",
            got.len()
        );
        assert!(
            got.len() <= exp.len(),
            "{ctx}: partition {p} returned {} records, only {} were ever written",
            got.len(),
            exp.len()
        );
        for (i, (off, v)) in got.iter().enumerate() {
            assert_eq!(*off, i as u64, "{ctx}: partition {p} offsets are dense");
            assert!(
                v == &exp[i],
                "{ctx}: partition {p} offset {i} holds the wrong value: {:?}",
                String::from_utf8_lossy(&v[..v.len().min(40)])
            );
        }
        // Reads from the middle go through the (rebuilt or untrusted) indexes.
        if !got.is_empty() {
            let mid = rng.range(0, got.len() as u64 - 1);
            let mut c = log.cursor("t", p, Position::Offset(mid)).unwrap();
            let tail = read_all(&mut c);
            assert_eq!(tail.len() as u64, got.len() as u64 - mid, "{ctx}");
            assert_eq!(tail[0].0, mid, "{ctx}");
        }
        // Lookups by time agree with a scan (the time index is rebuilt or untrusted too).
        let mut times = Vec::new();
        let mut c = log.cursor("t", p, Position::Earliest).unwrap();
        c.fetch(usize::MAX, &mut |r| {
            times.push(r.timestamp);
            true
        })
        .unwrap();
        for _ in 0..4.min(times.len()) {
            let t =
                times[rng.range(0, times.len() as u64 - 1) as usize] + rng.range(0, 2) as i64 - 1;
            let want = times.iter().position(|&x| x >= t).map(|i| i as u64);
            let got = log.offset_for_time("t", p, t);
            assert_eq!(
                got.unwrap_or_else(|e| panic!("{ctx}: by time: {e}")),
                want,
                "{ctx}: time {t}"
            );
        }
        // The log goes on where it left off.
        let v = format!("after-{round}-{p}");
        let out = log
            .append(
                "t",
                &[Placed {
                    partition: Some(p),
                    record: RecordIn {
                        key: None,
                        value: Some(v.as_bytes()),
                        headers: &[],
                        timestamp: 0,
                    },
                }],
                0,
            )
            .unwrap_or_else(|e| panic!("{ctx}: appending after recovery: {e}"));
        assert_eq!(out, vec![(p, got.len() as u64)], "{ctx}");
        let mut c = log
            .cursor("t", p, Position::Offset(got.len() as u64))
            .unwrap();
        assert_eq!(read_all(&mut c), vec![(got.len() as u64, v.into_bytes())]);
    }
    log.close().unwrap();
    // And a second recovery (this boot now) agrees.
    drop(log);
    let log = Log::open(dir.path(), Durability::Always, Duration::from_secs(1)).unwrap();
    let info = log.topics(false).unwrap();
    for p in 0..partitions {
        let mut c = log.cursor("t", p, Position::Earliest).unwrap();
        assert_eq!(
            read_all(&mut c).len() as u64,
            info[0].partitions[p as usize].high,
            "{ctx}: after reopening twice"
        );
    }
}

#[test]
fn acknowledged_records_survive_random_crash_points() {
    // A fixed seed (and ordered maps) make every run the same; SEED=n explores others.
    let seed = std::env::var("SEED").ok().and_then(|s| s.parse().ok());
    let mut rng = Rng(seed.unwrap_or(0x0DDC_0FFE_E5EE_D5ED));
    let start = Instant::now();
    let mut rounds = 0;
    for r in 0..ROUNDS {
        if r >= MIN_ROUNDS && start.elapsed() > TIME_BUDGET {
            break;
        }
        round(r, &mut rng);
        rounds += 1;
    }
    assert!(rounds >= MIN_ROUNDS);
    eprintln!("{rounds} crash points in {:?}", start.elapsed());
}

#[test]
fn a_topic_without_its_topic_json_is_unknown_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = Log::open(dir.path(), Durability::Always, Duration::from_secs(1)).unwrap();
        log.create_topic("t", &TopicConfig::default()).unwrap();
    }
    std::fs::remove_file(dir.path().join("topics/t/topic.json")).unwrap();
    let log = Log::open(dir.path(), Durability::Always, Duration::from_secs(1)).unwrap();
    assert_eq!(
        log.cursor("t", 0, Position::Earliest).err().unwrap().code,
        Code::UnknownTopic
    );
}

/// Appends one record of `value` to partition 0 of topic `t`, alone in its batch.
fn append_one(log: &Log, value: &[u8], timestamp: i64) {
    let rec = Placed {
        partition: Some(0),
        record: RecordIn {
            key: None,
            value: Some(value),
            headers: &[],
            timestamp,
        },
    };
    log.append("t", &[rec], 0).unwrap();
}

/// Reopens after a power loss with `state` as given (from another boot) and
/// the segment as given; returns the partition's high watermark.
fn reopen_after_power_loss(dir: &Path, state: &[u8], log_bytes: &[u8], index: &[u8]) -> u64 {
    let pdir = dir.join("topics/t/0");
    std::fs::write(pdir.join("state"), state).unwrap();
    write_at(&pdir.join("state"), AT_BOOT, &[0x5a; 16]);
    std::fs::write(pdir.join("00000000000000000000.log"), log_bytes).unwrap();
    std::fs::write(pdir.join("00000000000000000000.index"), index).unwrap();
    let log = Log::open(dir, Durability::Interval, Duration::from_secs(3600)).unwrap();
    let high = log.topics(false).unwrap()[0].partitions[0].high;
    let mut c = log.cursor("t", 0, Position::Offset(high.min(120))).unwrap();
    assert_eq!(read_all(&mut c).len() as u64, high - high.min(120));
    high
}

#[test]
fn a_power_loss_revalidates_from_the_durable_record() {
    let dir = tempfile::tempdir().unwrap();
    let pdir = dir.path().join("topics/t/0");
    // A batch per record, an index entry per batch, and enough of them per
    // flush (300) for the index to be synced with the log (see INDEX_SYNC_ENTRIES).
    let value = vec![b'v'; 4200];
    let (stale, state, log_bytes, index) = {
        let log = Log::open(dir.path(), Durability::Interval, Duration::from_secs(3600)).unwrap();
        log.create_topic("t", &TopicConfig::default()).unwrap();
        let mut snapshots = Vec::new();
        for _ in 0..2 {
            for _ in 0..300 {
                append_one(&log, &value, 0);
            }
            log.flush().unwrap();
            snapshots.push(std::fs::read(pdir.join("state")).unwrap());
        }
        let state = snapshots.pop().unwrap();
        let log_bytes = std::fs::read(pdir.join("00000000000000000000.log")).unwrap();
        let index = std::fs::read(pdir.join("00000000000000000000.index")).unwrap();
        assert!(!index.is_empty());
        (snapshots.pop().unwrap(), state, log_bytes, index)
    };
    // Damages the value of the batch holding `offset` (one record per batch).
    let batch_len = log_bytes.len() / 600;
    let damaged = |offset: usize| {
        let mut b = log_bytes.clone();
        b[(offset + 1) * batch_len - 10] ^= 1;
        b
    };
    // The durable prefix is not read again (damage inside it goes unseen);
    // the whole log was flushed, so nothing is cut.
    assert_eq!(
        reopen_after_power_loss(dir.path(), &state, &damaged(50), &index),
        600
    );
    // From a stale record, the tail after it is validated and cut at the
    // first bad batch.
    assert_eq!(
        reopen_after_power_loss(dir.path(), &stale, &damaged(450), &index),
        450
    );
    // A record that does not verify: the whole segment is validated.
    let mut torn = state.clone();
    torn[DURABLE.start + 3] ^= 0x10;
    assert_eq!(
        reopen_after_power_loss(dir.path(), &torn, &damaged(50), &index),
        50
    );
    // An index shorter than the record says: the whole segment too.
    assert_eq!(
        reopen_after_power_loss(dir.path(), &state, &damaged(50), &index[..8]),
        50
    );
}

#[test]
fn with_durability_none_rolled_segments_are_synced_so_a_power_loss_walks_only_the_active_one() {
    // 'none' syncs nothing an append waits for; the segments a roll seals are
    // synced in the background and the durable record moves past them, so a
    // power loss re-validates the active segment only, however long the log.
    let dir = tempfile::tempdir().unwrap();
    let pdir = dir.path().join("topics/t/0");
    let value = vec![b'v'; 1000];
    // Now, not 0: retention would remove segments of 1970.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let log = Log::open(dir.path(), Durability::None, Duration::from_secs(3600)).unwrap();
    let config = TopicConfig {
        segment_bytes: 16 * 1024,
        ..TopicConfig::default()
    };
    log.create_topic("t", &config).unwrap();
    for _ in 0..100 {
        append_one(&log, &value, now);
    }
    let part = log.partition("t", 0).unwrap();
    let active = part.state().active().0;
    assert!(active > 50, "several segments were rolled");
    let deadline = Instant::now() + Duration::from_secs(20);
    while part.state().durable().map(|d| d.base) != Some(active) {
        assert!(
            Instant::now() < deadline,
            "the sealed segments were never synced"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let state = std::fs::read(pdir.join("state")).unwrap();
    drop(part);
    drop(log);
    // The power loss, with damage in the first (synced) segment, where a walk
    // would cut the log: it is not walked, and reading it says what is wrong.
    std::fs::write(pdir.join("state"), &state).unwrap();
    write_at(&pdir.join("state"), AT_BOOT, &[0x5a; 16]);
    let first = pdir.join("00000000000000000000.log");
    let mut bytes = std::fs::read(&first).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 1;
    std::fs::write(&first, bytes).unwrap();
    let log = Log::open(dir.path(), Durability::None, Duration::from_secs(3600)).unwrap();
    assert_eq!(log.topics(false).unwrap()[0].partitions[0].high, 100);
    let mut c = log.cursor("t", 0, Position::Offset(active)).unwrap();
    assert_eq!(read_all(&mut c).len() as u64, 100 - active);
    let mut c = log.cursor("t", 0, Position::Earliest).unwrap();
    let err = c.fetch(usize::MAX, &mut |_| true).unwrap_err();
    assert_eq!(err.code, Code::Corrupt);
}
