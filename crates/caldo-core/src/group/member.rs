//! One member of a group, in this process: joins, follows the assignment
//! generation by generation, commits, and leaves.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::admin::checked;
use super::assignor::{Assignor, Tp};
use super::state::{open_lock, try_lock, GroupDir, MemberInfo};
use super::watcher::Watcher;
use crate::error::{Code, Error, IoContext, Result};
use crate::log::Log;
use crate::offsets::Committed;
use crate::storage::cursor::Position;
use crate::storage::topic::validate_name;

fn unique_id() -> String {
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
pub type Held = (Tp, File);

/// One member of a group, in this process.
pub struct Member {
    log: Arc<Log>,
    group: Arc<GroupDir>,
    cfg: Config,
    info: MemberInfo,
    /// Holds the member lock while it lives.
    file: Option<File>,
    /// The generation word as last synced.
    seen: u32,
    owned: BTreeMap<Tp, File>,
    pending: BTreeSet<Tp>,
    committed: BTreeMap<Tp, u64>,
    last_commit: Instant,
    fenced: bool,
    watcher: Option<Watcher>,
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
    /// with the offset to start at; the others stay pending.
    fn take_pending(&mut self, assigned: &mut Vec<(Tp, u64)>) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let committed = self.log.offsets()?.committed(&self.group.name)?;
        for tp in std::mem::take(&mut self.pending) {
            let file = open_lock(&self.group.owner_path(&tp))?;
            if !try_lock(&file).ctx("locking partition owner")? {
                self.pending.insert(tp);
                continue;
            }
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

    /// Commits `offsets` (the next offset to read, per partition). Refused
    /// with `Fenced` for partitions this member does not hold.
    pub fn commit(&mut self, offsets: &[(Tp, u64)]) -> Result<()> {
        if self.fenced {
            return Err(Error::new(
                Code::Fenced,
                format!(
                    "this member of group '{}' went longer than maxPollIntervalMs without asking for messages, so its partitions moved on from their last commit; ask for the next message to join again",
                    self.group.name
                ),
            ));
        }
        for (tp, _) in offsets {
            if !self.owned.contains_key(tp) {
                return Err(Error::new(
                    Code::Fenced,
                    format!(
                        "{}/{} is not assigned to this member of group '{}' (it moved in a rebalance); its owner goes on from the last commit",
                        tp.0, tp.1, self.group.name
                    ),
                ));
            }
        }
        let offsets = &checked(&self.log, offsets.to_vec())?;
        self.log.offsets()?.commit(&self.group.name, offsets)?;
        for (tp, o) in offsets {
            self.committed.insert(tp.clone(), *o);
        }
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Positions that moved since they were last committed.
    fn moved(&self, positions: &[(Tp, u64)]) -> Vec<(Tp, u64)> {
        positions
            .iter()
            .filter(|(tp, o)| self.owned.contains_key(tp) && self.committed.get(tp) != Some(o))
            .cloned()
            .collect()
    }

    /// With auto-commit and positions that moved: how long until they are due.
    pub fn commit_due(&self, positions: &[(Tp, u64)]) -> Option<Duration> {
        let every = self.cfg.auto_commit?;
        if self.fenced || self.moved(positions).is_empty() {
            return None;
        }
        Some(every.saturating_sub(self.last_commit.elapsed()))
    }

    /// With auto-commit, commits positions that moved once the interval has passed.
    pub fn auto_commit(&mut self, positions: &[(Tp, u64)]) -> Result<()> {
        if self.commit_due(positions) == Some(Duration::ZERO) {
            let moved = self.moved(positions);
            self.commit(&moved)?;
        }
        Ok(())
    }

    /// The group's committed offsets for the partitions this member holds.
    pub fn committed(&self) -> Result<Vec<(Tp, u64)>> {
        let all = self.log.offsets()?.committed(&self.group.name)?;
        Ok(self
            .owned
            .keys()
            .filter_map(|tp| all.get(tp).map(|&o| (tp.clone(), o)))
            .collect())
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

/// Commits offsets of partitions a member kept past leaving: only those
/// whose owner locks are in `held`, so no new owner can have moved them.
pub(crate) fn commit_held(
    log: &Log,
    group: &str,
    held: &[Held],
    offsets: &[(Tp, u64)],
) -> Result<()> {
    if let Some((tp, _)) = offsets
        .iter()
        .find(|(tp, _)| !held.iter().any(|(h, _)| h == tp))
    {
        return Err(Error::new(
            Code::Fenced,
            format!("{}/{} is no longer held by this consumer", tp.0, tp.1),
        ));
    }
    log.offsets()?
        .commit(group, &checked(log, offsets.to_vec())?)
}
