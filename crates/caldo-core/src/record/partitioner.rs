//! Kafka's Java default partitioner: murmur2 of the key bytes.

/// Kafka's `Utils.murmur2` (seed 0x9747b28c), returned as the Java `int`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h = SEED ^ (len as u32);
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    // Java sign-extends bytes before masking; `& 0xff` makes that irrelevant.
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's Java producer picks for a keyed record.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    ((murmur2(key) & 0x7fff_ffff) as u32) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_kafka_vectors() {
        assert_eq!(murmur2(b"0"), 971027396);
        assert_eq!(murmur2(b"1"), -1993445489);
        assert_eq!(murmur2(b"128"), -326012175);
        assert_eq!(murmur2(b"100:48069"), 1009543857);
    }

    #[test]
    fn key_placement_is_stable_and_in_range() {
        assert_eq!(partition_for_key(b"0", 4), 971027396 % 4);
        // -1993445489 & 0x7fffffff = 154038159
        assert_eq!(partition_for_key(b"1", 10), 154038159 % 10);
        for n in 1..20 {
            assert!(partition_for_key(b"some key", n) < n);
        }
    }
}
