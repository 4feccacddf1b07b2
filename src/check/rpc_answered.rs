//! `rpc.answered`: a liveness check on the MCP client. Every JSON-RPC request the client's
//! timeline sends (initialize, a tool call, a ping) gets an `ok` answer, as the client
//! application sees it: a result, not an error the scenario did not expect.
//!
//! ```text
//!   client RpcSent{method, #K} at T on conn C (stream S)
//!     ──▶ first client RpcAnswered{#K} after T:  ok ─────────────────────────────▶ pass
//!                                                error <code>: … / http NNN / … ─▶ fail
//!     ──▶ none, and the client closed stream S itself first ─────────────────────▶ not judged
//!     ──▶ none, answer due (T, + tool-duration for a call) within TAIL of the end ▶ not judged
//!     ──▶ none otherwise ────────────────────────────────────────────────────────▶ fail
//! ```
//!
//! An error outcome fails even when the request was not yet due: it is what the application
//! got (e.g. the TypeScript SDK client's own 60 s request timeout, `error -32001: Request
//! timed out`, on a 6-minute tool call whose result arrives later and is discarded). A tool
//! call's answer is due its `tool-duration` after it was sent (the timeline's `call-tool`
//! steps, matched to the `tools/call` requests by time); every other request's at once.
//! Unanswered requests whose answer is due within [`TAIL`] of the scenario's end are not
//! judged: a reconnect and replay may still be under way. A trace whose client sent no
//! request (a plain SSE client) is unobservable.
//!
//! Run on every scenario whether or not it lists it (see [`crate::report::evaluate`]).

use super::client_stream::{earliest_failure, outcome, SERVER};
use super::{CheckOutcome, Verdict};
use crate::time::{span, stamp};
use crate::trace::{Closer, ConnId, EventKind, Trace};
use std::collections::BTreeMap;
use std::time::Duration;

/// The check id.
pub const ID: &str = "rpc.answered";

/// Unanswered requests due within this span of the scenario's end are not judged (as
/// `stream.recovers` leaves drops within its default `within` of the end alone).
pub const TAIL: Duration = Duration::from_secs(60);

/// One request the client sent.
struct Request<'t> {
    id: u64,
    method: &'t str,
    at: Duration,
    conn: Option<ConnId>,
    /// The client stream its connection carries.
    stream: Option<&'t str>,
    /// When its answer is due.
    due: Duration,
}

impl Request<'_> {
    fn label(&self) -> String {
        let on = match (self.conn, self.stream) {
            (Some(c), Some(s)) => format!(" on {c} (stream {s})"),
            (Some(c), None) => format!(" on {c}"),
            _ => String::new(),
        };
        format!(
            "rpc #{} {} sent at {}{on}",
            self.id,
            self.method,
            stamp(self.at)
        )
    }
}

/// The answer due time of each `tools/call` sent at `sent`, from the timeline's calls
/// `(at, tool-duration)`: the latest call not yet matched that was due to start by `sent`.
fn call_due(calls: &[(Duration, Duration)], used: &mut [bool], sent: Duration) -> Duration {
    let pick = (0..calls.len())
        .filter(|&i| !used[i] && calls[i].0 <= sent)
        .max_by_key(|&i| (calls[i].0, std::cmp::Reverse(i)));
    match pick {
        Some(i) => {
            used[i] = true;
            sent + calls[i].1
        }
        None => sent,
    }
}

/// Evaluates `rpc.answered`; `calls` are the timeline's tool calls as `(at, tool-duration)`.
pub fn evaluate(calls: &[(Duration, Duration)], trace: &Trace, end: Duration) -> CheckOutcome {
    let streams: BTreeMap<ConnId, &str> = trace
        .events
        .iter()
        .filter(|e| e.host != SERVER)
        .filter_map(|e| match (&e.kind, e.conn) {
            (EventKind::ConnOpened { stream, .. }, Some(c)) => Some((c, stream.as_str())),
            _ => None,
        })
        .collect();
    let mut used = vec![false; calls.len()];
    let mut requests: Vec<Request<'_>> = Vec::new();
    for e in trace.events.iter().filter(|e| e.host != SERVER) {
        if let EventKind::RpcSent {
            method,
            id: Some(id),
        } = &e.kind
        {
            let due = if method == "tools/call" {
                call_due(calls, &mut used, e.at)
            } else {
                e.at
            };
            requests.push(Request {
                id: *id,
                method,
                at: e.at,
                conn: e.conn,
                stream: e.conn.and_then(|c| streams.get(&c).copied()),
                due,
            });
        }
    }
    if requests.is_empty() {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            "the client sent no JSON-RPC request (no MCP client, or no request on its timeline); nothing to check",
        );
    }

    // Answers in trace order, each consumed by the first request of its id sent before it.
    let answers: Vec<(Duration, u64, &str)> = trace
        .events
        .iter()
        .filter(|e| e.host != SERVER)
        .filter_map(|e| match &e.kind {
            EventKind::RpcAnswered { id, outcome } => Some((e.at, *id, outcome.as_str())),
            _ => None,
        })
        .collect();
    let mut taken = vec![false; answers.len()];
    // When the client closed each stream itself (before the scenario's end).
    let closes: Vec<(Duration, &str)> = trace
        .events
        .iter()
        .filter(|e| e.host != SERVER && e.at < end)
        .filter_map(|e| match (&e.kind, e.conn) {
            (
                EventKind::ConnClosed {
                    by: Closer::Client, ..
                },
                Some(c),
            ) => streams.get(&c).map(|s| (e.at, *s)),
            _ => None,
        })
        .collect();

    let mut failures: Vec<(Duration, String)> = Vec::new();
    let (mut ok, mut closed_first, mut tail) = (0, 0, 0);
    for r in &requests {
        let answer = (0..answers.len()).find(|&i| {
            !taken[i] && answers[i].1 == r.id && answers[i].0 >= r.at && answers[i].0 <= end
        });
        if let Some(i) = answer {
            taken[i] = true;
        }
        let until = answer.map_or(end, |i| answers[i].0);
        let closed = closes
            .iter()
            .find(|(at, s)| Some(*s) == r.stream && *at >= r.at && *at <= until);
        match (answer.map(|i| answers[i]), closed) {
            (Some((_, _, "ok")), _) => ok += 1,
            // The client gave the request up by closing its stream: whatever followed.
            (_, Some(_)) => closed_first += 1,
            (Some((at, _, what)), None) => failures.push((
                at,
                format!(
                    "{} was answered `{what}` at {} ({} later), not with a result",
                    r.label(),
                    stamp(at),
                    span(at.saturating_sub(r.at))
                ),
            )),
            (None, None) if r.due + TAIL > end => tail += 1,
            (None, None) => failures.push((
                end,
                format!(
                    "{} got no answer by the end at {}{}",
                    r.label(),
                    stamp(end),
                    if r.due > r.at {
                        format!(" (its result was due at {})", stamp(r.due))
                    } else {
                        String::new()
                    }
                ),
            )),
        }
    }
    if let Some(f) = earliest_failure(ID, failures) {
        return f;
    }
    let mut methods: Vec<&str> = requests.iter().map(|r| r.method).collect();
    methods.dedup();
    let mut msg = format!(
        "{ok} of {} requests ({}) got an ok answer",
        requests.len(),
        methods.join(", ")
    );
    if closed_first > 0 {
        msg.push_str(&format!(
            "; {closed_first} not judged: the client closed its stream before an answer"
        ));
    }
    if tail > 0 {
        msg.push_str(&format!(
            "; {tail} unanswered, due within {} of the end, not judged",
            span(TAIL)
        ));
    }
    outcome(ID, Verdict::Pass, Some(end), msg)
}

#[cfg(test)]
mod tests;
