//! `client.resumes`: a safety check on the client. Every reconnect of a stream sends, as
//! `Last-Event-ID`, the last event id the client had received on that stream, across all its
//! earlier connections: a reconnect that received nothing new must repeat the id it resumed
//! from, not forget it.
//!
//! ```text
//!   conn#2 GET   ids 1 2 3 ╳ dropped
//!   conn#4 GET   Last-Event-ID 3 → priming only ╳ dropped again
//!   conn#6 GET   Last-Event-ID must still be 3
//! ```
//!
//! A reconnect is a `GET` on a stream name that already had a connection, unless the client
//! closed the previous one itself (then it is a fresh open). A `POST` starts a new logical
//! stream (a new tool call), so it and fresh opens reset the id. The last event id follows the
//! SSE rules: any received event or id-only block with an id sets it (empty data included, so a
//! priming event counts), an empty `id:` resets it, an event without an id keeps it.

use super::client_stream::{client_streams, outcome, ClientStream, Fate};
use super::{CheckOutcome, Verdict};
use crate::sse::Frame;
use crate::time::stamp;
use crate::trace::{ConnId, Trace};
use std::time::Duration;

/// The check id.
pub const ID: &str = "client.resumes";

/// The last event id the client holds for a stream, and the connection it arrived on.
type LastId<'t> = Option<(&'t str, Option<ConnId>)>;

/// Evaluates `client.resumes` for `stream` (every stream when `None`).
pub fn evaluate(stream: Option<&str>, trace: &Trace, end: Duration) -> CheckOutcome {
    let all = client_streams(trace, end);
    let mut names: Vec<&str> = Vec::new();
    for s in &all {
        if stream.is_none_or(|n| n == s.name) && !names.contains(&s.name) {
            names.push(s.name);
        }
    }
    let mut checked: Vec<(Duration, String)> = Vec::new();
    for name in names {
        let conns: Vec<&ClientStream<'_>> = all.iter().filter(|s| s.name == name).collect();
        let mut last: LastId<'_> = None;
        let mut seen_any = false;
        let mut fresh_next = false;
        for s in conns {
            let Some((method, sent)) = s.request_head() else {
                continue; // a failed connect sent nothing
            };
            let at = s.request_sent().unwrap_or(s.opened_at);
            if seen_any && method == "GET" && !fresh_next {
                let expected = last.map(|(id, _)| id);
                if sent != expected {
                    return outcome(ID, Verdict::Fail, Some(at), mismatch(s, at, sent, last));
                }
                let what = match sent {
                    Some(id) => format!(
                        "{} reconnected at {} with Last-Event-ID {id}",
                        s.label(),
                        stamp(at)
                    ),
                    None => format!(
                        "{} reconnected at {} without Last-Event-ID, having received no event id",
                        s.label(),
                        stamp(at)
                    ),
                };
                checked.push((at, what));
            } else {
                last = None;
            }
            seen_any = true;
            fresh_next = matches!(s.fate(), Fate::ClosedByClient { .. });
            for (_, f) in s.received_frames() {
                match f {
                    Frame::Event { id: Some(id), .. } => last = Some((id, s.conn)),
                    Frame::IdOnly { id } if id.is_empty() => last = None,
                    Frame::IdOnly { id } => last = Some((id, s.conn)),
                    _ => {}
                }
            }
        }
    }
    let n = checked.len();
    match checked.into_iter().max_by_key(|(at, _)| *at) {
        None => outcome(
            ID,
            Verdict::Unobservable,
            None,
            match stream {
                Some(n) => format!("stream {n} was never reconnected; nothing to check"),
                None => "no stream was reconnected; nothing to check".into(),
            },
        ),
        Some((at, what)) => outcome(
            ID,
            Verdict::Pass,
            Some(at),
            format!(
                "{what}, the last id it had received; {n} reconnect{} checked",
                if n == 1 { "" } else { "s" }
            ),
        ),
    }
}

/// The failure sentence for reconnect `s` at `at` that sent `sent` while holding `last`.
fn mismatch(s: &ClientStream<'_>, at: Duration, sent: Option<&str>, last: LastId<'_>) -> String {
    let had = match last {
        Some((id, Some(c))) => format!("the last event id it had received was {id} (on {c})"),
        Some((id, None)) => format!("the last event id it had received was {id}"),
        None => "it had received no event id on the stream".into(),
    };
    match sent {
        None => format!(
            "{} reconnected at {} without Last-Event-ID, but {had}",
            s.label(),
            stamp(at)
        ),
        Some(id) => format!(
            "{} reconnected at {} with Last-Event-ID {id}, but {had}",
            s.label(),
            stamp(at)
        ),
    }
}

#[cfg(test)]
mod tests;
