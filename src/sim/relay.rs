//! The relay core of an intermediary: HTTP/1.1-aware byte forwarding driven by behaviors.
//!
//! ```text
//!  from_downstream(bytes) ─┐                      ┌─▶ Action::Send { to: Upstream, at }
//!  from_upstream(bytes)   ─┼─▶ Relay ─ Observation ─▶ behaviors ─ Decision ─┼─▶ Action::Send { to: Downstream, at }
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
    pub fn from_downstream(&mut self, now: Duration, bytes: &[u8]) -> Vec<Action> {
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
    pub fn from_upstream(&mut self, now: Duration, bytes: &[u8]) -> Vec<Action> {
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
mod tests {
    use super::*;
    use crate::intermediary::buffering::BufferingConfig;
    use crate::intermediary::first_byte_timeout::FirstByteTimeoutConfig;
    use crate::intermediary::idle_timeout::IdleTimeoutConfig;
    use crate::intermediary::latency::LatencyConfig;
    use crate::intermediary::max_duration::MaxDurationConfig;
    use crate::intermediary::{BehaviorConfig, BufferingMode, Watch};
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;

    const REQUEST: &[u8] =
        b"GET /mcp HTTP/1.1\r\nhost: server\r\naccept: text/event-stream\r\n\r\n";
    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n";

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn relay(configs: &[BehaviorConfig]) -> Relay {
        Relay::new(configs.iter().map(|c| c.build(7)).collect())
    }

    fn idle(after: Duration, action: CloseAction) -> BehaviorConfig {
        BehaviorConfig::IdleTimeout(IdleTimeoutConfig {
            after,
            watch: Watch::Upstream,
            action,
            after_headers: CloseAction::Fin,
        })
    }

    fn buffering(mode: BufferingMode, honor: bool) -> BehaviorConfig {
        BehaviorConfig::Buffering(BufferingConfig {
            mode,
            honor_x_accel_buffering: honor,
        })
    }

    fn first_byte(after: Duration) -> BehaviorConfig {
        BehaviorConfig::FirstByteTimeout(FirstByteTimeoutConfig { after, status: 504 })
    }

    fn max_duration(after: Duration) -> BehaviorConfig {
        BehaviorConfig::MaxDuration(MaxDurationConfig {
            after,
            action: CloseAction::Fin,
            after_headers: CloseAction::Fin,
        })
    }

    /// The `Send`s among `actions`: (to, bytes, at).
    fn sends(actions: &[Action]) -> Vec<(Side, Vec<u8>, Duration)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send { to, bytes, at } => Some((*to, bytes.clone(), *at)),
                _ => None,
            })
            .collect()
    }

    /// The recorded events among `actions`.
    fn records(actions: &[Action]) -> Vec<EventKind> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Record(k) => Some(k.clone()),
                _ => None,
            })
            .collect()
    }

    fn position(actions: &[Action], pred: impl Fn(&Action) -> bool) -> usize {
        actions
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("no such action in {actions:?}"))
    }

    /// A behavior for tests: logs what it observes, returns scripted decisions and delays.
    #[derive(Debug, Default)]
    struct Probe {
        seen: Rc<RefCell<Vec<Observation>>>,
        /// Decided at the first `ResponseBody` observation.
        on_body: Option<Decision>,
        /// Delays for successive `delay` calls; zero once used up.
        delays: VecDeque<Duration>,
    }

    impl Behavior for Probe {
        fn kind(&self) -> &'static str {
            "probe"
        }

        fn summary(&self) -> String {
            "probe".into()
        }

        fn observe(&mut self, _now: Duration, obs: &Observation) -> Option<Decision> {
            self.seen.borrow_mut().push(obs.clone());
            match obs {
                Observation::ResponseBody { .. } => self.on_body.take(),
                _ => None,
            }
        }

        fn delay(&mut self, _from: Side) -> Duration {
            self.delays.pop_front().unwrap_or_default()
        }
    }

    /// A relay with a probe first, then `configs`; returns the probe's log too.
    fn probed(probe: Probe, configs: &[BehaviorConfig]) -> (Relay, Rc<RefCell<Vec<Observation>>>) {
        let seen = probe.seen.clone();
        let mut behaviors: Vec<Box<dyn Behavior>> = vec![Box::new(probe)];
        behaviors.extend(configs.iter().map(|c| c.build(7)));
        (Relay::new(behaviors), seen)
    }

    fn request_heads(seen: &[Observation]) -> Vec<(String, String)> {
        seen.iter()
            .filter_map(|o| match o {
                Observation::RequestHead { method, path } => Some((method.clone(), path.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn request_head_split_across_chunks_is_forwarded_whole_and_observed_once() {
        let (mut r, seen) = probed(Probe::default(), &[first_byte(secs(10))]);
        r.opened(ms(0));
        assert_eq!(r.deadline(), Some(secs(10)), "armed at Opened");
        let (a, b) = REQUEST.split_at(20);

        let first = r.from_downstream(secs(1), a);
        assert_eq!(sends(&first), vec![(Side::Upstream, a.to_vec(), secs(1))]);
        assert!(request_heads(&seen.borrow()).is_empty());
        assert_eq!(
            r.deadline(),
            Some(secs(10)),
            "a partial head re-arms nothing"
        );

        let second = r.from_downstream(secs(2), b);
        assert_eq!(sends(&second), vec![(Side::Upstream, b.to_vec(), secs(2))]);
        assert_eq!(
            records(&second),
            vec![EventKind::Forwarded {
                direction: Direction::Upstream,
                bytes: b.len(),
                note: None
            }]
        );
        assert_eq!(
            request_heads(&seen.borrow()),
            vec![("GET".to_string(), "/mcp".to_string())]
        );
        assert_eq!(
            r.deadline(),
            Some(secs(12)),
            "re-armed from the request head"
        );

        // More bytes after the head (a body, a pipelined request) are not parsed again.
        r.from_downstream(secs(3), REQUEST);
        assert_eq!(request_heads(&seen.borrow()).len(), 1);
        assert_eq!(r.deadline(), Some(secs(12)));
    }

    #[test]
    fn response_head_split_across_chunks_is_held_until_complete() {
        let mut r = relay(&[]);
        r.opened(ms(0));
        r.from_downstream(ms(1), REQUEST);
        let (a, b) = HEAD.split_at(25);
        let body = b": hi\n\n";

        let first = r.from_upstream(ms(5), a);
        assert!(sends(&first).is_empty(), "{first:?}");
        assert!(records(&first).is_empty(), "{first:?}");

        let mut rest = b.to_vec();
        rest.extend_from_slice(body);
        let second = r.from_upstream(ms(6), &rest);
        assert_eq!(
            second,
            vec![
                Action::Record(EventKind::Forwarded {
                    direction: Direction::Downstream,
                    bytes: HEAD.len(),
                    note: Some("response head, status 200".into()),
                }),
                Action::Send {
                    to: Side::Downstream,
                    bytes: HEAD.to_vec(),
                    at: ms(6),
                },
                Action::Record(EventKind::Forwarded {
                    direction: Direction::Downstream,
                    bytes: body.len(),
                    note: None,
                }),
                Action::Send {
                    to: Side::Downstream,
                    bytes: body.to_vec(),
                    at: ms(6),
                },
            ]
        );

        // After the head, every chunk passes as it comes.
        let third = r.from_upstream(ms(7), b"HTTP/1.1 not a head");
        assert_eq!(
            sends(&third),
            vec![(Side::Downstream, b"HTTP/1.1 not a head".to_vec(), ms(7))]
        );
    }

    #[test]
    fn response_that_is_not_http_is_relayed_blindly() {
        let (mut r, seen) = probed(Probe::default(), &[]);
        r.opened(ms(0));
        let junk = b"\x00\x01 not http at all\r\n\r\n";
        let out = r.from_upstream(ms(2), junk);
        assert_eq!(sends(&out), vec![(Side::Downstream, junk.to_vec(), ms(2))]);
        assert!(!seen
            .borrow()
            .iter()
            .any(|o| matches!(o, Observation::ResponseHead { .. })));
    }

    /// Parses `bytes` as one complete HTTP response: (status, headers lowercased, body).
    fn parse_response(bytes: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut headers);
        let n = match resp.parse(bytes) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("not a complete response head: {other:?}"),
        };
        let hdrs = resp
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).to_ascii_lowercase(),
                )
            })
            .collect();
        (resp.code.unwrap_or(0), hdrs, bytes[n..].to_vec())
    }

    fn header<'h>(hdrs: &'h [(String, String)], name: &str) -> Option<&'h str> {
        hdrs.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn idle_timeout_before_response_head_answers_a_well_formed_504() {
        let mut r = relay(&[idle(secs(60), CloseAction::Respond(504))]);
        r.opened(ms(0));
        r.from_downstream(ms(1), REQUEST);
        assert_eq!(r.deadline(), Some(secs(60)), "watches upstream only");
        assert!(r.on_deadline(secs(59)).is_empty(), "not due yet");

        let out = r.on_deadline(secs(60));
        assert_eq!(out.len(), 3, "{out:?}");
        match &out[0] {
            Action::Record(EventKind::IntermediaryResponded {
                status,
                behavior,
                reason,
            }) => {
                assert_eq!(*status, 504);
                assert_eq!(behavior, "idle-timeout");
                assert!(reason.contains("idle-timeout 60s"), "{reason}");
            }
            other => panic!("expected IntermediaryResponded, got {other:?}"),
        }
        let Action::Send { to, bytes, at } = &out[1] else {
            panic!("expected a send, got {:?}", out[1]);
        };
        assert_eq!((*to, *at), (Side::Downstream, secs(60)));
        let (status, hdrs, body) = parse_response(bytes);
        assert_eq!(status, 504);
        assert_eq!(
            header(&hdrs, "content-length"),
            Some(body.len().to_string().as_str())
        );
        assert!(!body.is_empty());
        assert_eq!(header(&hdrs, "connection"), Some("close"));
        assert_eq!(
            out[2],
            Action::Close {
                rst: false,
                graceful: true
            }
        );

        assert_eq!(r.deadline(), None);
        assert!(r.from_upstream(secs(61), HEAD).is_empty(), "closed");
    }

    #[test]
    fn idle_timeout_after_response_head_closes_with_fin_and_no_504() {
        let mut r = relay(&[idle(secs(60), CloseAction::Respond(504))]);
        r.opened(ms(0));
        r.from_downstream(ms(1), REQUEST);
        r.from_upstream(secs(1), HEAD);
        assert_eq!(r.deadline(), Some(secs(61)));

        let out = r.on_deadline(secs(61));
        assert!(sends(&out).is_empty(), "no 504 after headers: {out:?}");
        assert_eq!(out.len(), 2, "{out:?}");
        match &out[0] {
            Action::Record(EventKind::IntermediaryClosed {
                behavior, action, ..
            }) => {
                assert_eq!(behavior, "idle-timeout");
                assert_eq!(action, "fin");
            }
            other => panic!("expected IntermediaryClosed, got {other:?}"),
        }
        assert_eq!(
            out[1],
            Action::Close {
                rst: false,
                graceful: false
            }
        );
    }

    #[test]
    fn relay_turns_a_late_respond_into_fin_itself() {
        // A behavior that asks for a 504 after the head went downstream gets a FIN instead.
        let probe = Probe {
            on_body: Some(Decision::Close {
                action: CloseAction::Respond(504),
                reason: "probe".into(),
            }),
            ..Probe::default()
        };
        let (mut r, _) = probed(probe, &[]);
        r.opened(ms(0));
        r.from_upstream(ms(1), HEAD);
        let out = r.from_upstream(ms(2), b"data: x\n\n");
        assert!(sends(&out).is_empty(), "{out:?}");
        assert_eq!(
            records(&out),
            vec![EventKind::IntermediaryClosed {
                behavior: "probe".into(),
                action: "fin".into(),
                reason: "probe".into(),
            }]
        );
        assert_eq!(
            out.last(),
            Some(&Action::Close {
                rst: false,
                graceful: false
            })
        );
    }

    #[test]
    fn buffering_threshold_holds_then_flushes_everything_in_order() {
        let mut r = relay(&[buffering(BufferingMode::Threshold { bytes: 10 }, false)]);
        r.opened(ms(0));
        r.from_downstream(ms(1), REQUEST);
        let head = r.from_upstream(ms(2), HEAD);
        assert_eq!(sends(&head), vec![(Side::Downstream, HEAD.to_vec(), ms(2))]);

        let held = r.from_upstream(ms(3), b"abcd");
        assert!(sends(&held).is_empty(), "{held:?}");
        assert_eq!(
            records(&held),
            vec![EventKind::Buffered { bytes: 4, held: 4 }]
        );
        let held = r.from_upstream(ms(4), b"efg");
        assert!(sends(&held).is_empty(), "{held:?}");
        assert_eq!(
            records(&held),
            vec![EventKind::Buffered { bytes: 3, held: 7 }]
        );

        // This chunk reaches the threshold: everything held, it included, goes at once.
        let flushed = r.from_upstream(ms(5), b"hijk");
        assert_eq!(
            sends(&flushed),
            vec![(Side::Downstream, b"abcdefghijk".to_vec(), ms(5))],
            "{flushed:?}"
        );
        assert_eq!(
            records(&flushed),
            vec![
                EventKind::Buffered { bytes: 4, held: 11 },
                EventKind::Flushed {
                    bytes: 11,
                    why: "threshold 10 bytes reached (11 held)".into()
                },
                EventKind::Forwarded {
                    direction: Direction::Downstream,
                    bytes: 11,
                    note: None
                },
            ]
        );

        // Holding starts over from nothing.
        let again = r.from_upstream(ms(6), b"lmn");
        assert!(sends(&again).is_empty(), "{again:?}");
        assert_eq!(
            records(&again),
            vec![EventKind::Buffered { bytes: 3, held: 3 }]
        );
    }

    fn head_with(extra: &str) -> Vec<u8> {
        format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n{extra}\r\n").into_bytes()
    }

    #[test]
    fn x_accel_buffering_no_disables_holding_when_honoured() {
        let threshold = BufferingMode::Threshold { bytes: 4096 };
        let head = head_with("X-Accel-Buffering: no\r\n");

        let mut honoured = relay(&[buffering(threshold.clone(), true)]);
        honoured.opened(ms(0));
        honoured.from_upstream(ms(1), &head);
        let out = honoured.from_upstream(ms(2), b"data: x\n\n");
        assert_eq!(
            sends(&out),
            vec![(Side::Downstream, b"data: x\n\n".to_vec(), ms(2))]
        );
        assert!(!records(&out)
            .iter()
            .any(|k| matches!(k, EventKind::Buffered { .. })));

        let mut ignored = relay(&[buffering(threshold, false)]);
        ignored.opened(ms(0));
        ignored.from_upstream(ms(1), &head);
        let out = ignored.from_upstream(ms(2), b"data: x\n\n");
        assert!(sends(&out).is_empty(), "{out:?}");
        assert_eq!(
            records(&out),
            vec![EventKind::Buffered { bytes: 9, held: 9 }]
        );
    }

    #[test]
    fn buffering_full_flushes_held_bytes_before_closing_on_upstream_eof() {
        let mut r = relay(&[buffering(BufferingMode::Full, false)]);
        r.opened(ms(0));
        r.from_upstream(ms(1), HEAD);
        assert!(sends(&r.from_upstream(ms(2), b"abc")).is_empty());
        assert!(sends(&r.from_upstream(ms(3), b"def")).is_empty());

        let out = r.upstream_eof(ms(4), false);
        assert_eq!(
            sends(&out),
            vec![(Side::Downstream, b"abcdef".to_vec(), ms(4))]
        );
        let flushed = position(&out, |a| {
            matches!(a, Action::Record(EventKind::Flushed { bytes: 6, .. }))
        });
        let sent = position(&out, |a| matches!(a, Action::Send { .. }));
        let closed = position(&out, |a| matches!(a, Action::Close { .. }));
        assert!(flushed < sent && sent < closed, "{out:?}");
        assert_eq!(
            out[closed],
            Action::Close {
                rst: false,
                graceful: true
            }
        );
        assert!(records(&out).contains(&EventKind::ConnClosed {
            by: Closer::Server,
            reason: "upstream closed; closing downstream".into()
        }));
        assert_eq!(r.deadline(), None);
        assert!(r.from_upstream(ms(5), b"late").is_empty());
    }

    #[test]
    fn buffering_flush_interval_releases_at_its_deadline() {
        let mut r = relay(&[buffering(
            BufferingMode::FlushInterval { every: ms(100) },
            false,
        )]);
        r.opened(ms(0));
        r.from_upstream(ms(1), HEAD);
        assert_eq!(r.deadline(), None, "nothing held, nothing due");
        assert!(sends(&r.from_upstream(ms(10), b"ab")).is_empty());
        assert!(sends(&r.from_upstream(ms(50), b"cd")).is_empty());
        assert_eq!(r.deadline(), Some(ms(110)));
        assert!(r.on_deadline(ms(109)).is_empty());
        let out = r.on_deadline(ms(110));
        assert_eq!(
            sends(&out),
            vec![(Side::Downstream, b"abcd".to_vec(), ms(110))]
        );
        assert_eq!(r.deadline(), None);
    }

    #[test]
    fn fixed_latency_delays_each_send_and_notes_it() {
        let mut r = relay(&[BehaviorConfig::Latency(LatencyConfig {
            min: ms(5),
            max: ms(5),
        })]);
        r.opened(ms(0));
        let up = r.from_downstream(ms(10), REQUEST);
        assert_eq!(sends(&up), vec![(Side::Upstream, REQUEST.to_vec(), ms(15))]);
        let down = r.from_upstream(ms(20), HEAD);
        assert_eq!(
            sends(&down),
            vec![(Side::Downstream, HEAD.to_vec(), ms(25))]
        );
        assert_eq!(
            records(&down),
            vec![EventKind::Forwarded {
                direction: Direction::Downstream,
                bytes: HEAD.len(),
                note: Some("response head, status 200; delayed 5ms".into()),
            }]
        );
        let body = r.from_upstream(ms(21), b"x");
        assert_eq!(
            sends(&body),
            vec![(Side::Downstream, b"x".to_vec(), ms(26))]
        );
    }

    #[test]
    fn sends_keep_their_order_per_direction_when_delays_shrink() {
        // First chunk delayed 50 ms, later ones 5 ms: the second must not overtake the first.
        let probe = Probe {
            delays: [ms(50), ms(5), ms(5)].into(),
            ..Probe::default()
        };
        let (mut r, _) = probed(probe, &[]);
        r.opened(ms(0));
        let first = r.from_upstream(ms(0), b"not http 1");
        let second = r.from_upstream(ms(1), b"not http 2");
        assert_eq!(sends(&first)[0].2, ms(50));
        assert_eq!(
            sends(&second)[0].2,
            ms(50),
            "clamped to the first's release"
        );
        // The other direction has its own order: not held back by downstream sends.
        let up = r.from_downstream(ms(2), b"x");
        assert_eq!(sends(&up)[0].2, ms(7));
    }

    #[test]
    fn blackhole_stops_all_forwarding() {
        let mut r = relay(&[idle(secs(1), CloseAction::Blackhole)]);
        r.opened(ms(0));
        let out = r.on_deadline(secs(1));
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(matches!(
            &out[0],
            Action::Record(EventKind::IntermediaryBlackholed { behavior, .. }) if behavior == "idle-timeout"
        ));
        assert_eq!(out[1], Action::Blackhole);

        assert!(r.from_downstream(secs(2), REQUEST).is_empty());
        assert!(r.from_upstream(secs(3), HEAD).is_empty());
        assert!(r.from_upstream(secs(4), b"data: x\n\n").is_empty());
        assert!(r.upstream_eof(secs(5), false).is_empty());
        assert_eq!(r.deadline(), None);
        // The client leaving still releases the upstream socket.
        assert_eq!(
            r.downstream_eof(secs(6), false).last(),
            Some(&Action::CloseUpstream)
        );
    }

    #[test]
    fn downstream_eof_closes_upstream_and_then_everything_is_ignored() {
        let mut r = relay(&[idle(secs(60), CloseAction::Fin)]);
        r.opened(ms(0));
        r.from_downstream(ms(1), REQUEST);
        r.from_upstream(ms(2), HEAD);
        let out = r.downstream_eof(ms(3), false);
        assert_eq!(
            out,
            vec![
                Action::Record(EventKind::ConnClosed {
                    by: Closer::Client,
                    reason: "downstream closed; closing upstream".into(),
                }),
                Action::CloseUpstream,
            ]
        );
        assert_eq!(r.deadline(), None);
        assert!(r.from_downstream(ms(4), b"more").is_empty());
        assert!(r.from_upstream(ms(4), b"data: x\n\n").is_empty());
        assert!(r.on_deadline(secs(100)).is_empty());
        assert!(r.upstream_eof(ms(5), false).is_empty());
        assert!(r.downstream_eof(ms(6), true).is_empty(), "closes once");
    }

    #[test]
    fn downstream_reset_is_worded_as_a_reset() {
        let mut r = relay(&[]);
        r.opened(ms(0));
        assert_eq!(
            records(&r.downstream_eof(ms(1), true)),
            vec![EventKind::ConnClosed {
                by: Closer::Client,
                reason: "downstream reset; closing upstream".into(),
            }]
        );
    }

    #[test]
    fn deadline_is_the_earliest_of_the_behaviors() {
        let mut r = relay(&[
            idle(secs(60), CloseAction::Fin),
            max_duration(secs(30)),
            first_byte(secs(10)),
        ]);
        assert_eq!(r.deadline(), None, "nothing armed before Opened");
        r.opened(secs(1));
        assert_eq!(r.deadline(), Some(secs(11)), "first-byte-timeout");
        r.from_downstream(secs(2), REQUEST);
        assert_eq!(r.deadline(), Some(secs(12)), "re-armed by the request");
        r.from_upstream(secs(3), HEAD);
        assert_eq!(
            r.deadline(),
            Some(secs(31)),
            "max-duration once headers came"
        );
        r.downstream_eof(secs(4), false);
        assert_eq!(r.deadline(), None);
    }

    #[test]
    fn only_the_first_due_behavior_acts_when_several_are_due() {
        let mut r = relay(&[max_duration(secs(30)), idle(secs(30), CloseAction::Rst)]);
        r.opened(ms(0));
        let out = r.on_deadline(secs(30));
        let closes: Vec<&Action> = out
            .iter()
            .filter(|a| matches!(a, Action::Close { .. }))
            .collect();
        assert_eq!(
            closes,
            vec![&Action::Close {
                rst: false,
                graceful: false
            }]
        );
        assert!(matches!(
            &records(&out)[..],
            [EventKind::IntermediaryClosed { behavior, .. }] if behavior == "max-duration"
        ));
    }

    #[test]
    fn error_response_is_well_formed_for_every_status() {
        for status in [408, 502, 503, 504, 524, 599] {
            let bytes = error_response(status);
            let (code, hdrs, body) = parse_response(&bytes);
            assert_eq!(code, status);
            assert_eq!(
                header(&hdrs, "content-length"),
                Some(body.len().to_string().as_str())
            );
            assert_eq!(header(&hdrs, "connection"), Some("close"));
        }
    }
}
