//! Partitions on disk: segments and their indexes, the shared state file,
//! appends, durability, crash recovery, reading and inspection.

pub mod cursor;
pub mod files;
pub mod index;
pub mod inspect;
pub mod partition;
pub mod segment;
pub mod state;
pub mod time;
pub mod timeindex;
pub mod topic;
pub mod topic_config;
pub mod txnindex;
