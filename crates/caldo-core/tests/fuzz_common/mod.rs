//! Harnesses shared by `tests/fuzz_inputs.rs` (fixed seeds, runs in CI) and
//! the cargo-fuzz targets in `fuzz/` (which include this file by path), so
//! both exercise exactly the same code and assertions.
//!
//! - [`batch_decoder`]: arbitrary bytes into the batch decoder.
//! - [`recovery_scan`]: a partition built from the input (known records, a
//!   fuzzed last segment, a damaged index, flipped bits, a stale or damaged
//!   state), reopened and read back; checked against an independent walk of
//!   the same bytes.

#![allow(dead_code)]

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use caldo_core::internals::batch::{self, HEADER_LEN};
use caldo_core::internals::layout;
use caldo_core::internals::state::State;
use caldo_core::{
    record_headers, Code, Durability, Header, Log, Placed, Position, RecordIn, TopicConfig,
};

/// Checks one buffer as a batch, then walks it as a segment of batches.
pub fn batch_decoder(data: &[u8]) {
    check_batch(data);
    let mut pos = 0;
    while let Some(h) = batch::parse_header(&data[pos..]) {
        let Some(b) = data.get(pos..pos + h.size) else {
            break;
        };
        check_batch(b);
        pos += h.size;
    }
}

fn check_batch(data: &[u8]) {
    let crc = batch::crc_ok(data);
    let Some(h) = batch::parse_header(data) else {
        return;
    };
    assert!(h.size >= HEADER_LEN, "{h:?}");
    assert!(
        u64::from(h.count) <= u64::from(h.last_offset_delta) + 1,
        "{h:?}"
    );
    assert!(h.next_offset() > h.last_offset() && h.last_offset() >= h.base_offset);
    let Some(b) = data.get(..h.size) else {
        return;
    };
    if b.len() == data.len() {
        assert_eq!(crc, batch::crc_ok(b));
    }
    let range = b.as_ptr_range();
    let inside = |s: &[u8]| {
        let r = s.as_ptr_range();
        s.is_empty() || (range.start <= r.start && r.end <= range.end)
    };
    let mut n = 0u32;
    let ok = batch::decode(b, &h, |r| {
        n += 1;
        assert!(n <= h.count);
        assert!(r.offset >= h.base_offset && r.offset <= h.last_offset());
        assert!(r.key.is_none_or(inside) && r.value.is_none_or(inside) && inside(r.headers));
        let mut hs = 0;
        if record_headers(r.headers, r.header_count, |h| {
            assert!(inside(h.key) && h.value.is_none_or(inside));
            hs += 1;
        })
        .is_some()
        {
            assert_eq!(hs, r.header_count);
        }
        true
    });
    if ok.is_some() {
        assert_eq!(n, h.count, "a fully decoded batch holds `count` records");
    }
    // Stopping early is fine too.
    let _ = batch::decode(b, &h, |_| false);
}

/// A record of the reference model: (offset, key, value, headers).
pub type Rec = (
    u64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(Vec<u8>, Option<Vec<u8>>)>,
);

/// Batches holding `n` known records from `base` on, 1 to 3 per batch.
pub fn known_batches(base: u64, n: u64, salt: u64) -> (Vec<u8>, Vec<Rec>) {
    let mut out = Vec::new();
    let mut recs: Vec<Rec> = Vec::new();
    let mut o = base;
    while o < base + n {
        let k = (1 + (o + salt) % 3).min(base + n - o);
        let owned: Vec<Rec> = (o..o + k)
            .map(|o| {
                let key = (o % 2 == 0).then(|| format!("key-{o}").into_bytes());
                let pad = ((o * 37 + salt) % 90) as usize;
                let value =
                    (o % 7 != 3).then(|| format!("val-{o}-{}", "v".repeat(pad)).into_bytes());
                let headers = if o % 5 == 0 {
                    vec![
                        (b"h".to_vec(), Some(format!("{o}").into_bytes())),
                        (b"n".to_vec(), None),
                    ]
                } else {
                    Vec::new()
                };
                (o, key, value, headers)
            })
            .collect();
        let hs: Vec<Vec<Header>> = owned
            .iter()
            .map(|r| {
                r.3.iter()
                    .map(|(k, v)| Header {
                        key: k,
                        value: v.as_deref(),
                    })
                    .collect()
            })
            .collect();
        let ins: Vec<RecordIn> = owned
            .iter()
            .zip(&hs)
            .map(|(r, hs)| RecordIn {
                key: r.1.as_deref(),
                value: r.2.as_deref(),
                headers: hs,
                timestamp: 1_000 + r.0 as i64,
            })
            .collect();
        batch::encode(&mut out, o, &ins, &batch::Stamp::NONE);
        recs.extend(owned);
        o += k;
    }
    (out, recs)
}

fn owned(r: &batch::RecordRef) -> Rec {
    let mut hs = Vec::new();
    record_headers(r.headers, r.header_count, |h| {
        hs.push((h.key.to_vec(), h.value.map(<[u8]>::to_vec)))
    })
    .expect("headers of a returned record decode");
    (
        r.offset,
        r.key.map(<[u8]>::to_vec),
        r.value.map(<[u8]>::to_vec),
        hs,
    )
}

/// The reference walk of a last segment, written independently of the
/// engine's recovery: batches are taken from position 0 while each parses,
/// fits, starts at the expected offset, stays within `limit` and passes its
/// CRC. Returns (records readable before any malformed batch, whether a
/// malformed batch stops reading, next offset).
pub fn reference_walk(seg: &[u8], base: u64, limit: Option<u64>) -> (Vec<Rec>, bool, u64) {
    let (mut pos, mut next) = (0usize, base);
    let mut recs = Vec::new();
    let mut malformed = false;
    while let Some(h) = batch::parse_header(&seg[pos..]) {
        let Some(b) = seg.get(pos..pos + h.size) else {
            break;
        };
        if h.base_offset != next || limit.is_some_and(|l| h.next_offset() > l) || !batch::crc_ok(b)
        {
            break;
        }
        if !malformed {
            let mut got = Vec::new();
            if batch::decode(b, &h, |r| {
                got.push(owned(&r));
                true
            })
            .is_none()
            {
                malformed = true;
            }
            recs.extend(got);
        }
        pos += h.size;
        next = h.next_offset();
    }
    (recs, malformed, next)
}

/// Reads a partition from `at` to its end: the records, and the error that
/// stopped reading, if any.
fn read(log: &Log, at: Position) -> (Vec<Rec>, Option<Code>) {
    let mut c = log.cursor("t", 0, at).expect("cursor");
    let mut recs = Vec::new();
    loop {
        match c.fetch(1000, &mut |r| {
            recs.push(owned(r));
            true
        }) {
            Ok(0) => return (recs, None),
            Ok(_) => {}
            Err(e) => {
                assert!(
                    e.message.contains("topic 't' partition 0"),
                    "errors name the partition: {e}"
                );
                return (recs, Some(e.code));
            }
        }
    }
}

/// Builds a partition from `data`, reopens it and checks what it reads:
///
/// - `data[0]`: state: 0 = this boot with a crashed append in flight (trusted
///   end), 1 = from another boot, 2 = zeros (never reached the disk);
/// - `data[1]`: how many known records a sealed first segment holds (0: none);
/// - `data[2]`: the last segment: 0 = the input bytes as they are, 1 = known
///   batches then the input as a torn tail, 2 = known batches XOR the input,
///   3 = known batches with the input written over them at some position;
/// - `data[3]`: bits to flip in the sealed segment (corruption, not a crash:
///   then only "nothing wrong is returned" is checked) and the length of a
///   garbage index for it, taken from the input;
/// - `data[4]`: the trusted end, in state 0, past the sealed segment.
pub fn recovery_scan(data: &[u8]) {
    if data.len() < 5 {
        return;
    }
    let state_mode = data[0] % 3;
    let sealed = u64::from(data[1] % 40);
    let layout = data[2] % 4;
    let flips = usize::from(data[3] % 4);
    let index_len = usize::from(data[3] / 4 % 8) * 8;
    let published = sealed + u64::from(data[4] % 64);
    let rest = &data[5..];
    let (index_garbage, rest) = rest.split_at(index_len.min(rest.len()));
    let (flip_bytes, body) = rest.split_at((flips * 4).min(rest.len()));

    let dir = tempfile::tempdir().unwrap();
    let pdir = dir.path().join("topics/t/0");
    {
        let log = Log::open(dir.path(), Durability::None, Duration::from_secs(1)).unwrap();
        let cfg = TopicConfig {
            partitions: 1,
            segment_bytes: 1 << 20,
            max_message_bytes: 1 << 20,
            // Old timestamps: kept, not expired by retention.
            retention_ms: -1,
            ..Default::default()
        };
        log.create_topic("t", &cfg).unwrap();
    }
    let base = sealed;
    let (mut sealed_bytes, sealed_recs) = known_batches(0, sealed, 1);
    if sealed > 0 {
        // Flip bits (at most 3, so CRC32 catches any that land in its range).
        for f in flip_bytes.chunks_exact(4) {
            let bit = u32::from_le_bytes(f.try_into().unwrap()) as usize % (sealed_bytes.len() * 8);
            sealed_bytes[bit / 8] ^= 1 << (bit % 8);
        }
        std::fs::write(layout::segment_log(&pdir, 0), &sealed_bytes).unwrap();
        std::fs::write(layout::segment_index(&pdir, 0), index_garbage).unwrap();
        std::fs::write(layout::segment_index(&pdir, base), b"").unwrap();
    }
    let flipped = sealed > 0 && flip_bytes.len() >= 4;
    let (known, _) = known_batches(
        base,
        1 + u64::from(body.first().copied().unwrap_or(0) % 12),
        2,
    );
    let seg: Vec<u8> = match layout {
        0 => body.to_vec(),
        1 => [&known[..], body].concat(),
        2 => known
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ body.get(i).copied().unwrap_or(0))
            .collect(),
        _ => {
            let mut s = known.clone();
            let at = body
                .first()
                .map_or(0, |&b| usize::from(b) * 7 % (s.len() + 1));
            let end = (at + body.len()).min(s.len());
            s[at..end].copy_from_slice(&body[..end - at]);
            if at + body.len() > s.len() {
                s.extend_from_slice(&body[end - at..]);
            }
            s
        }
    };
    std::fs::write(layout::segment_log(&pdir, base), &seg).unwrap();

    let state_path = pdir.join("state");
    let trusted = state_mode == 0;
    match state_mode {
        0 => {
            let st = State::open(&state_path).unwrap();
            st.reset(0, base, 0, published);
            st.begin(); // a writer died mid-append
        }
        1 => {
            State::open(&state_path)
                .unwrap()
                .reset(0, base, 0, published);
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&state_path)
                .unwrap();
            f.write_all_at(&[0x5A; 16], 56).unwrap(); // another boot's id
        }
        _ => std::fs::write(&state_path, [0u8; 4096]).unwrap(),
    }

    // What must come back: the sealed records, then the reference walk.
    let (walked, malformed, walk_next) = reference_walk(&seg, base, trusted.then_some(published));
    let mut expected = sealed_recs.clone();
    let mut expected_high = walk_next;
    if !trusted && walk_next == base && sealed > 0 {
        // Nothing valid in the last segment: recovery falls back to the sealed one.
        let (r, m, n) = reference_walk(&sealed_bytes, 0, None);
        assert!(!m);
        expected = r;
        expected_high = n;
    } else {
        expected.extend(walked);
    }
    let by_offset: HashMap<u64, Rec> = sealed_recs
        .iter()
        .chain(&expected)
        .map(|r| (r.0, r.clone()))
        .collect();

    let log = Log::open(dir.path(), Durability::None, Duration::from_secs(1)).unwrap();
    let info = log.topics(false).expect("topics after recovery");
    let high = info[0].partitions[0].high;
    assert_eq!(info[0].partitions[0].low, 0);
    let (got, err) = read(&log, Position::Earliest);
    if flipped {
        // Corruption inside a sealed segment: whatever is returned is right,
        // in order, and reading stops with ERR_CORRUPT, never with garbage.
        check_subset(&got, &by_offset, high);
        assert!(err.is_none_or(|c| c == Code::Corrupt), "{err:?}");
    } else {
        assert_eq!(high, expected_high, "high watermark after recovery");
        let want = &expected[..];
        assert_eq!(got.len(), want.len(), "records read after recovery");
        assert!(
            got == want,
            "records read after recovery differ from the reference walk"
        );
        assert_eq!(err, malformed.then_some(Code::Corrupt));
        // Reads from any offset go through the (garbage) sealed index.
        let dense = want.iter().enumerate().all(|(i, r)| r.0 == i as u64);
        for start in [
            1,
            sealed / 2,
            sealed.saturating_sub(1),
            base,
            high.saturating_sub(1),
        ] {
            if start >= high || malformed || !dense {
                continue;
            }
            let (tail, err) = read(&log, Position::Offset(start));
            assert_eq!(err, None);
            assert!(tail[..] == want[start as usize..], "reading from {start}");
        }
    }
    // Appends go on at the high watermark and read back.
    let out = log
        .append(
            "t",
            &[Placed {
                partition: Some(0),
                record: RecordIn {
                    key: None,
                    value: Some(b"after"),
                    headers: &[],
                    timestamp: 0,
                },
            }],
            0,
        )
        .expect("append after recovery");
    assert_eq!(out, vec![(0, high)]);
    let (tail, err) = read(&log, Position::Offset(high));
    assert_eq!(err, None);
    assert_eq!(tail.len(), 1);
    assert_eq!(
        (tail[0].0, tail[0].2.as_deref()),
        (high, Some(&b"after"[..]))
    );
}

fn check_subset(got: &[Rec], by_offset: &HashMap<u64, Rec>, high: u64) {
    let mut last = None;
    for r in got {
        assert!(r.0 < high, "record {} past the high watermark {high}", r.0);
        assert!(
            last.is_none_or(|l| r.0 > l),
            "offsets go up: {last:?} then {}",
            r.0
        );
        last = Some(r.0);
        assert!(
            by_offset.get(&r.0) == Some(r),
            "offset {} returned a record that was never written there",
            r.0
        );
    }
}
