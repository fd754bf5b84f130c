//! One member of a group, in this process: joins, follows the assignment
//! generation by generation, commits, and leaves.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::assignor::{Assignor, Tp};
use super::state::{open_lock, GroupDir, MemberInfo};
use super::watcher::Watcher;
use crate::error::{Code, Error, IoContext, Result};
use crate::log::Log;
use crate::offsets::Committed;
use crate::storage::cursor::Position;
use crate::storage::topic::validate_name;
use crate::sync::lock;

/// A name no other member or producer has: time, pid and a counter.
pub(crate) fn unique_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{nanos:024}-{}-{n}", std::process::id())
}

pub struct Config {
    pub group: String,
    pub topics: Vec<String>,
    pub assignor: Assignor,
    /// Where a partition with no committed offset starts.
    pub start_from: Position,
    /// Commit processed offsets this often, on revoke and on leave; `None`: only by hand.
    pub auto_commit: Option<Duration>,
}

/// What a [`Member::sync`] changed: partitions to start reading (at the
/// offset given) and partitions given up.
#[derive(Debug, Default)]
pub struct Change {
    pub assigned: Vec<(Tp, u64)>,
    pub revoked: Vec<Tp>,
}

/// The positions of `tps`, for those that have one.
fn positions_of<'a>(
    positions: &dyn Fn(&Tp) -> Option<u64>,
    tps: impl IntoIterator<Item = &'a Tp>,
) -> Vec<(Tp, u64)> {
    tps.into_iter()
        .filter_map(|tp| positions(tp).map(|o| (tp.clone(), o)))
        .collect()
}

/// A partition's owner lock kept past leaving; dropping it lets the partition go.
pub type Held = (Tp, lock::Range);

/// One member of a group, in this process.
pub struct Member {
    pub(super) log: Arc<Log>,
    pub(super) group: Arc<GroupDir>,
    pub(super) cfg: Config,
    pub(super) info: MemberInfo,
    /// Holds the member lock while it lives.
    pub(super) file: Option<File>,
    /// The generation word as last synced.
    pub(super) seen: u32,
    pub(super) owned: BTreeMap<Tp, lock::Range>,
    /// Each topic's owners file, opened once per membership: the partitions'
    /// locks are byte ranges of it.
    owners: BTreeMap<String, Arc<File>>,
    pub(super) pending: BTreeSet<Tp>,
    pub(super) committed: BTreeMap<Tp, u64>,
    pub(super) last_commit: Instant,
    pub(super) fenced: bool,
    pub(super) watcher: Option<Watcher>,
}

impl Member {
    pub fn join(log: Arc<Log>, cfg: Config) -> Result<Member> {
        validate_name("group", &cfg.group)?;
        if cfg.topics.is_empty() {
            return Err(Error::new(
                Code::InvalidArg,
                "subscribe to at least one topic",
            ));
        }
        for t in &cfg.topics {
            log.topic(t)?;
        }
        let group = Arc::new(GroupDir::open(&log, &cfg.group)?);
        let info = MemberInfo {
            id: String::new(),
            pid: std::process::id(),
            topics: cfg.topics.clone(),
            assignor: cfg.assignor,
        };
        let mut m = Member {
            log,
            group,
            cfg,
            info,
            file: None,
            seen: 0,
            owned: BTreeMap::new(),
            owners: BTreeMap::new(),
            pending: BTreeSet::new(),
            committed: BTreeMap::new(),
            last_commit: Instant::now(),
            fenced: false,
            watcher: None,
        };
        m.enter()?;
        Ok(m)
    }

    /// Joins under a new member id.
    fn enter(&mut self) -> Result<()> {
        self.info.id = unique_id();
        self.file = Some(self.group.enroll(&self.info)?);
        self.seen = self.group.gen.seq().wrapping_sub(1);
        let info = self.info.clone();
        self.group.update(&self.log, true, |st| {
            // A repair of the state may have found this member already.
            st.members.retain(|m| m.id != info.id);
            st.members.push(info);
            Ok(())
        })?;
        self.watcher = Some(Watcher::spawn(self.log.clone(), self.group.clone())?);
        self.fenced = false;
        Ok(())
    }

    pub fn id(&self) -> &str {
        &self.info.id
    }

    pub fn group(&self) -> &str {
        &self.group.name
    }

    pub fn auto_commits(&self) -> bool {
        self.cfg.auto_commit.is_some()
    }

    /// True when [`Member::sync`] has something to do: a new generation, or
    /// partitions still waiting for their previous owner.
    pub fn changed(&self) -> bool {
        self.fenced || self.group.gen.seq() != self.seen || !self.pending.is_empty()
    }

    /// True when a new generation started since the last sync.
    pub fn rebalancing(&self) -> bool {
        self.group.gen.seq() != self.seen
    }

    /// Partitions this member holds now.
    pub fn owned(&self) -> impl Iterator<Item = &Tp> {
        self.owned.keys()
    }

    /// Follows the group's current assignment: gives up revoked partitions
    /// (committing `positions` first, with auto-commit) and takes assigned
    /// ones whose previous owner has let go. A fenced member joins again.
    pub fn sync(&mut self, positions: &dyn Fn(&Tp) -> Option<u64>) -> Result<Change> {
        let mut change = Change::default();
        if self.fenced {
            self.enter()?;
        }
        let seq = self.group.gen.seq();
        if seq != self.seen {
            self.seen = seq;
            let st = self.group.current(&self.log)?;
            if !st.members.iter().any(|m| m.id == self.info.id) {
                // Reaped while alive (its lock could not be seen): join again.
                change.revoked = self.release_all(positions, false, &[]).0;
                self.enter()?;
                return Ok(change);
            }
            let target: BTreeSet<Tp> = st
                .assignment
                .get(&self.info.id)
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            change.revoked = self.revoke(positions, &target)?;
            self.pending = target
                .into_iter()
                .filter(|tp| !self.owned.contains_key(tp))
                .collect();
        }
        self.take_pending(&mut change.assigned)?;
        Ok(change)
    }

    /// Gives up the partitions held but no longer in `target`, committing
    /// their `positions` first with auto-commit.
    fn revoke(
        &mut self,
        positions: &dyn Fn(&Tp) -> Option<u64>,
        target: &BTreeSet<Tp>,
    ) -> Result<Vec<Tp>> {
        let revoked: Vec<Tp> = self
            .owned
            .keys()
            .filter(|tp| !target.contains(*tp))
            .cloned()
            .collect();
        if !revoked.is_empty() {
            if self.cfg.auto_commit.is_some() {
                self.commit(&positions_of(positions, &revoked))?;
            }
            for tp in &revoked {
                self.owned.remove(tp);
                self.committed.remove(tp);
            }
            self.log.interrupt();
        }
        Ok(revoked)
    }

    /// Takes the assigned partitions whose previous owner has let go, each
    /// with the offset to start at; the others stay pending, as do those
    /// whose offsets an open transaction is changing (it ends soon: its
    /// producer commits, or a sweep ends it, which is tried here first).
    fn take_pending(&mut self, assigned: &mut Vec<(Tp, u64)>) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let offsets = self.log.offsets()?;
        let mut read = offsets.committed_unstable(&self.group.name)?;
        if self.pending.iter().any(|tp| read.1.contains(tp)) {
            self.log.sweep_transactions()?;
            read = offsets.committed_unstable(&self.group.name)?;
        }
        let (committed, unstable) = read;
        for tp in std::mem::take(&mut self.pending) {
            let owners = match self.owners.get(&tp.0) {
                Some(f) => f.clone(),
                None => {
                    let f = Arc::new(open_lock(&self.group.owner_path(&tp.0))?);
                    self.owners.insert(tp.0.clone(), f.clone());
                    f
                }
            };
            let taken = match unstable.contains(&tp) {
                true => None,
                false => lock::try_range(&owners, tp.1.into()).ctx("locking partition owner")?,
            };
            let Some(file) = taken else {
                self.pending.insert(tp);
                continue;
            };
            let start = self.start(&tp, &committed)?;
            if let Some(&c) = committed.get(&tp) {
                self.committed.insert(tp.clone(), c);
            }
            self.owned.insert(tp.clone(), file);
            assigned.push((tp, start));
        }
        Ok(())
    }

    fn start(&self, tp: &Tp, committed: &Committed) -> Result<u64> {
        if let Some(&c) = committed.get(tp) {
            return Ok(c);
        }
        let state = self.log.partition(&tp.0, tp.1)?;
        let state = state.state();
        Ok(match self.cfg.start_from {
            Position::Earliest => state.log_start(),
            _ => state.next_offset(),
        })
    }

    /// Lets go of every partition but those in `keep`, whose locks are handed
    /// back to the caller to drop when it is done with them.
    fn release_all(
        &mut self,
        positions: &dyn Fn(&Tp) -> Option<u64>,
        commit: bool,
        keep: &[Tp],
    ) -> (Vec<Tp>, Vec<Held>) {
        if commit && self.cfg.auto_commit.is_some() && !self.fenced {
            let offsets = positions_of(positions, self.owned.keys());
            // Leaving goes on even if the commit fails: the next owner replays.
            let _ = self.commit(&offsets);
        }
        self.pending.clear();
        self.committed.clear();
        let mut kept = Vec::new();
        let mut revoked = Vec::new();
        for (tp, file) in std::mem::take(&mut self.owned) {
            if keep.contains(&tp) {
                kept.push((tp.clone(), file));
            }
            revoked.push(tp);
        }
        (revoked, kept)
    }

    /// Leaves the group at once: commits (with auto-commit), lets go of
    /// membership and of every partition, so others take over now. The locks
    /// of `keep` (partitions whose messages are still being handled) are
    /// returned: their new owners start once the caller drops them.
    pub fn leave(
        &mut self,
        positions: &dyn Fn(&Tp) -> Option<u64>,
        keep: &[Tp],
    ) -> Result<(Vec<Tp>, Vec<Held>)> {
        let out = self.release_all(positions, true, keep);
        self.exit()?;
        Ok(out)
    }

    /// Gives up everything without committing, as if this member had died;
    /// its later commits fail with `Fenced`, its next sync joins again.
    pub fn fence(&mut self) -> Result<Vec<Tp>> {
        let (revoked, _) = self.release_all(&|_| None, false, &[]);
        self.exit()?;
        self.fenced = true;
        Ok(revoked)
    }

    fn exit(&mut self) -> Result<()> {
        self.watcher = None;
        // A later membership locks through descriptions of its own, so that
        // locks kept past this one still exclude it.
        self.owners.clear();
        if self.file.take().is_none() {
            return Ok(());
        }
        self.group.forget(&self.info.id);
        let id = self.info.id.clone();
        self.group.update(&self.log, false, |st| {
            st.members.retain(|m| m.id != id);
            Ok(())
        })?;
        Ok(())
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.release_all(&|_| None, false, &[]);
        let _ = self.exit();
    }
}
