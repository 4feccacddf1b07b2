//! `replay.session-isolated`: a security check on resumption (GHSA-84j6-jc92-77jm: a guessed
//! `Last-Event-ID` replayed another session's events). A replay connection of session B never
//! carries an event of session A.
//!
//! ```text
//!   session s1 conn#3 wrote (id 4, data D) ───────────────┐
//!   session s2 conn#7 ReplayStarted{after 4} ─ writes (4, D) ┴─▶ never written in s2 before: fail
//!   session s2 replays after an id only s1 ever wrote ────────▶ fail
//! ```
//!
//! Event ids count per session, so the same id names different events in two sessions: an
//! event is its id AND its data. A replayed event (any event with data the server writes on a
//! connection after its `ReplayStarted`) leaks when an earlier write in another session had
//! the same id and data and no earlier write in its own session did. A replay after an id
//! its own session never wrote but another did also fails when it replays anything. Sessions
//! come from `StreamAttached`.

use super::client_stream::outcome;
use super::event_id_unique::server_writes;
use super::replay_same_stream::{attached_streams, replays};
use super::{CheckOutcome, Verdict};
use crate::time::stamp;
use crate::trace::{ConnId, EventKind, Trace};
use std::time::Duration;

/// The check id.
pub const ID: &str = "replay.session-isolated";

/// Evaluates `replay.session-isolated`.
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
    let session = |c: Option<ConnId>| c.and_then(|c| attached.get(&c)).map(|(s, _)| *s);
    let writes = server_writes(trace);
    let counts = |c: ConnId| {
        trace.conn(c).find_map(|e| match e.kind {
            EventKind::ReplayStarted { events, .. } => Some(events),
            _ => None,
        })
    };
    let mut judged = 0;
    let mut replayed = 0;
    for r in &replays {
        let Some(own) = session(Some(r.conn)) else {
            continue;
        };
        judged += 1;
        let before: Vec<_> = writes.iter().filter(|w| w.at <= r.at).collect();
        let in_own = before
            .iter()
            .any(|w| w.id == r.after && session(w.conn) == Some(own));
        let foreign = before
            .iter()
            .find(|w| w.id == r.after && session(w.conn).is_some_and(|s| s != own));
        if let (false, Some(f), Some(n)) = (in_own, foreign, counts(r.conn)) {
            if n > 0 {
                return outcome(
                    ID,
                    Verdict::Fail,
                    Some(r.at),
                    format!(
                        "{} of session {own} resumed after id {}, which only session {} wrote ({} at {}), and the server replayed {n} event{} instead of refusing",
                        r.conn,
                        r.after,
                        session(f.conn).unwrap_or_default(),
                        f.conn.map_or_else(String::new, |c| c.to_string()),
                        stamp(f.at),
                        if n == 1 { "" } else { "s" }
                    ),
                );
            }
        }
        for (i, w) in writes.iter().enumerate() {
            if w.conn != Some(r.conn) || w.at < r.at || crate::sse::is_blank(w.data) {
                continue;
            }
            replayed += 1;
            let earlier = &writes[..i];
            let same =
                |x: &&crate::check::event_id_unique::Write<'_>| x.id == w.id && x.data == w.data;
            if earlier
                .iter()
                .filter(same)
                .any(|x| session(x.conn) == Some(own))
            {
                continue;
            }
            if let Some(x) = earlier
                .iter()
                .filter(same)
                .find(|x| session(x.conn).is_some_and(|s| s != own))
            {
                return outcome(
                    ID,
                    Verdict::Fail,
                    Some(w.at),
                    format!(
                        "{} of session {own} was sent event {} at {}, an event of session {} (written on {} at {})",
                        r.conn,
                        w.id,
                        stamp(w.at),
                        session(x.conn).unwrap_or_default(),
                        x.conn.map_or_else(String::new, |c| c.to_string()),
                        stamp(x.at)
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
            "no replay connection reports its session; nothing to check",
        );
    }
    let at = replays.iter().map(|r| r.at).max().unwrap_or(end);
    outcome(
        ID,
        Verdict::Pass,
        Some(at),
        format!(
            "{judged} replay{} carried only their own session's events ({replayed} event{} checked)",
            if judged == 1 { "" } else { "s" },
            if replayed == 1 { "" } else { "s" }
        ),
    )
}

#[cfg(test)]
mod tests;
