//! Record batches: Kafka's RecordBatch v2 layout, little-endian, with caldo's magic.
//!
//! ```text
//! 0  base offset u64    8  length u32 (bytes after this field)
//! 12 magic u8           13 attributes u8      14 crc u32 (over bytes 18..)
//! 18 count u32          22 last offset delta u32
//! 26 first timestamp i64  34 max timestamp i64
//! 42 producer id i64    50 epoch i16          52 base sequence i32
//! 56 records: varint length, attributes, timestamp delta, offset delta,
//!    key, value, headers (all lengths zigzag varints, -1 = null)
//! ```
//!
//! Attributes are Kafka's: 0x10 transactional, 0x20 control. A batch of an
//! idempotent producer carries its producer id, epoch and the sequence of its
//! first record; otherwise they are -1.

use crate::record::headers::{self, Header};
use crate::record::varint;

pub const MAGIC: u8 = 0xCA;
pub const HEADER_LEN: usize = 56;
/// Bytes before the length field's coverage starts.
pub const PREFIX_LEN: usize = 12;
const CRC_START: usize = 18;

/// A record to append.
#[derive(Clone, Copy, Debug)]
pub struct RecordIn<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [Header<'a>],
    pub timestamp: i64,
}

impl RecordIn<'_> {
    /// What counts against `maxMessageBytes`: key, value and headers.
    pub fn size(&self) -> usize {
        let h: usize = self
            .headers
            .iter()
            .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len))
            .sum();
        self.key.map_or(0, <[u8]>::len) + self.value.map_or(0, <[u8]>::len) + h
    }
}

/// Kafka's batch attribute bits.
pub const TRANSACTIONAL: u8 = 0x10;
pub const CONTROL: u8 = 0x20;

/// Who wrote a batch: Kafka's producer fields and attribute bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub producer_id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
    pub attributes: u8,
}

impl Stamp {
    /// A batch of no producer: ids -1, no attributes.
    pub const NONE: Stamp = Stamp {
        producer_id: -1,
        epoch: -1,
        base_sequence: -1,
        attributes: 0,
    };
}

/// Appends one batch holding `records` (at least one) at `base_offset`.
pub fn encode(out: &mut Vec<u8>, base_offset: u64, records: &[RecordIn], stamp: &Stamp) {
    debug_assert!(!records.is_empty());
    let start = out.len();
    let first_ts = records[0].timestamp;
    let max_ts = records
        .iter()
        .map(|r| r.timestamp)
        .max()
        .unwrap_or(first_ts);
    let mut producer = [0u8; HEADER_LEN - 42];
    producer[..8].copy_from_slice(&stamp.producer_id.to_le_bytes());
    producer[8..10].copy_from_slice(&stamp.epoch.to_le_bytes());
    producer[10..].copy_from_slice(&stamp.base_sequence.to_le_bytes());
    let n = records.len() as u32;
    // Never compressed: the attributes are the stamp's.
    let times = (first_ts, max_ts);
    put_header(
        out,
        base_offset,
        stamp.attributes,
        (n, n - 1),
        times,
        &producer,
    );
    for (delta, r) in records.iter().enumerate() {
        let fields = (
            r.timestamp.wrapping_sub(first_ts),
            delta as i64,
            r.key,
            r.value,
        );
        put_record(out, fields, headers::encoded_len(r.headers), |o| {
            headers::encode(o, r.headers)
        });
    }
    seal(&mut out[start..]);
}

/// Writes a batch header (count and last offset delta in `counts`, first
/// and max timestamp in `times`) whose length and CRC [`seal`] fills in.
fn put_header(
    out: &mut Vec<u8>,
    base: u64,
    attributes: u8,
    counts: (u32, u32),
    times: (i64, i64),
    producer: &[u8],
) {
    out.extend_from_slice(&base.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // length
    out.push(MAGIC);
    out.push(attributes);
    out.extend_from_slice(&[0; 4]); // crc
    out.extend_from_slice(&counts.0.to_le_bytes());
    out.extend_from_slice(&counts.1.to_le_bytes());
    out.extend_from_slice(&times.0.to_le_bytes());
    out.extend_from_slice(&times.1.to_le_bytes());
    out.extend_from_slice(producer);
}

/// Appends one record: its length, then (timestamp delta, offset delta, key,
/// value) in `fields` and the headers `put_headers` writes (`headers_len`
/// bytes). The length is worked out first, so the value is copied once.
fn put_record(
    out: &mut Vec<u8>,
    fields: (i64, i64, Option<&[u8]>, Option<&[u8]>),
    headers_len: usize,
    put_headers: impl FnOnce(&mut Vec<u8>),
) {
    let (ts_delta, offset_delta, key, value) = fields;
    let len = 1
        + varint::len_i64(ts_delta)
        + varint::len_i64(offset_delta)
        + varint::len_bytes(key)
        + varint::len_bytes(value)
        + headers_len;
    varint::put_i64(out, len as i64);
    let start = out.len();
    out.reserve(len);
    out.push(0); // record attributes
    varint::put_i64(out, ts_delta);
    varint::put_i64(out, offset_delta);
    varint::put_bytes(out, key);
    varint::put_bytes(out, value);
    put_headers(out);
    debug_assert_eq!(out.len() - start, len);
}

/// Fills in the length and CRC of the whole batch in `batch`.
fn seal(batch: &mut [u8]) {
    let len = (batch.len() - PREFIX_LEN) as u32;
    batch[8..12].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&batch[CRC_START..]);
    batch[14..18].copy_from_slice(&crc.to_le_bytes());
}

/// Re-encodes the records of a batch that compaction keeps, as one batch at
/// `base` ending at offset `last`, with `template`'s attributes and producer
/// fields. Offsets keep their numbers (gaps in between); `max_timestamp` also
/// covers records removed, so a segment's time stays what retention saw.
pub fn encode_kept(
    out: &mut Vec<u8>,
    template: &[u8],
    base: u64,
    last: u64,
    max_timestamp: i64,
    records: &[RecordRef],
) {
    let start = out.len();
    let first_ts = records.first().map_or(max_timestamp, |r| r.timestamp);
    let counts = (records.len() as u32, (last - base) as u32);
    let times = (first_ts, max_timestamp);
    put_header(
        out,
        base,
        template[13],
        counts,
        times,
        &template[42..HEADER_LEN],
    );
    for r in records {
        let fields = (
            r.timestamp.wrapping_sub(first_ts),
            (r.offset - base) as i64,
            r.key,
            r.value,
        );
        let count = i64::from(r.header_count);
        let headers_len = varint::len_i64(count) + r.headers.len();
        put_record(out, fields, headers_len, |o| {
            varint::put_i64(o, count);
            o.extend_from_slice(r.headers);
        });
    }
    seal(&mut out[start..]);
}

/// Moves the batch in `batch` to start at offset `base`; its CRC does not cover that.
pub fn set_base_offset(batch: &mut [u8], base: u64) {
    batch[..8].copy_from_slice(&base.to_le_bytes());
}

/// Makes the whole batch in `batch` end at offset `last` with largest
/// timestamp `max_timestamp`, and seals it with a new CRC.
pub fn stretch(batch: &mut [u8], last: u64, max_timestamp: i64) {
    let base = u64_at(batch, 0);
    batch[22..26].copy_from_slice(&((last - base) as u32).to_le_bytes());
    batch[34..42].copy_from_slice(&max_timestamp.to_le_bytes());
    seal(batch);
}

/// The fixed part of a batch, read before its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: u64,
    /// Whole batch size in bytes, prefix included.
    pub size: usize,
    pub count: u32,
    pub last_offset_delta: u32,
    pub first_timestamp: i64,
    pub max_timestamp: i64,
    pub stamp: Stamp,
}

impl BatchHeader {
    pub fn transactional(&self) -> bool {
        self.stamp.attributes & TRANSACTIONAL != 0
    }
    pub fn control(&self) -> bool {
        self.stamp.attributes & CONTROL != 0
    }
    pub fn last_offset(&self) -> u64 {
        self.base_offset + u64::from(self.last_offset_delta)
    }
    pub fn next_offset(&self) -> u64 {
        self.last_offset() + 1
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Parses the fixed header; `None` unless it is plausibly a batch of ours.
/// Zero-filled bytes fail here (magic and count).
pub fn parse_header(buf: &[u8]) -> Option<BatchHeader> {
    if buf.len() < HEADER_LEN || buf[12] != MAGIC {
        return None;
    }
    let len = u32_at(buf, 8) as usize;
    let count = u32_at(buf, 18);
    let last_offset_delta = u32_at(buf, 22);
    let base_offset = u64_at(buf, 0);
    // Compaction leaves batches with fewer records than offsets, even none;
    // zero-filled bytes still fail on the magic.
    if len < HEADER_LEN - PREFIX_LEN
        || u64::from(count) > u64::from(last_offset_delta) + 1
        // So that `next_offset` cannot overflow on a damaged base offset.
        || base_offset
            .checked_add(u64::from(last_offset_delta) + 1)
            .is_none()
    {
        return None;
    }
    Some(BatchHeader {
        base_offset,
        size: len + PREFIX_LEN,
        count,
        last_offset_delta,
        first_timestamp: u64_at(buf, 26) as i64,
        max_timestamp: u64_at(buf, 34) as i64,
        stamp: Stamp {
            producer_id: u64_at(buf, 42) as i64,
            epoch: i16::from_le_bytes([buf[50], buf[51]]),
            base_sequence: u32_at(buf, 52) as i32,
            attributes: buf[13],
        },
    })
}

/// True when `batch` (exactly one whole batch) carries a matching CRC.
pub fn crc_ok(batch: &[u8]) -> bool {
    batch.len() >= HEADER_LEN && crc32fast::hash(&batch[CRC_START..]) == u32_at(batch, 14)
}

/// One decoded record, borrowing from the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub offset: u64,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub header_count: u32,
    /// Encoded headers; walk them with [`headers::headers`].
    pub headers: &'a [u8],
    /// Its batch's producer and attributes.
    pub stamp: Stamp,
}

/// Where decoding a batch's records stands: the next record's byte
/// position, and how many records came before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resume {
    pos: usize,
    index: u32,
}

impl Resume {
    pub const START: Resume = Resume {
        pos: HEADER_LEN,
        index: 0,
    };
}

/// Decodes the records of a CRC-checked batch until `visit` returns false;
/// `None` if the body is malformed.
pub fn decode<'a>(
    batch: &'a [u8],
    h: &BatchHeader,
    visit: impl FnMut(RecordRef<'a>) -> bool,
) -> Option<()> {
    decode_from(batch, h, Resume::START, visit).map(|_| ())
}

/// [`decode`] from `from` (where an earlier call stopped); returns where
/// this one stopped: after the last record it visited.
pub fn decode_from<'a>(
    batch: &'a [u8],
    h: &BatchHeader,
    from: Resume,
    mut visit: impl FnMut(RecordRef<'a>) -> bool,
) -> Option<Resume> {
    let mut pos = from.pos;
    for index in from.index..h.count {
        let len = usize::try_from(varint::get_i64(batch, &mut pos)?).ok()?;
        let end = pos.checked_add(len)?;
        let rec = batch.get(..end)?;
        let mut p = pos + 1; // record attributes
        let ts_delta = varint::get_i64(rec, &mut p)?;
        let off_delta = u64::try_from(varint::get_i64(rec, &mut p)?).ok()?;
        let key = varint::get_bytes(rec, &mut p)?;
        let value = varint::get_bytes(rec, &mut p)?;
        let header_count = u32::try_from(varint::get_i64(rec, &mut p)?).ok()?;
        let headers = rec.get(p..end)?;
        if off_delta > u64::from(h.last_offset_delta) {
            return None;
        }
        let more = visit(RecordRef {
            offset: h.base_offset + off_delta,
            timestamp: h.first_timestamp.wrapping_add(ts_delta),
            key,
            value,
            header_count,
            headers,
            stamp: h.stamp,
        });
        pos = end;
        if !more {
            return Some(Resume {
                pos,
                index: index + 1,
            });
        }
    }
    (pos == batch.len()).then_some(Resume {
        pos,
        index: h.count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec<'a>(
        key: Option<&'a [u8]>,
        value: Option<&'a [u8]>,
        headers: &'a [Header<'a>],
        ts: i64,
    ) -> RecordIn<'a> {
        RecordIn {
            key,
            value,
            headers,
            timestamp: ts,
        }
    }

    #[test]
    fn encodes_and_decodes() {
        let hs = [
            Header {
                key: b"h1",
                value: Some(b"v1"),
            },
            Header {
                key: b"h2",
                value: None,
            },
        ];
        let records = [
            rec(Some(b"k"), Some(b"hello"), &hs, 1000),
            rec(None, None, &[], 990),
            rec(Some(b""), Some(&[7; 300]), &[], 2000),
        ];
        let mut buf = Vec::new();
        encode(&mut buf, 42, &records, &Stamp::NONE);
        let h = parse_header(&buf).unwrap();
        assert_eq!(h.size, buf.len());
        assert_eq!((h.base_offset, h.count, h.last_offset()), (42, 3, 44));
        assert_eq!((h.first_timestamp, h.max_timestamp), (1000, 2000));
        assert_eq!(h.stamp, Stamp::NONE);
        assert!(crc_ok(&buf));
        let mut out = Vec::new();
        decode(&buf, &h, |r| {
            out.push(r);
            true
        })
        .unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].offset, 42);
        assert_eq!(out[0].key, Some(&b"k"[..]));
        assert_eq!(out[0].value, Some(&b"hello"[..]));
        assert_eq!(out[1].timestamp, 990);
        assert_eq!((out[1].key, out[1].value), (None, None));
        assert_eq!(out[2].offset, 44);
        assert_eq!(out[2].value.unwrap().len(), 300);
        let mut seen = Vec::new();
        headers::headers(out[0].headers, out[0].header_count, |h| {
            seen.push((h.key.to_vec(), h.value.map(<[u8]>::to_vec)))
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                (b"h1".to_vec(), Some(b"v1".to_vec())),
                (b"h2".to_vec(), None)
            ]
        );
    }

    #[test]
    fn producer_fields_sit_where_kafka_puts_them() {
        let stamp = Stamp {
            producer_id: 0x0102_0304_0506_0708,
            epoch: 7,
            base_sequence: 42,
            attributes: TRANSACTIONAL,
        };
        let mut buf = Vec::new();
        encode(&mut buf, 0, &[rec(None, Some(b"v"), &[], 1)], &stamp);
        assert_eq!(buf[13], 0x10);
        assert_eq!(buf[42..50], 0x0102_0304_0506_0708i64.to_le_bytes());
        assert_eq!(buf[50..52], 7i16.to_le_bytes());
        assert_eq!(buf[52..56], 42i32.to_le_bytes());
        let h = parse_header(&buf).unwrap();
        assert_eq!(h.stamp, stamp);
        assert!(h.transactional() && !h.control());
    }

    #[test]
    fn any_flipped_bit_fails_the_crc() {
        let mut buf = Vec::new();
        encode(
            &mut buf,
            0,
            &[rec(Some(b"key"), Some(b"value"), &[], 1)],
            &Stamp::NONE,
        );
        for i in CRC_START * 8..buf.len() * 8 {
            let mut bad = buf.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(!crc_ok(&bad), "bit {i}");
        }
    }

    #[test]
    fn zeros_and_garbage_are_not_batches() {
        assert_eq!(parse_header(&[0; 256]), None);
        assert_eq!(parse_header(&[0xff; 256]), None);
        assert!(!crc_ok(&[0; 256]));
    }

    #[test]
    fn a_base_offset_that_would_overflow_is_not_a_batch() {
        let mut buf = Vec::new();
        let one = [rec(None, Some(b"a"), &[], 0)];
        encode(&mut buf, u64::MAX - 1, &one, &Stamp::NONE);
        assert_eq!(parse_header(&buf).unwrap().next_offset(), u64::MAX);
        buf.clear();
        let two = [rec(None, Some(b"a"), &[], 0), rec(None, Some(b"b"), &[], 0)];
        encode(&mut buf, u64::MAX - 1, &two, &Stamp::NONE);
        assert_eq!(parse_header(&buf), None);
    }

    #[test]
    fn kept_records_keep_their_offsets_and_the_batch_its_range() {
        let records = [
            rec(Some(b"a"), Some(b"1"), &[], 10),
            rec(Some(b"b"), Some(b"2"), &[], 12),
            rec(Some(b"c"), None, &[], 11),
        ];
        let mut buf = Vec::new();
        encode(&mut buf, 100, &records, &Stamp::NONE);
        let h = parse_header(&buf).unwrap();
        let mut all = Vec::new();
        decode(&buf, &h, |r| {
            all.push(r);
            true
        })
        .unwrap();
        // Keep b and c, absorbing the offsets 90..100 before the batch.
        let mut out = Vec::new();
        encode_kept(&mut out, &buf, 90, h.last_offset(), 15, &all[1..]);
        let k = parse_header(&out).unwrap();
        assert!(crc_ok(&out));
        assert_eq!((k.base_offset, k.count, k.next_offset()), (90, 2, 103));
        assert_eq!(k.max_timestamp, 15);
        let mut kept = Vec::new();
        decode(&out, &k, |r| {
            kept.push((r.offset, r.key, r.value, r.timestamp));
            true
        })
        .unwrap();
        assert_eq!(
            kept,
            [
                (101, Some(&b"b"[..]), Some(&b"2"[..]), 12),
                (102, Some(&b"c"[..]), None, 11)
            ]
        );
        stretch(&mut out, 120, 99);
        let k = parse_header(&out).unwrap();
        assert!(crc_ok(&out));
        assert_eq!((k.next_offset(), k.max_timestamp), (121, 99));
        // An empty batch holds a range of offsets and no record.
        let mut empty = Vec::new();
        encode_kept(&mut empty, &buf, 7, 9, 5, &[]);
        let e = parse_header(&empty).unwrap();
        assert_eq!((e.count, e.next_offset()), (0, 10));
        decode(&empty, &e, |_| panic!("no record")).unwrap();
    }

    #[test]
    fn record_size_counts_key_value_and_headers() {
        let hs = [Header {
            key: b"ab",
            value: Some(b"cde"),
        }];
        assert_eq!(rec(Some(b"k"), Some(b"vv"), &hs, 0).size(), 8);
        assert_eq!(rec(None, None, &[], 0).size(), 0);
    }
}
