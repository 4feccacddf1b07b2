//! `delivery.exactly-once`: an end-to-end check on the MCP layer. Every JSON-RPC message the
//! server wrote to the client reaches the client application once: not lost on a drop, not
//! dropped by the client, not handed over twice after a replay.
//!
//! ```text
//!   server, conn C: message writes w1 w2 w3 …  (SSE events with data, in write order)
//!   client, conn C: receipts       r1 r2 …     (the same events, in arrival order: rk ↔ wk)
//!   client:         deliveries     d(r1) …     (MessageDelivered, matched to a receipt by
//!                                               message and event id)
//!   a message = one write, or an event id written again with the same data (a replay)
//!        0 deliveries ─ written before its stream ended for good ─▶ fail (lost or dropped)
//!                     ─ written after the client closed it / the end ▶ excused
//!        2+ deliveries ─────────────────────────────────────────────▶ fail (duplicate)
//!   JSON answer to request #K on C ──▶ client MessageDelivered "response K" or RpcAnswered #K
//! ```
//!
//! Messages are identified by what was written, not by event id: the k-th message the server
//! wrote on a connection is the k-th one the client received on it (TCP and the intermediaries
//! keep the order), so a message with no id, or with an id already used (say by a priming
//! event), is judged like any other. Writes of one event id with the same data in one session
//! are one message (the original and its replays). Only conns the client opened count. A
//! stream ends for good when its last connection ends: the client's own close, the scenario's
//! end, or a drop the client never resumed; reconnects with `Last-Event-ID` continue the
//! stream, a new `POST` or a fresh open after the client's close starts a new one (see
//! [`logical_streams`]). An event the server held back (`EventHeldBack`: no connection
//! carried its stream) is a message too, judged with its stream's last connection: kept, it
//! must reach the application by a replay; not kept (no event store), it is lost (held back
//! on a session the client no longer used, it is left to `session.survives`). A delivery
//! that matches nothing the server wrote fails too. On a run the harness stopped, what was
//! still in flight on a stream open at the stop is not judged.

use super::client_stream::{
    client_sessions, client_streams, outcome, session_at, ClientStream, Fate, SERVER,
};
use super::event_id_unique::attachments;
use super::{CheckOutcome, Verdict};
use crate::sse::{is_blank, Frame};
use crate::time::stamp;
use crate::trace::{ConnId, EventKind, Trace};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The check id.
pub const ID: &str = "delivery.exactly-once";

pub(super) use super::client_stream::logical_streams;

/// When a logical stream ended for good: its last connection's end (the client's close, a
/// drop never resumed) or the scenario's end while it was open.
fn ended_for_good(last: &ClientStream<'_>, end: Duration) -> (Duration, bool) {
    match last.fate() {
        Fate::ClosedByClient { at } => (at.min(end), true),
        Fate::Open => (end, false),
        _ => (last.span_end(), false),
    }
}

/// An SSE event with data the server wrote on a client connection.
struct Write<'t> {
    at: Duration,
    conn: ConnId,
    id: Option<&'t str>,
    data: &'t str,
    /// What the client application would be told it got: a method, or `response K`.
    what: String,
    /// The client's receipt of it: when, and the index into `receipts`.
    receipt: Option<usize>,
    /// An event no connection took (`EventHeldBack`; `conn` is then the client connection
    /// last attached to its stream): whether the server kept it for a replay.
    held: Option<bool>,
}

/// An SSE event with data the client received.
struct Receipt<'t> {
    at: Duration,
    conn: ConnId,
    id: Option<&'t str>,
    what: String,
    /// When the client application got it (matched deliveries).
    delivered: Vec<(Duration, ConnId)>,
}

/// A JSON answer the server wrote to request `id` on `conn`.
struct Answer {
    at: Duration,
    conn: ConnId,
    id: u64,
    delivered: Vec<(Duration, ConnId)>,
}

/// What a JSON-RPC message is called in `MessageDelivered`: its method, `response K`, or
/// `batch` / `invalid JSON` / `message without method or id`.
pub(crate) fn message_name(data: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(data) {
        Ok(serde_json::Value::Object(m)) => {
            match (m.get("method").and_then(|v| v.as_str()), m.get("id")) {
                (Some(method), _) => method.to_string(),
                (None, Some(id)) => format!("response {}", plain(id)),
                (None, None) => "message without method or id".into(),
            }
        }
        Ok(serde_json::Value::Array(_)) => "batch".into(),
        Ok(_) => "message without method or id".into(),
        Err(_) => "invalid JSON".into(),
    }
}

/// A JSON-RPC id as clients print it: `7`, or a string id without its quotes.
fn plain(id: &serde_json::Value) -> String {
    match id {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A delivered message's name with any quotes around a string id removed.
fn normalise(message: &str) -> String {
    message.replace('"', "")
}

/// Evaluates `delivery.exactly-once`.
pub fn evaluate(trace: &Trace, end: Duration) -> CheckOutcome {
    let all = client_streams(trace, end);
    let client_conns: BTreeSet<ConnId> = all.iter().filter_map(|s| s.conn).collect();
    let attached = attachments(trace);
    let session = |c: ConnId| attached.get(&c).and_then(|a| a.session);
    let mcp_client = trace.events.iter().any(|e| {
        e.host != SERVER
            && matches!(
                e.kind,
                EventKind::RpcSent { .. }
                    | EventKind::MessageDelivered { .. }
                    | EventKind::RpcAnswered { .. }
            )
    });
    if !mcp_client {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            "the client reports no MCP messages (a plain SSE client); deliveries cannot be seen",
        );
    }

    // What the server wrote and the client received, per connection, in order.
    let mut writes: Vec<Write<'_>> = Vec::new();
    let mut receipts: Vec<Receipt<'_>> = Vec::new();
    let mut answers: Vec<Answer> = Vec::new();
    let mut asked: BTreeMap<ConnId, u64> = BTreeMap::new();
    let sessions = client_sessions(trace);
    // The client connection the server last attached to each (session, stream).
    let mut carrier: BTreeMap<(&str, &str), ConnId> = BTreeMap::new();
    for e in &trace.events {
        match &e.kind {
            EventKind::StreamAttached {
                stream, session, ..
            } if e.host == SERVER => {
                if let Some(c) = e.conn.filter(|c| client_conns.contains(c)) {
                    carrier.insert((session, stream), c);
                }
            }
            EventKind::EventHeldBack {
                stream,
                session,
                id,
                data,
                kept,
            } if e.host == SERVER && !is_blank(data) => {
                // Judged with the stream's last connection (when the client had one), while
                // the client still used the session (a session it lost or left is
                // session.survives's verdict).
                let in_use = session_at(&sessions, e.at).is_none_or(|s| s == session);
                if let Some(&c) = carrier
                    .get(&(session.as_str(), stream.as_str()))
                    .filter(|_| in_use)
                {
                    writes.push(Write {
                        at: e.at,
                        conn: c,
                        id: Some(id),
                        data,
                        what: message_name(data),
                        receipt: None,
                        held: Some(*kept),
                    });
                }
            }
            _ => {}
        }
        let Some(c) = e.conn.filter(|c| client_conns.contains(c)) else {
            continue;
        };
        match (&e.kind, e.host == SERVER) {
            (
                EventKind::FrameWritten {
                    frame: Frame::Event { id, data, .. },
                    ..
                },
                true,
            ) if !is_blank(data) => writes.push(Write {
                at: e.at,
                conn: c,
                id: id.as_deref(),
                data,
                what: message_name(data),
                receipt: None,
                held: None,
            }),
            (EventKind::Received { frames, .. }, false) => {
                for f in frames {
                    if let Frame::Event { id, data, .. } = f {
                        if !is_blank(data) {
                            receipts.push(Receipt {
                                at: e.at,
                                conn: c,
                                id: id.as_deref(),
                                what: message_name(data),
                                delivered: Vec::new(),
                            });
                        }
                    }
                }
            }
            (EventKind::RpcReceived { id: Some(id), .. }, true) => {
                asked.insert(c, *id);
            }
            (
                EventKind::ResponseStarted {
                    status,
                    content_type: Some(ct),
                    ..
                },
                true,
            ) if (200..300).contains(status) && ct.starts_with("application/json") => {
                if let Some(&id) = asked.get(&c) {
                    answers.push(Answer {
                        at: e.at,
                        conn: c,
                        id,
                        delivered: Vec::new(),
                    });
                }
            }
            _ => {}
        }
    }
    // The k-th write on a connection is the k-th receipt on it.
    let mut by_conn: BTreeMap<ConnId, Vec<usize>> = BTreeMap::new();
    for (i, r) in receipts.iter().enumerate() {
        by_conn.entry(r.conn).or_default().push(i);
    }
    let mut nth: BTreeMap<ConnId, usize> = BTreeMap::new();
    for w in writes.iter_mut().filter(|w| w.held.is_none()) {
        let k = nth.entry(w.conn).or_default();
        w.receipt = by_conn.get(&w.conn).and_then(|v| v.get(*k)).copied();
        *k += 1;
    }

    // Deliveries, each matched to the earliest receipt it can be (same message and event id,
    // received by then, not yet delivered), on its own connection first.
    let mut phantoms: Vec<(Duration, Option<ConnId>, String)> = Vec::new();
    let mut answered: BTreeMap<(ConnId, u64), Vec<(Duration, ConnId)>> = BTreeMap::new();
    let mut deliveries = 0;
    for e in trace.events.iter().filter(|e| e.host != SERVER) {
        match &e.kind {
            EventKind::MessageDelivered { event_id, message } => {
                deliveries += 1;
                let name = normalise(message);
                let fits = |r: &Receipt<'_>| {
                    r.delivered.is_empty()
                        && r.at <= e.at
                        && r.what == name
                        && r.id == event_id.as_deref()
                };
                let own = receipts
                    .iter()
                    .position(|r| Some(r.conn) == e.conn && fits(r));
                match own.or_else(|| receipts.iter().position(fits)) {
                    Some(i) => {
                        let on = e.conn.unwrap_or(receipts[i].conn);
                        receipts[i].delivered.push((e.at, on));
                    }
                    None => {
                        // A JSON answer delivered as a message (some clients report both).
                        let json = e
                            .conn
                            .zip(name.strip_prefix("response "))
                            .and_then(|(c, k)| {
                                let k: u64 = k.parse().ok()?;
                                answers.iter().position(|a| a.conn == c && a.id == k)
                            });
                        match json {
                            Some(a) => answers[a].delivered.push((e.at, e.conn.expect("zipped"))),
                            None => phantoms.push((e.at, e.conn, message.clone())),
                        }
                    }
                }
            }
            EventKind::RpcAnswered { id, outcome } if !outcome.starts_with("http ") => {
                if let Some(c) = e.conn {
                    answered.entry((c, *id)).or_default().push((e.at, c));
                }
            }
            _ => {}
        }
    }
    // A JSON answer some client reported only as an answer, not as a delivered message.
    for a in &mut answers {
        if a.delivered.is_empty() {
            a.delivered = answered.get(&(a.conn, a.id)).cloned().unwrap_or_default();
        }
    }

    if writes.is_empty() && answers.is_empty() && phantoms.is_empty() {
        let msg = if deliveries > 0 || trace.events.iter().any(|e| e.host == SERVER) {
            "the server wrote no message to the client; nothing to check"
        } else {
            "no server message and no delivery in the trace; nothing to check"
        };
        return outcome(ID, Verdict::Unobservable, None, msg);
    }

    // When each client conn's logical stream ended for good.
    let mut until: BTreeMap<ConnId, (Duration, bool, String, bool)> = BTreeMap::new();
    let stopped = trace.stopped_at();
    for group in logical_streams(&all) {
        let last = &all[*group.last().expect("groups are not empty")];
        let (at, by_client) = ended_for_good(last, end);
        let open_at_stop = stopped.is_some() && matches!(last.fate(), Fate::Open);
        for &i in &group {
            if let Some(c) = all[i].conn {
                until.insert(c, (at, by_client, last.label(), open_at_stop));
            }
        }
    }

    // Messages: writes of one (session, event id, data) are one; id-less writes each one.
    let mut messages: Vec<Vec<usize>> = Vec::new();
    let mut keyed: BTreeMap<(Option<&str>, &str, &str), usize> = BTreeMap::new();
    for (i, w) in writes.iter().enumerate() {
        match w.id.filter(|_| w.held != Some(false)) {
            Some(id) => match keyed.get(&(session(w.conn), id, w.data)) {
                Some(&m) => messages[m].push(i),
                None => {
                    keyed.insert((session(w.conn), id, w.data), messages.len());
                    messages.push(vec![i]);
                }
            },
            None => messages.push(vec![i]),
        }
    }

    let mut fail: Option<(Duration, String)> = None;
    let mut keep = |at: Duration, msg: String| {
        if fail.as_ref().is_none_or(|(t, _)| at < *t) {
            fail = Some((at, msg));
        }
    };
    let mut excused = 0;
    let mut judged = 0;
    for m in &messages {
        let first = &writes[m[0]];
        let what = describe(first, session(first.conn));
        let got: Vec<(Duration, ConnId)> = m
            .iter()
            .filter_map(|&i| writes[i].receipt)
            .flat_map(|r| receipts[r].delivered.iter().copied())
            .collect();
        match got.len() {
            1 => judged += 1,
            0 => {
                let unreceived_excuse = |w: &Write<'_>| {
                    let (stop, _, _, open_at_stop) =
                        until
                            .get(&w.conn)
                            .cloned()
                            .unwrap_or((end, false, String::new(), false));
                    w.at >= stop || w.at >= end || (open_at_stop && w.receipt.is_none())
                };
                if m.iter().all(|&i| unreceived_excuse(&writes[i])) {
                    excused += 1;
                    continue;
                }
                judged += 1;
                let received = m.iter().find_map(|&i| writes[i].receipt.map(|r| (i, r)));
                if let Some((i, r)) = received {
                    let w = &writes[i];
                    keep(
                        receipts[r].at,
                        format!(
                            "{}: the server wrote {what} at {}; it reached the client at {} but the client application never got it",
                            w.conn,
                            stamp(w.at),
                            stamp(receipts[r].at)
                        ),
                    );
                    continue;
                }
                let (stop, by_client, last, _) =
                    until
                        .get(&first.conn)
                        .cloned()
                        .unwrap_or((end, false, String::new(), false));
                let how = if first.held == Some(false) {
                    "and the server keeps no events, so it can never be replayed".to_string()
                } else if by_client {
                    format!("before the client closed it ({last} at {})", stamp(stop))
                } else if first.held.is_some() && stop >= end {
                    "and no replay carried it before the scenario's end".to_string()
                } else if stop >= end {
                    "and the stream stayed open until the scenario's end".to_string()
                } else if first.id.is_none() {
                    format!(
                        "and the stream ended at {} ({last}); without an event id it cannot be replayed",
                        stamp(stop)
                    )
                } else {
                    format!(
                        "and the stream ended for good at {} ({last} was not resumed)",
                        stamp(stop)
                    )
                };
                let wrote = match first.held {
                    Some(_) => format!(
                        "held back {what} at {} (no connection carried its stream; the last was {})",
                        stamp(first.at),
                        first.conn
                    ),
                    None => format!("wrote {what} at {}", stamp(first.at)),
                };
                // Held back with no event store, it was lost the moment it was held.
                let lost_at = if first.held == Some(false) {
                    first.at
                } else {
                    stop
                };
                keep(
                    lost_at,
                    format!(
                        "{}: the server {wrote} but it never reached the client application, {how}",
                        first.conn
                    ),
                );
            }
            n => {
                judged += 1;
                keep(
                    got[1].0,
                    format!(
                        "{}: the client application received {what} {n} times (at {}), written by the server at {}",
                        got[1].1,
                        got.iter().map(|(t, _)| stamp(*t)).collect::<Vec<_>>().join(", "),
                        stamp(first.at)
                    ),
                );
            }
        }
    }
    for a in &answers {
        judged += 1;
        let what = format!("the JSON answer to #{}", a.id);
        match a.delivered.len() {
            1 => {}
            0 => keep(
                a.at,
                format!(
                    "{}: the server wrote {what} at {} but it never reached the client application",
                    a.conn,
                    stamp(a.at)
                ),
            ),
            n => keep(
                a.delivered[1].0,
                format!(
                    "{}: the client application received {what} {n} times (at {})",
                    a.conn,
                    a.delivered
                        .iter()
                        .map(|(t, _)| stamp(*t))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }
    }
    for (at, conn, message) in &phantoms {
        keep(
            *at,
            format!(
                "{}: the client application received {message} at {}, which the server never wrote to it",
                conn.map_or_else(|| "the client".to_string(), |c| c.to_string()),
                stamp(*at)
            ),
        );
    }
    if let Some((at, msg)) = fail {
        return outcome(ID, Verdict::Fail, Some(at), msg);
    }
    if judged == 0 {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            format!("all {excused} server messages were written after the client closed their stream or the run ended; nothing to judge"),
        );
    }
    let at = receipts
        .iter()
        .flat_map(|r| r.delivered.iter().map(|(t, _)| *t))
        .chain(
            answers
                .iter()
                .flat_map(|a| a.delivered.iter().map(|(t, _)| *t)),
        )
        .max()
        .unwrap_or(end);
    let tail = if excused > 0 {
        format!("; {excused} written after the client closed their stream or the scenario ended")
    } else {
        String::new()
    };
    outcome(
        ID,
        Verdict::Pass,
        Some(at),
        format!(
            "{judged} server message{} reached the client application exactly once{tail}",
            if judged == 1 { "" } else { "s" }
        ),
    )
}

/// `notifications/tools/list_changed (event 4, session s1)`, `response 2 (no event id)`.
fn describe(w: &Write<'_>, session: Option<&str>) -> String {
    match (w.id, session) {
        (Some(id), Some(s)) => format!("{} (event {id}, session {s})", w.what),
        (Some(id), None) => format!("{} (event {id})", w.what),
        (None, _) => format!("{} (no event id)", w.what),
    }
}

#[cfg(test)]
mod tests;
