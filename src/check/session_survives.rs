//! `session.survives`: a liveness check on the MCP session. The session the client uses stays
//! valid for the run: no request on it is answered `404` (the server forgot it), until the
//! client deletes it itself.
//!
//! ```text
//!   client SessionEstablished{s1} ── requests on s1 (GET, POST, …) ── … ── end   ✓
//!                                      └─ 404 at T, idle since T0 ─────────────▶ ✗ lost at T
//!   client DELETE on s1 ──▶ s1 ends by the client's will: not judged after
//! ```
//!
//! The client uses the last session it established: its requests from then until it
//! establishes another are on it, except the `initialize` of the next one. A `404` an
//! intermediary answered itself is not the server forgetting the session. A failure names
//! when the session was lost and how long it had been idle: the time since the previous
//! request on it (server-side session expiry counts from requests; an open stream does not
//! count as activity). With no session (revision 2026-07-28 has none) there is nothing to
//! judge.

use super::client_stream::{
    client_sessions, client_streams, has_mcp_client, outcome, ClientStream, Fate,
};
use super::{CheckOutcome, Verdict};
use crate::time::{span, stamp};
use crate::trace::{EventKind, Trace};
use std::time::Duration;

/// The check id.
pub const ID: &str = "session.survives";

/// One session the client held.
struct Held<'t> {
    session: &'t str,
    /// When the client established it.
    at: Duration,
    /// When the client stopped using it (established another), or the end.
    until: Duration,
}

/// Evaluates `session.survives`.
pub fn evaluate(trace: &Trace, end: Duration) -> CheckOutcome {
    if !has_mcp_client(trace) {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            "the client reports no MCP activity (a plain SSE client); it holds no session",
        );
    }
    let established = client_sessions(trace);
    if established.is_empty() {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            "the client never held a session (revision 2026-07-28 has none); nothing to judge",
        );
    }
    let held: Vec<Held<'_>> = established
        .iter()
        .enumerate()
        .map(|(i, &(at, session))| Held {
            session,
            at,
            until: established.get(i + 1).map_or(end, |(t, _)| *t),
        })
        .collect();
    let all = client_streams(trace, end);
    let mut kept: Vec<String> = Vec::new();
    for h in &held {
        // The requests on the session, by the time they were sent.
        let mut on: Vec<(Duration, &ClientStream<'_>)> = all
            .iter()
            .filter(|s| !is_initialize(s, trace))
            .filter_map(|s| Some((s.request_sent()?, s)))
            .filter(|(t, _)| h.at <= *t && *t < h.until)
            .collect();
        on.sort_by_key(|(t, s)| (*t, s.conn));
        let mut last: Option<(Duration, &ClientStream<'_>)> = None;
        let mut longest = Duration::ZERO;
        let mut deleted = None;
        for &(sent, s) in &on {
            let (method, _) = s.request_head().unwrap_or(("?", None));
            let idle_since = last.map_or(h.at, |(t, _)| t);
            if let Some((at, 404)) = s.response() {
                if !answered_by_intermediary(s) {
                    let previous = match last {
                        Some((t, p)) => {
                            format!("the last request on it at {} ({})", stamp(t), p.label())
                        }
                        None => format!(
                            "no request on it since it was established at {}",
                            stamp(h.at)
                        ),
                    };
                    return outcome(
                        ID,
                        Verdict::Fail,
                        Some(at),
                        format!(
                            "session {} was lost at {}: {} {method} answered 404 after the session had been idle for {} ({previous}); it was established at {}",
                            h.session,
                            stamp(at),
                            s.label(),
                            span(sent.saturating_sub(idle_since)),
                            stamp(h.at)
                        ),
                    );
                }
            }
            longest = longest.max(sent.saturating_sub(idle_since));
            last = Some((sent, s));
            if method == "DELETE" {
                deleted = Some(sent);
                break;
            }
        }
        let to = match deleted {
            Some(t) => format!("until the client deleted it at {}", stamp(t)),
            None if h.until < end => format!(
                "until the client moved to another session at {}",
                stamp(h.until)
            ),
            None => format!("to {}", stamp(end)),
        };
        kept.push(format!(
            "session {} stayed valid from {} {to} ({} request{} on it, the longest idle span {})",
            h.session,
            stamp(h.at),
            on.len(),
            if on.len() == 1 { "" } else { "s" },
            span(longest)
        ));
    }
    outcome(ID, Verdict::Pass, Some(end), kept.join("; "))
}

/// Whether `s` carried an `initialize` (which starts a session rather than using one).
fn is_initialize(s: &ClientStream<'_>, trace: &Trace) -> bool {
    s.conn.is_some_and(|c| {
        trace.conn(c).any(|e| {
            e.host == "client"
                && matches!(&e.kind, EventKind::RpcSent { method, .. } if method == "initialize")
        })
    })
}

/// Whether an intermediary answered the request itself (its status is not the server's).
fn answered_by_intermediary(s: &ClientStream<'_>) -> bool {
    matches!(s.fate(), Fate::Died(d) if matches!(d.event.kind, EventKind::IntermediaryResponded { .. }))
}

#[cfg(test)]
mod tests;
