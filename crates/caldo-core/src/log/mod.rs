//! A log directory: its topics, the shared wake-up word, and the background flusher.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Code, Error, IoContext, Result};
use crate::offsets::{self, Offsets};
use crate::record::batch::RecordIn;
use crate::record::partitioner::partition_for_key;
use crate::storage::cursor::{Cursor, Position};
use crate::storage::partition::{sync_all, Durability, FailAt, Partition, Unsynced, Write};
use crate::storage::topic::{validate_name, Topic, TopicConfig};
use crate::sync::unpoisoned;
use crate::sync::wake::{Ring, Wake};
use crate::txn::{Ids, Sweeper, SWEEP_INTERVAL};
use crate::{fsutil, layout};

mod cleaner;
mod flusher;
mod lifecycle;
mod listing;

pub use cleaner::{CleanReport, Cleaned};
use cleaner::{Cleaner, Timestamps};
use flusher::{flush_all, Flusher};

/// The default of `cleanIntervalMs`.
pub const CLEAN_INTERVAL: Duration = Duration::from_secs(30);

const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Meta {
    format: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PartitionInfo {
    pub partition: u32,
    /// The first offset still stored.
    pub low: u64,
    /// The next offset to be written.
    pub high: u64,
    /// The last stable offset: below it every transaction is decided
    /// (`high` when none is open). Read committed consumers stop here.
    pub lso: u64,
    /// Bytes of its segment files on disk.
    pub bytes: u64,
    /// For a compacted topic, the share of its sealed bytes not compacted yet.
    pub dirty_ratio: f64,
}

#[derive(Debug)]
pub struct TopicInfo {
    pub name: String,
    pub config: TopicConfig,
    pub partitions: Vec<PartitionInfo>,
    /// Why the topic cannot be opened (then `partitions` is empty and
    /// `config` the default); `None` when it is healthy.
    pub damage: Option<Error>,
}

/// Where a record goes: a given partition, else by key, else the call's round-robin pick.
pub struct Placed<'a> {
    pub partition: Option<u32>,
    pub record: RecordIn<'a>,
}

type Topics = Arc<Mutex<HashMap<String, Arc<Topic>>>>;

/// What opening a topic takes; the cleaner thread has its own copy.
#[derive(Clone)]
pub(crate) struct Opener {
    topics_dir: PathBuf,
    durability: Durability,
    wake: Arc<Wake>,
    topics: Topics,
}

impl Opener {
    /// The log directory.
    pub(crate) fn log_dir(&self) -> &Path {
        self.topics_dir.parent().unwrap_or(Path::new("."))
    }

    /// True unless durability is 'none': metadata writes are then fsynced too.
    pub(crate) fn durable(&self) -> bool {
        self.durability != Durability::None
    }

    pub(crate) fn partition(&self, topic: &str, id: u32) -> Result<Arc<Partition>> {
        Ok(load_topic(self, topic)?.partition(id)?.clone())
    }
}

/// The topic, from this process's cache unless another process deleted it
/// or altered its config since (then it is read again).
fn load_topic(o: &Opener, name: &str) -> Result<Arc<Topic>> {
    if let Some(t) = unpoisoned(&o.topics).get(name).cloned() {
        if !t.deleted() {
            if !t.stale() {
                return Ok(t);
            }
            // Its replacement has its own flush bookkeeping.
            for p in &t.partitions {
                let _ = p.flush();
            }
        }
    }
    let topic = Arc::new(Topic::open(&o.topics_dir, name, o.durability, &o.wake)?);
    unpoisoned(&o.topics).insert(name.to_string(), topic.clone());
    Ok(topic)
}

pub struct Log {
    dir: PathBuf,
    durability: Durability,
    wake: Arc<Wake>,
    topics: Topics,
    closed: AtomicBool,
    flusher: Mutex<Option<Flusher>>,
    offsets: Mutex<Option<Arc<Offsets>>>,
    opener: Opener,
    cleaner: Mutex<Option<Cleaner>>,
    timestamps: Arc<Mutex<Timestamps>>,
    ids: Ids,
    sweeper: Mutex<Option<Sweeper>>,
}

/// Internal topics (`__consumer_offsets`) are managed by caldo itself.
fn check_not_internal(name: &str) -> Result<()> {
    if name.starts_with("__") {
        return Err(Error::new(
            Code::InvalidTopic,
            format!("topic names starting with '__' are reserved for caldo ('{name}')"),
        ));
    }
    Ok(())
}

impl Log {
    /// Opens (creating if needed) the log in `dir`. With `Durability::Interval`,
    /// `flush_interval` sets how often appended data is fdatasync'ed.
    pub fn open(dir: &Path, durability: Durability, flush_interval: Duration) -> Result<Log> {
        Log::open_with(dir, durability, flush_interval, Some(CLEAN_INTERVAL))
    }

    /// [`Log::open`], with the background cleaner waking every
    /// `clean_interval` and on segment rolls (`None`: no background cleaner;
    /// [`Log::clean`] still cleans).
    pub fn open_with(
        dir: &Path,
        durability: Durability,
        flush_interval: Duration,
        clean_interval: Option<Duration>,
    ) -> Result<Log> {
        std::fs::create_dir_all(layout::topics(dir))
            .ctx(format_args!("creating {}", dir.display()))?;
        let meta_path = layout::meta(dir);
        match std::fs::read(&meta_path) {
            Ok(bytes) => {
                let meta: Meta = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::new(
                        Code::Corrupt,
                        format!("{} is damaged: {e}", meta_path.display()),
                    )
                })?;
                if meta.format != FORMAT {
                    return Err(Error::new(
                        Code::InvalidArg,
                        format!(
                            "{} holds format {}; this caldo reads format {FORMAT}",
                            dir.display(),
                            meta.format
                        ),
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let json = serde_json::to_vec(&Meta { format: FORMAT }).expect("meta serializes");
                fsutil::write_atomic(&meta_path, &json, durability != Durability::None)?;
            }
            Err(e) => return Err(e).ctx(format_args!("reading {}", meta_path.display())),
        }
        let wake = Arc::new(Wake::open(&layout::wake(dir))?);
        let topics: Topics = Arc::default();
        let flusher = match durability {
            Durability::Interval => Some(Flusher::every(topics.clone(), flush_interval)),
            Durability::None => Some(Flusher::on_rolls(topics.clone())),
            Durability::Always => None,
        };
        let opener = Opener {
            topics_dir: layout::topics(dir),
            durability,
            wake: wake.clone(),
            topics: topics.clone(),
        };
        let timestamps = Arc::<Mutex<Timestamps>>::default();
        let cleaner = clean_interval.map(|i| Cleaner::spawn(opener.clone(), timestamps.clone(), i));
        let sweeper = clean_interval.map(|i| Sweeper::spawn(opener.clone(), i.min(SWEEP_INTERVAL)));
        Ok(Log {
            dir: dir.to_path_buf(),
            durability,
            wake,
            topics,
            closed: AtomicBool::new(false),
            flusher: Mutex::new(flusher),
            offsets: Mutex::default(),
            opener,
            cleaner: Mutex::new(cleaner),
            timestamps,
            ids: Ids::new(dir, durability != Durability::None),
            sweeper: Mutex::new(sweeper),
        })
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True unless durability is 'none': metadata writes are then fsynced too.
    pub(crate) fn durable(&self) -> bool {
        self.durability != Durability::None
    }

    pub(crate) fn opener(&self) -> &Opener {
        &self.opener
    }

    pub(crate) fn producer_ids(&self) -> &Ids {
        &self.ids
    }

    /// Ends the transactions of dead or timed-out producers now (the
    /// background sweep does it every second).
    pub fn sweep_transactions(&self) -> Result<()> {
        self.check_open()?;
        crate::txn::sweep(&self.opener)
    }

    fn topics_dir(&self) -> PathBuf {
        layout::topics(&self.dir)
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::new(
                Code::Closed,
                "the log is closed; open it again to use it",
            ));
        }
        Ok(())
    }

    /// The topic, from this process's cache unless another process deleted it since.
    pub fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        self.check_open()?;
        validate_name("topic", name)?;
        load_topic(&self.opener, name)
    }

    pub fn create_topic(&self, name: &str, config: &TopicConfig) -> Result<TopicInfo> {
        self.check_open()?;
        validate_name("topic", name)?;
        check_not_internal(name)?;
        config.validate()?;
        Topic::create(&self.topics_dir(), name, config, self.durable())?;
        self.info(&*self.topic(name)?)
    }

    pub fn delete_topic(&self, name: &str) -> Result<()> {
        check_not_internal(name)?;
        let topic = self.topic(name)?;
        topic.delete(&self.topics_dir())?;
        unpoisoned(&self.topics).remove(name);
        Ok(())
    }

    /// Appends records, each to its partition (given, else by key with Kafka's
    /// murmur2, else `round_robin % partitions`). All records are checked
    /// before anything is written. Returns (partition, offset) per record.
    pub fn append(
        &self,
        topic: &str,
        records: &[Placed],
        round_robin: u32,
    ) -> Result<Vec<(u32, u64)>> {
        self.append_with(topic, records, round_robin, &mut |p, batch| {
            p.append_unsynced(batch, None)
        })
    }

    /// [`Log::append`], each partition's records written by `write`
    /// (a producer's, which stamps and numbers them).
    pub(crate) fn append_with(
        &self,
        topic: &str,
        records: &[Placed],
        round_robin: u32,
        write: &mut Write,
    ) -> Result<Vec<(u32, u64)>> {
        self.place(topic, records, round_robin)?
            .write(records, write)
    }

    /// The partition of each of `records` in `topic`, every record checked.
    pub(crate) fn place(
        &self,
        topic: &str,
        records: &[Placed],
        round_robin: u32,
    ) -> Result<Placement> {
        let t = self.topic(topic)?;
        let n = t.config.partitions;
        let mut placed = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let p = match (r.partition, r.record.key) {
                (Some(p), _) => t.partition(p)?.id,
                (None, Some(key)) => partition_for_key(key, n),
                (None, None) => round_robin % n,
            };
            if r.record.key.is_none() && t.config.cleanup_policy.compacts() {
                return Err(Error::new(
                    Code::InvalidArg,
                    format!(
                        "record {i} has no key, and topic '{topic}' is compacted (cleanupPolicy '{}'), which keeps the last record of each key: give every record a key",
                        t.config.cleanup_policy.as_str()
                    ),
                ));
            }
            let size = r.record.size();
            if size > t.config.max_message_bytes as usize {
                return Err(Error::new(
                    Code::MessageTooLarge,
                    format!(
                        "record {i} is {size} bytes; topic '{topic}' takes at most {} (maxMessageBytes)",
                        t.config.max_message_bytes
                    ),
                ));
            }
            placed.push(p);
        }
        let mut parts = placed.clone();
        parts.sort_unstable();
        parts.dedup();
        Ok(Placement {
            topic: t,
            placed,
            parts,
        })
    }

    /// A cursor on one partition.
    pub fn cursor(&self, topic: &str, partition: u32, at: Position) -> Result<Cursor> {
        let t = self.topic(topic)?;
        Ok(Cursor::new(t.partition(partition)?.clone(), at))
    }

    /// The wake-up counter; read it before looking for records, then pass it to `wait`.
    pub fn wake_seq(&self) -> u32 {
        self.wake.seq()
    }

    /// Sleeps until any process appends (or `close`/`interrupt`), at most `timeout`.
    pub fn wait(&self, seen: u32, timeout: Duration) -> bool {
        !self.is_closed() && self.wake.wait(seen, timeout)
    }

    /// A way to wait with no thread, where the kernel has one (see [`Ring`]).
    pub fn ring(&self) -> Option<Ring> {
        Ring::new(self.wake.clone())
    }

    /// Whether `close` was called: a wait would return at once.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Wakes every waiter (used when a reader is closed).
    pub fn interrupt(&self) {
        self.wake.notify();
    }

    /// fdatasync everything this process appended.
    pub fn flush(&self) -> Result<()> {
        self.check_open()?;
        flush_all(&self.topics)
    }

    /// Flushes, stops the flusher and wakes waiters. Later calls fail with `Closed`.
    pub fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some(f) = unpoisoned(&self.flusher).take() {
            f.stop();
        }
        if let Some(c) = unpoisoned(&self.cleaner).take() {
            c.stop();
        }
        if let Some(s) = unpoisoned(&self.sweeper).take() {
            s.stop();
        }
        let flushed = match self.durability {
            Durability::None => Ok(()),
            _ => flush_all(&self.topics),
        };
        // Let go of the files now rather than when the last handle is dropped.
        unpoisoned(&self.topics).clear();
        *unpoisoned(&self.offsets) = None;
        self.wake.notify();
        flushed
    }

    pub fn partition(&self, topic: &str, id: u32) -> Result<Arc<Partition>> {
        Ok(self.topic(topic)?.partition(id)?.clone())
    }

    /// The committed-offsets store, creating `__consumer_offsets` on first use.
    pub fn offsets(&self) -> Result<Arc<Offsets>> {
        let mut slot = unpoisoned(&self.offsets);
        if let Some(o) = &*slot {
            return Ok(o.clone());
        }
        let config = offsets::config();
        let durable = self.durable();
        match Topic::create(&self.topics_dir(), offsets::TOPIC, &config, durable) {
            Err(e) if e.code != Code::TopicExists => return Err(e),
            _ => {}
        }
        let mut topic = self.topic(offsets::TOPIC)?;
        // A log made before compaction: its segments were as large as a user
        // topic's, which would keep every commit in the active segment.
        if topic.config != config {
            Topic::alter(&self.topics_dir(), offsets::TOPIC, durable, |old| {
                Ok(TopicConfig {
                    partitions: old.partitions,
                    ..config.clone()
                })
            })?;
            topic = self.topic(offsets::TOPIC)?;
        }
        let o = Arc::new(Offsets::new(topic));
        *slot = Some(o.clone());
        Ok(o)
    }
}

/// Tests only: the next `n` appends to `topic`/`partition` of the log in
/// `dir`, by any log of this process, fail at `at`.
pub fn fail_appends_for_tests(dir: &Path, topic: &str, partition: u32, at: FailAt, n: u32) {
    let topic = layout::topic(&layout::topics(dir), topic);
    let partition = layout::partition(&topic, partition);
    crate::storage::partition::fail_appends_for_tests(&partition, at, n);
}

impl Drop for Log {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Where the records of one append go: see [`Log::place`].
pub(crate) struct Placement {
    topic: Arc<Topic>,
    /// Each record's partition.
    placed: Vec<u32>,
    /// The partitions written, each once, in order.
    parts: Vec<u32>,
}

impl Placement {
    /// The partitions the append writes to.
    pub(crate) fn partitions(&self) -> impl Iterator<Item = &Arc<Partition>> {
        self.parts
            .iter()
            .map(|&p| &self.topic.partitions[p as usize])
    }

    /// Writes each partition's records with `write`, one batch a partition,
    /// then does the syncs they left, together. Returns (partition, offset)
    /// per record.
    pub(crate) fn write(self, records: &[Placed], write: &mut Write) -> Result<Vec<(u32, u64)>> {
        let mut unsynced = Vec::new();
        let written = self.write_unsynced(records, write, &mut unsynced);
        // What was written is synced even when a later partition failed.
        sync_all(unsynced)?;
        written
    }

    fn write_unsynced(
        &self,
        records: &[Placed],
        write: &mut Write,
        unsynced: &mut Vec<(Arc<Partition>, Unsynced)>,
    ) -> Result<Vec<(u32, u64)>> {
        let mut out = vec![(0, 0); records.len()];
        let mut batch = Vec::new();
        for (part, &p) in self.partitions().zip(&self.parts) {
            batch.clear();
            batch.extend(
                records
                    .iter()
                    .zip(&self.placed)
                    .filter(|(_, &q)| q == p)
                    .map(|(r, _)| r.record),
            );
            let (first, left) = write(part, &batch)?;
            unsynced.extend(left.map(|u| (part.clone(), u)));
            let idx = self
                .placed
                .iter()
                .enumerate()
                .filter(|(_, &q)| q == p)
                .map(|(i, _)| i);
            for (k, i) in idx.enumerate() {
                out[i] = (p, first + k as u64);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_lists_the_healthy_and_names_the_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let open = || Log::open(dir.path(), Durability::None, Duration::from_secs(1)).unwrap();
        let log = open();
        for t in ["a", "b", "c"] {
            log.create_topic(t, &TopicConfig::default()).unwrap();
        }
        drop(log);
        let config = |t| layout::topic_config(&layout::topic(&layout::topics(dir.path()), t));
        std::fs::write(config("b"), b"{\"partitions\": ").unwrap();
        std::fs::remove_file(config("c")).unwrap();
        let list = open().topics(false).unwrap();
        let names: Vec<&str> = list.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(list[0].damage.is_none());
        assert_eq!(list[0].partitions.len(), 1);
        for t in &list[1..] {
            let damage = t.damage.as_ref().unwrap();
            assert_eq!(damage.code, Code::Corrupt);
            assert!(damage.message.contains("topic.json"), "{damage}");
            assert!(t.partitions.is_empty());
            assert_eq!(t.config, TopicConfig::default());
        }
    }
}
