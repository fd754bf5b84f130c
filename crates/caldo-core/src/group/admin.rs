//! Groups seen from outside: list, describe, move their committed offsets.

use std::collections::{BTreeMap, BTreeSet};

use super::assignor::Tp;
use super::commit::checked;
use super::state::{GroupDir, GroupState, MemberInfo};
use crate::error::{Code, Error, IoContext, Result};
use crate::layout;
use crate::log::Log;
use crate::storage::topic::validate_name;

/// A group as [`describe_group`] reports it.
#[derive(Clone, Debug)]
pub struct GroupInfo {
    pub name: String,
    pub generation: u64,
    pub members: Vec<MemberInfo>,
    pub assignment: BTreeMap<String, Vec<Tp>>,
    /// (topic, partition) → (committed offset, high watermark).
    pub offsets: BTreeMap<Tp, (Option<u64>, u64)>,
}

/// Where [`set_group_offsets`] moves a stopped group.
pub enum ResetTo {
    Earliest,
    Latest,
    Offsets(Vec<(Tp, u64)>),
}

/// Describes a group, reaping dead members first so the list is current.
pub fn describe_group(log: &Log, name: &str) -> Result<GroupInfo> {
    let group = GroupDir::open(log, name)?;
    let st = group.update(log, false, |_| Ok(()))?;
    let committed = log.offsets()?.committed(name)?;
    let mut tps: BTreeSet<Tp> = committed.keys().cloned().collect();
    tps.extend(st.assignment.values().flatten().cloned());
    let mut offsets = BTreeMap::new();
    for tp in tps {
        // Partitions of topics deleted since are left out.
        if let Ok(p) = log.partition(&tp.0, tp.1) {
            let high = p.state().next_offset();
            offsets.insert(tp.clone(), (committed.get(&tp).copied(), high));
        }
    }
    Ok(GroupInfo {
        name: name.to_string(),
        generation: st.generation,
        members: st.members,
        assignment: st.assignment,
        offsets,
    })
}

/// Every group that has ever had a member, described.
pub fn list_groups(log: &Log) -> Result<Vec<GroupInfo>> {
    log.check_open()?;
    let mut names = Vec::new();
    match std::fs::read_dir(layout::groups(log.dir())) {
        Ok(entries) => {
            for e in entries {
                let name = e
                    .ctx("listing groups")?
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                if validate_name("group", &name).is_ok() {
                    names.push(name);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).ctx("listing groups"),
    }
    names.sort();
    names.iter().map(|g| describe_group(log, g)).collect()
}

/// `ERR_GROUP_ACTIVE` unless the group has no live member.
fn stopped(name: &str, st: &GroupState, doing: &str) -> Result<()> {
    if st.members.is_empty() {
        return Ok(());
    }
    let pids: Vec<String> = st.members.iter().map(|m| m.pid.to_string()).collect();
    Err(Error::new(
        Code::GroupActive,
        format!(
            "group '{name}' has {} live member(s) (pid {}); stop them before {doing}",
            st.members.len(),
            pids.join(", ")
        ),
    ))
}

/// Moves a group's committed offsets. Refused while it has live members, and
/// done under the group lock so none can join meanwhile.
pub fn set_group_offsets(log: &Log, name: &str, to: ResetTo) -> Result<()> {
    let group = GroupDir::open(log, name)?;
    group.update(log, false, |st| {
        stopped(name, st, "resetting its offsets")?;
        let offsets = match to {
            // Below the log start (removed by retention): the log start.
            ResetTo::Offsets(list) => checked(log, list)?
                .into_iter()
                .map(|(tp, o)| {
                    let start = log.partition(&tp.0, tp.1)?.state().log_start();
                    Ok((tp, o.max(start)))
                })
                .collect::<Result<Vec<_>>>()?,
            ResetTo::Earliest => ends(log, name, st, true)?,
            ResetTo::Latest => ends(log, name, st, false)?,
        };
        log.offsets()?.commit(name, &offsets)
    })?;
    Ok(())
}

/// Deletes a stopped group (Kafka's DeleteGroups): a tombstone for each of
/// its committed offsets in `__consumer_offsets`, which compaction removes
/// after `deleteRetentionMs`, and its directory. Under the group lock, so no
/// member joins meanwhile; a group of the same name later starts afresh.
pub fn delete_group(log: &Log, name: &str) -> Result<()> {
    log.check_open()?;
    validate_name("group", name)?;
    let groups = layout::groups(log.dir());
    let dir = layout::group(&groups, name);
    // Without asking `offsets()`, which would create `__consumer_offsets`.
    let offsets_dir = layout::topic(&layout::topics(log.dir()), crate::offsets::TOPIC);
    let known =
        dir.is_dir() || (offsets_dir.is_dir() && !log.offsets()?.committed(name)?.is_empty());
    if !known {
        return Err(Error::new(
            Code::UnknownGroup,
            format!("group '{name}' does not exist; `caldo groups` lists the groups"),
        ));
    }
    let group = GroupDir::open(log, name)?;
    // Reap dead members first, so that the update below changes nothing
    // that it would write back into the directory it moves away.
    group.update(log, false, |_| Ok(()))?;
    group.update(log, false, |st| {
        stopped(name, st, "deleting it")?;
        log.offsets()?.forget(name)?;
        let gone = groups.join(format!(".deleted-{name}-{}", std::process::id()));
        std::fs::rename(&dir, &gone).ctx(format_args!("removing group '{name}'"))?;
        std::fs::remove_dir_all(&gone).ctx(format_args!("removing group '{name}'"))
    })?;
    Ok(())
}

/// The first (`earliest`) or next offset of every partition the group has
/// committed for or last subscribed to.
fn ends(log: &Log, name: &str, st: &GroupState, earliest: bool) -> Result<Vec<(Tp, u64)>> {
    let mut tps: BTreeSet<Tp> = log.offsets()?.committed(name)?.into_keys().collect();
    for t in &st.topics {
        if let Ok(topic) = log.topic(t) {
            tps.extend((0..topic.config.partitions).map(|p| (t.clone(), p)));
        }
    }
    let mut list = Vec::new();
    for tp in tps {
        if let Ok(p) = log.partition(&tp.0, tp.1) {
            let s = p.state();
            list.push((
                tp,
                if earliest {
                    s.log_start()
                } else {
                    s.next_offset()
                },
            ));
        }
    }
    Ok(list)
}
