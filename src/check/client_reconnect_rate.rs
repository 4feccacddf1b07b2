//! `client.reconnect-rate`: a safety check on the client. No stream is reconnected more than
//! `reconnects_max` times within any `window`, whatever made it reconnect: a proxy cutting
//! every few seconds, a server ending the stream cleanly at once, an empty `200` to a resumed
//! `GET`, a refused resume. A reconnect storm loads every hop and usually means the client
//! resets its backoff on connections that brought nothing.
//!
//! ```text
//!   stream get:  conn#3 ╳  conn#4 ╳  conn#5 ╳  …  conn#11 ╳
//!                 └────────── window 1m ──────────┘  7 reconnects > reconnects-max 6 ✗
//! ```
//!
//! A reconnect is a connection of a stream after the first one of its logical stream (a first
//! connection and the ones that follow it until the client closes the stream itself; see
//! `delivery.exactly-once`), that is a `GET` or a failed connect: a new `POST` (another tool
//! call) or a long-polling request (`GET /mcp?poll=1`, which polls by design) is no
//! reconnect. A stream the client closes and opens again on its timeline is not reconnected.
//! With no reconnect at all there is nothing to judge.

use super::client_stream::{client_streams, outcome, summarise, ClientStream, Fate};
use super::delivery_exactly_once::logical_streams;
use super::{CheckOutcome, Verdict};
use crate::time::{span, stamp};
use crate::trace::Trace;
use std::time::Duration;

/// The check id.
pub const ID: &str = "client.reconnect-rate";

/// The default `reconnects-max`: a client whose backoff starts at 1 s and doubles makes at
/// most 6 tries in a minute (0, 1, 3, 7, 15, 31 s), and a proxy cutting every 10 s with a
/// 3 s `retry` makes 5 (every 13 s).
pub const RECONNECTS_MAX_DEFAULT: u32 = 6;

/// The default `window`.
pub const WINDOW_DEFAULT: Duration = Duration::from_secs(60);

/// One reconnect: when it was made, the connection, and what ended the one before it.
struct Reconnect<'a, 't> {
    at: Duration,
    conn: &'a ClientStream<'t>,
    previous: &'a ClientStream<'t>,
}

/// Evaluates `client.reconnect-rate`: at most `reconnects_max` reconnects of one stream within
/// any `window`.
pub fn evaluate(
    reconnects_max: u32,
    window: Duration,
    trace: &Trace,
    end: Duration,
) -> CheckOutcome {
    let all = client_streams(trace, end);
    // Reconnects by stream name, in the order the names first appear.
    let mut by_name: Vec<(&str, Vec<Reconnect<'_, '_>>)> = Vec::new();
    for group in logical_streams(&all) {
        for pair in group.windows(2) {
            let (previous, s) = (&all[pair[0]], &all[pair[1]]);
            let get_or_failed = matches!(s.request_head(), Some(("GET", _)))
                || matches!(s.fate(), Fate::Failed { .. });
            if !get_or_failed || s.is_poll() {
                continue;
            }
            let r = Reconnect {
                at: s.opened_at,
                conn: s,
                previous,
            };
            match by_name.iter_mut().find(|(n, _)| *n == s.name) {
                Some((_, v)) => v.push(r),
                None => by_name.push((s.name, vec![r])),
            }
        }
    }
    let total: usize = by_name.iter().map(|(_, v)| v.len()).sum();
    if total == 0 {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            "no stream was reconnected; nothing to judge",
        );
    }
    let limit = reconnects_max as usize;
    let mut fail: Option<(Duration, String)> = None;
    let mut busiest: (usize, &str, Duration) = (0, "", Duration::ZERO);
    for (name, mut list) in by_name {
        list.sort_by_key(|r| (r.at, r.conn.conn));
        let mut from = 0;
        for to in 0..list.len() {
            while list[to].at.saturating_sub(list[from].at) >= window {
                from += 1;
            }
            let count = to - from + 1;
            if count > busiest.0 {
                busiest = (count, name, list[from].at);
            }
            if count > limit {
                let inside = &list[from..=to];
                let at = list[to].at;
                if fail.as_ref().is_none_or(|(t, _)| at < *t) {
                    fail = Some((at, storm(name, inside, reconnects_max, window)));
                }
                break;
            }
        }
    }
    if let Some((at, msg)) = fail {
        return outcome(ID, Verdict::Fail, Some(at), msg);
    }
    let (count, name, from) = busiest;
    outcome(
        ID,
        Verdict::Pass,
        Some(end),
        format!(
            "{total} reconnect{}; at most {count} of one stream within {} (stream {name}, from {}), within reconnects-max {reconnects_max}",
            if total == 1 { "" } else { "s" },
            span(window),
            stamp(from)
        ),
    )
}

/// The failure sentence for the reconnects `inside` one window of stream `name`.
fn storm(name: &str, inside: &[Reconnect<'_, '_>], max: u32, window: Duration) -> String {
    let first = &inside[0];
    let last = &inside[inside.len() - 1];
    let made: Vec<String> = inside
        .iter()
        .map(|r| format!("{} at {}", r.conn.label(), stamp(r.at)))
        .collect();
    format!(
        "stream {name} was reconnected {} times within {} ({} → {}: {}), above reconnects-max {max}; the connection before the last {}",
        inside.len(),
        span(window),
        stamp(first.at),
        stamp(last.at),
        summarise(made),
        ended(last.previous)
    )
}

/// How a connection ended, for the failure sentence: `(conn#3) was closed at … by lb (…)`.
fn ended(s: &ClientStream<'_>) -> String {
    let label = s.label();
    let bytes: usize = s.received().map(|(_, n, _)| n).sum();
    match (s.fate(), s.response()) {
        (Fate::Failed { error, .. }, _) => format!("({label}) never connected: {error}"),
        (_, Some((_, st))) if !(200..300).contains(&st) => {
            format!("({label}) was answered {st}")
        }
        (Fate::Died(d), _) if bytes == 0 => {
            format!("({label}) {} without a single body byte", d.sentence())
        }
        (Fate::Died(d), _) => format!("({label}) {}", d.sentence()),
        (_, _) => format!("({label}) was still open"),
    }
}

#[cfg(test)]
mod tests;
