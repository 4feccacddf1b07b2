//! `stream.survives`: a liveness check. Every selected stream stays open until `until`
//! (default: the scenario's end); only the client may close it.
//!
//! A stream dies when, before `until`, an intermediary closes it, answers for the server
//! (e.g. a 504) or blackholes it (no byte can pass any more), the server or a fault closes the
//! connection, or the client sees the body end. A response that is not 2xx fails too. The
//! message names who ended the stream and why, from the intermediary's decision when there is
//! one.

use super::client_stream::{outcome, select, ClientStream, Fate};
use super::{CheckOutcome, Verdict};
use crate::time::stamp;
use crate::trace::Trace;
use std::time::Duration;

/// The check id.
pub const ID: &str = "stream.survives";

/// Evaluates `stream.survives` for `stream` (all streams when `None`) until `until`
/// (default `end`, the scenario's end).
pub fn evaluate(
    stream: Option<&str>,
    until: Option<Duration>,
    trace: &Trace,
    end: Duration,
) -> CheckOutcome {
    let until = until.unwrap_or(end);
    let streams = match select(ID, trace, stream, end) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let mut survived = Vec::new();
    let mut unobservable = None;
    for s in &streams {
        match judge(s, until) {
            Judgement::Fail(o) => return o,
            Judgement::Survived(what) => survived.push(what),
            Judgement::Unobservable(o) => {
                unobservable.get_or_insert(o);
            }
        }
    }
    if let Some(o) = unobservable {
        return o;
    }
    outcome(
        ID,
        Verdict::Pass,
        Some(until),
        format!("{}; only the client closed", survived.join(", ")),
    )
}

enum Judgement {
    Fail(CheckOutcome),
    Survived(String),
    Unobservable(CheckOutcome),
}

fn judge(s: &ClientStream<'_>, until: Duration) -> Judgement {
    let label = s.label();
    let expected = format!("expected open until {}", stamp(until));
    let fail = |at, msg: String| Judgement::Fail(outcome(ID, Verdict::Fail, Some(at), msg));
    let fate = s.fate();
    // An intermediary answering for the server is the most telling story; report it first.
    if let Fate::Died(d) = &fate {
        if let crate::trace::EventKind::IntermediaryResponded { .. } = d.event.kind {
            return fail(d.at, format!("{label} {}; {expected}", d.sentence()));
        }
    }
    if let Some((at, status)) = s.response() {
        if !(200..300).contains(&status) {
            return fail(
                at,
                format!(
                    "{label} got response {status} at {} instead of a 2xx stream; {expected}",
                    stamp(at)
                ),
            );
        }
    }
    match fate {
        Fate::Failed { at, error } => fail(
            at,
            format!("{label} never connected ({error}) at {}; {expected}", stamp(at)),
        ),
        Fate::Died(d) if d.at < until => {
            fail(d.at, format!("{label} {}; {expected}", d.sentence()))
        }
        Fate::Died(d) => Judgement::Survived(format!(
            "{label} stayed open until {} (ended at {})",
            stamp(until),
            stamp(d.at)
        )),
        Fate::ClosedByClient { at } => Judgement::Survived(format!(
            "{label} stayed open until the client closed it at {}",
            stamp(at)
        )),
        Fate::Open if until > s.scenario_end => Judgement::Unobservable(outcome(
            ID,
            Verdict::Unobservable,
            Some(s.scenario_end),
            format!(
                "{label} was still open when the scenario ended at {}, before {}; cannot tell whether it survives until then",
                stamp(s.scenario_end),
                stamp(until)
            ),
        )),
        Fate::Open => Judgement::Survived(format!(
            "{label} stayed open until {}",
            stamp(until)
        )),
    }
}

#[cfg(test)]
mod tests;
