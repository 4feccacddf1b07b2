//! `client.polling-fallback`: the MCP client's long-polling fallback (MP-301g module 3), as a
//! safety and a liveness check over each GET stream.
//!
//! ```text
//!   SSE attempt fails: connect failed | not 200 text/event-stream | ended (not by the client)
//!                      without a body byte;      an attempt that got a byte resets the count
//!   fail 1 ── fail 2 ── fail 3 ─┬─ ModeSwitched{LongPolling, failures 3} at once (± 1 ms),
//!                               │  before any further SSE attempt
//!                               └─ GET /mcp?poll=1 ≤ 1 ms later, then each ≤ 2 s + 1 ms after
//!                                  the previous start (or when it ended, if later),
//!                                  until the scenario's end − 2 s
//!   ModeSwitched before 3 consecutive failures ─▶ fail (safety)
//! ```
//!
//! A GET stream is a stream name whose first request was a `GET` (not a tool call resumed
//! over GET). Its SSE attempts are its connections that are not polls; the moment an attempt
//! failed is when the client saw it end (a refusal may be decided from its headers, so from
//! the response on). Polls are the stream's connections sent as `GET /mcp?poll=1` (and
//! connects of the stream that failed after the switch); each starts at its request.
//! `?poll=1` is a middlebox extension, not part of the MCP specification.

use super::client_stream::{client_streams, has_mcp_client, outcome, ClientStream, Fate, SERVER};
use super::{CheckOutcome, Verdict};
use crate::time::{span, stamp};
use crate::trace::{EventKind, StreamMode, Trace};
use std::time::Duration;

/// The check id.
pub const ID: &str = "client.polling-fallback";

/// Consecutive failed SSE attempts that make the client switch.
pub const FAILURES: u32 = 3;
/// The poll interval, from one poll's start to the next.
pub const POLL_EVERY: Duration = Duration::from_secs(2);
/// Timing slack.
const SLACK: Duration = Duration::from_millis(1);

/// How one SSE attempt went for the count.
struct Attempt<'a, 't> {
    s: &'a ClientStream<'t>,
    /// Failed by rule D, with the window in which the client could know: (from, to).
    failed: Option<(Duration, Duration, String)>,
    /// Received a body byte (resets the count).
    bytes: bool,
}

fn attempt<'a, 't>(s: &'a ClientStream<'t>, end: Duration) -> Attempt<'a, 't> {
    let bytes = s.received().any(|(_, b, _)| b > 0);
    let ended = s.client_end();
    let failed = match (s.fate(), s.response()) {
        (Fate::Failed { at, error }, _) => Some((at, at, format!("connect failed: {error}"))),
        (_, Some((at, status))) if !(status == 200 && s.is_event_stream()) => {
            let to = ended.map_or(end, |(t, _)| t);
            let what = match s.content_type() {
                Some(ct) => format!("answered {status} {ct}"),
                None => format!("answered {status}"),
            };
            Some((at, to, what))
        }
        (_, None) => ended
            .filter(|(_, by_client)| !by_client)
            .map(|(t, _)| (t, t, "no response".to_string())),
        _ => ended
            .filter(|(t, by_client)| !by_client && !bytes && *t < end)
            .map(|(t, _)| (t, t, "ended without a body byte".to_string())),
    };
    Attempt { s, failed, bytes }
}

/// Evaluates `client.polling-fallback`.
pub fn evaluate(trace: &Trace, end: Duration) -> CheckOutcome {
    if !has_mcp_client(trace) {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            "the client reports no MCP activity (a plain SSE client); it has no polling fallback",
        );
    }
    let all = client_streams(trace, end);
    let mut names: Vec<&str> = Vec::new();
    for s in &all {
        if !names.contains(&s.name) {
            names.push(s.name);
        }
    }
    let gets: Vec<&str> = names
        .into_iter()
        .filter(|n| {
            all.iter()
                .filter(|s| s.name == *n)
                .find_map(|s| s.request_head())
                .is_some_and(|(m, _)| m == "GET")
        })
        .collect();
    if gets.is_empty() {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            "the client opened no MCP GET stream; nothing could fall back to polling",
        );
    }
    let mut most: (u32, &str) = (0, gets[0]);
    let mut switched: Vec<String> = Vec::new();
    for name in gets {
        let conns: Vec<&ClientStream<'_>> = all.iter().filter(|s| s.name == name).collect();
        let switch = trace.events.iter().find_map(|e| match &e.kind {
            EventKind::ModeSwitched {
                stream,
                to,
                failures,
            } if e.host != SERVER && stream == name => Some((e.at, *to, *failures)),
            _ => None,
        });
        let attempts: Vec<Attempt<'_, '_>> = conns
            .iter()
            .filter(|s| !s.is_poll())
            .filter(|s| switch.is_none_or(|(sw, _, _)| s.opened_at <= sw + SLACK))
            .map(|s| attempt(s, end))
            .collect();
        let mut count = 0u32;
        let mut third: Option<usize> = None;
        for (i, a) in attempts.iter().enumerate() {
            if let (Some((sw, _, _)), Some((from, _, _))) = (switch, &a.failed) {
                if *from > sw + SLACK {
                    break; // decided after the switch
                }
            }
            if a.failed.is_some() {
                count += 1;
                most = most.max((count, name));
                if count == FAILURES {
                    third = Some(i);
                    break;
                }
            } else if a.bytes {
                count = 0;
            }
        }
        let Some(k) = third else {
            if let Some((sw, _, _)) = switch {
                return outcome(
                    ID,
                    Verdict::Fail,
                    Some(sw),
                    format!(
                        "stream {name} switched to long polling at {} after only {count} consecutive failed SSE connection{}; expected a switch only after {FAILURES}",
                        stamp(sw),
                        if count == 1 { "" } else { "s" }
                    ),
                );
            }
            continue;
        };
        let a = &attempts[k];
        let (from, to, how) = a.failed.clone().expect("the third attempt failed");
        let third_what = format!(
            "{} at {} ({how}) was the {FAILURES}rd consecutive failed SSE connection of stream {name}",
            a.s.label(),
            stamp(to)
        );
        let Some((sw, mode, failures)) = switch else {
            return outcome(
                ID,
                Verdict::Fail,
                Some(to + SLACK),
                format!("{third_what}, but the client never switched it to long polling; expected ModeSwitched at once"),
            );
        };
        if sw + SLACK < from {
            return outcome(
                ID,
                Verdict::Fail,
                Some(sw),
                format!(
                    "stream {name} switched to long polling at {}, before its {FAILURES}rd consecutive failure was known ({third_what})",
                    stamp(sw)
                ),
            );
        }
        if sw > to + SLACK {
            let tried = attempts
                .get(k + 1)
                .map(|n| {
                    format!(
                        "; it tried SSE again first ({} at {})",
                        n.s.label(),
                        stamp(n.s.opened_at)
                    )
                })
                .unwrap_or_default();
            return outcome(
                ID,
                Verdict::Fail,
                Some(to + SLACK),
                format!(
                    "{third_what}, but the client switched it to long polling only at {}, {} later; expected at once (± 1ms){tried}",
                    stamp(sw),
                    span(sw - to)
                ),
            );
        }
        if mode != StreamMode::LongPolling || failures != FAILURES {
            return outcome(
                ID,
                Verdict::Fail,
                Some(sw),
                format!(
                    "stream {name} recorded ModeSwitched{{to {mode:?}, failures {failures}}} at {}; expected to LongPolling after {FAILURES} failures",
                    stamp(sw)
                ),
            );
        }
        // Polls: the stream's poll requests (and failed connects) from the switch on.
        let polls: Vec<(Duration, Duration, String)> = conns
            .iter()
            .filter(|s| s.opened_at + SLACK >= sw)
            .filter(|s| s.is_poll() || s.request_head().is_none())
            .map(|s| {
                let start = s.request_sent().unwrap_or(s.opened_at);
                let done = s.client_end().map_or(end, |(t, _)| t);
                (start, done, s.label())
            })
            .collect();
        let Some(first) = polls.first() else {
            let due = sw + SLACK;
            return outcome(
                ID,
                Verdict::Fail,
                Some(due),
                format!(
                    "stream {name} switched to long polling at {}, but the client never sent a poll (GET /mcp?poll=1); expected the first by {}",
                    stamp(sw),
                    stamp(due)
                ),
            );
        };
        if first.0 > sw + SLACK {
            return outcome(
                ID,
                Verdict::Fail,
                Some(sw + SLACK),
                format!(
                    "{} polled first at {}, {} after stream {name} switched to long polling at {}; expected the first poll at once (± 1ms)",
                    first.2,
                    stamp(first.0),
                    span(first.0 - sw),
                    stamp(sw)
                ),
            );
        }
        let mut gap_max = Duration::ZERO;
        for (i, (start, done, label)) in polls.iter().enumerate() {
            let due = (*start + POLL_EVERY).max(*done) + SLACK;
            match polls.get(i + 1) {
                Some((next, _, next_label)) if *next > due => {
                    return outcome(
                        ID,
                        Verdict::Fail,
                        Some(due),
                        format!(
                            "{next_label} polled at {}, {} after the previous poll ({label}) started at {}; expected every {} (or as soon as the previous one ended)",
                            stamp(*next),
                            span(*next - *start),
                            stamp(*start),
                            span(POLL_EVERY)
                        ),
                    );
                }
                Some((next, _, _)) => gap_max = gap_max.max(*next - *start),
                None if due + POLL_EVERY < end => {
                    return outcome(
                        ID,
                        Verdict::Fail,
                        Some(due),
                        format!(
                            "{label} at {} was the last poll of stream {name}; expected the next by {} and polling until {}",
                            stamp(*start),
                            stamp(due),
                            stamp(end.saturating_sub(POLL_EVERY))
                        ),
                    );
                }
                None => {}
            }
        }
        switched.push(format!(
            "stream {name} switched to long polling at {} right after its {FAILURES}rd consecutive failed SSE connection ({}), then polled {} time{}, starts at most {} apart",
            stamp(sw),
            a.s.label(),
            polls.len(),
            if polls.len() == 1 { "" } else { "s" },
            span(gap_max)
        ));
    }
    if switched.is_empty() {
        return outcome(
            ID,
            Verdict::Pass,
            Some(end),
            format!(
                "no GET stream had {FAILURES} consecutive failed SSE connections (at most {} on stream {}); no switch was due and none was made",
                most.0, most.1
            ),
        );
    }
    outcome(ID, Verdict::Pass, Some(end), switched.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::TraceBuilder;
    use crate::trace::StreamEnd;

    const END: Duration = Duration::from_secs(30);
    const S: u64 = 1_000;

    /// initialize (session s1), GET conn 2 at 1s gets a byte and drops at 5s; then three
    /// failing attempts: conn 3 refused at 6s, conn 4 answered 503 at 8s (ends 8.004s),
    /// conn 5 ends without a byte at 12.010s.
    fn three_failures() -> TraceBuilder {
        TraceBuilder::new()
            .post(1, "initialize", 0, "application/json")
            .session(3, 1, "s1")
            .ended(4, 1, StreamEnd::Complete)
            .stream(2, "get", S)
            .event_id(S + 4, 2, "1", "")
            .ended(5 * S, 2, StreamEnd::Truncated)
            .failed(6 * S, Some(3), "get", "connection refused")
            .open(8 * S, 4, "get")
            .request_with(8 * S, 4, "GET", Some("1"))
            .response_typed(8 * S + 3, 4, 503, "text/plain")
            .ended(8 * S + 4, 4, StreamEnd::Complete)
            .resume(5, "get", 12 * S, "1")
            .ended(12 * S + 10, 5, StreamEnd::Truncated)
    }

    /// Polls of stream get on conns from `conn` on, from `t0`, one every `every` ms, each
    /// 5 ms long, until `until`.
    fn polls(mut b: TraceBuilder, mut conn: u32, t0: u64, every: u64, until: u64) -> TraceBuilder {
        let mut t = t0;
        while t < until {
            b = b
                .poll(conn, "get", t)
                .ended(t + 5, conn, StreamEnd::Complete);
            t += every;
            conn += 1;
        }
        b
    }

    #[test]
    fn a_switch_at_the_third_failure_then_polls_every_2s_pass() {
        let b = three_failures().mode_switched(12 * S + 10, Some(5), "get", 3);
        let t = polls(b, 6, 12 * S + 10, 2 * S, END.as_millis() as u64).build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert_eq!(
            o.message,
            "stream get switched to long polling at 00:00:12.010 right after its 3rd consecutive failed SSE connection (conn#5 (stream get)), then polled 9 times, starts at most 2s apart"
        );
    }

    #[test]
    fn no_three_failures_passes_saying_so() {
        let t = TraceBuilder::new()
            .post(1, "initialize", 0, "application/json")
            .session(3, 1, "s1")
            .stream(2, "get", S)
            .ended(5 * S, 2, StreamEnd::Truncated)
            .failed(6 * S, Some(3), "get", "connection refused")
            .resume(4, "get", 8 * S, "1")
            .comment(8 * S + 4, 4)
            .failed(20 * S, Some(5), "get", "connection refused")
            .build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert_eq!(
            o.message,
            "no GET stream had 3 consecutive failed SSE connections (at most 2 on stream get); no switch was due and none was made"
        );
    }

    #[test]
    fn switching_before_three_failures_fails() {
        let t = three_failures()
            .mode_switched(8 * S + 4, Some(4), "get", 3)
            .build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert_eq!(
            o.message,
            "stream get switched to long polling at 00:00:08.004 after only 2 consecutive failed SSE connections; expected a switch only after 3"
        );
    }

    #[test]
    fn no_switch_or_a_late_one_after_the_third_failure_fails() {
        let t = three_failures().build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert_eq!(
            o.message,
            "conn#5 (stream get) at 00:00:12.010 (ended without a body byte) was the 3rd consecutive failed SSE connection of stream get, but the client never switched it to long polling; expected ModeSwitched at once"
        );
        let t = three_failures()
            .failed(14 * S, Some(6), "get", "connection refused")
            .mode_switched(14 * S, Some(6), "get", 3)
            .build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message.ends_with(
                "switched it to long polling only at 00:00:14.000, 1s 990ms later; expected at once (± 1ms); it tried SSE again first (conn#6 (stream get) at 00:00:14.000)"
            ),
            "{}",
            o.message
        );
    }

    #[test]
    fn polls_that_lag_or_stop_fail() {
        let b = three_failures().mode_switched(12 * S + 10, Some(5), "get", 3);
        let t = polls(b, 6, 12 * S + 10, 3 * S, END.as_millis() as u64).build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert_eq!(
            o.message,
            "conn#7 (stream get) polled at 00:00:15.010, 3s after the previous poll (conn#6 (stream get)) started at 00:00:12.010; expected every 2s (or as soon as the previous one ended)"
        );
        let b = three_failures().mode_switched(12 * S + 10, Some(5), "get", 3);
        let t = polls(b, 6, 12 * S + 10, 2 * S, 20 * S).build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message.contains("was the last poll of stream get"),
            "{}",
            o.message
        );
        // A first poll 2s after the switch is late.
        let b = three_failures().mode_switched(12 * S + 10, Some(5), "get", 3);
        let t = polls(b, 6, 14 * S + 10, 2 * S, END.as_millis() as u64).build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(o.message.contains("polled first at"), "{}", o.message);
    }

    #[test]
    fn a_long_poll_delays_the_next_one() {
        let t = three_failures()
            .mode_switched(12 * S + 10, Some(5), "get", 3)
            .poll(6, "get", 12 * S + 10)
            .ended(17 * S, 6, StreamEnd::Complete)
            .poll(7, "get", 17 * S);
        let t = polls(t, 8, 19 * S, 2 * S, END.as_millis() as u64).build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    }

    #[test]
    fn without_an_mcp_client_or_a_get_stream_it_is_unobservable() {
        let t = TraceBuilder::new().stream(1, "main", 0).build();
        assert_eq!(evaluate(&t, END).verdict, Verdict::Unobservable);
        let t = TraceBuilder::new()
            .post(1, "call", 0, "text/event-stream")
            .rpc_answered(5, 1, 2, "ok")
            .build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    }

    #[test]
    fn the_spec_dispatches_here() {
        let t = three_failures().build();
        let spec = crate::check::CheckSpec::ClientPollingFallback;
        assert_eq!(spec.evaluate(&t, END), evaluate(&t, END));
        assert_eq!(spec.id(), ID);
    }
}
