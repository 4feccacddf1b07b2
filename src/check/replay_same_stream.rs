//! `replay.same-stream`: a safety check on the server's event store. A connection resumed
//! with `Last-Event-ID: L` replays only events of the server stream L was written on, never
//! another stream of the session (a tool call's result must not surface on the GET stream).
//!
//! ```text
//!   StreamAttached(conn#2) = p1, conn#2 wrote id 3 first      ──▶ L = 3 belongs to p1
//!   conn#5 ReplayStarted{stream, after 3}: stream ≠ p1         ──▶ fail
//!          then FrameWritten{id N, data}: N first written on g1 ──▶ fail
//! ```
//!
//! An id's stream is the `StreamAttached` stream of the conn that first wrote it within the
//! same session (the priming event of a stream counts as a write). Events with blank data
//! (priming events) are not judged, and ids first written on the resumed connection itself
//! are taken as its own stream's new events. A resume from an id the server never wrote in
//! that session cannot be judged and is skipped.

use super::client_stream::{outcome, SERVER};
use super::event_id_unique::server_writes;
use super::{CheckOutcome, Verdict};
use crate::time::stamp;
use crate::trace::{ConnId, EventKind, Trace};
use std::collections::BTreeMap;
use std::time::Duration;

/// The check id.
pub const ID: &str = "replay.same-stream";

/// Session and server stream of each conn, from its first `StreamAttached`.
pub(super) fn attached_streams(trace: &Trace) -> BTreeMap<ConnId, (&str, &str)> {
    let mut out = BTreeMap::new();
    for e in trace.events.iter().filter(|e| e.host == SERVER) {
        if let (
            Some(c),
            EventKind::StreamAttached {
                stream, session, ..
            },
        ) = (e.conn, &e.kind)
        {
            out.entry(c).or_insert((session.as_str(), stream.as_str()));
        }
    }
    out
}

/// One replay the server started.
pub(super) struct Replay<'t> {
    pub at: Duration,
    pub conn: ConnId,
    pub stream: &'t str,
    pub after: &'t str,
}

/// Every `ReplayStarted` the server recorded on a connection, in order.
pub(super) fn replays(trace: &Trace) -> Vec<Replay<'_>> {
    trace
        .events
        .iter()
        .filter(|e| e.host == SERVER)
        .filter_map(|e| match (&e.kind, e.conn) {
            (EventKind::ReplayStarted { stream, after, .. }, Some(conn)) => Some(Replay {
                at: e.at,
                conn,
                stream,
                after,
            }),
            _ => None,
        })
        .collect()
}

/// Evaluates `replay.same-stream`.
pub fn evaluate(trace: &Trace, end: Duration) -> CheckOutcome {
    let replays = replays(trace);
    if replays.is_empty() {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            "the server started no replay; nothing to check",
        );
    }
    let attached = attached_streams(trace);
    let writes = server_writes(trace);
    // (session, id) → conn and stream of its first write.
    let mut first: BTreeMap<(&str, &str), (ConnId, &str)> = BTreeMap::new();
    for w in &writes {
        let Some((c, (session, stream))) = w.conn.and_then(|c| Some((c, *attached.get(&c)?)))
        else {
            continue;
        };
        first.entry((session, w.id)).or_insert((c, stream));
    }
    let mut judged = 0;
    let mut replayed = 0;
    let mut skipped: Vec<String> = Vec::new();
    for r in &replays {
        let Some(&(session, _)) = attached.get(&r.conn) else {
            skipped.push(format!("{} (no session)", r.conn));
            continue;
        };
        let Some(&(l_conn, l_stream)) = first.get(&(session, r.after)) else {
            skipped.push(format!("{} (after {})", r.conn, r.after));
            continue;
        };
        judged += 1;
        if r.stream != l_stream {
            return outcome(
                ID,
                Verdict::Fail,
                Some(r.at),
                format!(
                    "{} resumed after {} at {} and the server replays stream {}, but id {} was written on stream {} ({l_conn}) of session {session}",
                    r.conn,
                    r.after,
                    stamp(r.at),
                    r.stream,
                    r.after,
                    l_stream
                ),
            );
        }
        for w in writes
            .iter()
            .filter(|w| w.conn == Some(r.conn) && w.at >= r.at && !crate::sse::is_blank(w.data))
        {
            let Some(&(c, stream)) = first.get(&(session, w.id)) else {
                continue;
            };
            replayed += 1;
            if c != r.conn && stream != l_stream {
                return outcome(
                    ID,
                    Verdict::Fail,
                    Some(w.at),
                    format!(
                        "{} resumed after {} (stream {l_stream}) and was sent event {} at {}, an event of stream {stream} (first written on {c} at {})",
                        r.conn,
                        r.after,
                        w.id,
                        stamp(w.at),
                        stamp(writes.iter().find(|x| x.conn == Some(c) && x.id == w.id).map_or(w.at, |x| x.at))
                    ),
                );
            }
        }
    }
    if judged == 0 {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            format!(
                "no replay started from an id the server reports writing in its session: {}",
                skipped.join(", ")
            ),
        );
    }
    let at = replays.iter().map(|r| r.at).max().unwrap_or(end);
    outcome(
        ID,
        Verdict::Pass,
        Some(at),
        format!(
            "{judged} replay{} sent only events of the Last-Event-ID's own stream ({replayed} event{} written after the replays started)",
            if judged == 1 { "" } else { "s" },
            if replayed == 1 { "" } else { "s" }
        ),
    )
}

#[cfg(test)]
mod tests;
