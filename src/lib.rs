//! Node binding for caldo-core, one file per class: converts arguments,
//! results and errors. Storage and group logic live in the core; JS idioms
//! live in `lib/`.

pub mod consumer;
pub mod error;
pub mod groups;
pub mod inspect;
pub mod log;
pub mod producer;
pub mod topics;
pub mod types;
pub mod v8_memory;
mod wait;
pub mod wire;
