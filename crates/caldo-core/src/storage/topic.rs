//! Topics: name rules, configuration (`topic.json`), creation and deletion.

use std::path::Path;
use std::sync::Arc;

use crate::error::{Code, Error, IoContext, Result};
use crate::fsutil::{sync_dir, write_atomic};
use crate::layout;
use crate::storage::partition::{Durability, Partition};
use crate::storage::state::State;
use crate::sync::wake::Wake;

pub use super::topic_config::{CleanupPolicy, TopicChanges, TopicConfig, MAX_MESSAGE_BYTES};

/// Kafka's rules: `[a-zA-Z0-9._-]`, 1..=249 chars, not `.` or `..`. Names
/// become paths, so this is also what keeps them inside the log directory.
/// Topic and group names follow the same rules, with their own error codes.
pub fn validate_name(kind: &str, name: &str) -> Result<()> {
    let code = match kind {
        "group" => Code::InvalidGroup,
        "topic" => Code::InvalidTopic,
        _ => Code::InvalidArg,
    };
    let ok = !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            code,
            format!(
                "invalid {kind} name {name:?}: use 1 to 249 of a-z A-Z 0-9 . _ - (not '.' or '..')"
            ),
        ))
    }
}

/// Refuses a symlink where caldo expects its own directory, so a link planted
/// inside the log directory cannot send reads or writes outside it.
pub fn refuse_symlink(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(Error::new(
            Code::Corrupt,
            format!(
                "{} is a symbolic link; caldo does not follow links inside the log directory (replace it with a directory)",
                path.display()
            ),
        )),
        _ => Ok(()),
    }
}

pub struct Topic {
    pub name: String,
    pub config: TopicConfig,
    pub partitions: Vec<Arc<Partition>>,
    /// Partition 0's config generation when `config` was read.
    config_gen: u64,
}

/// The topic's config generation, from partition 0's state.
fn config_generation(topic_dir: &Path) -> Result<u64> {
    let path = layout::partition_state(&layout::partition(topic_dir, 0));
    Ok(State::open(&path)?.config_gen())
}

impl Topic {
    /// Builds the topic in a hidden directory and renames it into place, so
    /// other processes see all of it or none, and a second creator fails.
    pub fn create(topics: &Path, name: &str, config: &TopicConfig, durable: bool) -> Result<()> {
        let tmp = topics.join(format!(
            ".tmp-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&tmp);
        let build = || -> Result<()> {
            std::fs::create_dir_all(&tmp).ctx("creating topic directory")?;
            for p in 0..config.partitions {
                let dir = layout::partition(&tmp, p);
                std::fs::create_dir(&dir).ctx("creating partition directory")?;
                State::open(&layout::partition_state(&dir))?.reset(0, 0, 0, 0);
                for path in [layout::segment_log(&dir, 0), layout::segment_index(&dir, 0)] {
                    std::fs::File::create(&path).ctx("creating segment")?;
                }
                if durable {
                    sync_dir(&dir)?;
                }
            }
            let json = serde_json::to_vec_pretty(config).expect("config serializes");
            // Durably, also syncs the directory, and so the partition entries in it.
            write_atomic(&layout::topic_config(&tmp), &json, durable)
        };
        let built =
            build().and_then(
                |()| match std::fs::rename(&tmp, layout::topic(topics, name)) {
                    Ok(()) => Ok(()),
                    Err(e) if matches!(e.raw_os_error(), Some(39) | Some(17)) => Err(Error::new(
                        Code::TopicExists,
                        format!("topic '{name}' already exists"),
                    )),
                    Err(e) => Err(e).ctx("publishing topic directory"),
                },
            );
        if built.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        built?;
        if durable {
            sync_dir(topics)?;
        }
        Ok(())
    }

    pub fn open(
        topics: &Path,
        name: &str,
        durability: Durability,
        wake: &Arc<Wake>,
    ) -> Result<Topic> {
        let dir = layout::topic(topics, name);
        refuse_symlink(&dir)?;
        let text = match std::fs::read(layout::topic_config(&dir)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::new(
                    Code::UnknownTopic,
                    format!("unknown topic '{name}': create it with createTopic first"),
                ))
            }
            Err(e) => return Err(e).ctx(format_args!("reading topic '{name}'")),
        };
        // The generation is read before the config it goes with: an alter
        // in between makes this process read the config again.
        let config_gen = config_generation(&dir).map_err(|e| match dir.exists() {
            // Deleted since topic.json was read.
            false => Error::new(Code::UnknownTopic, format!("unknown topic '{name}'")),
            true => e,
        })?;
        let text = match config_gen {
            0 => text,
            _ => std::fs::read(layout::topic_config(&dir))
                .ctx(format_args!("reading topic '{name}'"))?,
        };
        let config: TopicConfig = serde_json::from_slice(&text).map_err(|e| {
            Error::new(
                Code::Corrupt,
                format!("topic '{name}' has a damaged topic.json: {e}"),
            )
        })?;
        config
            .validate()
            .map_err(|e| Error::new(Code::Corrupt, format!("topic '{name}': {}", e.message)))?;
        let partitions = (0..config.partitions)
            .map(|p| {
                let part_dir = layout::partition(&dir, p);
                refuse_symlink(&part_dir)?;
                let part = Partition::open(
                    name,
                    p,
                    part_dir,
                    config.segment_bytes,
                    durability,
                    wake.clone(),
                );
                part.map(|mut p| {
                    p.segment_ms = config.segment_ms;
                    Arc::new(p)
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Topic {
            name: name.to_string(),
            config,
            partitions,
            config_gen,
        })
    }

    /// True once another process altered `topic.json` after this was read.
    pub fn stale(&self) -> bool {
        self.partitions[0].state().config_gen() != self.config_gen
    }

    /// Replaces `topic.json` with `change` applied to it, under the topic's
    /// config lock, and bumps the generation every process checks.
    pub fn alter(
        topics: &Path,
        name: &str,
        durable: bool,
        change: impl FnOnce(&TopicConfig) -> Result<TopicConfig>,
    ) -> Result<()> {
        let dir = layout::topic(topics, name);
        refuse_symlink(&dir)?;
        let lock_path = layout::topic_config_lock(&dir);
        let lock_file = match std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
        {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::new(
                    Code::UnknownTopic,
                    format!("unknown topic '{name}': create it with createTopic first"),
                ))
            }
            r => r.ctx(format_args!("opening {}", lock_path.display()))?,
        };
        let _locked = crate::sync::lock::exclusive(&lock_file).ctx("locking topic config")?;
        let text = match std::fs::read(layout::topic_config(&dir)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::new(
                    Code::UnknownTopic,
                    format!("unknown topic '{name}': create it with createTopic first"),
                ))
            }
            r => r.ctx(format_args!("reading topic '{name}'"))?,
        };
        let old: TopicConfig = serde_json::from_slice(&text).map_err(|e| {
            Error::new(
                Code::Corrupt,
                format!("topic '{name}' has a damaged topic.json: {e}"),
            )
        })?;
        let new = change(&old)?;
        new.validate()?;
        let json = serde_json::to_vec_pretty(&new).expect("config serializes");
        write_atomic(&layout::topic_config(&dir), &json, durable)?;
        State::open(&layout::partition_state(&layout::partition(&dir, 0)))?.bump_config_gen();
        Ok(())
    }

    /// True once any process deleted this topic.
    pub fn deleted(&self) -> bool {
        self.partitions[0].state().deleted()
    }

    /// Flags every partition deleted (so open handles everywhere stop), then
    /// moves the directory aside and removes it.
    pub fn delete(&self, topics: &Path) -> Result<()> {
        for p in &self.partitions {
            p.mark_deleted()?;
        }
        let grave = topics.join(format!(".deleted-{}-{}", self.name, std::process::id()));
        std::fs::rename(layout::topic(topics, &self.name), &grave)
            .ctx("removing topic directory")?;
        std::fs::remove_dir_all(&grave).ctx("removing topic files")
    }

    pub fn partition(&self, id: u32) -> Result<&Arc<Partition>> {
        self.partitions.get(id as usize).ok_or_else(|| {
            Error::new(
                Code::InvalidPartition,
                format!(
                    "topic '{}' has partitions 0 to {}, not {id}",
                    self.name,
                    self.partitions.len() - 1
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        for ok in ["a", "orders", "a.b_c-D9", &"x".repeat(249)] {
            assert!(validate_name("topic", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "a b",
            "é",
            &"x".repeat(250),
            "a\0b",
        ] {
            assert_eq!(
                validate_name("topic", bad).unwrap_err().code,
                Code::InvalidTopic,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn config_limits() {
        assert!(TopicConfig::default().validate().is_ok());
        for c in [
            TopicConfig {
                partitions: 0,
                ..Default::default()
            },
            TopicConfig {
                segment_bytes: 10,
                ..Default::default()
            },
            TopicConfig {
                max_message_bytes: 0,
                ..Default::default()
            },
        ] {
            assert_eq!(c.validate().unwrap_err().code, Code::InvalidArg);
        }
    }
}
