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
    Threshold {
        /// Everything held is released once this many bytes or more are held. From
        /// `buffering.bytes` (> 0; required unless the preset's threshold gives it). Unit:
        /// bytes.
        bytes: usize,
    },
    /// Release held bytes `every` span after the first held byte.
    FlushInterval {
        /// Everything held is released this long after the first byte held since the last
        /// flush. From `buffering.every` (a span > 0; required unless the preset's flush
        /// interval gives it). Unit: virtual time span.
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
mod tests;
