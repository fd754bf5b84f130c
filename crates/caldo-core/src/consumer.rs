//! A consumer: the partitions it reads (assigned by hand, or by its group),
//! a cursor per partition, pause, fairness between partitions, and which
//! records the caller has been handed and has processed.
//!
//! The caller fetches ahead and hands records out one by one or in batches.
//! It reports progress as two counts — records handed out since the last
//! report, and how many of the latest handed ones are still in its hands — so
//! that a commit (by hand, on a timer, on revoke, on leave) covers exactly
//! what was processed, and records fetched but not handed out are read again.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Code, Error, Result};
use crate::group::Tp;
use crate::group::{Change, Config as GroupConfig, Held, Member};
use crate::log::Log;
use crate::record::RecordRef;
use crate::storage::cursor::{Cursor, Isolation, Position};

struct Slot {
    tp: Tp,
    cursor: Cursor,
    paused: bool,
    /// The offset after the last processed record: what a commit stores.
    processed: u64,
}

/// A record fetched for the caller: its partition's slot, and the offset
/// after it, past any records the cursor skipped after it (control records,
/// aborted transactions): where the partition's position goes once it is
/// processed.
type Taken = (usize, u64);

pub struct Consumer {
    log: Arc<Log>,
    slots: Vec<Slot>,
    /// The slot the next fetch starts at, so every partition gets its turn.
    next: usize,
    member: Option<Member>,
    /// Fetched, not handed out yet, in the order the caller holds them.
    queued: VecDeque<Taken>,
    /// Handed out, not processed yet.
    in_hand: Vec<Taken>,
    /// Owner locks kept past leaving while their records are in hand, with
    /// the offsets to commit once they are processed (with auto-commit).
    held: Vec<Held>,
    held_commit: Option<(String, Vec<(Tp, u64)>)>,
    /// (partition, from, to): positions that fell below the log start and
    /// moved to it, not yet reported.
    resets: Vec<(Tp, u64, u64)>,
    isolation: Isolation,
    /// A position moved past skipped records only (markers, aborted ones)
    /// since the last [`Consumer::take_skipped`].
    skipped: bool,
}

fn not_assigned(tp: &Tp) -> Error {
    Error::new(
        Code::InvalidPartition,
        format!("{}/{} is not assigned to this consumer", tp.0, tp.1),
    )
}

impl Consumer {
    /// Reads the given partitions, each from its position; no group.
    pub fn assign(
        log: Arc<Log>,
        assign: Vec<(Tp, Position)>,
        isolation: Isolation,
    ) -> Result<Consumer> {
        if assign.is_empty() {
            return Err(Error::new(
                Code::InvalidArg,
                "assign at least one { topic, partition }",
            ));
        }
        let mut slots: Vec<Slot> = Vec::with_capacity(assign.len());
        for (tp, at) in assign {
            if slots.iter().any(|s| s.tp == tp) {
                return Err(Error::new(
                    Code::InvalidArg,
                    format!("assign lists {}/{} twice", tp.0, tp.1),
                ));
            }
            slots.push(Self::slot(&log, tp, at, isolation)?);
        }
        Ok(Self::new(log, slots, None, isolation))
    }

    /// Joins a group; partitions arrive through [`Consumer::sync`].
    pub fn join(log: Arc<Log>, cfg: GroupConfig, isolation: Isolation) -> Result<Consumer> {
        let member = Member::join(log.clone(), cfg)?;
        Ok(Self::new(log, Vec::new(), Some(member), isolation))
    }

    fn new(
        log: Arc<Log>,
        slots: Vec<Slot>,
        member: Option<Member>,
        isolation: Isolation,
    ) -> Consumer {
        Consumer {
            log,
            slots,
            next: 0,
            member,
            queued: VecDeque::new(),
            in_hand: Vec::new(),
            held: Vec::new(),
            held_commit: None,
            resets: Vec::new(),
            isolation,
            skipped: false,
        }
    }

    fn slot(log: &Log, tp: Tp, at: Position, isolation: Isolation) -> Result<Slot> {
        let mut cursor = log.cursor(&tp.0, tp.1, at)?;
        cursor.set_isolation(isolation);
        Ok(Slot {
            processed: cursor.position(),
            tp,
            cursor,
            paused: false,
        })
    }

    fn index(&self, tp: &Tp) -> Result<usize> {
        self.slots
            .iter()
            .position(|s| &s.tp == tp)
            .ok_or_else(|| not_assigned(tp))
    }

    fn member(&mut self) -> Result<&mut Member> {
        self.member.as_mut().ok_or_else(|| {
            Error::new(
                Code::InvalidArg,
                "this consumer has no groupId; commits need a group consumer",
            )
        })
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<Tp> {
        self.slots.iter().map(|s| s.tp.clone()).collect()
    }

    /// The caller handed out `handed` more records, and the last `in_hand`
    /// handed ones are still being worked on; the others are processed.
    pub fn progress(&mut self, handed: usize, in_hand: usize) {
        let handed = handed.min(self.queued.len());
        self.in_hand.extend(self.queued.drain(..handed));
        let done = self.in_hand.len().saturating_sub(in_hand);
        for (i, after) in self.in_hand.drain(..done) {
            self.slots[i].processed = after;
        }
    }

    /// The offset after the last record handed out, per slot.
    fn delivered(&self, i: usize) -> u64 {
        let last = self.in_hand.iter().rev().find(|(s, _)| *s == i);
        last.map_or(self.slots[i].processed, |(_, after)| *after)
    }

    /// Forgets queued records of the slots `drop` picks, moving their cursors
    /// back to the first record not handed out.
    fn unqueue(&mut self, drop: impl Fn(usize) -> bool) {
        let mut touched = Vec::new();
        self.queued.retain(|&(i, _)| {
            if drop(i) && !touched.contains(&i) {
                touched.push(i);
            }
            !drop(i)
        });
        for i in touched {
            let at = self.delivered(i);
            self.slots[i].cursor.seek(Position::Offset(at));
        }
    }

    /// Drops every record not handed out yet (a new generation is coming);
    /// the caller drops its buffer too.
    pub fn put_back(&mut self) {
        self.unqueue(|_| true);
    }

    fn positions(&self) -> Vec<(Tp, u64)> {
        self.slots
            .iter()
            .map(|s| (s.tp.clone(), s.processed))
            .collect()
    }

    fn processed_of(&self) -> impl Fn(&Tp) -> Option<u64> + '_ {
        |tp| self.slots.iter().find(|s| &s.tp == tp).map(|s| s.processed)
    }

    /// Reads what is already published, at most `max` records and about
    /// `max_bytes`, taking partitions in turn; each goes to `visit` with its
    /// slot. Never waits. Records still queued are put back first (the caller
    /// reports what it handed out with [`Consumer::progress`] before); with
    /// auto-commit, positions due are committed first.
    pub fn fetch(
        &mut self,
        max: usize,
        max_bytes: usize,
        visit: &mut dyn FnMut(usize, &RecordRef) -> usize,
    ) -> Result<usize> {
        self.put_back();
        let positions = self.positions();
        if let Some(member) = &mut self.member {
            member.auto_commit(&positions)?;
        }
        let n = self.slots.len();
        let mut bytes = 0;
        for k in 0..n {
            let i = (self.next + k) % n;
            let slot = &mut self.slots[i];
            let taken = self.queued.len();
            if slot.paused || taken >= max || bytes >= max_bytes {
                continue;
            }
            let queued = &mut self.queued;
            let got = slot.cursor.fetch(max - taken, &mut |r| {
                queued.push_back((i, r.offset + 1));
                bytes += visit(i, r);
                bytes < max_bytes
            });
            match got {
                Ok(_) => self.skipped_to(i, taken),
                // Hand out what was read first; the cursor stays at the bad
                // batch, so a later fetch reports it.
                Err(_) if !self.queued.is_empty() => break,
                Err(e) => return Err(e),
            }
        }
        self.next = (self.next + 1) % n.max(1);
        for s in &mut self.slots {
            if let Some((from, to)) = s.cursor.take_reset() {
                self.resets.push((s.tp.clone(), from, to));
            }
        }
        Ok(self.queued.len())
    }

    /// After slot `i`'s cursor read (its records queued from `from` on):
    /// offsets it skipped past its last record (control records, aborted
    /// transactions) count as processed with that record, or at once when
    /// none of its records is outstanding, so positions, commits and lag
    /// move past them.
    fn skipped_to(&mut self, i: usize, from: usize) {
        let pos = self.slots[i].cursor.position();
        let last = match self.queued.range_mut(from..).rev().find(|(s, _)| *s == i) {
            Some(t) => Some(t),
            None => self.in_hand.iter_mut().rev().find(|(s, _)| *s == i),
        };
        match last {
            Some((_, after)) => *after = pos.max(*after),
            None if pos > self.slots[i].processed => {
                self.slots[i].processed = pos;
                self.skipped = true;
            }
            None => {}
        }
    }

    /// True when a fetch moved a position past skipped records only since
    /// the last call: nothing to hand out, but positions and lag moved.
    pub fn take_skipped(&mut self) -> bool {
        std::mem::take(&mut self.skipped)
    }

    /// Partitions whose position fell below the log start (retention or
    /// deleteRecords removed it) and moved to it since the last call, as
    /// (partition, from, to): Kafka's `auto.offset.reset` to earliest.
    pub fn take_resets(&mut self) -> Vec<(Tp, u64, u64)> {
        std::mem::take(&mut self.resets)
    }

    /// True when [`Consumer::sync`] has something to do.
    pub fn changed(&self) -> bool {
        self.member.as_ref().is_some_and(Member::changed)
    }

    /// True when a new generation started: records not handed out should be put back.
    pub fn rebalancing(&self) -> bool {
        self.member.as_ref().is_some_and(Member::rebalancing)
    }

    /// Follows the group's assignment, with nothing in the caller's buffer:
    /// revoked partitions are committed (with auto-commit) and let go.
    pub fn sync(&mut self) -> Result<Option<Change>> {
        self.put_back();
        let processed: Vec<(Tp, u64)> = self.positions();
        let Some(member) = self.member.as_mut() else {
            return Ok(None);
        };
        let find = |tp: &Tp| processed.iter().find(|(t, _)| t == tp).map(|p| p.1);
        let change = member.sync(&find)?;
        if change.assigned.is_empty() && change.revoked.is_empty() {
            return Ok(None);
        }
        self.in_hand.clear();
        self.slots.retain(|s| !change.revoked.contains(&s.tp));
        for (tp, start) in &change.assigned {
            let at = Position::Offset(*start);
            let slot = Self::slot(&self.log, tp.clone(), at, self.isolation)?;
            self.slots.push(slot);
        }
        Ok(Some(change))
    }

    /// Moves partition `tp` to `at`; its queued records are dropped (the
    /// caller drops them too).
    pub fn seek(&mut self, tp: &Tp, at: Position) -> Result<()> {
        let i = self.index(tp)?;
        self.queued.retain(|&(s, _)| s != i);
        self.in_hand.retain(|&(s, _)| s != i);
        let slot = &mut self.slots[i];
        slot.cursor.seek(at);
        slot.processed = slot.cursor.position();
        Ok(())
    }

    /// Moves partition `tp` to its first record with a timestamp at or after
    /// `timestamp`, or to its end when none is that recent (as `seek`).
    pub fn seek_to_time(&mut self, tp: &Tp, timestamp: i64) -> Result<()> {
        self.index(tp)?;
        let offset = self
            .log
            .offset_for_time_or_end(&tp.0, tp.1, timestamp)?
            .unwrap_or_else(|hw| hw);
        self.seek(tp, Position::Offset(offset))
    }

    /// Stops or restarts fetching from `tp`; pausing drops its queued records.
    pub fn set_paused(&mut self, tp: &Tp, paused: bool) -> Result<()> {
        let i = self.index(tp)?;
        if paused {
            self.unqueue(|s| s == i);
        } else {
            self.log.interrupt();
        }
        self.slots[i].paused = paused;
        Ok(())
    }

    /// Commits `offsets`, or else every partition's next offset to hand out.
    pub fn commit(&mut self, offsets: Option<Vec<(Tp, u64)>>) -> Result<()> {
        let offsets = offsets.unwrap_or_else(|| {
            (0..self.slots.len())
                .map(|i| (self.slots[i].tp.clone(), self.delivered(i)))
                .collect()
        });
        self.member()?.commit(&offsets)
    }

    /// What `sendOffsets` sends in a transaction: the group, and every
    /// partition's next offset to hand out, checked as a commit would be.
    /// From then on this consumer commits only through transactions.
    pub fn txn_offsets(&mut self) -> Result<(String, Vec<(Tp, u64)>)> {
        let offsets: Vec<(Tp, u64)> = (0..self.slots.len())
            .map(|i| (self.slots[i].tp.clone(), self.delivered(i)))
            .collect();
        let member = self.member.as_mut().ok_or_else(|| {
            Error::new(
                Code::InvalidArg,
                "sendOffsets needs a group consumer (groupId); a manual consumer has no group to commit for",
            )
        })?;
        let offsets = member.checked_offsets(&offsets)?;
        member.stop_auto_commit();
        Ok((member.group().to_string(), offsets))
    }

    /// The group's committed offsets for the partitions held here.
    pub fn committed(&mut self) -> Result<Vec<(Tp, u64)>> {
        self.member()?.committed()
    }

    /// Per partition: the next offset to hand out, and where reading ends
    /// (the last stable offset when read committed, else the high watermark).
    pub fn lag(&self) -> Vec<(Tp, u64, u64)> {
        (0..self.slots.len())
            .map(|i| {
                let s = &self.slots[i];
                (s.tp.clone(), self.delivered(i), s.cursor.end())
            })
            .collect()
    }

    /// With positions that moved and auto-commit: how long until they are due.
    pub fn commit_due(&self) -> Option<Duration> {
        self.member.as_ref()?.commit_due(&self.positions())
    }

    /// Gives up every partition without committing (maxPollIntervalMs passed).
    pub fn fence(&mut self) -> Result<Vec<Tp>> {
        let revoked = self.member()?.fence()?;
        self.clear();
        Ok(revoked)
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.queued.clear();
        self.in_hand.clear();
    }

    /// Commits what was processed (with auto-commit) and leaves the group at
    /// once. The partitions of records still in hand stay locked until
    /// [`Consumer::release_held`], so their next owner cannot start early.
    /// With `hold` false, records in hand are simply not processed.
    pub fn leave(&mut self, hold: bool) -> Result<Vec<Tp>> {
        if !hold {
            self.in_hand.clear();
        }
        let Some(mut member) = self.member.take() else {
            self.clear();
            return Ok(Vec::new());
        };
        let mut keep: Vec<Tp> = Vec::new();
        let mut after: Vec<(Tp, u64)> = Vec::new();
        for &(i, next) in &self.in_hand {
            let tp = &self.slots[i].tp;
            if !keep.contains(tp) {
                keep.push(tp.clone());
            }
            after.retain(|(t, _)| t != tp);
            after.push((tp.clone(), next));
        }
        let left = member.leave(&self.processed_of(), &keep);
        let (revoked, held) = left?;
        self.held = held;
        self.held_commit = member
            .auto_commits()
            .then(|| (member.group().to_string(), after));
        self.clear();
        Ok(revoked)
    }

    /// Lets the partitions kept by [`Consumer::leave`] go; with `processed`
    /// (the caller asked for more) their records are committed first: still
    /// holding their locks, nobody else can have moved them.
    pub fn release_held(&mut self, processed: bool) -> Result<()> {
        let held = std::mem::take(&mut self.held);
        let commit = self.held_commit.take();
        if held.is_empty() {
            return Ok(());
        }
        let committed = match commit {
            Some((group, offsets)) if processed && !offsets.is_empty() => {
                crate::group::commit_held(&self.log, &group, &held, &offsets)
            }
            _ => Ok(()),
        };
        drop(held);
        self.log.interrupt();
        committed
    }

    /// Drops the cursors and their open segments.
    pub fn close(&mut self) {
        self.clear();
    }
}
