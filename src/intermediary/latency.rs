//! `latency`: delay every chunk by a fixed or seeded-random span.
//!
//! Each call to [`Behavior::delay`] draws a span uniformly from `min..=max` (nanosecond
//! granularity) from a [`SmallRng`] seeded with the scenario's seed, so one seed always gives
//! one sequence. When `min == max` the delay is fixed and nothing is drawn.

use super::{Behavior, Decision, Observation, Side};
use crate::time::span;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::time::Duration;

/// Attributes of `latency`: each chunk is delayed by a span drawn uniformly from
/// `min..=max` with the scenario's seed (fixed when `min == max`). Order is kept.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LatencyConfig {
    /// Shortest delay per chunk. Unit: time span. Required.
    #[serde(with = "crate::time::human")]
    pub min: Duration,
    /// Longest delay per chunk (inclusive). Unit: time span. Required; not below `min`
    /// (if it is, `min` is used as a fixed delay).
    #[serde(with = "crate::time::human")]
    pub max: Duration,
}

/// Per-chunk delay over one connection.
#[derive(Debug)]
pub struct Latency {
    cfg: LatencyConfig,
    rng: SmallRng,
}

impl Latency {
    /// Latency for one connection; `seed` fixes the sequence of drawn delays.
    pub fn new(cfg: LatencyConfig, seed: u64) -> Self {
        Self {
            cfg,
            rng: SmallRng::seed_from_u64(seed),
        }
    }
}

/// A span in whole nanoseconds, saturating at `u64::MAX` (about 584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Behavior for Latency {
    fn kind(&self) -> &'static str {
        "latency"
    }

    fn summary(&self) -> String {
        if self.cfg.max <= self.cfg.min {
            format!("latency {} per chunk", span(self.cfg.min))
        } else {
            format!(
                "latency {}..={} per chunk (uniform, seeded)",
                span(self.cfg.min),
                span(self.cfg.max)
            )
        }
    }

    fn observe(&mut self, _now: Duration, _obs: &Observation) -> Option<Decision> {
        None
    }

    fn delay(&mut self, _from: Side) -> Duration {
        if self.cfg.max <= self.cfg.min {
            return self.cfg.min;
        }
        let drawn = self
            .rng
            .random_range(nanos(self.cfg.min)..=nanos(self.cfg.max));
        Duration::from_nanos(drawn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn latency(min: u64, max: u64, seed: u64) -> Latency {
        Latency::new(
            LatencyConfig {
                min: ms(min),
                max: ms(max),
            },
            seed,
        )
    }

    fn draws(l: &mut Latency, n: usize) -> Vec<Duration> {
        (0..n)
            .map(|i| {
                l.delay(if i % 2 == 0 {
                    Side::Upstream
                } else {
                    Side::Downstream
                })
            })
            .collect()
    }

    #[test]
    fn fixed_when_min_equals_max() {
        let mut l = latency(20, 20, 7);
        assert!(draws(&mut l, 50).iter().all(|d| *d == ms(20)));
        assert_eq!(l.summary(), "latency 20ms per chunk");
    }

    #[test]
    fn draws_stay_within_bounds_and_vary() {
        let mut l = latency(10, 50, 7);
        let d = draws(&mut l, 1000);
        assert!(d.iter().all(|d| (ms(10)..=ms(50)).contains(d)));
        assert!(d.iter().any(|x| *x != d[0]), "random, not fixed");
        assert!(d.iter().any(|x| *x < ms(20)) && d.iter().any(|x| *x > ms(40)));
    }

    #[test]
    fn same_seed_same_sequence() {
        let a = draws(&mut latency(10, 50, 42), 100);
        let b = draws(&mut latency(10, 50, 42), 100);
        let c = draws(&mut latency(10, 50, 43), 100);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn summary_and_no_limit() {
        let l = latency(10, 50, 1);
        assert_eq!(
            l.summary(),
            "latency 10ms..=50ms per chunk (uniform, seeded)"
        );
        assert_eq!(l.limit(), None);
    }
}
