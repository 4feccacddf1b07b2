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
mod tests {
    use super::*;
    use crate::check::testing::TraceBuilder;

    const END: Duration = Duration::from_secs(300);

    /// GET stream g1 on conn 1 writes 1 (priming), 2; tool call p1 on conn 2 writes 3
    /// (priming), 4, 5; both in s1. Conn 3 resumes after 2.
    fn two_streams() -> TraceBuilder {
        TraceBuilder::new()
            .stream(1, "get", 0)
            .attached(2, 1, "g1", "get", "s1")
            .written(2, 1, "1", "")
            .written(1_000, 1, "2", "{\"method\":\"a\"}")
            .post(2, "call", 2_000, "text/event-stream")
            .attached(2_002, 2, "p1", "post", "s1")
            .written(2_002, 2, "3", "")
            .written(3_000, 2, "4", "{\"progress\":1}")
            .written(4_000, 2, "5", "{\"progress\":2}")
            .resume(3, "get", 10_000, "2")
            .attached(10_002, 3, "g1", "replay", "s1")
    }

    #[test]
    fn replaying_the_own_stream_passes() {
        let t = two_streams()
            .replay_started(10_002, 3, "g1", "2", 1)
            .written(10_002, 3, "6", "{\"method\":\"b\"}")
            .build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert_eq!(
            o.message,
            "1 replay sent only events of the Last-Event-ID's own stream (1 event written after the replays started)"
        );
    }

    #[test]
    fn replaying_the_own_streams_earlier_event_passes_while_other_streams_go_on() {
        // g1 wrote 7 on conn 1 at 5s (the client missed it); the resume after 2 replays it
        // and sends the new 8; meanwhile the tool call goes on writing 9 on conn 2.
        let t = two_streams()
            .written(5_000, 1, "7", "{\"method\":\"c\"}")
            .replay_started(10_002, 3, "g1", "2", 1)
            .written(10_002, 3, "7", "{\"method\":\"c\"}")
            .written(11_000, 3, "8", "{\"method\":\"d\"}")
            .written(12_000, 2, "9", "{\"progress\":3}")
            .build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert_eq!(
            o.message,
            "1 replay sent only events of the Last-Event-ID's own stream (2 events written after the replays started)"
        );
    }

    #[test]
    fn replaying_another_streams_events_fails() {
        let t = two_streams()
            .replay_started(10_002, 3, "g1", "2", 2)
            .written(10_002, 3, "4", "{\"progress\":1}")
            .build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert_eq!(
            o.message,
            "conn#3 resumed after 2 (stream g1) and was sent event 4 at 00:00:10.002, an event of stream p1 (first written on conn#2 at 00:00:03.000)"
        );
        assert_eq!(o.at, Some(Duration::from_millis(10_002)));
    }

    #[test]
    fn replaying_a_stream_other_than_the_ids_fails() {
        let t = two_streams()
            .replay_started(10_002, 3, "p1", "2", 2)
            .build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message.contains(
                "the server replays stream p1, but id 2 was written on stream g1 (conn#1) of session s1"
            ),
            "{}",
            o.message
        );
    }

    #[test]
    fn no_replay_or_an_unknown_id_is_unobservable() {
        let o = evaluate(&two_streams().build(), END);
        assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
        let t = two_streams()
            .replay_started(10_002, 3, "g1", "99", 0)
            .build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
        assert!(o.message.ends_with("conn#3 (after 99)"), "{}", o.message);
    }

    #[test]
    fn the_spec_dispatches_here() {
        let t = two_streams().build();
        let spec = crate::check::CheckSpec::ReplaySameStream;
        assert_eq!(spec.evaluate(&t, END), evaluate(&t, END));
        assert_eq!(spec.id(), ID);
    }
}
