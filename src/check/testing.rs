//! A tiny builder for hand-written traces, shaped like the runner writes them.
//!
//! Times are virtual milliseconds since the start. `build` orders events by time, keeping
//! the call order of events at the same instant.
//!
//! ```text
//! TraceBuilder::new()
//!     .intermediary("nginx", &[("idle-timeout", 60_000)])
//!     .stream(1, "main", 1_000)              // opened + GET at 1s, 200 event-stream at 1.003s
//!     .comment(16_003, 1)
//!     .client_closed(1_800_000, 1)
//!     .build()
//! ```

use crate::sse::Frame;
use crate::trace::{
    ClientWarning, Closer, ConnId, Event, EventKind, Limit, StreamEnd, StreamMode, Trace,
};
use std::time::Duration;

/// Builds a [`Trace`] event by event.
#[derive(Default)]
pub(crate) struct TraceBuilder {
    events: Vec<Event>,
    route: Vec<String>,
}

fn ms(t: u64) -> Duration {
    Duration::from_millis(t)
}

impl TraceBuilder {
    /// An empty trace; streams route through every intermediary declared before them.
    pub fn new() -> Self {
        Self::default()
    }

    /// Any event.
    pub fn push(mut self, t: u64, host: &str, conn: Option<u32>, kind: EventKind) -> Self {
        self.events.push(Event {
            at: ms(t),
            host: host.into(),
            conn: conn.map(ConnId),
            kind,
        });
        self
    }

    fn client(self, t: u64, conn: u32, kind: EventKind) -> Self {
        self.push(t, "client", Some(conn), kind)
    }

    /// An intermediary started at 0 with these limits (behavior, after in ms).
    pub fn intermediary(mut self, name: &str, limits: &[(&str, u64)]) -> Self {
        self.route.push(name.into());
        let limits = limits
            .iter()
            .map(|(b, after)| Limit {
                behavior: b.to_string(),
                after: ms(*after),
                watches: "upstream silence".into(),
            })
            .collect::<Vec<_>>();
        self.push(
            0,
            name,
            None,
            EventKind::IntermediaryStarted {
                preset: Some(name.into()),
                behaviors: limits.iter().map(|l| l.behavior.clone()).collect(),
                limits,
            },
        )
    }

    /// The client opened `conn` for `stream`.
    pub fn open(self, t: u64, conn: u32, stream: &str) -> Self {
        let mut route = self.route.clone();
        route.push("server".into());
        self.client(
            t,
            conn,
            EventKind::ConnOpened {
                stream: stream.into(),
                route,
            },
        )
    }

    /// The client sent `GET /mcp`.
    pub fn request(self, t: u64, conn: u32) -> Self {
        self.client(
            t,
            conn,
            EventKind::RequestSent {
                method: "GET".into(),
                path: "/mcp".into(),
                last_event_id: None,
            },
        )
    }

    /// Response headers with `text/event-stream`.
    pub fn response(self, t: u64, conn: u32, status: u16) -> Self {
        self.response_typed(t, conn, status, "text/event-stream")
    }

    /// Response headers with a content type.
    pub fn response_typed(self, t: u64, conn: u32, status: u16, content_type: &str) -> Self {
        self.client(
            t,
            conn,
            EventKind::ResponseReceived {
                status,
                content_type: Some(content_type.into()),
            },
        )
    }

    /// Opened and requested at `t`, a 200 event stream 3 ms later.
    pub fn stream(self, conn: u32, stream: &str, t: u64) -> Self {
        self.open(t, conn, stream)
            .request(t, conn)
            .response(t + 3, conn, 200)
    }

    /// A body chunk with these frames.
    pub fn frames(self, t: u64, conn: u32, bytes: usize, frames: Vec<Frame>) -> Self {
        self.client(t, conn, EventKind::Received { bytes, frames })
    }

    /// A chunk carrying `: keepalive`.
    pub fn comment(self, t: u64, conn: u32) -> Self {
        let f = Frame::Comment {
            text: " keepalive".into(),
        };
        self.frames(t, conn, 13, vec![f])
    }

    /// A chunk carrying one event.
    pub fn event(self, t: u64, conn: u32, name: Option<&str>, data: &str) -> Self {
        let f = Frame::Event {
            name: name.map(Into::into),
            id: None,
            data: data.into(),
        };
        self.frames(t, conn, 20 + data.len(), vec![f])
    }

    /// A chunk with no complete frame in it.
    pub fn bytes(self, t: u64, conn: u32, bytes: usize) -> Self {
        self.frames(t, conn, bytes, Vec::new())
    }

    /// The client saw the body end.
    pub fn ended(self, t: u64, conn: u32, how: StreamEnd) -> Self {
        self.client(t, conn, EventKind::StreamEnded { how })
    }

    /// The client recorded a close by `by`.
    pub fn conn_closed(self, t: u64, conn: u32, by: Closer, reason: &str) -> Self {
        self.client(
            t,
            conn,
            EventKind::ConnClosed {
                by,
                reason: reason.into(),
            },
        )
    }

    /// The client closed the stream itself.
    pub fn client_closed(self, t: u64, conn: u32) -> Self {
        self.conn_closed(t, conn, Closer::Client, "scenario end")
    }

    /// The server closed the connection.
    pub fn server_closed(self, t: u64, conn: u32, reason: &str) -> Self {
        self.push(
            t,
            "server",
            Some(conn),
            EventKind::ConnClosed {
                by: Closer::Server,
                reason: reason.into(),
            },
        )
    }

    /// An intermediary closed the connection with FIN.
    pub fn closed_by_intermediary(
        self,
        t: u64,
        conn: u32,
        host: &str,
        behavior: &str,
        reason: &str,
    ) -> Self {
        self.push(
            t,
            host,
            Some(conn),
            EventKind::IntermediaryClosed {
                behavior: behavior.into(),
                action: "fin".into(),
                reason: reason.into(),
            },
        )
    }

    /// An intermediary answered `status` itself.
    pub fn responded(
        self,
        t: u64,
        conn: u32,
        host: &str,
        status: u16,
        behavior: &str,
        reason: &str,
    ) -> Self {
        self.push(
            t,
            host,
            Some(conn),
            EventKind::IntermediaryResponded {
                status,
                behavior: behavior.into(),
                reason: reason.into(),
            },
        )
    }

    /// The harness stopped the run (the stall guard, a byte budget).
    pub fn stopped(self, t: u64, reason: &str) -> Self {
        self.push(
            t,
            crate::trace::HARNESS,
            None,
            EventKind::RunStopped {
                guard: crate::trace::StopGuard::Stall,
                reason: reason.into(),
            },
        )
    }

    /// An intermediary stopped forwarding silently.
    pub fn blackholed(self, t: u64, conn: u32, host: &str, behavior: &str, reason: &str) -> Self {
        self.push(
            t,
            host,
            Some(conn),
            EventKind::IntermediaryBlackholed {
                behavior: behavior.into(),
                reason: reason.into(),
            },
        )
    }

    /// The client could not connect.
    pub fn failed(self, t: u64, conn: Option<u32>, stream: &str, error: &str) -> Self {
        self.push(
            t,
            "client",
            conn,
            EventKind::ConnFailed {
                stream: stream.into(),
                error: error.into(),
            },
        )
    }

    // ── MCP shapes ────────────────────────────────────────────────────────────

    /// A request head with this method and `Last-Event-ID`.
    pub fn request_with(
        self,
        t: u64,
        conn: u32,
        method: &str,
        last_event_id: Option<&str>,
    ) -> Self {
        self.client(
            t,
            conn,
            EventKind::RequestSent {
                method: method.into(),
                path: "/mcp".into(),
                last_event_id: last_event_id.map(Into::into),
            },
        )
    }

    /// Opened and POSTed at `t`, a 200 with `content_type` 3 ms later.
    pub fn post(self, conn: u32, stream: &str, t: u64, content_type: &str) -> Self {
        self.open(t, conn, stream)
            .request_with(t, conn, "POST", None)
            .response_typed(t + 3, conn, 200, content_type)
    }

    /// Opened and sent `GET` with `Last-Event-ID: last_event_id` at `t`, a 200 event stream
    /// 3 ms later.
    pub fn resume(self, conn: u32, stream: &str, t: u64, last_event_id: &str) -> Self {
        self.open(t, conn, stream)
            .request_with(t, conn, "GET", Some(last_event_id))
            .response(t + 3, conn, 200)
    }

    /// A chunk carrying one unnamed event with an id.
    pub fn event_id(self, t: u64, conn: u32, id: &str, data: &str) -> Self {
        let f = Frame::Event {
            name: None,
            id: Some(id.into()),
            data: data.into(),
        };
        self.frames(t, conn, 20 + data.len(), vec![f])
    }

    /// A chunk carrying a block that only set the last event id.
    pub fn id_only(self, t: u64, conn: u32, id: &str) -> Self {
        self.frames(t, conn, 6 + id.len(), vec![Frame::IdOnly { id: id.into() }])
    }

    fn server(self, t: u64, conn: u32, kind: EventKind) -> Self {
        self.push(t, "server", Some(conn), kind)
    }

    /// The server attached server stream `stream` (`kind` get/post/replay) of `session`.
    pub fn attached(self, t: u64, conn: u32, stream: &str, kind: &str, session: &str) -> Self {
        self.server(
            t,
            conn,
            EventKind::StreamAttached {
                stream: stream.into(),
                kind: kind.into(),
                session: session.into(),
            },
        )
    }

    /// The server started replaying `events` events of `stream` after `after`.
    pub fn replay_started(
        self,
        t: u64,
        conn: u32,
        stream: &str,
        after: &str,
        events: usize,
    ) -> Self {
        self.server(
            t,
            conn,
            EventKind::ReplayStarted {
                stream: stream.into(),
                after: after.into(),
                events,
            },
        )
    }

    /// The server started an event-stream response.
    pub fn server_response(self, t: u64, conn: u32) -> Self {
        self.server(
            t,
            conn,
            EventKind::ResponseStarted {
                status: 200,
                content_type: Some("text/event-stream".into()),
                headers: Vec::new(),
            },
        )
    }

    /// The server armed keepalive timer `timer` every `every` ms.
    pub fn armed(self, t: u64, conn: u32, timer: u32, every: u64) -> Self {
        self.server(
            t,
            conn,
            EventKind::TimerArmed {
                timer,
                every: ms(every),
            },
        )
    }

    /// The server cleared keepalive timer `timer`.
    pub fn cleared(self, t: u64, conn: u32, timer: u32) -> Self {
        self.server(t, conn, EventKind::TimerCleared { timer })
    }

    /// The server wrote an event with an id.
    pub fn written(self, t: u64, conn: u32, id: &str, data: &str) -> Self {
        let frame = Frame::Event {
            name: None,
            id: Some(id.into()),
            data: data.into(),
        };
        self.server(t, conn, EventKind::FrameWritten { frame, timer: None })
    }

    /// The server held an event of `stream` back: no connection carried the stream.
    pub fn held(
        self,
        t: u64,
        session: &str,
        stream: &str,
        id: &str,
        data: &str,
        kept: bool,
    ) -> Self {
        self.push(
            t,
            "server",
            None,
            EventKind::EventHeldBack {
                stream: stream.into(),
                session: session.into(),
                id: id.into(),
                data: data.into(),
                kept,
            },
        )
    }

    /// The server wrote an event with data and no id.
    pub fn written_plain(self, t: u64, conn: u32, data: &str) -> Self {
        let frame = Frame::Event {
            name: None,
            id: None,
            data: data.into(),
        };
        self.server(t, conn, EventKind::FrameWritten { frame, timer: None })
    }

    /// Timer `timer` wrote a `: keepalive` comment.
    pub fn keepalive_written(self, t: u64, conn: u32, timer: u32) -> Self {
        let frame = Frame::Comment {
            text: " keepalive".into(),
        };
        self.server(
            t,
            conn,
            EventKind::FrameWritten {
                frame,
                timer: Some(timer),
            },
        )
    }

    /// A server write (by `timer`, if any) found the body closed.
    pub fn write_failed(self, t: u64, conn: u32, timer: Option<u32>) -> Self {
        self.server(
            t,
            conn,
            EventKind::WriteFailed {
                timer,
                error: "body closed".into(),
            },
        )
    }

    /// The server ended the response body.
    pub fn response_ended(self, t: u64, conn: u32) -> Self {
        self.server(t, conn, EventKind::ResponseEnded)
    }

    /// The server received a JSON-RPC message.
    pub fn rpc_received(
        self,
        t: u64,
        conn: u32,
        method: &str,
        id: Option<u64>,
        session: Option<&str>,
    ) -> Self {
        self.server(
            t,
            conn,
            EventKind::RpcReceived {
                method: method.into(),
                id,
                session: session.map(Into::into),
            },
        )
    }

    /// The server created a session.
    pub fn session_created(self, t: u64, conn: u32, session: &str) -> Self {
        self.server(
            t,
            conn,
            EventKind::SessionCreated {
                session: session.into(),
            },
        )
    }

    /// The server started a 200 `application/json` response.
    pub fn json_response(self, t: u64, conn: u32) -> Self {
        self.server(
            t,
            conn,
            EventKind::ResponseStarted {
                status: 200,
                content_type: Some("application/json".into()),
                headers: Vec::new(),
            },
        )
    }

    /// The client sent a JSON-RPC request (`id`) or notification.
    pub fn rpc_sent(self, t: u64, conn: u32, method: &str, id: Option<u64>) -> Self {
        self.client(
            t,
            conn,
            EventKind::RpcSent {
                method: method.into(),
                id,
            },
        )
    }

    /// The client recorded the answer to request `id`.
    pub fn rpc_answered(self, t: u64, conn: u32, id: u64, outcome: &str) -> Self {
        self.client(
            t,
            conn,
            EventKind::RpcAnswered {
                id,
                outcome: outcome.into(),
            },
        )
    }

    /// A server message reached the client application.
    pub fn delivered(self, t: u64, conn: u32, event_id: Option<&str>, message: &str) -> Self {
        self.client(
            t,
            conn,
            EventKind::MessageDelivered {
                event_id: event_id.map(Into::into),
                message: message.into(),
            },
        )
    }

    /// The client will reopen `stream` after `after` ms (attempt `attempt`).
    pub fn reconnecting(
        self,
        t: u64,
        conn: u32,
        stream: &str,
        attempt: u32,
        after: u64,
        last_event_id: Option<&str>,
    ) -> Self {
        self.client(
            t,
            conn,
            EventKind::Reconnecting {
                stream: stream.into(),
                attempt,
                after: ms(after),
                last_event_id: last_event_id.map(Into::into),
            },
        )
    }

    /// A chunk carrying a `retry: ms` field.
    pub fn retry(self, t: u64, conn: u32, retry_ms: u64) -> Self {
        self.frames(t, conn, 12, vec![Frame::Retry { ms: retry_ms }])
    }

    /// The client's session was established (marks an MCP client).
    pub fn session(self, t: u64, conn: u32, session: &str) -> Self {
        self.client(
            t,
            conn,
            EventKind::SessionEstablished {
                session: session.into(),
            },
        )
    }

    /// The client gave `stream` up after `attempts` failed reconnects.
    pub fn gave_up(self, t: u64, conn: u32, stream: &str, attempts: u32) -> Self {
        self.client(
            t,
            conn,
            EventKind::GaveUp {
                stream: stream.into(),
                attempts,
            },
        )
    }

    /// The client logged `warning` about `stream` on `conn`.
    pub fn warned(self, t: u64, conn: u32, stream: &str, warning: ClientWarning) -> Self {
        self.client(
            t,
            conn,
            EventKind::ClientWarned {
                stream: stream.into(),
                warning,
            },
        )
    }

    /// The client switched `stream` to long polling after `failures` failed connections.
    pub fn mode_switched(self, t: u64, conn: Option<u32>, stream: &str, failures: u32) -> Self {
        self.push(
            t,
            "client",
            conn,
            EventKind::ModeSwitched {
                stream: stream.into(),
                to: StreamMode::LongPolling,
                failures,
            },
        )
    }

    /// Opened and sent the poll `GET /mcp?poll=1` at `t`, a 200 event stream 3 ms later.
    pub fn poll(self, conn: u32, stream: &str, t: u64) -> Self {
        self.open(t, conn, stream)
            .client(
                t,
                conn,
                EventKind::RequestSent {
                    method: "GET".into(),
                    path: "/mcp?poll=1".into(),
                    last_event_id: None,
                },
            )
            .response(t + 3, conn, 200)
    }

    /// The trace, ordered by time (stable).
    pub fn build(mut self) -> Trace {
        self.events.sort_by_key(|e| e.at);
        Trace {
            events: self.events,
        }
    }
}
