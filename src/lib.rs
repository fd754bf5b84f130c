//! Node binding for caldo-core, one file per class: converts arguments,
//! results and errors. Storage and group logic live in the core; JS idioms
//! live in `lib/`.

mod consumer;
mod error;
mod inspect;
mod log;
mod types;
mod wire;
