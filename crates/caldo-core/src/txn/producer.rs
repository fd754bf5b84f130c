//! A producer: idempotent always (a producer id, a sequence per partition,
//! retries that the partition drops as duplicates), transactional with a
//! transactional id (an epoch that fences older producers of that id,
//! transactions that commit or abort everything they wrote, offsets sent
//! in them).

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use super::coordinator::{complete, Coordinator, Status, TxnState};
use crate::error::{Code, Error, IoContext, Result};
use crate::group::{unique_id, Tp};
use crate::layout;
use crate::log::{Log, Placed};
use crate::record::batch::RecordIn;
use crate::storage::partition::{now_ms, Partition, Producing, Unsynced};
use crate::storage::topic::validate_name;
use crate::sync::lock;

/// Kafka's default `transaction.timeout.ms`.
pub const DEFAULT_TXN_TIMEOUT: Duration = Duration::from_secs(60);
/// Kafka's `transaction.max.timeout.ms` default: the longest allowed.
const MAX_TXN_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Attempts of an append that failed with an I/O error (it may have been
/// written: the partition drops the retry if so).
const ATTEMPTS: u32 = 3;

struct Txn {
    co: Coordinator,
    /// This producer's owner file, locked while it lives.
    owner: String,
    _owner_lock: File,
    timeout: Duration,
    /// Inside `begin` .. `commit`/`abort`.
    open: bool,
    /// The partitions added to the coordinator's state in this transaction.
    partitions: BTreeSet<(String, u32)>,
}

pub struct Producer {
    log: Arc<Log>,
    pid: i64,
    epoch: i16,
    /// The sequence of the next record, per partition.
    seqs: HashMap<(String, u32), i32>,
    txn: Option<Txn>,
}

fn state_error(message: &str) -> Error {
    Error::new(Code::InvalidTxnState, message)
}

impl Producer {
    /// An idempotent producer with a new producer id.
    pub fn idempotent(log: Arc<Log>) -> Result<Producer> {
        log.check_open()?;
        let pid = log.producer_ids().next()?;
        Ok(Producer {
            log,
            pid,
            epoch: 0,
            seqs: HashMap::new(),
            txn: None,
        })
    }

    /// The producer of `transactional_id`: bumps its epoch, which fences any
    /// older producer of that id, and ends the transaction that one left
    /// (completing a decided one, aborting an open one).
    pub fn transactional(log: Arc<Log>, id: &str, timeout: Duration) -> Result<Producer> {
        log.check_open()?;
        validate_name("transactionalId", id)?;
        if timeout.is_zero() || timeout > MAX_TXN_TIMEOUT {
            return Err(Error::new(
                Code::InvalidArg,
                format!(
                    "transactionTimeoutMs must be 1 to {} (15 minutes), got {}",
                    MAX_TXN_TIMEOUT.as_millis(),
                    timeout.as_millis()
                ),
            ));
        }
        let o = log.opener();
        let co = Coordinator::open(o, id)?;
        let owner = unique_id();
        let owner_lock = lock::open(&layout::txn_owner(co.dir(), &owner))?;
        lock::hold(&owner_lock).ctx("locking the producer's owner file")?;
        let (pid, epoch) = co.locked(|st| {
            let mut s = match st.take() {
                Some(s) => s,
                None => TxnState {
                    producer_id: log.producer_ids().next()?,
                    epoch: -1,
                    status: Status::Empty,
                    partitions: Vec::new(),
                    started_ms: 0,
                    timeout_ms: 0,
                    owner: String::new(),
                },
            };
            let (pid, epoch) = match s.epoch {
                i16::MAX => (log.producer_ids().next()?, 0),
                e => (s.producer_id, e + 1),
            };
            // The fence first: from here on the old producer writes nothing.
            co.set_fence(pid, epoch);
            if s.status == Status::Ongoing {
                s.status = Status::PrepareAbort;
                co.write(&s)?;
            }
            complete(o, &co, &mut s)?;
            let old_owner = std::mem::replace(&mut s.owner, owner.clone());
            (s.producer_id, s.epoch, s.timeout_ms) = (pid, epoch, timeout.as_millis() as u64);
            co.write(&s)?;
            if !old_owner.is_empty() {
                let _ = std::fs::remove_file(layout::txn_owner(co.dir(), &old_owner));
            }
            Ok((pid, epoch))
        })?;
        Ok(Producer {
            log,
            pid,
            epoch,
            seqs: HashMap::new(),
            txn: Some(Txn {
                co,
                owner,
                _owner_lock: owner_lock,
                timeout,
                open: false,
                partitions: BTreeSet::new(),
            }),
        })
    }

    /// (producer id, epoch).
    pub fn id(&self) -> (i64, i16) {
        (self.pid, self.epoch)
    }

    /// Appends as [`Log::append`] does, each partition's records numbered
    /// and stamped. A transactional producer sends only inside a transaction.
    pub fn send(
        &mut self,
        topic: &str,
        records: &[Placed],
        round_robin: u32,
    ) -> Result<Vec<(u32, u64)>> {
        if let Some(txn) = &self.txn {
            txn.co.check_fence(self.pid, self.epoch)?;
        }
        if self.txn.as_ref().is_some_and(|t| !t.open) {
            return Err(state_error(
                "a transactional producer sends only inside producer.transaction(async (tx) => { await tx.send(...) })",
            ));
        }
        let log = self.log.clone();
        let placement = log.place(topic, records, round_robin)?;
        // Every partition of the send joins the transaction in one state write.
        let (pid, epoch) = (self.pid, self.epoch);
        if let Some(txn) = &mut self.txn {
            txn.add(
                pid,
                epoch,
                placement.partitions().map(|p| (p.topic.clone(), p.id)),
            )?;
        }
        placement.write(records, &mut |p, batch| self.write(p, batch))
    }

    /// Writes `records` to `p` as this producer, retrying I/O failures;
    /// leaves the sync. A transaction has added `p` before.
    fn write(
        &mut self,
        p: &Arc<Partition>,
        records: &[RecordIn],
    ) -> Result<(u64, Option<Unsynced>)> {
        let key = (p.topic.clone(), p.id);
        let (pid, epoch) = (self.pid, self.epoch);
        let seq = *self.seqs.get(&key).unwrap_or(&0);
        let co = self.txn.as_ref().map(|t| &t.co);
        let current = || co.map_or(Ok(()), |co| co.check_fence(pid, epoch));
        let producing = Producing {
            pid,
            epoch,
            seq,
            transactional: co.is_some(),
            current: &current,
        };
        let mut attempt = 1;
        let written = loop {
            match p.append_unsynced(records, Some(&producing)) {
                Err(e) if e.code == Code::Io && attempt < ATTEMPTS => attempt += 1,
                r => break r?,
            }
        };
        // Kafka's sequences wrap to 0 after i32::MAX.
        let next = (i64::from(seq) + records.len() as i64) % (i64::from(i32::MAX) + 1);
        self.seqs.insert(key, next as i32);
        Ok(written)
    }

    fn txn(&mut self) -> Result<&mut Txn> {
        self.txn.as_mut().ok_or_else(|| {
            state_error(
                "transactions need a transactional producer: log.producer({ transactionalId })",
            )
        })
    }

    /// Starts a transaction.
    pub fn begin(&mut self) -> Result<()> {
        let (pid, epoch) = (self.pid, self.epoch);
        let txn = self.txn()?;
        if txn.open {
            return Err(state_error(
                "a transaction is already open on this producer: transactions do not nest; await the first one",
            ));
        }
        txn.co.check_fence(pid, epoch)?;
        txn.open = true;
        Ok(())
    }

    /// Sends `group`'s offsets in the open transaction: they count once it commits.
    pub fn send_offsets(&mut self, group: &str, offsets: &[(Tp, u64)]) -> Result<()> {
        if !self.txn()?.open {
            return Err(state_error(
                "sendOffsets goes inside producer.transaction()",
            ));
        }
        let store = self.log.offsets()?;
        let p = store.partition(group);
        let (pid, epoch) = (self.pid, self.epoch);
        self.txn()?
            .add(pid, epoch, std::iter::once((p.topic.clone(), p.id)))?;
        store.commit_with(group, offsets, &mut |p, records| self.write(p, records))
    }

    /// Commits (or aborts) the open transaction: records the decision, then
    /// writes a marker to every partition it wrote to.
    pub fn end(&mut self, commit: bool) -> Result<()> {
        let (pid, epoch) = (self.pid, self.epoch);
        let o = self.log.opener().clone();
        let txn = self.txn()?;
        if !txn.open {
            return Err(state_error("no transaction is open on this producer"));
        }
        txn.open = false;
        let written = std::mem::take(&mut txn.partitions);
        let co = &txn.co;
        co.locked(|st| {
            co.check_fence(pid, epoch)?;
            let Some(s) = st.as_mut().filter(|_| !written.is_empty()) else {
                return Ok(());
            };
            s.status = match commit {
                true => Status::PrepareCommit,
                false => Status::PrepareAbort,
            };
            co.write(s)?;
            complete(&o, co, s)
        })
    }

    /// True inside `begin` .. `end`.
    pub fn in_transaction(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| t.open)
    }
}

impl Txn {
    /// Adds the partitions of `keys` not in the transaction yet to the
    /// coordinator's state, in one write, before the first write to them.
    fn add(
        &mut self,
        pid: i64,
        epoch: i16,
        keys: impl IntoIterator<Item = (String, u32)>,
    ) -> Result<()> {
        let new: Vec<_> = keys
            .into_iter()
            .filter(|k| !self.partitions.contains(k))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let timeout = self.timeout.as_millis() as u64;
        let owner = &self.owner;
        let co = &self.co;
        co.locked(|st| {
            co.check_fence(pid, epoch)?;
            let Some(s) = st.as_mut() else {
                return Err(co.fenced());
            };
            if s.status == Status::Empty {
                s.status = Status::Ongoing;
                s.started_ms = now_ms();
                s.partitions.clear();
            }
            (s.timeout_ms, s.owner) = (timeout, owner.clone());
            s.partitions.extend(new.iter().cloned());
            co.write(s)
        })?;
        self.partitions.extend(new);
        Ok(())
    }
}
