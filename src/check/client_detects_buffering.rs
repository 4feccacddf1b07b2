//! `client.detects-buffering`: the MCP client's buffering suspicion (MP-301g module 3), as a
//! safety and a liveness check. From the trace it computes the two signs and matches them to
//! the client's `ClientWarned` events, one to one, per connection.
//!
//! ```text
//!   sign B  conn opened ─────────── ended (not by the client) ≤ 60s later
//!                                   └▶ DroppedEarly{after = end − opened} at the end
//!   sign C  conn opened ── server wrote its priming event (≤ 5s) ── no body byte by +5s, open
//!                                   └▶ SlowFirstData{after: 5s} at opened + 5s
//!   a sign without its warning within tick + 1 ms ─▶ fail (liveness)
//!   a warning without its sign                    ─▶ fail (safety)
//! ```
//!
//! Connections judged: those of an MCP client answered 2xx `text/event-stream` (GET streams,
//! their resumptions, POST answers), except long-polling requests (`?poll=1`), which end by
//! design. Sign B excludes a connection that ended complete after the client received its
//! JSON-RPC answer on it (a finished tool call). Sign C applies only to POST connections (the
//! spec's priming SHOULD is for SSE streams answering a POST; real SDKs do not prime GET
//! streams) whose first frame the server wrote was a priming event (an id, empty data) within
//! 5 s of the open (the revisions whose server writes first). When a byte or the end arrives at exactly the
//! instant a sign would become true, a warning is allowed but not required.

use super::client_stream::{
    client_streams, earliest_failure, has_mcp_client, outcome, ClientStream, SERVER,
};
use super::{CheckOutcome, Verdict};
use crate::sse::Frame;
use crate::time::{span, stamp};
use crate::trace::{ClientWarning, ConnId, EventKind, StreamEnd, Trace};
use std::time::Duration;

/// The check id.
pub const ID: &str = "client.detects-buffering";

/// A connection ending this soon after it opened is a sign of buffering (rule B).
pub const DROPPED_EARLY_MAX: Duration = Duration::from_secs(60);
/// A primed connection without a body byte this long after it opened is a sign (rule C).
pub const FIRST_DATA_MAX: Duration = Duration::from_secs(5);

/// Which warning a sign calls for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    DroppedEarly,
    SlowFirstData,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::DroppedEarly => "DroppedEarly",
            Kind::SlowFirstData => "SlowFirstData",
        }
    }
}

/// One sign of buffering on one connection.
struct Sign {
    conn: ConnId,
    kind: Kind,
    /// When it became true.
    at: Duration,
    /// The `after` its warning carries.
    after: Duration,
    /// False when a byte or the end came at exactly that instant (a warning is allowed).
    required: bool,
    /// The sentence naming it, e.g. `conn#2 (stream get) ended at …`.
    what: String,
}

/// Evaluates `client.detects-buffering` with the scenario's `tick`.
pub fn evaluate(tick: Duration, trace: &Trace, end: Duration) -> CheckOutcome {
    let tol = tick + Duration::from_millis(1);
    if !has_mcp_client(trace) {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            "the client reports no MCP activity (a plain SSE client); it logs no buffering warnings",
        );
    }
    let all = client_streams(trace, end);
    let judged: Vec<&ClientStream<'_>> = all
        .iter()
        .filter(|s| s.conn.is_some() && s.is_event_stream() && !s.is_poll())
        .collect();
    let mut signs: Vec<Sign> = Vec::new();
    for s in &judged {
        signs.extend(dropped_early(s, trace, end));
        signs.extend(slow_first_data(s, trace, end));
    }
    let mut matched = vec![false; signs.len()];
    let mut failures: Vec<(Duration, String)> = Vec::new();
    for e in trace.events.iter().filter(|e| e.host != SERVER) {
        let EventKind::ClientWarned { stream, warning } = &e.kind else {
            continue;
        };
        let (kind, after) = match warning {
            ClientWarning::DroppedEarly { after } => (Kind::DroppedEarly, *after),
            ClientWarning::SlowFirstData { after } => (Kind::SlowFirstData, *after),
            ClientWarning::MissedKeepalive { .. } => continue,
        };
        let hit = signs.iter().enumerate().position(|(i, g)| {
            !matched[i]
                && Some(g.conn) == e.conn
                && g.kind == kind
                && e.at >= g.at
                && e.at <= g.at + tol
                && after.abs_diff(g.after) <= tol
        });
        match hit {
            Some(i) => matched[i] = true,
            None => {
                let on = e.conn.map_or_else(
                    || format!("stream {stream}"),
                    |c| format!("{c} (stream {stream})"),
                );
                let sign = signs
                    .iter()
                    .find(|g| Some(g.conn) == e.conn && g.kind == kind)
                    .map_or_else(
                        || "the connection showed no such sign".to_string(),
                        |g| format!("its sign was: {}", g.what),
                    );
                failures.push((
                    e.at,
                    format!(
                        "{on}: the client warned {}{{after {}}} at {} without its sign of buffering; {sign}",
                        kind.name(),
                        span(after),
                        stamp(e.at)
                    ),
                ));
            }
        }
    }
    for (g, _) in signs
        .iter()
        .zip(&matched)
        .filter(|(g, m)| g.required && !**m)
    {
        failures.push((
            g.at + tol,
            format!(
                "{}, but the client recorded no {}{{after {}}} warning on it by {}",
                g.what,
                g.kind.name(),
                span(g.after),
                stamp(g.at + tol)
            ),
        ));
    }
    if let Some(failed) = earliest_failure(ID, failures) {
        return failed;
    }
    if judged.is_empty() {
        // A warning without its sign would have failed above; with no SSE connection there
        // was nothing else to judge.
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            "the MCP client read no SSE connection and warned of no buffering; nothing to check",
        );
    }
    let warned = matched.iter().filter(|m| **m).count();
    if warned == 0 {
        return outcome(
            ID,
            Verdict::Pass,
            Some(end),
            format!(
                "no connection showed a sign of buffering (ended within 60s, or primed with no byte for 5s) and the client warned of none; {} connection{} checked",
                judged.len(),
                if judged.len() == 1 { "" } else { "s" }
            ),
        );
    }
    let count = |k: Kind| {
        signs
            .iter()
            .zip(&matched)
            .filter(|(g, m)| **m && g.kind == k)
            .count()
    };
    outcome(
        ID,
        Verdict::Pass,
        signs.iter().zip(&matched).filter(|(_, m)| **m).map(|(g, _)| g.at).max(),
        format!(
            "the client warned of every sign of buffering on its connection ({} DroppedEarly, {} SlowFirstData) and of nothing else",
            count(Kind::DroppedEarly),
            count(Kind::SlowFirstData)
        ),
    )
}

/// Sign B: the connection ended, not by the client, within 60 s of its open.
fn dropped_early(s: &ClientStream<'_>, trace: &Trace, end: Duration) -> Option<Sign> {
    let conn = s.conn?;
    let (at, by_client) = s.client_end()?;
    let after = at.checked_sub(s.opened_at)?;
    if by_client || at >= end || after > DROPPED_EARLY_MAX {
        return None;
    }
    let complete = trace.conn(conn).any(|e| {
        e.host != SERVER
            && e.at == at
            && matches!(
                e.kind,
                EventKind::StreamEnded {
                    how: StreamEnd::Complete
                }
            )
    });
    let answered = trace
        .conn(conn)
        .any(|e| e.host != SERVER && e.at <= at && matches!(e.kind, EventKind::RpcAnswered { .. }));
    if complete && answered {
        return None; // a finished tool call
    }
    Some(Sign {
        conn,
        kind: Kind::DroppedEarly,
        at,
        after,
        required: true,
        what: format!(
            "{} ended at {}, {} after it opened (within {}: suspected buffering)",
            s.label(),
            stamp(at),
            span(after),
            span(DROPPED_EARLY_MAX)
        ),
    })
}

/// Sign C: a primed connection with no body byte 5 s after its open, still open then.
fn slow_first_data(s: &ClientStream<'_>, trace: &Trace, end: Duration) -> Option<Sign> {
    let conn = s.conn?;
    // The priming SHOULD is written for SSE streams a server initiates in answer to a POST
    // (2025-11-25 transports, "Sending Messages to the Server", item 6); the TypeScript and
    // Python SDKs do not prime GET streams, so the client cannot expect it there.
    if s.request_head().map(|(m, _)| m) != Some("POST") {
        return None;
    }
    let at = s.opened_at + FIRST_DATA_MAX;
    // The first frame the server wrote, a `retry` field aside (a server may send it before
    // its priming event: it carries no event and dispatches nothing).
    let primed = trace.conn(conn).find_map(|e| match &e.kind {
        EventKind::FrameWritten { frame, .. }
            if e.host == SERVER && !matches!(frame, Frame::Retry { .. }) =>
        {
            Some((e.at, frame))
        }
        _ => None,
    });
    let primed_at = match primed {
        Some((
            w,
            Frame::Event {
                id: Some(_), data, ..
            },
        )) if data.is_empty() && w <= at => Some(w),
        // The server wrote nothing by then: it does not prime (a SHOULD; the SDKs prime only
        // with an event store). A client cannot tell that silence from a primed stream held
        // by a buffer, so its warning is allowed, never required.
        Some((w, _)) if w > at => None,
        None => None,
        _ => return None,
    };
    let first_byte = s
        .received()
        .find(|(_, bytes, _)| *bytes > 0)
        .map(|(t, _, _)| t);
    let ended = s.client_end().map_or(end, |(t, _)| t.min(end));
    if first_byte.is_some_and(|b| b < at) || ended < at {
        return None;
    }
    let required = primed_at.is_some() && first_byte.is_none_or(|b| b > at) && ended > at;
    Some(Sign {
        conn,
        kind: Kind::SlowFirstData,
        at,
        after: FIRST_DATA_MAX,
        required,
        what: format!(
            "{} had no body byte at {}, {} after it opened ({}; first byte {})",
            s.label(),
            stamp(at),
            span(FIRST_DATA_MAX),
            primed_at.map_or_else(
                || "the server had written nothing: no priming event".to_string(),
                |w| format!("the server wrote its priming event at {}", stamp(w))
            ),
            first_byte.map_or_else(|| "never".to_string(), |b| format!("at {}", stamp(b)))
        ),
    })
}

#[cfg(test)]
mod tests;
