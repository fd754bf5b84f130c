//! Records and their encoding: batches, varints, headers, key partitioning.

pub mod batch;
pub mod partitioner;
pub mod varint;

pub use batch::{Header, RecordIn, RecordRef};
