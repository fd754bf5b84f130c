//! One group's directory and its `state.json`, changed only under the group lock.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};
use serde::{Deserialize, Serialize};

use super::assignor::{assign, Assignor, Sub, Tp};
use crate::error::{Code, Error, IoContext, Result};
use crate::log::Log;
use crate::storage::topic::{refuse_symlink, validate_name};
use crate::sync::lock;
use crate::sync::wake::Wake;
use crate::{fsutil, layout};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub id: String,
    pub pid: u32,
    pub topics: Vec<String>,
    pub assignor: Assignor,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct GroupState {
    pub(super) generation: u64,
    /// Sorted by id; ids start with the join time, so the first is the oldest.
    pub(super) members: Vec<MemberInfo>,
    pub(super) assignment: BTreeMap<String, Vec<Tp>>,
    /// The topics last subscribed to, kept after everyone leaves (for resets).
    pub(super) topics: Vec<String>,
}

/// The files of one group.
pub(super) struct GroupDir {
    pub(super) name: String,
    dir: PathBuf,
    /// Bumped on every new generation.
    pub(super) gen: Wake,
}

impl GroupDir {
    pub(super) fn open(log: &Log, name: &str) -> Result<GroupDir> {
        log.check_open()?;
        validate_name("group", name)?;
        let dir = layout::group(&layout::groups(log.dir()), name);
        refuse_symlink(&dir)?;
        for sub in [layout::group_members(&dir), layout::group_owners(&dir)] {
            std::fs::create_dir_all(sub).ctx(format_args!("creating group '{name}'"))?;
        }
        let gen = Wake::open(&layout::group_generation(&dir))?;
        Ok(GroupDir {
            name: name.to_string(),
            dir,
            gen,
        })
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(super) fn owner_path(&self, topic: &str) -> PathBuf {
        layout::group_owner(&self.dir, topic)
    }

    fn member_path(&self, id: &str) -> PathBuf {
        layout::group_member(&self.dir, id)
    }

    /// Creates member `info.id`'s file, locked for the member's lifetime, and
    /// writes `info` into it before the member joins, so that a repair of the
    /// state finds it. Not fsync'ed: only live processes read it, and a power
    /// cut ends them all.
    pub(super) fn enroll(&self, info: &MemberInfo) -> Result<File> {
        let mut file = open_lock(&self.member_path(&info.id))?;
        lock::hold(&file).ctx("locking member file")?;
        let json = serde_json::to_vec(info).expect("member serializes");
        file.write_all(&json).ctx("writing member file")?;
        Ok(file)
    }

    /// Removes a member's file once it let go of its lock.
    pub(super) fn forget(&self, id: &str) {
        let _ = std::fs::remove_file(self.member_path(id));
    }

    fn read_state(&self) -> Result<GroupState> {
        match std::fs::read(layout::group_state(&self.dir)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::new(
                    Code::Corrupt,
                    format!("group '{}' has a damaged state.json: {e}", self.name),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(GroupState::default()),
            Err(e) => Err(e).ctx(format_args!("reading group '{}'", self.name)),
        }
    }

    /// The state as it is now; a damaged one is repaired first.
    pub(super) fn current(&self, log: &Log) -> Result<GroupState> {
        match self.read_state() {
            Err(e) if e.code == Code::Corrupt => self.update(log, false, |_| Ok(())),
            read => read,
        }
    }

    fn write_state(&self, state: &GroupState, durable: bool) -> Result<()> {
        let json = serde_json::to_vec_pretty(state).expect("state serializes");
        fsutil::write_atomic(&layout::group_state(&self.dir), &json, durable)
    }

    /// True while some process holds member `id`'s lock. Only called under the
    /// group lock, so two checkers never mistake each other for the member.
    fn alive(&self, id: &str) -> bool {
        File::open(self.member_path(id)).is_ok_and(|f| matches!(try_lock(&f), Ok(false)))
    }

    /// Under the group lock: repairs a damaged state, drops dead members,
    /// applies `change`, and when membership changed (or `force`, or after a
    /// repair), reassigns and starts a new generation. Returns the state as left.
    pub(super) fn update(
        &self,
        log: &Log,
        force: bool,
        change: impl FnOnce(&mut GroupState) -> Result<()>,
    ) -> Result<GroupState> {
        let lock_file = open_lock(&layout::group_lock(&self.dir))?;
        let _guard = lock::exclusive(&lock_file).ctx("locking group")?;
        let (mut st, repaired) = match self.read_state() {
            Err(e) if e.code == Code::Corrupt => (self.rebuild()?, true),
            read => (read?, false),
        };
        let before: Vec<String> = st.members.iter().map(|m| m.id.clone()).collect();
        st.members.retain(|m| {
            let alive = self.alive(&m.id);
            if !alive {
                self.forget(&m.id);
            }
            alive
        });
        change(&mut st)?;
        st.members.sort_by(|a, b| a.id.cmp(&b.id));
        let same = st.members.iter().map(|m| &m.id).eq(before.iter());
        if same && !force && !repaired {
            return Ok(st);
        }
        reassign(log, &mut st)?;
        let written = self.write_state(&st, log.durable());
        // Even if only the directory sync failed, the new state is in place:
        // members must look at it.
        self.gen.notify();
        log.interrupt();
        written.map(|()| st)
    }

    /// What outlives a damaged `state.json`: every member that wrote its file
    /// (the dead are dropped next, by their locks), no assignment yet, and a
    /// generation past any this group had (the wake-up word moved with each),
    /// so that every member resyncs. Committed offsets are kept elsewhere.
    fn rebuild(&self) -> Result<GroupState> {
        let mut st = GroupState {
            generation: u64::from(self.gen.seq()),
            ..GroupState::default()
        };
        let listing = "listing group members";
        for entry in std::fs::read_dir(layout::group_members(&self.dir)).ctx(listing)? {
            let id = entry
                .ctx(listing)?
                .file_name()
                .to_string_lossy()
                .into_owned();
            let info = std::fs::read(self.member_path(&id))
                .ok()
                .and_then(|bytes| serde_json::from_slice::<MemberInfo>(&bytes).ok());
            // A member still joining has not written its file yet; it adds itself.
            if let Some(info) = info.filter(|i| i.id == id) {
                st.members.push(info);
            }
        }
        Ok(st)
    }
}

/// Assigns the subscribed partitions with the oldest member's assignor and
/// starts a new generation.
fn reassign(log: &Log, st: &mut GroupState) -> Result<()> {
    let topics: BTreeSet<String> = st
        .members
        .iter()
        .flat_map(|m| m.topics.iter().cloned())
        .collect();
    if !st.members.is_empty() {
        st.topics = topics.iter().cloned().collect();
    }
    let mut partitions = BTreeMap::new();
    for t in topics {
        match log.topic(&t) {
            Ok(topic) => {
                partitions.insert(t, topic.config.partitions);
            }
            // A topic deleted since someone subscribed is simply not assigned.
            Err(e) if e.code == Code::UnknownTopic => {}
            Err(e) => return Err(e),
        }
    }
    let subs: Vec<Sub> = st
        .members
        .iter()
        .map(|m| Sub {
            id: &m.id,
            topics: &m.topics,
        })
        .collect();
    let kind = st.members.first().map(|m| m.assignor).unwrap_or_default();
    st.assignment = assign(kind, &subs, &partitions, &st.assignment);
    st.generation += 1;
    Ok(())
}

pub(super) use crate::sync::lock::open as open_lock;

/// Tries to take `file`'s lock without waiting.
pub(super) fn try_lock(file: &File) -> std::io::Result<bool> {
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
