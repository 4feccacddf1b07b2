//! `client.keepalive-warnings`: the MCP client's missed-keepalive warnings (MP-301g module 3),
//! as a safety and a liveness check.
//!
//! ```text
//!   headers ── byte ────────── 1.5 × expected silent ─── + expected ─── + expected ── byte
//!                              MissedKeepalive{silent}   warn again     warn again
//!   every due warning missing (within tick + 1 ms) ─▶ fail (liveness)
//!   a warning that was not due                     ─▶ fail (safety)
//! ```
//!
//! Connections judged: those of an MCP client answered 2xx `text/event-stream`, except
//! long-polling requests (`?poll=1`), from their response headers until the client saw them
//! end (or the scenario's end). Silence is counted from the last body byte (or the headers).
//! When a byte or the end arrives at exactly a due instant, a warning is allowed but not
//! required. A warning matches a due instant when it comes within tick + 1 ms after it, on
//! the same connection, with `silent` within the same slack and the check's `expected`.

use super::client_stream::{
    client_streams, earliest_failure, has_mcp_client, outcome, ClientStream, SERVER,
};
use super::{CheckOutcome, Verdict};
use crate::time::{span, stamp};
use crate::trace::{ClientWarning, ConnId, EventKind, Trace};
use std::time::Duration;

/// The check id.
pub const ID: &str = "client.keepalive-warnings";

/// The default `expected`.
pub const EXPECTED_DEFAULT: Duration = Duration::from_secs(30);

/// One warning due on a connection.
struct Due {
    conn: ConnId,
    label: String,
    at: Duration,
    /// The silence it reports.
    silent: Duration,
    /// Start of the silence, and what it was (`response headers` or `last body byte`).
    since: (Duration, &'static str),
    required: bool,
}

/// The first due instant: 1.5 × `expected` of silence.
fn first(expected: Duration) -> Duration {
    expected + expected / 2
}

fn dues(s: &ClientStream<'_>, expected: Duration, end: Duration) -> Vec<Due> {
    let (Some(conn), Some((headers, _))) = (s.conn, s.response()) else {
        return Vec::new();
    };
    let stop = s.client_end().map_or(end, |(t, _)| t.min(end));
    let mut marks: Vec<(Duration, bool)> = s
        .received()
        .filter(|(t, bytes, _)| *bytes > 0 && *t >= headers)
        .map(|(t, _, _)| (t, false))
        .collect();
    marks.push((stop, true));
    let mut out = Vec::new();
    let mut since = (headers, "response headers");
    for (next, _) in marks {
        let mut w = since.0 + first(expected);
        while w <= next {
            out.push(Due {
                conn,
                label: s.label(),
                at: w,
                silent: w - since.0,
                since,
                required: w < next,
            });
            w += expected;
        }
        since = (next, "last body byte");
    }
    out
}

/// When `s` last received a body byte, by `t`.
fn last_byte(s: &ClientStream<'_>, t: Duration) -> Option<Duration> {
    s.received()
        .filter(|(at, bytes, _)| *bytes > 0 && *at <= t)
        .map(|(at, _, _)| at)
        .last()
}

/// Evaluates `client.keepalive-warnings` for a keepalive interval of `expected`.
pub fn evaluate(expected: Duration, tick: Duration, trace: &Trace, end: Duration) -> CheckOutcome {
    let tol = tick + Duration::from_millis(1);
    if !has_mcp_client(trace) {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            "the client reports no MCP activity (a plain SSE client); it logs no keepalive warnings",
        );
    }
    let all = client_streams(trace, end);
    let judged: Vec<&ClientStream<'_>> = all
        .iter()
        .filter(|s| s.conn.is_some() && s.is_event_stream() && !s.is_poll())
        .collect();
    if judged.is_empty() {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            "the MCP client read no SSE connection; nothing to check",
        );
    }
    let due: Vec<Due> = judged.iter().flat_map(|s| dues(s, expected, end)).collect();
    let mut matched = vec![false; due.len()];
    let mut failures: Vec<(Duration, String)> = Vec::new();
    for e in trace.events.iter().filter(|e| e.host != SERVER) {
        let EventKind::ClientWarned {
            stream,
            warning:
                ClientWarning::MissedKeepalive {
                    silent,
                    expected: said,
                },
        } = &e.kind
        else {
            continue;
        };
        let hit = due.iter().enumerate().position(|(i, d)| {
            !matched[i]
                && Some(d.conn) == e.conn
                && e.at >= d.at
                && e.at <= d.at + tol
                && silent.abs_diff(d.silent) <= tol
                && *said == expected
        });
        if let Some(i) = hit {
            matched[i] = true;
            continue;
        }
        let on = e.conn.map_or_else(
            || format!("stream {stream}"),
            |c| format!("{c} (stream {stream})"),
        );
        let why = if *said != expected {
            format!(
                "it expected a keepalive every {}, the check every {}",
                span(*said),
                span(expected)
            )
        } else {
            // A byte after the last due instant started a new silence.
            let byte = judged
                .iter()
                .find(|s| s.conn == e.conn)
                .and_then(|s| last_byte(s, e.at));
            match (
                due.iter().rfind(|d| Some(d.conn) == e.conn && d.at <= e.at),
                byte,
            ) {
                (Some(d), Some(byte)) if byte > d.since.0 => format!(
                    "no warning was due then: the connection had been silent {} (since its last body byte at {})",
                    span(e.at - byte),
                    stamp(byte)
                ),
                (Some(d), _) => format!(
                    "no warning was due then: the last one due was at {} (silent {})",
                    stamp(d.at),
                    span(d.silent)
                ),
                (None, _) => format!(
                    "no warning was due then: none is due before {} of silence (1.5 × {})",
                    span(first(expected)),
                    span(expected)
                ),
            }
        };
        failures.push((
            e.at,
            format!(
                "{on}: the client warned MissedKeepalive{{silent {}, expected {}}} at {}, but {why}",
                span(*silent),
                span(*said),
                stamp(e.at)
            ),
        ));
    }
    for (d, _) in due.iter().zip(&matched).filter(|(d, m)| d.required && !**m) {
        failures.push((
            d.at + tol,
            format!(
                "{} was silent {} from its {} at {} to {} (1.5 × expected {}, then each {}), but the client recorded no MissedKeepalive{{silent {}}} warning on it by {}",
                d.label,
                span(d.silent),
                d.since.1,
                stamp(d.since.0),
                stamp(d.at),
                span(expected),
                span(expected),
                span(d.silent),
                stamp(d.at + tol)
            ),
        ));
    }
    if let Some(failed) = earliest_failure(ID, failures) {
        return failed;
    }
    let warned = matched.iter().filter(|m| **m).count();
    if warned == 0 {
        return outcome(
            ID,
            Verdict::Pass,
            Some(end),
            format!(
                "no connection was silent for {} (1.5 × expected {}) and the client warned of none; {} connection{} checked",
                span(first(expected)),
                span(expected),
                judged.len(),
                if judged.len() == 1 { "" } else { "s" }
            ),
        );
    }
    let last = due
        .iter()
        .zip(&matched)
        .filter(|(_, m)| **m)
        .map(|(d, _)| d.at)
        .max();
    outcome(
        ID,
        Verdict::Pass,
        last,
        format!(
            "the client warned of every missed keepalive ({warned} warning{}, expected every {}) and of nothing else",
            if warned == 1 { "" } else { "s" },
            span(expected)
        ),
    )
}

#[cfg(test)]
mod tests;
