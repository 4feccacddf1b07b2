//! `first-byte-timeout`: answer the client with an error status when no response headers
//! arrived within a span.
//!
//! The timer starts at the request head ([`Observation::RequestHead`]; at
//! [`Observation::Opened`] if no request head has been seen yet) and is disarmed by the
//! response head. A later request head on the same connection arms it again. If it runs out
//! the behavior decides, exactly once, [`Decision::Close`] with `Respond(status)` — no
//! headers went downstream yet, so an error response is always possible (Heroku's H12 → 503).

use super::{Behavior, CloseAction, Decision, Observation};
use crate::time::span;
use crate::time::stamp;
use crate::trace::Limit;
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

/// A time-to-response-headers limit over one connection.
#[derive(Debug)]
pub struct FirstByteTimeout {
    cfg: FirstByteTimeoutConfig,
    /// When the current wait for response headers started; `None` while disarmed.
    waiting_since: Option<Duration>,
    /// Whether a request head was seen (an `Opened` after it must not restart the wait).
    request_seen: bool,
    /// Set once it fired: no deadline any more.
    fired: bool,
}

impl FirstByteTimeout {
    /// A limit for one connection, not yet armed.
    pub fn new(cfg: FirstByteTimeoutConfig) -> Self {
        Self {
            cfg,
            waiting_since: None,
            request_seen: false,
            fired: false,
        }
    }
}

impl Behavior for FirstByteTimeout {
    fn kind(&self) -> &'static str {
        "first-byte-timeout"
    }

    fn summary(&self) -> String {
        format!(
            "first-byte-timeout {} (response headers) → http-{}",
            span(self.cfg.after),
            self.cfg.status
        )
    }

    fn limit(&self) -> Option<Limit> {
        Some(Limit {
            behavior: self.kind().to_string(),
            after: self.cfg.after,
            watches: "time to response headers".to_string(),
        })
    }

    fn observe(&mut self, now: Duration, obs: &Observation) -> Option<Decision> {
        match obs {
            Observation::Opened if !self.request_seen => self.waiting_since = Some(now),
            Observation::RequestHead { .. } => {
                self.request_seen = true;
                self.waiting_since = Some(now);
            }
            Observation::ResponseHead { .. } => self.waiting_since = None,
            _ => {}
        }
        None
    }

    fn deadline(&self) -> Option<Duration> {
        if self.fired {
            return None;
        }
        self.waiting_since.map(|t| t + self.cfg.after)
    }

    fn on_deadline(&mut self, now: Duration) -> Option<Decision> {
        let since = self.waiting_since?;
        if self.fired || now < since + self.cfg.after {
            return None;
        }
        self.fired = true;
        Some(Decision::Close {
            action: CloseAction::Respond(self.cfg.status),
            reason: format!(
                "first-byte-timeout {} (no response headers since {})",
                span(self.cfg.after),
                stamp(since)
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn heroku() -> FirstByteTimeout {
        FirstByteTimeout::new(FirstByteTimeoutConfig {
            after: secs(30),
            status: 503,
        })
    }

    fn request() -> Observation {
        Observation::RequestHead {
            method: "GET".into(),
            path: "/mcp".into(),
        }
    }

    fn head() -> Observation {
        Observation::ResponseHead {
            status: 200,
            headers: vec![],
        }
    }

    #[test]
    fn starts_at_the_request_head() {
        let mut t = heroku();
        assert_eq!(t.deadline(), None);
        t.observe(secs(0), &Observation::Opened);
        assert_eq!(t.deadline(), Some(secs(30)));
        t.observe(secs(2), &request());
        assert_eq!(t.deadline(), Some(secs(32)));
    }

    #[test]
    fn fires_once_with_the_status() {
        let mut t = heroku();
        t.observe(secs(0), &Observation::Opened);
        t.observe(secs(1), &request());
        assert_eq!(t.on_deadline(secs(30)), None, "too early");
        assert_eq!(
            t.on_deadline(secs(31)),
            Some(Decision::Close {
                action: CloseAction::Respond(503),
                reason: "first-byte-timeout 30s (no response headers since 00:00:01.000)".into(),
            })
        );
        assert_eq!(t.deadline(), None);
        assert_eq!(t.on_deadline(secs(100)), None);
    }

    #[test]
    fn response_head_disarms_it() {
        let mut t = heroku();
        t.observe(secs(0), &Observation::Opened);
        t.observe(secs(0), &request());
        t.observe(secs(29), &head());
        assert_eq!(t.deadline(), None);
        assert_eq!(t.on_deadline(secs(31)), None);
    }

    #[test]
    fn a_second_request_arms_it_again() {
        let mut t = heroku();
        t.observe(secs(0), &request());
        t.observe(secs(1), &head());
        t.observe(secs(10), &request());
        assert_eq!(t.deadline(), Some(secs(40)));
    }

    #[test]
    fn summary_and_limit() {
        let t = heroku();
        assert_eq!(
            t.summary(),
            "first-byte-timeout 30s (response headers) → http-503"
        );
        let l = t.limit().unwrap();
        assert_eq!(
            (l.behavior.as_str(), l.after, l.watches.as_str()),
            ("first-byte-timeout", secs(30), "time to response headers")
        );
    }
}
