//! `GET /mcp?poll=1`: long-polling (a middlebox extension, not part of MCP: the fallback of
//! MP-301g module 3 for clients whose SSE connections keep failing).
//!
//! ```text
//!  GET /mcp?poll=1 + Mcp-Session-Id [+ Last-Event-ID L]
//!     ──▶ 200 text/event-stream: the session's GET stream's stored events after L (all of
//!         them without L), then the response ends (no priming, no keepalive timer)
//! ```
//!
//! Refusals as for `GET /mcp`; `L` that is not a decimal id answers 400. A session that
//! never opened a GET stream gets one named, so that later notifications are kept for it.

use super::*;

/// True for a request whose query has `poll=1`.
pub(super) fn is_poll(parts: &Parts) -> bool {
    parts
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "poll=1"))
}

impl Inner {
    /// Answers a poll on connection `conn`.
    pub(super) fn poll(&self, parts: &Parts, conn: Option<ConnId>) -> Response<Body> {
        match self.poll_events(parts) {
            Ok((key, frames)) => self.poll_response(conn, key, frames),
            Err(p) => self.plain_response(conn, p),
        }
    }

    /// The GET stream polled and the frames answering the poll, or the refusal.
    fn poll_events(&self, parts: &Parts) -> Result<(StreamKey, Vec<Frame>), Plain> {
        let session = self.get_preconditions(parts)?;
        let after = match header(parts, "last-event-id") {
            None => 0,
            Some(l) => l
                .parse::<u64>()
                .ok()
                .filter(|_| l.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    Plain::error(
                        400,
                        jsonrpc::TRANSPORT_ERROR,
                        format!("Bad Request: event id {l:?} is not a decimal id"),
                    )
                })?,
        };
        let mut st = self.state.borrow_mut();
        let s = st
            .sessions
            .get(Some(&session))
            .map_err(|_| Plain::error(404, jsonrpc::SESSION_NOT_FOUND, "Session not found"))?;
        let existed = s.get_stream.is_some();
        let stream = match &s.get_stream {
            Some(g) => g.clone(),
            None => s.open_get_stream(),
        };
        // A poll is a GET on the session: a bug model's GET guard refuses it as well
        // (a real server with such a guard knows nothing of `?poll=1`).
        let key = (session.clone(), stream.clone());
        let attached = st.streams.get(&key).is_some_and(|x| x.outlet.is_some());
        if let Some(refusal) = self.guard_refusal(attached).filter(|_| existed) {
            return Err(refusal);
        }
        // The `replay_crosses_sessions` defect keeps every session's events in the one
        // host-wide store; a poll still answers its own session's stream from there.
        let stored = match &st.shared_events {
            Some(shared) => shared.stream_after(&shared_name(&key), after),
            None => st
                .sessions
                .get(Some(&session))
                .map_err(|_| Plain::error(404, jsonrpc::SESSION_NOT_FOUND, "Session not found"))?
                .events
                .stream_after(&stream, after),
        };
        let frames = stored
            .into_iter()
            .map(|e| Frame::Event {
                name: None,
                id: Some(e.id.to_string()),
                data: e.data,
            })
            .collect();
        Ok(((session, stream), frames))
    }

    /// `200 text/event-stream` carrying `frames`, then the end of the response.
    fn poll_response(
        &self,
        conn: Option<ConnId>,
        (session, stream): StreamKey,
        frames: Vec<Frame>,
    ) -> Response<Body> {
        let (tx, body) = Channel::<Bytes>::new(16);
        let resp = self
            .sse_head()
            .header("mcp-session-id", session.as_str())
            .body(Either::Right(body))
            .expect("response head is valid");
        record_response_started(&self.rec, conn, &resp);
        let mut out = SseOut::new(tx, self.rec.clone(), conn);
        out.record(EventKind::StreamAttached {
            stream,
            kind: "poll".into(),
            session,
        });
        tokio::task::spawn_local(async move {
            for frame in frames {
                if out.write(frame, None).await.is_err() {
                    return;
                }
            }
            out.end();
        });
        resp
    }
}

#[cfg(test)]
mod tests;
