//! `idle-timeout`: end the connection after a span with no bytes from the watched side.
//! (Stub; implemented with its tests in its own change.)

use super::{Behavior, CloseAction, Decision, Observation, Watch};
use serde::Serialize;
use std::time::Duration;

/// Attributes of `idle-timeout`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct IdleTimeoutConfig {
    /// Silence after which the timer fires. Unit: time span. No default (required).
    #[serde(with = "crate::time::human")]
    pub after: Duration,
    /// Whose bytes reset the timer. Default: `upstream`.
    pub watch: Watch,
    /// What to do when it fires before response headers went downstream. Default: `fin`.
    pub action: CloseAction,
    /// What to do when it fires after response headers went downstream (a `Respond` action is
    /// impossible then). Default: `fin`.
    pub after_headers: CloseAction,
}

#[derive(Debug)]
pub struct IdleTimeout {
    cfg: IdleTimeoutConfig,
}

impl IdleTimeout {
    pub fn new(cfg: IdleTimeoutConfig) -> Self {
        Self { cfg }
    }
}

impl Behavior for IdleTimeout {
    fn kind(&self) -> &'static str {
        "idle-timeout"
    }
    fn summary(&self) -> String {
        format!("idle-timeout {:?}", self.cfg.after)
    }
    fn observe(&mut self, _now: Duration, _obs: &Observation) -> Option<Decision> {
        let _ = CloseAction::Fin;
        None
    }
}
