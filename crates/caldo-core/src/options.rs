//! Options as callers name them, parsed and checked in one place: enum
//! values from their names, numbers from JavaScript's doubles.

use std::time::Duration;

use crate::error::{Code, Error, Result};
use crate::storage::cursor::Position;
use crate::storage::partition::Durability;

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
    }
}
