//! `timers.independent`: a safety check over concurrent streams. When one stream ends, every
//! other stream still open keeps its keepalive cadence (gaps at the client ≤ `gap_max`) until
//! it ends itself: the bug it catches is one keepalive timer shared by all streams, so ending
//! stream A stops stream B's keepalives.
//!
//! ```text
//!   conn A  ══════════╡ ended at T
//!   conn B  ═══╪═══╪═══╪════════════════════╪═══  gaps of B that end after T ≤ gap_max
//!                   last byte ──silence──▶ next byte / end
//! ```
//!
//! Only event streams count (2xx `text/event-stream` answers), on both sides: a plain JSON
//! exchange has no keepalive to share. A gap that spans T counts whole (measured from B's last
//! byte before T), since a stopped timer silences B from its last tick. When several streams
//! ended, a failing gap is blamed on the first one that ended inside it, else on the last one
//! that ended before it.

use super::client_stream::{client_streams, outcome, ClientStream};
use super::keepalive_cadence::{crossed_note, largest_gap, Gap};
use super::{CheckOutcome, Verdict};
use crate::time::{span, stamp};
use crate::trace::Trace;
use std::time::Duration;

/// The check id.
pub const ID: &str = "timers.independent";

/// Evaluates `timers.independent` with the largest gap allowed on a surviving stream.
pub fn evaluate(gap_max: Duration, trace: &Trace, end: Duration) -> CheckOutcome {
    let streams: Vec<_> = client_streams(trace, end)
        .into_iter()
        .filter(|s| s.is_event_stream())
        .collect();
    let mut fail: Option<(Gap, CheckOutcome)> = None;
    let mut widest: Option<(Gap, String)> = None;
    let mut checked = 0;
    for b in &streams {
        let Some((headers, _)) = b.response() else {
            continue;
        };
        let b_end = b.span_end();
        // Other streams that ended while `b` was open, by end time.
        let mut ended: Vec<(Duration, &ClientStream<'_>)> = streams
            .iter()
            .filter(|a| a.conn != b.conn)
            .filter_map(|a| a.ended_at().map(|t| (t, a)))
            .filter(|(t, _)| headers <= *t && *t < b_end)
            .collect();
        ended.sort_by_key(|(t, a)| (*t, a.conn));
        let Some(&(first_end, _)) = ended.first() else {
            continue;
        };
        let Some(gap) = largest_gap(b, Some(first_end)) else {
            continue;
        };
        checked += 1;
        let (a_end, a) = culprit(&ended, &gap);
        let after = format!("after {} ended at {}", a.label(), stamp(a_end));
        if gap.len() > gap_max {
            if fail.as_ref().is_none_or(|(g, _)| gap.to < g.to) {
                let msg = format!(
                    "{after}, {} went silent for {} ({} → {}), above gap-max {}{}",
                    b.label(),
                    span(gap.len()),
                    stamp(gap.from),
                    stamp(gap.to),
                    span(gap_max),
                    crossed_note(trace, b, &gap)
                );
                fail = Some((gap, outcome(ID, Verdict::Fail, Some(gap.to), msg)));
            }
        } else if widest.as_ref().is_none_or(|(w, _)| gap.len() > w.len()) {
            let msg = format!(
                "{}: largest gap {} ({} → {}) {after} is within gap-max {}",
                b.label(),
                span(gap.len()),
                stamp(gap.from),
                stamp(gap.to),
                span(gap_max)
            );
            widest = Some((gap, msg));
        }
    }
    if let Some((_, o)) = fail {
        return o;
    }
    match widest {
        Some((_, msg)) => {
            let at = streams.iter().map(|s| s.span_end()).max();
            let plural = if checked == 1 { "" } else { "s" };
            outcome(
                ID,
                Verdict::Pass,
                at,
                format!("{msg} ({checked} stream{plural} outlived another)"),
            )
        }
        None => outcome(
            ID,
            Verdict::Unobservable,
            None,
            format!(
                "fewer than two overlapping event streams ({} opened): no stream ended while another was open",
                streams.len()
            ),
        ),
    }
}

/// The stream to blame for `gap`: the first that ended inside it, else the last that ended
/// before it. `ended` is sorted by time and holds at least one end before `gap.to`.
fn culprit<'a, 't>(
    ended: &'a [(Duration, &'a ClientStream<'t>)],
    gap: &Gap,
) -> (Duration, &'a ClientStream<'t>) {
    let inside = ended.iter().find(|(t, _)| gap.from <= *t && *t < gap.to);
    let before = || ended.iter().rev().find(|(t, _)| *t < gap.from);
    let &(t, a) = inside.or_else(before).unwrap_or(&ended[0]);
    (t, a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::TraceBuilder;
    use crate::trace::StreamEnd;

    const END: Duration = Duration::from_secs(300);
    const GAP_MAX: Duration = Duration::from_secs(20);

    /// Keepalives on `conn` every 15 s from `from` (exclusive) while before `until`.
    fn ticks(mut b: TraceBuilder, conn: u32, from: u64, until: u64) -> TraceBuilder {
        let mut t = from + 15_000;
        while t < until {
            b = b.comment(t, conn);
            t += 15_000;
        }
        b
    }

    /// A GET stream from 1s and a tool call from 10s that completes at 40s.
    fn two_streams() -> TraceBuilder {
        let b = TraceBuilder::new()
            .intermediary("nginx", &[("idle-timeout", 60_000)])
            .post(1, "initialize", 0, "application/json")
            .ended(5, 1, StreamEnd::Complete)
            .stream(2, "get", 1_000)
            .post(3, "call", 10_000, "text/event-stream");
        let b = ticks(b, 3, 10_003, 40_000);
        b.event_id(40_000, 3, "3", "{\"result\":{}}")
            .ended(40_000, 3, StreamEnd::Complete)
    }

    #[test]
    fn a_shared_timer_silencing_the_get_stream_fails_naming_both_streams() {
        // The GET stream ticks until the call ends at 40s, then goes silent until nginx
        // closes it 60 s after its last keepalive.
        let b = ticks(two_streams(), 2, 1_003, 40_000);
        let t = b
            .closed_by_intermediary(91_003, 2, "nginx", "idle-timeout", "upstream silent")
            .ended(91_003, 2, StreamEnd::Truncated)
            .build();
        let o = evaluate(GAP_MAX, &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert_eq!(
            o.message,
            "after conn#3 (stream call) ended at 00:00:40.000, conn#2 (stream get) went silent for 60s (00:00:31.003 → 00:01:31.003), above gap-max 20s; crosses nginx idle-timeout 60s"
        );
        assert_eq!(o.at, Some(Duration::from_millis(91_003)));
    }

    #[test]
    fn the_stream_that_ended_inside_the_silence_is_blamed() {
        // A ping-like event stream ended harmlessly at 20s; the call ending at 40s is blamed.
        let b = two_streams()
            .post(4, "other", 15_000, "text/event-stream")
            .ended(20_000, 4, StreamEnd::Complete);
        let t = ticks(b, 2, 1_003, 40_000)
            .ended(100_000, 2, StreamEnd::Reset)
            .build();
        let o = evaluate(GAP_MAX, &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message
                .starts_with("after conn#3 (stream call) ended at 00:00:40.000, conn#2"),
            "{}",
            o.message
        );
    }

    #[test]
    fn independent_timers_pass() {
        let b = ticks(two_streams(), 2, 1_003, 300_000);
        let t = b.client_closed(300_000, 2).build();
        let o = evaluate(GAP_MAX, &t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert!(
            o.message
                .starts_with("conn#2 (stream get): largest gap 15s"),
            "{}",
            o.message
        );
        assert!(o
            .message
            .contains("after conn#3 (stream call) ended at 00:00:40.000"));
        assert_eq!(o.at, Some(END));
    }

    #[test]
    fn a_gap_before_the_other_stream_ended_is_not_counted() {
        // The GET stream is silent for 30 s early on, then ticks fine around and after 40s.
        let b = two_streams().comment(31_000, 2).comment(46_000, 2);
        let b = ticks(b, 2, 46_000, 300_000);
        let t = b.client_closed(300_000, 2).build();
        let o = evaluate(GAP_MAX, &t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    }

    #[test]
    fn streams_that_never_overlap_or_plain_exchanges_are_unobservable() {
        let b = TraceBuilder::new()
            .post(1, "initialize", 0, "application/json")
            .ended(5, 1, StreamEnd::Complete)
            .stream(2, "get", 1_000);
        let t = ticks(b, 2, 1_003, 300_000).build();
        let o = evaluate(GAP_MAX, &t, END);
        assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
        let t = TraceBuilder::new()
            .stream(1, "a", 0)
            .client_closed(10_000, 1)
            .stream(2, "b", 20_000)
            .build();
        let o = evaluate(GAP_MAX, &t, END);
        assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    }

    #[test]
    fn the_spec_dispatches_here() {
        let t = two_streams().build();
        let spec = crate::check::CheckSpec::TimersIndependent { gap_max: GAP_MAX };
        let o = spec.evaluate(&t, END);
        assert_eq!(o, evaluate(GAP_MAX, &t, END));
        assert_eq!(o.id, ID);
        assert_eq!(spec.id(), ID);
    }
}
