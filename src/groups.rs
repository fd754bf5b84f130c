//! `NativeLog`'s group calls: list, reset offsets, delete.

use caldo_core::ResetTo;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::{blocking, Outcome};
use crate::log::NativeLog;
use crate::types::{from_tpos, nullable, tps, Nullable, TopicPartition, TopicPartitionOffset};

#[napi(object)]
pub struct GroupMember {
    pub member_id: String,
    pub pid: u32,
    pub topics: Vec<String>,
    pub assignment: Vec<TopicPartition>,
}

#[napi(object)]
pub struct GroupOffset {
    pub topic: String,
    pub partition: u32,
    pub committed: Nullable<f64>,
    pub high: f64,
    pub lag: f64,
}

#[napi(object)]
pub struct GroupInfo {
    pub group_id: String,
    pub generation: f64,
    pub members: Vec<GroupMember>,
    pub offsets: Vec<GroupOffset>,
}

fn group_info(g: caldo_core::GroupInfo) -> GroupInfo {
    let mut assignment = g.assignment;
    GroupInfo {
        group_id: g.name,
        generation: g.generation as f64,
        members: g
            .members
            .into_iter()
            .map(|m| GroupMember {
                assignment: tps(assignment.remove(&m.id).unwrap_or_default()),
                member_id: m.id,
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
                committed: nullable(c.map(|c| c as f64)),
                high: high as f64,
                lag: high as f64 - c.unwrap_or(0) as f64,
            })
            .collect(),
    }
}

#[napi]
impl NativeLog {
    #[napi]
    pub fn groups<'env>(
        &self,
        env: &'env Env,
    ) -> Result<PromiseRaw<'env, Outcome<Vec<GroupInfo>>>> {
        let log = self.inner.clone();
        blocking(env, move || {
            let groups = caldo_core::list_groups(&log)?;
            Ok(groups.into_iter().map(group_info).collect())
        })
    }

    #[napi]
    pub fn delete_group<'env>(
        &self,
        env: &'env Env,
        group: String,
    ) -> Result<PromiseRaw<'env, Outcome<()>>> {
        let log = self.inner.clone();
        blocking(env, move || caldo_core::delete_group(&log, &group))
    }

    /// `to`: `'earliest'`, `'latest'`, or exact offsets.
    #[napi]
    pub fn set_group_offsets<'env>(
        &self,
        env: &'env Env,
        group: String,
        to: Either<String, Vec<TopicPartitionOffset>>,
    ) -> Result<PromiseRaw<'env, Outcome<()>>> {
        let log = self.inner.clone();
        blocking(env, move || {
            let to = match to {
                Either::A(name) => match caldo_core::Position::parse_end("to", &name)? {
                    caldo_core::Position::Earliest => ResetTo::Earliest,
                    _ => ResetTo::Latest,
                },
                Either::B(list) => ResetTo::Offsets(from_tpos(&list)?),
            };
            caldo_core::set_group_offsets(&log, &group, to)
        })
    }
}
