//! `first-byte-timeout`: answer the client with an error status when no response headers
//! arrived within a span. (Stub.)

use super::{Behavior, Decision, Observation};
use serde::Serialize;
use std::time::Duration;

/// Attributes of `first-byte-timeout`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct FirstByteTimeoutConfig {
    /// Time from the request until response headers must have arrived. Required.
    #[serde(with = "crate::time::human")]
    pub after: Duration,
    /// Status the intermediary answers with. Default: 504.
    pub status: u16,
}

#[derive(Debug)]
pub struct FirstByteTimeout {
    cfg: FirstByteTimeoutConfig,
}

impl FirstByteTimeout {
    pub fn new(cfg: FirstByteTimeoutConfig) -> Self {
        Self { cfg }
    }
}

impl Behavior for FirstByteTimeout {
    fn kind(&self) -> &'static str {
        "first-byte-timeout"
    }
    fn summary(&self) -> String {
        format!("first-byte-timeout {:?}", self.cfg.after)
    }
    fn observe(&mut self, _now: Duration, _obs: &Observation) -> Option<Decision> {
        None
    }
}
