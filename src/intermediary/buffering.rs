//! `buffering`: hold response body bytes back from the client.
//!
//! The relay keeps the bytes; this behavior only says whether to hold them
//! ([`Behavior::holds_response`]) and when to release them ([`Decision::Flush`]):
//!
//! - `none`: never holds;
//! - `full`: releases only when the upstream ended the response;
//! - `threshold`: releases as soon as `bytes` or more are held (nginx's proxy buffers);
//! - `flush-interval`: releases `every` span after the first byte held since the last flush.
//!
//! In every mode the end of the response releases what is held and ends holding. With
//! `honor-x-accel-buffering`, a response head carrying `X-Accel-Buffering: no` turns holding
//! off for that response, as nginx does.

use super::{Behavior, Decision, Observation};
use crate::time::span;
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

/// Response buffering over one connection.
#[derive(Debug)]
pub struct Buffering {
    cfg: BufferingConfig,
    /// The current response turned buffering off with `X-Accel-Buffering: no`.
    disabled_by_header: bool,
    /// The upstream ended the current response.
    ended: bool,
    /// Body bytes held since the last flush. Unit: bytes.
    held_bytes: usize,
    /// When the first byte held since the last flush arrived.
    first_held_at: Option<Duration>,
}

impl Buffering {
    /// Buffering for one connection, holding nothing yet.
    pub fn new(cfg: BufferingConfig) -> Self {
        Self {
            cfg,
            disabled_by_header: false,
            ended: false,
            held_bytes: 0,
            first_held_at: None,
        }
    }

    /// Forgets what is held and returns a flush decision.
    fn flush(&mut self, why: String) -> Decision {
        self.held_bytes = 0;
        self.first_held_at = None;
        Decision::Flush { why }
    }
}

impl Behavior for Buffering {
    fn kind(&self) -> &'static str {
        "buffering"
    }

    fn summary(&self) -> String {
        let mode = match &self.cfg.mode {
            BufferingMode::None => return "buffering none".to_string(),
            BufferingMode::Full => "full (until the response ends)".to_string(),
            BufferingMode::Threshold { bytes } => format!("threshold {bytes} bytes"),
            BufferingMode::FlushInterval { every } => {
                format!("flush-interval {}", span(*every))
            }
        };
        if self.cfg.honor_x_accel_buffering {
            format!("buffering {mode} (honours X-Accel-Buffering: no)")
        } else {
            format!("buffering {mode}")
        }
    }

    fn holds_response(&self) -> bool {
        self.cfg.mode != BufferingMode::None && !self.disabled_by_header && !self.ended
    }

    fn observe(&mut self, now: Duration, obs: &Observation) -> Option<Decision> {
        match obs {
            Observation::ResponseHead { headers, .. } => {
                // A new response: its own header decides, and it has not ended.
                self.ended = false;
                self.disabled_by_header = self.cfg.honor_x_accel_buffering
                    && headers.iter().any(|(name, value)| {
                        name.eq_ignore_ascii_case("x-accel-buffering")
                            && value.trim().eq_ignore_ascii_case("no")
                    });
                None
            }
            Observation::ResponseBody { len } if *len > 0 && self.holds_response() => {
                self.held_bytes += len;
                self.first_held_at.get_or_insert(now);
                match self.cfg.mode {
                    BufferingMode::Threshold { bytes } if self.held_bytes >= bytes => {
                        let why =
                            format!("threshold {bytes} bytes reached ({} held)", self.held_bytes);
                        Some(self.flush(why))
                    }
                    _ => None,
                }
            }
            Observation::UpstreamEnded => {
                self.ended = true;
                (self.held_bytes > 0).then(|| self.flush("upstream ended".to_string()))
            }
            _ => None,
        }
    }

    fn deadline(&self) -> Option<Duration> {
        match self.cfg.mode {
            BufferingMode::FlushInterval { every } => self.first_held_at.map(|t| t + every),
            _ => None,
        }
    }

    fn on_deadline(&mut self, now: Duration) -> Option<Decision> {
        let due = self.deadline()?;
        if now < due || self.held_bytes == 0 {
            return None;
        }
        let BufferingMode::FlushInterval { every } = self.cfg.mode else {
            return None;
        };
        Some(self.flush(format!("flush interval {}", span(every))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn buffering(mode: BufferingMode, honor: bool) -> Buffering {
        Buffering::new(BufferingConfig {
            mode,
            honor_x_accel_buffering: honor,
        })
    }

    fn head(headers: &[(&str, &str)]) -> Observation {
        Observation::ResponseHead {
            status: 200,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn body(len: usize) -> Observation {
        Observation::ResponseBody { len }
    }

    fn flush_why(d: Option<Decision>) -> String {
        match d {
            Some(Decision::Flush { why }) => why,
            other => panic!("expected a flush, got {other:?}"),
        }
    }

    #[test]
    fn none_never_holds() {
        let mut b = buffering(BufferingMode::None, false);
        b.observe(ms(0), &head(&[]));
        assert!(!b.holds_response());
        assert_eq!(b.observe(ms(1), &body(10_000)), None);
        assert_eq!(b.observe(ms(2), &Observation::UpstreamEnded), None);
        assert_eq!(b.summary(), "buffering none");
    }

    #[test]
    fn threshold_flushes_when_reached_and_restarts_counting() {
        let mut b = buffering(BufferingMode::Threshold { bytes: 4096 }, true);
        b.observe(ms(0), &head(&[("content-type", "text/event-stream")]));
        assert!(b.holds_response());
        assert_eq!(b.observe(ms(1), &body(4000)), None);
        assert_eq!(
            flush_why(b.observe(ms(2), &body(100))),
            "threshold 4096 bytes reached (4100 held)"
        );
        assert!(b.holds_response(), "still holding after a threshold flush");
        assert_eq!(b.observe(ms(3), &body(4000)), None, "count restarted");
        assert_eq!(
            flush_why(b.observe(ms(4), &Observation::UpstreamEnded)),
            "upstream ended"
        );
        assert!(!b.holds_response());
    }

    #[test]
    fn x_accel_buffering_no_turns_it_off_when_honoured() {
        let mut b = buffering(BufferingMode::Threshold { bytes: 4096 }, true);
        b.observe(ms(0), &head(&[("x-accel-buffering", "No")]));
        assert!(!b.holds_response());
        assert_eq!(b.observe(ms(1), &body(10_000)), None);
        assert_eq!(b.observe(ms(2), &Observation::UpstreamEnded), None);
    }

    #[test]
    fn x_accel_buffering_yes_keeps_it_on() {
        let mut b = buffering(BufferingMode::Full, true);
        b.observe(ms(0), &head(&[("x-accel-buffering", "yes")]));
        assert!(b.holds_response());
    }

    #[test]
    fn x_accel_buffering_ignored_when_not_honoured() {
        let mut b = buffering(BufferingMode::Full, false);
        b.observe(ms(0), &head(&[("x-accel-buffering", "no")]));
        assert!(b.holds_response());
    }

    #[test]
    fn full_flushes_only_at_the_end() {
        let mut b = buffering(BufferingMode::Full, false);
        b.observe(ms(0), &head(&[]));
        for i in 1..100 {
            assert_eq!(b.observe(ms(i), &body(100_000)), None);
        }
        assert_eq!(b.deadline(), None);
        assert_eq!(
            flush_why(b.observe(ms(100), &Observation::UpstreamEnded)),
            "upstream ended"
        );
        assert!(!b.holds_response());
        assert_eq!(b.observe(ms(101), &body(5)), None, "not counted once ended");
        assert_eq!(b.observe(ms(102), &Observation::UpstreamEnded), None);
    }

    #[test]
    fn end_with_nothing_held_does_not_flush() {
        let mut b = buffering(BufferingMode::Full, false);
        b.observe(ms(0), &head(&[]));
        assert_eq!(b.observe(ms(1), &Observation::UpstreamEnded), None);
        assert!(!b.holds_response());
    }

    #[test]
    fn flush_interval_counts_from_the_first_held_byte() {
        let mut b = buffering(BufferingMode::FlushInterval { every: ms(1000) }, false);
        b.observe(ms(0), &head(&[]));
        assert_eq!(b.deadline(), None, "nothing held yet");
        b.observe(ms(500), &body(10));
        b.observe(ms(900), &body(10));
        assert_eq!(b.deadline(), Some(ms(1500)));
        assert_eq!(b.on_deadline(ms(1499)), None, "too early");
        assert_eq!(flush_why(b.on_deadline(ms(1500))), "flush interval 1s");
        assert_eq!(b.deadline(), None);
        b.observe(ms(4000), &body(1));
        assert_eq!(b.deadline(), Some(ms(5000)));
    }

    #[test]
    fn a_new_response_on_the_connection_holds_again() {
        let mut b = buffering(BufferingMode::Full, true);
        b.observe(ms(0), &head(&[("x-accel-buffering", "no")]));
        b.observe(ms(1), &Observation::UpstreamEnded);
        b.observe(ms(2), &head(&[]));
        assert!(b.holds_response());
    }

    #[test]
    fn summaries_have_units() {
        assert_eq!(
            buffering(BufferingMode::Threshold { bytes: 4096 }, true).summary(),
            "buffering threshold 4096 bytes (honours X-Accel-Buffering: no)"
        );
        assert_eq!(
            buffering(BufferingMode::FlushInterval { every: ms(250) }, false).summary(),
            "buffering flush-interval 250ms"
        );
        assert_eq!(
            buffering(BufferingMode::Full, false).summary(),
            "buffering full (until the response ends)"
        );
        assert_eq!(buffering(BufferingMode::Full, false).limit(), None);
    }
}
