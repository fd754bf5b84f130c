//! Exactly once, Kafka's way, without a broker: producer ids and epochs
//! (`ids`), the transaction coordinator kept in files per transactional id
//! (`coordinator`), the producer that numbers and stamps its batches and
//! runs transactions (`producer`), and the sweep that any process with the
//! log open runs to end the transactions of dead or stuck producers
//! (`sweeper`).

mod coordinator;
mod ids;
mod producer;
mod sweeper;

pub(crate) use ids::Ids;
pub use producer::{Producer, DEFAULT_TXN_TIMEOUT};
pub(crate) use sweeper::{sweep, Sweeper, SWEEP_INTERVAL};
