//! Every path of the on-disk layout, in one place:
//!
//! ```text
//! <dir>/caldo.json                              format version
//! <dir>/wake                                    the log's wake-up word
//! <dir>/topics/<topic>/topic.json               partitions + config
//! <dir>/topics/<topic>/config.lock              locked while topic.json is altered
//! <dir>/topics/<topic>/<p>/state                mmap'd partition state
//! <dir>/topics/<topic>/<p>/<base:020>.log       record batches
//! <dir>/topics/<topic>/<p>/<base:020>.index     sparse offset -> position
//! <dir>/topics/<topic>/<p>/<base:020>.timeindex sparse max timestamp -> offset
//! <dir>/topics/<topic>/<p>/<base:020>.txnindex  aborted transactions (Kafka's AbortedTxn)
//! <dir>/topics/<topic>/<p>/cleaner               locked by the process cleaning it
//! <dir>/groups/<group>/lock                     taken while the group state changes
//! <dir>/groups/<group>/state.json               generation, members, assignment
//! <dir>/groups/<group>/gen                      wake-up word of new generations
//! <dir>/groups/<group>/members/<id>             locked by its member for its lifetime
//! <dir>/groups/<group>/owners/<topic>-<p>       locked by the member reading that partition
//! <dir>/txn/ids                                 the next block of producer ids, locked to take one
//! <dir>/txn/<id>/state                          a transactional id's producer, epoch, transaction
//! <dir>/txn/<id>/lock                           locked while its state changes
//! <dir>/txn/<id>/fence                          mmap'd: the producer id and epoch that may write
//! <dir>/txn/<id>/owners/<name>                  locked by the live producer of that id
//! ```

use std::path::{Path, PathBuf};

pub(crate) fn meta(dir: &Path) -> PathBuf {
    dir.join("caldo.json")
}

pub(crate) fn wake(dir: &Path) -> PathBuf {
    dir.join("wake")
}

pub(crate) fn topics(dir: &Path) -> PathBuf {
    dir.join("topics")
}

pub(crate) fn topic(topics: &Path, name: &str) -> PathBuf {
    topics.join(name)
}

pub(crate) fn topic_config(topic: &Path) -> PathBuf {
    topic.join("topic.json")
}

pub(crate) fn topic_config_lock(topic: &Path) -> PathBuf {
    topic.join("config.lock")
}

pub(crate) fn partition(topic: &Path, id: u32) -> PathBuf {
    topic.join(id.to_string())
}

pub(crate) fn partition_state(partition: &Path) -> PathBuf {
    partition.join("state")
}

pub(crate) fn segment_log(partition: &Path, base: u64) -> PathBuf {
    partition.join(format!("{base:020}.log"))
}

pub(crate) fn segment_index(partition: &Path, base: u64) -> PathBuf {
    partition.join(format!("{base:020}.index"))
}

pub(crate) fn segment_time_index(partition: &Path, base: u64) -> PathBuf {
    partition.join(format!("{base:020}.timeindex"))
}

pub(crate) fn segment_txn_index(partition: &Path, base: u64) -> PathBuf {
    partition.join(format!("{base:020}.txnindex"))
}

/// A file compaction is writing: `<name>.cleaned`, beside what it replaces.
pub(crate) fn cleaned(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".cleaned");
    PathBuf::from(name)
}

/// The marker of a compacted segment ready to replace the segments from
/// `base` to `end`: its creation is the point after which the new files win.
pub(crate) fn segment_swap(partition: &Path, base: u64, end: u64) -> PathBuf {
    partition.join(format!("{base:020}-{end:020}.swap"))
}

/// `(base, end)` of a swap file name (`<base:020>-<end:020>.swap`), if it is one.
pub(crate) fn swap_range(file_name: &str) -> Option<(u64, u64)> {
    let (base, end) = file_name.strip_suffix(".swap")?.split_once('-')?;
    Some((base.parse().ok()?, end.parse().ok()?))
}

pub(crate) fn partition_cleaner(partition: &Path) -> PathBuf {
    partition.join("cleaner")
}

/// The base offset of a segment's index, time index or transaction index
/// file name (`<base:020>.index`, `.timeindex`, `.txnindex`), if it is one.
pub(crate) fn segment_companion_base(file_name: &str) -> Option<u64> {
    let stem = file_name
        .strip_suffix(".index")
        .or_else(|| file_name.strip_suffix(".timeindex"))
        .or_else(|| file_name.strip_suffix(".txnindex"))?;
    stem.parse().ok()
}

/// The base offset of a segment file name (`<base:020>.log`), if it is one.
pub(crate) fn segment_base(file_name: &str) -> Option<u64> {
    let stem = file_name.strip_suffix(".log")?;
    stem.parse().ok()
}

pub(crate) fn groups(dir: &Path) -> PathBuf {
    dir.join("groups")
}

pub(crate) fn group(groups: &Path, name: &str) -> PathBuf {
    groups.join(name)
}

pub(crate) fn group_lock(group: &Path) -> PathBuf {
    group.join("lock")
}

pub(crate) fn group_state(group: &Path) -> PathBuf {
    group.join("state.json")
}

pub(crate) fn group_generation(group: &Path) -> PathBuf {
    group.join("gen")
}

pub(crate) fn group_members(group: &Path) -> PathBuf {
    group.join("members")
}

pub(crate) fn group_member(group: &Path, id: &str) -> PathBuf {
    group_members(group).join(id)
}

pub(crate) fn group_owners(group: &Path) -> PathBuf {
    group.join("owners")
}

/// A topic's owner locks: byte `p` is locked by the member reading partition `p`.
pub(crate) fn group_owner(group: &Path, topic: &str) -> PathBuf {
    group_owners(group).join(topic)
}

pub(crate) fn txns(dir: &Path) -> PathBuf {
    dir.join("txn")
}

pub(crate) fn producer_ids(dir: &Path) -> PathBuf {
    txns(dir).join("ids")
}

pub(crate) fn txn(txns: &Path, id: &str) -> PathBuf {
    txns.join(id)
}

pub(crate) fn txn_state(txn: &Path) -> PathBuf {
    txn.join("state")
}

pub(crate) fn txn_lock(txn: &Path) -> PathBuf {
    txn.join("lock")
}

pub(crate) fn txn_fence(txn: &Path) -> PathBuf {
    txn.join("fence")
}

pub(crate) fn txn_owners(txn: &Path) -> PathBuf {
    txn.join("owners")
}

pub(crate) fn txn_owner(txn: &Path, name: &str) -> PathBuf {
    txn_owners(txn).join(name)
}
