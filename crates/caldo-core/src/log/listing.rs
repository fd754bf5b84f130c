//! Describing topics: offsets, bytes on disk, and the damaged ones by name.

use super::{check_not_internal, Log, PartitionInfo, TopicInfo};
use crate::error::{Code, Error, IoContext, Result};
use crate::layout;
use crate::storage::partition::{dirty_ratio, Seg};
use crate::storage::segment;
use crate::storage::topic::{validate_name, Topic, TopicConfig};

impl Log {
    pub(super) fn info(&self, t: &Topic) -> Result<TopicInfo> {
        let partitions = t
            .partitions
            .iter()
            .map(|p| {
                let segs: Vec<Seg> = segment::sizes(p.dir())?
                    .into_iter()
                    .map(|(base, bytes)| Seg { base, bytes })
                    .collect();
                let dirty_ratio = match t.config.cleanup_policy.compacts() {
                    true => dirty_ratio(&segs, p.state().cleaned_to()),
                    false => 0.0,
                };
                Ok(PartitionInfo {
                    partition: p.id,
                    low: p.state().log_start(),
                    high: p.state().next_offset(),
                    lso: p.state().stable_end(),
                    bytes: segs.iter().map(|s| s.bytes).sum(),
                    dirty_ratio,
                })
            })
            .collect::<Result<_>>()?;
        Ok(TopicInfo {
            name: t.name.clone(),
            config: t.config.clone(),
            partitions,
            damage: None,
        })
    }

    /// A topic `topics` found but could not open: gone since (`None`), or damaged.
    fn damaged(&self, name: &str, e: Error) -> Option<TopicInfo> {
        let dir = layout::topic(&self.topics_dir(), name);
        let damage = match e.code {
            // Deleted by another process while listing.
            Code::UnknownTopic if !dir.exists() => return None,
            // Topics are published whole, so a directory without one lost it.
            Code::UnknownTopic => Error::new(
                Code::Corrupt,
                format!(
                    "topic '{name}' has no {}",
                    layout::topic_config(&dir).display()
                ),
            ),
            _ => e,
        };
        Some(TopicInfo {
            name: name.to_string(),
            config: TopicConfig::default(),
            partitions: Vec::new(),
            damage: Some(damage),
        })
    }

    /// Every topic, sorted by name; internal ones only with `internal`. A
    /// topic that cannot be opened is listed with its `damage`.
    pub fn topics(&self, internal: bool) -> Result<Vec<TopicInfo>> {
        self.check_open()?;
        let mut names = Vec::new();
        for entry in std::fs::read_dir(self.topics_dir()).ctx("listing topics")? {
            let name = entry
                .ctx("listing topics")?
                .file_name()
                .to_string_lossy()
                .into_owned();
            let shown = internal || check_not_internal(&name).is_ok();
            if shown && !name.starts_with('.') && validate_name("topic", &name).is_ok() {
                names.push(name);
            }
        }
        names.sort();
        let mut out = Vec::new();
        for name in names {
            match self.topic(&name) {
                Ok(t) => match self.info(&t) {
                    Ok(info) => out.push(info),
                    Err(e) => out.extend(self.damaged(&name, e)),
                },
                Err(e) => out.extend(self.damaged(&name, e)),
            }
        }
        Ok(out)
    }
}
