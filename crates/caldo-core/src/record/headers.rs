//! Record headers: key/value pairs after a record's value, each a
//! varint-length key and a nullable varint-length value.

use crate::record::varint;

#[derive(Clone, Copy, Debug)]
pub struct Header<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

/// How many bytes [`encode`] writes for `headers`.
pub fn encoded_len(headers: &[Header]) -> usize {
    let each: usize = headers
        .iter()
        .map(|h| varint::len_bytes(Some(h.key)) + varint::len_bytes(h.value))
        .sum();
    varint::len_i64(headers.len() as i64) + each
}

/// Appends the header count and the headers.
pub fn encode(out: &mut Vec<u8>, headers: &[Header]) {
    varint::put_i64(out, headers.len() as i64);
    for h in headers {
        varint::put_bytes(out, Some(h.key));
        varint::put_bytes(out, h.value);
    }
}

/// Walks `count` encoded headers; `None` if malformed.
pub fn headers<'a>(mut buf: &'a [u8], count: u32, mut visit: impl FnMut(Header<'a>)) -> Option<()> {
    for _ in 0..count {
        let mut p = 0;
        let key = varint::get_bytes(buf, &mut p)??;
        let value = varint::get_bytes(buf, &mut p)?;
        visit(Header { key, value });
        buf = &buf[p..];
    }
    buf.is_empty().then_some(())
}
