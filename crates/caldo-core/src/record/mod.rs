//! Records and their encoding: batches, varints, headers, key partitioning.

pub mod batch;
pub mod control;
pub mod headers;
pub mod partitioner;
pub mod varint;

pub use batch::{RecordIn, RecordRef};
pub use headers::Header;
