//! `stream.recovers`: a liveness check on the MCP client. Every time a resumable stream goes
//! down, the client has it receiving again, on the same session, within `within`.
//!
//! ```text
//!   conn#2 GET 200 ── bytes ── ╳ dropped at T (not by the client)         ▼ down
//!   conn#3 GET + Last-Event-ID ── 500                                      (a failed try)
//!   conn#4 GET + Last-Event-ID ── 200 event stream at T + 12s, session s1   ✓ receiving again
//!   ... or ModeSwitched{get} ── GET /mcp?poll=1 ── 200                     ✓ by polling
//!   ... or 404 for s1, initialize → s2, GET on s2 ── 200                   ✗ not this stream:
//!                                                   what s1 stored is gone (session.survives)
//!   conn#2 GET ── 500 (the stream's first try)                             ▼ down: never up
//! ```
//!
//! Each stream name's connections are walked in order (polls and POSTs aside). The stream goes
//! down when an event-stream connection of it (2xx `text/event-stream`) ends while the
//! scenario runs, not closed by the client and not after the client got its JSON-RPC answer
//! on it (a finished tool call); or when a `GET` of it, while it is up (or before it ever was),
//! gets no event stream: no connection, a non-2xx answer, or a 2xx that is no event stream. It
//! is receiving again at the first later `GET` of it answered with an event stream, or a `200`
//! poll (`GET /mcp?poll=1`) after the stream's `ModeSwitched`, made while the client held the
//! session it held when the stream went down. Only while the client holds a session
//! (`SessionEstablished`). With `across_sessions`, a GET on any later session counts (the
//! client recovered by starting over; what the lost session stored is gone). Downs within
//! `within` of the scenario's end are not judged; with no down at all there is nothing to
//! judge.

use super::client_stream::{
    client_sessions, client_streams, has_mcp_client, is_poll_path, outcome, session_at,
    ClientStream, Fate, SERVER,
};
use super::{CheckOutcome, Verdict};
use crate::time::{span, stamp};
use crate::trace::{EventKind, Trace};
use std::time::Duration;

/// The check id.
pub const ID: &str = "stream.recovers";

/// The default `within`.
pub const WITHIN_DEFAULT: Duration = Duration::from_secs(60);

/// A stream going down: when, on which connection, how, and the session the client held.
struct Down<'a, 't> {
    at: Duration,
    /// Index into the client streams of the connection that went down.
    index: usize,
    conn: &'a ClientStream<'t>,
    /// ` (closed at … by nginx (…))` or ` (answered 500)`.
    how: String,
    /// `dropped`, or `got no event stream` for a try that never opened.
    verb: &'static str,
    session: &'t str,
}

/// Evaluates `stream.recovers` for `stream` (every stream when `None`).
pub fn evaluate(
    stream: Option<&str>,
    within: Duration,
    across_sessions: bool,
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
    let sessions = client_sessions(trace);
    let mut downs: Vec<Down<'_, '_>> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for s in &all {
        if !names.contains(&s.name) && stream.is_none_or(|n| n == s.name) {
            names.push(s.name);
        }
    }
    for name in names {
        let mut up = false;
        for (i, s) in all.iter().enumerate() {
            if s.name != name || s.is_poll() {
                continue;
            }
            let get = matches!(s.request_head(), Some(("GET", _)));
            if carried(s) {
                up = true;
                if let Some(at) = drop_time(s, trace, end) {
                    if let Some(session) = session_at(&sessions, at) {
                        downs.push(Down {
                            at,
                            index: i,
                            conn: s,
                            how: death(s),
                            verb: "dropped",
                            session,
                        });
                    }
                    up = false;
                }
            } else if get && (up || !downs.iter().any(|d| d.conn.name == name)) {
                // A try of a stream that is not down yet: it goes down here.
                let at = s.response().map_or(s.span_end(), |(at, _)| at);
                if at >= end {
                    continue;
                }
                let asked = s.request_sent().unwrap_or(s.opened_at);
                if let Some(session) = session_at(&sessions, asked) {
                    downs.push(Down {
                        at,
                        index: i,
                        conn: s,
                        how: format!(" ({})", no_stream(s)),
                        verb: "got no event stream",
                        session,
                    });
                }
                up = false;
            }
        }
    }
    downs.sort_by_key(|d| (d.at, d.index));
    if downs.is_empty() {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            format!(
                "no {} went down while the client held a session; nothing needed recovering",
                stream.map_or("stream".to_string(), |n| format!(
                    "connection of stream {n}"
                ))
            ),
        );
    }
    let mut recovered: Vec<(Duration, Duration, String)> = Vec::new();
    let mut unjudged = 0;
    for d in &downs {
        let deadline = d.at + within;
        if deadline > end {
            unjudged += 1;
            continue;
        }
        let name = d.conn.name;
        let later = &all[d.index + 1..];
        let on = (!across_sessions).then_some(d.session);
        match recovery(later, name, d.at, on, &sessions, trace) {
            Some((at, by)) if at <= deadline => {
                recovered.push((at.saturating_sub(d.at), d.at, by));
            }
            found => {
                let late = found.map(|(at, by)| {
                    format!(
                        "; it was receiving again only at {} ({by}), {} after the drop",
                        stamp(at),
                        span(at - d.at)
                    )
                });
                let elsewhere = other_session(later, name, d.at, within, d.session, &sessions)
                    .filter(|_| !across_sessions);
                return outcome(
                    ID,
                    Verdict::Fail,
                    Some(deadline),
                    format!(
                        "{} {} at {}{} and the client did not have stream {name} receiving again {} within {} (by {}): {}{}{}",
                        d.conn.label(),
                        d.verb,
                        stamp(d.at),
                        d.how,
                        if across_sessions {
                            "on any session".to_string()
                        } else {
                            format!("on session {}", d.session)
                        },
                        span(within),
                        stamp(deadline),
                        aftermath(later, name, d.at, deadline, trace),
                        elsewhere.unwrap_or_default(),
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
            Verdict::Unobservable,
            None,
            format!(
                "every time a stream went down was within {} of the end: nothing judged{tail}",
                span(within)
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

/// Whether a connection carried an event stream: a 2xx `text/event-stream` answer, unless the
/// server itself ended it before a single body byte reached the client (an empty `200` that
/// ends at once carries nothing; a stream a proxy cut, or one still open, did carry one).
fn carried(s: &ClientStream<'_>) -> bool {
    if !s.is_event_stream() {
        return false;
    }
    let ended_by_server = matches!(s.fate(), Fate::Died(d) if d.by.as_deref() == Some(SERVER));
    !ended_by_server || s.received().any(|(_, bytes, _)| bytes > 0)
}

/// Why a connection carried no event stream: `connect failed: refused`, `answered 500`,
/// `answered 200 application/json, not an event stream`, `no response`.
fn no_stream(s: &ClientStream<'_>) -> String {
    match (s.fate(), s.response()) {
        (Fate::Failed { error, .. }, _) => format!("connect failed: {error}"),
        (_, Some((_, st))) if s.is_event_stream() => {
            format!("answered {st} with an event stream that ended before a byte")
        }
        (_, Some((_, st))) if (200..300).contains(&st) => format!(
            "answered {st} {}, not an event stream",
            s.content_type().unwrap_or("(no content-type)")
        ),
        (_, Some((_, st))) => format!("answered {st}"),
        (_, None) => "no response".to_string(),
    }
}

/// When the client saw event-stream connection `s` drop, if it is a drop at all.
fn drop_time(s: &ClientStream<'_>, trace: &Trace, end: Duration) -> Option<Duration> {
    if s.is_poll() {
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

/// The first connection after a down at `dropped` that has stream `name` receiving again on
/// `session`: when its answer arrived and its label.
fn recovery(
    later: &[ClientStream<'_>],
    name: &str,
    dropped: Duration,
    session: Option<&str>,
    sessions: &[(Duration, &str)],
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
        .filter(|s| {
            let asked = s.request_sent().unwrap_or(s.opened_at);
            session.is_none_or(|want| session_at(sessions, asked) == Some(want))
        })
        .filter_map(|s| {
            let (at, status) = s.response()?;
            let ok = carried(s) && matches!(s.request_head(), Some(("GET", _)));
            let poll = status == 200
                && s.request_path().is_some_and(is_poll_path)
                && switched.is_some_and(|sw| s.opened_at >= sw);
            (((ok && s.name == name) && !s.is_poll()) || poll).then(|| (at, s.label()))
        })
        .min_by_key(|(at, _)| *at)
}

/// `; the client lost session s1 and had stream get receiving on session s2 from …`, when a
/// GET of the stream worked only on another session within the window.
fn other_session(
    later: &[ClientStream<'_>],
    name: &str,
    dropped: Duration,
    within: Duration,
    session: &str,
    sessions: &[(Duration, &str)],
) -> Option<String> {
    let deadline = dropped + within;
    later
        .iter()
        .filter(|s| s.name == name && carried(s) && s.opened_at >= dropped)
        .filter_map(|s| {
            let (at, _) = s.response()?;
            let asked = s.request_sent().unwrap_or(s.opened_at);
            let other = session_at(sessions, asked).filter(|o| *o != session)?;
            (at <= deadline).then(|| {
                format!(
                    "; {} had it receiving on another session, {other}, from {}: what the server kept for session {session} is not resumed there (see session.survives)",
                    s.label(),
                    stamp(at)
                )
            })
        })
        .next()
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
        let o = evaluate(Some("get"), WITHIN, false, &t, END);
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
        let o = evaluate(None, WITHIN, false, &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert_eq!(
            o.message,
            "conn#2 (stream get) dropped at 00:00:40.000 (closed at 00:00:40.000 by nginx (idle-timeout 30s, upstream silent)) and the client did not have stream get receiving again on session s1 within 60s (by 00:01:40.000): 2 reconnects (conn#3 (stream get) at 00:00:43.000 connect failed: connection refused, conn#4 (stream get) at 00:00:49.000 connect failed: connection refused), then gave up at 00:00:49.000 after 2 attempts"
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
        let o = evaluate(None, WITHIN, false, &t, END);
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
        let o = evaluate(None, WITHIN, false, &b.build(), END);
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
        let o = evaluate(Some("get"), WITHIN, false, &t, END);
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
        let o = evaluate(None, WITHIN, false, &t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert!(
            o.message
                .ends_with("the slowest of 1 recovery (all within 60s); 1 drop within 60s of the end not judged"),
            "{}",
            o.message
        );
    }

    #[test]
    fn a_first_get_answered_500_needs_recovering() {
        let base = || {
            TraceBuilder::new()
                .post(1, "initialize", 0, "application/json")
                .session(3, 1, "s1")
                .ended(4, 1, StreamEnd::Complete)
                .open(S, 2, "get")
                .request_with(S, 2, "GET", None)
                .response_typed(S + 3, 2, 500, "text/plain")
                .ended(S + 4, 2, StreamEnd::Complete)
        };
        // Never answered with an event stream: fails (was: "nothing needed recovering").
        let o = evaluate(None, WITHIN, false, &base().build(), END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message.starts_with(
                "conn#2 (stream get) got no event stream at 00:00:01.003 (answered 500) and the client did not have stream get receiving again on session s1 within 60s"
            ),
            "{}",
            o.message
        );
        // A later try answered with an event stream recovers it.
        let o = evaluate(
            None,
            WITHIN,
            false,
            &base().stream(3, "get", 4 * S).build(),
            END,
        );
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert!(
            o.message.starts_with("conn#3 (stream get)"),
            "{}",
            o.message
        );
    }

    #[test]
    fn a_get_on_a_new_session_is_not_the_stream_recovering() {
        // The drop at 40s; the resume is answered 404 (session s1 gone); the client
        // initializes s2 and opens the GET again there.
        let t = dropped_get()
            .open(41 * S, 3, "get")
            .request_with(41 * S, 3, "GET", Some("1"))
            .response_typed(41 * S + 3, 3, 404, "application/json")
            .ended(41 * S + 4, 3, StreamEnd::Complete)
            .post(4, "initialize", 42 * S, "application/json")
            .session(42 * S + 3, 4, "s2")
            .ended(42 * S + 4, 4, StreamEnd::Complete)
            .stream(5, "get", 43 * S)
            .build();
        let o = evaluate(None, WITHIN, false, &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message
                .contains("receiving again on session s1 within 60s"),
            "{}",
            o.message
        );
        assert!(
            o.message.ends_with(
                "; conn#5 (stream get) had it receiving on another session, s2, from 00:00:43.003: what the server kept for session s1 is not resumed there (see session.survives)"
            ),
            "{}",
            o.message
        );
    }

    #[test]
    fn an_empty_200_that_ends_at_once_is_not_receiving_again() {
        let t = dropped_get()
            .resume(3, "get", 42 * S, "1")
            .ended(42 * S + 4, 3, StreamEnd::Complete)
            .resume(4, "get", 45 * S, "1")
            .ended(45 * S + 4, 4, StreamEnd::Complete)
            .build();
        let o = evaluate(None, WITHIN, false, &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message
                .contains("2 reconnects (conn#3 (stream get) at 00:00:42.000 answered 200"),
            "{}",
            o.message
        );
    }

    #[test]
    fn across_sessions_a_get_on_a_new_session_counts() {
        let t = dropped_get()
            .open(41 * S, 3, "get")
            .request_with(41 * S, 3, "GET", Some("1"))
            .response_typed(41 * S + 3, 3, 404, "application/json")
            .ended(41 * S + 4, 3, StreamEnd::Complete)
            .post(4, "initialize", 42 * S, "application/json")
            .session(42 * S + 3, 4, "s2")
            .ended(42 * S + 4, 4, StreamEnd::Complete)
            .stream(5, "get", 43 * S)
            .build();
        let o = evaluate(None, WITHIN, true, &t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert!(
            o.message
                .starts_with("conn#5 (stream get) had the stream receiving again 3s 3ms"),
            "{}",
            o.message
        );
    }

    #[test]
    fn nothing_going_down_is_unobservable() {
        let t = TraceBuilder::new()
            .post(1, "initialize", 0, "application/json")
            .session(3, 1, "s1")
            .ended(4, 1, StreamEnd::Complete)
            .stream(2, "get", S)
            .client_closed(300 * S, 2)
            .build();
        let o = evaluate(None, WITHIN, false, &t, END);
        assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
        assert!(
            o.message.ends_with("nothing needed recovering"),
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
        let o = evaluate(None, WITHIN, false, &t, END);
        assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
        let t = dropped_get().build();
        let o = evaluate(Some("gett"), WITHIN, false, &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert_eq!(o.message, "stream gett was never opened");
    }

    #[test]
    fn the_spec_dispatches_here() {
        let t = dropped_get().build();
        let spec = crate::check::CheckSpec::StreamRecovers {
            stream: None,
            within: WITHIN,
            across_sessions: false,
        };
        assert_eq!(
            spec.evaluate(&t, END),
            evaluate(None, WITHIN, false, &t, END)
        );
        assert_eq!(spec.id(), ID);
    }
}
