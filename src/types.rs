//! The objects that cross the boundary, shaped as the JS API returns them,
//! and their conversions. Numbers arrive as JS doubles and are checked by
//! `caldo_core::options`, so a bad one gets `ERR_INVALID_ARG`.

use caldo_core::options::{int, int32, MAX_SAFE};
use caldo_core::{Position, Result, Tp};
use napi::bindgen_prelude::{Either, Null};
use napi_derive::napi;

#[napi(object)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: f64,
}

#[napi(object)]
pub struct TopicPartitionOffset {
    pub topic: String,
    pub partition: f64,
    pub offset: f64,
}

#[napi(object)]
pub struct TopicPartitionTimestamp {
    pub topic: String,
    pub partition: f64,
    pub timestamp: f64,
}

/// An offset, or `'earliest'` / `'latest'`.
pub type At = Either<f64, String>;

pub fn position(what: &str, at: Option<At>) -> Result<Position> {
    match at {
        None => Ok(Position::Latest),
        Some(Either::A(o)) => Position::parse(what, Some(o), None),
        Some(Either::B(name)) => Position::parse(what, None, Some(&name)),
    }
}

impl TopicPartition {
    pub fn tp(&self) -> Result<Tp> {
        let p = int32("partition", self.partition, 0, u32::MAX)?;
        Ok((self.topic.clone(), p))
    }
}

pub fn tps(list: Vec<Tp>) -> Vec<TopicPartition> {
    list.into_iter()
        .map(|(topic, p)| TopicPartition {
            topic,
            partition: p.into(),
        })
        .collect()
}

pub fn from_tpos(list: &[TopicPartitionOffset]) -> Result<Vec<(Tp, u64)>> {
    list.iter()
        .map(|o| {
            let tp = TopicPartition {
                topic: o.topic.clone(),
                partition: o.partition,
            }
            .tp()?;
            Ok((tp, int("offset", o.offset, 0, MAX_SAFE)?))
        })
        .collect()
}

pub fn tpos(list: Vec<(Tp, u64)>) -> Vec<TopicPartitionOffset> {
    list.into_iter()
        .map(|((topic, p), o)| TopicPartitionOffset {
            topic,
            partition: p.into(),
            offset: o as f64,
        })
        .collect()
}

/// `null` in JS when absent.
pub type Nullable<T> = Either<T, Null>;

pub fn nullable<T>(v: Option<T>) -> Nullable<T> {
    v.map_or(Either::B(Null), Either::A)
}

#[napi(object)]
pub struct Rebalance {
    pub assigned: Vec<TopicPartition>,
    pub revoked: Vec<TopicPartition>,
}
