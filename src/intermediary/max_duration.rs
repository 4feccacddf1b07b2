//! `max-duration`: end the connection a fixed span after it opened, whatever the traffic.
//! (Stub.)

use super::{Behavior, CloseAction, Decision, Observation};
use serde::Serialize;
use std::time::Duration;

/// Attributes of `max-duration`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct MaxDurationConfig {
    /// Lifetime of a connection, from `Opened`. Required.
    #[serde(with = "crate::time::human")]
    pub after: Duration,
    /// Action before response headers went downstream. Default: `fin`.
    pub action: CloseAction,
    /// Action after response headers went downstream. Default: `fin`.
    pub after_headers: CloseAction,
}

#[derive(Debug)]
pub struct MaxDuration {
    cfg: MaxDurationConfig,
}

impl MaxDuration {
    pub fn new(cfg: MaxDurationConfig) -> Self {
        Self { cfg }
    }
}

impl Behavior for MaxDuration {
    fn kind(&self) -> &'static str {
        "max-duration"
    }
    fn summary(&self) -> String {
        format!("max-duration {:?}", self.cfg.after)
    }
    fn observe(&mut self, _now: Duration, _obs: &Observation) -> Option<Decision> {
        let _ = CloseAction::Fin;
        None
    }
}
