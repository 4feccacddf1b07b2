//! One client stream as the checks see it: a connection the client opened, the events of
//! every host on it, and how it ended ([`Fate`]).
//!
//! ```text
//!   Trace ──select(stream name)──▶ [ClientStream]  ──fate()────▶ open / closed by client /
//!                                       │                        died (who, why) / never connected
//!                                       └──span_end()──▶ first client end, or the scenario's end
//! ```
//!
//! Everything here reads the trace only; the check files build their verdicts on top.

use super::{CheckOutcome, Verdict};
use crate::sse::Frame;
use crate::time::{span, stamp};
use crate::trace::{Closer, ConnId, Event, EventKind, StreamEnd, Trace};
use std::time::Duration;

/// The host name the runner uses for the client.
const CLIENT: &str = "client";
/// The host name the runner uses for the server.
pub(crate) const SERVER: &str = "server";

/// One connection the client opened (or tried to) for a named stream.
#[derive(Debug)]
pub(crate) struct ClientStream<'t> {
    /// The connection, `None` when a connect failed before an id was given.
    pub conn: Option<ConnId>,
    /// The stream name from the scenario's client timeline.
    pub name: &'t str,
    /// The intermediaries (and server) the client routed through; empty when unknown.
    pub route: &'t [String],
    /// When the client opened (or tried to open) the connection.
    pub opened_at: Duration,
    /// Every event of the connection, any host, in trace order.
    pub events: Vec<&'t Event>,
    /// The scenario's end (when the client closes everything).
    pub scenario_end: Duration,
    trace: &'t Trace,
}

/// How a client stream ended, from the first ending event on its connection.
#[derive(Debug)]
pub(crate) enum Fate<'t> {
    /// Nothing ended it before the trace stops.
    Open,
    /// The client closed it itself at `at`.
    ClosedByClient { at: Duration },
    /// Something other than the client ended it (or stopped its bytes).
    Died(Death<'t>),
    /// The client never connected.
    Failed { at: Duration, error: &'t str },
}

/// How an intermediary, the server or a fault ended a stream.
#[derive(Debug)]
pub(crate) struct Death<'t> {
    /// Virtual time of the first ending event.
    pub at: Duration,
    /// Who ended it when known: an intermediary's name, `server` or `fault`.
    pub by: Option<String>,
    /// Why, in words (e.g. `idle-timeout 60s, upstream silent since 00:00:01.003`).
    pub why: String,
    /// The event that ended it (an intermediary decision, a close, a stream end).
    pub event: &'t Event,
}

impl Death<'_> {
    /// The intermediary that decided to end the stream, when the death is a decision event.
    pub fn intermediary(&self) -> Option<&str> {
        match self.event.kind {
            EventKind::IntermediaryClosed { .. }
            | EventKind::IntermediaryResponded { .. }
            | EventKind::IntermediaryBlackholed { .. } => Some(&self.event.host),
            _ => None,
        }
    }

    /// A sentence fragment, e.g. `closed at 00:01:00.003 by nginx (idle-timeout 60s, …)`.
    pub fn sentence(&self) -> String {
        let by = self
            .by
            .as_ref()
            .map(|b| format!(" by {b}"))
            .unwrap_or_default();
        let at = stamp(self.at);
        match &self.event.kind {
            EventKind::IntermediaryResponded { status, .. } => {
                format!("was answered {status} at {at}{by} ({})", self.why)
            }
            EventKind::IntermediaryBlackholed { .. } => format!(
                "was blackholed at {at}{by} ({}): no bytes pass any more",
                self.why
            ),
            EventKind::StreamEnded { .. } => format!("ended at {at}{by} ({})", self.why),
            _ => format!("closed at {at}{by} ({})", self.why),
        }
    }
}

impl<'t> ClientStream<'t> {
    /// `conn#1 (stream main)`, or `stream main` when no connection id exists.
    pub fn label(&self) -> String {
        match self.conn {
            Some(c) => format!("{c} (stream {})", self.name),
            None => format!("stream {}", self.name),
        }
    }

    fn client_events(&self) -> impl Iterator<Item = &'t Event> + '_ {
        self.events.iter().copied().filter(|e| e.host == CLIENT)
    }

    /// When the client sent its request head.
    pub fn request_sent(&self) -> Option<Duration> {
        self.client_events()
            .find(|e| matches!(e.kind, EventKind::RequestSent { .. }))
            .map(|e| e.at)
    }

    /// When the client received response headers, and their status.
    pub fn response(&self) -> Option<(Duration, u16)> {
        self.client_events().find_map(|e| match e.kind {
            EventKind::ResponseReceived { status, .. } => Some((e.at, status)),
            _ => None,
        })
    }

    /// The request head the client sent: method and `Last-Event-ID`, when it sent one.
    pub fn request_head(&self) -> Option<(&'t str, Option<&'t str>)> {
        self.client_events().find_map(|e| match &e.kind {
            EventKind::RequestSent {
                method,
                last_event_id,
                ..
            } => Some((method.as_str(), last_event_id.as_deref())),
            _ => None,
        })
    }

    /// The path of the request the client sent, when it sent one.
    pub fn request_path(&self) -> Option<&'t str> {
        self.client_events().find_map(|e| match &e.kind {
            EventKind::RequestSent { path, .. } => Some(path.as_str()),
            _ => None,
        })
    }

    /// A long-polling request of the MCP client (`GET /mcp?poll=1`, a middlebox extension).
    pub fn is_poll(&self) -> bool {
        self.request_path().is_some_and(is_poll_path)
    }

    /// When the client saw the connection end, and whether it ended it itself: its first
    /// `StreamEnded`, `ConnClosed` or `ConnFailed`; `None` while it stayed open.
    pub fn client_end(&self) -> Option<(Duration, bool)> {
        self.client_events().find_map(|e| match &e.kind {
            EventKind::ConnClosed {
                by: Closer::Client, ..
            } => Some((e.at, true)),
            EventKind::StreamEnded { .. }
            | EventKind::ConnClosed { .. }
            | EventKind::ConnFailed { .. } => Some((e.at, false)),
            _ => None,
        })
    }

    /// The response's content type, when headers with one reached the client.
    pub fn content_type(&self) -> Option<&'t str> {
        self.client_events().find_map(|e| match &e.kind {
            EventKind::ResponseReceived { content_type, .. } => content_type.as_deref(),
            _ => None,
        })
    }

    /// A plain request/response exchange (a 2xx answer that is not an event stream, e.g. the
    /// JSON answer to `initialize`), which is not a stream at all.
    /// A `202 Accepted` without a body (the answer to a notification) counts too.
    pub fn is_plain_exchange(&self) -> bool {
        matches!(self.response(), Some((_, s)) if (200..300).contains(&s))
            && !self
                .content_type()
                .is_some_and(|ct| ct.trim_start().starts_with("text/event-stream"))
    }

    /// A `POST` whose JSON-RPC answer reached the client on it before it ended (an MCP
    /// `initialize` or tool call answered over SSE): an exchange that ends by design once
    /// answered, not a stream to keep alive.
    pub fn is_answered_post(&self) -> bool {
        let Some(end) = self.ended_at() else {
            return false;
        };
        matches!(self.request_head(), Some(("POST", _)))
            && self
                .client_events()
                .any(|e| e.at <= end && matches!(e.kind, EventKind::RpcAnswered { .. }))
    }

    /// A 2xx answer with `text/event-stream`: a stream the server keeps alive.
    pub fn is_event_stream(&self) -> bool {
        matches!(self.response(), Some((_, s)) if (200..300).contains(&s))
            && self
                .content_type()
                .is_some_and(|ct| ct.trim_start().starts_with("text/event-stream"))
    }

    /// When the client saw the connection end (its first `StreamEnded`, `ConnClosed` or
    /// `ConnFailed`), `None` while it stayed open.
    pub fn ended_at(&self) -> Option<Duration> {
        self.client_events()
            .find(|e| {
                matches!(
                    e.kind,
                    EventKind::StreamEnded { .. }
                        | EventKind::ConnClosed { .. }
                        | EventKind::ConnFailed { .. }
                )
            })
            .map(|e| e.at)
    }

    /// Every frame that reached the client within [`Self::span_end`], with its time.
    pub fn received_frames(&self) -> impl Iterator<Item = (Duration, &'t Frame)> + '_ {
        self.received()
            .flat_map(|(at, _, frames)| frames.iter().map(move |f| (at, f)))
    }

    /// The end of the span the client saw: its first `StreamEnded`, `ConnClosed` or
    /// `ConnFailed` on this connection, or the scenario's end, whichever comes first.
    pub fn span_end(&self) -> Duration {
        self.client_events()
            .find(|e| {
                matches!(
                    e.kind,
                    EventKind::StreamEnded { .. }
                        | EventKind::ConnClosed { .. }
                        | EventKind::ConnFailed { .. }
                )
            })
            .map_or(self.scenario_end, |e| e.at.min(self.scenario_end))
    }

    /// The body chunks that reached the client within [`Self::span_end`]: time, byte count
    /// and the frames parsed from them.
    pub fn received(&self) -> impl Iterator<Item = (Duration, usize, &'t [Frame])> + '_ {
        let end = self.span_end();
        self.client_events().filter_map(move |e| match &e.kind {
            EventKind::Received { bytes, frames } if e.at <= end => {
                Some((e.at, *bytes, frames.as_slice()))
            }
            _ => None,
        })
    }

    /// How the stream ended: the first ending event on the connection, in trace order.
    pub fn fate(&self) -> Fate<'t> {
        for (i, e) in self.events.iter().copied().enumerate() {
            match &e.kind {
                EventKind::ConnFailed { error, .. } if e.host == CLIENT => {
                    return Fate::Failed { at: e.at, error };
                }
                EventKind::ConnClosed {
                    by: Closer::Client, ..
                } if e.host == CLIENT => return Fate::ClosedByClient { at: e.at },
                EventKind::ConnClosed { by, reason } if *by != Closer::Client => {
                    return Fate::Died(Death {
                        at: e.at,
                        by: Some(closer_name(by)),
                        why: reason.clone(),
                        event: e,
                    });
                }
                EventKind::StreamEnded { how } if e.host == CLIENT => {
                    return Fate::Died(self.ended(i, e, how));
                }
                EventKind::IntermediaryClosed {
                    behavior, reason, ..
                }
                | EventKind::IntermediaryResponded {
                    behavior, reason, ..
                }
                | EventKind::IntermediaryBlackholed { behavior, reason } => {
                    return Fate::Died(Death {
                        at: e.at,
                        by: Some(e.host.clone()),
                        why: explain(self.trace, &e.host, behavior, reason),
                        event: e,
                    });
                }
                _ => {}
            }
        }
        Fate::Open
    }

    /// A death seen first as the client's `StreamEnded` (event `i`): who closed it comes from
    /// a later `ConnClosed` on the connection when the client learned it.
    fn ended(&self, i: usize, e: &'t Event, how: &StreamEnd) -> Death<'t> {
        let closer = self.events[i + 1..].iter().find_map(|l| match &l.kind {
            EventKind::ConnClosed { by, reason } if *by != Closer::Client => {
                Some((closer_name(by), reason.as_str()))
            }
            _ => None,
        });
        let what = match how {
            StreamEnd::Complete => "response complete".to_string(),
            StreamEnd::Truncated => "no response terminator".to_string(),
            StreamEnd::Reset => "connection reset".to_string(),
            StreamEnd::Error(m) => format!("transport error: {m}"),
        };
        let (by, why) = match closer {
            Some((by, reason)) if !reason.is_empty() => (Some(by), format!("{what}; {reason}")),
            Some((by, _)) => (Some(by), what),
            None if *how == StreamEnd::Complete => (Some(SERVER.to_string()), what),
            None => (None, what),
        };
        Death {
            at: e.at,
            by,
            why,
            event: e,
        }
    }

    /// A phrase naming what the client saw of the response, for failure messages:
    /// `no response`, `response 504`, or empty for a 2xx.
    pub fn response_note(&self) -> String {
        match self.response() {
            None => "no response".into(),
            Some((_, s)) if (200..300).contains(&s) => String::new(),
            Some((_, s)) => format!("response {s}"),
        }
    }

    /// Whether an intermediary named `host` is on this stream's route (true when the route
    /// is unknown).
    pub fn routes_through(&self, host: &str) -> bool {
        self.route.is_empty() || self.route.iter().any(|h| h == host)
    }
}

/// `nginx`, `server`, `client`, `fault`.
fn closer_name(by: &Closer) -> String {
    match by {
        Closer::Client => CLIENT.into(),
        Closer::Server => SERVER.into(),
        Closer::Intermediary(n) => n.clone(),
        Closer::Fault => "fault".into(),
    }
}

/// Why an intermediary decided, as `idle-timeout 60s, upstream silent since …`: the decision's
/// reason when it names its behavior (a trailing `(…)` becomes `, …`), otherwise the behavior
/// and its announced limit, then the reason.
pub(crate) fn explain(trace: &Trace, host: &str, behavior: &str, reason: &str) -> String {
    let reason = reason.trim();
    if reason.starts_with(behavior) {
        if let (Some(open), true) = (reason.find(" ("), reason.ends_with(')')) {
            return format!(
                "{}, {}",
                &reason[..open],
                &reason[open + 2..reason.len() - 1]
            );
        }
        return reason.to_string();
    }
    let limit = trace
        .limits()
        .into_iter()
        .find(|(h, l)| h == host && l.behavior == behavior)
        .map(|(_, l)| format!("{behavior} {}", span(l.after)))
        .unwrap_or_else(|| behavior.to_string());
    if reason.is_empty() {
        limit
    } else {
        format!("{limit}, {reason}")
    }
}

/// A list of labels for a message: all of them up to five, else the first three, how many
/// more, and the last.
pub(crate) fn summarise(labels: Vec<String>) -> String {
    if labels.len() > 5 {
        format!(
            "{}, … {} more …, {}",
            labels[..3].join(", "),
            labels.len() - 4,
            labels[labels.len() - 1]
        )
    } else {
        labels.join(", ")
    }
}

/// A request path of the MCP client's long-polling fallback (`/mcp?poll=1`).
pub(crate) fn is_poll_path(path: &str) -> bool {
    path.split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|kv| kv == "poll=1"))
}

/// The sessions the client established, in order, with when it got each.
pub(crate) fn client_sessions(trace: &Trace) -> Vec<(Duration, &str)> {
    trace
        .events
        .iter()
        .filter(|e| e.host == "client")
        .filter_map(|e| match &e.kind {
            EventKind::SessionEstablished { session } => Some((e.at, session.as_str())),
            _ => None,
        })
        .collect()
}

/// The session the client held at `at`: the last one it established by then.
pub(crate) fn session_at<'t>(sessions: &[(Duration, &'t str)], at: Duration) -> Option<&'t str> {
    sessions
        .iter()
        .rev()
        .find(|(t, _)| *t <= at)
        .map(|(_, s)| *s)
}

/// Whether the trace has an MCP client (it sent JSON-RPC or delivered server messages).
pub(crate) fn has_mcp_client(trace: &Trace) -> bool {
    trace.events.iter().any(|e| {
        e.host == CLIENT
            && matches!(
                e.kind,
                EventKind::RpcSent { .. }
                    | EventKind::MessageDelivered { .. }
                    | EventKind::RpcAnswered { .. }
                    | EventKind::SessionEstablished { .. }
            )
    })
}

/// The earliest of `failures` (time, message) as a failing outcome of check `id`.
pub(crate) fn earliest_failure(
    id: &str,
    failures: Vec<(Duration, String)>,
) -> Option<CheckOutcome> {
    failures
        .into_iter()
        .min_by_key(|(at, _)| *at)
        .map(|(at, msg)| outcome(id, Verdict::Fail, Some(at), msg))
}

/// An outcome of check `id`.
pub(crate) fn outcome(
    id: &str,
    verdict: Verdict,
    at: Option<Duration>,
    message: impl Into<String>,
) -> CheckOutcome {
    CheckOutcome {
        id: id.to_string(),
        verdict,
        at,
        message: message.into(),
    }
}

/// The client streams a check looks at: those named `stream`, or (for `None`) every stream
/// except request/response exchanges (plain ones, and POSTs answered over SSE that ended
/// once answered). `Err` carries the outcome when there is nothing to look at: a named
/// stream never opened fails; no stream at all is unobservable.
pub(crate) fn select<'t>(
    id: &str,
    trace: &'t Trace,
    stream: Option<&str>,
    end: Duration,
) -> Result<Vec<ClientStream<'t>>, CheckOutcome> {
    let all = client_streams(trace, end);
    let chosen: Vec<ClientStream<'t>> = match stream {
        Some(n) => all.into_iter().filter(|s| s.name == n).collect(),
        None => {
            let (plain, streams): (Vec<_>, Vec<_>) = all
                .into_iter()
                .partition(|s| s.is_plain_exchange() || s.is_answered_post());
            if streams.is_empty() && !plain.is_empty() {
                let names = plain.iter().map(|s| s.label()).collect::<Vec<_>>();
                return Err(outcome(
                    id,
                    Verdict::Unobservable,
                    None,
                    format!(
                        "the client opened no event stream, only request/response exchanges ({}); nothing to check",
                        names.join(", ")
                    ),
                ));
            }
            streams
        }
    };
    if !chosen.is_empty() {
        return Ok(chosen);
    }
    let opened =
        trace
            .streams()
            .into_iter()
            .map(|(_, n, _)| n)
            .fold(Vec::<String>::new(), |mut v, n| {
                if !v.contains(&n) {
                    v.push(n);
                }
                v
            });
    Err(match stream {
        Some(n) if opened.is_empty() => outcome(
            id,
            Verdict::Fail,
            Some(end),
            format!("stream {n} was never opened (the client opened no stream)"),
        ),
        Some(n) => outcome(
            id,
            Verdict::Fail,
            Some(end),
            format!(
                "stream {n} was never opened (the client opened: {})",
                opened.join(", ")
            ),
        ),
        None => outcome(
            id,
            Verdict::Unobservable,
            None,
            "the client opened no stream; nothing to check",
        ),
    })
}

/// The client connections of each logical stream (a first connection and its reconnects),
/// as indexes into `all`, in order.
pub(crate) fn logical_streams(all: &[ClientStream<'_>]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    // The open group of each stream name: its index in `out`.
    let mut open: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for (i, s) in all.iter().enumerate() {
        let post = matches!(s.request_head(), Some(("POST", _)));
        let continues = open.get(s.name).filter(|_| !post).copied();
        match continues {
            Some(g) => out[g].push(i),
            None => {
                open.insert(s.name, out.len());
                out.push(vec![i]);
            }
        }
        if matches!(s.fate(), Fate::ClosedByClient { .. }) {
            open.remove(s.name);
        }
    }
    out
}

/// Every connection the client opened, plus connects that failed without one, in order.
pub(crate) fn client_streams(trace: &Trace, end: Duration) -> Vec<ClientStream<'_>> {
    let mut out: Vec<ClientStream<'_>> = Vec::new();
    // Every connection's events, in one pass (a filter per connection would cost
    // connections × events: minutes for 10,000 streams).
    let mut by_conn: std::collections::BTreeMap<ConnId, Vec<&Event>> =
        std::collections::BTreeMap::new();
    for e in &trace.events {
        if let Some(c) = e.conn {
            by_conn.entry(c).or_default().push(e);
        }
    }
    for e in trace.events.iter().filter(|e| e.host == CLIENT) {
        let (name, route) = match &e.kind {
            EventKind::ConnOpened { stream, route } => (stream.as_str(), route.as_slice()),
            EventKind::ConnFailed { stream, .. }
                if e.conn.is_none() || !out.iter().any(|s| s.conn == e.conn) =>
            {
                (stream.as_str(), &[][..])
            }
            _ => continue,
        };
        let events = match e.conn {
            Some(c) => by_conn.get(&c).cloned().unwrap_or_default(),
            None => vec![e],
        };
        out.push(ClientStream {
            conn: e.conn,
            name,
            route,
            opened_at: e.at,
            events,
            scenario_end: end,
            trace,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::TraceBuilder;

    #[test]
    fn explain_rewrites_a_behavior_reason_and_fills_in_the_limit() {
        let t = TraceBuilder::new()
            .intermediary("nginx", &[("idle-timeout", 60_000)])
            .build();
        assert_eq!(
            explain(
                &t,
                "nginx",
                "idle-timeout",
                "idle-timeout 60s (upstream silent since 00:00:01.003)"
            ),
            "idle-timeout 60s, upstream silent since 00:00:01.003"
        );
        assert_eq!(
            explain(
                &t,
                "nginx",
                "idle-timeout",
                "upstream silent since 00:00:01.003"
            ),
            "idle-timeout 60s, upstream silent since 00:00:01.003"
        );
        assert_eq!(explain(&t, "nginx", "max-duration", ""), "max-duration");
    }

    #[test]
    fn fate_prefers_the_intermediary_decision_over_the_client_end() {
        let t = TraceBuilder::new()
            .intermediary("nginx", &[("idle-timeout", 60_000)])
            .stream(1, "main", 1_000)
            .closed_by_intermediary(61_003, 1, "nginx", "idle-timeout", "upstream silent")
            .ended(61_004, 1, StreamEnd::Truncated)
            .build();
        let s = select("x", &t, None, Duration::from_secs(600)).unwrap();
        match s[0].fate() {
            Fate::Died(d) => {
                assert_eq!(d.intermediary(), Some("nginx"));
                assert_eq!(d.at, Duration::from_millis(61_003));
                assert_eq!(d.why, "idle-timeout 60s, upstream silent");
            }
            f => panic!("unexpected fate {f:?}"),
        }
        assert_eq!(s[0].span_end(), Duration::from_millis(61_004));
    }

    #[test]
    fn a_stream_end_learns_its_closer_from_a_later_close() {
        let t = TraceBuilder::new()
            .stream(1, "main", 0)
            .ended(5_000, 1, StreamEnd::Reset)
            .conn_closed(5_000, 1, Closer::Fault, "partition")
            .build();
        let s = select("x", &t, Some("main"), Duration::from_secs(60)).unwrap();
        let Fate::Died(d) = s[0].fate() else {
            panic!("expected a death")
        };
        assert_eq!(d.by.as_deref(), Some("fault"));
        assert_eq!(
            d.sentence(),
            "ended at 00:00:05.000 by fault (connection reset; partition)"
        );
    }

    #[test]
    fn plain_exchanges_are_not_streams_unless_named() {
        let t = TraceBuilder::new()
            .open(0, 1, "initialize")
            .request(0, 1)
            .response_typed(4, 1, 200, "application/json")
            .ended(5, 1, StreamEnd::Complete)
            .build();
        let err = select("x", &t, None, Duration::from_secs(60)).unwrap_err();
        assert_eq!(err.verdict, Verdict::Unobservable);
        assert!(
            err.message.contains("conn#1 (stream initialize)"),
            "{}",
            err.message
        );
        assert_eq!(
            select("x", &t, Some("initialize"), Duration::from_secs(60))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_post_answered_over_sse_is_an_exchange_unless_named() {
        // An SDK answers initialize over SSE and ends the response: no stream to judge.
        let t = TraceBuilder::new()
            .post(1, "initialize", 0, "text/event-stream")
            .rpc_answered(4, 1, 1, "ok")
            .ended(5, 1, StreamEnd::Complete)
            .stream(2, "get", 1_000)
            .build();
        let s = select("x", &t, None, Duration::from_secs(60)).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name, "get");
        assert_eq!(
            select("x", &t, Some("initialize"), Duration::from_secs(60))
                .unwrap()
                .len(),
            1
        );
        // Unanswered when it ended: still a stream (it died).
        let t = TraceBuilder::new()
            .post(1, "call", 0, "text/event-stream")
            .ended(5, 1, StreamEnd::Truncated)
            .build();
        assert_eq!(
            select("x", &t, None, Duration::from_secs(60))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_failed_connect_without_an_id_is_still_a_stream() {
        let t = TraceBuilder::new()
            .failed(0, None, "main", "connection refused")
            .build();
        let s = select("x", &t, Some("main"), Duration::from_secs(60)).unwrap();
        assert_eq!(s[0].label(), "stream main");
        assert!(matches!(
            s[0].fate(),
            Fate::Failed {
                error: "connection refused",
                ..
            }
        ));
    }
}
