//! The reference MCP server: the `/mcp` endpoint of the reference server host (MCP
//! Streamable HTTP, revisions 2025-03-26, 2025-06-18, 2025-11-25 and 2026-07-28).
//!
//! ```text
//!  POST initialize ──▶ 200 JSON, Mcp-Session-Id: s1 ........ SessionStore (session.rs)
//!  POST ping / tools/list ──▶ 200 JSON;  POST a notification ──▶ 202
//!  POST tools/call sleep ──▶ 200 SSE, stream p1 ◀── tool task: progress every M ms, result
//!  GET ──▶ 200 SSE, stream g1 ◀── [[server.notification]]s (every session's GET stream)
//!  GET + Last-Event-ID L ──▶ 200 SSE, "replay" of L's stream ◀── EventStore (event_store.rs)
//!  DELETE ──▶ 200, session terminated, its streams end
//!
//!  server stream (g1, p1) ──outlet──▶ connection task ──SseOut──▶ response body
//!                                        └─ Keepalive timer (armed at response start)
//! ```
//!
//! Every event carries an id from the session's counter and is kept in its event store
//! (priming events too), whether a connection is attached or not; a stream that loses its
//! connection keeps collecting events until a `GET` with `Last-Event-ID` attaches a new
//! connection to it (replay, then live events). On 2025-11-25 every new stream starts with a
//! priming event (`id: N`, empty data) and `retry: <server.retry ms>`; a replay connection
//! continues an existing stream and is not primed again. Revision 2026-07-28 has no sessions
//! (GET and DELETE answer 405, ids count per host, nothing is replayed) and a POST stream
//! whose connection is gone cancels its tool call.
//!
//! A session has one standalone GET stream at a time: a GET without `Last-Event-ID` (or one
//! resuming that stream) while a connection carries it supersedes that connection: the
//! server ends the older response (`ResponseEnded`, its keepalive cleared) and attaches the
//! new one; the reference never answers 409.
//!
//! A scheduled notification goes to the current GET stream (the last one opened without
//! `Last-Event-ID`) of every live session that opened one; a session that never opened a GET
//! stream has no stream to keep it for. Without `server.event_store`, `Last-Event-ID` is
//! ignored (a fresh GET stream). Refusals: no session header 400, unknown or terminated
//! session 404, unknown `Last-Event-ID` 400, unknown `MCP-Protocol-Version` 400, `Accept`
//! missing a needed type 406, a body that is not `application/json` 415, JSON-RPC parse
//! errors 400 (code -32700); unknown methods and bad tool arguments are JSON-RPC errors in a
//! 200 answer. Every response is recorded (`ResponseStarted`, with its headers); session
//! events are recorded on the request's connection.
//!
//! The server learns that a connection is gone only when a write to it fails. Keepalive timer
//! ownership: one timer per attached SSE connection, cleared when its stream ends or its first
//! write fails — unless a bug model switches on a [`Defects`] entry:
//! - `replay_without_keepalive`: replay connections arm no timer;
//! - `shared_keepalive_timer`: one timer slot per session; attaching a stream arms a new
//!   timer into the slot without clearing the previous one (which keeps writing to its own
//!   stream); when any stream ends or fails, the timer currently in the slot is cleared
//!   (possibly another stream's) and the slot emptied; a timer no longer in the slot is never
//!   cleared (it keeps firing, and every failing write is recorded);
//! - `no_stream_keepalive`: no connection arms a per-stream timer;
//! - `transport_keepalive` (with `background_cancel_after`), cloudflare/agents 0.12.4 on
//!   Workers: every SSE connection runs a transport keepalive timer (its own id, armed at the
//!   response start) writing the named event `event: ping\ndata: \n\n` (no id) every period;
//!   it runs outside `ctx.waitUntil`, so the runtime cancels it `background_cancel_after`
//!   after the response started (the fetch handler returned with the headers); a firing due
//!   at exactly that instant still runs. For this timer a `TimerCleared` means "cancelled by
//!   the runtime" when it comes at that instant, and "the server ended the response" right
//!   after a `ResponseEnded`; a failed write never clears it (it keeps firing, failing, until
//!   cancelled).
//! - `get_guard`: instead of superseding, a GET that would take the session's GET stream
//!   over is refused: `NeverReleased` 400 once the session opened a GET stream,
//!   `UntilNoticed` 409 while a connection is believed to carry it;
//! - `post_without_keepalive_2026`: on 2026-07-28 POST streams arm no timer;
//! - `replay_crosses_sessions`: event ids come from one host-wide store (streams named
//!   `<session>/<stream>`) and `Last-Event-ID` resolves in it whatever session asks; the
//!   replay connection is recorded under the requesting session;
//! - `replay_all_streams`: a replay sends every stored event of the session after
//!   `Last-Event-ID`, of any stream (the connection still carries the id's stream);
//! - `replay_standalone_lost`: a resumption of a GET stream replays nothing and carries the
//!   stream `''`, which nothing writes to (see `replay_defects.rs`).
//!
//! Files: `streams.rs` (what the server knows of each stream, and the host's state),
//! `connection.rs` (one SSE connection's task and its timers), `resume.rs` (`Last-Event-ID`),
//! `replay_defects.rs` (how the replay bug models resume), `poll.rs` (long polling),
//! `tool.rs` (the `sleep` tool), `idle.rs` (the session idle timeout); the dispatch of
//! requests is here.
//!
//! [`Defects`]: crate::scenario::Defects

mod connection;
mod idle;
mod poll;
mod replay_defects;
mod resume;
mod streams;
/// In-simulation tests: a tiny hand-written MCP client drives the reference server host over
/// turmoil; assertions read the trace.
#[cfg(test)]
mod tests;
mod tool;

use crate::mcp::event_store::{EventStore, Replay, ReplayError};
use crate::mcp::jsonrpc::{self, Message, RpcError};
use crate::mcp::session::SessionStore;
use crate::mcp::Revision;
use crate::reference::server::{
    record_response_started, Body, Keepalive, SseOut, TimerHandle, TimerIds, WriteError,
};
use crate::scenario::{GetGuard, KeepaliveFrame, ServerConfig, SseKind};
use crate::sim::now;
use crate::sse::Frame;
use crate::trace::{ConnId, EventKind, Recorder};
use bytes::Bytes;
use connection::{run_connection, Release, Timers, TransportKeepalive};
use http_body_util::channel::Channel;
use http_body_util::{BodyExt, Either, Full};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;
use streams::*;
use tokio::sync::mpsc;
use tool::*;

/// The session name recorded for streams of the sessionless revision (2026-07-28).
pub const NO_SESSION: &str = "none";

/// The `/mcp` endpoint of one server host (cheap to clone; state is per host start).
#[derive(Clone)]
pub struct McpServer {
    inner: Rc<Inner>,
}

struct Inner {
    cfg: Rc<ServerConfig>,
    revision: Revision,
    rec: Recorder,
    timers: TimerIds,
    state: RefCell<State>,
}

/// A reply before it becomes a response: JSON (or empty) bodies, with status and headers.
struct Plain {
    status: u16,
    body: Option<String>,
    session: Option<String>,
    allow: Option<&'static str>,
}

impl Plain {
    fn json(status: u16, body: String, session: Option<String>) -> Self {
        Self {
            status,
            body: Some(body),
            session,
            allow: None,
        }
    }

    fn error(status: u16, code: i64, message: impl Into<String>) -> Self {
        Self::json(
            status,
            jsonrpc::error(None, &RpcError::new(code, message)),
            None,
        )
    }

    fn empty(status: u16, session: Option<String>) -> Self {
        Self {
            status,
            body: None,
            session,
            allow: None,
        }
    }
}

/// An SSE reply: which stream the connection carries and how it was attached.
struct Sse {
    key: StreamKey,
    /// The session of the request (the stream's own, except when a defect crosses sessions).
    session: String,
    kind: &'static str,
    serial: u64,
    rx: mpsc::UnboundedReceiver<Outgoing>,
    /// `(after, events)` for a replay.
    replay: Option<(String, usize)>,
}

enum Reply {
    Plain(Plain),
    Sse(Sse),
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// True when the `Accept` header admits `mime` (`type/sub`, `type/*` or `*/*`).
fn accepts(parts: &Parts, mime: &str) -> bool {
    let Some(accept) = header(parts, "accept") else {
        return false;
    };
    let (ty, _) = mime.split_once('/').unwrap_or((mime, ""));
    accept.split(',').any(|item| {
        let range = item.split(';').next().unwrap_or("").trim();
        range.eq_ignore_ascii_case(mime)
            || range == "*/*"
            || range.eq_ignore_ascii_case(&format!("{ty}/*"))
    })
}

impl McpServer {
    /// The endpoint of a server host that just started (fresh sessions), speaking
    /// `revision`. Starts the scheduled notifications.
    pub(crate) fn start(
        cfg: Rc<ServerConfig>,
        revision: Revision,
        rec: Recorder,
        timers: TimerIds,
    ) -> Self {
        let keep = cfg.event_store;
        let cfg_shared = cfg.defects.replay_crosses_sessions;
        let inner = Rc::new(Inner {
            cfg,
            revision,
            rec,
            timers,
            state: RefCell::new(State {
                sessions: SessionStore::new(keep),
                sessionless_events: EventStore::new(false),
                sessionless_posts: 0,
                streams: BTreeMap::new(),
                slots: BTreeMap::new(),
                shared_events: cfg_shared.then(|| EventStore::new(keep)),
                outlets: 0,
                last_request: BTreeMap::new(),
            }),
        });
        if !inner.cfg.notifications.is_empty() {
            tokio::task::spawn_local(run_notifications(inner.clone()));
        }
        if let Some(timeout) = inner.cfg.session_idle_timeout {
            if inner.revision.has_sessions() {
                tokio::task::spawn_local(idle::run_sweeper(inner.clone(), timeout));
            }
        }
        Self { inner }
    }

    /// Answers one request to `/mcp` on connection `conn`.
    pub(crate) async fn handle(
        &self,
        req: Request<hyper::body::Incoming>,
        conn: Option<ConnId>,
    ) -> Response<Body> {
        let inner = &self.inner;
        inner.record(
            conn,
            EventKind::RequestReceived {
                method: req.method().to_string(),
                path: req
                    .uri()
                    .path_and_query()
                    .map_or(req.uri().path(), |p| p.as_str())
                    .to_string(),
            },
        );
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if !inner.cfg.first_byte_delay.is_zero() {
            tokio::time::sleep(inner.cfg.first_byte_delay).await;
        }
        let reply = match parts.method {
            Method::POST => inner.post(&parts, &body, conn),
            Method::GET if poll::is_poll(&parts) => return inner.poll(&parts, conn),
            Method::GET => match inner.resume_answer(&parts, conn) {
                Some(answer) => return answer,
                None => inner.get(&parts),
            },
            Method::DELETE => inner.delete(&parts, conn),
            _ => Reply::Plain(Plain {
                allow: Some(inner.allowed()),
                ..Plain::error(405, jsonrpc::TRANSPORT_ERROR, "Method not allowed")
            }),
        };
        match reply {
            Reply::Plain(p) => inner.plain_response(conn, p),
            Reply::Sse(s) => inner.sse_response(conn, s),
        }
    }
}

impl Inner {
    fn record(&self, conn: Option<ConnId>, kind: EventKind) {
        self.rec.record("server", conn, kind);
    }

    /// The head of a `200 text/event-stream` answer: no caching, and `X-Accel-Buffering: no`
    /// unless the scenario turns it off.
    fn sse_head(&self) -> hyper::http::response::Builder {
        let b = Response::builder()
            .status(200)
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache");
        if self.cfg.x_accel_buffering_no {
            b.header("x-accel-buffering", "no")
        } else {
            b
        }
    }

    /// [`State::emit`], recording an event no connection took (`EventHeldBack`): the
    /// checks judge what happens to it (a replay, or its loss).
    fn emit(&self, st: &mut State, key: &StreamKey, data: &str) -> Option<u64> {
        let (id, taken) = st.emit(key, data)?;
        if !taken {
            self.record(
                None,
                EventKind::EventHeldBack {
                    stream: key.1.clone(),
                    session: key.0.clone(),
                    id: id.to_string(),
                    data: data.to_string(),
                    kept: self.cfg.event_store && key.0 != NO_SESSION,
                },
            );
        }
        Some(id)
    }

    fn allowed(&self) -> &'static str {
        if self.revision.has_sessions() {
            "GET, POST, DELETE"
        } else {
            "POST"
        }
    }

    /// The live session named by the request, or the refusal to send.
    fn session_of(&self, parts: &Parts) -> Result<String, Plain> {
        if !self.revision.has_sessions() {
            return Ok(NO_SESSION.to_string());
        }
        let mut st = self.state.borrow_mut();
        match st.sessions.get(header(parts, "mcp-session-id")) {
            Ok(s) => {
                let id = s.id.clone();
                drop(st);
                self.requested(&id);
                Ok(id)
            }
            Err(e) => {
                let code = if e.status() == 404 {
                    jsonrpc::SESSION_NOT_FOUND
                } else {
                    jsonrpc::TRANSPORT_ERROR
                };
                Err(Plain::error(e.status(), code, e.to_string()))
            }
        }
    }

    /// An `MCP-Protocol-Version` header naming no known revision is refused.
    fn check_version(&self, parts: &Parts) -> Result<(), Plain> {
        match header(parts, "mcp-protocol-version") {
            Some(v) if Revision::parse(v).is_none() => Err(Plain::error(
                400,
                jsonrpc::TRANSPORT_ERROR,
                format!("Bad Request: unsupported protocol version {v:?}"),
            )),
            _ => Ok(()),
        }
    }

    fn session_header(&self, session: &str) -> Option<String> {
        (session != NO_SESSION).then(|| session.to_string())
    }

    fn post(self: &Rc<Self>, parts: &Parts, body: &[u8], conn: Option<ConnId>) -> Reply {
        let msg = match jsonrpc::parse(body) {
            Ok(m) => m,
            Err(e) => return Reply::Plain(Plain::json(400, jsonrpc::error(None, &e), None)),
        };
        self.record(
            conn,
            EventKind::RpcReceived {
                method: msg.method().unwrap_or("(response)").to_string(),
                id: msg.id_u64(),
                session: header(parts, "mcp-session-id").map(str::to_string),
            },
        );
        match self.post_message(parts, msg, conn) {
            Ok(r) => r,
            Err(p) => Reply::Plain(p),
        }
    }

    fn post_message(
        self: &Rc<Self>,
        parts: &Parts,
        msg: Message,
        conn: Option<ConnId>,
    ) -> Result<Reply, Plain> {
        if !(accepts(parts, "application/json") && accepts(parts, "text/event-stream")) {
            return Err(Plain::error(
                406,
                jsonrpc::TRANSPORT_ERROR,
                "Not Acceptable: the client must accept both application/json and text/event-stream",
            ));
        }
        let json_body = header(parts, "content-type")
            .and_then(|c| c.split(';').next())
            .is_some_and(|c| c.trim().eq_ignore_ascii_case("application/json"));
        if !json_body {
            return Err(Plain::error(
                415,
                jsonrpc::TRANSPORT_ERROR,
                "Unsupported Media Type: the body must be application/json",
            ));
        }
        if let Message::Request { id, method, .. } = &msg {
            if method == "initialize" {
                return Ok(Reply::Plain(self.initialize(id, conn)));
            }
        }
        let session = self.session_of(parts)?;
        self.check_version(parts)?;
        let sh = self.session_header(&session);
        let Message::Request { id, method, params } = msg else {
            return Ok(Reply::Plain(Plain::empty(202, sh)));
        };
        let answer = |result: Value| Plain::json(200, jsonrpc::result(&id, result), sh.clone());
        let refuse = |code: i64, message: String| {
            Plain::json(
                200,
                jsonrpc::error(Some(&id), &RpcError::new(code, message)),
                sh.clone(),
            )
        };
        Ok(Reply::Plain(match method.as_str() {
            "ping" => answer(json!({})),
            "tools/list" => answer(json!({"tools": [sleep_tool()]})),
            "tools/call" => match SleepCall::from_params(&params) {
                Ok(call) => return Ok(self.call_tool(&session, id, call)),
                Err(e) => refuse(e.code, e.message),
            },
            other => refuse(
                jsonrpc::METHOD_NOT_FOUND,
                format!("Method not found: {other}"),
            ),
        }))
    }

    fn initialize(&self, id: &Value, conn: Option<ConnId>) -> Plain {
        let session = if self.revision.has_sessions() {
            let mut st = self.state.borrow_mut();
            let s = st.sessions.create().id.clone();
            drop(st);
            self.requested(&s);
            self.record(conn, EventKind::SessionCreated { session: s.clone() });
            Some(s)
        } else {
            None
        };
        let result = json!({
            "protocolVersion": self.revision.as_str(),
            "capabilities": {"tools": {"listChanged": true}},
            "serverInfo": {"name": "middlebox-reference", "version": env!("CARGO_PKG_VERSION")},
        });
        Plain::json(200, jsonrpc::result(id, result), session)
    }

    fn call_tool(self: &Rc<Self>, session: &str, id: Value, call: SleepCall) -> Reply {
        let mut st = self.state.borrow_mut();
        let stream = if session == NO_SESSION {
            st.sessionless_posts += 1;
            format!("p{}", st.sessionless_posts)
        } else {
            match st.sessions.get(Some(session)) {
                Ok(s) => s.open_post_stream(),
                Err(_) => unreachable!("the session was looked up just before"),
            }
        };
        let key = (session.to_string(), stream);
        let (serial, rx) = st.open_stream(&key);
        self.prime(&mut st, &key);
        let cancelled = st.streams[&key].cancelled.clone();
        drop(st);
        let inner = self.clone();
        tokio::task::spawn_local(run_tool(inner, key.clone(), id, call, cancelled));
        Reply::Sse(Sse {
            session: key.0.clone(),
            key,
            kind: "post",
            serial,
            rx,
            replay: None,
        })
    }

    /// 2025-11-25: a new stream's first event has an id and empty data, with `retry`.
    fn prime(&self, st: &mut State, key: &StreamKey) {
        if !self.revision.primes() {
            return;
        }
        st.emit(key, "");
        if let Some(retry) = self.cfg.retry {
            let ms = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
            st.push(key, Outgoing::Frame(Frame::Retry { ms }));
        }
    }

    fn get(&self, parts: &Parts) -> Reply {
        match self.get_stream(parts) {
            Ok(r) => r,
            Err(p) => Reply::Plain(p),
        }
    }

    /// The bug models' one-GET-per-session guard: the refusal of a GET (SSE or poll) that
    /// would take over the session's GET stream, `attached` when that stream has a live
    /// connection as far as the server knows. None for the reference.
    fn guard_refusal(&self, attached: bool) -> Option<Plain> {
        match self.cfg.defects.get_guard {
            Some(GetGuard::NeverReleased) => Some(Plain::error(
                400,
                jsonrpc::TRANSPORT_ERROR,
                "Bad Request: this session already has a GET stream",
            )),
            Some(GetGuard::UntilNoticed) if attached => Some(Plain::error(
                409,
                jsonrpc::TRANSPORT_ERROR,
                "Conflict: only one GET stream is allowed per session",
            )),
            _ => None,
        }
    }

    /// What every GET (stream or poll) must satisfy: a revision with a GET stream, an
    /// `Accept` that takes SSE, a live session and the right protocol version. The session.
    fn get_preconditions(&self, parts: &Parts) -> Result<String, Plain> {
        if !self.revision.has_sessions() {
            return Err(Plain {
                allow: Some(self.allowed()),
                ..Plain::error(
                    405,
                    jsonrpc::TRANSPORT_ERROR,
                    "Method not allowed: this revision has no GET stream",
                )
            });
        }
        if !accepts(parts, "text/event-stream") {
            return Err(Plain::error(
                406,
                jsonrpc::TRANSPORT_ERROR,
                "Not Acceptable: the client must accept text/event-stream",
            ));
        }
        let session = self.session_of(parts)?;
        self.check_version(parts)?;
        Ok(session)
    }

    fn get_stream(&self, parts: &Parts) -> Result<Reply, Plain> {
        let session = self.get_preconditions(parts)?;
        let mut st = self.state.borrow_mut();
        let last = header(parts, "last-event-id").filter(|_| self.cfg.event_store);
        let replay = match last {
            Some(last) => Some(self.resolve(&mut st, &session, last)?),
            None => None,
        };
        // The session's standalone GET stream, when this GET would take it over: a new
        // standalone GET, or a resumption of that very stream.
        let current = st
            .sessions
            .get(Some(&session))
            .ok()
            .and_then(|s| s.get_stream.clone())
            .map(|g| (session.clone(), g));
        let takes_over = current.filter(|c| replay.as_ref().is_none_or(|(k, _)| k == c));
        if let Some(old) = &takes_over {
            let attached = st.streams.get(old).is_some_and(|s| s.outlet.is_some());
            if let Some(refusal) = self.guard_refusal(attached) {
                return Err(refusal);
            }
            match self.cfg.defects.get_guard {
                Some(_) => {}
                // Rule G: the newer GET wins; the older response is ended by the server.
                None => {
                    if let Some(o) = st.streams.get_mut(old).and_then(|s| s.outlet.take()) {
                        let _ = o.tx.send(Outgoing::End);
                    }
                }
            }
        }
        if let Some((key, replay)) = replay {
            let (serial, rx) = st.attach(&key);
            for e in &replay.events {
                let frame = Frame::Event {
                    name: None,
                    id: Some(e.id.to_string()),
                    data: e.data.clone(),
                };
                st.push(&key, Outgoing::Frame(frame));
            }
            if st.streams[&key].ended {
                st.end_stream(&key);
            }
            return Ok(Reply::Sse(Sse {
                key,
                session,
                kind: "replay",
                serial,
                rx,
                replay: Some((last.unwrap_or_default().to_string(), replay.events.len())),
            }));
        }
        let stream = match st.sessions.get(Some(&session)) {
            Ok(s) => s.open_get_stream(),
            Err(_) => unreachable!("the session was looked up just before"),
        };
        let key = (session.clone(), stream);
        let (serial, rx) = st.open_stream(&key);
        self.prime(&mut st, &key);
        Ok(Reply::Sse(Sse {
            key,
            session,
            kind: "get",
            serial,
            rx,
            replay: None,
        }))
    }

    /// The stream `Last-Event-ID: last` resumes and the events to replay: looked up in the
    /// session's own store (in the host-wide store with the `replay_crosses_sessions`
    /// defect, whatever session the id belongs to).
    fn resolve(
        &self,
        st: &mut State,
        session: &str,
        last: &str,
    ) -> Result<(StreamKey, Replay), Plain> {
        let bad = |e: ReplayError| {
            Plain::error(400, jsonrpc::TRANSPORT_ERROR, format!("Bad Request: {e}"))
        };
        let (key, replay) = match &st.shared_events {
            Some(shared) => {
                let r = self.replay_from(shared, last).map_err(bad)?;
                let (s, g) = r.stream.split_once('/').unwrap_or((session, &r.stream));
                ((s.to_string(), g.to_string()), r)
            }
            None => {
                let store = &st
                    .sessions
                    .get(Some(session))
                    .map_err(|_| {
                        Plain::error(404, jsonrpc::SESSION_NOT_FOUND, "Session not found")
                    })?
                    .events;
                let r = self.replay_from(store, last).map_err(bad)?;
                ((session.to_string(), r.stream.clone()), r)
            }
        };
        if !st.streams.contains_key(&key) {
            return Err(Plain::error(
                400,
                jsonrpc::TRANSPORT_ERROR,
                "Bad Request: that stream is gone",
            ));
        }
        Ok(self.attach_target(st, key, replay))
    }

    fn delete(&self, parts: &Parts, conn: Option<ConnId>) -> Reply {
        if !self.revision.has_sessions() {
            return Reply::Plain(Plain {
                allow: Some(self.allowed()),
                ..Plain::error(
                    405,
                    jsonrpc::TRANSPORT_ERROR,
                    "Method not allowed: this revision has no sessions",
                )
            });
        }
        let mut st = self.state.borrow_mut();
        let session = match st.sessions.terminate(header(parts, "mcp-session-id")) {
            Ok(s) => s,
            Err(e) => {
                let code = if e.status() == 404 {
                    jsonrpc::SESSION_NOT_FOUND
                } else {
                    jsonrpc::TRANSPORT_ERROR
                };
                return Reply::Plain(Plain::error(e.status(), code, e.to_string()));
            }
        };
        drop(st);
        self.record(
            conn,
            EventKind::SessionTerminated {
                session: session.clone(),
            },
        );
        self.end_session_streams(&session);
        Reply::Plain(Plain::empty(200, None))
    }

    /// A session is over: its streams end (their open responses with them) and its tool
    /// calls are cancelled.
    fn end_session_streams(&self, session: &str) {
        let mut st = self.state.borrow_mut();
        st.last_request.remove(session);
        let keys: Vec<StreamKey> = st
            .streams
            .keys()
            .filter(|(s, _)| s == session)
            .cloned()
            .collect();
        for key in keys {
            st.streams[&key].cancelled.set(true);
            st.end_stream(&key);
        }
    }

    fn plain_response(&self, conn: Option<ConnId>, p: Plain) -> Response<Body> {
        let mut b = Response::builder().status(p.status);
        if p.body.is_some() {
            b = b.header("content-type", "application/json");
        }
        if let Some(s) = &p.session {
            b = b.header("mcp-session-id", s.as_str());
        }
        if let Some(a) = p.allow {
            b = b.header("allow", a);
        }
        let resp = b
            .body(Either::Left(Full::new(Bytes::from(
                p.body.unwrap_or_default(),
            ))))
            .expect("response head is valid");
        record_response_started(&self.rec, conn, &resp);
        resp
    }

    fn sse_response(self: &Rc<Self>, conn: Option<ConnId>, s: Sse) -> Response<Body> {
        let (tx, body) = Channel::<Bytes>::new(16);
        let mut b = self.sse_head();
        let session = s.session.clone();
        if session != NO_SESSION {
            b = b.header("mcp-session-id", session.as_str());
        }
        let resp = b.body(Either::Right(body)).expect("response head is valid");
        record_response_started(&self.rec, conn, &resp);
        let out = SseOut::new(tx, self.rec.clone(), conn);
        out.record(EventKind::StreamAttached {
            stream: s.key.1.clone(),
            kind: s.kind.to_string(),
            session: session.clone(),
        });
        if let Some((after, events)) = &s.replay {
            out.record(EventKind::ReplayStarted {
                stream: s.key.1.clone(),
                after: after.clone(),
                events: *events,
            });
        }
        let defects = &self.cfg.defects;
        let replay_untimed = s.kind == "replay" && defects.replay_without_keepalive;
        let post_untimed = s.kind == "post"
            && defects.post_without_keepalive_2026
            && self.revision == Revision::V2026_07_28;
        let timed = !(defects.no_stream_keepalive || replay_untimed || post_untimed);
        let started = now();
        let keepalive = self.cfg.keepalive.filter(|_| timed).map(|every| {
            Keepalive::arm(
                self.timers.next(),
                every,
                self.cfg.keepalive_frame.clone(),
                &out,
                started,
            )
        });
        let transport = defects.transport_keepalive.map(|every| TransportKeepalive {
            keepalive: Keepalive::arm(
                self.timers.next(),
                every,
                KeepaliveFrame::NamedEvent {
                    name: "ping".into(),
                },
                &out,
                started,
            ),
            cancel_at: defects.background_cancel_after.map(|d| started + d),
        });
        let release = if defects.shared_keepalive_timer {
            let slot = self
                .state
                .borrow_mut()
                .slots
                .entry(session)
                .or_default()
                .clone();
            if let Some(k) = &keepalive {
                // The previous timer in the slot is overwritten, not cleared.
                *slot.borrow_mut() = Some(k.handle().clone());
            }
            Release::SessionSlot(slot)
        } else {
            Release::Own
        };
        let inner = self.clone();
        let (key, serial) = (s.key, s.serial);
        let gone = Box::new(move || inner.detach(&key, serial));
        let timers = Timers {
            stream: keepalive,
            transport,
        };
        let end_at = self.cfg.end_after.as_ref().and_then(|e| {
            let kind = match s.kind {
                "post" => SseKind::Post,
                "replay" => SseKind::Replay,
                _ => SseKind::Get,
            };
            e.deadline(kind, started)
        });
        tokio::task::spawn_local(run_connection(out, s.rx, timers, release, gone, end_at));
        resp
    }

    /// The connection `serial` of `key` is gone: it no longer carries the stream; on
    /// 2026-07-28 a POST stream's request is cancelled.
    fn detach(&self, key: &StreamKey, serial: u64) {
        let mut st = self.state.borrow_mut();
        let cancels = self.revision.cancels_on_close();
        if let Some(s) = st.streams.get_mut(key) {
            if s.outlet.as_ref().is_some_and(|o| o.serial == serial) {
                s.outlet = None;
                if cancels && !s.ended {
                    s.cancelled.set(true);
                    s.ended = true;
                }
            }
        }
    }
}

/// `[[server.notification]]`s: at their time, to every live session's GET stream.
async fn run_notifications(inner: Rc<Inner>) {
    let start = now();
    let mut list = inner.cfg.notifications.clone();
    list.sort_by_key(|n| n.at);
    for n in list.into_iter().filter(|n| n.at >= start) {
        tokio::time::sleep(n.at.saturating_sub(now())).await;
        let msg = jsonrpc::notification(&n.method, None);
        let mut st = inner.state.borrow_mut();
        let keys: Vec<StreamKey> = st
            .sessions
            .live_mut()
            .filter_map(|s| s.get_stream.clone().map(|g| (s.id.clone(), g)))
            .collect();
        for key in keys {
            inner.emit(&mut st, &key, &msg);
        }
    }
}
