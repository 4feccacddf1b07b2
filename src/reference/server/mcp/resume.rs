//! `server.resume`: how the reference MCP server answers a `GET` that carries
//! `Last-Event-ID` (a resumption), when the scenario asks for something else than a replay.
//!
//! ```text
//!  GET /mcp + Last-Event-ID ──▶ preconditions (revision, Accept, session, version) ──▶ refusal as usual
//!                            └─ resume = replay    ──▶ the replay of `get_stream` (not here)
//!                               resume = empty-200 ──▶ 200 text/event-stream, no event, ended at once
//!                               resume = http-404  ──▶ 404 (as for a session it does not know)
//!                               resume = http-500  ──▶ 500 (an internal error)
//! ```
//!
//! These reproduce servers that cannot resume: one that lost its event store answers an
//! empty stream (the client reconnects again at its retry pace), one that keeps streams per
//! process answers 404 or 500. Long-polling requests (`?poll=1`) are not resumptions and are
//! answered as always.

use super::{header, jsonrpc, Inner, Plain};
use crate::reference::server::{record_response_started, Body};
use crate::scenario::ResumeAnswer;
use crate::trace::{ConnId, EventKind};
use bytes::Bytes;
use http_body_util::channel::Channel;
use http_body_util::Either;
use hyper::http::request::Parts;
use hyper::Response;

/// JSON-RPC's internal error code.
const INTERNAL_ERROR: i64 = -32603;

impl Inner {
    /// The answer to a GET carrying `Last-Event-ID` when `server.resume` is not `replay`;
    /// `None` when the request is answered as usual.
    pub(super) fn resume_answer(
        &self,
        parts: &Parts,
        conn: Option<ConnId>,
    ) -> Option<Response<Body>> {
        if self.cfg.resume == ResumeAnswer::Replay || header(parts, "last-event-id").is_none() {
            return None;
        }
        let session = match self.get_preconditions(parts) {
            Ok(s) => s,
            Err(p) => return Some(self.plain_response(conn, p)),
        };
        Some(match self.cfg.resume {
            ResumeAnswer::Replay => unreachable!("answered by get_stream"),
            ResumeAnswer::Empty200 => self.empty_stream(conn, &session),
            ResumeAnswer::Http404 => self.plain_response(
                conn,
                Plain::error(
                    404,
                    jsonrpc::SESSION_NOT_FOUND,
                    "Not Found: this stream cannot be resumed",
                ),
            ),
            ResumeAnswer::Http500 => self.plain_response(
                conn,
                Plain::error(
                    500,
                    INTERNAL_ERROR,
                    "Internal error: cannot resume this stream",
                ),
            ),
        })
    }

    /// `200 text/event-stream` whose body ends at once, without an event.
    fn empty_stream(&self, conn: Option<ConnId>, session: &str) -> Response<Body> {
        let (tx, body) = Channel::<Bytes>::new(1);
        let resp = self
            .sse_head()
            .header("mcp-session-id", session)
            .body(Either::Right(body))
            .expect("response head is valid");
        record_response_started(&self.rec, conn, &resp);
        self.record(conn, EventKind::ResponseEnded);
        drop(tx); // the body ends with its terminator
        resp
    }
}
