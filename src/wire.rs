//! The packed layout records cross the boundary in, one native call per
//! batch. `lib/wire.js` reads the same named offsets from `wireLayout()`.
//!
//! Append (JS → Rust): `data` holds each record's key, value, then headers as
//! (u32 name length, name, i32 value length or -1, value); `meta` holds
//! `APPEND_STRIDE` i32s per record; `timestamps` one f64 per record.
//! Fetch (Rust → JS): one Buffer. A header of `FETCH_HEADER` bytes (u32s:
//! record count, `meta`'s length in i32s, `FETCH_*` flags), then `nums`,
//! (offset, timestamp) as f64s per record; `meta`, `FETCH_STRIDE` i32s per
//! record; `data`, keys, values and headers (encoded as for append).

use caldo_core::options::{int, MAX_SAFE};
use caldo_core::{Code, Error, Header, Placed, RecordIn, RecordRef, Result};

use crate::v8_memory::{buffer, bytes_of};
use napi::bindgen_prelude::{Result as NapiResult, ToNapiValue, TypeName, ValueType};
use napi::sys;
use napi_derive::napi;

/// Per appended record in `meta`: partition or -1, key length or -1, value
/// length or -1, header count.
const A_PARTITION: usize = 0;
const A_KEY_LEN: usize = 1;
const A_VALUE_LEN: usize = 2;
const A_HEADERS: usize = 3;
const APPEND_STRIDE: usize = 4;

/// Per fetched record in `meta`: the slot (index into the consumer's
/// assignment), key start and length or -1, value start and length or -1,
/// headers start and count.
const F_SLOT: usize = 0;
const F_KEY: usize = 1;
const F_VALUE: usize = 3;
const F_HEADERS: usize = 5;
const FETCH_STRIDE: usize = 7;
/// A fetch's header: 4 u32s, so that `nums` after it is 8-byte aligned.
const FETCH_HEADER: usize = 16;
/// Flags in a fetch's header: positions moved past skipped records
/// (markers, aborted ones); some fell below the log start (`takeResets`).
const FETCH_SKIPPED: u32 = 1;
const FETCH_RESETS: u32 = 2;

#[napi(object)]
pub struct WireLayout {
    pub append_stride: u32,
    pub append_partition: u32,
    pub append_key_len: u32,
    pub append_value_len: u32,
    pub append_headers: u32,
    pub fetch_stride: u32,
    pub fetch_slot: u32,
    pub fetch_key: u32,
    pub fetch_value: u32,
    pub fetch_headers: u32,
    pub fetch_header: u32,
    pub fetch_skipped: u32,
    pub fetch_resets: u32,
    /// The largest record any topic takes: lengths must fit an i32 well before.
    pub max_record_bytes: u32,
}

/// The offsets above, for `lib/wire.js`.
#[napi]
pub fn wire_layout() -> WireLayout {
    let n = |v: usize| v as u32;
    WireLayout {
        append_stride: n(APPEND_STRIDE),
        append_partition: n(A_PARTITION),
        append_key_len: n(A_KEY_LEN),
        append_value_len: n(A_VALUE_LEN),
        append_headers: n(A_HEADERS),
        fetch_stride: n(FETCH_STRIDE),
        fetch_slot: n(F_SLOT),
        fetch_key: n(F_KEY),
        fetch_value: n(F_VALUE),
        fetch_headers: n(F_HEADERS),
        fetch_header: n(FETCH_HEADER),
        fetch_skipped: FETCH_SKIPPED,
        fetch_resets: FETCH_RESETS,
        max_record_bytes: caldo_core::MAX_MESSAGE_BYTES,
    }
}

fn short() -> Error {
    Error::new(Code::InvalidArg, "record batch is shorter than its lengths")
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(len).filter(|&e| e <= self.data.len());
        let b = &self.data[self.pos..end.ok_or_else(short)?];
        self.pos += len;
        Ok(b)
    }

    fn len(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    fn opt(&mut self, len: i32) -> Result<Option<&'a [u8]>> {
        match len {
            -1 => Ok(None),
            n if n >= 0 => self.take(n as usize).map(Some),
            _ => Err(Error::new(Code::InvalidArg, "negative length")),
        }
    }
}

/// Decodes an append batch. Headers are collected first so records can borrow them.
pub fn decode_append<'a>(
    data: &'a [u8],
    meta: &[i32],
    timestamps: &[f64],
    headers: &'a mut Vec<Header<'a>>,
) -> Result<Vec<Placed<'a>>> {
    if meta.len() != timestamps.len() * APPEND_STRIDE || timestamps.is_empty() {
        return Err(Error::new(
            Code::InvalidArg,
            "batch metadata does not match its records",
        ));
    }
    let mut r = Reader { data, pos: 0 };
    let mut parts = Vec::with_capacity(timestamps.len());
    for m in meta.chunks_exact(APPEND_STRIDE) {
        let key = r.opt(m[A_KEY_LEN])?;
        let value = r.opt(m[A_VALUE_LEN])?;
        let first = headers.len();
        for _ in 0..m[A_HEADERS].max(0) {
            let name_len = r.len()?;
            let key = r.opt(name_len)?.unwrap_or_default();
            let value_len = r.len()?;
            headers.push(Header {
                key,
                value: r.opt(value_len)?,
            });
        }
        parts.push((m[A_PARTITION], key, value, first..headers.len()));
    }
    if r.pos != data.len() {
        return Err(Error::new(
            Code::InvalidArg,
            "record batch is longer than its lengths",
        ));
    }
    let headers: &'a [Header<'a>] = headers;
    parts
        .into_iter()
        .zip(timestamps)
        .map(|((partition, key, value, hs), &ts)| {
            Ok(Placed {
                partition: u32::try_from(partition).ok(),
                record: RecordIn {
                    key,
                    value,
                    headers: &headers[hs],
                    timestamp: int("timestamp", ts, 0, MAX_SAFE)? as i64,
                },
            })
        })
        .collect()
}

/// A fetch, laid out as above, in one Buffer V8 accounts for.
pub struct Fetched {
    header: [u32; FETCH_HEADER / 4],
    writer: FetchWriter,
}

impl ToNapiValue for Fetched {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> NapiResult<sys::napi_value> {
        let w = &val.writer;
        let parts = [
            bytes_of(&val.header),
            bytes_of(&w.nums),
            bytes_of(&w.meta),
            &w.data,
        ];
        unsafe { buffer(env, &parts) }
    }
}

impl TypeName for Fetched {
    fn type_name() -> &'static str {
        "Buffer"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

#[napi(object)]
pub struct OffsetReset {
    pub topic: String,
    pub partition: u32,
    pub from: f64,
    pub to: f64,
}

#[derive(Default)]
pub struct FetchWriter {
    data: Vec<u8>,
    meta: Vec<i32>,
    nums: Vec<f64>,
}

/// How much a fetch wrote: the next one starts with that much room.
#[derive(Clone, Copy, Default)]
pub struct FetchSizes(usize, usize, usize);

impl FetchWriter {
    /// A writer with room for a fetch of `last`'s size, so that a steady
    /// stream of fetches neither grows (copying) nor over-allocates.
    pub fn like(last: FetchSizes) -> FetchWriter {
        FetchWriter {
            data: Vec::with_capacity(last.0),
            meta: Vec::with_capacity(last.1),
            nums: Vec::with_capacity(last.2),
        }
    }

    pub fn sizes(&self) -> FetchSizes {
        FetchSizes(self.data.len(), self.meta.len(), self.nums.len())
    }

    fn bytes(&mut self, b: Option<&[u8]>) {
        self.meta.push(self.data.len() as i32);
        match b {
            Some(b) => {
                self.meta.push(b.len() as i32);
                self.data.extend_from_slice(b);
            }
            None => self.meta.push(-1),
        }
    }

    /// Appends one record; returns the bytes it added.
    pub fn push(&mut self, slot: usize, r: &RecordRef) -> usize {
        let before = self.data.len();
        self.meta.push(slot as i32);
        self.bytes(r.key);
        self.bytes(r.value);
        self.meta.push(self.data.len() as i32);
        self.meta.push(r.header_count as i32);
        let data = &mut self.data;
        caldo_core::record_headers(r.headers, r.header_count, |h| {
            data.extend_from_slice(&(h.key.len() as u32).to_le_bytes());
            data.extend_from_slice(h.key);
            data.extend_from_slice(&h.value.map_or(-1, |v| v.len() as i32).to_le_bytes());
            data.extend_from_slice(h.value.unwrap_or_default());
        });
        self.nums.push(r.offset as f64);
        self.nums.push(r.timestamp as f64);
        self.data.len() - before
    }

    /// The records, with whether positions moved past skipped records and
    /// whether some were reset; `None` if none of these.
    pub fn finish(self, resets: bool, skipped: bool) -> Option<Fetched> {
        let flags = if skipped { FETCH_SKIPPED } else { 0 } | if resets { FETCH_RESETS } else { 0 };
        let count = self.nums.len() / 2;
        let header = [count as u32, self.meta.len() as u32, flags, 0];
        (count > 0 || flags != 0).then_some(Fetched {
            header,
            writer: self,
        })
    }
}
