//! caldo's engine: a partitioned, persistent, replayable commit log that many
//! processes share through one directory, with no broker.

pub(crate) mod consumer;
pub(crate) mod crash;
pub(crate) mod error;
pub(crate) mod fsutil;
pub(crate) mod group;
pub(crate) mod layout;
pub(crate) mod log;
pub(crate) mod offsets;
pub mod options;
pub(crate) mod record;
pub(crate) mod storage;
pub(crate) mod sync;
pub(crate) mod txn;

pub use consumer::Consumer;
pub use error::{Code, Error, Result};
pub use group::{
    delete_group, describe_group, list_groups, set_group_offsets, Assignor, Change,
    Config as GroupConfig, GroupInfo, Held, Member, MemberInfo, ResetTo, Tp,
};
pub use log::{
    fail_appends_for_tests, CleanReport, Cleaned, Log, PartitionInfo, Placed, TopicInfo,
    CLEAN_INTERVAL,
};
pub use record::headers::headers as record_headers;
pub use record::{Header, RecordIn, RecordRef};
pub use storage::cursor::{Cursor, Isolation, Position};
pub use storage::inspect;
pub use storage::partition::{Compacted, Removed};
pub use storage::partition::{Durability, FailAt};
pub use storage::topic::{CleanupPolicy, TopicChanges, TopicConfig, MAX_MESSAGE_BYTES};
pub use sync::wake::Ring;
pub use txn::{Producer, DEFAULT_TXN_TIMEOUT};

/// The engine's internals, for its integration tests and fuzz targets only.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    pub use crate::record::{batch, control};
    pub use crate::storage::{files, index, segment, state, timeindex, txnindex};
    pub use crate::sync::lock;

    /// The segment file paths of [`crate::layout`].
    pub mod layout {
        use std::path::{Path, PathBuf};

        pub fn segment_log(partition: &Path, base: u64) -> PathBuf {
            crate::layout::segment_log(partition, base)
        }

        pub fn segment_index(partition: &Path, base: u64) -> PathBuf {
            crate::layout::segment_index(partition, base)
        }

        pub fn segment_time_index(partition: &Path, base: u64) -> PathBuf {
            crate::layout::segment_time_index(partition, base)
        }
    }
}
