//! Commits: by hand, on a timer, on revoke and leave, and for partitions a
//! member kept past leaving; every path checks the offsets the same way.

use std::time::{Duration, Instant};

use super::assignor::Tp;
use super::member::{Held, Member};
use crate::error::{Code, Error, Result};
use crate::log::Log;

impl Member {
    /// Commits `offsets` (the next offset to read, per partition). Refused
    /// with `Fenced` for partitions this member does not hold.
    pub fn commit(&mut self, offsets: &[(Tp, u64)]) -> Result<()> {
        let offsets = &self.checked_offsets(offsets)?;
        self.log.offsets()?.commit(&self.group.name, offsets)?;
        for (tp, o) in offsets {
            self.committed.insert(tp.clone(), *o);
        }
        self.last_commit = Instant::now();
        Ok(())
    }

    /// `offsets`, if this member may commit them: it is not fenced, holds
    /// their partitions, and none is past its high watermark.
    pub fn checked_offsets(&self, offsets: &[(Tp, u64)]) -> Result<Vec<(Tp, u64)>> {
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
        checked(&self.log, offsets.to_vec())
    }

    /// Commits only through transactions from now on (`sendOffsets`).
    pub fn stop_auto_commit(&mut self) {
        self.cfg.auto_commit = None;
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
}

/// `list`, refused if an offset is past its partition's high watermark.
pub(super) fn checked(log: &Log, list: Vec<(Tp, u64)>) -> Result<Vec<(Tp, u64)>> {
    for (tp, o) in &list {
        let high = log.partition(&tp.0, tp.1)?.state().next_offset();
        if *o > high {
            return Err(Error::new(
                Code::OffsetOutOfRange,
                format!(
                    "cannot commit offset {o} for {}/{}: its high watermark is {high}",
                    tp.0, tp.1
                ),
            ));
        }
    }
    Ok(list)
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
