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
mod tests;
