//! `timers.cleared`: a safety check on the server's own bookkeeping. Every keepalive timer is
//! cleared within `grace` of the server learning that its stream is gone, nothing is written on
//! a connection after a write on it failed, and a timer writes only on the connection it was
//! armed for.
//!
//! ```text
//!   server: TimerArmed{t} on conn C ─ ─ ─ ResponseEnded on C ─┐   TimerCleared{t}
//!                                    or first WriteFailed on C ┴──▶ within grace, else a leak
//!           FrameWritten on C after a WriteFailed on C               → a write after failure
//!           FrameWritten/WriteFailed by t on a conn other than C    → a leaked timer
//!           FrameWritten by t after TimerCleared{t}                 → a clear that did not stop it
//! ```
//!
//! Only server events count. A timer whose stream the server never saw end (the client closed
//! it and no write followed) is not judged: the server could not know. With no timer judged
//! the check is unobservable. A timer id armed again (a
//! restarted server counts from 1) starts a new timer. The earliest violation is reported.

use super::client_stream::{client_streams, outcome, SERVER};
use super::{CheckOutcome, Verdict};
use crate::sse::Frame;
use crate::time::{span, stamp};
use crate::trace::{ConnId, EventKind, Trace};
use std::collections::BTreeMap;
use std::time::Duration;

/// The check id.
pub const ID: &str = "timers.cleared";

/// One arming of a keepalive timer.
struct Armed {
    timer: u32,
    conn: Option<ConnId>,
    at: Duration,
    cleared: Option<Duration>,
    /// Writes (including failed ones) the timer attempted after the server saw its stream end.
    writes_after_end: usize,
}

/// How the server learned a connection's stream was gone.
#[derive(Clone, Copy)]
struct End {
    at: Duration,
    how: &'static str,
}

/// Evaluates `timers.cleared` with the time allowed between the server seeing a stream end and
/// clearing its timer.
pub fn evaluate(grace: Duration, trace: &Trace, end: Duration) -> CheckOutcome {
    let horizon = trace.events.last().map_or(end, |e| e.at.max(end));
    let mut timers: Vec<Armed> = Vec::new();
    let mut current: BTreeMap<u32, usize> = BTreeMap::new();
    let mut ends: BTreeMap<ConnId, End> = BTreeMap::new();
    let mut failed: BTreeMap<ConnId, Duration> = BTreeMap::new();
    let mut violations: Vec<(Duration, String)> = Vec::new();
    let mut event_streams = 0;
    for e in trace.events.iter().filter(|e| e.host == SERVER) {
        match &e.kind {
            EventKind::ResponseStarted {
                content_type: Some(ct),
                ..
            } if ct.trim_start().starts_with("text/event-stream") => event_streams += 1,
            EventKind::TimerArmed { timer, .. } => {
                current.insert(*timer, timers.len());
                timers.push(Armed {
                    timer: *timer,
                    conn: e.conn,
                    at: e.at,
                    cleared: None,
                    writes_after_end: 0,
                });
            }
            EventKind::TimerCleared { timer } => {
                if let Some(&i) = current.get(timer) {
                    timers[i].cleared.get_or_insert(e.at);
                }
            }
            EventKind::ResponseEnded => {
                if let Some(c) = e.conn {
                    ends.entry(c).or_insert(End {
                        at: e.at,
                        how: "the response ended",
                    });
                }
            }
            EventKind::WriteFailed { timer, .. } => {
                if let Some(c) = e.conn {
                    failed.entry(c).or_insert(e.at);
                    ends.entry(c).or_insert(End {
                        at: e.at,
                        how: "a write failed",
                    });
                }
                if let Some(t) = timer {
                    check_writer(
                        &mut timers,
                        &current,
                        *t,
                        e.conn,
                        e.at,
                        &ends,
                        &mut violations,
                    );
                }
            }
            EventKind::FrameWritten { frame, timer } => {
                if let Some((c, &f)) = e.conn.and_then(|c| failed.get(&c).map(|f| (c, f))) {
                    let what = match (frame, timer) {
                        (Frame::Comment { .. }, Some(t)) => format!("a keepalive (timer#{t})"),
                        (Frame::Event { id: Some(id), .. }, _) => format!("event {id}"),
                        _ => "a frame".to_string(),
                    };
                    violations.push((
                        e.at,
                        format!(
                            "{c}: the server wrote {what} at {} after a write on it had failed at {}",
                            stamp(e.at),
                            stamp(f)
                        ),
                    ));
                }
                if let Some(t) = timer {
                    check_writer(
                        &mut timers,
                        &current,
                        *t,
                        e.conn,
                        e.at,
                        &ends,
                        &mut violations,
                    );
                }
            }
            _ => {}
        }
    }
    if timers.is_empty() {
        let streams = event_streams
            + client_streams(trace, end)
                .iter()
                .filter(|s| s.is_event_stream())
                .count();
        let msg = if streams > 0 {
            "the target reports no timers: the server armed no keepalive timer on any event stream"
        } else {
            "no event stream was opened; no keepalive timer to check"
        };
        return outcome(ID, Verdict::Unobservable, None, msg);
    }
    let mut open_at_end = 0;
    for t in &timers {
        let Some(c) = t.conn else { continue };
        let Some(end) = ends.get(&c) else {
            if t.cleared.is_none() {
                open_at_end += 1;
            }
            continue;
        };
        let seen = end.at.max(t.at);
        let due = seen + grace;
        let kept = match t.writes_after_end {
            0 => String::new(),
            1 => "; it kept firing: 1 more write".to_string(),
            n => format!("; it kept firing: {n} more writes"),
        };
        match t.cleared {
            Some(at) if at <= due => {}
            Some(at) => violations.push((
                due,
                format!(
                    "{c}: timer#{} was cleared at {}, {} after the server saw its stream end at {} ({}), above grace {}{kept}",
                    t.timer,
                    stamp(at),
                    span(at - seen),
                    stamp(seen),
                    end.how,
                    span(grace)
                ),
            )),
            None => violations.push((
                due.min(horizon),
                format!(
                    "{c}: timer#{} was never cleared after the server saw its stream end at {} ({}; grace {}){kept}",
                    t.timer,
                    stamp(seen),
                    end.how,
                    span(grace)
                ),
            )),
        }
    }
    violations.sort_by_key(|(at, _)| *at);
    if let Some((at, msg)) = violations.first() {
        let more = match violations.len() - 1 {
            0 => String::new(),
            n => format!(" (and {n} more violation{})", if n == 1 { "" } else { "s" }),
        };
        return outcome(ID, Verdict::Fail, Some(*at), format!("{msg}{more}"));
    }
    let n = timers.len();
    if open_at_end == n {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            format!(
                "the server armed {n} keepalive timer{} but saw none of {} streams end while the run lasted; no clearing to judge (end a stream before the scenario's end to check it)",
                if n == 1 { "" } else { "s" },
                if n == 1 { "its" } else { "their" }
            ),
        );
    }
    outcome(
        ID,
        Verdict::Pass,
        Some(horizon),
        format!(
            "of {n} keepalive timer{} the server armed, {} {} cleared within grace {} of the server seeing {} stream end; {open_at_end} still armed on streams the server never saw end",
            if n == 1 { "" } else { "s" },
            n - open_at_end,
            if n - open_at_end == 1 { "was" } else { "were" },
            span(grace),
            if n - open_at_end == 1 { "its" } else { "their" },
        ),
    )
}

/// A write (or failed write) by timer `t` on `conn` at `at`: flags a timer writing on another
/// connection or after it was cleared, and counts writes after its stream's end.
fn check_writer(
    timers: &mut [Armed],
    current: &BTreeMap<u32, usize>,
    t: u32,
    conn: Option<ConnId>,
    at: Duration,
    ends: &BTreeMap<ConnId, End>,
    violations: &mut Vec<(Duration, String)>,
) {
    let Some(&i) = current.get(&t) else { return };
    let armed = &mut timers[i];
    let (Some(c), Some(home)) = (conn, armed.conn) else {
        return;
    };
    if c != home {
        violations.push((
            at,
            format!(
                "{c}: timer#{t}, armed on {home} at {}, wrote on {c} at {}: a leaked timer",
                stamp(armed.at),
                stamp(at)
            ),
        ));
    } else if let Some(cleared) = armed.cleared {
        violations.push((
            at,
            format!(
                "{c}: timer#{t} still wrote at {} after it was cleared at {}",
                stamp(at),
                stamp(cleared)
            ),
        ));
    }
    if ends.get(&home).is_some_and(|e| e.at < at) {
        armed.writes_after_end += 1;
    }
}

#[cfg(test)]
mod tests;
