//! The sessions of one server host: `Mcp-Session-Id` values, their server streams and their
//! event stores.
//!
//! ```text
//!  initialize ──▶ create() ──▶ s1, s2, ...  (per host, in creation order)
//!  any other request ──▶ get(header) ─┬─ no header         ──▶ Missing    (400)
//!                                     ├─ never issued       ──▶ Unknown    (404)
//!                                     └─ DELETEd            ──▶ Terminated (404)
//!  a session names its streams: g1, g2, ... (GET) and p1, p2, ... (POST answered with SSE)
//! ```
//!
//! A bounced host starts with an empty store, so every old session id becomes unknown.

use super::event_store::EventStore;
use std::collections::BTreeMap;
use std::fmt;

/// One MCP session.
#[derive(Clone, Debug)]
pub struct Session {
    /// The `Mcp-Session-Id` value (`s1`, `s2`, ...).
    pub id: String,
    /// Event ids and stored events of all this session's streams.
    pub events: EventStore,
    /// The current standalone GET stream, where server notifications go (once one was opened).
    pub get_stream: Option<String>,
    terminated: bool,
    gets: u32,
    posts: u32,
}

impl Session {
    fn new(id: String, keep_events: bool) -> Self {
        Self {
            id,
            events: EventStore::new(keep_events),
            get_stream: None,
            terminated: false,
            gets: 0,
            posts: 0,
        }
    }

    /// Names a new GET stream (`g1`, `g2`, ...) and makes it the session's standalone stream.
    pub fn open_get_stream(&mut self) -> String {
        self.gets += 1;
        let name = format!("g{}", self.gets);
        self.get_stream = Some(name.clone());
        name
    }

    /// Names a new POST stream (`p1`, `p2`, ...).
    pub fn open_post_stream(&mut self) -> String {
        self.posts += 1;
        format!("p{}", self.posts)
    }

    /// True once the session was DELETEd.
    pub fn is_terminated(&self) -> bool {
        self.terminated
    }
}

/// Why a request's session cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// The request carries no `Mcp-Session-Id` header.
    Missing,
    /// The id was never issued by this host (or the host restarted since).
    Unknown(String),
    /// The session was terminated by DELETE.
    Terminated(String),
}

impl SessionError {
    /// The HTTP status the server answers with.
    pub fn status(&self) -> u16 {
        match self {
            SessionError::Missing => 400,
            SessionError::Unknown(_) | SessionError::Terminated(_) => 404,
        }
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Missing => f.write_str("Bad Request: Mcp-Session-Id header is required"),
            SessionError::Unknown(id) => write!(f, "Session not found: {id:?}"),
            SessionError::Terminated(id) => write!(f, "Session not found: {id:?} was terminated"),
        }
    }
}

impl std::error::Error for SessionError {}

/// Every session of one server host.
#[derive(Clone, Debug)]
pub struct SessionStore {
    keep_events: bool,
    /// By creation number, so iteration follows creation order.
    sessions: BTreeMap<u32, Session>,
}

impl SessionStore {
    /// An empty store; `keep_events` = sessions keep events for replay.
    pub fn new(keep_events: bool) -> Self {
        Self {
            keep_events,
            sessions: BTreeMap::new(),
        }
    }

    /// Creates the next session (`s1`, `s2`, ...).
    pub fn create(&mut self) -> &mut Session {
        let n = self.sessions.last_key_value().map_or(1, |(k, _)| k + 1);
        self.sessions
            .entry(n)
            .or_insert_with(|| Session::new(format!("s{n}"), self.keep_events))
    }

    /// The live session named by a request's `Mcp-Session-Id` header.
    pub fn get(&mut self, header: Option<&str>) -> Result<&mut Session, SessionError> {
        let id = header.ok_or(SessionError::Missing)?;
        let s = id
            .strip_prefix('s')
            .filter(|n| !n.starts_with('0'))
            .and_then(|n| n.parse::<u32>().ok())
            .and_then(|n| self.sessions.get_mut(&n))
            .ok_or_else(|| SessionError::Unknown(id.to_string()))?;
        if s.terminated {
            return Err(SessionError::Terminated(id.to_string()));
        }
        Ok(s)
    }

    /// Terminates the session named by `header`; returns its id.
    pub fn terminate(&mut self, header: Option<&str>) -> Result<String, SessionError> {
        let s = self.get(header)?;
        s.terminated = true;
        Ok(s.id.clone())
    }

    /// Live sessions, in creation order.
    pub fn live_mut(&mut self) -> impl Iterator<Item = &mut Session> {
        self.sessions.values_mut().filter(|s| !s.terminated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_numbered_per_host_and_found_by_header() {
        let mut st = SessionStore::new(true);
        assert_eq!(st.create().id, "s1");
        assert_eq!(st.create().id, "s2");
        assert_eq!(st.get(Some("s2")).unwrap().id, "s2");
        assert_eq!(st.get(None).unwrap_err(), SessionError::Missing);
        for bad in ["s3", "s0", "s01", "1", "", "S1", "s1 "] {
            assert_eq!(
                st.get(Some(bad)).unwrap_err(),
                SessionError::Unknown(bad.into()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_terminated_session_answers_404_and_is_not_live() {
        let mut st = SessionStore::new(true);
        st.create();
        st.create();
        assert_eq!(st.terminate(Some("s1")).unwrap(), "s1");
        let e = st.get(Some("s1")).unwrap_err();
        assert_eq!(e, SessionError::Terminated("s1".into()));
        assert_eq!(e.status(), 404);
        assert_eq!(SessionError::Missing.status(), 400);
        assert!(st.terminate(Some("s1")).is_err(), "cannot terminate twice");
        let live: Vec<String> = st.live_mut().map(|s| s.id.clone()).collect();
        assert_eq!(live, ["s2"]);
        assert_eq!(st.create().id, "s3", "ids are never reused");
    }

    #[test]
    fn streams_are_named_per_session_and_kind() {
        let mut st = SessionStore::new(true);
        let a = st.create();
        assert_eq!(a.open_get_stream(), "g1");
        assert_eq!(a.open_post_stream(), "p1");
        assert_eq!(a.open_post_stream(), "p2");
        assert_eq!(a.open_get_stream(), "g2");
        assert_eq!(a.get_stream.as_deref(), Some("g2"));
        let b = st.create();
        assert_eq!(b.get_stream, None);
        assert_eq!(b.open_post_stream(), "p1");
    }

    #[test]
    fn each_session_has_its_own_event_ids() {
        let mut st = SessionStore::new(true);
        st.create().events.append("g1", "");
        st.create();
        let s2 = st.get(Some("s2")).unwrap();
        assert_eq!(s2.events.append("g1", ""), 1);
        assert!(s2.events.replay_after("1").is_ok());
        assert_eq!(st.get(Some("s1")).unwrap().events.last_id(), 1);
    }
}
