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

#[cfg(test)]
mod tests {
    use crate::trace::EventKind;
    use std::time::Duration;

    /// Runs `steps` against the reference with a 5 s idle timeout; when sessions expired.
    fn expiries(steps: &str) -> Vec<(Duration, String)> {
        let text = format!(
            "description = \"d\"\nprotocol = [\"2025-11-25\"]\nduration = \"30s\"\n[server]\nsession-idle-timeout = \"5s\"\n[[client.step]]\nat = \"0s\"\ndo = \"initialize\"\n{steps}"
        );
        let s = crate::scenario::parse("idle.toml", &text).unwrap();
        let t = crate::targets::get("reference").unwrap();
        let r = crate::suite::run_one(&s, &t, None);
        assert_eq!(r.error, None);
        r.trace
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::SessionExpired { session, idle } => {
                    assert_eq!(*idle, Duration::from_secs(5));
                    Some((e.at, session.clone()))
                }
                _ => None,
            })
            .collect()
    }

    fn ping(at: u64) -> String {
        format!("[[client.step]]\nat = \"{at}s\"\ndo = \"ping\"\n")
    }

    #[test]
    fn every_request_restarts_the_idle_time() {
        // Pings every 3 s until 12 s: the session lives until 5 s after the last one.
        let steps: String = [3, 6, 9, 12].map(ping).concat();
        let e = expiries(&steps);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].1, "s1");
        assert!(
            e[0].0 >= Duration::from_secs(17) && e[0].0 < Duration::from_millis(17_010),
            "{e:?}"
        );
    }

    #[test]
    fn a_session_expires_whatever_its_open_stream_does_and_the_next_one_too() {
        // The GET stream (keepalives every 15 s) does not keep s1; a ping at 8 s gets 404,
        // re-initializes (s2), and s2 expires 5 s after its last request.
        let steps = format!(
            "[[client.step]]\nat = \"1s\"\ndo = \"open-get-stream\"\n{}",
            ping(8)
        );
        let e = expiries(&steps);
        let sessions: Vec<&str> = e.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(sessions[..2], ["s1", "s2"], "{e:?}");
        assert!(
            e[0].0 >= Duration::from_secs(6) && e[0].0 < Duration::from_millis(6_010),
            "{e:?}"
        );
    }
}
