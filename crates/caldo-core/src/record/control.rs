//! Control records: Kafka's transaction markers, byte for byte. A marker is
//! the one record of a control batch (attributes control + transactional):
//! key = version int16 + type int16 (0 abort, 1 commit), value = version
//! int16 + coordinator epoch int32, big-endian as Kafka writes them.

use crate::record::batch::{self, RecordIn, Stamp, CONTROL, TRANSACTIONAL};

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 0;
pub const ABORT: i16 = 0;
pub const COMMIT: i16 = 1;

/// The end of a transaction, as written to each partition it touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marker {
    pub commit: bool,
    pub coordinator_epoch: i32,
}

impl Marker {
    pub fn key(self) -> [u8; 4] {
        let kind = if self.commit { COMMIT } else { ABORT };
        let mut k = [0u8; 4];
        k[..2].copy_from_slice(&KEY_VERSION.to_be_bytes());
        k[2..].copy_from_slice(&kind.to_be_bytes());
        k
    }

    pub fn value(self) -> [u8; 6] {
        let mut v = [0u8; 6];
        v[..2].copy_from_slice(&VALUE_VERSION.to_be_bytes());
        v[2..].copy_from_slice(&self.coordinator_epoch.to_be_bytes());
        v
    }

    /// A control record's key and value, as Kafka's `ControlRecordType.parse`
    /// and `EndTransactionMarker.deserializeValue` read them (newer versions
    /// parse as version 0); `None` for anything but a valid commit or abort.
    pub fn parse(key: &[u8], value: &[u8]) -> Option<Marker> {
        let i16_at = |b: &[u8], at: usize| i16::from_be_bytes([b[at], b[at + 1]]);
        if key.len() < 4 || i16_at(key, 0) < 0 || value.len() < 6 || i16_at(value, 0) < 0 {
            return None;
        }
        let commit = match i16_at(key, 2) {
            ABORT => false,
            COMMIT => true,
            _ => return None,
        };
        let coordinator_epoch = i32::from_be_bytes(value[2..6].try_into().unwrap());
        Some(Marker {
            commit,
            coordinator_epoch,
        })
    }

    /// Appends the control batch holding this marker for producer `pid` at `epoch`.
    pub fn encode(self, out: &mut Vec<u8>, offset: u64, pid: i64, epoch: i16, timestamp: i64) {
        let (key, value) = (self.key(), self.value());
        let record = RecordIn {
            key: Some(&key),
            value: Some(&value),
            headers: &[],
            timestamp,
        };
        let stamp = Stamp {
            producer_id: pid,
            epoch,
            base_sequence: -1,
            attributes: CONTROL | TRANSACTIONAL,
        };
        batch::encode(out, offset, &[record], &stamp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from Kafka's ControlRecordTypeTest and EndTransactionMarkerTest.
    #[test]
    fn keys_and_values_are_kafkas_bytes() {
        let commit = Marker {
            commit: true,
            coordinator_epoch: 79,
        };
        assert_eq!(commit.key(), [0, 0, 0, 1]);
        assert_eq!(commit.value(), [0, 0, 0, 0, 0, 79]);
        let abort = Marker {
            commit: false,
            coordinator_epoch: 0x0102_0304,
        };
        assert_eq!(abort.key(), [0, 0, 0, 0]);
        assert_eq!(abort.value(), [0, 0, 1, 2, 3, 4]);
        for m in [commit, abort] {
            assert_eq!(Marker::parse(&m.key(), &m.value()), Some(m));
        }
    }

    #[test]
    fn parses_as_kafka_does() {
        let value = [0, 0, 0, 0, 0, 79];
        // testParseUnknownType: type 337 is no marker.
        assert_eq!(Marker::parse(&[0, 0, 0x01, 0x51], &value), None);
        // testParseUnknownVersion: key version 5 with a newer field still parses.
        let key5 = [0, 5, 0, 0, 0x00, 0x00, 0x5b, 0x88];
        assert_eq!(Marker::parse(&key5, &value).map(|m| m.commit), Some(false));
        // testDeserializeNewerVersion: value version 5 with trailing data.
        let value5 = [0, 5, 0, 0, 0, 79, 0, 0];
        let m = Marker::parse(&[0, 0, 0, 1], &value5).unwrap();
        assert_eq!(m.coordinator_epoch, 79);
        // testIllegalNegativeVersion, testNotEnoughBytes.
        assert_eq!(
            Marker::parse(&[0, 0, 0, 1], &[0xff, 0xff, 0, 0, 0, 0]),
            None
        );
        assert_eq!(Marker::parse(&[0, 0, 0, 1], &[]), None);
        assert_eq!(Marker::parse(&[0xff, 0xff, 0, 1], &value), None);
        assert_eq!(Marker::parse(&[0, 0], &value), None);
    }

    #[test]
    fn a_marker_is_a_control_batch_of_one_record() {
        let m = Marker {
            commit: true,
            coordinator_epoch: 3,
        };
        let mut buf = Vec::new();
        m.encode(&mut buf, 10, 77, 2, 1234);
        let h = batch::parse_header(&buf).unwrap();
        assert!(h.control() && h.transactional());
        assert_eq!(buf[13], 0x30);
        assert_eq!((h.count, h.stamp.producer_id, h.stamp.epoch), (1, 77, 2));
        let mut seen = None;
        batch::decode(&buf, &h, |r| {
            seen = Marker::parse(r.key.unwrap(), r.value.unwrap());
            true
        })
        .unwrap();
        assert_eq!(seen, Some(m));
    }
}
