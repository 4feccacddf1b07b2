//! `client.reconnect-backoff`: a check on the client's reconnection pacing. A dropped stream
//! is reopened after a delay that starts at `initial` (or at the server's `retry`, when the
//! stream carried one), doubles with each consecutive failed reconnect, never exceeds `max`,
//! and is actually waited.
//!
//! ```text
//!   conn#3 ╳ ─ Reconnecting{attempt 1, after 3s (retry)} ─ conn#4 opened ≥ 3s later, fails
//!           ─ Reconnecting{attempt 2, after 6s}          ─ conn#5 opened ≥ 6s later, bytes
//!   conn#5 ╳ ─ Reconnecting{attempt 1, after 3s}          (a connection that worked resets)
//! ```
//!
//! A stream here is a logical one: a first connection and its reconnects (a new `POST` or a
//! fresh open after the client's own close starts another). A reconnect failed when it got no
//! 2xx response or no body byte; the first connection of a stream never counts as a failure.
//! The expected delay for attempt n is `min(base × 2^(n-1), max)`, where base is the last
//! `retry` the client received on the stream so far, else `initial`.

use super::client_stream::{client_streams, outcome, ClientStream};
use super::delivery_exactly_once::logical_streams;
use super::{CheckOutcome, Verdict};
use crate::sse::Frame;
use crate::time::{span, stamp};
use crate::trace::{ConnId, EventKind, Trace};
use std::collections::BTreeMap;
use std::time::Duration;

/// The check id.
pub const ID: &str = "client.reconnect-backoff";

/// A connection that brought nothing: no 2xx response or no body byte.
fn failed(s: &ClientStream<'_>) -> bool {
    !matches!(s.response(), Some((_, st)) if (200..300).contains(&st))
        || s.received().all(|(_, bytes, _)| bytes == 0)
}

/// Evaluates `client.reconnect-backoff` against a policy of `initial` and `max`.
pub fn evaluate(initial: Duration, max: Duration, trace: &Trace, end: Duration) -> CheckOutcome {
    // Reconnecting events by the conn that had just ended.
    let mut pending: BTreeMap<ConnId, Vec<(Duration, u32, Duration)>> = BTreeMap::new();
    for e in trace.events.iter().filter(|e| e.host == "client") {
        if let (EventKind::Reconnecting { attempt, after, .. }, Some(c)) = (&e.kind, e.conn) {
            pending.entry(c).or_default().push((e.at, *attempt, *after));
        }
    }
    if pending.is_empty() {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            "the client never reconnected a stream; nothing to check",
        );
    }
    let all = client_streams(trace, end);
    let mut checked: Vec<(Duration, String)> = Vec::new();
    for group in logical_streams(&all) {
        let mut fails: u32 = 0;
        let mut retry: Option<u64> = None;
        for (k, &i) in group.iter().enumerate() {
            let s = &all[i];
            if k > 0 {
                fails = if failed(s) { fails + 1 } else { 0 };
            }
            for (_, f) in s.received_frames() {
                if let Frame::Retry { ms } = f {
                    retry = Some(*ms);
                }
            }
            let Some(events) = s.conn.and_then(|c| pending.get(&c)) else {
                continue;
            };
            for &(at, attempt, after) in events {
                let base = retry.map_or(initial, Duration::from_millis);
                let want = base
                    .saturating_mul(1u32.checked_shl(fails).unwrap_or(u32::MAX))
                    .min(max);
                let from = match retry {
                    Some(ms) => format!("the server's retry {ms}ms"),
                    None => format!("initial {}", span(initial)),
                };
                if attempt != fails + 1 || after != want {
                    let why = if after > max {
                        format!("above max {}", span(max))
                    } else {
                        format!(
                            "expected attempt {} after {} ({from}, doubled per consecutive failed reconnect, at most {})",
                            fails + 1,
                            span(want),
                            span(max)
                        )
                    };
                    return outcome(
                        ID,
                        Verdict::Fail,
                        Some(at),
                        format!(
                            "{} was to reconnect at {} as attempt {attempt} after {}: {why}",
                            s.label(),
                            stamp(at),
                            span(after)
                        ),
                    );
                }
                if let Some(next) = group.get(k + 1).map(|&j| &all[j]) {
                    if next.opened_at < at + after {
                        return outcome(
                            ID,
                            Verdict::Fail,
                            Some(next.opened_at),
                            format!(
                                "{} reconnected at {}, {} after the client announced a wait of {} at {}",
                                next.label(),
                                stamp(next.opened_at),
                                span(next.opened_at - at),
                                span(after),
                                stamp(at)
                            ),
                        );
                    }
                }
                checked.push((
                    at,
                    format!(
                        "{} waited {} as attempt {attempt} ({from})",
                        s.label(),
                        span(after)
                    ),
                ));
            }
        }
    }
    let n = checked.len();
    match checked.into_iter().max_by_key(|(at, _)| *at) {
        None => outcome(
            ID,
            Verdict::Unobservable,
            None,
            "no reconnect belongs to a connection the client opened; nothing to check",
        ),
        Some((at, what)) => outcome(
            ID,
            Verdict::Pass,
            Some(at),
            format!(
                "{what}; {n} reconnect{} paced as the policy says",
                if n == 1 { "" } else { "s" }
            ),
        ),
    }
}

#[cfg(test)]
mod tests;
