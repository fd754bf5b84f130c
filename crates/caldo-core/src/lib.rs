//! caldo's engine: a partitioned, persistent, replayable commit log that many
//! processes share through one directory, with no broker.

pub mod batch;
pub mod consumer;
pub mod cursor;
pub mod error;
// Adopted module by module as the reshape lands.
#[allow(dead_code)]
pub(crate) mod fsutil;
pub(crate) mod group;
pub mod index;
pub mod inspect;
#[allow(dead_code)]
pub(crate) mod layout;
pub mod lock;
pub(crate) mod log;
pub(crate) mod offsets;
pub mod options;
pub mod partition;
pub mod partitioner;
pub mod segment;
pub mod state;
#[allow(dead_code)]
pub(crate) mod sync;
pub mod topic;
pub mod varint;
pub mod wake;

pub use batch::{headers as record_headers, Header, RecordIn, RecordRef};
pub use consumer::Consumer;
pub use cursor::{Cursor, Position};
pub use error::{Code, Error, Result};
pub use group::{
    describe_group, list_groups, set_group_offsets, Assignor, Change, Config as GroupConfig,
    GroupInfo, Held, Member, MemberInfo, ResetTo, Tp,
};
pub use log::{Log, PartitionInfo, Placed, TopicInfo};
pub use partition::Durability;
pub use topic::TopicConfig;
