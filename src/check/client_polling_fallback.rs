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
mod tests;
