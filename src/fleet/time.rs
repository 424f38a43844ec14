//! Durations as scenarios write them: integer seconds, or a number with a unit
//! (`"90s"`, `"15m"`, `"2h"`, `"7d"`, `"2w"`, `"8y"`; a year is 365 days). Simulated time is always
//! an integer number of seconds.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Seconds in a minute.
pub(crate) const MINUTE_S: u64 = 60;
/// Seconds in an hour.
pub(crate) const HOUR_S: u64 = 60 * MINUTE_S;
/// Seconds in an hour, for rates and chip-hours.
pub(crate) const HOUR_S_F64: f64 = HOUR_S as f64;
/// Seconds in a day.
pub(crate) const DAY_S: u64 = 24 * HOUR_S;
/// Seconds in a (365-day) year.
pub(crate) const YEAR_S: u64 = 365 * DAY_S;

/// A duration (or a time since the scenario start) in whole seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Duration(pub u64);

impl Duration {
    /// Parse `"12h"`-style text (or plain seconds). Fractions round to the nearest second.
    pub(crate) fn parse(text: &str) -> Result<Duration, String> {
        let t = text.trim();
        let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let value: f64 = num.trim().parse().map_err(|_| {
            format!("expected a duration such as 3600, \"90s\", \"15m\", \"2h\", \"7d\", \"2w\" or \"8y\", found \"{text}\"")
        })?;
        let scale = match unit.trim() {
            "" | "s" => 1.0,
            "m" | "min" => MINUTE_S as f64,
            "h" => HOUR_S_F64,
            "d" => DAY_S as f64,
            "w" => 7.0 * DAY_S as f64,
            "y" => YEAR_S as f64,
            other => {
                return Err(format!(
                    "unknown duration unit '{other}' in \"{text}\"; expected s, m, h, d, w or y"
                ));
            }
        };
        let s = value * scale;
        if !(0.0..=1e15).contains(&s) {
            return Err(format!(
                "duration \"{text}\" is out of range; expected 0 to 1e15 seconds"
            ));
        }
        Ok(Duration(s.round() as u64))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration: seconds, or a string such as \"2h\", \"7d\", \"8y\"")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration)
            .map_err(|_| E::custom(format!("duration {v} is negative")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Duration::parse(&v.to_string()).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        Duration::parse(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(Duration::parse("90").unwrap().0, 90);
        assert_eq!(Duration::parse("1.5h").unwrap().0, 5400);
        assert_eq!(Duration::parse("8y").unwrap().0, 8 * YEAR_S);
        assert_eq!(Duration::parse("2w").unwrap().0, 14 * DAY_S);
        assert!(Duration::parse("3 parsecs").is_err());
        assert!(Duration::parse("-1s").is_err());
    }
}
