//! Fixed-seed robustness runs of the harnesses the cargo-fuzz targets in
//! `fuzz/` call: random and mutated bytes into the batch decoder, and
//! partitions built from random and mutated segments through recovery.
//! No panic, and nothing that is not a written record comes back as one.

mod fuzz_common;

use caldo_core::internals::batch::{self, RecordIn};
use caldo_core::internals::{layout, segment};
use caldo_core::{Code, Durability, Log, Placed, Position, TopicConfig};
use fuzz_common::{batch_decoder, known_batches, recovery_scan};
use std::time::Duration;

mod rng;
use rng::Rng;

/// Damages `b` the ways a disk or a fuzzer would: bit flips, overwritten
/// bytes, extreme header fields, truncation, extension, spliced copies.
fn mutate(rng: &mut Rng, b: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(3) {
        if b.is_empty() {
            b.extend(rng.some_bytes(64));
            b.push(0);
        }
        let at = rng.below(b.len());
        match rng.below(8) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => b[at] = rng.next() as u8,
            2 => b.truncate(at),
            3 => {
                let extra = rng.some_bytes(200);
                b.extend(extra);
            }
            4 => {
                // An extreme u32 or u64 in a header field.
                let field = [0usize, 8, 18, 22, 26][rng.below(5)];
                let v: [u8; 8] = [0, u64::MAX, u64::MAX - 1, 1 << 63, u64::from(u32::MAX)]
                    [rng.below(5)]
                .to_le_bytes();
                let width = if field == 0 || field == 26 { 8 } else { 4 };
                if b.len() >= field + width {
                    b[field..field + width].copy_from_slice(&v[..width]);
                }
            }
            5 => {
                let len = rng.below(b.len() - at + 1);
                let copy = b[at..at + len].to_vec();
                let to = rng.below(b.len());
                b.splice(to..to, copy);
            }
            6 => b[at..].fill(0),
            _ => {
                // A varint that never ends, inside the records.
                let end = (at + 12).min(b.len());
                b[at..end].fill(0xff);
            }
        }
    }
}

#[test]
fn the_batch_decoder_takes_any_bytes() {
    let mut rng = Rng(0xBA7C_4DEC_0DE5_0001);
    for i in 0..20_000 {
        let mut b = match i % 4 {
            0 => {
                let mut b = rng.some_bytes(300);
                if b.len() > 12 {
                    b[12] = batch::MAGIC;
                }
                b
            }
            1 => vec![0u8; rng.below(300)],
            _ => known_batches(rng.next() >> 40, 1 + rng.next() % 6, rng.next()).0,
        };
        if i % 4 != 2 {
            mutate(&mut rng, &mut b);
        }
        batch_decoder(&b);
    }
}

#[test]
fn a_damaged_batch_never_passes_as_a_record() {
    // Up to 3 flipped bits in what the CRC covers are always caught.
    let mut rng = Rng(0xC4C3_2000_0000_0002);
    for _ in 0..5_000 {
        let (good, _) = known_batches(rng.next() % 1000, 1, rng.next());
        let mut bad = good.clone();
        for _ in 0..1 + rng.below(3) {
            let bit = 18 * 8 + rng.below((good.len() - 18) * 8);
            bad[bit / 8] ^= 1 << (bit % 8);
        }
        if bad == good {
            continue;
        }
        let ok = batch::parse_header(&bad)
            .is_some_and(|h| h.size == bad.len() && batch::crc_ok(&bad[..h.size]));
        assert!(!ok, "a damaged batch passed its CRC");
    }
}

#[test]
fn recovery_takes_any_segment() {
    let mut rng = Rng(0x5EC0_7E57_0000_0003);
    for i in 0..1500 {
        let mut data = rng.bytes(5);
        // Mostly no flips, so the exact-equality checks run.
        if i % 3 != 0 {
            data[3] &= !3;
        }
        let index = usize::from(data[3] / 4 % 8) * 8;
        data.extend(rng.bytes(index));
        let base = u64::from(data[1] % 40);
        // Flips: half of them aimed at the low bits of a sealed batch's base
        // offset, which the CRC does not cover.
        let (sealed, _) = known_batches(0, base, 1);
        let mut starts = vec![0usize];
        while let Some(h) = batch::parse_header(&sealed[*starts.last().unwrap()..]) {
            starts.push(starts.last().unwrap() + h.size);
        }
        starts.pop();
        for _ in 0..data[3] % 4 {
            let bit = if rng.below(2) == 0 || starts.is_empty() {
                rng.next() as u32
            } else {
                (starts[rng.below(starts.len())] * 8 + rng.below(4)) as u32
            };
            data.extend(bit.to_le_bytes());
        }
        let body = match i % 5 {
            0 => rng.some_bytes(400),
            1 => vec![0; rng.below(400)],
            2 | 3 => {
                // Valid batches at the right offsets, then damage.
                let (mut b, _) = known_batches(base, 1 + rng.next() % 8, rng.next());
                mutate(&mut rng, &mut b);
                b
            }
            _ => {
                // Valid batches at the wrong offsets.
                known_batches(base + 1 + rng.next() % 3, 3, 7).0
            }
        };
        data.extend(body);
        recovery_scan(&data);
    }
}

#[test]
fn a_flipped_base_offset_in_a_sealed_segment_is_never_read_as_other_records() {
    // The base offset is outside the CRC (as in Kafka): a reader must check
    // that each batch starts where the previous one ended.
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Durability::None, Duration::from_secs(1)).unwrap();
    let cfg = TopicConfig {
        partitions: 1,
        segment_bytes: 4096,
        max_message_bytes: 4096,
        // Old timestamps: kept, not expired by retention.
        retention_ms: -1,
        ..Default::default()
    };
    log.create_topic("t", &cfg).unwrap();
    let values: Vec<Vec<u8>> = (0..120u32)
        .map(|i| format!("value-{i}-{}", "p".repeat(40)).into_bytes())
        .collect();
    for chunk in values.chunks(4) {
        let recs: Vec<Placed> = chunk
            .iter()
            .map(|v| Placed {
                partition: Some(0),
                record: RecordIn {
                    key: None,
                    value: Some(v),
                    headers: &[],
                    timestamp: 0,
                },
            })
            .collect();
        log.append("t", &recs, 0).unwrap();
    }
    drop(log);
    let pdir = dir.path().join("topics/t/0");
    assert!(segment::list(&pdir).unwrap().len() > 1);
    let path = layout::segment_log(&pdir, 0);
    let original = std::fs::read(&path).unwrap();
    // The third batch (offsets 8..12) of the first, sealed segment.
    let mut at = 0;
    for _ in 0..2 {
        at += batch::parse_header(&original[at..]).unwrap().size;
    }
    for bit in 0..64 {
        let mut bytes = original.clone();
        bytes[at + bit / 8] ^= 1 << (bit % 8);
        std::fs::write(&path, &bytes).unwrap();
        let log = Log::open(dir.path(), Durability::None, Duration::from_secs(1)).unwrap();
        for start in [Position::Earliest, Position::Offset(9)] {
            let mut c = log.cursor("t", 0, start).unwrap();
            let mut got = Vec::new();
            let res = c.fetch(usize::MAX, &mut |r| {
                got.push((r.offset, r.value.unwrap().to_vec()));
                true
            });
            for (o, v) in &got {
                assert_eq!(
                    v, &values[*o as usize],
                    "bit {bit} of the base offset: offset {o} returned another record"
                );
            }
            match res {
                Err(e) => assert_eq!(e.code, Code::Corrupt),
                Ok(n) => assert_eq!(n, 120, "bit {bit}: everything read, nothing skipped"),
            }
        }
    }
}
