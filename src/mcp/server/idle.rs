//! `server.session-idle-timeout`: the reference MCP server forgets a session that received
//! no request for a span, whatever its streams do.
//!
//! ```text
//!  a request carrying a live session (or the initialize creating it) ──▶ last request := now
//!  sweeper task: sleeps until the earliest (last request + timeout) ──▶ SessionExpired
//!     the session is terminated: its open responses end (ResponseEnded), its tool calls
//!     are cancelled, and every later request carrying it is answered 404
//! ```
//!
//! An open GET stream is not a request: a session whose client only listens expires (as
//! behind a gateway whose idle timer counts requests, not bytes).

use super::Inner;
use crate::sim::now;
use crate::trace::EventKind;
use std::rc::Rc;
use std::time::Duration;

impl Inner {
    /// Notes a request on live session `session` now.
    pub(super) fn requested(&self, session: &str) {
        if self.cfg.session_idle_timeout.is_some() {
            let mut st = self.state.borrow_mut();
            st.last_request.insert(session.to_string(), now());
        }
    }

    /// Forgets `session` after `idle` without a request.
    fn expire(&self, session: &str, idle: Duration) {
        let mut st = self.state.borrow_mut();
        if st.sessions.terminate(Some(session)).is_err() {
            return; // already gone
        }
        st.last_request.remove(session);
        drop(st);
        self.record(
            None,
            EventKind::SessionExpired {
                session: session.to_string(),
                idle,
            },
        );
        self.end_session_streams(session);
    }
}

/// Expires sessions `timeout` after their last request, until the host stops.
pub(super) async fn run_sweeper(inner: Rc<Inner>, timeout: Duration) {
    loop {
        let next = {
            let mut st = inner.state.borrow_mut();
            let live: Vec<String> = st.sessions.live_mut().map(|s| s.id.clone()).collect();
            live.iter()
                .filter_map(|s| st.last_request.get(s))
                .min()
                .map_or(now() + timeout, |last| *last + timeout)
        };
        tokio::time::sleep(next.saturating_sub(now())).await;
        let due: Vec<(String, Duration)> = {
            let mut st = inner.state.borrow_mut();
            let live: Vec<String> = st.sessions.live_mut().map(|s| s.id.clone()).collect();
            live.into_iter()
                .filter_map(|s| {
                    let last = *st.last_request.get(&s)?;
                    (last + timeout <= now()).then(|| (s, now() - last))
                })
                .collect()
        };
        for (session, idle) in due {
            inner.expire(&session, idle);
        }
    }
}
