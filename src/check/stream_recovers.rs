//! `stream.recovers`: a liveness check on the MCP client. Every time a resumable stream drops,
//! the client has it receiving again within `within`.
//!
//! ```text
//!   conn#2 GET 200 ── bytes ── ╳ dropped at T (not by the client)
//!   conn#3 GET + Last-Event-ID ── connect failed
//!   conn#4 GET + Last-Event-ID ── 200 at T + 12s          ✓ receiving again (≤ within)
//!   ... or ModeSwitched{get} ── GET /mcp?poll=1 ── 200    ✓ receiving again by polling
//!   ... or GaveUp at T + 9s, nothing later                ✗ never receiving again
//! ```
//!
//! A drop is a connection of an MCP client that holds a session (`SessionEstablished`) which
//! had a 2xx event-stream response and then ended while the scenario ran, not closed by the
//! client; a connection that ended after the client received its JSON-RPC answer on it (a
//! finished tool call) and a long-polling request (which ends by design) are not drops. It is
//! recovered by a later `GET` connection of the same stream name answered `200`, or by a
//! `200` poll (`GET /mcp?poll=1`) after the stream's `ModeSwitched`, within `within` of the
//! moment the client saw the drop. Drops within `within` of the scenario's end are not judged.

use super::client_stream::{
    client_streams, has_mcp_client, is_poll_path, outcome, ClientStream, Fate,
};
use super::{CheckOutcome, Verdict};
use crate::time::{span, stamp};
use crate::trace::{EventKind, Trace};
use std::time::Duration;

/// The check id.
pub const ID: &str = "stream.recovers";

/// The default `within`.
pub const WITHIN_DEFAULT: Duration = Duration::from_secs(60);

/// Evaluates `stream.recovers` for `stream` (every stream when `None`).
pub fn evaluate(
    stream: Option<&str>,
    within: Duration,
    trace: &Trace,
    end: Duration,
) -> CheckOutcome {
    if !has_mcp_client(trace) {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            "the client reports no MCP activity (a plain SSE client, which does not reconnect); nothing to check",
        );
    }
    let all = client_streams(trace, end);
    if let Some(n) = stream {
        if !all.iter().any(|s| s.name == n) {
            return outcome(
                ID,
                Verdict::Fail,
                Some(end),
                format!("stream {n} was never opened"),
            );
        }
    }
    let session_at = trace.events.iter().find_map(|e| match e.kind {
        EventKind::SessionEstablished { .. } if e.host == "client" => Some(e.at),
        _ => None,
    });
    let mut recovered: Vec<(Duration, Duration, String)> = Vec::new();
    let mut unjudged = 0;
    for (i, s) in all.iter().enumerate() {
        if stream.is_some_and(|n| n != s.name) {
            continue;
        }
        let Some(dropped) = drop_time(s, trace, end) else {
            continue;
        };
        if session_at.is_none_or(|at| at > dropped) {
            continue; // no session: nothing to resume
        }
        let deadline = dropped + within;
        if deadline > end {
            unjudged += 1;
            continue;
        }
        match recovery(&all[i + 1..], s.name, dropped, trace) {
            Some((at, by)) if at <= deadline => {
                recovered.push((at.saturating_sub(dropped), dropped, by));
            }
            found => {
                let late = found.map(|(at, by)| {
                    format!(
                        "; it was receiving again only at {} ({by}), {} after the drop",
                        stamp(at),
                        span(at - dropped)
                    )
                });
                return outcome(
                    ID,
                    Verdict::Fail,
                    Some(deadline),
                    format!(
                        "{} dropped at {}{} and the client did not have stream {} receiving again within {} (by {}): {}{}",
                        s.label(),
                        stamp(dropped),
                        death(s),
                        s.name,
                        span(within),
                        stamp(deadline),
                        aftermath(&all[i + 1..], s.name, dropped, deadline, trace),
                        late.unwrap_or_default()
                    ),
                );
            }
        }
    }
    let tail = if unjudged > 0 {
        format!(
            "; {unjudged} drop{} within {} of the end not judged",
            if unjudged == 1 { "" } else { "s" },
            span(within)
        )
    } else {
        String::new()
    };
    match recovered.iter().max_by_key(|(took, _, _)| *took) {
        None => outcome(
            ID,
            Verdict::Pass,
            Some(end),
            format!(
                "no {} dropped while the client held a session; nothing needed recovering{tail}",
                stream.map_or("stream".to_string(), |n| format!("connection of stream {n}"))
            ),
        ),
        Some((took, dropped, by)) => outcome(
            ID,
            Verdict::Pass,
            Some(*dropped + *took),
            format!(
                "{by} had the stream receiving again {} after the drop at {}, the slowest of {} recover{} (all within {}){tail}",
                span(*took),
                stamp(*dropped),
                recovered.len(),
                if recovered.len() == 1 { "y" } else { "ies" },
                span(within)
            ),
        ),
    }
}

/// When the client saw connection `s` drop, if it is a drop at all.
fn drop_time(s: &ClientStream<'_>, trace: &Trace, end: Duration) -> Option<Duration> {
    if !s.is_event_stream() || s.is_poll() {
        return None;
    }
    let dropped = match s.fate() {
        Fate::Died(d) => s
            .client_end()
            .filter(|(_, by_client)| !by_client)
            .map_or(d.at, |(at, _)| at),
        _ => return None,
    };
    if dropped >= end {
        return None;
    }
    let answered = s.conn.is_some_and(|c| {
        trace.conn(c).any(|e| {
            e.host == "client" && e.at <= dropped && matches!(e.kind, EventKind::RpcAnswered { .. })
        })
    });
    (!answered).then_some(dropped)
}

/// The first connection after a drop at `dropped` that has stream `name` receiving again:
/// when its `200` arrived and its label.
fn recovery(
    later: &[ClientStream<'_>],
    name: &str,
    dropped: Duration,
    trace: &Trace,
) -> Option<(Duration, String)> {
    let switched = trace.events.iter().find_map(|e| match &e.kind {
        EventKind::ModeSwitched { stream, .. }
            if e.host == "client" && stream == name && e.at >= dropped =>
        {
            Some(e.at)
        }
        _ => None,
    });
    later
        .iter()
        .filter_map(|s| {
            let (at, status) = s.response()?;
            let ok = status == 200 && matches!(s.request_head(), Some(("GET", _)));
            let poll = s.request_path().is_some_and(is_poll_path)
                && switched.is_some_and(|sw| s.opened_at >= sw);
            (ok && (s.name == name || poll)).then(|| (at, s.label()))
        })
        .min_by_key(|(at, _)| *at)
}

/// ` (closed at … by nginx (…))`, how the connection died.
fn death(s: &ClientStream<'_>) -> String {
    match s.fate() {
        Fate::Died(d) => format!(" ({})", d.sentence()),
        _ => String::new(),
    }
}

/// What the client did with stream `name` between the drop and the deadline, in words.
fn aftermath(
    later: &[ClientStream<'_>],
    name: &str,
    dropped: Duration,
    deadline: Duration,
    trace: &Trace,
) -> String {
    let mut tries: Vec<String> = Vec::new();
    for s in later
        .iter()
        .filter(|s| s.name == name && s.opened_at <= deadline)
    {
        let what = match (s.fate(), s.response()) {
            (Fate::Failed { error, .. }, _) => format!("connect failed: {error}"),
            (_, Some((_, st))) => format!("answered {st}"),
            (_, None) => "no response".to_string(),
        };
        tries.push(format!("{} at {} {what}", s.label(), stamp(s.opened_at)));
    }
    let gave_up = trace.events.iter().find_map(|e| match &e.kind {
        EventKind::GaveUp { stream, attempts }
            if e.host == "client" && stream == name && e.at >= dropped && e.at <= deadline =>
        {
            Some(format!(
                "gave up at {} after {attempts} attempt{}",
                stamp(e.at),
                if *attempts == 1 { "" } else { "s" }
            ))
        }
        _ => None,
    });
    let mut parts = Vec::new();
    if tries.is_empty() {
        parts.push("no reconnect".to_string());
    } else {
        // A client polling every 2 s makes dozens of tries: name the first three and the
        // last, which say what happened, and count the rest.
        let shown = super::client_stream::summarise(tries.clone());
        parts.push(format!(
            "{} reconnect{} ({shown})",
            tries.len(),
            if tries.len() == 1 { "" } else { "s" },
        ));
    }
    parts.extend(gave_up);
    parts.join(", then ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::TraceBuilder;
    use crate::trace::StreamEnd;

    const END: Duration = Duration::from_secs(300);
    const S: u64 = 1_000;
    const WITHIN: Duration = Duration::from_secs(60);

    /// initialize (session s1), GET stream conn 2 from 1s with a priming event, dropped by
    /// nginx at 40s.
    fn dropped_get() -> TraceBuilder {
        TraceBuilder::new()
            .intermediary("nginx", &[("idle-timeout", 30_000)])
            .post(1, "initialize", 0, "application/json")
            .session(3, 1, "s1")
            .ended(4, 1, StreamEnd::Complete)
            .stream(2, "get", S)
            .event_id(S + 4, 2, "1", "")
            .closed_by_intermediary(40 * S, 2, "nginx", "idle-timeout", "upstream silent")
            .ended(40 * S, 2, StreamEnd::Truncated)
    }

    #[test]
    fn a_reconnect_answered_200_within_the_limit_passes() {
        let t = dropped_get()
            .failed(43 * S, Some(3), "get", "connection refused")
            .resume(4, "get", 52 * S, "1")
            .build();
        let o = evaluate(Some("get"), WITHIN, &t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert_eq!(
            o.message,
            "conn#4 (stream get) had the stream receiving again 12s 3ms after the drop at 00:00:40.000, the slowest of 1 recovery (all within 60s)"
        );
    }

    #[test]
    fn giving_up_fails_naming_the_drop_the_tries_and_the_give_up() {
        let t = dropped_get()
            .failed(43 * S, Some(3), "get", "connection refused")
            .failed(49 * S, Some(4), "get", "connection refused")
            .gave_up(49 * S, 4, "get", 2)
            .build();
        let o = evaluate(None, WITHIN, &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert_eq!(
            o.message,
            "conn#2 (stream get) dropped at 00:00:40.000 (closed at 00:00:40.000 by nginx (idle-timeout 30s, upstream silent)) and the client did not have stream get receiving again within 60s (by 00:01:40.000): 2 reconnects (conn#3 (stream get) at 00:00:43.000 connect failed: connection refused, conn#4 (stream get) at 00:00:49.000 connect failed: connection refused), then gave up at 00:00:49.000 after 2 attempts"
        );
        assert_eq!(o.at, Some(Duration::from_secs(100)));
    }

    #[test]
    fn refused_reconnects_and_a_late_recovery_fail() {
        let t = dropped_get()
            .open(41 * S, 3, "get")
            .request_with(41 * S, 3, "GET", Some("1"))
            .response_typed(41 * S + 3, 3, 409, "text/plain")
            .ended(41 * S + 4, 3, StreamEnd::Complete)
            .resume(4, "get", 130 * S, "1")
            .build();
        let o = evaluate(None, WITHIN, &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message.ends_with(
                "1 reconnect (conn#3 (stream get) at 00:00:41.000 answered 409); it was receiving again only at 00:02:10.003 (conn#4 (stream get)), 1m 30s 3ms after the drop"
            ),
            "{}",
            o.message
        );
    }

    #[test]
    fn many_refused_tries_are_summarised_by_the_first_three_and_the_last() {
        let mut b = dropped_get();
        for i in 0..8u32 {
            let t = 41 * S + u64::from(i) * 2 * S;
            b = b
                .open(t, 3 + i, "get")
                .request_with(t, 3 + i, "GET", Some("1"))
                .response_typed(t + 3, 3 + i, 400, "application/json")
                .ended(t + 4, 3 + i, StreamEnd::Complete);
        }
        let o = evaluate(None, WITHIN, &b.build(), END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message.ends_with(
                "8 reconnects (conn#3 (stream get) at 00:00:41.000 answered 400, conn#4 (stream get) at 00:00:43.000 answered 400, conn#5 (stream get) at 00:00:45.000 answered 400, … 4 more …, conn#10 (stream get) at 00:00:55.000 answered 400)"
            ),
            "{}",
            o.message
        );
    }

    #[test]
    fn a_poll_after_the_mode_switch_recovers() {
        let t = dropped_get()
            .failed(41 * S, Some(3), "get", "connection refused")
            .failed(43 * S, Some(4), "get", "connection refused")
            .failed(47 * S, Some(5), "get", "connection refused")
            .mode_switched(47 * S, Some(5), "get", 3)
            .poll(6, "get", 47 * S)
            .build();
        let o = evaluate(Some("get"), WITHIN, &t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert!(
            o.message.starts_with("conn#6 (stream get)"),
            "{}",
            o.message
        );
    }

    #[test]
    fn drops_near_the_end_a_finished_call_and_a_client_close_are_not_judged() {
        let t = dropped_get()
            .resume(3, "get", 41 * S, "1")
            .ended(260 * S, 3, StreamEnd::Truncated)
            .post(4, "call", 50 * S, "text/event-stream")
            .rpc_answered(55 * S, 4, 2, "ok")
            .ended(55 * S, 4, StreamEnd::Complete)
            .post(5, "other", 60 * S, "text/event-stream")
            .client_closed(70 * S, 5)
            .build();
        let o = evaluate(None, WITHIN, &t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert!(
            o.message
                .ends_with("the slowest of 1 recovery (all within 60s); 1 drop within 60s of the end not judged"),
            "{}",
            o.message
        );
    }

    #[test]
    fn no_mcp_client_is_unobservable_and_a_never_opened_stream_fails() {
        let t = TraceBuilder::new()
            .stream(1, "main", 0)
            .ended(5 * S, 1, StreamEnd::Reset)
            .build();
        let o = evaluate(None, WITHIN, &t, END);
        assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
        let t = dropped_get().build();
        let o = evaluate(Some("gett"), WITHIN, &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert_eq!(o.message, "stream gett was never opened");
    }

    #[test]
    fn the_spec_dispatches_here() {
        let t = dropped_get().build();
        let spec = crate::check::CheckSpec::StreamRecovers {
            stream: None,
            within: WITHIN,
        };
        assert_eq!(spec.evaluate(&t, END), evaluate(None, WITHIN, &t, END));
        assert_eq!(spec.id(), ID);
    }
}
