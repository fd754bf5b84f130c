//! Exactly once in the engine, on real files: idempotent retries, transactions
//! and their markers, the last stable offset, read committed and uncommitted
//! reading, fencing, offsets sent in a transaction, and the sweep.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use caldo_core::internals::txnindex;
use caldo_core::{
    fail_appends_for_tests, Code, Cursor, Durability, FailAt, Isolation, Log, Placed, Position,
    Producer, RecordIn, TopicConfig, DEFAULT_TXN_TIMEOUT,
};

/// Where a partition's `state` holds the boot id it was written under.
const AT_BOOT: std::ops::Range<usize> = 56..72;

fn open(dir: &Path) -> Arc<Log> {
    // No background sweep: the tests sweep by hand.
    Arc::new(Log::open_with(dir, Durability::None, Duration::from_secs(1), None).unwrap())
}

fn topic(log: &Log, name: &str, segment_bytes: u64) {
    let cfg = TopicConfig {
        partitions: 1,
        segment_bytes,
        retention_ms: -1,
        ..Default::default()
    };
    log.create_topic(name, &cfg).unwrap();
}

fn recs(values: &[String]) -> Vec<Placed<'_>> {
    values
        .iter()
        .map(|v| Placed {
            partition: Some(0),
            record: RecordIn {
                key: None,
                value: Some(v.as_bytes()),
                headers: &[],
                timestamp: 7,
            },
        })
        .collect()
}

fn values(n: usize, tag: &str) -> Vec<String> {
    (0..n).map(|i| format!("{tag}-{i}")).collect()
}

fn read(log: &Log, isolation: Isolation) -> (Vec<(u64, String)>, u64) {
    let mut c = log.cursor("t", 0, Position::Earliest).unwrap();
    c.set_isolation(isolation);
    let out = drain(&mut c);
    (out, c.position())
}

fn drain(c: &mut Cursor) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    c.fetch(usize::MAX, &mut |r| {
        let v = String::from_utf8(r.value.unwrap_or_default().to_vec()).unwrap();
        out.push((r.offset, v));
        true
    })
    .unwrap();
    out
}

fn only_values(v: &[(u64, String)]) -> Vec<String> {
    v.iter().map(|(_, s)| s.clone()).collect()
}

/// `records` placed in turn over partitions 0..`n`.
fn spread(mut records: Vec<Placed<'_>>, n: u32) -> Vec<Placed<'_>> {
    for (i, r) in records.iter_mut().enumerate() {
        r.partition = Some(i as u32 % n);
    }
    records
}

/// One committed transaction of `n` records tagged `tag`, to `t`.
fn commit(p: &mut Producer, n: usize, tag: &str) {
    p.begin().unwrap();
    p.send("t", &recs(&values(n, tag)), 0).unwrap();
    p.end(true).unwrap();
}

#[test]
fn a_retried_append_after_a_failure_past_the_write_is_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    topic(&log, "t", 1 << 20);
    let mut p = Producer::idempotent(log.clone()).unwrap();
    p.send("t", &recs(&values(3, "a")), 0).unwrap();
    fail_appends_for_tests(dir.path(), "t", 0, FailAt::Published, 1);
    // The first attempt is written, then fails; the retry finds it there.
    let placed = p.send("t", &recs(&values(2, "b")), 0).unwrap();
    assert_eq!(placed, vec![(0, 3), (0, 4)]);
    p.send("t", &recs(&values(1, "c")), 0).unwrap();
    let (all, _) = read(&log, Isolation::ReadUncommitted);
    assert_eq!(
        only_values(&all),
        ["a-0", "a-1", "a-2", "b-0", "b-1", "c-0"]
    );
    // Without a producer nothing is deduplicated: the failure reaches the caller.
    fail_appends_for_tests(dir.path(), "t", 0, FailAt::Published, 1);
    let err = log.append("t", &recs(&values(1, "d")), 0).unwrap_err();
    assert_eq!(err.code, Code::Io);
    assert_eq!(read(&log, Isolation::ReadUncommitted).0.len(), 7);
}

#[test]
fn committed_is_read_aborted_is_not_and_markers_are_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    topic(&log, "t", 4096);
    let mut p = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    let state = || log.partition("t", 0).unwrap();
    p.begin().unwrap();
    p.send("t", &recs(&values(30, "c1")), 0).unwrap();
    assert_eq!(
        state().state().stable_end(),
        0,
        "held at the open transaction"
    );
    let (seen, _) = read(&log, Isolation::ReadCommitted);
    assert!(seen.is_empty());
    assert_eq!(read(&log, Isolation::ReadUncommitted).0.len(), 30);
    p.end(true).unwrap();
    assert_eq!(
        state().state().stable_end(),
        31,
        "past the commit marker at 30"
    );
    p.begin().unwrap();
    // Enough to roll segments: the abort's index entry lands in a later one.
    for _ in 0..4 {
        p.send("t", &recs(&values(40, "a1")), 0).unwrap();
    }
    p.end(false).unwrap();
    commit(&mut p, 5, "c2");
    let (committed, end) = read(&log, Isolation::ReadCommitted);
    let mut want = values(30, "c1");
    want.extend(values(5, "c2"));
    assert_eq!(only_values(&committed), want);
    assert_eq!(
        end,
        state().state().next_offset(),
        "the position passes the last marker"
    );
    assert_eq!(end, 30 + 1 + 160 + 1 + 5 + 1);
    let (all, _) = read(&log, Isolation::ReadUncommitted);
    assert_eq!(
        all.len(),
        30 + 160 + 5,
        "every data record, no control record"
    );
    // The aborted range is in Kafka's index form.
    let dir_p = dir.path().join("topics/t/0");
    let mut aborted = Vec::new();
    for entry in std::fs::read_dir(&dir_p).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txnindex") {
            aborted.extend(txnindex::read(&path).unwrap());
        }
    }
    assert_eq!(aborted.len(), 1);
    assert_eq!((aborted[0].first_offset, aborted[0].last_offset), (31, 191));
    assert_eq!(aborted[0].producer_id, p.id().0);
    // Reading from the middle of the aborted range skips the rest of it.
    let mut c = log.cursor("t", 0, Position::Offset(100)).unwrap();
    c.set_isolation(Isolation::ReadCommitted);
    assert_eq!(only_values(&drain(&mut c)), values(5, "c2"));
}

#[test]
fn a_new_producer_of_the_id_fences_the_old_and_aborts_its_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    topic(&log, "t", 1 << 20);
    let mut old = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    old.begin().unwrap();
    old.send("t", &recs(&values(3, "old")), 0).unwrap();
    let mut new = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    assert_eq!(new.id().0, old.id().0);
    assert_eq!(new.id().1, old.id().1 + 1);
    let err = old.send("t", &recs(&values(1, "late")), 0).unwrap_err();
    assert_eq!(err.code, Code::Fenced, "{err}");
    assert_eq!(old.end(true).unwrap_err().code, Code::Fenced);
    assert_eq!(old.begin().unwrap_err().code, Code::Fenced);
    commit(&mut new, 2, "new");
    let (seen, _) = read(&log, Isolation::ReadCommitted);
    assert_eq!(only_values(&seen), values(2, "new"));
}

#[test]
fn misuse_is_refused_with_codes() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    topic(&log, "t", 1 << 20);
    let mut p = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    let err = p.send("t", &recs(&values(1, "x")), 0).unwrap_err();
    assert_eq!(err.code, Code::InvalidTxnState);
    p.begin().unwrap();
    assert_eq!(p.begin().unwrap_err().code, Code::InvalidTxnState);
    p.end(false).unwrap();
    assert_eq!(p.end(true).unwrap_err().code, Code::InvalidTxnState);
    let mut plain = Producer::idempotent(log.clone()).unwrap();
    assert_eq!(plain.begin().unwrap_err().code, Code::InvalidTxnState);
    for bad in ["", "a/b", ".."] {
        let err = Producer::transactional(log.clone(), bad, DEFAULT_TXN_TIMEOUT).err();
        assert_eq!(err.unwrap().code, Code::InvalidArg);
    }
    for ms in [0, 15 * 60 * 1000 + 1] {
        let err = Producer::transactional(log.clone(), "tx", Duration::from_millis(ms)).err();
        assert_eq!(err.unwrap().code, Code::InvalidArg);
    }
}

#[test]
fn offsets_sent_in_a_transaction_count_once_it_commits() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    topic(&log, "t", 1 << 20);
    log.append("t", &recs(&values(10, "in")), 0).unwrap();
    let offsets = |n: u64| vec![(("t".to_string(), 0), n)];
    let committed = || {
        let other = open(dir.path());
        let c = other.offsets().unwrap().committed("g").unwrap();
        c.get(&("t".to_string(), 0)).copied()
    };
    let mut p = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    p.begin().unwrap();
    p.send_offsets("g", &offsets(4)).unwrap();
    assert_eq!(committed(), None, "open: not applied");
    p.end(false).unwrap();
    assert_eq!(committed(), None, "aborted: dropped");
    p.begin().unwrap();
    p.send_offsets("g", &offsets(7)).unwrap();
    p.end(true).unwrap();
    assert_eq!(committed(), Some(7));
    // This process's tail applies them at the marker too.
    let c = log.offsets().unwrap().committed("g").unwrap();
    assert_eq!(c.get(&("t".to_string(), 0)), Some(&7));
}

#[test]
fn the_sweep_aborts_a_dead_producers_transaction_and_a_timed_out_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    topic(&log, "t", 1 << 20);
    let mut dead = Producer::transactional(log.clone(), "dead", DEFAULT_TXN_TIMEOUT).unwrap();
    dead.begin().unwrap();
    dead.send("t", &recs(&values(2, "dead")), 0).unwrap();
    drop(dead); // its owner lock goes, as when its process dies
    let mut stuck =
        Producer::transactional(log.clone(), "stuck", Duration::from_millis(50)).unwrap();
    stuck.begin().unwrap();
    stuck.send("t", &recs(&values(2, "stuck")), 0).unwrap();
    let mut live = Producer::transactional(log.clone(), "live", DEFAULT_TXN_TIMEOUT).unwrap();
    live.begin().unwrap();
    live.send("t", &recs(&values(2, "live")), 0).unwrap();
    assert_eq!(log.partition("t", 0).unwrap().state().stable_end(), 0);
    std::thread::sleep(Duration::from_millis(100));
    log.sweep_transactions().unwrap();
    // The live one's transaction holds the stable end at its first offset.
    assert_eq!(log.partition("t", 0).unwrap().state().stable_end(), 4);
    assert_eq!(stuck.end(true).unwrap_err().code, Code::Fenced);
    live.end(true).unwrap();
    let (seen, _) = read(&log, Isolation::ReadCommitted);
    assert_eq!(only_values(&seen), values(2, "live"));
    // The next producer of a swept id starts afresh.
    let mut again = Producer::transactional(log.clone(), "stuck", DEFAULT_TXN_TIMEOUT).unwrap();
    commit(&mut again, 1, "again");
    assert_eq!(read(&log, Isolation::ReadCommitted).0.len(), 3);
}

#[test]
fn a_crash_between_write_and_publish_leaves_the_table_true() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    topic(&log, "t", 1 << 20);
    let mut p = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    commit(&mut p, 2, "x");
    let part = log.partition("t", 0).unwrap();
    let state = part.state();
    // A writer that died mid-append: `appending` set, nothing published.
    state.begin();
    drop(p);
    drop(log);
    let log = open(dir.path());
    let part = log.partition("t", 0).unwrap();
    assert_eq!(part.state().stable_end(), 3);
    let (seen, end) = read(&log, Isolation::ReadCommitted);
    assert_eq!((seen.len(), end), (2, 3));
}

#[test]
fn a_power_loss_that_kept_a_transactions_first_records_leaves_them_uncommitted() {
    // The records of a transaction's first append here reach the disk before
    // the append is published; the table must already say the transaction
    // is open (synced), or after a power loss that kept them they would read
    // as committed with no marker ever to come.
    let dir = tempfile::tempdir().unwrap();
    let interval = Duration::from_secs(3600);
    let log = Arc::new(Log::open_with(dir.path(), Durability::Interval, interval, None).unwrap());
    topic(&log, "t", 1 << 20);
    log.append("t", &recs(&values(2, "plain")), 0).unwrap();
    log.flush().unwrap();
    let mut p = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    p.begin().unwrap();
    // Every attempt (the producer retries) dies between its write and its publish.
    fail_appends_for_tests(dir.path(), "t", 0, FailAt::Written, u32::MAX);
    let err = p.send("t", &recs(&values(3, "tx")), 0).unwrap_err();
    assert_eq!(err.code, Code::Io);
    // The power loss: the records and `state` as they are on disk now, from another boot.
    let state = dir.path().join("topics/t/0/state");
    let mut bytes = std::fs::read(&state).unwrap();
    fail_appends_for_tests(dir.path(), "t", 0, FailAt::Written, 0);
    drop(p);
    drop(log);
    bytes[AT_BOOT].copy_from_slice(&[0xAB; 16]);
    std::fs::write(&state, bytes).unwrap();
    let log = open(dir.path());
    let (all, _) = read(&log, Isolation::ReadUncommitted);
    assert_eq!(all.len(), 5, "recovery kept the transaction's records");
    let (seen, _) = read(&log, Isolation::ReadCommitted);
    assert_eq!(only_values(&seen), ["plain-0", "plain-1"]);
    // The id's next producer fences the old one and aborts what it left open.
    let mut again = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    commit(&mut again, 1, "again");
    let (seen, _) = read(&log, Isolation::ReadCommitted);
    assert_eq!(only_values(&seen), ["plain-0", "plain-1", "again-0"]);
}

#[test]
fn a_new_epochs_first_append_retried_after_a_failure_is_written() {
    // The table keeps the last epoch's last append (to drop a retry of it).
    // A new epoch's first append may have the same sequences; when its first
    // attempt fails after the write, the retry must not pass for that old
    // append and be dropped.
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    topic(&log, "t", 1 << 20);
    let mut p = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    commit(&mut p, 3, "a");
    drop(p);
    let mut p = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    fail_appends_for_tests(dir.path(), "t", 0, FailAt::Written, 1);
    commit(&mut p, 3, "b");
    let (seen, _) = read(&log, Isolation::ReadCommitted);
    assert_eq!(
        only_values(&seen),
        ["a-0", "a-1", "a-2", "b-0", "b-1", "b-2"]
    );
}

#[test]
fn a_send_to_several_partitions_puts_each_in_the_transaction_so_a_fence_ends_it_in_each() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let cfg = TopicConfig {
        partitions: 3,
        ..Default::default()
    };
    log.create_topic("t", &cfg).unwrap();
    let mut old = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    old.begin().unwrap();
    let vs = values(6, "old");
    let records = spread(recs(&vs), 3);
    old.send("t", &records, 0).unwrap();
    let stable = |p| log.partition("t", p).unwrap().state().stable_end();
    assert_eq!([stable(0), stable(1), stable(2)], [0, 0, 0]);
    // The new producer aborts what the old one left open, in every partition.
    let _new = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    for p in 0..3 {
        let part = log.partition("t", p).unwrap();
        assert_eq!(part.state().next_offset(), 3, "two records and the marker");
        assert_eq!(stable(p), 3);
        let mut c = log.cursor("t", p, Position::Earliest).unwrap();
        c.set_isolation(Isolation::ReadCommitted);
        assert!(drain(&mut c).is_empty());
    }
}

#[test]
fn with_durability_always_a_send_over_several_partitions_and_its_markers_are_synced_before_returning(
) {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(
        Log::open_with(dir.path(), Durability::Always, Duration::from_secs(1), None).unwrap(),
    );
    let cfg = TopicConfig {
        partitions: 3,
        ..Default::default()
    };
    log.create_topic("t", &cfg).unwrap();
    // Synced means the durable record (what recovery after a power loss keeps) is at the end.
    let synced = |p: u32| {
        let part = log.partition("t", p).unwrap();
        let (base, end) = part.state().active();
        part.state().durable().map(|d| (d.base, d.pos)) == Some((base, end))
    };
    let vs = values(6, "r");
    let records = spread(recs(&vs), 3);
    log.append("t", &records, 0).unwrap();
    assert!((0..3).all(synced), "a plain append");
    let mut p = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    p.begin().unwrap();
    p.send("t", &records, 0).unwrap();
    assert!((0..3).all(synced), "a producer's send");
    p.end(true).unwrap();
    for q in 0..3 {
        assert_eq!(log.partition("t", q).unwrap().state().next_offset(), 5);
    }
    assert!((0..3).all(synced), "the commit markers");
}

#[test]
fn an_abort_whose_index_entry_cannot_be_written_leaves_its_records_unread() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    topic(&log, "t", 1 << 20);
    let mut p = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    p.begin().unwrap();
    p.send("t", &recs(&values(3, "x")), 0).unwrap();
    // A directory where the segment's aborted-transaction index goes: its append fails.
    let txnindex = dir.path().join("topics/t/0/00000000000000000000.txnindex");
    std::fs::create_dir(&txnindex).unwrap();
    assert!(p.end(false).is_err());
    // Had the table closed the transaction first, its records would read as committed.
    assert_eq!(log.partition("t", 0).unwrap().state().stable_end(), 0);
    assert!(read(&log, Isolation::ReadCommitted).0.is_empty());
    // Once the index can be written, the next producer of the id ends it.
    std::fs::remove_dir(&txnindex).unwrap();
    let _next = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    let (seen, end) = read(&log, Isolation::ReadCommitted);
    assert!(seen.is_empty());
    assert_eq!(end, 4, "past the abort marker");
}

/// Flips a byte of the JSON in the newest slot of transactional id `id`'s
/// state file (two slots of 1 MiB: magic, CRC, sequence u64 at 8, length),
/// as a write torn by a power loss would leave it.
fn tear_newest_state_slot(dir: &Path, id: &str) {
    use std::os::unix::fs::FileExt;
    const SLOT: u64 = 1 << 20;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("txn").join(id).join("state"))
        .unwrap();
    let seq = |i: u64| {
        let mut h = [0u8; 8];
        file.read_exact_at(&mut h, i * SLOT + 8).unwrap();
        u64::from_le_bytes(h)
    };
    let newest = if seq(1) > seq(0) { 1 } else { 0 };
    let mut b = [0u8; 1];
    file.read_exact_at(&mut b, newest * SLOT + 20).unwrap();
    file.write_all_at(&[b[0] ^ 0xff], newest * SLOT + 20)
        .unwrap();
}

#[test]
fn a_torn_newest_state_slot_falls_back_to_the_one_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    topic(&log, "t", 1 << 20);
    let mut p = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    commit(&mut p, 2, "a");
    drop(p);
    // The newest slot says the commit is over; the one before it records the decision.
    tear_newest_state_slot(dir.path(), "tx");
    let mut q = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    assert_eq!(q.id().1, 1);
    // Completing the decision again finds its marker written: still one.
    let markers = raw(&log).iter().filter(|(_, control, _)| *control).count();
    assert_eq!(markers, 1);
    commit(&mut q, 1, "b");
    let (seen, _) = read(&log, Isolation::ReadCommitted);
    assert_eq!(only_values(&seen), ["a-0", "a-1", "b-0"]);
    // What q wrote after the fall-back reads as newest: the next epoch follows q's.
    let r = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    assert_eq!(r.id(), (q.id().0, 2));
}

fn keyed<'a>(pairs: &'a [(&'a str, &'a str)]) -> Vec<Placed<'a>> {
    pairs
        .iter()
        .map(|(k, v)| Placed {
            partition: Some(0),
            record: RecordIn {
                key: Some(k.as_bytes()),
                value: Some(v.as_bytes()),
                headers: &[],
                timestamp: 7,
            },
        })
        .collect()
}

fn raw(log: &Log) -> Vec<(u64, bool, String)> {
    let mut c = log.cursor("t", 0, Position::Earliest).unwrap();
    c.set_isolation(Isolation::Raw);
    let mut out = Vec::new();
    c.fetch(usize::MAX, &mut |r| {
        let control = r.stamp.attributes & 0x20 != 0;
        let v = String::from_utf8_lossy(r.value.unwrap_or_default()).into_owned();
        out.push((r.offset, control, v));
        true
    })
    .unwrap();
    out
}

#[test]
fn compaction_drops_aborted_records_keeps_needed_markers_and_stops_at_the_lso() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let cfg = TopicConfig {
        partitions: 1,
        segment_bytes: 4096,
        retention_ms: -1,
        cleanup_policy: caldo_core::CleanupPolicy::Compact,
        delete_retention_ms: 0,
        min_cleanable_dirty_ratio: 0.01,
        ..Default::default()
    };
    log.create_topic("t", &cfg).unwrap();
    let filler: Vec<String> = (0..40).map(|i| format!("{i:0>100}")).collect();
    let fill = |log: &Log| {
        for v in &filler {
            log.append("t", &keyed(&[("f", v)]), 0).unwrap();
        }
    };
    let mut p = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    p.begin().unwrap();
    p.send("t", &keyed(&[("a", "a1"), ("b", "b1")]), 0).unwrap();
    p.end(true).unwrap();
    p.begin().unwrap();
    p.send("t", &keyed(&[("a", "aborted")]), 0).unwrap();
    p.end(false).unwrap();
    fill(&log);
    // An open transaction: nothing from its first offset on may be cleaned.
    let mut open_txn = Producer::transactional(log.clone(), "open", DEFAULT_TXN_TIMEOUT).unwrap();
    open_txn.begin().unwrap();
    open_txn.send("t", &keyed(&[("b", "open")]), 0).unwrap();
    let stable = log.partition("t", 0).unwrap().state().stable_end();
    fill(&log);
    let before = raw(&log);
    std::thread::sleep(Duration::from_millis(5));
    log.clean().unwrap();
    let after = raw(&log);
    assert!(after.len() < before.len(), "something was cleaned");
    let values: Vec<&str> = after.iter().map(|(_, _, v)| v.as_str()).collect();
    assert!(!values.contains(&"aborted"), "the aborted record is gone");
    assert!(
        values.contains(&"a1") && values.contains(&"b1"),
        "{values:?}"
    );
    // The commit marker stays (its records are kept); the abort marker, with no
    // record left and past deleteRetentionMs, goes.
    let markers: Vec<u64> = after.iter().filter(|r| r.1).map(|r| r.0).collect();
    assert_eq!(markers, [2]);
    // Nothing at or past the stable offset changed.
    let tail = |v: &[(u64, bool, String)]| -> Vec<(u64, bool, String)> {
        v.iter().filter(|r| r.0 >= stable).cloned().collect()
    };
    assert_eq!(tail(&after), tail(&before));
    let committed = read(&log, Isolation::ReadCommitted).0;
    assert!(committed.iter().all(|(o, _)| *o < stable));
    open_txn.end(false).unwrap();
    let committed = only_values(&read(&log, Isolation::ReadCommitted).0);
    assert!(
        !committed.contains(&"open".to_string()) && !committed.contains(&"aborted".to_string())
    );
}

#[test]
fn a_read_committed_cursor_seeking_back_still_skips_what_was_aborted_there() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    topic(&log, "t", 1 << 20);
    let mut p = Producer::transactional(log.clone(), "tx", DEFAULT_TXN_TIMEOUT).unwrap();
    for (tag, commit) in [("a1", false), ("c1", true), ("a2", false), ("c2", true)] {
        p.begin().unwrap();
        p.send("t", &recs(&values(3, tag)), 0).unwrap();
        p.end(commit).unwrap();
    }
    let mut c = log.cursor("t", 0, Position::Offset(8)).unwrap();
    c.set_isolation(Isolation::ReadCommitted);
    assert_eq!(only_values(&drain(&mut c)), values(3, "c2"));
    c.seek(Position::Earliest);
    let mut want = values(3, "c1");
    want.extend(values(3, "c2"));
    assert_eq!(only_values(&drain(&mut c)), want);
}
