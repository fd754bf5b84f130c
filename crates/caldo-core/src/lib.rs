//! caldo's engine: a partitioned, persistent, replayable commit log that many
//! processes share through one directory, with no broker.

pub mod batch;
pub mod cursor;
pub mod error;
pub mod index;
pub mod lock;
pub mod log;
pub mod partition;
pub mod partitioner;
pub mod segment;
pub mod state;
pub mod topic;
pub mod varint;
pub mod wake;

pub use batch::{Header, RecordIn, RecordRef};
pub use cursor::{Cursor, Position};
pub use error::{Code, Error, Result};
pub use log::{Log, PartitionInfo, Placed, TopicInfo};
pub use partition::Durability;
pub use topic::TopicConfig;
