//! Zigzag varints, and byte strings prefixed by one, as in Kafka's record format.

/// How many bytes [`put_i64`] writes for `v`.
pub fn len_i64(v: i64) -> usize {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    (64 - (z | 1).leading_zeros() as usize).div_ceil(7)
}

/// How many bytes [`put_bytes`] writes for `b`.
pub fn len_bytes(b: Option<&[u8]>) -> usize {
    b.map_or(1, |b| len_i64(b.len() as i64) + b.len())
}

pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Decodes one varint at `*pos`, advancing it; `None` if truncated or over 10 bytes.
pub fn get_i64(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let mut z: u64 = 0;
    for shift in (0..70).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        z |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
    }
    None
}

/// Appends a byte string as its varint length and bytes; `None` as length -1.
pub fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            put_i64(out, b.len() as i64);
            out.extend_from_slice(b);
        }
        None => put_i64(out, -1),
    }
}

/// Reads a byte string written by [`put_bytes`] at `*pos`, advancing it;
/// `None` if malformed.
pub fn get_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Option<Option<&'a [u8]>> {
    let len = get_i64(buf, pos)?;
    if len == -1 {
        return Some(None);
    }
    let len = usize::try_from(len).ok()?;
    let b = buf.get(*pos..pos.checked_add(len)?)?;
    *pos += len;
    Some(Some(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_sizes() {
        for v in [
            0,
            1,
            -1,
            63,
            -64,
            64,
            300,
            -300,
            i32::MAX as i64,
            i64::MAX,
            i64::MIN,
        ] {
            let mut out = Vec::new();
            put_i64(&mut out, v);
            assert_eq!(out.len(), len_i64(v), "size of {v}");
            assert_eq!(len_bytes(Some(&out)), 1 + out.len());
            let mut pos = 0;
            assert_eq!(get_i64(&out, &mut pos), Some(v));
            assert_eq!(pos, out.len());
        }
    }

    #[test]
    fn known_encodings() {
        let enc = |v| {
            let mut o = Vec::new();
            put_i64(&mut o, v);
            o
        };
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(-1), [1]);
        assert_eq!(enc(1), [2]);
        assert_eq!(enc(64), [0x80, 0x01]);
    }

    #[test]
    fn rejects_truncated_and_overlong() {
        let mut pos = 0;
        assert_eq!(get_i64(&[0x80], &mut pos), None);
        let mut pos = 0;
        assert_eq!(get_i64(&[0xff; 11], &mut pos), None);
    }
}
