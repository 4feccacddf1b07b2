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
mod tests {
    use super::*;
    use crate::check::testing::TraceBuilder;
    use crate::trace::StreamEnd;

    const END: Duration = Duration::from_secs(300);
    const GRACE: Duration = Duration::from_secs(1);

    /// A GET stream on conn 2 at 1s (timer 1) and a tool call on conn 3 at 10s (timer 2),
    /// both every 15 s, as the server records them.
    fn two_streams() -> TraceBuilder {
        TraceBuilder::new()
            .stream(2, "get", 1_000)
            .server_response(1_002, 2)
            .attached(1_002, 2, "g1", "get", "s1")
            .armed(1_002, 2, 1, 15_000)
            .keepalive_written(16_002, 2, 1)
            .post(3, "call", 10_000, "text/event-stream")
            .server_response(10_002, 3)
            .attached(10_002, 3, "p1", "post", "s1")
            .armed(10_002, 3, 2, 15_000)
            .keepalive_written(25_002, 3, 2)
            .written(40_000, 3, "3", "{\"result\":{}}")
            .response_ended(40_000, 3)
    }

    #[test]
    fn per_stream_timers_cleared_on_end_and_on_first_failure_pass() {
        let t = two_streams()
            .cleared(40_000, 3, 2)
            .keepalive_written(31_002, 2, 1)
            .client_closed(45_000, 2)
            .write_failed(46_002, 2, Some(1))
            .cleared(46_002, 2, 1)
            .build();
        let o = evaluate(GRACE, &t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert!(
            o.message
                .starts_with("of 2 keepalive timers the server armed, 2 were cleared"),
            "{}",
            o.message
        );
    }

    #[test]
    fn a_timer_on_a_stream_the_server_never_saw_end_is_not_judged() {
        // The only timer's stream never ended for the server: nothing was judged.
        let t = TraceBuilder::new()
            .stream(2, "get", 1_000)
            .armed(1_002, 2, 1, 15_000)
            .client_closed(20_000, 2)
            .build();
        let o = evaluate(GRACE, &t, Duration::from_secs(20));
        assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
        assert!(
            o.message
                .starts_with("the server armed 1 keepalive timer but saw none of its streams end"),
            "{}",
            o.message
        );
        // Beside a timer that was judged, it is counted as still armed.
        let t = TraceBuilder::new()
            .stream(2, "get", 1_000)
            .armed(1_002, 2, 1, 15_000)
            .stream(3, "other", 1_000)
            .armed(1_002, 3, 2, 15_000)
            .client_closed(10_000, 3)
            .write_failed(16_002, 3, Some(2))
            .cleared(16_002, 3, 2)
            .client_closed(20_000, 2)
            .build();
        let o = evaluate(GRACE, &t, Duration::from_secs(20));
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert!(o.message.contains("; 1 still armed"), "{}", o.message);
    }

    #[test]
    fn the_shared_timer_slot_clears_the_wrong_timer_and_leaks_the_other() {
        // The call (conn 2, timer 1) starts first; the GET stream (conn 3) arms timer 2 into
        // the one slot. When the call ends, the server clears the slot: timer 2, the GET's.
        // Timer 1 keeps firing on the ended call and fails every time.
        let t = TraceBuilder::new()
            .post(2, "call", 1_000, "text/event-stream")
            .armed(1_002, 2, 1, 15_000)
            .stream(3, "get", 5_000)
            .armed(5_002, 3, 2, 15_000)
            .written(30_000, 2, "4", "{\"result\":{}}")
            .response_ended(30_000, 2)
            .cleared(30_000, 2, 2)
            .write_failed(31_002, 2, Some(1))
            .write_failed(46_002, 2, Some(1))
            .write_failed(61_002, 2, Some(1))
            .build();
        let o = evaluate(GRACE, &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert_eq!(
            o.message,
            "conn#2: timer#1 was never cleared after the server saw its stream end at 00:00:30.000 (the response ended; grace 1s); it kept firing: 3 more writes"
        );
        assert_eq!(o.at, Some(Duration::from_secs(31)));
    }

    #[test]
    fn failed_writes_that_never_clear_the_timer_fail() {
        let t = TraceBuilder::new()
            .stream(2, "get", 1_000)
            .armed(1_002, 2, 1, 15_000)
            .keepalive_written(16_002, 2, 1)
            .client_closed(20_000, 2)
            .write_failed(31_002, 2, Some(1))
            .write_failed(46_002, 2, Some(1))
            .build();
        let o = evaluate(GRACE, &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message.starts_with(
                "conn#2: timer#1 was never cleared after the server saw its stream end at 00:00:31.002 (a write failed; grace 1s)"
            ),
            "{}",
            o.message
        );
        assert!(o.message.ends_with("1 more write"), "{}", o.message);
        assert_eq!(o.at, Some(Duration::from_millis(32_002)));
    }

    #[test]
    fn a_late_clear_fails_and_names_the_delay() {
        let t = two_streams()
            .cleared(45_000, 3, 2)
            .cleared(300_000, 2, 1)
            .build();
        let o = evaluate(GRACE, &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message
                .starts_with("conn#3: timer#2 was cleared at 00:00:45.000, 5s after"),
            "{}",
            o.message
        );
    }

    #[test]
    fn a_write_after_a_failed_write_fails() {
        let t = TraceBuilder::new()
            .stream(2, "get", 1_000)
            .armed(1_002, 2, 1, 15_000)
            .write_failed(16_002, 2, Some(1))
            .cleared(16_002, 2, 1)
            .written(20_000, 2, "5", "{}")
            .build();
        let o = evaluate(GRACE, &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert_eq!(
            o.message,
            "conn#2: the server wrote event 5 at 00:00:20.000 after a write on it had failed at 00:00:16.002"
        );
    }

    #[test]
    fn a_timer_writing_on_another_connection_is_a_leak() {
        let t = two_streams()
            .cleared(40_000, 3, 2)
            .keepalive_written(31_002, 3, 1)
            .build();
        let o = evaluate(GRACE, &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message.starts_with(
                "conn#3: timer#1, armed on conn#2 at 00:00:01.002, wrote on conn#3 at 00:00:31.002"
            ),
            "{}",
            o.message
        );
    }

    #[test]
    fn no_timers_is_unobservable() {
        let t = TraceBuilder::new()
            .stream(2, "get", 1_000)
            .server_response(1_002, 2)
            .build();
        let o = evaluate(GRACE, &t, END);
        assert_eq!(o.verdict, Verdict::Unobservable);
        assert!(
            o.message.starts_with("the target reports no timers"),
            "{}",
            o.message
        );
        let t = TraceBuilder::new()
            .post(1, "initialize", 0, "application/json")
            .ended(5, 1, StreamEnd::Complete)
            .build();
        let o = evaluate(GRACE, &t, END);
        assert_eq!(o.verdict, Verdict::Unobservable);
        assert!(o.message.starts_with("no event stream"), "{}", o.message);
    }

    #[test]
    fn the_spec_dispatches_here() {
        let t = two_streams().build();
        let spec = crate::check::CheckSpec::TimersCleared { grace: GRACE };
        let o = spec.evaluate(&t, END);
        assert_eq!(o, evaluate(GRACE, &t, END));
        assert_eq!(o.id, ID);
        assert_eq!(spec.id(), ID);
    }
}
