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
mod tests {
    use super::*;
    use crate::check::testing::TraceBuilder;
    use crate::trace::StreamEnd;

    const END: Duration = Duration::from_secs(300);
    const S: u64 = 1_000;

    /// A GET stream on conn 1 that carried `retry` (if any) and dropped at 60s, then conn 2
    /// refused (503) at 61s+first, conn 3 refused, conn 4 fine; delays in ms are given.
    fn drops(retry: Option<u64>, delays: [u64; 3], opens: [u64; 3]) -> TraceBuilder {
        let mut b = TraceBuilder::new().stream(1, "get", 0);
        if let Some(r) = retry {
            b = b.retry(4, 1, r);
        }
        b = b
            .event_id(5, 1, "1", "")
            .ended(60 * S, 1, StreamEnd::Truncated)
            .reconnecting(60 * S, 1, "get", 1, delays[0], Some("1"));
        let mut t = 60 * S;
        for (k, conn) in [2u32, 3].into_iter().enumerate() {
            t += opens[k];
            b = b
                .open(t, conn, "get")
                .request_with(t, conn, "GET", Some("1"))
                .response_typed(t + 3, conn, 503, "text/plain")
                .ended(t + 4, conn, StreamEnd::Complete)
                .reconnecting(t + 4, conn, "get", k as u32 + 2, delays[k + 1], Some("1"));
            t += 4;
        }
        t += opens[2];
        b.resume(4, "get", t, "1").bytes(t + 4, 4, 13)
    }

    #[test]
    fn doubling_from_initial_up_to_max_passes() {
        let t = drops(None, [S, 2 * S, 3 * S], [S, 2 * S, 3 * S]).build();
        let o = evaluate(Duration::from_secs(1), Duration::from_secs(3), &t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert_eq!(
            o.message,
            "conn#3 (stream get) waited 3s as attempt 3 (initial 1s); 3 reconnects paced as the policy says"
        );
    }

    #[test]
    fn the_servers_retry_sets_the_first_delay() {
        let t = drops(Some(3_000), [3 * S, 6 * S, 12 * S], [3 * S, 6 * S, 12 * S]).build();
        let o = evaluate(Duration::from_secs(1), Duration::from_secs(30), &t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        let t = drops(Some(3_000), [S, 2 * S, 4 * S], [S, 2 * S, 4 * S]).build();
        let o = evaluate(Duration::from_secs(1), Duration::from_secs(30), &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert_eq!(
            o.message,
            "conn#1 (stream get) was to reconnect at 00:01:00.000 as attempt 1 after 1s: expected attempt 1 after 3s (the server's retry 3000ms, doubled per consecutive failed reconnect, at most 30s)"
        );
    }

    #[test]
    fn a_delay_that_does_not_double_or_exceeds_max_fails() {
        let t = drops(None, [S, S, S], [S, S, S]).build();
        let o = evaluate(Duration::from_secs(1), Duration::from_secs(30), &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message.starts_with(
                "conn#2 (stream get) was to reconnect at 00:01:01.004 as attempt 2 after 1s: expected attempt 2 after 2s"
            ),
            "{}",
            o.message
        );
        let t = drops(None, [S, 2 * S, 4 * S], [S, 2 * S, 4 * S]).build();
        let o = evaluate(Duration::from_secs(1), Duration::from_secs(3), &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message.ends_with("after 4s: above max 3s"),
            "{}",
            o.message
        );
    }

    #[test]
    fn reconnecting_before_the_announced_wait_fails() {
        let t = drops(None, [S, 2 * S, 4 * S], [S, 500, 4 * S]).build();
        let o = evaluate(Duration::from_secs(1), Duration::from_secs(30), &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert_eq!(
            o.message,
            "conn#3 (stream get) reconnected at 00:01:01.504, 500ms after the client announced a wait of 2s at 00:01:01.004"
        );
    }

    #[test]
    fn a_working_reconnect_resets_the_attempts() {
        let t = drops(None, [S, 2 * S, 4 * S], [S, 2 * S, 4 * S])
            .ended(100 * S, 4, StreamEnd::Truncated)
            .reconnecting(100 * S, 4, "get", 1, S, Some("1"))
            .build();
        let o = evaluate(Duration::from_secs(1), Duration::from_secs(30), &t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert!(
            o.message
                .contains("conn#4 (stream get) waited 1s as attempt 1"),
            "{}",
            o.message
        );
    }

    #[test]
    fn no_reconnect_is_unobservable() {
        let t = TraceBuilder::new().stream(1, "get", 0).build();
        let o = evaluate(Duration::from_secs(1), Duration::from_secs(30), &t, END);
        assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    }

    #[test]
    fn the_spec_dispatches_here() {
        let t = drops(None, [S, 2 * S, 4 * S], [S, 2 * S, 4 * S]).build();
        let spec = crate::check::CheckSpec::ClientReconnectBackoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
        };
        assert_eq!(
            spec.evaluate(&t, END),
            evaluate(Duration::from_secs(1), Duration::from_secs(30), &t, END)
        );
        assert_eq!(spec.id(), ID);
    }
}
