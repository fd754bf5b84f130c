//! The log's lifecycle calls: topic settings, retention by hand, and
//! offsets by time.

use super::cleaner::{self, CleanReport};
use super::{check_not_internal, Log, TopicInfo};
use crate::error::{Code, Error, Result};
use crate::storage::topic::{validate_name, Topic, TopicChanges};

impl Log {
    /// Changes a topic's configuration (not its partitions). Every process
    /// sees the change at its next use of the topic.
    pub fn alter_topic(&self, name: &str, changes: &TopicChanges) -> Result<TopicInfo> {
        self.check_open()?;
        validate_name("topic", name)?;
        check_not_internal(name)?;
        if changes.partitions.is_some() {
            return Err(Error::new(
                Code::InvalidArg,
                "partitions cannot be altered: create a new topic with more partitions",
            ));
        }
        Topic::alter(&self.topics_dir(), name, self.durable(), |old| {
            Ok(changes.apply(old))
        })?;
        self.info(&*self.topic(name)?)
    }

    /// Moves the log start of one partition forward to `before` (Kafka's
    /// DeleteRecords) and removes the segments wholly below it; returns the
    /// log start afterwards.
    pub fn delete_records(&self, topic: &str, partition: u32, before: u64) -> Result<u64> {
        check_not_internal(topic)?;
        let t = self.topic(topic)?;
        let p = t.partition(partition)?;
        let start = p.delete_records(before)?;
        cleaner::clean_partition(&t, p, &self.timestamps, false, &mut CleanReport::default())?;
        Ok(start)
    }

    /// Runs the cleaner now, on every topic, compacting whatever is dirty
    /// whatever its share; partitions another process is cleaning are
    /// skipped (counted in `busy`).
    pub fn clean(&self) -> Result<CleanReport> {
        self.check_open()?;
        cleaner::clean_all(&self.opener, &self.timestamps, true)
    }

    /// The first offset of `topic`/`partition` whose record has a timestamp at
    /// or after `timestamp` (Kafka's ListOffsets by time); `None` when no
    /// record is that recent.
    pub fn offset_for_time(
        &self,
        topic: &str,
        partition: u32,
        timestamp: i64,
    ) -> Result<Option<u64>> {
        Ok(self
            .offset_for_time_or_end(topic, partition, timestamp)?
            .ok())
    }

    /// As [`Log::offset_for_time`], with `Err(high watermark)` (the next offset
    /// as the search saw it) when no record is that recent: where a consumer
    /// seeking to that time starts.
    pub fn offset_for_time_or_end(
        &self,
        topic: &str,
        partition: u32,
        timestamp: i64,
    ) -> Result<std::result::Result<u64, u64>> {
        self.check_open()?;
        let part = self.partition(topic, partition)?;
        crate::storage::time::offset_for_time(&part, timestamp)
    }
}
