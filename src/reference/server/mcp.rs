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
//! [`Defects`]: crate::scenario::Defects

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
use http_body_util::channel::Channel;
use http_body_util::{BodyExt, Either, Full};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::mpsc;

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

/// A server stream: `(session, stream)`, e.g. `("s1", "g1")`.
type StreamKey = (String, String);

struct State {
    sessions: SessionStore,
    /// 2026-07-28: event ids for the whole host (nothing is kept).
    sessionless_events: EventStore,
    sessionless_posts: u32,
    streams: BTreeMap<StreamKey, ServerStream>,
    /// `shared_keepalive_timer` defect: the one timer slot of each session.
    slots: BTreeMap<String, Slot>,
    /// `replay_crosses_sessions` defect: one event store for every session, its streams
    /// named `<session>/<stream>`.
    shared_events: Option<EventStore>,
    outlets: u64,
    /// `server.session-idle-timeout`: when each session last received a request.
    last_request: BTreeMap<String, Duration>,
}

type Slot = Rc<RefCell<Option<TimerHandle>>>;

/// What the server knows of one of its streams.
struct ServerStream {
    /// The connection currently carrying the stream, if the server believes there is one.
    outlet: Option<Outlet>,
    /// The stream is over (its result was sent, or its session was deleted).
    ended: bool,
    /// The request behind a POST stream was cancelled.
    cancelled: Rc<Cell<bool>>,
}

struct Outlet {
    serial: u64,
    tx: mpsc::UnboundedSender<Outgoing>,
}

/// What a stream hands to the connection task carrying it.
enum Outgoing {
    Frame(Frame),
    End,
}

impl State {
    fn store(&mut self, session: &str) -> Option<&mut EventStore> {
        if session == NO_SESSION {
            return Some(&mut self.sessionless_events);
        }
        self.sessions.get(Some(session)).ok().map(|s| &mut s.events)
    }

    /// Creates a stream with a fresh connection attached; returns its receiving end.
    fn open_stream(&mut self, key: &StreamKey) -> (u64, mpsc::UnboundedReceiver<Outgoing>) {
        self.streams.insert(
            key.clone(),
            ServerStream {
                outlet: None,
                ended: false,
                cancelled: Rc::new(Cell::new(false)),
            },
        );
        self.attach(key)
    }

    /// Attaches a new connection to a stream, replacing (not ending) the previous one.
    fn attach(&mut self, key: &StreamKey) -> (u64, mpsc::UnboundedReceiver<Outgoing>) {
        self.outlets += 1;
        let serial = self.outlets;
        let (tx, rx) = mpsc::unbounded_channel();
        if let Some(s) = self.streams.get_mut(key) {
            s.outlet = Some(Outlet { serial, tx });
        }
        (serial, rx)
    }

    /// Sends a frame to the connection carrying `key`, if any.
    fn push(&mut self, key: &StreamKey, out: Outgoing) {
        if let Some(s) = self.streams.get_mut(key) {
            if let Some(o) = &s.outlet {
                if o.tx.send(out).is_err() {
                    s.outlet = None;
                }
            }
        }
    }

    /// Issues an id for an event on `key`, keeps it, and sends it if a connection is attached.
    /// Returns the id and whether a connection took it.
    fn emit(&mut self, key: &StreamKey, data: &str) -> Option<(u64, bool)> {
        self.store(&key.0)?; // the session is live
        let id = match &mut self.shared_events {
            Some(shared) if key.0 != NO_SESSION => shared.append(&shared_name(key), data),
            _ => self.store(&key.0)?.append(&key.1, data),
        };
        let frame = Frame::Event {
            name: None,
            id: Some(id.to_string()),
            data: data.to_string(),
        };
        let attached = self.streams.get(key).is_some_and(|s| s.outlet.is_some());
        self.push(key, Outgoing::Frame(frame));
        let taken = attached && self.streams.get(key).is_some_and(|s| s.outlet.is_some());
        Some((id, taken))
    }

    /// The stream is over: its connection (if any) ends its response.
    fn end_stream(&mut self, key: &StreamKey) {
        if let Some(s) = self.streams.get_mut(key) {
            s.ended = true;
            if let Some(o) = s.outlet.take() {
                let _ = o.tx.send(Outgoing::End);
            }
        }
    }
}

/// A stream's name in the store shared by all sessions (`replay_crosses_sessions` defect).
fn shared_name(key: &StreamKey) -> String {
    format!("{}/{}", key.0, key.1)
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
    /// `revision` (an unknown one is read as 2025-11-25). Starts the scheduled notifications.
    pub(crate) fn start(
        cfg: Rc<ServerConfig>,
        revision: &str,
        rec: Recorder,
        timers: TimerIds,
    ) -> Self {
        let keep = cfg.event_store;
        let cfg_shared = cfg.defects.replay_crosses_sessions;
        let inner = Rc::new(Inner {
            cfg,
            revision: Revision::parse(revision).unwrap_or(Revision::V2025_11_25),
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

/// Which timer a stream clears when it ends or its first write fails.
enum Release {
    /// Its own (every stream owns its timer).
    Own,
    /// Whatever timer is in the session's slot (`shared_keepalive_timer` defect).
    SessionSlot(Slot),
}

impl Release {
    fn release(&self, own: Option<&Keepalive>) {
        match self {
            Release::Own => {
                if let Some(k) = own {
                    k.handle().clear();
                }
            }
            Release::SessionSlot(slot) => {
                let current = slot.borrow_mut().take();
                if let Some(h) = current {
                    h.clear();
                }
            }
        }
    }
}

/// The transport keepalive of one connection (`transport_keepalive` defect): background
/// work the runtime cancels at `cancel_at`; a failed write does not clear it.
struct TransportKeepalive {
    keepalive: Keepalive,
    cancel_at: Option<Duration>,
}

impl TransportKeepalive {
    /// When it next needs attention: its firing, or its cancellation when that comes first
    /// (a firing due at exactly the cancellation instant still runs).
    fn wake(&self) -> Option<Duration> {
        let due = self.keepalive.due()?;
        Some(match self.cancel_at {
            Some(c) if c < due => c,
            _ => due,
        })
    }
}

/// The keepalive timers one connection runs.
struct Timers {
    /// The per-stream timer (the reference's), released by [`Release`].
    stream: Option<Keepalive>,
    /// The transport keepalive (bug model), stopped only by the response's end or the
    /// runtime's cancellation.
    transport: Option<TransportKeepalive>,
}

/// Which timer needs attention next.
enum Wake {
    Stream,
    Transport,
}

impl Timers {
    /// The next instant a timer needs attention, and which (the per-stream timer on ties).
    fn next(&self) -> Option<(Duration, Wake)> {
        let stream = self
            .stream
            .as_ref()
            .and_then(Keepalive::due)
            .map(|d| (d, Wake::Stream));
        let transport = self
            .transport
            .as_ref()
            .and_then(TransportKeepalive::wake)
            .map(|d| (d, Wake::Transport));
        match (stream, transport) {
            (Some(s), Some(t)) => Some(if t.0 < s.0 { t } else { s }),
            (s, t) => s.or(t),
        }
    }
}

/// One SSE connection: writes what its stream hands over and its keepalives, until the
/// stream ends, a write fails, or `end_at` (`server.end-after`: the server ends the response
/// cleanly and the connection no longer carries the stream, which goes on collecting events
/// for a resumption); a timer left running (shared-timer defect, transport keepalive) keeps
/// firing.
async fn run_connection(
    mut out: SseOut,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    mut timers: Timers,
    release: Release,
    gone: Box<dyn FnOnce()>,
    end_at: Option<Duration>,
) {
    let mut gone = Some(gone);
    let mut open = true; // the stream is still written to
    let mut fed = true; // its server stream still hands frames over
    loop {
        let next = timers.next();
        if !open && next.is_none() {
            return;
        }
        let due = next.as_ref().map(|(at, _)| *at);
        tokio::select! {
            biased;
            m = rx.recv(), if open && fed => match m {
                Some(Outgoing::Frame(frame)) => {
                    if out.write(frame, None).await == Err(WriteError::Closed) {
                        release.release(timers.stream.as_ref());
                        open = false;
                        if let Some(g) = gone.take() { g() }
                    }
                }
                Some(Outgoing::End) => {
                    out.end();
                    release.release(timers.stream.as_ref());
                    if let Some(t) = &timers.transport {
                        t.keepalive.handle().clear();
                    }
                    open = false;
                }
                // Another connection took the stream over: only the keepalive remains.
                None => fed = false,
            },
            _ = tokio::time::sleep(end_at.unwrap_or_default().saturating_sub(now())), if open && end_at.is_some() => {
                out.end();
                release.release(timers.stream.as_ref());
                if let Some(t) = &timers.transport {
                    t.keepalive.handle().clear();
                }
                open = false;
                if let Some(g) = gone.take() { g() }
            },
            _ = tokio::time::sleep(due.unwrap_or_default().saturating_sub(now())), if due.is_some() => {
                let (frame, id) = match timers.next() {
                    Some((at, Wake::Stream)) if at <= now() => {
                        timers.stream.as_mut().expect("a due stream timer").fire()
                    }
                    Some((at, Wake::Transport)) if at <= now() => {
                        let t = timers.transport.as_mut().expect("a due transport timer");
                        if t.cancel_at.is_some_and(|c| c < t.keepalive.due().unwrap_or(c)) {
                            // The runtime cancels the background work (recorded as its clear).
                            t.keepalive.handle().clear();
                            continue;
                        }
                        t.keepalive.fire()
                    }
                    _ => continue,
                };
                if out.write(frame, Some(id)).await == Err(WriteError::Closed) && open {
                    release.release(timers.stream.as_ref());
                    open = false;
                    if let Some(g) = gone.take() { g() }
                }
            },
            else => std::future::pending::<()>().await,
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

/// The built-in tool's description for `tools/list`.
fn sleep_tool() -> Value {
    json!({
        "name": "sleep",
        "description": "Sleeps duration_ms, sending a progress notification every progress_every_ms",
        "inputSchema": {
            "type": "object",
            "properties": {
                "duration_ms": {"type": "integer", "minimum": 0},
                "progress_every_ms": {"type": "integer", "minimum": 1},
            },
            "required": ["duration_ms"],
        },
    })
}

/// A validated `tools/call` of `sleep`.
#[derive(Clone, Debug, PartialEq)]
struct SleepCall {
    duration_ms: u64,
    progress_every_ms: Option<u64>,
    progress_token: Option<Value>,
}

impl SleepCall {
    fn from_params(params: &Value) -> Result<Self, RpcError> {
        let bad = |m: &str| RpcError::new(jsonrpc::INVALID_PARAMS, m);
        match params.get("name").and_then(Value::as_str) {
            Some("sleep") => {}
            Some(other) => return Err(bad(&format!("Unknown tool: {other}"))),
            None => return Err(bad("tools/call needs a tool name")),
        }
        let args = params.get("arguments").unwrap_or(&Value::Null);
        let duration_ms = args
            .get("duration_ms")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("sleep needs duration_ms (a non-negative integer)"))?;
        let progress_every_ms = match args.get("progress_every_ms") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|m| *m > 0)
                    .ok_or_else(|| bad("progress_every_ms must be a positive integer"))?,
            ),
        };
        let progress_token = params
            .get("_meta")
            .and_then(|m| m.get("progressToken"))
            .filter(|t| t.is_string() || t.is_number())
            .cloned();
        Ok(Self {
            duration_ms,
            progress_every_ms,
            progress_token,
        })
    }
}

/// Runs a `sleep` call on stream `key`: progress notifications, then the result, then the
/// stream ends. Stops silently when cancelled.
async fn run_tool(
    inner: Rc<Inner>,
    key: StreamKey,
    id: Value,
    call: SleepCall,
    cancelled: Rc<Cell<bool>>,
) {
    let start = now();
    let end = start + Duration::from_millis(call.duration_ms);
    if let (Some(every), Some(token)) = (call.progress_every_ms, &call.progress_token) {
        let mut k = 1u64;
        loop {
            let at = start + Duration::from_millis(every.saturating_mul(k));
            if at >= end {
                break;
            }
            tokio::time::sleep(at.saturating_sub(now())).await;
            if cancelled.get() {
                return;
            }
            let msg = jsonrpc::notification(
                "notifications/progress",
                Some(json!({
                    "progressToken": token,
                    "progress": every * k,
                    "total": call.duration_ms,
                })),
            );
            inner.emit(&mut inner.state.borrow_mut(), &key, &msg);
            k += 1;
        }
    }
    tokio::time::sleep(end.saturating_sub(now())).await;
    if cancelled.get() {
        return;
    }
    let result =
        json!({"content": [{"type": "text", "text": format!("slept {} ms", call.duration_ms)}]});
    let mut st = inner.state.borrow_mut();
    inner.emit(&mut st, &key, &jsonrpc::result(&id, result));
    st.end_stream(&key);
}

mod idle;
mod replay_defects;
mod resume;

/// In-simulation tests: a tiny hand-written MCP client drives the reference server host over
/// turmoil; assertions read the trace.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Scenario, ServerNotification};
    use crate::sim::{ClientEnv, ClientTarget, HostFuture};
    use crate::sse::Parser;
    use crate::trace::{Closer, Event, StreamEnd, Trace};
    use hyper::body::Incoming;
    use std::future::Future;
    use std::pin::Pin;
    use tokio::task::JoinHandle;
    use turmoil::net::TcpStream;

    type Script = fn(ClientEnv) -> Pin<Box<dyn Future<Output = ()>>>;

    struct ScriptClient(Script);

    impl ClientTarget for ScriptClient {
        fn run(&self, env: ClientEnv) -> HostFuture {
            let end = env.scenario.duration;
            let script = (self.0)(env);
            Box::pin(async move {
                script.await;
                until(end).await;
                Ok(())
            })
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    async fn until(at: Duration) {
        tokio::time::sleep(at.saturating_sub(now())).await;
    }

    /// One request on its own connection, answered.
    struct Exchange {
        conn: ConnId,
        resp: Response<Incoming>,
        _sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
        driver: JoinHandle<Result<(), hyper::Error>>,
    }

    async fn send(
        env: &ClientEnv,
        method: &str,
        session: Option<&str>,
        last_event_id: Option<&str>,
        body: Option<Value>,
    ) -> Exchange {
        let conn = env.host.conns.allocate();
        let tcp = TcpStream::connect((env.first_hop.as_str(), env.port))
            .await
            .expect("connect");
        env.host
            .conns
            .register(tcp.local_addr().expect("addr"), conn);
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .expect("handshake");
        let driver = tokio::task::spawn_local(connection);
        let mut b = hyper::Request::builder()
            .method(method)
            .uri("/mcp")
            .header("host", env.first_hop.as_str())
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json");
        if let Some(s) = session {
            b = b
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", env.scenario.revision());
        }
        if let Some(l) = last_event_id {
            b = b.header("last-event-id", l);
        }
        let body = body.map(|v| v.to_string()).unwrap_or_default();
        let req = b.body(Full::new(Bytes::from(body))).expect("request");
        let resp = sender.send_request(req).await.expect("response");
        Exchange {
            conn,
            resp,
            _sender: sender,
            driver,
        }
    }

    /// POST one JSON-RPC message; the answer's status, session header and body.
    async fn post(
        env: &ClientEnv,
        session: Option<&str>,
        msg: Value,
    ) -> (u16, Option<String>, String) {
        let x = send(env, "POST", session, None, Some(msg)).await;
        let status = x.resp.status().as_u16();
        let sid = x
            .resp
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_string());
        let body = x.resp.into_body().collect().await.expect("body").to_bytes();
        x.driver.abort();
        (status, sid, String::from_utf8_lossy(&body).into_owned())
    }

    /// initialize + notifications/initialized; the session id (if any).
    async fn initialize(env: &ClientEnv) -> Option<String> {
        let (status, sid, _) = post(
            env,
            None,
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}),
        )
        .await;
        assert_eq!(status, 200);
        let (status, _, _) = post(
            env,
            sid.as_deref(),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .await;
        assert_eq!(status, 202);
        sid
    }

    fn call(id: u64, duration_ms: u64, every_ms: Option<u64>) -> Value {
        let mut args = json!({"duration_ms": duration_ms});
        if let Some(m) = every_ms {
            args["progress_every_ms"] = json!(m);
        }
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "sleep", "arguments": args, "_meta": {"progressToken": id}}})
    }

    /// Reads an SSE body (recording `Received` at the client) until it ends or `close_at`,
    /// then closes the connection.
    async fn read(env: &ClientEnv, x: Exchange, close_at: Option<Duration>) {
        let rec = env.host.recorder.clone();
        let conn = Some(x.conn);
        let mut body = x.resp.into_body();
        let mut parser = Parser::new();
        let deadline = close_at.unwrap_or(Duration::MAX);
        loop {
            tokio::select! {
                biased; // fixed branch order: tokio picks a random one otherwise, and ties happen on virtual time
                f = body.frame() => match f {
                    Some(Ok(f)) => {
                        if let Some(d) = f.data_ref() {
                            let frames = parser.feed(d);
                            rec.record("client", conn, EventKind::Received { bytes: d.len(), frames });
                        }
                    }
                    Some(Err(_)) => break,
                    None => {
                        rec.record("client", conn, EventKind::StreamEnded { how: StreamEnd::Complete });
                        break;
                    }
                },
                _ = until(deadline) => {
                    rec.record("client", conn, EventKind::ConnClosed { by: Closer::Client, reason: "test".into() });
                    break;
                }
            }
        }
        drop(body);
        x.driver.abort();
    }

    fn scenario(revision: &str, duration: &str) -> Scenario {
        let text = format!(
            "description = \"mcp server test\"\nprotocol = [\"{revision}\"]\nduration = \"{duration}\"\n[[client.step]]\nat = \"0s\"\ndo = \"initialize\"\n"
        );
        crate::scenario::parse("mem.toml", &text).expect("valid scenario")
    }

    fn notify_at(s: &mut Scenario, at: &[u64]) {
        s.server.notifications = at
            .iter()
            .map(|t| ServerNotification {
                at: secs(*t),
                method: "notifications/tools/list_changed".into(),
            })
            .collect();
    }

    fn run(s: &Scenario, script: Script) -> Trace {
        let server = crate::reference::server::build(&s.server);
        let out = crate::sim::run(s, server, Rc::new(ScriptClient(script)), 1);
        assert_eq!(out.error, None);
        out.trace
    }

    fn on(t: &Trace, host: &str, conn: u32) -> Vec<Event> {
        t.events
            .iter()
            .filter(|e| e.host == host && e.conn == Some(ConnId(conn)))
            .cloned()
            .collect()
    }

    /// Frames the server wrote on a connection: (time, frame, timer).
    fn written(t: &Trace, conn: u32) -> Vec<(Duration, Frame, Option<u32>)> {
        on(t, "server", conn)
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::FrameWritten { frame, timer } => Some((e.at, frame, timer)),
                _ => None,
            })
            .collect()
    }

    /// Event ids and data of the events the client received on a connection.
    fn received_events(t: &Trace, conn: u32) -> Vec<(String, String)> {
        on(t, "client", conn)
            .into_iter()
            .flat_map(|e| match e.kind {
                EventKind::Received { frames, .. } => frames,
                _ => Vec::new(),
            })
            .filter_map(|f| match f {
                Frame::Event { id, data, .. } => Some((id.unwrap_or_default(), data)),
                _ => None,
            })
            .collect()
    }

    fn kinds(t: &Trace, conn: u32) -> Vec<EventKind> {
        on(t, "server", conn).into_iter().map(|e| e.kind).collect()
    }

    fn status(t: &Trace, conn: u32) -> u16 {
        kinds(t, conn)
            .into_iter()
            .find_map(|k| match k {
                EventKind::ResponseStarted { status, .. } => Some(status),
                _ => None,
            })
            .expect("a response")
    }

    /// When the server started its response on a connection.
    fn started_at(t: &Trace, conn: u32) -> Duration {
        on(t, "server", conn)
            .iter()
            .find(|e| matches!(e.kind, EventKind::ResponseStarted { .. }))
            .expect("a response")
            .at
    }

    fn event(id: &str, data: &str) -> Frame {
        Frame::Event {
            name: None,
            id: Some(id.into()),
            data: data.into(),
        }
    }

    fn keepalive_times(t: &Trace, conn: u32) -> Vec<Duration> {
        written(t, conn)
            .into_iter()
            .filter(|(_, f, timer)| matches!(f, Frame::Comment { .. }) && timer.is_some())
            .map(|(at, _, _)| at)
            .collect()
    }

    #[test]
    fn revisions_parse_and_say_what_they_have() {
        for r in Revision::ALL {
            assert_eq!(Revision::parse(r.as_str()), Some(r));
        }
        assert_eq!(Revision::parse("2024-11-05"), None);
        assert!(Revision::V2025_03_26.has_sessions() && !Revision::V2025_03_26.primes());
        assert!(Revision::V2025_11_25.primes());
        let r = Revision::V2026_07_28;
        assert!(!r.has_sessions() && !r.primes() && r.cancels_on_close());
    }

    #[test]
    fn accept_ranges_are_matched_by_type() {
        let parts = |accept: &str| {
            hyper::Request::get("/mcp")
                .header("accept", accept)
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        let both = parts("application/json, text/event-stream");
        assert!(accepts(&both, "application/json") && accepts(&both, "text/event-stream"));
        assert!(accepts(&parts("*/*"), "text/event-stream"));
        assert!(accepts(&parts("text/*;q=0.5"), "text/event-stream"));
        assert!(!accepts(&parts("text/event-stream"), "application/json"));
        let none = hyper::Request::get("/mcp").body(()).unwrap().into_parts().0;
        assert!(!accepts(&none, "text/event-stream"));
    }

    #[test]
    fn sleep_calls_are_validated() {
        let ok = SleepCall::from_params(&json!({"name": "sleep",
            "arguments": {"duration_ms": 5, "progress_every_ms": 2}, "_meta": {"progressToken": 9}}))
        .unwrap();
        assert_eq!(
            ok,
            SleepCall {
                duration_ms: 5,
                progress_every_ms: Some(2),
                progress_token: Some(json!(9))
            }
        );
        for bad in [
            json!({"name": "nap", "arguments": {"duration_ms": 5}}),
            json!({"arguments": {"duration_ms": 5}}),
            json!({"name": "sleep", "arguments": {}}),
            json!({"name": "sleep", "arguments": {"duration_ms": -1}}),
            json!({"name": "sleep", "arguments": {"duration_ms": 5, "progress_every_ms": 0}}),
        ] {
            let e = SleepCall::from_params(&bad).unwrap_err();
            assert_eq!(e.code, jsonrpc::INVALID_PARAMS, "{bad}");
        }
    }

    const NOTIFICATION: &str = r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#;

    #[test]
    fn initialize_then_a_primed_get_stream_with_keepalives_and_a_notification() {
        let mut s = scenario("2025-11-25", "90s");
        notify_at(&mut s, &[10]);
        let t = run(&s, |env| {
            Box::pin(async move {
                let sid = initialize(&env).await.expect("a session");
                assert_eq!(sid, "s1");
                until(secs(1)).await;
                let x = send(&env, "GET", Some(&sid), None, None).await;
                read(&env, x, Some(secs(50))).await;
            })
        });
        // conn#1: initialize → JSON with the session header.
        let k1 = kinds(&t, 1);
        assert!(k1.contains(&EventKind::RpcReceived {
            method: "initialize".into(),
            id: Some(1),
            session: None
        }));
        assert!(t.events.iter().any(|e| e.kind
            == EventKind::SessionCreated {
                session: "s1".into()
            }));
        assert!(k1.iter().any(|k| matches!(k, EventKind::ResponseStarted { status: 200, content_type: Some(c), headers }
            if c == "application/json" && headers.contains(&("mcp-session-id".into(), "s1".into())))));
        // conn#2: notifications/initialized → 202.
        assert!(kinds(&t, 2).contains(&EventKind::RpcReceived {
            method: "notifications/initialized".into(),
            id: None,
            session: Some("s1".into())
        }));
        assert_eq!(status(&t, 2), 202);
        // conn#3: the GET stream.
        let k3 = kinds(&t, 3);
        assert!(k3.contains(&EventKind::StreamAttached {
            stream: "g1".into(),
            kind: "get".into(),
            session: "s1".into()
        }));
        assert!(k3.contains(&EventKind::TimerArmed {
            timer: 1,
            every: secs(15)
        }));
        let w = written(&t, 3);
        assert_eq!(w[0].1, event("1", ""), "priming event first");
        assert_eq!(w[1].1, Frame::Retry { ms: 3000 });
        assert_eq!(w[2], (secs(10), event("2", NOTIFICATION), None));
        let ka = keepalive_times(&t, 3);
        assert!(ka.len() >= 3, "{ka:?}");
        assert_eq!(ka[0], started_at(&t, 3) + secs(15));
        assert!(ka.windows(2).all(|p| p[1] - p[0] == secs(15)), "{ka:?}");
        assert_eq!(
            w.iter()
                .find(|(_, f, _)| matches!(f, Frame::Comment { .. }))
                .map(|(_, f, timer)| (f.clone(), *timer)),
            Some((
                Frame::Comment {
                    text: " keepalive".into()
                },
                Some(1)
            ))
        );
        // The notification reached the client with its id.
        assert!(received_events(&t, 3).contains(&("2".into(), NOTIFICATION.into())));
        // After the client left, the first failing write clears the timer; nothing follows.
        let fail = k3
            .iter()
            .position(|k| matches!(k, EventKind::WriteFailed { timer: Some(1), .. }))
            .expect("a failed keepalive write");
        assert_eq!(k3[fail + 1], EventKind::TimerCleared { timer: 1 });
        assert_eq!(k3.len(), fail + 2, "nothing after the timer is cleared");
    }

    #[test]
    fn a_tool_call_is_answered_over_sse_with_progress_then_the_result() {
        let s = scenario("2025-11-25", "40s");
        let t = run(&s, |env| {
            Box::pin(async move {
                let sid = initialize(&env).await.expect("a session");
                until(secs(1)).await;
                let x = send(
                    &env,
                    "POST",
                    Some(&sid),
                    None,
                    Some(call(2, 20_000, Some(8_000))),
                )
                .await;
                assert_eq!(x.resp.headers()["content-type"], "text/event-stream");
                read(&env, x, None).await;
            })
        });
        let k = kinds(&t, 3);
        assert!(k.contains(&EventKind::StreamAttached {
            stream: "p1".into(),
            kind: "post".into(),
            session: "s1".into()
        }));
        let t0 = started_at(&t, 3);
        let w: Vec<(Duration, Frame)> = written(&t, 3)
            .into_iter()
            .map(|(a, f, _)| (a - t0, f))
            .collect();
        let progress = |id: &str, p: u64| {
            event(
                id,
                &format!(
                    r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progress":{p},"progressToken":2,"total":20000}}}}"#
                ),
            )
        };
        assert_eq!(
            w,
            vec![
                (secs(0), event("1", "")),
                (secs(0), Frame::Retry { ms: 3000 }),
                (secs(8), progress("2", 8000)),
                (
                    secs(15),
                    Frame::Comment {
                        text: " keepalive".into()
                    }
                ),
                (secs(16), progress("3", 16000)),
                (
                    secs(20),
                    event(
                        "4",
                        r#"{"id":2,"jsonrpc":"2.0","result":{"content":[{"text":"slept 20000 ms","type":"text"}]}}"#
                    )
                ),
            ]
        );
        let tail: Vec<&EventKind> = k.iter().rev().take(2).collect();
        assert_eq!(
            tail,
            [
                &EventKind::TimerCleared { timer: 1 },
                &EventKind::ResponseEnded
            ]
        );
        assert!(on(&t, "client", 3).iter().any(|e| e.kind
            == EventKind::StreamEnded {
                how: StreamEnd::Complete
            }));
    }

    /// GET at 1s, dropped by the client at 15s, resumed at 40s with the last id it saw.
    fn resume_script(env: ClientEnv) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(async move {
            let sid = initialize(&env).await.expect("a session");
            until(secs(1)).await;
            let x = send(&env, "GET", Some(&sid), None, None).await;
            read(&env, x, Some(secs(15))).await;
            until(secs(40)).await;
            let x = send(&env, "GET", Some(&sid), Some("2"), None).await;
            read(&env, x, Some(secs(58))).await;
        })
    }

    fn resume_scenario() -> Scenario {
        let mut s = scenario("2025-11-25", "70s");
        notify_at(&mut s, &[10, 20, 30, 45]);
        s
    }

    #[test]
    fn a_get_with_last_event_id_replays_exactly_the_missed_events_then_goes_live() {
        let t = run(&resume_scenario(), resume_script);
        // conn#3 saw priming (1) and the notification at 10s (2).
        let first: Vec<String> = received_events(&t, 3).into_iter().map(|e| e.0).collect();
        assert_eq!(first, ["1", "2"]);
        let k = kinds(&t, 4);
        assert!(k.contains(&EventKind::StreamAttached {
            stream: "g1".into(),
            kind: "replay".into(),
            session: "s1".into()
        }));
        assert!(k.contains(&EventKind::ReplayStarted {
            stream: "g1".into(),
            after: "2".into(),
            events: 2
        }));
        assert!(k.iter().any(|k| matches!(k, EventKind::TimerArmed { .. })));
        let events: Vec<(Duration, Frame)> = written(&t, 4)
            .into_iter()
            .filter(|(_, f, _)| matches!(f, Frame::Event { .. }))
            .map(|(a, f, _)| (a, f))
            .collect();
        assert_eq!(
            events,
            vec![
                (started_at(&t, 4), event("3", NOTIFICATION)),
                (started_at(&t, 4), event("4", NOTIFICATION)),
                (secs(45), event("5", NOTIFICATION)),
            ],
            "replayed 3 and 4 (no priming again), then 5 live"
        );
        let got: Vec<String> = received_events(&t, 4).into_iter().map(|e| e.0).collect();
        assert_eq!(got, ["3", "4", "5"]);
        assert!(
            keepalive_times(&t, 4).contains(&(started_at(&t, 4) + secs(15))),
            "the replay connection keeps its own keepalive"
        );
    }

    #[test]
    fn one_seed_gives_one_trace() {
        let s = resume_scenario();
        assert_eq!(run(&s, resume_script), run(&s, resume_script));
    }

    #[test]
    fn replay_without_keepalive_defect_arms_no_timer_on_the_replay_connection() {
        let mut s = resume_scenario();
        s.server.defects.replay_without_keepalive = true;
        let t = run(&s, resume_script);
        let k = kinds(&t, 4);
        assert!(k
            .iter()
            .any(|k| matches!(k, EventKind::ReplayStarted { events: 2, .. })));
        assert!(!k.iter().any(|k| matches!(k, EventKind::TimerArmed { .. })));
        assert!(keepalive_times(&t, 4).is_empty());
        // Fresh streams still get theirs.
        assert!(kinds(&t, 3).contains(&EventKind::TimerArmed {
            timer: 1,
            every: secs(15)
        }));
    }

    /// A GET stream (conn#3, closed by the client at 30s) and a 100 s tool call (conn#4).
    fn two_streams(env: ClientEnv) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(async move {
            let sid = initialize(&env).await.expect("a session");
            until(secs(1)).await;
            let get = send(&env, "GET", Some(&sid), None, None).await;
            let get = tokio::task::spawn_local({
                let env = env.clone();
                async move { read(&env, get, Some(secs(30))).await }
            });
            until(secs(2)).await;
            let x = send(&env, "POST", Some(&sid), None, Some(call(2, 100_000, None))).await;
            read(&env, x, None).await;
            let _ = get.await;
        })
    }

    fn cleared(t: &Trace) -> Vec<(Duration, Option<ConnId>, u32)> {
        t.events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::TimerCleared { timer } => Some((e.at, e.conn, timer)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_stream_owns_its_timer() {
        let t = run(&scenario("2025-11-25", "130s"), two_streams);
        let c = cleared(&t);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!((c[0].1, c[0].2), (Some(ConnId(3)), 1), "GET's own timer");
        assert_eq!(
            (c[1].1, c[1].2),
            (Some(ConnId(4)), 2),
            "the call's, at its end"
        );
        let t0 = started_at(&t, 4);
        assert_eq!(c[1].0, t0 + secs(100));
        let ka = keepalive_times(&t, 4);
        let expected: Vec<Duration> = (1..=6).map(|k| t0 + secs(15 * k)).collect();
        assert_eq!(ka, expected, "cadence intact after GET closed");
    }

    #[test]
    fn shared_keepalive_timer_defect_stops_the_other_streams_keepalive_and_leaks_its_own() {
        let mut s = scenario("2025-11-25", "130s");
        s.server.defects.shared_keepalive_timer = true;
        let t = run(&s, two_streams);
        let c = cleared(&t);
        // The GET stream's failure cleared the timer in the slot: the call's (timer#2).
        assert_eq!(c.len(), 1, "{c:?}");
        let (at, conn, timer) = c[0];
        assert_eq!((conn, timer), (Some(ConnId(4)), 2));
        assert!(at < secs(102), "cleared while the call still runs");
        let ka = keepalive_times(&t, 4);
        assert!(
            ka.iter().all(|k| *k < at),
            "no keepalive on the call after {at:?}: {ka:?}"
        );
        // timer#1 is never cleared: it keeps failing on the gone GET connection.
        let fails = kinds(&t, 3)
            .into_iter()
            .filter(|k| matches!(k, EventKind::WriteFailed { timer: Some(1), .. }))
            .count();
        assert!(fails >= 5, "{fails} failed writes by the leaked timer");
    }

    /// The defects of `bug/cf-agents-0.12.4` (cloudflare/agents#1583).
    fn cf_agents(duration: &str) -> Scenario {
        let mut s = scenario("2025-11-25", duration);
        s.server.defects.no_stream_keepalive = true;
        s.server.defects.transport_keepalive = Some(secs(30));
        s.server.defects.background_cancel_after = Some(secs(30));
        s
    }

    /// (time, timer) pairs.
    type TimerLog = Vec<(Duration, u32)>;

    /// (time, timer) of every `TimerArmed` / `TimerCleared` on a connection.
    fn timer_events(t: &Trace, conn: u32) -> (TimerLog, TimerLog) {
        let (mut armed, mut cleared) = (Vec::new(), Vec::new());
        for e in on(t, "server", conn) {
            match e.kind {
                EventKind::TimerArmed { timer, .. } => armed.push((e.at, timer)),
                EventKind::TimerCleared { timer } => cleared.push((e.at, timer)),
                _ => {}
            }
        }
        (armed, cleared)
    }

    #[test]
    fn cf_agents_defect_pings_with_a_named_event_until_the_runtime_cancels_it() {
        let t = run(&cf_agents("150s"), |env| {
            Box::pin(async move {
                let sid = initialize(&env).await.expect("a session");
                until(secs(1)).await;
                let x = send(&env, "GET", Some(&sid), None, None).await;
                read(&env, x, Some(secs(140))).await;
            })
        });
        let t0 = started_at(&t, 3);
        let (armed, cleared) = timer_events(&t, 3);
        assert_eq!(
            armed,
            [(t0, 1)],
            "one timer (the transport's), no per-stream timer"
        );
        assert!(kinds(&t, 3).contains(&EventKind::TimerArmed {
            timer: 1,
            every: secs(30)
        }));
        assert_eq!(
            cleared,
            [(t0 + secs(30), 1)],
            "cancelled 30 s after the start"
        );
        let w: Vec<(Duration, Frame, Option<u32>)> = written(&t, 3)
            .into_iter()
            .map(|(a, f, timer)| (a - t0, f, timer))
            .collect();
        let ping = Frame::Event {
            name: Some("ping".into()),
            id: None,
            data: String::new(),
        };
        assert_eq!(
            w,
            vec![
                (secs(0), event("1", ""), None),
                (secs(0), Frame::Retry { ms: 3000 }, None),
                (secs(30), ping, Some(1)),
            ],
            "the ping due at the cancellation instant runs; nothing after it"
        );
        // The ping is written before the clear at the same instant.
        let k = kinds(&t, 3);
        let ping_at = k
            .iter()
            .position(|k| matches!(k, EventKind::FrameWritten { timer: Some(1), .. }))
            .expect("a ping");
        assert_eq!(k[ping_at + 1], EventKind::TimerCleared { timer: 1 });
        assert!(keepalive_times(&t, 3).is_empty(), "no comment keepalive");
    }

    #[test]
    fn cf_agents_defect_keeps_the_transport_keepalive_after_a_failed_write() {
        let mut s = cf_agents("60s");
        notify_at(&mut s, &[20]);
        let t = run(&s, |env| {
            Box::pin(async move {
                let sid = initialize(&env).await.expect("a session");
                until(secs(1)).await;
                let x = send(&env, "GET", Some(&sid), None, None).await;
                read(&env, x, Some(secs(10))).await;
            })
        });
        let t0 = started_at(&t, 3);
        let events = on(&t, "server", 3);
        let failed: Vec<(Duration, Option<u32>)> = events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::WriteFailed { timer, .. } => Some((e.at, timer)),
                _ => None,
            })
            .collect();
        assert_eq!(
            failed,
            [(secs(20), None), (t0 + secs(30), Some(1))],
            "the notification fails, the timer still fires and fails at 30 s"
        );
        let (_, cleared) = timer_events(&t, 3);
        assert_eq!(
            cleared,
            [(t0 + secs(30), 1)],
            "only the runtime's cancellation clears it"
        );
    }

    #[test]
    fn events_no_connection_takes_are_recorded_as_held_back() {
        // The call's POST stream is read for 3 s only; its connection is gone by the time
        // the later progress events come, which are kept for a replay.
        let t = run(&scenario("2025-11-25", "60s"), |env| {
            Box::pin(async move {
                let sid = initialize(&env).await.expect("a session");
                until(secs(1)).await;
                let x = send(
                    &env,
                    "POST",
                    Some(&sid),
                    None,
                    Some(call(2, 20_000, Some(5_000))),
                )
                .await;
                read(&env, x, Some(secs(3))).await;
            })
        });
        let held: Vec<(String, String, bool)> = t
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::EventHeldBack {
                    stream, id, kept, ..
                } if e.host == "server" && e.conn.is_none() => {
                    Some((stream.clone(), id.clone(), *kept))
                }
                _ => None,
            })
            .collect();
        assert!(!held.is_empty(), "{held:?}");
        assert!(
            held.iter().all(|(stream, _, kept)| stream == "p1" && *kept),
            "{held:?}"
        );
    }

    #[test]
    fn a_dropped_post_stream_is_resumed_with_its_remaining_events_and_ends_after_its_result() {
        let t = run(&scenario("2025-11-25", "60s"), |env| {
            Box::pin(async move {
                let sid = initialize(&env).await.expect("a session");
                until(secs(1)).await;
                let x = send(
                    &env,
                    "POST",
                    Some(&sid),
                    None,
                    Some(call(2, 20_000, Some(5_000))),
                )
                .await;
                read(&env, x, Some(secs(3))).await;
                until(secs(30)).await;
                let x = send(&env, "GET", Some(&sid), Some("1"), None).await;
                read(&env, x, None).await;
            })
        });
        assert!(kinds(&t, 4).contains(&EventKind::ReplayStarted {
            stream: "p1".into(),
            after: "1".into(),
            events: 4
        }));
        let got: Vec<String> = received_events(&t, 4).into_iter().map(|e| e.0).collect();
        assert_eq!(
            got,
            ["2", "3", "4", "5"],
            "three progress events and the result"
        );
        assert!(received_events(&t, 4)[3].1.contains("slept 20000 ms"));
        assert!(kinds(&t, 4).contains(&EventKind::ResponseEnded));
    }

    #[test]
    fn refusals_sessions_and_termination() {
        let t = run(&scenario("2025-06-18", "30s"), |env| {
            Box::pin(async move {
                let sid = initialize(&env).await.expect("a session"); // conn#1, #2
                let ping = json!({"jsonrpc": "2.0", "id": 5, "method": "ping"});
                assert_eq!(post(&env, None, ping.clone()).await.0, 400); // conn#3
                assert_eq!(post(&env, Some("s9"), ping.clone()).await.0, 404); // conn#4
                let (st, _, body) = post(&env, Some(&sid), ping.clone()).await; // conn#5
                assert_eq!(
                    (st, body.as_str()),
                    (200, r#"{"id":5,"jsonrpc":"2.0","result":{}}"#)
                );
                let (_, _, body) = post(
                    &env,
                    Some(&sid),
                    json!({"jsonrpc": "2.0", "id": 6, "method": "nope"}),
                )
                .await; // conn#6
                assert!(body.contains("-32601"), "{body}");
                let (_, _, body) = post(
                    &env,
                    Some(&sid),
                    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}),
                )
                .await; // conn#7
                assert!(body.contains(r#""name":"sleep""#), "{body}");
                let x = send(&env, "GET", Some(&sid), Some("7"), None).await; // conn#8
                assert_eq!(x.resp.status().as_u16(), 400, "unknown event id");
                let x = send(&env, "GET", Some(&sid), None, None).await; // conn#9
                let reader = tokio::task::spawn_local({
                    let env = env.clone();
                    async move { read(&env, x, None).await }
                });
                until(secs(5)).await;
                let x = send(&env, "DELETE", Some(&sid), None, None).await; // conn#10
                assert_eq!(x.resp.status().as_u16(), 200);
                let _ = reader.await;
                assert_eq!(post(&env, Some(&sid), ping).await.0, 404); // conn#11
                                                                       // Another session cannot resume s1's ids.
                let other = initialize(&env).await.expect("a second session"); // conn#12, #13
                assert_eq!(other, "s2");
                let x = send(&env, "GET", Some(&other), Some("1"), None).await; // conn#14
                assert_eq!(x.resp.status().as_u16(), 400, "s2 has no event 1");
            })
        });
        assert_eq!(status(&t, 3), 400);
        assert_eq!(status(&t, 4), 404);
        assert_eq!(status(&t, 8), 400);
        // 2025-06-18: no priming; the GET stream starts silent and gets keepalives.
        assert!(written(&t, 9)
            .iter()
            .all(|(_, f, timer)| matches!(f, Frame::Comment { .. }) && timer.is_some()));
        assert!(t.events.iter().any(|e| e.kind
            == EventKind::SessionTerminated {
                session: "s1".into()
            }));
        let k9 = kinds(&t, 9);
        let end = k9
            .iter()
            .position(|k| *k == EventKind::ResponseEnded)
            .expect("DELETE ends the GET stream");
        assert_eq!(k9[end + 1], EventKind::TimerCleared { timer: 1 });
        assert_eq!(status(&t, 11), 404);
        assert_eq!(status(&t, 14), 400);
    }

    #[test]
    fn revision_2026_has_no_sessions_no_get_and_cancels_a_closed_call() {
        let t = run(&scenario("2026-07-28", "60s"), |env| {
            Box::pin(async move {
                assert_eq!(initialize(&env).await, None); // conn#1, #2
                let x = send(&env, "GET", None, None, None).await; // conn#3
                assert_eq!(x.resp.status().as_u16(), 405);
                let x = send(
                    &env,
                    "POST",
                    None,
                    None,
                    Some(call(2, 40_000, Some(10_000))),
                )
                .await; // conn#4
                read(&env, x, Some(secs(3))).await;
            })
        });
        assert!(!t
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::SessionCreated { .. })));
        assert_eq!(status(&t, 3), 405);
        let k = kinds(&t, 4);
        assert!(k.contains(&EventKind::StreamAttached {
            stream: "p1".into(),
            kind: "post".into(),
            session: NO_SESSION.into()
        }));
        // No priming; the first write after the client left fails, which cancels the call:
        // nothing of the tool is attempted afterwards and no result is ever produced.
        let fail = k
            .iter()
            .position(|k| matches!(k, EventKind::WriteFailed { .. }))
            .unwrap_or_else(|| panic!("a failed write: {}", crate::trace::render_text(&t)));
        assert!(
            k[fail + 1..]
                .iter()
                .all(|k| matches!(k, EventKind::TimerCleared { .. })),
            "{k:?}"
        );
        assert!(!t.events.iter().any(|e| matches!(&e.kind,
            EventKind::FrameWritten { frame: Frame::Event { data, .. }, .. } if data.contains("slept"))));
        assert!(written(&t, 4)
            .iter()
            .all(|(_, f, _)| !matches!(f, Frame::Event { data, .. } if data.is_empty())));
    }

    /// A GET (conn#3) the client keeps reading until 60s, as a connection cut somewhere
    /// the server cannot see; a second GET at 10s (conn#4) with `last` as Last-Event-ID.
    fn second_get(last: Option<&'static str>) -> Script {
        fn with(env: ClientEnv, last: Option<&'static str>) -> Pin<Box<dyn Future<Output = ()>>> {
            Box::pin(async move {
                let sid = initialize(&env).await.expect("a session");
                until(secs(1)).await;
                let x = send(&env, "GET", Some(&sid), None, None).await;
                let first = tokio::task::spawn_local({
                    let env = env.clone();
                    async move { read(&env, x, Some(secs(60))).await }
                });
                until(secs(10)).await;
                let x = send(&env, "GET", Some(&sid), last, None).await;
                read(&env, x, Some(secs(60))).await;
                let _ = first.await;
            })
        }
        match last {
            None => |env| with(env, None),
            Some(_) => |env| with(env, Some("1")),
        }
    }

    fn at_of(t: &Trace, conn: u32, kind: &EventKind) -> Option<Duration> {
        on(t, "server", conn)
            .into_iter()
            .find(|e| &e.kind == kind)
            .map(|e| e.at)
    }

    #[test]
    fn a_second_standalone_get_supersedes_the_first() {
        let mut s = scenario("2025-11-25", "70s");
        notify_at(&mut s, &[20]);
        let t = run(&s, second_get(None));
        assert_eq!(status(&t, 4), 200, "never a 409");
        let t4 = Some(started_at(&t, 4));
        assert_eq!(at_of(&t, 3, &EventKind::ResponseEnded), t4);
        assert_eq!(
            at_of(&t, 3, &EventKind::TimerCleared { timer: 1 }),
            t4,
            "the old response's keepalive ends with it"
        );
        assert!(kinds(&t, 4).contains(&EventKind::StreamAttached {
            stream: "g2".into(),
            kind: "get".into(),
            session: "s1".into()
        }));
        // The notification at 20s goes to the new GET only.
        assert!(written(&t, 4).contains(&(secs(20), event("3", NOTIFICATION), None)));
        assert!(written(&t, 3).iter().all(|(at, _, _)| Some(*at) <= t4));
    }

    #[test]
    fn a_resumption_of_the_get_stream_supersedes_its_older_connection() {
        let mut s = scenario("2025-11-25", "70s");
        notify_at(&mut s, &[5, 20]);
        let t = run(&s, second_get(Some("1")));
        assert_eq!(status(&t, 4), 200);
        assert!(kinds(&t, 4).contains(&EventKind::ReplayStarted {
            stream: "g1".into(),
            after: "1".into(),
            events: 1
        }));
        let t4 = Some(started_at(&t, 4));
        assert_eq!(at_of(&t, 3, &EventKind::ResponseEnded), t4);
        assert_eq!(at_of(&t, 3, &EventKind::TimerCleared { timer: 1 }), t4);
        assert!(written(&t, 4).contains(&(secs(20), event("3", NOTIFICATION), None)));
        let k3 = kinds(&t, 3);
        assert!(
            !k3.iter()
                .any(|k| matches!(k, EventKind::WriteFailed { .. })),
            "nothing is written to the superseded connection: {k3:?}"
        );
    }

    /// GET (conn#3) closed by the client at 5s; a notification at 8s makes the server
    /// notice; GETs at 6s (conn#4), 10s (conn#5, Last-Event-ID 1) and 12s (conn#6, none).
    fn reopen_script(env: ClientEnv) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(async move {
            let sid = initialize(&env).await.expect("a session");
            until(secs(1)).await;
            let x = send(&env, "GET", Some(&sid), None, None).await;
            read(&env, x, Some(secs(5))).await;
            until(secs(6)).await;
            let x = send(&env, "GET", Some(&sid), None, None).await;
            read(&env, x, Some(secs(7))).await;
            until(secs(10)).await;
            let x = send(&env, "GET", Some(&sid), Some("1"), None).await;
            read(&env, x, Some(secs(11))).await;
            until(secs(12)).await;
            let x = send(&env, "GET", Some(&sid), None, None).await;
            read(&env, x, Some(secs(13))).await;
        })
    }

    fn reopen_scenario(guard: Option<GetGuard>) -> Trace {
        let mut s = scenario("2025-11-25", "20s");
        notify_at(&mut s, &[8]);
        s.server.defects.get_guard = guard;
        run(&s, reopen_script)
    }

    #[test]
    fn the_reference_lets_every_reopened_get_through() {
        let t = reopen_scenario(None);
        assert_eq!([4, 5, 6].map(|c| status(&t, c)), [200; 3]);
    }

    #[test]
    fn get_guard_never_released_refuses_every_later_get_with_400() {
        let t = reopen_scenario(Some(GetGuard::NeverReleased));
        assert_eq!(status(&t, 3), 200);
        assert_eq!(
            [4, 5, 6].map(|c| status(&t, c)),
            [400; 3],
            "even after the server noticed the first GET was gone"
        );
        assert!(
            t.events.iter().any(|e| e.conn == Some(ConnId(3))
                && e.at == secs(8)
                && matches!(e.kind, EventKind::WriteFailed { .. })),
            "the server noticed at 8s"
        );
    }

    #[test]
    fn get_guard_until_noticed_answers_409_until_a_write_to_the_old_get_fails() {
        let t = reopen_scenario(Some(GetGuard::UntilNoticed));
        assert_eq!(
            status(&t, 4),
            409,
            "6s: the server still believes conn#3 is open"
        );
        assert_eq!(
            status(&t, 5),
            200,
            "10s: the failed write at 8s released it"
        );
        assert!(kinds(&t, 5)
            .iter()
            .any(|k| matches!(k, EventKind::ReplayStarted { .. })));
        assert_eq!(
            status(&t, 6),
            409,
            "12s: conn#5's stream is believed open again (its keepalive has not failed yet)"
        );
    }

    fn long_call_2026(defect: bool) -> Trace {
        let mut s = scenario("2026-07-28", "60s");
        s.server.defects.post_without_keepalive_2026 = defect;
        run(&s, |env| {
            Box::pin(async move {
                initialize(&env).await; // conn#1, #2
                let x = send(&env, "POST", None, None, Some(call(2, 40_000, None))).await;
                read(&env, x, None).await; // conn#3
            })
        })
    }

    #[test]
    fn post_without_keepalive_2026_defect_leaves_the_call_silent() {
        let fixed = long_call_2026(false);
        assert_eq!(keepalive_times(&fixed, 3).len(), 2, "15s and 30s");
        let t = long_call_2026(true);
        assert!(!kinds(&t, 3)
            .iter()
            .any(|k| matches!(k, EventKind::TimerArmed { .. })));
        assert!(keepalive_times(&t, 3).is_empty());
        assert!(received_events(&t, 3)[0].1.contains("slept 40000 ms"));
        // Other revisions keep their POST keepalive.
        let mut s = scenario("2025-11-25", "30s");
        s.server.defects.post_without_keepalive_2026 = true;
        let t = run(&s, |env| {
            Box::pin(async move {
                let sid = initialize(&env).await;
                let x = send(
                    &env,
                    "POST",
                    sid.as_deref(),
                    None,
                    Some(call(2, 20_000, None)),
                )
                .await;
                read(&env, x, None).await;
            })
        });
        assert_eq!(keepalive_times(&t, 3).len(), 1);
    }

    /// Session s1 reads its GET (conn#3, ids 1..); session s2 (conn#4, #5) sends a GET with
    /// a guessed `Last-Event-ID: 2` at 12s (conn#6).
    fn guessed_id(defect: bool) -> Trace {
        let mut s = scenario("2025-11-25", "40s");
        notify_at(&mut s, &[5, 10, 20]);
        s.server.defects.replay_crosses_sessions = defect;
        run(&s, |env| {
            Box::pin(async move {
                let s1 = initialize(&env).await.expect("s1");
                let x = send(&env, "GET", Some(&s1), None, None).await;
                let first = tokio::task::spawn_local({
                    let env = env.clone();
                    async move { read(&env, x, Some(secs(30))).await }
                });
                until(secs(11)).await;
                let s2 = initialize(&env).await.expect("s2");
                until(secs(12)).await;
                let x = send(&env, "GET", Some(&s2), Some("2"), None).await;
                read(&env, x, Some(secs(30))).await;
                let _ = first.await;
            })
        })
    }

    #[test]
    fn the_reference_refuses_an_id_of_another_session() {
        let t = guessed_id(false);
        assert_eq!(status(&t, 6), 400);
        let got: Vec<String> = received_events(&t, 3).into_iter().map(|e| e.0).collect();
        assert_eq!(got, ["1", "2", "3", "4"], "s1 keeps its stream");
    }

    #[test]
    fn replay_crosses_sessions_defect_replays_and_takes_another_sessions_stream() {
        let t = guessed_id(true);
        assert_eq!(status(&t, 6), 200);
        let k = kinds(&t, 6);
        assert!(k.contains(&EventKind::StreamAttached {
            stream: "g1".into(),
            kind: "replay".into(),
            session: "s2".into()
        }));
        assert!(k.contains(&EventKind::ReplayStarted {
            stream: "g1".into(),
            after: "2".into(),
            events: 1
        }));
        let got: Vec<String> = received_events(&t, 6).into_iter().map(|e| e.0).collect();
        assert_eq!(got, ["3", "4"], "s1's notification of 10s, then of 20s");
        assert!(received_events(&t, 6)[0].1.contains("list_changed"));
        let got: Vec<String> = received_events(&t, 3).into_iter().map(|e| e.0).collect();
        assert_eq!(got, ["1", "2", "3"], "s1 lost its notification of 20s");
    }

    /// A GET (conn#3, closed by the client at 20s) and a 30 s tool call with progress every
    /// 5 s (conn#4) interleave their ids: 1 g1 priming, 2 p1 priming, 3 progress (7s), 4
    /// notification (10s), 5, 6, 7 progress (12s, 17s, 22s), 8 notification (23s). At 25s
    /// the GET stream is resumed after 4 (conn#5).
    fn interleaved(all_streams: bool) -> Trace {
        let mut s = scenario("2025-11-25", "40s");
        notify_at(&mut s, &[10, 23]);
        s.server.defects.replay_all_streams = all_streams;
        run(&s, |env| {
            Box::pin(async move {
                let sid = initialize(&env).await.expect("a session");
                until(secs(1)).await;
                let get = send(&env, "GET", Some(&sid), None, None).await;
                let get = tokio::task::spawn_local({
                    let env = env.clone();
                    async move { read(&env, get, Some(secs(20))).await }
                });
                until(secs(2)).await;
                let x = send(
                    &env,
                    "POST",
                    Some(&sid),
                    None,
                    Some(call(2, 30_000, Some(5_000))),
                )
                .await;
                let post = tokio::task::spawn_local({
                    let env = env.clone();
                    async move { read(&env, x, None).await }
                });
                until(secs(25)).await;
                let x = send(&env, "GET", Some(&sid), Some("4"), None).await;
                read(&env, x, Some(secs(38))).await;
                let _ = (get.await, post.await);
            })
        })
    }

    fn ids_on(t: &Trace, conn: u32) -> Vec<String> {
        received_events(t, conn).into_iter().map(|e| e.0).collect()
    }

    #[test]
    fn the_reference_replays_only_the_resumed_streams_events() {
        let t = interleaved(false);
        assert!(kinds(&t, 5).contains(&EventKind::ReplayStarted {
            stream: "g1".into(),
            after: "4".into(),
            events: 1
        }));
        assert_eq!(ids_on(&t, 5), ["8"]);
    }

    #[test]
    fn replay_all_streams_defect_replays_the_tool_calls_events_on_the_get_stream() {
        let t = interleaved(true);
        let k = kinds(&t, 5);
        assert!(k.contains(&EventKind::StreamAttached {
            stream: "g1".into(),
            kind: "replay".into(),
            session: "s1".into()
        }));
        assert!(k.contains(&EventKind::ReplayStarted {
            stream: "g1".into(),
            after: "4".into(),
            events: 4
        }));
        assert_eq!(
            ids_on(&t, 5),
            ["5", "6", "7", "8"],
            "p1's progress 5, 6, 7 too"
        );
        assert!(received_events(&t, 5)[0]
            .1
            .contains("notifications/progress"));
        // Live events still go to their own stream only: p1's progress of 27s and result.
        assert_eq!(
            ids_on(&t, 4),
            ["2", "3", "5", "6", "7", "9", "10"],
            "the call's own connection is unchanged"
        );
    }

    #[test]
    fn replay_standalone_lost_defect_replays_nothing_and_sends_no_later_notification() {
        let mut s = resume_scenario();
        s.server.defects.replay_standalone_lost = true;
        let t = run(&s, resume_script);
        let k = kinds(&t, 4);
        assert!(k.contains(&EventKind::StreamAttached {
            stream: "''".into(),
            kind: "replay".into(),
            session: "s1".into()
        }));
        assert!(k.contains(&EventKind::ReplayStarted {
            stream: "''".into(),
            after: "2".into(),
            events: 0
        }));
        assert!(
            !written(&t, 4)
                .iter()
                .any(|(_, f, _)| matches!(f, Frame::Event { .. })),
            "neither the missed notifications 3, 4 nor the live one of 45s"
        );
        assert!(ids_on(&t, 4).is_empty());
        assert!(
            keepalive_times(&t, 4).contains(&(started_at(&t, 4) + secs(15))),
            "the lost connection looks healthy: its keepalive flows"
        );
        // The notification of 45s was issued an id (5) and kept, but written nowhere.
        assert!(!t
            .events
            .iter()
            .any(|e| e.at == secs(45) && matches!(e.kind, EventKind::FrameWritten { .. })));
    }

    #[test]
    fn replay_standalone_lost_defect_still_resumes_a_post_stream() {
        let mut s = scenario("2025-11-25", "60s");
        s.server.defects.replay_standalone_lost = true;
        let t = run(&s, |env| {
            Box::pin(async move {
                let sid = initialize(&env).await.expect("a session");
                until(secs(1)).await;
                let x = send(
                    &env,
                    "POST",
                    Some(&sid),
                    None,
                    Some(call(2, 20_000, Some(5_000))),
                )
                .await;
                read(&env, x, Some(secs(3))).await;
                until(secs(30)).await;
                let x = send(&env, "GET", Some(&sid), Some("1"), None).await;
                read(&env, x, None).await;
            })
        });
        assert!(kinds(&t, 4).contains(&EventKind::ReplayStarted {
            stream: "p1".into(),
            after: "1".into(),
            events: 4
        }));
        assert_eq!(ids_on(&t, 4), ["2", "3", "4", "5"]);
    }
}

/// `GET /mcp?poll=1`: long-polling (a middlebox extension, not part of MCP: the fallback of
/// MP-301g module 3 for clients whose SSE connections keep failing).
///
/// ```text
///  GET /mcp?poll=1 + Mcp-Session-Id [+ Last-Event-ID L]
///     ──▶ 200 text/event-stream: the session's GET stream's stored events after L (all of
///         them without L), then the response ends (no priming, no keepalive timer)
/// ```
///
/// Refusals as for `GET /mcp`; `L` that is not a decimal id answers 400. A session that
/// never opened a GET stream gets one named, so that later notifications are kept for it.
mod poll {
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
                    .map_err(|_| {
                        Plain::error(404, jsonrpc::SESSION_NOT_FOUND, "Session not found")
                    })?
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
}

#[cfg(test)]
mod poll_tests {
    use super::*;
    use crate::trace::Trace;

    /// A relay that cuts every response after 2 s: the GET stream (2025-06-18, keepalive
    /// off, no priming) never gets a byte, so the reference client switches to polling.
    const CUT_GETS: &str = r#"
description = "polls"
protocol = ["2025-06-18"]
duration = "30s"

[[intermediary]]
name = "lb"
max-duration = { after = "2s", action = "fin" }

[server]
keepalive = "off"

[[server.notification]]
at = "13s"
method = "notifications/one"

[[server.notification]]
at = "21s"
method = "notifications/two"

[[client.step]]
at = "0s"
do = "initialize"

[[client.step]]
at = "1s"
do = "open-get-stream"
"#;

    fn run() -> Trace {
        let s = crate::scenario::parse("mem.toml", CUT_GETS).expect("valid scenario");
        let server = crate::reference::server::build(&s.server);
        let out = crate::sim::run(&s, server, crate::reference::client::build(), 1);
        assert_eq!(out.error, None);
        out.trace
    }

    /// Server conns that received a poll, with when.
    fn poll_conns(t: &Trace) -> Vec<(Duration, ConnId)> {
        t.events
            .iter()
            .filter(|e| {
                e.host == "server"
                    && matches!(&e.kind, EventKind::RequestReceived { method, path }
                        if method == "GET" && path == "/mcp?poll=1")
            })
            .map(|e| (e.at, e.conn.expect("a conn")))
            .collect()
    }

    #[test]
    fn a_poll_answers_the_get_streams_events_after_last_event_id_then_ends() {
        let t = run();
        let polls = poll_conns(&t);
        assert!(polls.len() >= 9, "polls every 2 s from ~10 s: {polls:?}");
        let on = |conn: ConnId| {
            t.events
                .iter()
                .filter(move |e| e.host == "server" && e.conn == Some(conn))
                .map(|e| &e.kind)
        };
        let mut written = Vec::new();
        for (at, conn) in &polls {
            let kinds: Vec<&EventKind> = on(*conn).collect();
            assert!(
                kinds.iter().any(|k| matches!(k, EventKind::ResponseStarted { status: 200, content_type: Some(ct), .. } if ct == "text/event-stream")),
                "poll at {at:?}: {kinds:?}"
            );
            assert!(kinds.iter().any(|k| matches!(k,
                EventKind::StreamAttached { stream, kind, session } if stream == "g3" && kind == "poll" && session == "s1")));
            assert!(matches!(kinds.last(), Some(EventKind::ResponseEnded)));
            assert!(!kinds
                .iter()
                .any(|k| matches!(k, EventKind::TimerArmed { .. })));
            for k in kinds {
                if let EventKind::FrameWritten {
                    frame:
                        Frame::Event {
                            id: Some(id), data, ..
                        },
                    ..
                } = k
                {
                    written.push((*at, id.clone(), data.contains("notifications/one")));
                }
            }
        }
        // Each notification is written by exactly one poll: the first poll after it.
        assert_eq!(written.len(), 2, "{written:?}");
        assert!(written[0].2 && written[0].0 > Duration::from_secs(13));
        assert!(written[0].0 <= Duration::from_secs(15));
        assert!(!written[1].2 && written[1].0 > Duration::from_secs(21));
        let delivered: Vec<&str> = t
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::MessageDelivered { message, .. } => Some(message.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(delivered, ["notifications/one", "notifications/two"]);
    }
}
