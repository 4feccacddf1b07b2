//! `latency`: delay every chunk by a fixed or seeded-random span. (Stub.)

use super::{Behavior, Decision, Observation, Side};
use serde::Serialize;
use std::time::Duration;

/// Attributes of `latency`: each chunk is delayed by a span drawn uniformly from
/// `min..=max` with the scenario's seed (fixed when `min == max`). Order is kept.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LatencyConfig {
    #[serde(with = "crate::time::human")]
    pub min: Duration,
    #[serde(with = "crate::time::human")]
    pub max: Duration,
}

#[derive(Debug)]
pub struct Latency {
    cfg: LatencyConfig,
}

impl Latency {
    pub fn new(cfg: LatencyConfig, _seed: u64) -> Self {
        Self { cfg }
    }
}

impl Behavior for Latency {
    fn kind(&self) -> &'static str {
        "latency"
    }
    fn summary(&self) -> String {
        format!("latency {:?}..{:?}", self.cfg.min, self.cfg.max)
    }
    fn observe(&mut self, _now: Duration, _obs: &Observation) -> Option<Decision> {
        None
    }
    fn delay(&mut self, _from: Side) -> Duration {
        self.cfg.min
    }
}
