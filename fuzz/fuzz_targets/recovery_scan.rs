//! A partition built from the input, recovered and read back (see
//! `recovery_scan` for how the input is laid out). The same harness runs with
//! fixed seeds in crates/caldo-core/tests/fuzz_inputs.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/caldo-core/tests/fuzz_common/mod.rs"]
mod fuzz_common;

fuzz_target!(|data: &[u8]| fuzz_common::recovery_scan(data));
