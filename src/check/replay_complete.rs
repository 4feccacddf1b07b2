//! `replay.complete`: a safety check on resumption. After each reconnect with
//! `Last-Event-ID: L`, the client receives exactly the events the server had written on that
//! stream after L, in order, before any new one, and nothing it already had.
//!
//! ```text
//!   earlier conns of stream S (server writes, in write order, up to M's request)
//!       1  2  3 │ 4  5            L = 3  ──▶  expected E = 4, 5
//!   reconnect M: [priming] 4 5 6 7 ...    first events must be E; 6, 7 are new
//! ```
//!
//! Ids are ordered by when the server first wrote them, not numerically. When the server says
//! which server stream a connection carries (`ReplayStarted`, `StreamAttached`), only the
//! earlier connections of L's server stream count. Events with empty data (priming events) are
//! neither expected nor counted. Ids the server did write on M but that never arrived because
//! M died are the network's loss, left to the next reconnect. A reconnect from an id the server
//! never wrote on that stream cannot be judged and is skipped.

use super::client_stream::{client_streams, outcome, ClientStream, Fate};
use super::event_id_unique::{attachments, server_events, Write};
use super::{CheckOutcome, Verdict};
use crate::sse::Frame;
use crate::time::stamp;
use crate::trace::{ConnId, Trace};
use std::collections::BTreeSet;
use std::time::Duration;

/// The check id.
pub const ID: &str = "replay.complete";

/// Evaluates `replay.complete` for the reconnects of `stream` (every stream when `None`).
pub fn evaluate(stream: Option<&str>, trace: &Trace, end: Duration) -> CheckOutcome {
    let all = client_streams(trace, end);
    let writes = server_events(trace);
    let attached = attachments(trace);
    let server_stream = |c: Option<ConnId>| c.and_then(|c| attached.get(&c)?.stream);
    let server_session = |c: Option<ConnId>| c.and_then(|c| attached.get(&c)?.session);
    let mut resumes = 0;
    let mut skipped: Vec<String> = Vec::new();
    let mut checked: Vec<(String, Duration)> = Vec::new();
    let mut fail: Option<(Duration, String)> = None;
    for (k, m) in all.iter().enumerate() {
        let Some((_, Some(last))) = m.request_head() else {
            continue;
        };
        if stream.is_some_and(|n| n != m.name) {
            continue;
        }
        resumes += 1;
        let asked = m.request_sent().unwrap_or(m.opened_at);
        let earlier: Vec<&ClientStream<'_>> =
            all[..k].iter().filter(|s| s.name == m.name).collect();
        let on_earlier = |w: &&Write<'_>| {
            w.at <= asked && w.conn.is_some() && earlier.iter().any(|s| s.conn == w.conn)
        };
        let Some(l_write) = writes.iter().filter(on_earlier).find(|w| w.id == last) else {
            skipped.push(format!("{} (after {last})", m.label()));
            continue;
        };
        let l_stream = server_stream(l_write.conn);
        let l_session = server_session(l_write.conn);
        // An event of L's stream the server held back before M asked (no connection took
        // it) is missed too.
        let held_for_l = |w: &&Write<'_>| {
            w.at <= asked
                && l_stream.is_some()
                && w.held.is_some_and(|(session, s)| {
                    Some(s) == l_stream && l_session.is_none_or(|l| l == session)
                })
        };
        // Ids first written after L's first write, in write order, priming events left out.
        let mut written: BTreeSet<&str> = BTreeSet::new();
        let mut past_last = false;
        let mut expected: Vec<&str> = Vec::new();
        for w in writes.iter().filter(|w| on_earlier(w) || held_for_l(w)) {
            if w.held.is_none() && l_stream.is_some() && server_stream(w.conn) != l_stream {
                continue;
            }
            let first_write = written.insert(w.id);
            if w.id == last {
                past_last = true;
            } else if past_last && first_write && !w.data.is_empty() {
                expected.push(w.id);
            }
        }
        let expected = expected.as_slice();
        let had: BTreeSet<&str> = earlier
            .iter()
            .flat_map(|s| event_ids(s))
            .map(|(_, id)| id)
            .collect();
        match judge(m, last, expected, &had, &writes) {
            Ok(()) => checked.push((
                format!(
                    "{} resumed after {last} and received the {} event{} written after it ({})",
                    m.label(),
                    expected.len(),
                    if expected.len() == 1 { "" } else { "s" },
                    list(expected)
                ),
                m.span_end(),
            )),
            Err((at, msg)) => {
                if fail.as_ref().is_none_or(|(t, _)| at < *t) {
                    fail = Some((at, msg));
                }
            }
        }
    }
    if let Some((at, msg)) = fail {
        return outcome(ID, Verdict::Fail, Some(at), msg);
    }
    if resumes == 0 {
        let msg = match stream {
            Some(n) => {
                format!("the client never resumed stream {n} with Last-Event-ID; nothing to check")
            }
            None => "the client never resumed a stream with Last-Event-ID; nothing to check".into(),
        };
        return outcome(ID, Verdict::Unobservable, None, msg);
    }
    let Some(at) = checked.iter().map(|(_, at)| *at).max() else {
        return outcome(
            ID,
            Verdict::Unobservable,
            None,
            format!(
                "no resume started from an event the server reports writing on that stream: {}",
                skipped.join(", ")
            ),
        );
    };
    let (last_msg, _) = checked.last().expect("checked is not empty");
    let n = checked.len();
    outcome(
        ID,
        Verdict::Pass,
        Some(at),
        format!(
            "{last_msg}; {n} resume{} checked",
            if n == 1 { "" } else { "s" }
        ),
    )
}

/// The ids of the non-empty events that reached the client on `s`, with their times.
fn event_ids<'t>(s: &ClientStream<'t>) -> Vec<(Duration, &'t str)> {
    s.received_frames()
        .filter_map(|(at, f)| match f {
            Frame::Event {
                id: Some(id), data, ..
            } if !data.is_empty() => Some((at, id.as_str())),
            _ => None,
        })
        .collect()
}

/// Whether reconnect `m` (from `last`) received `expected` first, with no duplicate of `had`
/// or of itself; `Err` carries when it went wrong and the sentence saying how.
fn judge(
    m: &ClientStream<'_>,
    last: &str,
    expected: &[&str],
    had: &BTreeSet<&str>,
    writes: &[Write<'_>],
) -> Result<(), (Duration, String)> {
    let got = event_ids(m);
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut duplicated: Vec<&str> = Vec::new();
    let mut fresh: Vec<&str> = Vec::new(); // first arrivals, in order
    let mut wrong_at: Option<Duration> = None;
    let mut next = 0;
    for &(at, id) in &got {
        let dup = !seen.insert(id) || (had.contains(id) && !expected.contains(&id));
        if dup {
            if !duplicated.contains(&id) {
                duplicated.push(id);
            }
            wrong_at.get_or_insert(at);
            continue;
        }
        fresh.push(id);
        if next < expected.len() {
            if expected[next] == id {
                next += 1;
            } else {
                wrong_at.get_or_insert(at);
            }
        }
    }
    let missing: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|id| !seen.contains(id))
        .collect();
    // The tail the server did write on M but that died with it is not the replay's fault.
    let lost_in_transit = !missing.is_empty()
        && fresh.as_slice() == &expected[..fresh.len().min(expected.len())]
        && matches!(m.fate(), Fate::Died(_))
        && missing
            .iter()
            .all(|id| writes.iter().any(|w| w.conn == m.conn && w.id == *id));
    // Among the first arrivals where the replay belongs, events the server first wrote on
    // another connection before M asked: not written after `last` on this stream.
    let asked = m.request_sent().unwrap_or(m.opened_at);
    let head = &fresh[..expected.len().min(fresh.len())];
    let foreign: Vec<(&str, ConnId)> = head
        .iter()
        .filter(|id| !expected.contains(id))
        .filter_map(|id| {
            let w = writes.iter().find(|w| w.id == *id)?;
            let c = w.conn.filter(|c| Some(*c) != m.conn && w.at <= asked)?;
            Some((*id, c))
        })
        .collect();
    let out_of_order = foreign.is_empty() && missing.is_empty() && head != expected;
    if duplicated.is_empty()
        && foreign.is_empty()
        && !out_of_order
        && (missing.is_empty() || lost_in_transit)
    {
        return Ok(());
    }
    let mut faults: Vec<String> = Vec::new();
    if !missing.is_empty() {
        faults.push(format!("missing {}", list(&missing)));
    }
    if !duplicated.is_empty() {
        faults.push(format!("duplicated {}", list(&duplicated)));
    }
    if !foreign.is_empty() {
        let mut said: Vec<String> = foreign
            .iter()
            .take(6)
            .map(|(id, c)| format!("{id} (the server wrote it on {c})"))
            .collect();
        if foreign.len() > 6 {
            said.push(format!("… ({} events)", foreign.len()));
        }
        faults.push(format!(
            "received {} among them, not written after {last} on this stream",
            said.join(", ")
        ));
    }
    if out_of_order {
        faults.push(format!(
            "out of order (received {} first)",
            list(&fresh[..expected.len().min(fresh.len())])
        ));
    }
    let note = m.response_note();
    let note = if note.is_empty() {
        String::new()
    } else {
        format!(", {note}")
    };
    let at = wrong_at.unwrap_or_else(|| m.span_end());
    let msg = format!(
        "{} resumed after {last} at {}{note} and expected {} first: {}",
        m.label(),
        stamp(m.request_sent().unwrap_or(m.opened_at)),
        if expected.is_empty() {
            "no replayed event".to_string()
        } else {
            list(expected)
        },
        faults.join("; ")
    );
    Err((at, msg))
}

/// `4, 5, 6`, or `4, 5, 6, … (12 ids)` for long lists.
fn list(ids: &[&str]) -> String {
    const SHOWN: usize = 6;
    if ids.len() <= SHOWN {
        ids.join(", ")
    } else {
        format!("{}, … ({} ids)", ids[..SHOWN].join(", "), ids.len())
    }
}

#[cfg(test)]
mod tests;
