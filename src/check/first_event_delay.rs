//! `first-event.delay`: on every selected stream the first event (a frame that dispatches,
//! not a comment) reaches the client within `max` of the request (liveness), and not before
//! `min` (pins a buffering intermediary: an early event means the buffering is gone).
//!
//! Buffering intermediaries show up here: the server wrote the event at once, but the client
//! saw it only when the buffer filled or the stream ended. With `max`, a stream that ends
//! without any event fails, whatever its length; with only `min`, it passes (held back the
//! whole time). A connection answered without an event stream (non-2xx, JSON) fails: no
//! event could reach the client. On a run the harness stopped, a stream still within its
//! bounds at the stop is not judged.

use super::client_stream::{outcome, select, Fate};
use super::{CheckOutcome, Verdict};
use crate::time::{span, stamp};
use crate::trace::Trace;
use std::time::Duration;

/// The check id.
pub const ID: &str = "first-event.delay";

fn bounds(max: Option<Duration>, min: Option<Duration>) -> String {
    match (min, max) {
        (Some(lo), Some(hi)) => format!("between min {} and max {}", span(lo), span(hi)),
        (Some(lo), None) => format!("not before min {}", span(lo)),
        (None, Some(hi)) => format!("within max {}", span(hi)),
        (None, None) => "with no bound".into(),
    }
}

/// Evaluates `first-event.delay` for `stream` (all streams when `None`).
pub fn evaluate(
    stream: Option<&str>,
    max: Option<Duration>,
    min: Option<Duration>,
    trace: &Trace,
    end: Duration,
) -> CheckOutcome {
    let streams = match select(ID, trace, stream, end) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let stopped = trace.stopped_at();
    let mut slowest: Option<(Duration, Duration, String)> = None;
    let mut held: Option<(Duration, String)> = None;
    let mut judged = 0;
    for s in &streams {
        let label = s.label();
        if let Fate::Failed { at, error } = s.fate() {
            let msg = format!("{label} never connected ({error}): no event reached the client");
            return outcome(ID, Verdict::Fail, Some(at), msg);
        }
        let open_at_stop =
            matches!(s.fate(), Fate::Open) && stopped.is_some_and(|t| s.span_end() >= t);
        if !s.is_event_stream() {
            // An answer that is no event stream can carry no event: it never opened.
            if s.response().is_none() && open_at_stop {
                continue;
            }
            let note = match s.response() {
                Some((at, status)) => format!(
                    "got response {status} {} at {}, not an event stream",
                    s.content_type().unwrap_or("(no content-type)"),
                    stamp(at)
                ),
                None => format!("got no response (until {})", stamp(s.span_end())),
            };
            let at = s.response().map_or(s.span_end(), |(at, _)| at);
            let msg = format!("{label} {note}: no event could reach the client");
            return outcome(ID, Verdict::Fail, Some(at), msg);
        }
        judged += 1;
        let sent = s.request_sent().unwrap_or(s.opened_at);
        let first = s
            .received()
            .find(|(_, _, frames)| frames.iter().any(|f| f.dispatches()))
            .map(|(at, _, _)| at);
        let Some(at) = first else {
            let stop = s.span_end();
            if open_at_stop && max.is_none_or(|hi| stop.saturating_sub(sent) <= hi) {
                // Still within bounds when the harness stopped the run: cannot tell.
                judged -= 1;
                continue;
            }
            if max.is_none() {
                held = Some((stop, label));
                continue;
            }
            let note = s.response_note();
            let note = if note.is_empty() {
                String::new()
            } else {
                format!(", {note}")
            };
            let msg = format!(
                "no event reached the client in {} on {label} (request at {}, stream ended at {}{note})",
                span(stop.saturating_sub(sent)),
                stamp(sent),
                stamp(stop)
            );
            return outcome(ID, Verdict::Fail, Some(stop), msg);
        };
        let delay = at.saturating_sub(sent);
        if let Some(lo) = min.filter(|lo| delay < *lo) {
            let msg = format!(
                "the first event reached {label} {} after the request (at {}), earlier than min {}: nothing held it back",
                span(delay),
                stamp(at),
                span(lo)
            );
            return outcome(ID, Verdict::Fail, Some(at), msg);
        }
        if let Some(hi) = max.filter(|hi| delay > *hi) {
            let msg = format!(
                "the first event reached {label} {} after the request (at {}), more than max {}",
                span(delay),
                stamp(at),
                span(hi)
            );
            return outcome(ID, Verdict::Fail, Some(at), msg);
        }
        if slowest.as_ref().is_none_or(|(d, _, _)| delay > *d) {
            slowest = Some((delay, at, label));
        }
    }
    match (slowest, held) {
        (Some((delay, at, label)), _) => outcome(
            ID,
            Verdict::Pass,
            Some(at),
            format!(
                "the first event reached {label} {} after the request (at {}), {}",
                span(delay),
                stamp(at),
                bounds(max, min)
            ),
        ),
        (None, Some((stop, label))) => outcome(
            ID,
            Verdict::Pass,
            Some(stop),
            format!(
                "no event reached {label} before it ended at {}: held back, {}",
                stamp(stop),
                bounds(max, min)
            ),
        ),
        (None, None) => {
            let at = stopped.expect("only streams open at the stop are left unjudged");
            debug_assert_eq!(judged, 0);
            outcome(
                ID,
                Verdict::Unobservable,
                Some(at),
                format!(
                    "the run was stopped at {} before the first event reached the client, {}; cannot tell",
                    stamp(at),
                    bounds(max, min)
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod min_tests {
    use super::*;
    use crate::check::testing::TraceBuilder;

    const END: Duration = Duration::from_secs(180);

    #[test]
    fn an_event_earlier_than_min_fails_because_nothing_held_it_back() {
        let t = TraceBuilder::new()
            .stream(1, "main", 0)
            .event(10_000, 1, None, "{}")
            .build();
        let o = evaluate(None, None, Some(Duration::from_secs(60)), &t, END);
        assert_eq!(o.verdict, Verdict::Fail);
        assert!(o.message.contains("earlier than min 60s"), "{}", o.message);
    }

    #[test]
    fn a_stream_held_back_until_its_end_passes_with_min_only() {
        let t = TraceBuilder::new().stream(1, "main", 0).build();
        let o = evaluate(None, None, Some(Duration::from_secs(60)), &t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert!(o.message.contains("held back"), "{}", o.message);
    }

    #[test]
    fn an_event_between_min_and_max_passes() {
        let t = TraceBuilder::new()
            .stream(1, "main", 0)
            .event(120_000, 1, None, "{}")
            .build();
        let o = evaluate(
            None,
            Some(Duration::from_secs(125)),
            Some(Duration::from_secs(115)),
            &t,
            END,
        );
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    }
}
