//! `idle-timeout`: end the connection after a span with no bytes from the watched side.
//!
//! The timer starts when the connection opens ([`Observation::Opened`]); every read from a
//! side the [`Watch`] covers ([`Observation::Bytes`]) restarts it. When it runs out the
//! behavior decides [`Decision::Close`] exactly once: with `action` while no response head
//! has been seen, with `after-headers` afterwards (nginx answers 504 before headers and cuts
//! the chunked body short after). Once the upstream ended its response the timer stops.

use super::{Behavior, CloseAction, Decision, Observation, Watch};
use crate::time::{span, stamp};
use crate::trace::Limit;
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

/// An idle timer over one connection.
#[derive(Debug)]
pub struct IdleTimeout {
    cfg: IdleTimeoutConfig,
    /// Virtual time of the last activity that (re)started the timer; `None` until `Opened`.
    last_activity: Option<Duration>,
    /// Whether a response head has been observed.
    headers_seen: bool,
    /// Set once the timer fired or the upstream ended: no deadline any more.
    stopped: bool,
}

impl IdleTimeout {
    /// A timer for one connection, not yet started.
    pub fn new(cfg: IdleTimeoutConfig) -> Self {
        Self {
            cfg,
            last_activity: None,
            headers_seen: false,
            stopped: false,
        }
    }
}

/// The close action once response headers may have gone downstream: never `Respond`.
pub(crate) fn close_action(
    headers_seen: bool,
    action: CloseAction,
    after: CloseAction,
) -> CloseAction {
    if !headers_seen {
        action
    } else if let CloseAction::Respond(_) = after {
        CloseAction::Fin
    } else {
        after
    }
}

/// `→ http-504, after headers fin` for summaries.
pub(crate) fn actions_summary(action: CloseAction, after_headers: CloseAction) -> String {
    if action == after_headers {
        format!("→ {action}")
    } else {
        format!("→ {action}, after headers {after_headers}")
    }
}

impl Behavior for IdleTimeout {
    fn kind(&self) -> &'static str {
        "idle-timeout"
    }

    fn summary(&self) -> String {
        format!(
            "idle-timeout {} ({}) {}",
            span(self.cfg.after),
            self.cfg.watch,
            actions_summary(self.cfg.action, self.cfg.after_headers)
        )
    }

    fn limit(&self) -> Option<Limit> {
        let watches = match self.cfg.watch {
            Watch::Upstream => "upstream silence",
            Watch::Downstream => "downstream silence",
            Watch::Any => "silence in both directions",
        };
        Some(Limit {
            behavior: self.kind().to_string(),
            after: self.cfg.after,
            watches: watches.to_string(),
        })
    }

    fn observe(&mut self, now: Duration, obs: &Observation) -> Option<Decision> {
        match obs {
            Observation::Opened => self.last_activity = Some(now),
            Observation::Bytes { from, .. } if self.cfg.watch.matches(*from) => {
                self.last_activity = Some(now)
            }
            Observation::ResponseHead { .. } => self.headers_seen = true,
            Observation::UpstreamEnded => self.stopped = true,
            _ => {}
        }
        None
    }

    fn deadline(&self) -> Option<Duration> {
        if self.stopped {
            return None;
        }
        self.last_activity.map(|t| t + self.cfg.after)
    }

    fn on_deadline(&mut self, now: Duration) -> Option<Decision> {
        let since = self.last_activity?;
        if self.stopped || now < since + self.cfg.after {
            return None;
        }
        self.stopped = true;
        let silent = match self.cfg.watch {
            Watch::Upstream => "upstream silent",
            Watch::Downstream => "downstream silent",
            Watch::Any => "no bytes either way",
        };
        Some(Decision::Close {
            action: close_action(self.headers_seen, self.cfg.action, self.cfg.after_headers),
            reason: format!(
                "idle-timeout {} ({silent} since {})",
                span(self.cfg.after),
                stamp(since)
            ),
        })
    }
}

#[cfg(test)]
mod tests;
