//! Consumer groups on real files, with members in one process (the Node
//! suite covers members in many processes, and kill -9).

use std::sync::Arc;
use std::time::Duration;

use caldo_core::{
    describe_group, list_groups, set_group_offsets, Assignor, Code, Durability, GroupConfig, Log,
    Member, Placed, Position, RecordIn, ResetTo, TopicConfig, Tp,
};

fn setup(dir: &std::path::Path, partitions: u32, records: u32) -> Arc<Log> {
    let log = Arc::new(Log::open(dir, Durability::None, Duration::from_secs(1)).unwrap());
    let cfg = TopicConfig {
        partitions,
        ..TopicConfig::default()
    };
    log.create_topic("t", &cfg).unwrap();
    let values: Vec<String> = (0..records).map(|i| format!("v{i}")).collect();
    let recs: Vec<Placed> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Placed {
            partition: Some(i as u32 % partitions),
            record: RecordIn {
                key: None,
                value: Some(v.as_bytes()),
                headers: &[],
                timestamp: 0,
            },
        })
        .collect();
    log.append("t", &recs, 0).unwrap();
    log
}

fn join(log: &Arc<Log>, auto: bool) -> Member {
    let cfg = GroupConfig {
        group: "g".into(),
        topics: vec!["t".into()],
        assignor: Assignor::CooperativeSticky,
        start_from: Position::Earliest,
        auto_commit: auto.then_some(Duration::from_millis(0)),
    };
    Member::join(log.clone(), cfg).unwrap()
}

fn owned(m: &Member) -> Vec<Tp> {
    m.owned().cloned().collect()
}

#[test]
fn members_split_partitions_and_hand_them_over_on_leave() {
    let dir = tempfile::tempdir().unwrap();
    let log = setup(dir.path(), 4, 40);
    let mut a = join(&log, true);
    let ch = a.sync(&|_| None).unwrap();
    assert_eq!(ch.assigned.len(), 4);
    assert!(ch.assigned.iter().all(|(_, start)| *start == 0));
    let mut b = join(&log, true);
    assert!(a.changed());
    // a gives up two (committing offset 7 for them), b can then take them.
    let ch = a.sync(&|_| Some(7)).unwrap();
    assert_eq!(ch.revoked.len(), 2);
    let ch = b.sync(&|_| None).unwrap();
    assert_eq!(ch.assigned.len(), 2);
    assert!(
        ch.assigned.iter().all(|(_, start)| *start == 7),
        "starts at the commit"
    );
    let (oa, ob) = (owned(&a), owned(&b));
    assert!(oa.iter().all(|tp| !ob.contains(tp)));
    // a leaves: b gets all four.
    a.leave(&|_| Some(3), &[]).unwrap();
    b.sync(&|_| None).unwrap();
    assert_eq!(owned(&b).len(), 4);
    let info = describe_group(&log, "g").unwrap();
    assert_eq!(info.members.len(), 1);
    let committed: Vec<Option<u64>> = info.offsets.values().map(|(c, _)| *c).collect();
    assert_eq!(committed.iter().filter(|c| **c == Some(3)).count(), 2);
    assert_eq!(committed.iter().filter(|c| **c == Some(7)).count(), 2);
}

#[test]
fn a_partition_waits_until_its_previous_owner_lets_go() {
    let dir = tempfile::tempdir().unwrap();
    let log = setup(dir.path(), 2, 10);
    let mut a = join(&log, false);
    a.sync(&|_| None).unwrap();
    let mut b = join(&log, false);
    // b is assigned one partition, but a still holds it until a syncs.
    assert!(b.sync(&|_| None).unwrap().assigned.is_empty());
    assert!(b.changed(), "still waiting");
    a.sync(&|_| None).unwrap();
    assert_eq!(b.sync(&|_| None).unwrap().assigned.len(), 1);
    assert!(!b.changed());
}

#[test]
fn commits_are_checked_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let log = setup(dir.path(), 1, 10);
    let mut a = join(&log, false);
    a.sync(&|_| None).unwrap();
    let tp: Tp = ("t".into(), 0);
    assert_eq!(
        a.commit(&[(tp.clone(), 11)]).unwrap_err().code,
        Code::OffsetOutOfRange
    );
    assert_eq!(
        a.commit(&[(("t".into(), 5), 1)]).unwrap_err().code,
        Code::Fenced
    );
    a.commit(&[(tp.clone(), 6)]).unwrap();
    assert_eq!(
        set_group_offsets(&log, "g", ResetTo::Earliest)
            .unwrap_err()
            .code,
        Code::GroupActive
    );
    a.fence().unwrap();
    assert_eq!(a.commit(&[(tp.clone(), 6)]).unwrap_err().code, Code::Fenced);
    drop(a);
    drop(log);
    let log = Arc::new(Log::open(dir.path(), Durability::None, Duration::from_secs(1)).unwrap());
    let mut b = join(&log, false);
    let ch = b.sync(&|_| None).unwrap();
    assert_eq!(ch.assigned, vec![(tp.clone(), 6)]);
    b.leave(&|_| None, &[]).unwrap();
    set_group_offsets(&log, "g", ResetTo::Latest).unwrap();
    assert_eq!(
        describe_group(&log, "g").unwrap().offsets[&tp],
        (Some(10), 10)
    );
}

fn state_path(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("groups").join("g").join("state.json")
}

/// `a` holds every partition when its group's state.json is replaced with
/// `damage`; `b` joins, which repairs it, and the two split the partitions.
fn repaired_on_the_next_join(damage: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let log = setup(dir.path(), 4, 40);
    let mut a = join(&log, false);
    a.sync(&|_| None).unwrap();
    assert_eq!(owned(&a).len(), 4);
    let before = describe_group(&log, "g").unwrap().generation;
    std::fs::write(state_path(dir.path()), damage).unwrap();
    let mut b = join(&log, false);
    assert!(a.changed(), "the repair starts a new generation");
    a.sync(&|_| None).unwrap();
    b.sync(&|_| None).unwrap();
    assert!(!a.changed() && !b.changed());
    let (oa, ob) = (owned(&a), owned(&b));
    assert_eq!((oa.len(), ob.len()), (2, 2));
    let mut all: Vec<Tp> = oa.iter().chain(&ob).cloned().collect();
    all.sort();
    assert_eq!(
        all,
        (0..4).map(|p| ("t".to_string(), p)).collect::<Vec<_>>()
    );
    let info = describe_group(&log, "g").unwrap();
    assert!(info.generation > before);
    let ids: Vec<&str> = info.members.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, [a.id(), b.id()]);
    assert_eq!(info.assignment[a.id()], oa);
    assert_eq!(info.assignment[b.id()], ob);
    let groups = list_groups(&log).unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].members.len(), 2);
}

#[test]
fn an_empty_state_is_repaired_on_the_next_join() {
    repaired_on_the_next_join(b"");
}

#[test]
fn a_garbage_state_is_repaired_on_the_next_join() {
    repaired_on_the_next_join(b"{\"generation\": 3, \"members\": [oops");
}

#[test]
fn a_watcher_repairs_a_state_damaged_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = setup(dir.path(), 2, 10);
    let mut a = join(&log, false);
    a.sync(&|_| None).unwrap();
    // Renamed into place, as the watcher sees every new state.json.
    let tmp = dir.path().join("groups").join("g").join("damaged");
    std::fs::write(&tmp, b"\0\0\0").unwrap();
    std::fs::rename(&tmp, state_path(dir.path())).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !a.changed() {
        assert!(std::time::Instant::now() < deadline, "not repaired");
        std::thread::sleep(Duration::from_millis(10));
    }
    let bytes = std::fs::read(state_path(dir.path())).unwrap();
    assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_ok());
    let ch = a.sync(&|_| None).unwrap();
    assert!(ch.revoked.is_empty() && ch.assigned.is_empty());
    assert_eq!(owned(&a).len(), 2);
    assert_eq!(describe_group(&log, "g").unwrap().members.len(), 1);
}
