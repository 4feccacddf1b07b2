//! `max-duration`: end the connection a fixed span after it opened, whatever the traffic.
//!
//! Keepalives do not help against it (GCP's backend timeout, a corporate proxy's maximum
//! connection duration, Squid's `client_lifetime`). It fires exactly once, at `Opened` +
//! `after`, with `action` before a response head was seen and `after-headers` afterwards.

use super::idle_timeout::{actions_summary, close_action};
use super::{Behavior, CloseAction, Decision, Observation};
use crate::time::{span, stamp};
use crate::trace::Limit;
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

/// A lifetime cap over one connection.
#[derive(Debug)]
pub struct MaxDuration {
    cfg: MaxDurationConfig,
    /// When the connection opened; `None` before `Opened`.
    opened_at: Option<Duration>,
    /// Whether a response head has been observed.
    headers_seen: bool,
    /// Set once it fired.
    fired: bool,
}

impl MaxDuration {
    /// A cap for one connection, armed by `Opened`.
    pub fn new(cfg: MaxDurationConfig) -> Self {
        Self {
            cfg,
            opened_at: None,
            headers_seen: false,
            fired: false,
        }
    }
}

impl Behavior for MaxDuration {
    fn kind(&self) -> &'static str {
        "max-duration"
    }

    fn summary(&self) -> String {
        format!(
            "max-duration {} (connection lifetime) {}",
            span(self.cfg.after),
            actions_summary(self.cfg.action, self.cfg.after_headers)
        )
    }

    fn limit(&self) -> Option<Limit> {
        Some(Limit {
            behavior: self.kind().to_string(),
            after: self.cfg.after,
            watches: "connection lifetime".to_string(),
        })
    }

    fn observe(&mut self, now: Duration, obs: &Observation) -> Option<Decision> {
        match obs {
            Observation::Opened if self.opened_at.is_none() => self.opened_at = Some(now),
            Observation::ResponseHead { .. } => self.headers_seen = true,
            _ => {}
        }
        None
    }

    fn deadline(&self) -> Option<Duration> {
        if self.fired {
            return None;
        }
        self.opened_at.map(|t| t + self.cfg.after)
    }

    fn on_deadline(&mut self, now: Duration) -> Option<Decision> {
        let opened = self.opened_at?;
        if self.fired || now < opened + self.cfg.after {
            return None;
        }
        self.fired = true;
        Some(Decision::Close {
            action: close_action(self.headers_seen, self.cfg.action, self.cfg.after_headers),
            reason: format!(
                "max-duration {} (connection opened at {})",
                span(self.cfg.after),
                stamp(opened)
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intermediary::Side;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn gcp() -> MaxDuration {
        MaxDuration::new(MaxDurationConfig {
            after: secs(30),
            action: CloseAction::Respond(504),
            after_headers: CloseAction::Fin,
        })
    }

    #[test]
    fn traffic_does_not_move_the_deadline() {
        let mut t = gcp();
        assert_eq!(t.deadline(), None);
        t.observe(secs(1), &Observation::Opened);
        for s in 2..31 {
            t.observe(
                secs(s),
                &Observation::Bytes {
                    from: Side::Upstream,
                    len: 13,
                },
            );
        }
        assert_eq!(t.deadline(), Some(secs(31)));
    }

    #[test]
    fn fires_once_after_headers_with_the_after_headers_action() {
        let mut t = gcp();
        t.observe(secs(1), &Observation::Opened);
        t.observe(
            secs(2),
            &Observation::ResponseHead {
                status: 200,
                headers: vec![],
            },
        );
        assert_eq!(t.on_deadline(secs(30)), None, "too early");
        assert_eq!(
            t.on_deadline(secs(31)),
            Some(Decision::Close {
                action: CloseAction::Fin,
                reason: "max-duration 30s (connection opened at 00:00:01.000)".into(),
            })
        );
        assert_eq!(t.deadline(), None);
        assert_eq!(t.on_deadline(secs(62)), None);
    }

    #[test]
    fn before_headers_uses_the_action() {
        let mut t = gcp();
        t.observe(secs(0), &Observation::Opened);
        match t.on_deadline(secs(30)) {
            Some(Decision::Close { action, .. }) => assert_eq!(action, CloseAction::Respond(504)),
            other => panic!("expected a close, got {other:?}"),
        }
    }

    #[test]
    fn summary_and_limit() {
        let t = MaxDuration::new(MaxDurationConfig {
            after: secs(86_400),
            action: CloseAction::Fin,
            after_headers: CloseAction::Fin,
        });
        assert_eq!(t.summary(), "max-duration 1day (connection lifetime) → fin");
        assert_eq!(t.limit().unwrap().watches, "connection lifetime");
        assert_eq!(
            gcp().summary(),
            "max-duration 30s (connection lifetime) → http-504, after headers fin"
        );
    }
}
