//! `buffering`: hold response body bytes back from the client. (Stub.)

use super::{Behavior, Decision, Observation};
use serde::Serialize;
use std::time::Duration;

/// How much of a response body is held back.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum BufferingMode {
    /// Forward every chunk at once.
    None,
    /// Hold the whole body until the upstream ends it.
    Full,
    /// Hold until at least `bytes` are held, then release them all.
    Threshold { bytes: usize },
    /// Release held bytes `every` span after the first held byte.
    FlushInterval {
        #[serde(with = "crate::time::human")]
        every: Duration,
    },
}

/// Attributes of `buffering`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct BufferingConfig {
    /// Default: `none`.
    pub mode: BufferingMode,
    /// A response header `X-Accel-Buffering: no` turns buffering off for that response, as
    /// nginx does. Default: false.
    pub honor_x_accel_buffering: bool,
}

#[derive(Debug)]
pub struct Buffering {
    cfg: BufferingConfig,
}

impl Buffering {
    pub fn new(cfg: BufferingConfig) -> Self {
        Self { cfg }
    }
}

impl Behavior for Buffering {
    fn kind(&self) -> &'static str {
        "buffering"
    }
    fn summary(&self) -> String {
        format!("buffering {:?}", self.cfg.mode)
    }
    fn observe(&mut self, _now: Duration, _obs: &Observation) -> Option<Decision> {
        None
    }
}
