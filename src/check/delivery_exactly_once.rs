//! `delivery.exactly-once`: an end-to-end check on the MCP layer. Every JSON-RPC message the
//! server wrote to the client reaches the client application once: not lost on a drop, not
//! handed over twice after a replay.
//!
//! ```text
//!   server FrameWritten{id N, data} on conn C ──(session of C, N)──▶ client MessageDelivered{N}
//!   server ResponseStarted{json} to request #K on C ──────────────▶ client RpcAnswered{#K} on C
//!        0 deliveries ─ written before the client's stream ended for good ─▶ fail (lost)
//!                     ─ written after the client closed it / the scenario end ▶ excused
//!        2+ deliveries ─────────────────────────────────────────────────────▶ fail (duplicate)
//! ```
//!
//! A message is an SSE event with an id and non-blank data (priming events carry none), keyed
//! by its session (from `StreamAttached`) and id, so replays of it are the same message; or a
//! 2xx JSON answer to a request with an id. Only conns the client opened count. A stream ends
//! for good when its last connection ends: the client's own close, the scenario's end, or a
//! drop the client never resumed (it gave up or could not resume); reconnects with
//! `Last-Event-ID` continue the stream, a new `POST` or a fresh open after the client's close
//! starts a new one. A JSON answer is lost when its connection ended without the client
//! reading it (an `http <status>` outcome means an intermediary answered instead).

use super::client_stream::{client_streams, outcome, ClientStream, Fate, SERVER};
use super::event_id_unique::attachments;
use super::{CheckOutcome, Verdict};
use crate::sse::Frame;
use crate::time::stamp;
use crate::trace::{ConnId, EventKind, Trace};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The check id.
pub const ID: &str = "delivery.exactly-once";

/// The client connections of each logical stream (a first connection and its reconnects),
/// as indexes into `all`, in order.
pub(super) fn logical_streams(all: &[ClientStream<'_>]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    // The open group of each stream name: its index in `out`.
    let mut open: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in all.iter().enumerate() {
        let post = matches!(s.request_head(), Some(("POST", _)));
        let continues = open.get(s.name).filter(|_| !post).copied();
        match continues {
            Some(g) => out[g].push(i),
            None => {
                open.insert(s.name, out.len());
                out.push(vec![i]);
            }
        }
        if matches!(s.fate(), Fate::ClosedByClient { .. }) {
            open.remove(s.name);
        }
    }
    out
}

/// When a logical stream ended for good: its last connection's end (the client's close, a
/// drop never resumed) or the scenario's end while it was open.
fn ended_for_good(last: &ClientStream<'_>, end: Duration) -> (Duration, bool) {
    match last.fate() {
        Fate::ClosedByClient { at } => (at.min(end), true),
        Fate::Open => (end, false),
        _ => (last.span_end(), false),
    }
}

/// When and on which conn a message reached the client application.
type Deliveries = Vec<(Duration, Option<ConnId>)>;

/// One message the server wrote.
struct Message {
    at: Duration,
    conn: ConnId,
    /// `event 4 (session s1)` or `answer to #1`.
    what: String,
    /// Deliveries to the application: time and conn.
    got: Deliveries,
}

/// Evaluates `delivery.exactly-once`.
pub fn evaluate(trace: &Trace, end: Duration) -> CheckOutcome {
    let all = client_streams(trace, end);
    let client_conns: BTreeSet<ConnId> = all.iter().filter_map(|s| s.conn).collect();
    let attached = attachments(trace);
    let session = |c: Option<ConnId>| c.and_then(|c| attached.get(&c)?.session);
    let server_events = trace.events.iter().any(|e| e.host == SERVER);
    let mcp_client = trace.events.iter().any(|e| {
        e.host != SERVER
            && matches!(
                e.kind,
                EventKind::RpcSent { .. }
                    | EventKind::MessageDelivered { .. }
                    | EventKind::RpcAnswered { .. }
            )
    });
    if !mcp_client {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            "the client reports no MCP messages (a plain SSE client); deliveries cannot be seen",
        );
    }

    // Client deliveries by (session, event id).
    let mut delivered: BTreeMap<(Option<&str>, &str), Deliveries> = BTreeMap::new();
    let mut deliveries = 0;
    for e in trace.events.iter().filter(|e| e.host != SERVER) {
        if let EventKind::MessageDelivered {
            event_id: Some(id), ..
        } = &e.kind
        {
            deliveries += 1;
            delivered
                .entry((session(e.conn), id.as_str()))
                .or_default()
                .push((e.at, e.conn));
        }
    }

    let mut messages: Vec<Message> = Vec::new();
    let mut keys: BTreeSet<(Option<&str>, &str)> = BTreeSet::new();
    // Requests with an id, per conn, as the server received them.
    let mut asked: BTreeMap<ConnId, u64> = BTreeMap::new();
    for e in trace.events.iter().filter(|e| e.host == SERVER) {
        let Some(c) = e.conn.filter(|c| client_conns.contains(c)) else {
            continue;
        };
        match &e.kind {
            EventKind::FrameWritten {
                frame: Frame::Event {
                    id: Some(id), data, ..
                },
                ..
            } if !crate::sse::is_blank(data) => {
                let key = (session(Some(c)), id.as_str());
                if keys.insert(key) {
                    messages.push(Message {
                        at: e.at,
                        conn: c,
                        what: match key.0 {
                            Some(s) => format!("event {id} (session {s})"),
                            None => format!("event {id}"),
                        },
                        got: delivered.get(&key).cloned().unwrap_or_default(),
                    });
                }
            }
            EventKind::RpcReceived { id: Some(id), .. } => {
                asked.insert(c, *id);
            }
            EventKind::ResponseStarted {
                status,
                content_type: Some(ct),
                ..
            } if (200..300).contains(status) && ct.starts_with("application/json") => {
                let Some(&id) = asked.get(&c) else { continue };
                let got = trace
                    .conn(c)
                    .filter(|a| a.host != SERVER)
                    .filter_map(|a| match &a.kind {
                        EventKind::RpcAnswered { id: k, outcome }
                            if *k == id && !outcome.starts_with("http ") =>
                        {
                            Some((a.at, Some(c)))
                        }
                        _ => None,
                    })
                    .collect();
                messages.push(Message {
                    at: e.at,
                    conn: c,
                    what: format!("the JSON answer to #{id}"),
                    got,
                });
            }
            _ => {}
        }
    }

    if messages.is_empty() {
        // Without server writes only duplicates could be seen.
        let dup = delivered.iter().find(|(_, v)| v.len() > 1);
        if let Some(((_, id), v)) = dup {
            return outcome(
                ID,
                Verdict::Fail,
                Some(v[1].0),
                format!(
                    "{} delivered event {id} a second time at {} (first at {})",
                    on(v[1].1),
                    stamp(v[1].0),
                    stamp(v[0].0)
                ),
            );
        }
        let msg = if server_events || deliveries > 0 {
            "the server reports writing no message to the client; nothing to check"
        } else {
            "no server message and no delivery in the trace; nothing to check"
        };
        return outcome(ID, Verdict::Unobservable, None, msg);
    }

    // When each client conn's logical stream ended for good.
    let mut until: BTreeMap<ConnId, (Duration, bool, String)> = BTreeMap::new();
    for group in logical_streams(&all) {
        let last = &all[*group.last().expect("groups are not empty")];
        let (at, by_client) = ended_for_good(last, end);
        for &i in &group {
            if let Some(c) = all[i].conn {
                until.insert(c, (at, by_client, last.label()));
            }
        }
    }

    let mut fail: Option<(Duration, String)> = None;
    let mut excused = 0;
    let mut keep = |at: Duration, msg: String| {
        if fail.as_ref().is_none_or(|(t, _)| at < *t) {
            fail = Some((at, msg));
        }
    };
    for m in &messages {
        let (stop, by_client, last) =
            until
                .get(&m.conn)
                .cloned()
                .unwrap_or((end, false, String::new()));
        match m.got.len() {
            1 => {}
            0 if m.at >= stop || m.at >= end => excused += 1,
            0 => {
                let how = if by_client {
                    format!("before the client closed it ({last} at {})", stamp(stop))
                } else if stop >= end {
                    "and the stream stayed open until the scenario's end".to_string()
                } else {
                    format!(
                        "and the stream ended for good at {} ({last} was not resumed)",
                        stamp(stop)
                    )
                };
                keep(
                    stop,
                    format!(
                        "{}: the server wrote {} at {} but it never reached the client application, {how}",
                        m.conn,
                        m.what,
                        stamp(m.at)
                    ),
                );
            }
            n => keep(
                m.got[1].0,
                format!(
                    "{}: the client application received {} {n} times (at {}), written by the server at {}",
                    on(m.got[1].1),
                    m.what,
                    m.got.iter().map(|(t, _)| stamp(*t)).collect::<Vec<_>>().join(", "),
                    stamp(m.at)
                ),
            ),
        }
    }
    if let Some((at, msg)) = fail {
        return outcome(ID, Verdict::Fail, Some(at), msg);
    }
    let n = messages.len() - excused;
    let at = messages
        .iter()
        .flat_map(|m| m.got.iter().map(|(t, _)| *t))
        .max()
        .unwrap_or(end);
    let tail = if excused > 0 {
        format!("; {excused} written after the client closed their stream or the scenario ended")
    } else {
        String::new()
    };
    outcome(
        ID,
        Verdict::Pass,
        Some(at),
        format!(
            "{n} server message{} reached the client application exactly once{tail}",
            if n == 1 { "" } else { "s" }
        ),
    )
}

/// `conn#4`, or `the client` without a connection.
fn on(c: Option<ConnId>) -> String {
    c.map_or_else(|| "the client".into(), |c| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::TraceBuilder;
    use crate::trace::StreamEnd;

    const END: Duration = Duration::from_secs(300);

    /// initialize on conn 1 (JSON answer), then a GET stream on conn 2 (g1 of s1) receiving
    /// priming 1 and notification 2; the stream is cut at 60s.
    fn base() -> TraceBuilder {
        TraceBuilder::new()
            .post(1, "initialize", 0, "application/json")
            .rpc_received(1, 1, "initialize", Some(1), None)
            .json_response(1, 1)
            .rpc_answered(4, 1, 1, "ok")
            .ended(4, 1, StreamEnd::Complete)
            .stream(2, "get", 1_000)
            .attached(1_002, 2, "g1", "get", "s1")
            .written(1_002, 2, "1", "")
            .event_id(1_004, 2, "1", "")
            .written(10_000, 2, "2", "{\"method\":\"a\"}")
            .event_id(10_002, 2, "2", "{\"method\":\"a\"}")
            .delivered(10_002, 2, Some("2"), "a")
    }

    #[test]
    fn each_message_once_passes_across_a_replay() {
        let t = base()
            .written(59_000, 2, "3", "{\"method\":\"b\"}")
            .ended(60_000, 2, StreamEnd::Truncated)
            .resume(3, "get", 63_000, "2")
            .attached(63_002, 3, "g1", "replay", "s1")
            .replay_started(63_002, 3, "g1", "2", 1)
            .written(63_002, 3, "3", "{\"method\":\"b\"}")
            .event_id(63_004, 3, "3", "{\"method\":\"b\"}")
            .delivered(63_004, 3, Some("3"), "b")
            .client_closed(300_000, 3)
            .build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert_eq!(
            o.message,
            "3 server messages reached the client application exactly once"
        );
    }

    #[test]
    fn a_message_lost_on_a_drop_never_resumed_fails() {
        let t = base()
            .written(59_000, 2, "3", "{\"method\":\"b\"}")
            .ended(60_000, 2, StreamEnd::Truncated)
            .build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert_eq!(
            o.message,
            "conn#2: the server wrote event 3 (session s1) at 00:00:59.000 but it never reached the client application, and the stream ended for good at 00:01:00.000 (conn#2 (stream get) was not resumed)"
        );
        assert_eq!(o.at, Some(Duration::from_secs(60)));
    }

    #[test]
    fn a_duplicate_delivery_fails() {
        let t = base()
            .delivered(20_000, 2, Some("2"), "a")
            .client_closed(300_000, 2)
            .build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message.starts_with(
                "conn#2: the client application received event 2 (session s1) 2 times"
            ),
            "{}",
            o.message
        );
        assert_eq!(o.at, Some(Duration::from_secs(20)));
    }

    #[test]
    fn a_lost_json_answer_fails_and_an_intermediary_answer_does_not_count() {
        let t = TraceBuilder::new()
            .post(1, "ping", 0, "application/json")
            .rpc_received(1, 1, "ping", Some(2), Some("s1"))
            .json_response(1, 1)
            .rpc_answered(4, 1, 2, "http 504")
            .ended(4, 1, StreamEnd::Complete)
            .build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message
                .starts_with("conn#1: the server wrote the JSON answer to #2 at 00:00:00.001"),
            "{}",
            o.message
        );
    }

    #[test]
    fn writes_after_the_client_closed_the_stream_are_excused() {
        let t = base()
            .client_closed(30_000, 2)
            .written(40_000, 2, "3", "{\"method\":\"b\"}")
            .build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert!(
            o.message.ends_with(
                "; 1 written after the client closed their stream or the scenario ended"
            ),
            "{}",
            o.message
        );
        // Written before the close and never delivered: lost.
        let t = base()
            .written(20_000, 2, "3", "{\"method\":\"b\"}")
            .client_closed(30_000, 2)
            .build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message
                .ends_with("before the client closed it (conn#2 (stream get) at 00:00:30.000)"),
            "{}",
            o.message
        );
    }

    #[test]
    fn no_messages_and_no_deliveries_is_unobservable() {
        let t = TraceBuilder::new()
            .stream(1, "get", 0)
            .rpc_answered(5, 1, 9, "ok")
            .build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
        assert!(
            o.message.starts_with("no server message and no delivery"),
            "{}",
            o.message
        );
        // A plain SSE client: the server's events cannot be matched to deliveries.
        let t = TraceBuilder::new()
            .stream(1, "main", 0)
            .written(1_000, 1, "1", "{}")
            .event_id(1_002, 1, "1", "{}")
            .build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
        assert!(o.message.contains("plain SSE client"), "{}", o.message);
    }

    #[test]
    fn a_new_post_starts_a_new_logical_stream() {
        let t = TraceBuilder::new()
            .post(1, "call", 0, "text/event-stream")
            .ended(5, 1, StreamEnd::Truncated)
            .resume(2, "call", 10, "1")
            .client_closed(20, 2)
            .post(3, "call", 30, "text/event-stream")
            .build();
        let all = client_streams(&t, END);
        assert_eq!(logical_streams(&all), vec![vec![0, 1], vec![2]]);
    }

    #[test]
    fn the_spec_dispatches_here() {
        let t = base().build();
        let spec = crate::check::CheckSpec::DeliveryExactlyOnce;
        assert_eq!(spec.evaluate(&t, END), evaluate(&t, END));
        assert_eq!(spec.id(), ID);
    }
}
