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
mod tests;
