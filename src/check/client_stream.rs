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
mod tests;
