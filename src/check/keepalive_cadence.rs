//! `keepalive.cadence`: a safety check. On every selected stream, the largest gap between
//! bytes reaching the client is at most `gap_max`.
//!
//! ```text
//!  response headers   chunk      chunk               stream end (client saw it end or closed
//!        │──gap──────▶│──gap────▶│──────gap─────────▶│  it, or the scenario ended)
//! ```
//!
//! The last gap runs up to the stream's end, so a silent stream a proxy killed has a gap up to
//! its death. On failure the message names the intermediary limits the gap crossed.

use super::client_stream::{outcome, select, ClientStream, Fate};
use super::{CheckOutcome, Verdict};
use crate::time::{span, stamp};
use crate::trace::Trace;
use std::time::Duration;

/// The check id.
pub const ID: &str = "keepalive.cadence";

/// Evaluates `keepalive.cadence` for `stream` (all streams when `None`).
pub fn evaluate(
    stream: Option<&str>,
    gap_max: Duration,
    trace: &Trace,
    end: Duration,
) -> CheckOutcome {
    match select(ID, trace, stream, end) {
        Ok(streams) => evaluate_streams(ID, &streams, gap_max, trace, Verdict::Fail),
        Err(o) => o,
    }
}

/// `keepalive.cadence` for check `id` over the client connections `selected` keeps;
/// unobservable, saying `none`, when it keeps none (or none of them carried an event stream).
/// Shared by `keepalive.on-post` and `keepalive.on-replay`.
pub(super) fn evaluate_selected(
    id: &str,
    gap_max: Duration,
    trace: &Trace,
    end: Duration,
    selected: impl Fn(&ClientStream<'_>) -> bool,
    none: &str,
) -> CheckOutcome {
    let streams: Vec<_> = super::client_stream::client_streams(trace, end)
        .into_iter()
        .filter(|s| selected(s))
        .collect();
    if streams.is_empty() {
        return super::client_stream::outcome(id, Verdict::Unobservable, None, none);
    }
    evaluate_streams(id, &streams, gap_max, trace, Verdict::Unobservable)
}

/// The cadence verdict of check `id` over `streams` (at least one). Only connections that
/// carried an event stream (a 2xx `text/event-stream` answer) have a cadence; the others
/// (never connected, answered non-2xx or without an event stream) are left to the liveness
/// checks, unless a stream name has no event-stream connection at all: then it never opened,
/// and the verdict is `never_opened` (fail when the scenario asked for the stream's cadence,
/// unobservable when the selection is derived). The first stream whose largest gap exceeds
/// `gap_max` fails, naming the limits it crossed; otherwise the widest gap seen passes.
fn evaluate_streams(
    id: &str,
    streams: &[ClientStream<'_>],
    gap_max: Duration,
    trace: &Trace,
    never_opened: Verdict,
) -> CheckOutcome {
    let stopped = trace.stopped_at();
    let mut widest: Option<(String, Gap)> = None;
    let mut skipped: Vec<String> = Vec::new();
    // Connections still waiting for their response when the harness stopped the run.
    let mut waiting: Vec<String> = Vec::new();
    for s in streams {
        let label = s.label();
        if !s.is_event_stream() {
            let open_at_stop =
                matches!(s.fate(), Fate::Open) && stopped.is_some_and(|t| s.span_end() >= t);
            if s.response().is_none() && open_at_stop {
                waiting.push(label);
            } else {
                skipped.push(format!("{label} {}", no_stream(s)));
            }
            continue;
        }
        let gap = largest_gap(s, None).expect("an event stream has response headers");
        if gap.len() > gap_max {
            let msg = format!(
                "{label}: largest gap {} ({} → {}) exceeds gap-max {}{}",
                span(gap.len()),
                stamp(gap.from),
                stamp(gap.to),
                span(gap_max),
                crossed_note(trace, s, &gap)
            );
            return outcome(id, Verdict::Fail, Some(gap.to), msg);
        }
        if widest.as_ref().is_none_or(|(_, w)| gap.len() > w.len()) {
            widest = Some((label, gap));
        }
    }
    // A stream name none of whose connections carried an event stream never opened.
    let mut names: Vec<&str> = Vec::new();
    for s in streams {
        if !names.contains(&s.name) {
            names.push(s.name);
        }
    }
    for name in names {
        let of: Vec<&ClientStream<'_>> = streams.iter().filter(|s| s.name == name).collect();
        let waited = of.iter().any(|s| waiting.contains(&s.label()));
        if waited || of.iter().any(|s| s.is_event_stream()) {
            continue;
        }
        let why: Vec<String> = of
            .iter()
            .map(|s| format!("{} {}", s.label(), no_stream(s)))
            .collect();
        let at = of.iter().map(|s| s.span_end()).max();
        let msg = format!(
            "stream {name} never carried an event stream, so no keepalive could reach the client: {}",
            super::client_stream::summarise(why)
        );
        return outcome(
            id,
            never_opened,
            at.filter(|_| never_opened == Verdict::Fail),
            msg,
        );
    }
    let Some((label, gap)) = widest else {
        let at = stopped.expect("only connections waiting at the stop are left");
        let msg = format!(
            "the run was stopped at {} while {} still waited for response headers; no cadence to judge",
            stamp(at),
            waiting.join(", ")
        );
        return outcome(id, Verdict::Unobservable, Some(at), msg);
    };
    let at = streams
        .iter()
        .filter(|s| s.is_event_stream())
        .map(|s| s.span_end())
        .max();
    let tail = match skipped.len() {
        0 => String::new(),
        n => format!(
            "; {n} connection{} without an event stream not judged ({})",
            if n == 1 { "" } else { "s" },
            super::client_stream::summarise(skipped)
        ),
    };
    outcome(
        id,
        Verdict::Pass,
        at,
        format!(
            "largest gap {} ({} → {}, {label}) is within gap-max {}{tail}",
            span(gap.len()),
            stamp(gap.from),
            stamp(gap.to),
            span(gap_max)
        ),
    )
}

/// Why a connection carried no event stream: `never connected (refused)`, `was answered 502
/// at … by nginx (…)`, `got response 200 application/json, not an event stream`, `got no
/// response (ended at …)`.
fn no_stream(s: &ClientStream<'_>) -> String {
    if let Fate::Failed { error, .. } = s.fate() {
        return format!("never connected ({error})");
    }
    if let Fate::Died(d) = s.fate() {
        if d.intermediary().is_some()
            && matches!(
                d.event.kind,
                crate::trace::EventKind::IntermediaryResponded { .. }
            )
        {
            return d.sentence();
        }
    }
    match (s.response(), s.content_type()) {
        (Some((at, status)), ct) if (200..300).contains(&status) => format!(
            "got response {status} {} at {}, not an event stream",
            ct.unwrap_or("(no content-type)"),
            stamp(at)
        ),
        (Some((at, status)), _) => format!("got response {status} at {}", stamp(at)),
        (None, _) => format!("got no response (until {})", stamp(s.span_end())),
    }
}

/// A span with no byte reaching the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Gap {
    /// The last byte (or the response headers) before the silence.
    pub from: Duration,
    /// The next byte, or the stream's end.
    pub to: Duration,
    /// Whether it starts at the response headers (no body byte before it).
    first: bool,
}

impl Gap {
    /// How long the silence lasted.
    pub fn len(&self) -> Duration {
        self.to.saturating_sub(self.from)
    }
}

/// The largest gap from the response headers, through every body chunk, to the stream's end
/// (the earliest such gap on ties), counting only gaps that end after `after` when given;
/// `None` without response headers (or without a gap ending after `after`).
pub(super) fn largest_gap(s: &ClientStream<'_>, after: Option<Duration>) -> Option<Gap> {
    let (headers, _) = s.response()?;
    let end = s.span_end();
    let times = std::iter::once(headers)
        .chain(s.received().filter(|(_, n, _)| *n > 0).map(|(t, _, _)| t))
        .chain(std::iter::once(end));
    let mut best: Option<Gap> = None;
    let mut prev: Option<Duration> = None;
    for (i, t) in times.enumerate() {
        if let Some(p) = prev {
            let gap = Gap {
                from: p,
                to: t.max(p),
                first: i == 1,
            };
            let counts = after.is_none_or(|a| gap.to > a);
            if counts && best.is_none_or(|b| gap.len() > b.len()) {
                best = Some(gap);
            }
        }
        prev = Some(t);
    }
    best
}

/// `; crosses nginx idle-timeout 60s` when `gap` reached limits on the stream's route, else
/// nothing.
pub(super) fn crossed_note(trace: &Trace, s: &ClientStream<'_>, gap: &Gap) -> String {
    let crossed = crossed_limits(trace, s, gap);
    if crossed.is_empty() {
        String::new()
    } else {
        format!("; crosses {}", crossed.join(", "))
    }
}

/// The limits of intermediaries on the stream's route that `gap` (or the stream's life)
/// reached, e.g. `nginx idle-timeout 60s`. A gap equal to a timeout counts: the timeout fires
/// exactly then, and the client sees the close at the same instant at the earliest.
fn crossed_limits(trace: &Trace, s: &ClientStream<'_>, gap: &Gap) -> Vec<String> {
    let life = s
        .span_end()
        .saturating_sub(s.request_sent().unwrap_or(s.opened_at));
    trace
        .limits()
        .into_iter()
        .filter(|(host, _)| s.routes_through(host))
        .filter_map(|(host, l)| {
            let named = format!("{host} {} {}", l.behavior, span(l.after));
            match l.behavior.as_str() {
                "idle-timeout" if l.after <= gap.len() => Some(named),
                "first-byte-timeout" if gap.first && l.after <= gap.len() => Some(named),
                "max-duration" if l.after <= life => {
                    Some(format!("{named} (the stream lived {})", span(life)))
                }
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
