//! Arbitrary bytes into parse_header, crc_ok, decode and headers.
//! The same harness runs with fixed seeds in crates/caldo-core/tests/fuzz_inputs.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/caldo-core/tests/fuzz_common/mod.rs"]
mod fuzz_common;

fuzz_target!(|data: &[u8]| fuzz_common::batch_decoder(data));
