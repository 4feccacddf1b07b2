//! `determinism.wall-clock`: a safety check on every host. Under virtual time a keepalive
//! timer fires at most once per interval, so a connection never carries a burst of SSE
//! comments at one virtual instant, and no run records thousands of events within one
//! virtual second. Either one means a target read the real clock.
//!
//! ```text
//!   FrameWritten{comment} per (host, conn, instant) > BURST_MAX ─▶ fail: instant, conn, count
//!   events of one conn within one virtual second ≥ RATE_LIMIT  ─▶ fail: the stall-sized burst
//!   otherwise                                                   ─▶ pass
//! ```
//!
//! Run on every scenario whether or not it lists it (see [`crate::report::evaluate`]); the
//! likely cause it names: a timer computing its deadline from `std::time::Instant` or
//! `SystemTime` (an empty comment `:` is the default keepalive frame of sse-stream's
//! `KeepAlive`, whose `reset` sets the deadline to `std::time::Instant::now() + interval`;
//! rmcp's Streamable HTTP server uses it).

use super::client_stream::outcome;
use super::{CheckOutcome, Verdict};
use crate::sse::Frame;
use crate::time::stamp;
use crate::trace::{ConnId, EventKind, Trace, RATE_LIMIT};
use std::collections::BTreeMap;
use std::time::Duration;

/// The check id.
pub const ID: &str = "determinism.wall-clock";

/// Comment frames one host may write on one connection at one virtual instant. The reference
/// server writes at most one per timer; two timers of a session sharing a connection (a bug
/// model) write two.
pub const BURST_MAX: usize = 8;

/// Why a keepalive floods, in words, from the frame it floods with.
fn likely_cause(text: &str) -> String {
    let general = "a timer computing its deadline from the real clock (std::time::Instant or \
                   SystemTime) instead of tokio's: under virtual time that deadline is soon in \
                   the past, so the timer fires again at once";
    if text.is_empty() {
        format!(
            "{general}. The frame is the empty comment `:`, the default keepalive of \
             sse-stream's KeepAlive (used by rmcp's StreamableHttpService), whose \
             KeepAliveStream::reset sets the deadline to std::time::Instant::now() + interval"
        )
    } else {
        general.to_string()
    }
}

/// Evaluates the check over a trace.
pub fn evaluate(trace: &Trace, _end: Duration) -> CheckOutcome {
    // The first (host, conn, instant) with more comment frames than BURST_MAX.
    let mut bursts: BTreeMap<(&str, Option<ConnId>, Duration), (usize, &str)> = BTreeMap::new();
    let mut first: Option<(Duration, &str, Option<ConnId>)> = None;
    for e in &trace.events {
        if let EventKind::FrameWritten {
            frame: Frame::Comment { text },
            ..
        } = &e.kind
        {
            let n = bursts
                .entry((e.host.as_str(), e.conn, e.at))
                .or_insert((0, text.as_str()));
            n.0 += 1;
            if n.0 == BURST_MAX + 1 && first.is_none() {
                first = Some((e.at, e.host.as_str(), e.conn));
            }
        }
    }
    if let Some((at, host, conn)) = first {
        let (count, text) = bursts[&(host, conn, at)];
        let on = conn.map_or("a connection".to_string(), |c| c.to_string());
        return outcome(
            ID,
            Verdict::Fail,
            Some(at),
            format!(
                "{host} wrote {count} comment frames on {on} at the one virtual instant {} \
                 (a virtual-time keepalive writes at most one per timer); likely cause: {}",
                stamp(at),
                likely_cause(text)
            ),
        );
    }
    // A stall-sized burst: as many events of one connection within one virtual second as the
    // recorder's guard allows.
    // Per connection (index: conn id + 1; 0 for none): (the virtual second counted, its
    // count). Events come in time order, so a slot of an older second starts again from zero;
    // this runs over every event of every run, hence a flat vector rather than a map.
    let mut per_second: Vec<(u64, u64)> = Vec::new();
    let mut busiest = 0;
    for e in &trace.events {
        let slot = e.conn.map_or(0, |c| c.0 as usize + 1);
        if per_second.len() <= slot {
            per_second.resize(slot + 1, (0, 0));
        }
        let second = e.at.as_secs();
        let n = &mut per_second[slot];
        if n.0 != second {
            *n = (second, 0);
        }
        n.1 += 1;
        busiest = busiest.max(n.1);
        if n.1 == RATE_LIMIT {
            return outcome(
                ID,
                Verdict::Fail,
                Some(e.at),
                format!(
                    "{RATE_LIMIT} events of {} were recorded within the virtual second {}–{}, \
                     the last by {}; likely cause: {}",
                    e.conn
                        .map_or("no connection".to_string(), |c| c.to_string()),
                    stamp(Duration::from_secs(e.at.as_secs())),
                    stamp(Duration::from_secs(e.at.as_secs() + 1)),
                    e.host,
                    likely_cause("-")
                ),
            );
        }
    }
    outcome(
        ID,
        Verdict::Pass,
        trace.events.last().map(|e| e.at),
        format!(
            "no connection carried more than {BURST_MAX} comment frames at one virtual instant, \
             and at most {busiest} events of one connection were recorded within one virtual \
             second"
        ),
    )
}

#[cfg(test)]
mod tests;
