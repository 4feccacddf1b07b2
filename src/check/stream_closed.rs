//! `stream.closed`: a liveness check for scenarios where an intermediary *should* end a
//! stream. It passes when intermediary `by` closed the stream (closed it, answered for the
//! server, or blackholed it) within `at ± tolerance`.
//!
//! A stream reopened after the close is expected (clients reconnect), so the check passes
//! when any connection of the selected streams was closed as expected; otherwise it tells what
//! happened to the first one instead (closed by someone else, at another time, or survived).

use super::client_stream::{outcome, select, ClientStream, Fate};
use super::{CheckOutcome, Verdict};
use crate::time::{span, stamp};
use crate::trace::Trace;
use std::time::Duration;

/// The check id.
pub const ID: &str = "stream.closed";

/// Evaluates `stream.closed` for `stream` (all streams when `None`): closed by intermediary
/// `by` at `at` ± `tolerance`.
pub fn evaluate(
    stream: Option<&str>,
    by: &str,
    at: Duration,
    tolerance: Duration,
    trace: &Trace,
    end: Duration,
) -> CheckOutcome {
    let streams = match select(ID, trace, stream, end) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let window = Window { by, at, tolerance };
    let mut first_miss = None;
    for s in &streams {
        match judge(s, &window) {
            Ok(msg) => return msg,
            Err(o) => {
                first_miss.get_or_insert(o);
            }
        }
    }
    first_miss.expect("select returns at least one stream")
}

struct Window<'a> {
    by: &'a str,
    at: Duration,
    tolerance: Duration,
}

impl Window<'_> {
    fn contains(&self, t: Duration) -> bool {
        self.at.saturating_sub(self.tolerance) <= t && t <= self.at + self.tolerance
    }

    fn expected(&self) -> String {
        format!(
            "expected {} to close it at {} ± {}",
            self.by,
            stamp(self.at),
            span(self.tolerance)
        )
    }
}

fn judge(s: &ClientStream<'_>, w: &Window<'_>) -> Result<CheckOutcome, CheckOutcome> {
    let label = s.label();
    let expected = w.expected();
    let fail = |at, msg: String| outcome(ID, Verdict::Fail, Some(at), msg);
    match s.fate() {
        Fate::Died(d) if d.intermediary() == Some(w.by) && w.contains(d.at) => Ok(outcome(
            ID,
            Verdict::Pass,
            Some(d.at),
            format!(
                "{label} {}, within {} ± {}",
                d.sentence(),
                stamp(w.at),
                span(w.tolerance)
            ),
        )),
        Fate::Died(d) if d.intermediary() == Some(w.by) => {
            let off = if d.at < w.at {
                format!("{} early", span(w.at - d.at))
            } else {
                format!("{} late", span(d.at - w.at))
            };
            Err(fail(
                d.at,
                format!("{label} {}, {off}; {expected}", d.sentence()),
            ))
        }
        Fate::Died(d) => Err(fail(d.at, format!("{label} {}; {expected}", d.sentence()))),
        Fate::ClosedByClient { at } => Err(fail(
            at,
            format!(
                "{label} survived until the client closed it at {}; {expected}",
                stamp(at)
            ),
        )),
        Fate::Open => Err(fail(
            s.scenario_end,
            format!(
                "{label} was still open at the scenario's end {}; {expected}",
                stamp(s.scenario_end)
            ),
        )),
        Fate::Failed { at, error } => Err(fail(
            at,
            format!("{label} never connected ({error}); {expected}"),
        )),
    }
}

#[cfg(test)]
mod tests;
