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
//! The server learns that a connection is gone only when a write to it fails. Keepalive timer
//! ownership: one timer per attached SSE connection, cleared when its stream ends or its first
//! write fails — unless a bug model switches on a [`Defects`] entry:
//! - `replay_without_keepalive`: replay connections arm no timer;
//! - `shared_keepalive_timer`: one timer slot per session; attaching a stream arms a new
//!   timer into the slot without clearing the previous one (which keeps writing to its own
//!   stream); when any stream ends or fails, the timer currently in the slot is cleared
//!   (possibly another stream's) and the slot emptied; a timer no longer in the slot is never
//!   cleared (it keeps firing, and every failing write is recorded).
//!
//! [`Defects`]: crate::scenario::Defects

use super::event_store::EventStore;
use super::jsonrpc::{self, Message, RpcError};
use super::session::SessionStore;
use crate::scenario::ServerConfig;
use crate::sim::now;
use crate::sse::Frame;
use crate::target::reference_server::{
    record_response_started, Body, Keepalive, SseOut, TimerHandle, TimerIds, WriteError,
};
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

/// An MCP protocol revision the reference server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Revision {
    /// `2025-03-26`: sessions, GET stream, resumption.
    V2025_03_26,
    /// `2025-06-18`: as 2025-03-26 (plus the `MCP-Protocol-Version` header).
    V2025_06_18,
    /// `2025-11-25`: adds priming events and `retry`.
    V2025_11_25,
    /// `2026-07-28`: no sessions, no GET stream, no resumption; closing a POST stream
    /// cancels its request.
    V2026_07_28,
}

impl Revision {
    /// Every revision, oldest first.
    pub const ALL: [Revision; 4] = [
        Revision::V2025_03_26,
        Revision::V2025_06_18,
        Revision::V2025_11_25,
        Revision::V2026_07_28,
    ];

    /// The revision named `s` (`2025-11-25`), if known.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The revision's date string.
    pub fn as_str(self) -> &'static str {
        match self {
            Revision::V2025_03_26 => "2025-03-26",
            Revision::V2025_06_18 => "2025-06-18",
            Revision::V2025_11_25 => "2025-11-25",
            Revision::V2026_07_28 => "2026-07-28",
        }
    }

    /// Sessions, the GET stream and `Last-Event-ID` resumption.
    pub fn has_sessions(self) -> bool {
        self < Revision::V2026_07_28
    }

    /// New SSE streams start with a priming event and `retry`.
    pub fn primes(self) -> bool {
        self == Revision::V2025_11_25
    }

    /// Losing a POST stream's connection cancels its request.
    pub fn cancels_on_close(self) -> bool {
        !self.has_sessions()
    }
}

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
    outlets: u64,
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
    fn emit(&mut self, key: &StreamKey, data: &str) -> Option<u64> {
        let id = self.store(&key.0)?.append(&key.1, data);
        let frame = Frame::Event {
            name: None,
            id: Some(id.to_string()),
            data: data.to_string(),
        };
        self.push(key, Outgoing::Frame(frame));
        Some(id)
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
                outlets: 0,
            }),
        });
        if !inner.cfg.notifications.is_empty() {
            tokio::task::spawn_local(run_notifications(inner.clone()));
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
                path: req.uri().path().to_string(),
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
            Method::GET => inner.get(&parts),
            Method::DELETE => inner.delete(&parts),
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
            Ok(s) => Ok(s.id.clone()),
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
        match self.post_message(parts, msg) {
            Ok(r) => r,
            Err(p) => Reply::Plain(p),
        }
    }

    fn post_message(self: &Rc<Self>, parts: &Parts, msg: Message) -> Result<Reply, Plain> {
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
                return Ok(Reply::Plain(self.initialize(id)));
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

    fn initialize(&self, id: &Value) -> Plain {
        let session = if self.revision.has_sessions() {
            let mut st = self.state.borrow_mut();
            let s = st.sessions.create().id.clone();
            drop(st);
            self.record_session(EventKind::SessionCreated { session: s.clone() });
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

    /// Session events are recorded without a connection: they outlive it.
    fn record_session(&self, kind: EventKind) {
        self.record(None, kind);
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

    fn get_stream(&self, parts: &Parts) -> Result<Reply, Plain> {
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
        let mut st = self.state.borrow_mut();
        let last = header(parts, "last-event-id").filter(|_| self.cfg.event_store);
        if let Some(last) = last {
            let replay = st
                .sessions
                .get(Some(&session))
                .map_err(|_| Plain::error(404, jsonrpc::SESSION_NOT_FOUND, "Session not found"))?
                .events
                .replay_after(last)
                .map_err(|e| {
                    Plain::error(400, jsonrpc::TRANSPORT_ERROR, format!("Bad Request: {e}"))
                })?;
            let key = (session, replay.stream);
            if !st.streams.contains_key(&key) {
                return Err(Plain::error(
                    400,
                    jsonrpc::TRANSPORT_ERROR,
                    "Bad Request: that stream is gone",
                ));
            }
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
                kind: "replay",
                serial,
                rx,
                replay: Some((last.to_string(), replay.events.len())),
            }));
        }
        let stream = match st.sessions.get(Some(&session)) {
            Ok(s) => s.open_get_stream(),
            Err(_) => unreachable!("the session was looked up just before"),
        };
        let key = (session, stream);
        let (serial, rx) = st.open_stream(&key);
        self.prime(&mut st, &key);
        Ok(Reply::Sse(Sse {
            key,
            kind: "get",
            serial,
            rx,
            replay: None,
        }))
    }

    fn delete(&self, parts: &Parts) -> Reply {
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
        self.record_session(EventKind::SessionTerminated {
            session: session.clone(),
        });
        let mut st = self.state.borrow_mut();
        let keys: Vec<StreamKey> = st
            .streams
            .keys()
            .filter(|(s, _)| *s == session)
            .cloned()
            .collect();
        for key in keys {
            st.streams[&key].cancelled.set(true);
            st.end_stream(&key);
        }
        Reply::Plain(Plain::empty(200, None))
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
        let mut b = Response::builder()
            .status(200)
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache");
        if self.cfg.x_accel_buffering_no {
            b = b.header("x-accel-buffering", "no");
        }
        let session = s.key.0.clone();
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
        let timed = !(s.kind == "replay" && defects.replay_without_keepalive);
        let keepalive = self.cfg.keepalive.filter(|_| timed).map(|every| {
            Keepalive::arm(
                self.timers.next(),
                every,
                self.cfg.keepalive_frame.clone(),
                &out,
                now(),
            )
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
        tokio::task::spawn_local(run_connection(out, s.rx, keepalive, release, gone));
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

/// One SSE connection: writes what its stream hands over and its keepalives, until the
/// stream ends or a write fails; a timer left running (shared-timer defect) keeps firing.
async fn run_connection(
    mut out: SseOut,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    mut keepalive: Option<Keepalive>,
    release: Release,
    gone: Box<dyn FnOnce()>,
) {
    let mut gone = Some(gone);
    let mut open = true; // the stream is still written to
    let mut fed = true; // its server stream still hands frames over
    loop {
        let due = keepalive.as_ref().and_then(Keepalive::due);
        if !open && due.is_none() {
            return;
        }
        tokio::select! {
            biased;
            m = rx.recv(), if open && fed => match m {
                Some(Outgoing::Frame(frame)) => {
                    if out.write(frame, None).await == Err(WriteError::Closed) {
                        release.release(keepalive.as_ref());
                        open = false;
                        if let Some(g) = gone.take() { g() }
                    }
                }
                Some(Outgoing::End) => {
                    out.end();
                    release.release(keepalive.as_ref());
                    open = false;
                }
                // Another connection took the stream over: only the keepalive remains.
                None => fed = false,
            },
            _ = tokio::time::sleep(due.unwrap_or_default().saturating_sub(now())), if due.is_some() => {
                let Some(k) = keepalive.as_mut().filter(|k| k.due().is_some()) else { continue };
                let (frame, id) = k.fire();
                if out.write(frame, Some(id)).await == Err(WriteError::Closed) && open {
                    release.release(keepalive.as_ref());
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
            st.emit(&key, &msg);
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
            inner.state.borrow_mut().emit(&key, &msg);
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
    st.emit(&key, &jsonrpc::result(&id, result));
    st.end_stream(&key);
}
