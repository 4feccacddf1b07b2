//! `event-id.unique`: a safety check on the server. Within a session, one event id names one
//! event: a client resuming with `Last-Event-ID` must be able to tell which stream and which
//! message it stopped at.
//!
//! ```text
//!   server FrameWritten{event id N} on conn C ──StreamAttached(C)──▶ (session, server stream)
//!   (session, N) written again  ─ same stream, same data ─▶ a replay: fine
//!                               ─ same stream, empty data ▶ a priming event repeating N: fine
//!                               ─ otherwise ─────────────▶ fail, naming N and both conns
//! ```
//!
//! A connection's server stream is the one its `ReplayStarted` replays, else the one
//! `StreamAttached` names; without either, only the data is compared. This file also holds the
//! server-side view of event writes that `replay.complete` reuses.

use super::client_stream::{client_sessions, outcome, session_at, summarise, SERVER};
use super::{CheckOutcome, Verdict};
use crate::sse::Frame;
use crate::time::stamp;
use crate::trace::{ConnId, EventKind, Trace};
use std::collections::BTreeMap;
use std::time::Duration;

/// The check id.
pub const ID: &str = "event-id.unique";

/// One event with an id the server wrote.
#[derive(Debug)]
pub(super) struct Write<'t> {
    pub at: Duration,
    pub conn: Option<ConnId>,
    pub id: &'t str,
    pub data: &'t str,
    /// For an event no connection took (`EventHeldBack`): its session and server stream.
    pub held: Option<(&'t str, &'t str)>,
}

/// Every event with an id the server wrote on a connection, in write order.
pub(super) fn server_writes(trace: &Trace) -> Vec<Write<'_>> {
    server_events(trace)
        .into_iter()
        .filter(|w| w.held.is_none())
        .collect()
}

/// [`server_writes`] and the events the server held back (no connection took them, see
/// `EventHeldBack`), in trace order.
pub(super) fn server_events(trace: &Trace) -> Vec<Write<'_>> {
    trace
        .events
        .iter()
        .filter(|e| e.host == SERVER)
        .filter_map(|e| match &e.kind {
            EventKind::FrameWritten {
                frame: Frame::Event {
                    id: Some(id), data, ..
                },
                ..
            } => Some(Write {
                at: e.at,
                conn: e.conn,
                id,
                data,
                held: None,
            }),
            EventKind::EventHeldBack {
                stream,
                session,
                id,
                data,
                ..
            } => Some(Write {
                at: e.at,
                conn: None,
                id,
                data,
                held: Some((session, stream)),
            }),
            _ => None,
        })
        .collect()
}

/// What the server said a connection carries: its session and server stream.
#[derive(Debug, Default)]
pub(super) struct Attachment<'t> {
    pub session: Option<&'t str>,
    pub stream: Option<&'t str>,
    /// `session` came from `StreamAttached`.
    attached: bool,
}

/// The server's attachments by connection: the session from `StreamAttached` (else from
/// `RpcReceived` or `SessionCreated` on it, or the `Mcp-Session-Id` of its answer), the stream from `ReplayStarted` (the stream
/// replayed) or else `StreamAttached`.
pub(super) fn attachments(trace: &Trace) -> BTreeMap<ConnId, Attachment<'_>> {
    let mut out: BTreeMap<ConnId, Attachment<'_>> = BTreeMap::new();
    for e in trace.events.iter().filter(|e| e.host == SERVER) {
        let Some(c) = e.conn else { continue };
        match &e.kind {
            EventKind::StreamAttached {
                stream, session, ..
            } => {
                let a = out.entry(c).or_default();
                // What the server says the stream belongs to wins over the request's header.
                if !a.attached {
                    a.session = Some(session);
                    a.attached = true;
                }
                a.stream.get_or_insert(stream);
            }
            EventKind::ReplayStarted { stream, .. } => {
                out.entry(c).or_default().stream = Some(stream);
            }
            // Servers that do not say which stream a connection carries (real
            // implementations behind an adapter) still say its session: the one the request
            // named, or the one its answer created.
            EventKind::RpcReceived {
                session: Some(session),
                ..
            }
            | EventKind::SessionCreated { session } => {
                out.entry(c).or_default().session.get_or_insert(session);
            }
            // A GET carries no JSON-RPC message: its answer names the session.
            EventKind::ResponseStarted { headers, .. } => {
                if let Some((_, session)) = headers.iter().find(|(k, _)| k == "mcp-session-id") {
                    out.entry(c).or_default().session.get_or_insert(session);
                }
            }
            _ => {}
        }
    }
    out
}

/// Evaluates `event-id.unique`: every collision, each named with its connections, server
/// streams and session.
pub fn evaluate(trace: &Trace, end: Duration) -> CheckOutcome {
    let writes = server_events(trace);
    if writes.is_empty() {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            "the server wrote no event ids; nothing to check",
        );
    }
    let attached = attachments(trace);
    // A connection whose session the server does not say (a GET through an adapter carries
    // no JSON-RPC) is on the session the client held when it sent its request.
    let sessions = client_sessions(trace);
    let sent: BTreeMap<ConnId, Duration> = trace
        .events
        .iter()
        .filter(|e| e.host == "client" && matches!(e.kind, EventKind::RequestSent { .. }))
        .filter_map(|e| Some((e.conn?, e.at)))
        .rev()
        .collect();
    let of = |c: Option<ConnId>| c.and_then(|c| attached.get(&c));
    let session = |c: Option<ConnId>| {
        of(c).and_then(|a| a.session).or_else(|| {
            let at = sent.get(&c?)?;
            session_at(&sessions, *at)
        })
    };
    let stream = |c| of(c).and_then(|a| a.stream);
    // Each write's session and server stream (a held-back event names its own).
    let keys: Vec<(Option<&str>, Option<&str>)> = writes
        .iter()
        .map(|w| match w.held {
            Some((session, stream)) => (Some(session), Some(stream)),
            None => (session(w.conn), stream(w.conn)),
        })
        .collect();
    let mut first: BTreeMap<(Option<&str>, &str), usize> = BTreeMap::new();
    let mut collisions: Vec<(Duration, String)> = Vec::new();
    for (i, w) in writes.iter().enumerate() {
        let (session_of_w, stream_of_w) = keys[i];
        let Some(&fi) = first.get(&(session_of_w, w.id)) else {
            first.insert((session_of_w, w.id), i);
            continue;
        };
        let (f, stream_of_f) = (&writes[fi], keys[fi].1);
        let other_stream = matches!((stream_of_f, stream_of_w), (Some(a), Some(b)) if a != b);
        if !other_stream && (w.data == f.data || w.data.is_empty()) {
            continue;
        }
        let why = match (other_stream, w.data != f.data) {
            (true, true) => "another stream and other data",
            (true, false) => "another stream",
            _ => "other data",
        };
        collisions.push((
            w.at,
            format!(
                "{} reused event id {}{} at {} for a different event ({why}) than {} at {}",
                where_(w.conn, stream_of_w),
                w.id,
                session_of_w
                    .map(|s| format!(" of session {s}"))
                    .unwrap_or_default(),
                stamp(w.at),
                where_(f.conn, stream_of_f),
                stamp(f.at)
            ),
        ));
    }
    if let Some((at, _)) = collisions.first() {
        let at = *at;
        let n = collisions.len();
        let all: Vec<String> = collisions.into_iter().map(|(_, m)| m).collect();
        let msg = if n == 1 {
            all.join("")
        } else {
            format!("{n} collisions: {}", summarise(all))
        };
        return outcome(ID, Verdict::Fail, Some(at), msg);
    }
    let mut named: Vec<&str> = first.keys().filter_map(|(s, _)| *s).collect();
    named.sort_unstable();
    named.dedup();
    let unknown = first.keys().filter(|(s, _)| s.is_none()).count();
    let sessions = match (named.len(), unknown) {
        (1, 0) => "1 session".to_string(),
        (n, 0) => format!("{n} sessions"),
        (0, _) => "no session the trace names".to_string(),
        (n, u) => format!(
            "{n} session{} (and {u} id{} on connections of no known session)",
            if n == 1 { "" } else { "s" },
            if u == 1 { "" } else { "s" }
        ),
    };
    let at = writes.last().map_or(end, |w| w.at);
    let ids = first.len();
    outcome(
        ID,
        Verdict::Pass,
        Some(at),
        format!(
            "{ids} event id{} in {sessions} each named one event ({} write{}, replays included)",
            if ids == 1 { "" } else { "s" },
            writes.len(),
            if writes.len() == 1 { "" } else { "s" }
        ),
    )
}

/// `conn#4 (server stream g1)`, `conn#4`, or `the server` without a connection.
fn where_(conn: Option<ConnId>, stream: Option<&str>) -> String {
    match (conn, stream) {
        (Some(c), Some(s)) => format!("{c} (server stream {s})"),
        (Some(c), None) => c.to_string(),
        (None, Some(s)) => format!("the server (held back on stream {s})"),
        (None, None) => "the server".into(),
    }
}

#[cfg(test)]
mod tests;
