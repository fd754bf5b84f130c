//! Node binding for caldo-core: converts arguments, results and errors.
//! Storage logic lives in the core; idioms live in index.js.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use caldo_core::group::Held;
use caldo_core::{
    Assignor, Code, Cursor, Durability, GroupConfig, Header, Log, Member, Placed, Position,
    RecordIn, ResetTo, TopicConfig, Tp,
};
use napi::bindgen_prelude::*;
use napi_derive::napi;

pub mod inspect;

/// Errors cross as "[CODE] message"; index.js turns them into coded errors.
fn to_js(e: caldo_core::Error) -> napi::Error {
    napi::Error::from_reason(format!("[{}] {}", e.code.as_str(), e.message))
}

fn invalid(msg: impl Into<String>) -> napi::Error {
    to_js(caldo_core::Error::new(Code::InvalidArg, msg))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> caldo_core::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| napi::Error::from_reason(e.to_string()))?
        .map_err(to_js)
}

#[napi(object)]
pub struct PartitionInfo {
    pub partition: u32,
    pub low: f64,
    pub high: f64,
}

#[napi(object)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: Vec<PartitionInfo>,
    pub segment_bytes: f64,
    pub max_message_bytes: u32,
}

fn topic_info(t: caldo_core::TopicInfo) -> TopicInfo {
    TopicInfo {
        name: t.name,
        segment_bytes: t.config.segment_bytes as f64,
        max_message_bytes: t.config.max_message_bytes,
        partitions: t
            .partitions
            .into_iter()
            .map(|p| PartitionInfo {
                partition: p.partition,
                low: p.low as f64,
                high: p.high as f64,
            })
            .collect(),
    }
}

#[napi]
pub struct NativeLog {
    inner: Arc<Log>,
}

#[napi]
impl NativeLog {
    #[napi(constructor)]
    pub fn new(dir: String, durability: String, flush_interval_ms: u32) -> Result<Self> {
        let durability = match durability.as_str() {
            "none" => Durability::None,
            "interval" => Durability::Interval,
            "always" => Durability::Always,
            other => return Err(invalid(format!("unknown durability {other:?}"))),
        };
        let interval = Duration::from_millis(flush_interval_ms.max(1).into());
        let log = Log::open(Path::new(&dir), durability, interval).map_err(to_js)?;
        Ok(NativeLog {
            inner: Arc::new(log),
        })
    }

    #[napi]
    pub async fn create_topic(
        &self,
        name: String,
        partitions: u32,
        segment_bytes: f64,
        max_message_bytes: u32,
    ) -> Result<TopicInfo> {
        let log = self.inner.clone();
        let config = TopicConfig {
            partitions,
            segment_bytes: segment_bytes as u64,
            max_message_bytes,
        };
        blocking(move || log.create_topic(&name, &config))
            .await
            .map(topic_info)
    }

    #[napi]
    pub async fn delete_topic(&self, name: String) -> Result<()> {
        let log = self.inner.clone();
        blocking(move || log.delete_topic(&name)).await
    }

    #[napi]
    pub async fn topics(&self, internal: bool) -> Result<Vec<TopicInfo>> {
        let log = self.inner.clone();
        Ok(blocking(move || log.topics(internal))
            .await?
            .into_iter()
            .map(topic_info)
            .collect())
    }

    /// Appends a batch encoded by index.js: `meta` holds per record
    /// [partition or -1, key length or -1, value length or -1, header count];
    /// `data` holds each record's key, value, then headers as
    /// (u32 name length, name, i32 value length or -1, value).
    /// Resolves to [partition, offset] per record.
    #[napi]
    pub async fn append(
        &self,
        topic: String,
        data: Buffer,
        meta: Int32Array,
        timestamps: Float64Array,
        round_robin: u32,
    ) -> Result<Float64Array> {
        let log = self.inner.clone();
        let placed =
            blocking(move || append(&log, &topic, &data, &meta, &timestamps, round_robin)).await?;
        Ok(placed_array(placed))
    }

    /// `append` on the calling thread: for small batches without fsync, where
    /// a hop to a worker thread costs more than the write.
    #[napi]
    pub fn append_now(
        &self,
        topic: String,
        data: &[u8],
        meta: &[i32],
        timestamps: &[f64],
        round_robin: u32,
    ) -> Result<Float64Array> {
        append(&self.inner, &topic, data, meta, timestamps, round_robin)
            .map(placed_array)
            .map_err(to_js)
    }

    #[napi]
    pub fn wake_seq(&self) -> u32 {
        self.inner.wake_seq()
    }

    /// Resolves when any process appends after `seen` was read, or after `timeoutMs`.
    #[napi]
    pub async fn wait(&self, seen: u32, timeout_ms: u32) -> Result<bool> {
        let log = self.inner.clone();
        blocking(move || Ok(log.wait(seen, Duration::from_millis(timeout_ms.into())))).await
    }

    /// Wakes every waiter of this log, in every process.
    #[napi]
    pub fn interrupt(&self) {
        self.inner.interrupt();
    }

    #[napi]
    pub async fn flush(&self) -> Result<()> {
        let log = self.inner.clone();
        blocking(move || log.flush()).await
    }

    #[napi]
    pub async fn close(&self) -> Result<()> {
        let log = self.inner.clone();
        blocking(move || log.close()).await
    }
}

fn append(
    log: &Log,
    topic: &str,
    data: &[u8],
    meta: &[i32],
    timestamps: &[f64],
    round_robin: u32,
) -> caldo_core::Result<Vec<(u32, u64)>> {
    let (headers, spans) = parse_headers(data, meta, timestamps)?;
    let records = records(data, meta, timestamps, &headers, &spans);
    log.append(topic, &records, round_robin)
}

/// [partition, offset] per record.
fn placed_array(placed: Vec<(u32, u64)>) -> Float64Array {
    placed
        .into_iter()
        .flat_map(|(p, o)| [f64::from(p), o as f64])
        .collect::<Vec<f64>>()
        .into()
}

type Span = (usize, usize, usize);

fn take<'a>(data: &'a [u8], pos: &mut usize, len: usize) -> caldo_core::Result<&'a [u8]> {
    let end = pos.checked_add(len).filter(|&e| e <= data.len());
    let end = end.ok_or_else(|| {
        caldo_core::Error::new(Code::InvalidArg, "record batch is shorter than its lengths")
    })?;
    let b = &data[*pos..end];
    *pos = end;
    Ok(b)
}

fn take_len(data: &[u8], pos: &mut usize) -> caldo_core::Result<i32> {
    Ok(i32::from_le_bytes(take(data, pos, 4)?.try_into().unwrap()))
}

fn opt_bytes<'a>(
    data: &'a [u8],
    pos: &mut usize,
    len: i32,
) -> caldo_core::Result<Option<&'a [u8]>> {
    match len {
        -1 => Ok(None),
        n if n >= 0 => take(data, pos, n as usize).map(Some),
        _ => Err(caldo_core::Error::new(Code::InvalidArg, "negative length")),
    }
}

/// First pass: checks every length and collects headers, so records can borrow them.
/// Returns the headers and, per record, (key/value start, first header, header end).
fn parse_headers<'a>(
    data: &'a [u8],
    meta: &[i32],
    timestamps: &[f64],
) -> caldo_core::Result<(Vec<Header<'a>>, Vec<Span>)> {
    if meta.len() != timestamps.len() * 4 || timestamps.is_empty() {
        return Err(caldo_core::Error::new(
            Code::InvalidArg,
            "batch metadata does not match its records",
        ));
    }
    let mut headers = Vec::new();
    let mut spans = Vec::with_capacity(timestamps.len());
    let mut pos = 0;
    for m in meta.chunks_exact(4) {
        let start = pos;
        opt_bytes(data, &mut pos, m[1])?;
        opt_bytes(data, &mut pos, m[2])?;
        let first = headers.len();
        for _ in 0..m[3].max(0) {
            let name_len = take_len(data, &mut pos)?;
            let key = opt_bytes(data, &mut pos, name_len)?.unwrap_or_default();
            let value_len = take_len(data, &mut pos)?;
            headers.push(Header {
                key,
                value: opt_bytes(data, &mut pos, value_len)?,
            });
        }
        spans.push((start, first, headers.len()));
    }
    Ok((headers, spans))
}

fn records<'a>(
    data: &'a [u8],
    meta: &[i32],
    timestamps: &[f64],
    headers: &'a [Header<'a>],
    spans: &[Span],
) -> Vec<Placed<'a>> {
    meta.chunks_exact(4)
        .zip(spans)
        .zip(timestamps)
        .map(|((m, &(start, h0, h1)), &ts)| {
            let mut pos = start;
            // Lengths were checked by parse_headers.
            let key = opt_bytes(data, &mut pos, m[1]).unwrap();
            let value = opt_bytes(data, &mut pos, m[2]).unwrap();
            Placed {
                partition: u32::try_from(m[0]).ok(),
                record: RecordIn {
                    key,
                    value,
                    headers: &headers[h0..h1],
                    timestamp: ts as i64,
                },
            }
        })
        .collect()
}

/// Fetched records, laid out for index.js to build messages without further
/// native calls: `meta` holds per record [assignment index, key start, key
/// length or -1, value start, value length or -1, headers start, header count];
/// `nums` holds [offset, timestamp]; headers in `data` are encoded as for append.
#[napi(object)]
pub struct Fetched {
    pub data: Buffer,
    pub meta: Int32Array,
    pub nums: Float64Array,
}

fn position(at: f64) -> Position {
    match at {
        -1.0 => Position::Earliest,
        x if x < 0.0 => Position::Latest,
        x => Position::Offset(x as u64),
    }
}

fn put_bytes(data: &mut Vec<u8>, meta: &mut Vec<i32>, b: Option<&[u8]>) {
    meta.push(data.len() as i32);
    match b {
        Some(b) => {
            meta.push(b.len() as i32);
            data.extend_from_slice(b);
        }
        None => meta.push(-1),
    }
}

#[napi(object)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: u32,
}

#[napi(object)]
pub struct TopicPartitionOffset {
    pub topic: String,
    pub partition: u32,
    pub offset: f64,
}

fn tps(list: Vec<Tp>) -> Vec<TopicPartition> {
    list.into_iter()
        .map(|(topic, partition)| TopicPartition { topic, partition })
        .collect()
}

fn tpos(list: Vec<(Tp, u64)>) -> Vec<TopicPartitionOffset> {
    list.into_iter()
        .map(|((topic, partition), o)| TopicPartitionOffset {
            topic,
            partition,
            offset: o as f64,
        })
        .collect()
}

fn from_tpos(list: Vec<TopicPartitionOffset>) -> Vec<(Tp, u64)> {
    list.into_iter()
        .map(|o| ((o.topic, o.partition), o.offset as u64))
        .collect()
}

#[napi(object)]
pub struct Rebalance {
    pub assigned: Vec<TopicPartition>,
    pub revoked: Vec<TopicPartition>,
}

struct Slot {
    tp: Tp,
    cursor: Cursor,
    paused: bool,
}

/// A consumer's read side: one cursor per assigned partition, and in group
/// mode the group membership that decides the assignment.
#[napi]
pub struct NativeConsumer {
    log: Arc<Log>,
    slots: Vec<Slot>,
    next: usize,
    member: Option<Member>,
    /// Owner locks kept past leaving, until the messages in hand are done,
    /// with the group to commit them to (with auto-commit).
    held: Vec<Held>,
    held_group: Option<String>,
}

impl NativeConsumer {
    fn slot(&mut self, index: u32) -> Result<&mut Slot> {
        self.slots
            .get_mut(index as usize)
            .ok_or_else(|| invalid("no such assignment"))
    }

    fn member(&mut self) -> Result<&mut Member> {
        self.member
            .as_mut()
            .ok_or_else(|| invalid("this consumer has no groupId; commits need a group"))
    }
}

/// Each assigned partition's next offset to read.
fn positions(slots: &[Slot]) -> Vec<(Tp, u64)> {
    slots
        .iter()
        .map(|s| (s.tp.clone(), s.cursor.position()))
        .collect()
}

#[napi]
impl NativeConsumer {
    /// Manual assignment. `starts`: an offset, -1 for earliest, -2 for latest.
    #[napi(constructor)]
    pub fn new(
        log: &NativeLog,
        topics: Vec<String>,
        partitions: Vec<u32>,
        starts: Vec<f64>,
    ) -> Result<Self> {
        let slots = topics
            .into_iter()
            .zip(partitions)
            .zip(starts)
            .map(|((t, p), at)| {
                let cursor = log.inner.cursor(&t, p, position(at))?;
                Ok(Slot {
                    tp: (t, p),
                    cursor,
                    paused: false,
                })
            })
            .collect::<caldo_core::Result<Vec<_>>>()
            .map_err(to_js)?;
        Ok(NativeConsumer {
            log: log.inner.clone(),
            slots,
            next: 0,
            member: None,
            held: Vec::new(),
            held_group: None,
        })
    }

    /// Joins `group`; partitions arrive through `sync`. `autoCommitMs` < 0: commit by hand.
    #[napi(factory)]
    pub fn join(
        log: &NativeLog,
        group: String,
        topics: Vec<String>,
        assignor: String,
        start_from: String,
        auto_commit_ms: i32,
    ) -> Result<Self> {
        let cfg = GroupConfig {
            group,
            topics,
            assignor: Assignor::parse(&assignor).map_err(to_js)?,
            start_from: if start_from == "earliest" {
                Position::Earliest
            } else {
                Position::Latest
            },
            auto_commit: u64::try_from(auto_commit_ms)
                .ok()
                .map(Duration::from_millis),
        };
        let member = Member::join(log.inner.clone(), cfg).map_err(to_js)?;
        Ok(NativeConsumer {
            log: log.inner.clone(),
            slots: Vec::new(),
            next: 0,
            member: Some(member),
            held: Vec::new(),
            held_group: None,
        })
    }

    /// True when the group has a new generation or partitions are waiting
    /// for their previous owner: call `sync` (with nothing buffered).
    #[napi]
    pub fn changed(&self) -> bool {
        self.member.as_ref().is_some_and(Member::changed)
    }

    /// True when a new generation started: buffered messages should be put back.
    #[napi]
    pub fn rebalancing(&self) -> bool {
        self.member.as_ref().is_some_and(Member::rebalancing)
    }

    /// Follows the group's assignment; the cursors' positions count as processed.
    #[napi]
    pub fn sync(&mut self) -> Result<Option<Rebalance>> {
        let Some(member) = self.member.as_mut() else {
            return Ok(None);
        };
        let slots = &self.slots;
        let find = |tp: &Tp| {
            slots
                .iter()
                .find(|s| &s.tp == tp)
                .map(|s| s.cursor.position())
        };
        let change = member.sync(&find).map_err(to_js)?;
        if change.assigned.is_empty() && change.revoked.is_empty() {
            return Ok(None);
        }
        self.slots.retain(|s| !change.revoked.contains(&s.tp));
        for (tp, start) in &change.assigned {
            let cursor = self
                .log
                .cursor(&tp.0, tp.1, Position::Offset(*start))
                .map_err(to_js)?;
            self.slots.push(Slot {
                tp: tp.clone(),
                cursor,
                paused: false,
            });
        }
        Ok(Some(Rebalance {
            assigned: tps(change.assigned.into_iter().map(|(tp, _)| tp).collect()),
            revoked: tps(change.revoked),
        }))
    }

    /// The assigned partitions, in the order fetch results index them.
    #[napi]
    pub fn slots(&self) -> Vec<TopicPartition> {
        tps(self.slots.iter().map(|s| s.tp.clone()).collect())
    }

    /// Milliseconds until auto-commit is due for positions that moved, or -1:
    /// how long a consumer with nothing to read may sleep.
    #[napi]
    pub fn commit_due_ms(&self) -> f64 {
        let due = self
            .member
            .as_ref()
            .and_then(|m| m.commit_due(&positions(&self.slots)));
        due.map_or(-1.0, |d| d.as_millis() as f64)
    }

    /// Reads what is already published, at most `maxMessages` records and
    /// about `maxBytes`, taking partitions in turn. Never waits; `null` if
    /// nothing. In a group with auto-commit, commits positions that are due.
    #[napi]
    pub fn fetch(&mut self, max_messages: u32, max_bytes: u32) -> Result<Option<Fetched>> {
        if let Some(member) = &mut self.member {
            member.auto_commit(&positions(&self.slots)).map_err(to_js)?;
        }
        let (mut data, mut meta, mut nums) = (Vec::new(), Vec::new(), Vec::new());
        let n = self.slots.len();
        let mut left = max_messages as usize;
        for k in 0..n {
            let i = (self.next + k) % n;
            let slot = &mut self.slots[i];
            if slot.paused || left == 0 || data.len() >= max_bytes as usize {
                continue;
            }
            let got = slot.cursor.fetch(left, &mut |r| {
                meta.push(i as i32);
                put_bytes(&mut data, &mut meta, r.key);
                put_bytes(&mut data, &mut meta, r.value);
                meta.push(data.len() as i32);
                meta.push(r.header_count as i32);
                caldo_core::headers(r.headers, r.header_count, |h| {
                    data.extend_from_slice(&(h.key.len() as u32).to_le_bytes());
                    data.extend_from_slice(h.key);
                    data.extend_from_slice(&h.value.map_or(-1, |v| v.len() as i32).to_le_bytes());
                    data.extend_from_slice(h.value.unwrap_or_default());
                });
                nums.push(r.offset as f64);
                nums.push(r.timestamp as f64);
                data.len() < max_bytes as usize
            });
            match got {
                Ok(got) => left -= got,
                // Hand out what was read first; the cursor stays at the bad batch,
                // so the next fetch reports it.
                Err(_) if !nums.is_empty() => break,
                Err(e) => return Err(to_js(e)),
            }
        }
        self.next = (self.next + 1) % n.max(1);
        if nums.is_empty() {
            return Ok(None);
        }
        Ok(Some(Fetched {
            data: data.into(),
            meta: meta.into(),
            nums: nums.into(),
        }))
    }

    #[napi]
    pub fn seek(&mut self, index: u32, at: f64) -> Result<()> {
        self.slot(index)?.cursor.seek(position(at));
        Ok(())
    }

    #[napi]
    pub fn set_paused(&mut self, index: u32, paused: bool) -> Result<()> {
        self.slot(index)?.paused = paused;
        Ok(())
    }

    /// The next offset each cursor returns.
    #[napi]
    pub fn positions(&self) -> Vec<f64> {
        self.slots
            .iter()
            .map(|s| s.cursor.position() as f64)
            .collect()
    }

    #[napi]
    pub fn high_watermarks(&self) -> Vec<f64> {
        self.slots
            .iter()
            .map(|s| s.cursor.high_watermark() as f64)
            .collect()
    }

    #[napi]
    pub fn commit(&mut self, offsets: Vec<TopicPartitionOffset>) -> Result<()> {
        self.member()?.commit(&from_tpos(offsets)).map_err(to_js)
    }

    #[napi]
    pub fn committed(&mut self) -> Result<Vec<TopicPartitionOffset>> {
        Ok(tpos(self.member()?.committed().map_err(to_js)?))
    }

    /// Gives up every partition without committing (maxPollIntervalMs passed).
    #[napi]
    pub fn fence(&mut self) -> Result<Vec<TopicPartition>> {
        let revoked = self.member()?.fence().map_err(to_js)?;
        self.slots.clear();
        Ok(tps(revoked))
    }

    /// Commits (with auto-commit) the cursors' positions and leaves the group.
    /// Partitions at `keep` (messages still in the user's hands) stay locked
    /// until `releaseHeld`, so their next owner cannot start early.
    #[napi]
    pub fn leave(&mut self, keep: Vec<u32>) -> Result<Vec<TopicPartition>> {
        let Some(mut member) = self.member.take() else {
            return Ok(Vec::new());
        };
        let keep: Vec<Tp> = keep
            .iter()
            .filter_map(|&i| self.slots.get(i as usize).map(|s| s.tp.clone()))
            .collect();
        let slots = std::mem::take(&mut self.slots);
        let find = |tp: &Tp| {
            slots
                .iter()
                .find(|s| &s.tp == tp)
                .map(|s| s.cursor.position())
        };
        let (revoked, held) = member.leave(&find, &keep).map_err(to_js)?;
        self.held = held;
        self.held_group = member.auto_commits().then(|| member.group().to_string());
        Ok(tps(revoked))
    }

    /// Drops the cursors and their open segments; the consumer is closed.
    #[napi]
    pub fn close(&mut self) {
        self.slots.clear();
    }

    /// Lets the partitions kept by `leave` go, first committing `processed`
    /// for them (with auto-commit): still holding their locks, nobody else can.
    #[napi]
    pub fn release_held(&mut self, processed: Vec<TopicPartitionOffset>) -> Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        let done: Vec<(Tp, u64)> = from_tpos(processed)
            .into_iter()
            .filter(|(tp, _)| held.iter().any(|(h, _)| h == tp))
            .collect();
        let committed = match &self.held_group {
            Some(group) if !done.is_empty() => self
                .log
                .offsets()
                .and_then(|o| o.commit(group, &done))
                .map_err(to_js),
            _ => Ok(()),
        };
        drop(held);
        self.log.interrupt();
        committed
    }
}

#[napi(object)]
pub struct GroupMember {
    pub id: String,
    pub pid: u32,
    pub topics: Vec<String>,
    pub assignment: Vec<TopicPartition>,
}

#[napi(object)]
pub struct GroupOffset {
    pub topic: String,
    pub partition: u32,
    /// -1 when nothing is committed.
    pub committed: f64,
    pub high: f64,
}

#[napi(object)]
pub struct GroupInfo {
    pub group: String,
    pub generation: f64,
    pub members: Vec<GroupMember>,
    pub offsets: Vec<GroupOffset>,
}

fn group_info(g: caldo_core::GroupInfo) -> GroupInfo {
    let mut assignment = g.assignment;
    GroupInfo {
        group: g.name,
        generation: g.generation as f64,
        members: g
            .members
            .into_iter()
            .map(|m| GroupMember {
                assignment: tps(assignment.remove(&m.id).unwrap_or_default()),
                id: m.id,
                pid: m.pid,
                topics: m.topics,
            })
            .collect(),
        offsets: g
            .offsets
            .into_iter()
            .map(|((topic, partition), (c, high))| GroupOffset {
                topic,
                partition,
                committed: c.map_or(-1.0, |c| c as f64),
                high: high as f64,
            })
            .collect(),
    }
}

#[napi]
impl NativeLog {
    #[napi]
    pub async fn groups(&self) -> Result<Vec<GroupInfo>> {
        let log = self.inner.clone();
        Ok(blocking(move || log.groups())
            .await?
            .into_iter()
            .map(group_info)
            .collect())
    }

    /// `to`: "earliest", "latest", or "offsets" with `offsets` given.
    #[napi]
    pub async fn set_group_offsets(
        &self,
        group: String,
        to: String,
        offsets: Vec<TopicPartitionOffset>,
    ) -> Result<()> {
        let to = match to.as_str() {
            "earliest" => ResetTo::Earliest,
            "latest" => ResetTo::Latest,
            _ => ResetTo::Offsets(from_tpos(offsets)),
        };
        let log = self.inner.clone();
        blocking(move || caldo_core::group::set_offsets(&log, &group, to)).await
    }
}
