//! The event store of one session: event ids, and the events kept for `Last-Event-ID`.
//!
//! ```text
//!  append("g1", data) ──▶ id 1 ─┐
//!  append("p1", data) ──▶ id 2  ├─ one counter per session: ids unique across its streams
//!  append("g1", data) ──▶ id 3 ─┘
//!  replay_after("1") ──▶ stream g1, events [3]     (only the stream that id 1 belongs to)
//!  replay_after("9") ──▶ UnknownEventId            (never another session's or stream's)
//! ```
//!
//! Ids are decimal strings of a per-session counter starting at 1. Every event is kept
//! (priming events too, with empty data, so that their id can be resumed from) unless the
//! store was created with `keep = false` (`server.event_store = false`), in which case ids
//! are still handed out but nothing can be replayed.

use std::fmt;

/// One event the server sent on a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// The event id (the SSE `id:` field, as a number).
    pub id: u64,
    /// The server stream it was sent on (`g1`, `p1`, ...).
    pub stream: String,
    /// The SSE `data:` (a JSON-RPC message; empty for a priming event).
    pub data: String,
}

/// What a `Last-Event-ID` resumes: the stream it belongs to and its later events, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    /// The stream the id belongs to.
    pub stream: String,
    /// The stream's events after the id, oldest first.
    pub events: Vec<StoredEvent>,
}

/// Why a `Last-Event-ID` cannot be resumed (answered with 400).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayError {
    /// The id was never issued by this session (or is not a decimal id at all).
    UnknownEventId(String),
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::UnknownEventId(id) => {
                write!(f, "event id {id:?} is not an event of this session")
            }
        }
    }
}

impl std::error::Error for ReplayError {}

/// Event ids and stored events of one session (or of the sessionless revision's host).
#[derive(Clone, Debug)]
pub struct EventStore {
    keep: bool,
    last_id: u64,
    /// Kept events, in id order.
    events: Vec<StoredEvent>,
}

impl EventStore {
    /// An empty store; `keep` = keep events for replay.
    pub fn new(keep: bool) -> Self {
        Self {
            keep,
            last_id: 0,
            events: Vec::new(),
        }
    }

    /// Issues the next id for an event of `stream` and keeps the event; returns the id.
    pub fn append(&mut self, stream: &str, data: &str) -> u64 {
        self.last_id += 1;
        if self.keep {
            self.events.push(StoredEvent {
                id: self.last_id,
                stream: stream.to_string(),
                data: data.to_string(),
            });
        }
        self.last_id
    }

    /// The stream event `last` was sent on, and every kept event of that stream after it.
    pub fn replay_after(&self, last: &str) -> Result<Replay, ReplayError> {
        let at = self.position(last)?;
        let stream = self.events[at].stream.clone();
        let events = self.events[at + 1..]
            .iter()
            .filter(|e| e.stream == stream)
            .cloned()
            .collect();
        Ok(Replay { stream, events })
    }

    /// The stream event `last` was sent on, and every kept event after it, **whatever stream
    /// it belongs to**: the defect of modelcontextprotocol/servers#4087 (the Everything
    /// server's `InMemoryEventStore` replays every later event of its session; fixed by
    /// servers PR #4099). Only the `replay_all_streams` bug model uses it.
    pub fn replay_all_after(&self, last: &str) -> Result<Replay, ReplayError> {
        let at = self.position(last)?;
        Ok(Replay {
            stream: self.events[at].stream.clone(),
            events: self.events[at + 1..].to_vec(),
        })
    }

    /// Where the kept event with id `last` is.
    fn position(&self, last: &str) -> Result<usize, ReplayError> {
        let unknown = || ReplayError::UnknownEventId(last.to_string());
        // Only canonical decimal ids: "01" or "+1" were never issued.
        if last.is_empty() || !last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with('0') {
            return Err(unknown());
        }
        let id: u64 = last.parse().map_err(|_| unknown())?;
        self.events
            .binary_search_by_key(&id, |e| e.id)
            .map_err(|_| unknown())
    }

    /// The last id issued (0 before the first).
    pub fn last_id(&self) -> u64 {
        self.last_id
    }

    /// Every kept event of `stream` with an id above `after`, in order (a poll's answer).
    pub fn stream_after(&self, stream: &str, after: u64) -> Vec<StoredEvent> {
        self.events
            .iter()
            .filter(|e| e.stream == stream && e.id > after)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(r: &Replay) -> Vec<u64> {
        r.events.iter().map(|e| e.id).collect()
    }

    #[test]
    fn ids_are_unique_across_the_streams_of_a_session() {
        let mut s = EventStore::new(true);
        let got: Vec<u64> = ["g1", "p1", "g1", "p2", "p1"]
            .iter()
            .map(|st| s.append(st, "{}"))
            .collect();
        assert_eq!(got, [1, 2, 3, 4, 5]);
        assert_eq!(s.last_id(), 5);
    }

    #[test]
    fn replay_returns_exactly_the_later_events_of_that_stream_in_order() {
        let mut s = EventStore::new(true);
        s.append("g1", ""); // 1: priming
        s.append("p1", ""); // 2
        s.append("g1", "a"); // 3
        s.append("p1", "x"); // 4
        s.append("g1", "b"); // 5
        s.append("g1", "c"); // 6
        let r = s.replay_after("3").unwrap();
        assert_eq!(r.stream, "g1");
        assert_eq!(ids(&r), [5, 6]);
        assert_eq!(r.events[0].data, "b");
        let r = s.replay_after("1").unwrap();
        assert_eq!(ids(&r), [3, 5, 6]);
        let r = s.replay_after("2").unwrap();
        assert_eq!((r.stream.as_str(), ids(&r)), ("p1", vec![4]));
        let r = s.replay_after("6").unwrap();
        assert!(r.events.is_empty(), "nothing after the last event");
    }

    #[test]
    fn the_all_streams_defect_replays_every_later_event_of_the_session() {
        let mut s = EventStore::new(true);
        for st in ["g1", "p1", "g1", "p1", "g1"] {
            s.append(st, "m");
        }
        let r = s.replay_all_after("1").unwrap();
        assert_eq!(r.stream, "g1", "the id's own stream is the one resumed");
        assert_eq!(ids(&r), [2, 3, 4, 5], "p1's events 2 and 4 too");
        assert_eq!(ids(&s.replay_after("1").unwrap()), [3, 5]);
        assert!(s.replay_all_after("9").is_err());
    }

    #[test]
    fn unknown_or_foreign_ids_are_rejected() {
        let mut s1 = EventStore::new(true);
        for _ in 0..5 {
            s1.append("g1", "m");
        }
        let mut s2 = EventStore::new(true);
        s2.append("g1", "");
        // An id issued by s1 only is not one of s2's: never replayed from s2.
        assert_eq!(
            s2.replay_after("4"),
            Err(ReplayError::UnknownEventId("4".into()))
        );
        for bad in [
            "",
            "0",
            "01",
            "+1",
            "-1",
            "1.0",
            "abc",
            "99999999999999999999999",
        ] {
            assert!(s1.replay_after(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_store_that_keeps_nothing_still_issues_ids_but_replays_nothing() {
        let mut s = EventStore::new(false);
        assert_eq!(s.append("g1", ""), 1);
        assert_eq!(s.append("g1", "m"), 2);
        assert!(s.replay_after("1").is_err());
    }
}
