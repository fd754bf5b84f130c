//! `NativeConsumer`: the core's consumer, one native call per batch.
//! `handed` / `inHand` report the caller's progress (see caldo_core::Consumer).

use std::time::Duration;

use caldo_core::options::int;
use caldo_core::{Assignor, Consumer, GroupConfig, Isolation, Position, Tp};
use napi_derive::napi;

use crate::error::{guard, Outcome};
use crate::log::NativeLog;
use crate::types::{
    from_tpos, position, tpos, tps, At, Rebalance, TopicPartition, TopicPartitionOffset,
};
use crate::wire::{FetchSizes, FetchWriter, Fetched, OffsetReset};

#[napi(object)]
pub struct AssignOptions {
    pub topic: String,
    pub partition: f64,
    pub offset: Option<At>,
}

#[napi(object)]
pub struct GroupOptions {
    pub group_id: String,
    pub topics: Vec<String>,
    pub assignor: Option<String>,
    pub start_from: Option<String>,
    /// Commit processed offsets this often (ms); absent: only by hand.
    pub auto_commit_ms: Option<f64>,
    pub isolation: Option<String>,
}

#[napi(object)]
pub struct Lag {
    pub topic: String,
    pub partition: u32,
    pub offset: f64,
    pub high: f64,
    pub lag: f64,
}

fn group_config(o: GroupOptions) -> caldo_core::Result<GroupConfig> {
    Ok(GroupConfig {
        group: o.group_id,
        topics: o.topics,
        assignor: Assignor::parse(o.assignor.as_deref().unwrap_or("cooperative-sticky"))?,
        start_from: Position::parse_end("startFrom", o.start_from.as_deref().unwrap_or("latest"))?,
        auto_commit: o
            .auto_commit_ms
            .map(|ms| int("autoCommit.intervalMs", ms, 0, i32::MAX as u64))
            .transpose()?
            .map(Duration::from_millis),
    })
}

/// `read_committed` unless said otherwise, as in librdkafka and KafkaJS.
fn isolation_of(s: Option<&str>) -> caldo_core::Result<Isolation> {
    Isolation::parse(s.unwrap_or("read_committed"))
}

#[napi]
pub struct NativeConsumer {
    inner: Consumer,
    /// The last fetch's size, to size the next one's buffers.
    last: FetchSizes,
    /// Positions that fell below the log start, until `takeResets`.
    resets: Vec<OffsetReset>,
}

/// A consumer of the given partitions (manual assignment).
#[napi]
pub fn assign_consumer(
    log: &NativeLog,
    assign: Vec<AssignOptions>,
    isolation: Option<String>,
) -> Outcome<NativeConsumer> {
    guard(|| {
        let isolation = isolation_of(isolation.as_deref())?;
        let list = assign
            .into_iter()
            .map(|a| {
                let tp = TopicPartition {
                    topic: a.topic,
                    partition: a.partition,
                }
                .tp()?;
                Ok((tp, position("offset", a.offset)?))
            })
            .collect::<caldo_core::Result<Vec<_>>>()?;
        let inner = Consumer::assign(log.inner.clone(), list, isolation)?;
        Ok(NativeConsumer::new(inner))
    })
}

/// A member of a consumer group.
#[napi]
pub fn join_group(log: &NativeLog, opts: GroupOptions) -> Outcome<NativeConsumer> {
    guard(|| {
        let isolation = isolation_of(opts.isolation.as_deref())?;
        let inner = Consumer::join(log.inner.clone(), group_config(opts)?, isolation)?;
        Ok(NativeConsumer::new(inner))
    })
}

/// Runs `f` after telling the engine what JS handed out since the last
/// call, first of all, so that no failure on the way can lose the count.
fn reported<T>(
    inner: &mut Consumer,
    handed: u32,
    in_hand: u32,
    f: impl FnOnce(&mut Consumer) -> caldo_core::Result<T>,
) -> Outcome<T> {
    guard(|| {
        inner.progress(handed as usize, in_hand as usize);
        f(inner)
    })
}

impl NativeConsumer {
    fn new(inner: Consumer) -> NativeConsumer {
        NativeConsumer {
            inner,
            last: FetchSizes::default(),
            resets: Vec::new(),
        }
    }

    /// For `sendOffsets`: the group and the positions to send, after the
    /// caller's progress report.
    pub(crate) fn txn_offsets(
        &mut self,
        handed: u32,
        in_hand: u32,
    ) -> caldo_core::Result<(String, Vec<(Tp, u64)>)> {
        self.inner.progress(handed as usize, in_hand as usize);
        self.inner.txn_offsets()
    }
}

#[napi]
impl NativeConsumer {
    #[napi]
    pub fn changed(&self) -> Outcome<bool> {
        guard(|| Ok(self.inner.changed()))
    }

    #[napi]
    pub fn rebalancing(&self) -> Outcome<bool> {
        guard(|| Ok(self.inner.rebalancing()))
    }

    /// Follows the group's assignment (with nothing buffered).
    #[napi]
    pub fn sync(&mut self) -> Outcome<Option<Rebalance>> {
        guard(|| {
            Ok(self.inner.sync()?.map(|c| Rebalance {
                assigned: tps(c.assigned.into_iter().map(|(tp, _)| tp).collect()),
                revoked: tps(c.revoked),
            }))
        })
    }

    /// The assigned partitions, in the order fetched records' slots index them.
    #[napi]
    pub fn assignment(&self) -> Outcome<Vec<TopicPartition>> {
        guard(|| Ok(tps(self.inner.assignment())))
    }

    /// Milliseconds until auto-commit is due for positions that moved, or -1.
    #[napi]
    pub fn commit_due_ms(&self) -> Outcome<f64> {
        guard(|| {
            Ok(self
                .inner
                .commit_due()
                .map_or(-1.0, |d| d.as_millis() as f64))
        })
    }

    /// Reads what is already published, laid out as `wire.rs` says; `null`
    /// if nothing. Never waits. Everything handed out before counts as
    /// processed (more was asked for).
    #[napi(ts_return_type = "Buffer | null")]
    pub fn fetch(
        &mut self,
        handed: u32,
        max_messages: u32,
        max_bytes: u32,
    ) -> Outcome<Option<Fetched>> {
        let (last, resets) = (&mut self.last, &mut self.resets);
        reported(&mut self.inner, handed, 0, |c| {
            let mut out = FetchWriter::like(*last);
            let (max, bytes) = (max_messages as usize, max_bytes as usize);
            c.fetch(max, bytes, &mut |slot, r| out.push(slot, r))?;
            *last = out.sizes();
            let reset = c.take_resets().into_iter();
            resets.extend(reset.map(|((topic, partition), from, to)| OffsetReset {
                topic,
                partition,
                from: from as f64,
                to: to as f64,
            }));
            Ok(out.finish(!resets.is_empty(), c.take_skipped()))
        })
    }

    /// The positions that fell below the log start and moved to it, which
    /// a fetch flagged: Kafka's `auto.offset.reset` to earliest.
    #[napi]
    pub fn take_resets(&mut self) -> Vec<OffsetReset> {
        std::mem::take(&mut self.resets)
    }

    /// Forgets what is buffered and not handed out (a new generation is coming).
    #[napi]
    pub fn put_back(&mut self, handed: u32) -> Outcome<()> {
        reported(&mut self.inner, handed, 0, |c| {
            c.put_back();
            Ok(())
        })
    }

    #[napi]
    pub fn seek(&mut self, tp: TopicPartition, to: At, handed: u32, in_hand: u32) -> Outcome<()> {
        reported(&mut self.inner, handed, in_hand, |c| {
            c.seek(&tp.tp()?, position("seek offset", Some(to))?)
        })
    }

    /// Seeks `tp` to its first record at or after `timestamp` (or its end).
    #[napi]
    pub fn seek_to_time(
        &mut self,
        tp: TopicPartition,
        timestamp: f64,
        handed: u32,
        in_hand: u32,
    ) -> Outcome<()> {
        reported(&mut self.inner, handed, in_hand, |c| {
            let ts = caldo_core::options::timestamp("seek timestamp", timestamp)?;
            c.seek_to_time(&tp.tp()?, ts)
        })
    }

    #[napi]
    pub fn set_paused(
        &mut self,
        tp: TopicPartition,
        paused: bool,
        handed: u32,
        in_hand: u32,
    ) -> Outcome<()> {
        reported(&mut self.inner, handed, in_hand, |c| {
            c.set_paused(&tp.tp()?, paused)
        })
    }

    /// Commits `offsets`, or every partition's next offset to hand out.
    #[napi]
    pub fn commit(
        &mut self,
        offsets: Option<Vec<TopicPartitionOffset>>,
        handed: u32,
        in_hand: u32,
    ) -> Outcome<()> {
        reported(&mut self.inner, handed, in_hand, |c| {
            let offsets = offsets.as_deref().map(from_tpos).transpose()?;
            c.commit(offsets)
        })
    }

    #[napi]
    pub fn committed(&mut self) -> Outcome<Vec<TopicPartitionOffset>> {
        guard(|| Ok(tpos(self.inner.committed()?)))
    }

    #[napi]
    pub fn lag(&mut self, handed: u32, in_hand: u32) -> Outcome<Vec<Lag>> {
        reported(&mut self.inner, handed, in_hand, |c| {
            Ok(c.lag()
                .into_iter()
                .map(|((topic, partition), offset, high)| Lag {
                    topic,
                    partition,
                    offset: offset as f64,
                    high: high as f64,
                    lag: high as f64 - offset as f64,
                })
                .collect())
        })
    }

    /// Gives up every partition without committing (maxPollIntervalMs passed).
    #[napi]
    pub fn fence(&mut self) -> Outcome<Vec<TopicPartition>> {
        guard(|| Ok(tps(self.inner.fence()?)))
    }

    /// Commits what was processed and leaves the group now; partitions of
    /// records still in hand stay locked until `releaseHeld`.
    #[napi]
    pub fn leave(&mut self, handed: u32, in_hand: u32, hold: bool) -> Outcome<Vec<TopicPartition>> {
        reported(&mut self.inner, handed, in_hand, |c| {
            Ok(tps(c.leave(hold)?))
        })
    }

    #[napi]
    pub fn release_held(&mut self, processed: bool) -> Outcome<()> {
        guard(|| self.inner.release_held(processed))
    }

    #[napi]
    pub fn close(&mut self) -> Outcome<()> {
        guard(|| {
            self.inner.close();
            Ok(())
        })
    }
}
