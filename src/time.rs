//! Virtual time: rendering and parsing.
//!
//! Every timestamp in a trace is a [`Duration`] since the simulation started, rendered
//! `HH:MM:SS.mmm`. Nothing here reads a wall clock.

use std::fmt;
use std::time::Duration;

/// The fixed epoch every simulation starts at (2026-01-01T00:00:00Z): never the wall clock.
pub const EPOCH_SECS: u64 = 1_767_225_600;

/// A virtual instant, measured from the start of the simulation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VTime(pub Duration);

impl fmt::Display for VTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
        let (m, rest) = (rest / 60_000, rest % 60_000);
        let (s, ms) = (rest / 1000, rest % 1000);
        write!(f, "{h:02}:{m:02}:{s:02}.{ms:03}")
    }
}

/// Renders a virtual instant as `HH:MM:SS.mmm`.
pub fn stamp(d: Duration) -> String {
    VTime(d).to_string()
}

/// Renders a span for humans the way proxy configurations read: whole seconds under five
/// minutes as `60s`, `120s`; anything else in humantime's format (`5m`, `1day`, `250ms`).
pub fn span(d: Duration) -> String {
    if d.subsec_nanos() == 0 && d < Duration::from_secs(300) {
        format!("{}s", d.as_secs())
    } else {
        humantime::format_duration(d).to_string()
    }
}

/// Serde helpers that (de)serialize a [`Duration`] as a human string such as `"60s"`.
pub mod human {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Writes `d` as a span (`60s`).
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::span(*d))
    }

    /// Reads a span (`60s`, `5m`, `250ms`).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_span(&s).map_err(serde::de::Error::custom)
    }
}

/// Serde helper for `Option<Duration>` as a human string.
pub mod human_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Writes `Some(d)` as a span (`60s`), `None` as none.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&super::span(*d)),
            None => s.serialize_none(),
        }
    }

    /// Reads an optional span.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| super::parse_span(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Parses a human duration (`"60s"`, `"1m 30s"`, `"250ms"`, `"0s"`), with an error that
/// says what was expected.
pub fn parse_span(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| {
        format!("invalid duration {s:?} ({e}); expected a number with a unit, like \"60s\", \"5m\", \"250ms\" or \"1h 30m\"")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_hours_minutes_seconds_millis() {
        assert_eq!(stamp(Duration::ZERO), "00:00:00.000");
        assert_eq!(stamp(Duration::from_millis(61_003)), "00:01:01.003");
        assert_eq!(stamp(Duration::from_secs(30 * 60)), "00:30:00.000");
        assert_eq!(stamp(Duration::from_secs(25 * 3600 + 1)), "25:00:01.000");
    }

    #[test]
    fn spans_read_like_proxy_configs() {
        assert_eq!(span(Duration::from_secs(60)), "60s");
        assert_eq!(span(Duration::from_secs(120)), "120s");
        assert_eq!(span(Duration::from_secs(300)), "5m");
        assert_eq!(span(Duration::from_secs(86_400)), "1day");
        assert_eq!(span(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn parses_human_spans() {
        assert_eq!(parse_span("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_span("1m 30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_span("250ms").unwrap(), Duration::from_millis(250));
        let err = parse_span("60").unwrap_err();
        assert!(err.contains("expected a number with a unit"), "{err}");
    }
}
