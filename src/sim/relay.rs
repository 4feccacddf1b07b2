//! The relay core of an intermediary: HTTP/1.1-aware byte forwarding driven by behaviors.
//!
//! ```text
//!  on_downstream(bytes) ─┐                      ┌─▶ Action::Send { to: Upstream, at }
//!  on_upstream(bytes)   ─┼─▶ Relay ─ Observation ─▶ behaviors ─ Decision ─┼─▶ Action::Send { to: Downstream, at }
//!  *_eof(), on_deadline() ─┘   (head parsing,                               ├─▶ Action::Close / Blackhole
//!                               held bytes)                                 └─▶ Action::Record(EventKind)
//! ```
//!
//! No I/O and no clock: the host driver (`relay_host.rs`) feeds it bytes and virtual time and
//! carries out the actions, so the same core can run under any engine. It parses the request
//! and response heads (with `httparse`) to know when response headers have passed, which
//! decides whether a timeout can still answer `504` or must cut the body short.

use crate::intermediary::{Behavior, CloseAction, Decision, Observation, Side};
use crate::trace::{Closer, Direction, EventKind};
use std::time::Duration;

/// What the driver must do.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Write `bytes` to side `to` at virtual time `at` (>= now), after earlier sends to it.
    Send {
        to: Side,
        bytes: Vec<u8>,
        at: Duration,
    },
    /// Close both sides. `graceful`: deliver queued sends first; otherwise drop them.
    Close { rst: bool, graceful: bool },
    /// Close the upstream side only (the client went away).
    CloseUpstream,
    /// Stop forwarding; keep the sockets open and discard what arrives.
    Blackhole,
    /// Write this event to the trace for this connection.
    Record(EventKind),
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Open,
    Blackholed,
    Closed,
}

/// One relayed connection.
#[derive(Debug)]
pub struct Relay {
    behaviors: Vec<Box<dyn Behavior>>,
    request_head: Option<Vec<u8>>,
    response_head: Option<Vec<u8>>,
    head_sent: bool,
    held: Vec<u8>,
    last_send: [Duration; 2],
    state: State,
}

/// Largest head we accept before giving up parsing and relaying blindly.
const MAX_HEAD: usize = 64 * 1024;

impl Relay {
    pub fn new(behaviors: Vec<Box<dyn Behavior>>) -> Self {
        Self {
            behaviors,
            request_head: Some(Vec::new()),
            response_head: Some(Vec::new()),
            head_sent: false,
            held: Vec::new(),
            last_send: [Duration::ZERO; 2],
            state: State::Open,
        }
    }

    /// The connection is established on both sides.
    pub fn opened(&mut self, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        self.observe(now, &Observation::Opened, &mut out);
        out
    }

    /// The earliest virtual time at which `on_deadline` must be called.
    pub fn deadline(&self) -> Option<Duration> {
        if self.state != State::Open {
            return None;
        }
        self.behaviors.iter().filter_map(|b| b.deadline()).min()
    }

    /// Virtual time reached a deadline.
    pub fn on_deadline(&mut self, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        for i in 0..self.behaviors.len() {
            if self.state != State::Open {
                break;
            }
            if self.behaviors[i].deadline().is_some_and(|d| d <= now) {
                if let Some(d) = self.behaviors[i].on_deadline(now) {
                    let kind = self.behaviors[i].kind();
                    self.decide(now, kind, d, &mut out);
                }
            }
        }
        out
    }

    /// Bytes arrived from the client side.
    pub fn on_downstream(&mut self, now: Duration, bytes: &[u8]) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state != State::Open {
            return out;
        }
        self.observe(
            now,
            &Observation::Bytes {
                from: Side::Downstream,
                len: bytes.len(),
            },
            &mut out,
        );
        if let Some(buf) = self.request_head.as_mut() {
            buf.extend_from_slice(bytes);
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(buf) {
                Ok(httparse::Status::Complete(_)) => {
                    let obs = Observation::RequestHead {
                        method: req.method.unwrap_or("").to_string(),
                        path: req.path.unwrap_or("").to_string(),
                    };
                    self.request_head = None;
                    self.observe(now, &obs, &mut out);
                }
                Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
                _ => self.request_head = None, // not HTTP we understand: relay blindly
            }
        }
        if self.state == State::Open {
            self.send(now, Side::Upstream, bytes.to_vec(), None, &mut out);
        }
        out
    }

    /// Bytes arrived from the server side.
    pub fn on_upstream(&mut self, now: Duration, bytes: &[u8]) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state != State::Open {
            return out;
        }
        self.observe(
            now,
            &Observation::Bytes {
                from: Side::Upstream,
                len: bytes.len(),
            },
            &mut out,
        );
        let mut body: &[u8] = bytes;
        let owned_body;
        if let Some(buf) = self.response_head.as_mut() {
            buf.extend_from_slice(bytes);
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = resp.code.unwrap_or(0);
                    let hdrs: Vec<(String, String)> = resp
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect();
                    let buf = self.response_head.take().unwrap_or_default();
                    let head = buf[..n].to_vec();
                    owned_body = buf[n..].to_vec();
                    body = &owned_body;
                    self.observe(
                        now,
                        &Observation::ResponseHead {
                            status,
                            headers: hdrs,
                        },
                        &mut out,
                    );
                    if self.state != State::Open {
                        return out;
                    }
                    self.head_sent = true;
                    let note = format!("response head, status {status}");
                    self.send(now, Side::Downstream, head, Some(note), &mut out);
                }
                Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return out,
                _ => {
                    // Not a response we understand: stop parsing and relay what we have.
                    owned_body = self.response_head.take().unwrap_or_default();
                    body = &owned_body;
                    self.head_sent = true;
                }
            }
        }
        if !body.is_empty() && self.state == State::Open {
            self.body(now, body.to_vec(), &mut out);
        }
        out
    }

    /// The server side ended: FIN, or a reset when `reset`.
    pub fn upstream_eof(&mut self, now: Duration, reset: bool) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state != State::Open {
            return out;
        }
        self.observe(now, &Observation::UpstreamEnded, &mut out);
        if self.state != State::Open {
            return out;
        }
        if !self.held.is_empty() {
            self.flush(now, "upstream ended".into(), &mut out);
        }
        out.push(Action::Record(EventKind::ConnClosed {
            by: Closer::Server,
            reason: if reset {
                "upstream reset; closing downstream".into()
            } else {
                "upstream closed; closing downstream".into()
            },
        }));
        out.push(Action::Close {
            rst: false,
            graceful: true,
        });
        self.state = State::Closed;
        out
    }

    /// The client side ended: FIN, or a reset when `reset`.
    pub fn downstream_eof(&mut self, _now: Duration, reset: bool) -> Vec<Action> {
        if self.state == State::Closed {
            return Vec::new();
        }
        self.state = State::Closed;
        vec![
            Action::Record(EventKind::ConnClosed {
                by: Closer::Client,
                reason: if reset {
                    "downstream reset; closing upstream".into()
                } else {
                    "downstream closed; closing upstream".into()
                },
            }),
            Action::CloseUpstream,
        ]
    }

    fn body(&mut self, now: Duration, bytes: Vec<u8>, out: &mut Vec<Action>) {
        // Hold before observing, so a flush this chunk triggers (a threshold reached)
        // releases the chunk too.
        let hold = self.behaviors.iter().any(|b| b.holds_response());
        let n = bytes.len();
        if hold {
            self.held.extend_from_slice(&bytes);
            out.push(Action::Record(EventKind::Buffered {
                bytes: n,
                held: self.held.len(),
            }));
        }
        self.observe(now, &Observation::ResponseBody { len: n }, out);
        if self.state != State::Open || self.behaviors.iter().any(|b| b.holds_response()) {
            return;
        }
        if !self.held.is_empty() {
            self.flush(now, "buffering no longer applies".into(), out);
        }
        if !hold {
            self.send(now, Side::Downstream, bytes, None, out);
        }
    }

    fn observe(&mut self, now: Duration, obs: &Observation, out: &mut Vec<Action>) {
        for i in 0..self.behaviors.len() {
            if self.state != State::Open {
                return;
            }
            if let Some(d) = self.behaviors[i].observe(now, obs) {
                let kind = self.behaviors[i].kind();
                self.decide(now, kind, d, out);
            }
        }
    }

    fn decide(&mut self, now: Duration, behavior: &str, d: Decision, out: &mut Vec<Action>) {
        match d {
            Decision::Flush { why } => self.flush(now, why, out),
            Decision::Close { action, reason } => {
                let action = match action {
                    CloseAction::Respond(_) if self.head_sent => CloseAction::Fin,
                    a => a,
                };
                match action {
                    CloseAction::Respond(status) => {
                        out.push(Action::Record(EventKind::IntermediaryResponded {
                            status,
                            behavior: behavior.into(),
                            reason,
                        }));
                        out.push(Action::Send {
                            to: Side::Downstream,
                            bytes: error_response(status),
                            at: now,
                        });
                        out.push(Action::Close {
                            rst: false,
                            graceful: true,
                        });
                        self.state = State::Closed;
                    }
                    CloseAction::Fin | CloseAction::Rst => {
                        out.push(Action::Record(EventKind::IntermediaryClosed {
                            behavior: behavior.into(),
                            action: action.to_string(),
                            reason,
                        }));
                        out.push(Action::Close {
                            rst: action == CloseAction::Rst,
                            graceful: false,
                        });
                        self.state = State::Closed;
                    }
                    CloseAction::Blackhole => {
                        out.push(Action::Record(EventKind::IntermediaryBlackholed {
                            behavior: behavior.into(),
                            reason,
                        }));
                        out.push(Action::Blackhole);
                        self.state = State::Blackholed;
                    }
                }
            }
        }
    }

    fn flush(&mut self, now: Duration, why: String, out: &mut Vec<Action>) {
        if self.held.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.held);
        out.push(Action::Record(EventKind::Flushed {
            bytes: bytes.len(),
            why,
        }));
        self.send(now, Side::Downstream, bytes, None, out);
    }

    fn send(
        &mut self,
        now: Duration,
        to: Side,
        bytes: Vec<u8>,
        note: Option<String>,
        out: &mut Vec<Action>,
    ) {
        let from = match to {
            Side::Upstream => Side::Downstream,
            Side::Downstream => Side::Upstream,
        };
        let delay: Duration = self.behaviors.iter_mut().map(|b| b.delay(from)).sum();
        let idx = (to == Side::Downstream) as usize;
        let at = (now + delay).max(self.last_send[idx]);
        self.last_send[idx] = at;
        let direction = match to {
            Side::Upstream => Direction::Upstream,
            Side::Downstream => Direction::Downstream,
        };
        let note = match (note, delay.is_zero()) {
            (n, true) => n,
            (Some(n), false) => Some(format!("{n}; delayed {}", crate::time::span(delay))),
            (None, false) => Some(format!("delayed {}", crate::time::span(delay))),
        };
        out.push(Action::Record(EventKind::Forwarded {
            direction,
            bytes: bytes.len(),
            note,
        }));
        out.push(Action::Send { to, bytes, at });
    }
}

/// A complete, well-formed HTTP/1.1 error response that closes the connection.
pub fn error_response(status: u16) -> Vec<u8> {
    let reason = match status {
        408 => "Request Timeout",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        524 => "A Timeout Occurred",
        _ => "Error",
    };
    let body = format!("{status} {reason}\n");
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests;
