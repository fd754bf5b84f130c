//! Options as callers name them, parsed and checked in one place: enum
//! values from their names, numbers from JavaScript's doubles.

use std::time::Duration;

use crate::error::{Code, Error, Result};
use crate::storage::cursor::Position;
use crate::storage::partition::Durability;
use crate::storage::topic::CleanupPolicy;

fn bad(message: String) -> Error {
    Error::new(Code::InvalidArg, message)
}

/// Offsets and timestamps stay exact as JavaScript numbers up to 2^53 - 1.
pub const MAX_SAFE: u64 = (1 << 53) - 1;

/// `v` as an integer in `min..=max`, or an error naming `what`.
pub fn int(what: &str, v: f64, min: u64, max: u64) -> Result<u64> {
    if v.fract() == 0.0 && v >= min as f64 && v <= max as f64 {
        return Ok(v as u64);
    }
    Err(bad(format!(
        "{what} must be an integer from {min} to {max}, got {v}"
    )))
}

/// A timestamp in milliseconds since the epoch, as records carry them.
pub fn timestamp(what: &str, v: f64) -> Result<i64> {
    int(what, v, 0, MAX_SAFE).map(|t| t as i64)
}

/// `v` as a u32 in `min..=max`.
pub fn int32(what: &str, v: f64, min: u32, max: u32) -> Result<u32> {
    int(what, v, min.into(), max.into()).map(|n| n as u32)
}

fn one_of<T: Copy>(what: &str, name: &str, choices: &[(&str, T)]) -> Result<T> {
    match choices.iter().find(|(n, _)| *n == name) {
        Some((_, v)) => Ok(*v),
        None => {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            Err(bad(format!(
                "{what} must be one of {}, got {name:?}",
                names.join(", ")
            )))
        }
    }
}

impl Durability {
    pub fn parse(name: &str) -> Result<Durability> {
        let choices = [
            ("none", Durability::None),
            ("interval", Durability::Interval),
            ("always", Durability::Always),
        ];
        one_of("durability", name, &choices)
    }
}

/// How often the background flush runs with `Durability::Interval`.
pub fn flush_interval(ms: f64) -> Result<Duration> {
    int("flushIntervalMs", ms, 1, 3_600_000).map(Duration::from_millis)
}

/// `v` as -1 (no limit) or an integer from 1 to [`MAX_SAFE`].
pub fn limit(what: &str, v: f64) -> Result<i64> {
    if v == -1.0 {
        return Ok(-1);
    }
    int(what, v, 1, MAX_SAFE).map(|n| n as i64).map_err(|_| {
        bad(format!(
            "{what} must be -1 (no limit) or an integer from 1 to {MAX_SAFE}, got {v}"
        ))
    })
}

/// `v` as a number from 0 to 1.
pub fn ratio(what: &str, v: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&v) {
        return Ok(v);
    }
    Err(bad(format!("{what} must be a number from 0 to 1, got {v}")))
}

/// How often the cleaner looks for segments to remove; 0 turns the timer off.
pub fn clean_interval(ms: f64) -> Result<Option<Duration>> {
    let ms = int("cleanIntervalMs", ms, 0, 86_400_000)?;
    Ok((ms > 0).then(|| Duration::from_millis(ms)))
}

impl CleanupPolicy {
    pub fn parse(name: &str) -> Result<CleanupPolicy> {
        let choices = [
            ("delete", CleanupPolicy::Delete),
            ("compact", CleanupPolicy::Compact),
            ("compact,delete", CleanupPolicy::CompactDelete),
        ];
        one_of("cleanupPolicy", name, &choices)
    }
}

impl Position {
    /// `'earliest'` or `'latest'`.
    pub fn parse_end(what: &str, name: &str) -> Result<Position> {
        let choices = [
            ("earliest", Position::Earliest),
            ("latest", Position::Latest),
        ];
        one_of(what, name, &choices)
    }

    /// An offset, or an end by name.
    pub fn parse(what: &str, offset: Option<f64>, end: Option<&str>) -> Result<Position> {
        match (offset, end) {
            (Some(o), None) => int(what, o, 0, MAX_SAFE).map(Position::Offset),
            (None, Some(name)) => Position::parse_end(what, name),
            (None, None) => Ok(Position::Latest),
            (Some(_), Some(_)) => Err(bad(format!("{what}: give an offset or a name, not both"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names() {
        assert_eq!(int("n", 3.0, 1, 5).unwrap(), 3);
        for v in [0.5, -1.0, 6.0, f64::NAN, f64::INFINITY] {
            assert_eq!(int("n", v, 1, 5).unwrap_err().code, Code::InvalidArg);
        }
        assert_eq!(Durability::parse("always").unwrap(), Durability::Always);
        let e = Durability::parse("sometimes").unwrap_err();
        assert!(
            e.message.contains("none, interval, always"),
            "{}",
            e.message
        );
        assert_eq!(
            Position::parse("offset", Some(7.0), None).unwrap(),
            Position::Offset(7)
        );
        assert!(Position::parse("offset", None, Some("middle")).is_err());
        assert_eq!(limit("r", -1.0).unwrap(), -1);
        assert_eq!(limit("r", 5.0).unwrap(), 5);
        for v in [0.0, -2.0, 1.5, f64::NAN] {
            assert_eq!(limit("r", v).unwrap_err().code, Code::InvalidArg);
        }
        assert!(
            ratio("d", 0.5).is_ok() && ratio("d", 1.5).is_err() && ratio("d", f64::NAN).is_err()
        );
        assert_eq!(
            CleanupPolicy::parse("compact,delete").unwrap(),
            CleanupPolicy::CompactDelete
        );
        assert!(CleanupPolicy::parse("delete,compact").is_err());
        assert_eq!(clean_interval(0.0).unwrap(), None);
    }
}
