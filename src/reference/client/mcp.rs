//! The reference MCP client: the MCP steps of the client timeline, over Streamable HTTP.
//!
//! ```text
//!  initialize ──▶ POST initialize ──▶ Mcp-Session-Id ──▶ SessionEstablished
//!                 POST notifications/initialized (202)
//!  ping / delete-session ──▶ one request, one connection, JSON answer ──▶ RpcAnswered
//!
//!  open-get-stream / call-tool ──▶ one logical stream (one SSE parser for its whole life)
//!     GET /mcp  or  POST tools/call ──▶ SSE events ──▶ dedupe by event id ──▶ MessageDelivered
//!        │                                        (the call's result) ──▶ RpcAnswered
//!        └─ ends without the client closing it ──▶ Reconnecting{after, Last-Event-ID}
//!              wait (server retry, else initial; doubled per failure, capped at max)
//!              GET /mcp + Last-Event-ID ──▶ ... ──▶ GaveUp after `attempts` failures
//!        └─ GET stream: 3 failed SSE attempts in a row ──▶ ModeSwitched{LongPolling}
//!              GET /mcp?poll=1 + Last-Event-ID at once, then every 2 s, until the run ends
//!
//!  every SSE connection of a stream (not a poll) ──▶ ClientWarned (MP-301g module 3):
//!     1.5 × keepalive-expected without a byte, then each further interval ─▶ MissedKeepalive
//!     ended within 60 s, not by the client, not a call's stream after its result ─▶ DroppedEarly
//!     2025-11-25, a POST's new SSE stream (primed), no byte 5 s after opening ─▶ SlowFirstData
//! ```
//!
//! Every request opens its own connection (HTTP/1.1, one request each) and records the
//! client side of the trace: `ConnOpened`, `RequestSent`, `RpcSent`, `ResponseReceived`,
//! `Received`, `StreamEnded`, and `ConnClosed` when the client closes a stream itself.
//! A server message reaches the application once per session: an SSE event whose id was
//! already delivered (a replayed duplicate) is received but not delivered again.
//! Revision `2026-07-28` has no session and no resumption: nothing is reconnected.
//!
//! Sessions: a later `initialize` gives the client a new session for the requests made
//! afterwards; a stream already open keeps its own session for its reconnections (a stream
//! of a session the client DELETEd is not reconnected). Delivery dedupes per session. A 404
//! to a request carrying the client's current session makes the client re-initialise, once
//! per lost session, after recording the answer as usual; a GET stream that got the 404
//! reopens without `Last-Event-ID` on the new session, and gives up if that GET 404s too.

pub use defects::ClientDefects;

use crate::mcp::Revision;
use crate::scenario::ReconnectPolicy;
use crate::sim::net;
use crate::sim::{now, ConnRegistry};
use crate::sse::cut::PARSE_TEXT_MAX;
use crate::sse::{Frame, Parser};
use crate::trace::{ClientWarning, Closer, ConnId, EventKind, Recorder, StreamEnd, StreamMode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The MCP endpoint's path.
pub const ENDPOINT: &str = "/mcp";

/// The trace host name of the client.
const HOST: &str = "client";

/// The long-polling path (a middlebox extension, not MCP: MP-301g's fallback).
pub const POLL_PATH: &str = "/mcp?poll=1";

/// A connection that ends this soon after it opened suggests buffering (rule B).
const DROPPED_EARLY_WITHIN: Duration = Duration::from_secs(60);

/// A connection with no body byte this long after it opened suggests buffering (rule C).
const FIRST_DATA_WITHIN: Duration = Duration::from_secs(5);

/// Consecutive failed SSE attempts of the GET stream before it switches to polling (rule D).
const POLLING_AFTER_FAILURES: u32 = 3;

/// Time between the starts of two polls.
const POLL_EVERY: Duration = Duration::from_secs(2);

/// Where the client runs and what it speaks.
#[derive(Clone)]
pub struct ClientContext {
    /// The run's trace.
    pub recorder: Recorder,
    /// Stable connection ids (the client allocates them).
    pub conns: ConnRegistry,
    /// Host name of the first hop (an intermediary, or `server`); also the `Host` header.
    pub first_hop: String,
    /// Every hop after the client, ending with `server` (recorded with each connection).
    pub route: Vec<String>,
    /// Port every hop listens on.
    pub port: u16,
    /// The MCP revision spoken, e.g. `2025-11-25`.
    pub revision: Revision,
    /// How dropped streams reconnect.
    pub reconnect: ReconnectPolicy,
    /// Defects of a bug-model target; none for the reference.
    pub defects: ClientDefects,
    /// The keepalive interval expected on SSE connections (rule A); `None` = no warnings.
    pub keepalive_expected: Option<Duration>,
    /// The simulation tick: a `reconnect-stream` step opens the new connection one tick after
    /// it dropped the old one (the close leaves the client first), so the server sees the old
    /// connection end before the new one arrives, on either engine.
    pub tick: Duration,
}

/// How a logical stream starts.
#[derive(Clone, Debug)]
pub enum Opening {
    /// `GET /mcp`: the standalone stream of server notifications.
    Get,
    /// The standalone GET stream whose first request already carries `Last-Event-ID`
    /// (e.g. a guessed id, as in GHSA-84j6-jc92-77jm).
    GetAfter {
        /// The `Last-Event-ID` of the first request.
        last_event_id: String,
    },
    /// `POST tools/call` answered over SSE; the stream is over once answer `id` arrived.
    Call {
        /// The request id (also the progress token).
        id: u64,
        /// The JSON-RPC request.
        message: Value,
    },
}

/// The reference MCP client. Cheap to clone: clones share the session.
#[derive(Clone)]
pub struct McpClient {
    inner: Rc<Inner>,
}

struct Inner {
    ctx: ClientContext,
    state: RefCell<State>,
}

/// What the client remembers between requests.
#[derive(Default)]
struct State {
    /// The last request id used (`initialize` gets 1).
    last_id: u64,
    /// The session the server assigned last, until it is deleted; new requests carry it.
    session: Option<String>,
    /// `initialize` was answered: later requests carry `MCP-Protocol-Version`.
    initialized: bool,
    /// `(session, event id)` already delivered to the application.
    delivered: BTreeSet<(String, String)>,
    /// The session each connection's request carried.
    conn_sessions: BTreeMap<ConnId, String>,
    /// Sessions the client DELETEd: their streams are not reconnected.
    deleted: BTreeSet<String>,
    /// Sessions answered 404 for which the client already re-initialised (once each).
    lost: BTreeSet<String>,
    /// Request ids already answered.
    answered: BTreeSet<u64>,
}

/// One request to send.
enum Call {
    Post {
        method: String,
        id: Option<u64>,
        message: Value,
    },
    Get {
        last_event_id: Option<String>,
        /// The stream's own session (`None`: the client's current one).
        session: Option<String>,
    },
    /// `GET /mcp?poll=1`: what the GET stream stored after `last_event_id` (rule D).
    Poll {
        last_event_id: Option<String>,
    },
    Delete,
}

/// An open connection with its response head read.
struct Exchange {
    conn: ConnId,
    /// When its `ConnOpened` was recorded.
    opened: Duration,
    response: hyper::Response<Incoming>,
    /// Keeps the request sender alive while the body is read.
    _sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    _driver: Driver,
}

/// The task driving one HTTP connection; aborting it drops the socket.
struct Driver(JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How one connection of a logical stream went.
#[derive(Debug)]
enum Attempt {
    /// No response: connect, handshake or request failed.
    NoResponse { conn: ConnId },
    /// The response was not 2xx.
    Refused { conn: ConnId, status: u16 },
    /// The response body ended; `bytes` is whether any byte arrived first; `sse` whether
    /// the response was `200 text/event-stream`; `complete` whether it ended cleanly (the
    /// body's terminator); `retry_ms` the last `retry` received on this connection.
    Ended {
        conn: ConnId,
        bytes: bool,
        sse: bool,
        complete: bool,
        retry_ms: Option<u64>,
    },
}

/// How a response body was read to its end.
struct BodyRead {
    /// A body byte arrived.
    bytes: bool,
    /// A JSON body that completed: its bytes.
    json: Option<Vec<u8>>,
    /// The body ended cleanly (its terminator arrived).
    complete: bool,
    /// The last `retry` field received in it.
    retry_ms: Option<u64>,
}

impl Attempt {
    fn conn(&self) -> ConnId {
        match self {
            Attempt::NoResponse { conn }
            | Attempt::Refused { conn, .. }
            | Attempt::Ended { conn, .. } => *conn,
        }
    }

    /// A failure for the backoff: nothing came through.
    fn failed(&self) -> bool {
        !matches!(self, Attempt::Ended { bytes: true, .. })
    }

    /// A failed SSE attempt for the polling fallback (rule D): no response, not
    /// `200 text/event-stream`, or ended without a body byte.
    fn sse_failed(&self) -> bool {
        !matches!(
            self,
            Attempt::Ended {
                bytes: true,
                sse: true,
                ..
            }
        )
    }
}

/// How the client watches one SSE connection of a logical stream (rules A, B, C).
struct Watch<'a> {
    /// The logical stream's name.
    stream: &'a str,
    /// When the connection's `ConnOpened` was recorded.
    opened: Duration,
    /// The request a call stream answers: ending `Complete` after it is no early drop.
    answer: Option<u64>,
    /// The server writes first on this connection (rule C): a new stream (no
    /// `Last-Event-ID`) on a revision with priming events; a resumption is not primed.
    server_first: bool,
}

/// What a response body is, from its content type.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Sse,
    Json,
    Other,
}

impl McpClient {
    /// A client with no session yet.
    pub fn new(ctx: ClientContext) -> Self {
        McpClient {
            inner: Rc::new(Inner {
                ctx,
                state: RefCell::default(),
            }),
        }
    }

    /// The session the server assigned, if any.
    pub fn session(&self) -> Option<String> {
        self.inner.state.borrow().session.clone()
    }

    /// True when the revision resumes streams with `Last-Event-ID` (before `2026-07-28`).
    pub fn resumable(&self) -> bool {
        self.inner.ctx.revision.has_sessions()
    }

    /// True when the revision's server writes first on every new SSE stream (a priming
    /// event, `2025-11-25`), so that a silent start suggests buffering (rule C).
    fn server_writes_first(&self) -> bool {
        self.inner.ctx.revision.primes()
    }

    fn next_id(&self) -> u64 {
        let mut st = self.inner.state.borrow_mut();
        st.last_id += 1;
        st.last_id
    }

    fn record(&self, conn: Option<ConnId>, kind: EventKind) {
        self.inner.ctx.recorder.record(HOST, conn, kind);
    }

    /// POSTs `initialize`, keeps the session id the server assigns, then POSTs
    /// `notifications/initialized`.
    pub async fn initialize(&self) {
        let id = self.next_id();
        let message = json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "initialize",
            "params": {
                "protocolVersion": self.inner.ctx.revision.as_str(),
                "capabilities": {},
                "clientInfo": {"name": "middlebox", "version": env!("CARGO_PKG_VERSION")},
            },
        });
        let call = Call::Post {
            method: "initialize".into(),
            id: Some(id),
            message,
        };
        let live = Cell::new(None);
        let Ok(ex) = self.exchange("initialize", &call, &live).await else {
            return;
        };
        let session = ex
            .response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Some(session) = session {
            {
                let mut st = self.inner.state.borrow_mut();
                st.session = Some(session.clone());
                // The answer on this connection belongs to the new session (servers that
                // answer initialize as SSE number its events in the new session).
                st.conn_sessions.insert(ex.conn, session.clone());
            }
            self.record(Some(ex.conn), EventKind::SessionEstablished { session });
        }
        let ok = ex.response.status().is_success();
        self.read_answer(ex, id).await;
        if !ok {
            return;
        }
        self.inner.state.borrow_mut().initialized = true;
        let call = Call::Post {
            method: "notifications/initialized".into(),
            id: None,
            message: json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        };
        if let Ok(ex) = self.exchange("initialized", &call, &live).await {
            let mut parser = Parser::new();
            self.read_body(
                ex.conn,
                ex.response.into_body(),
                BodyKind::Other,
                &mut parser,
                None,
            )
            .await;
        }
    }

    /// POSTs `ping` and waits for its answer.
    pub async fn ping(&self) {
        let id = self.next_id();
        let call = Call::Post {
            method: "ping".into(),
            id: Some(id),
            message: json!({"jsonrpc": "2.0", "id": id, "method": "ping"}),
        };
        if let Ok(ex) = self.exchange("ping", &call, &Cell::new(None)).await {
            let lost = self.lost_session(&ex);
            self.read_answer(ex, id).await;
            if let Some(session) = lost {
                self.session_lost(&session).await;
            }
        }
    }

    /// The session a response says is gone: the one its request carried, on a 404.
    fn lost_session(&self, ex: &Exchange) -> Option<String> {
        if ex.response.status().as_u16() != 404 {
            return None;
        }
        self.inner
            .state
            .borrow()
            .conn_sessions
            .get(&ex.conn)
            .cloned()
    }

    /// Rule E: the server answered 404 to a request carrying `session`. When that is the
    /// client's current session, the client re-initialises, once per lost session. Returns
    /// the client's session afterwards, when it differs from the lost one.
    async fn session_lost(&self, session: &str) -> Option<String> {
        let again = {
            let mut st = self.inner.state.borrow_mut();
            st.session.as_deref() == Some(session) && st.lost.insert(session.to_string())
        };
        if again {
            self.initialize().await;
        }
        self.session().filter(|s| s != session)
    }

    /// DELETEs the session; the client forgets it (its streams are not reconnected).
    pub async fn delete_session(&self) {
        if let Ok(ex) = self
            .exchange("delete-session", &Call::Delete, &Cell::new(None))
            .await
        {
            let mut parser = Parser::new();
            self.read_body(
                ex.conn,
                ex.response.into_body(),
                BodyKind::Other,
                &mut parser,
                None,
            )
            .await;
        }
        let mut st = self.inner.state.borrow_mut();
        if let Some(s) = st.session.take() {
            st.deleted.insert(s);
        }
    }

    /// The opening of a `tools/call` of the built-in `sleep` tool; takes the next request id.
    pub fn call_tool(&self, duration: Duration, progress_every: Option<Duration>) -> Opening {
        let id = self.next_id();
        let mut arguments = json!({"duration_ms": duration.as_millis() as u64});
        if let Some(every) = progress_every {
            arguments["progress_every_ms"] = json!(every.as_millis() as u64);
        }
        let message = json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "tools/call",
            "params": {
                "name": "sleep",
                "arguments": arguments,
                "_meta": {"progressToken": id},
            },
        });
        Opening::Call { id, message }
    }

    /// Runs logical stream `name` until it is over (a call answered, given up, not
    /// resumable) or `close` fires; then the client closes the open connection, if any, and
    /// records `ConnClosed{by: Client}` with the reason sent. Each id from `reconnects`
    /// (a `reconnect-stream` step) makes the stream drop its open connection, if any
    /// (`ConnClosed{by: Client}`), and reconnect at once with that `Last-Event-ID`.
    pub async fn run_stream(
        self,
        name: String,
        opening: Opening,
        mut close: oneshot::Receiver<String>,
        mut reconnects: mpsc::UnboundedReceiver<String>,
    ) {
        let live = Cell::new(None);
        let run = self.stream_life(&name, opening, &live, &mut reconnects);
        tokio::select! {
            biased;
            why = &mut close => {
                if let Some(conn) = live.get() {
                    self.record(Some(conn), EventKind::ConnClosed {
                        by: Closer::Client,
                        reason: why.unwrap_or_default(),
                    });
                }
            }
            () = run => {}
        }
    }

    /// Connections of one logical stream, reconnecting after drops (and when told to).
    async fn stream_life(
        &self,
        name: &str,
        opening: Opening,
        live: &Cell<Option<ConnId>>,
        reconnects: &mut mpsc::UnboundedReceiver<String>,
    ) {
        let policy = self.inner.ctx.reconnect.clone();
        // The stream's own session: its reconnections keep it, whatever later steps do.
        let mut session = self.session();
        // One parser for the stream's whole life: its last event id and retry persist.
        let mut parser = Parser::new();
        let answer = match &opening {
            Opening::Get | Opening::GetAfter { .. } => None,
            Opening::Call { id, .. } => Some(*id),
        };
        let mut reopened = false;
        let mut call = match opening {
            Opening::Get => Call::Get {
                last_event_id: None,
                session: session.clone(),
            },
            Opening::GetAfter { last_event_id } => Call::Get {
                last_event_id: Some(last_event_id),
                session: session.clone(),
            },
            Opening::Call { id, message } => Call::Post {
                method: "tools/call".into(),
                id: Some(id),
                message,
            },
        };
        let mut reconnecting = false;
        let mut failures = 0u32;
        let attempts = self
            .inner
            .ctx
            .defects
            .reconnect_attempts
            .unwrap_or(policy.attempts);
        // The Last-Event-ID of the first reconnect (kept by the stale-id defect).
        let mut first_resume: Option<Option<String>> = None;
        // Rule D: consecutive failed SSE attempts of the GET stream.
        let mut sse_failures = 0u32;
        let mut steered = true; // `reconnects` may still deliver ids
        loop {
            let attempt = tokio::select! {
                biased;
                id = reconnects.recv(), if steered => {
                    let Some(id) = id else {
                        steered = false;
                        continue;
                    };
                    // The attempt (and its connection) is dropped here.
                    if self.dropped_for_reconnect(live) {
                        tokio::time::sleep(self.inner.ctx.tick).await;
                    }
                    call = Call::Get {
                        last_event_id: Some(id),
                        session: session.clone(),
                    };
                    reconnecting = true;
                    failures = 0;
                    continue;
                }
                a = self.attempt(name, &call, &mut parser, live, answer) => a,
            };
            live.set(None);
            if answer.is_some_and(|id| self.inner.state.borrow().answered.contains(&id)) {
                return;
            }
            let lost = match (&attempt, &session) {
                (Attempt::Refused { status: 404, .. }, Some(s)) => Some(s.clone()),
                _ => None,
            };
            if let Some(old) = &lost {
                // Rule E: the GET stream starts afresh on a new session, once; a 404 on the
                // new session's GET gives it up (no re-initialisation loop).
                let now_on = if answer.is_none() && reopened {
                    None
                } else {
                    self.session_lost(old).await
                };
                if answer.is_none() {
                    match now_on {
                        Some(new) if !reopened => {
                            reopened = true;
                            failures = 0;
                            reconnecting = false;
                            parser = Parser::new();
                            session = Some(new);
                            call = Call::Get {
                                last_event_id: None,
                                session: session.clone(),
                            };
                            continue;
                        }
                        _ => {
                            self.record(
                                Some(attempt.conn()),
                                EventKind::GaveUp {
                                    stream: name.to_string(),
                                    attempts: failures,
                                },
                            );
                            return;
                        }
                    }
                }
            }
            match (&call, &attempt) {
                // A request that never started has nothing to resume.
                (Call::Post { .. }, Attempt::NoResponse { .. } | Attempt::Refused { .. }) => return,
                // The server offers no GET stream.
                (Call::Get { .. }, Attempt::Refused { status: 405, .. }) if !reconnecting => return,
                _ => {}
            }
            let deleted = session
                .as_ref()
                .is_some_and(|s| self.inner.state.borrow().deleted.contains(s));
            if !self.resumable() || !policy.enabled || deleted {
                return;
            }
            if !attempt.failed() {
                failures = 0;
            } else if reconnecting {
                failures += 1;
            }
            let conn = Some(attempt.conn());
            if answer.is_none() {
                sse_failures = if attempt.sse_failed() {
                    sse_failures + 1
                } else {
                    0
                };
                if sse_failures >= POLLING_AFTER_FAILURES {
                    self.record(
                        conn,
                        EventKind::ModeSwitched {
                            stream: name.to_string(),
                            to: StreamMode::LongPolling,
                            failures: sse_failures,
                        },
                    );
                    self.poll(name, &mut parser, live, session.as_deref(), reconnects)
                        .await;
                    return;
                }
            }
            if failures >= attempts {
                self.record(
                    conn,
                    EventKind::GaveUp {
                        stream: name.to_string(),
                        attempts: failures,
                    },
                );
                return;
            }
            let mut last_event_id =
                Some(parser.last_event_id().to_string()).filter(|id| !id.is_empty());
            if self.inner.ctx.defects.stale_last_event_id {
                last_event_id = first_resume.get_or_insert(last_event_id).clone();
            }
            if answer.is_some() && last_event_id.is_none() {
                return; // a POST stream without an event id cannot be resumed
            }
            let after = match attempt {
                // vercel-labs/fx#301: a clean end waits only for a retry on that connection.
                Attempt::Ended {
                    complete: true,
                    retry_ms,
                    ..
                } if self.inner.ctx.defects.no_wait_on_clean_close => {
                    retry_ms.map_or(Duration::ZERO, Duration::from_millis)
                }
                _ => backoff(&policy, parser.retry_ms(), failures),
            };
            self.record(
                conn,
                EventKind::Reconnecting {
                    stream: name.to_string(),
                    attempt: failures + 1,
                    after,
                    last_event_id: last_event_id.clone(),
                },
            );
            let last_event_id = tokio::select! {
                biased;
                Some(id) = reconnects.recv(), if steered => {
                    failures = 0;
                    Some(id)
                }
                () = tokio::time::sleep(after) => last_event_id,
            };
            call = Call::Get {
                last_event_id,
                session: session.clone(),
            };
            reconnecting = true;
        }
    }

    /// A `reconnect-stream` step drops the stream's open connection, if any; true if it did.
    fn dropped_for_reconnect(&self, live: &Cell<Option<ConnId>>) -> bool {
        let Some(conn) = live.take() else {
            return false;
        };
        self.record(
            Some(conn),
            EventKind::ConnClosed {
                by: Closer::Client,
                reason: "reconnect-stream step".into(),
            },
        );
        true
    }

    /// Long-polling (rule D) until the run ends or the client forgets `session`: a poll at
    /// once, then one every [`POLL_EVERY`] from the previous poll's start (or when it ended,
    /// if later), each with the last event id seen; an id from `reconnects` (a
    /// `reconnect-stream` step) is polled with at once instead.
    async fn poll(
        &self,
        name: &str,
        parser: &mut Parser,
        live: &Cell<Option<ConnId>>,
        session: Option<&str>,
        reconnects: &mut mpsc::UnboundedReceiver<String>,
    ) {
        let mut chosen: Option<String> = None;
        while self.session().as_deref() == session {
            let start = now();
            let last_event_id = chosen
                .take()
                .or_else(|| Some(parser.last_event_id().to_string()).filter(|id| !id.is_empty()));
            let call = Call::Poll { last_event_id };
            if let Ok(ex) = self.exchange(name, &call, live).await {
                let kind = body_kind(&ex.response);
                self.read_body(ex.conn, ex.response.into_body(), kind, parser, None)
                    .await;
            }
            live.set(None);
            tokio::select! {
                biased;
                Some(id) = reconnects.recv() => chosen = Some(id),
                () = tokio::time::sleep((start + POLL_EVERY).saturating_sub(now())) => {}
            }
        }
    }

    /// One connection of a logical stream: request, response head, body to its end.
    /// `answer`: the request a call stream answers.
    async fn attempt(
        &self,
        name: &str,
        call: &Call,
        parser: &mut Parser,
        live: &Cell<Option<ConnId>>,
        answer: Option<u64>,
    ) -> Attempt {
        let ex = match self.exchange(name, call, live).await {
            Ok(ex) => ex,
            Err(conn) => return Attempt::NoResponse { conn },
        };
        let conn = ex.conn;
        let status = ex.response.status().as_u16();
        let kind = body_kind(&ex.response);
        if !ex.response.status().is_success() {
            if let Call::Post { id: Some(id), .. } = call {
                self.read_answer(ex, *id).await;
            } else {
                self.read_body(conn, ex.response.into_body(), kind, parser, None)
                    .await;
            }
            return Attempt::Refused { conn, status };
        }
        if kind == BodyKind::Json {
            if let Call::Post { id: Some(id), .. } = call {
                self.read_answer(ex, *id).await;
                return Attempt::Ended {
                    conn,
                    bytes: true,
                    sse: false,
                    complete: true,
                    retry_ms: None,
                };
            }
        }
        let sse = status == 200 && kind == BodyKind::Sse;
        let watch = sse.then_some(Watch {
            stream: name,
            opened: ex.opened,
            answer,
            // Priming is a SHOULD for SSE streams answering a POST (2025-11-25 transports,
            // "Sending Messages to the Server", item 6); GET streams are not primed by the
            // TypeScript or Python SDKs, so silence there says nothing of buffering.
            server_first: self.server_writes_first() && matches!(call, Call::Post { .. }),
        });
        let read = self
            .read_body(conn, ex.response.into_body(), kind, parser, watch.as_ref())
            .await;
        Attempt::Ended {
            conn,
            bytes: read.bytes,
            sse,
            complete: read.complete,
            retry_ms: read.retry_ms,
        }
    }

    /// Opens a connection for `stream`, sends the request and reads the response head.
    /// Records `ConnOpened`, `RequestSent`, `RpcSent`, `ResponseReceived` (or how it failed);
    /// `live` holds the connection while it is open. The error is the connection's id.
    async fn exchange(
        &self,
        stream: &str,
        call: &Call,
        live: &Cell<Option<ConnId>>,
    ) -> Result<Exchange, ConnId> {
        let ctx = &self.inner.ctx;
        let conn = ctx.conns.allocate();
        let tcp = match net::connect("client", &ctx.first_hop, ctx.port).await {
            Ok(s) => s,
            Err(e) => {
                self.record(
                    Some(conn),
                    EventKind::ConnFailed {
                        stream: stream.to_string(),
                        error: crate::sim::net::describe_error(&e),
                    },
                );
                return Err(conn);
            }
        };
        if let Ok(local) = tcp.local_addr() {
            ctx.conns.register(local, conn);
        }
        self.record(
            Some(conn),
            EventKind::ConnOpened {
                stream: stream.to_string(),
                route: ctx.route.clone(),
            },
        );
        let opened = now();
        live.set(Some(conn));
        let (mut sender, connection) =
            match hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await {
                Ok(x) => x,
                Err(e) => {
                    self.record(
                        Some(conn),
                        EventKind::StreamEnded {
                            how: stream_end(&e),
                        },
                    );
                    return Err(conn);
                }
            };
        let driver = Driver(tokio::task::spawn_local(async move {
            let _ = connection.await;
        }));
        let (request, last_event_id) = self.request(call);
        if let Some(s) = request
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            let mut st = self.inner.state.borrow_mut();
            st.conn_sessions.insert(conn, s.to_string());
        }
        self.record(
            Some(conn),
            EventKind::RequestSent {
                method: request.method().to_string(),
                path: request.uri().to_string(),
                last_event_id,
            },
        );
        if let Call::Post { method, id, .. } = call {
            self.record(
                Some(conn),
                EventKind::RpcSent {
                    method: method.clone(),
                    id: *id,
                },
            );
        }
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(e) => {
                self.record(
                    Some(conn),
                    EventKind::StreamEnded {
                        how: stream_end(&e),
                    },
                );
                return Err(conn);
            }
        };
        self.record(
            Some(conn),
            EventKind::ResponseReceived {
                status: response.status().as_u16(),
                content_type: response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
            },
        );
        Ok(Exchange {
            conn,
            opened,
            response,
            _sender: sender,
            _driver: driver,
        })
    }

    /// The HTTP request for `call`, with the headers the revision and session ask for, and
    /// the `Last-Event-ID` it carries.
    fn request(&self, call: &Call) -> (hyper::Request<Full<Bytes>>, Option<String>) {
        let ctx = &self.inner.ctx;
        let st = self.inner.state.borrow();
        let mut uri = ENDPOINT;
        let session = match call {
            Call::Get {
                session: Some(s), ..
            } => Some(s),
            // A new initialize asks for a new session.
            Call::Post { method, .. } if method == "initialize" => None,
            _ => st.session.as_ref(),
        };
        let (method, accept, body, last_event_id) = match call {
            Call::Post { message, .. } => (
                hyper::Method::POST,
                "application/json, text/event-stream",
                Bytes::from(message.to_string()),
                None,
            ),
            Call::Get { last_event_id, .. } => (
                hyper::Method::GET,
                "text/event-stream",
                Bytes::new(),
                last_event_id.clone(),
            ),
            Call::Poll { last_event_id } => {
                uri = POLL_PATH;
                (
                    hyper::Method::GET,
                    "text/event-stream",
                    Bytes::new(),
                    last_event_id.clone(),
                )
            }
            Call::Delete => (
                hyper::Method::DELETE,
                "application/json, text/event-stream",
                Bytes::new(),
                None,
            ),
        };
        let mut req = hyper::Request::builder()
            .method(method.clone())
            .uri(uri)
            .header("host", ctx.first_hop.as_str())
            .header("accept", accept);
        if method == hyper::Method::POST {
            req = req.header("content-type", "application/json");
        }
        if let Some(session) = session {
            req = req.header("mcp-session-id", session.as_str());
        }
        if st.initialized {
            req = req.header("mcp-protocol-version", ctx.revision.as_str());
        }
        // An id no header can carry (control characters, or cut: see sse::cut) is not sent,
        // as fetch would refuse it; the trace then shows no Last-Event-ID.
        let last_event_id =
            last_event_id.filter(|id| hyper::header::HeaderValue::from_str(id).is_ok());
        if let Some(id) = &last_event_id {
            req = req.header("last-event-id", id.as_str());
        }
        let req = req
            .body(Full::new(body))
            .expect("request head from valid parts");
        (req, last_event_id)
    }

    /// Reads the answer to request `id` (JSON or SSE) and records `RpcAnswered`: `http
    /// <status>` for a non-2xx response, else the JSON-RPC outcome.
    async fn read_answer(&self, ex: Exchange, id: u64) {
        let conn = ex.conn;
        let status = ex.response.status();
        let kind = body_kind(&ex.response);
        let mut parser = Parser::new();
        let json = self
            .read_body(conn, ex.response.into_body(), kind, &mut parser, None)
            .await
            .json;
        if !status.is_success() {
            self.answered(conn, id, format!("http {}", status.as_u16()));
            return;
        }
        if let Some(Ok(msg)) = json.map(|b| serde_json::from_slice::<Value>(&b)) {
            if response_id(&msg) == Some(id) {
                self.answered(conn, id, outcome(&msg));
            }
        }
    }

    /// Reads a body to its end, recording every chunk and how it ended; SSE events are
    /// delivered as they complete. Returns whether any byte arrived, for a JSON body that
    /// completed its bytes, whether it ended cleanly and the last `retry` in it. With a `watch` (an SSE connection of a logical stream),
    /// records the client's warnings: missed keepalives (rule A), a slow first byte
    /// (rule C) and an early drop (rule B).
    async fn read_body(
        &self,
        conn: ConnId,
        mut body: Incoming,
        kind: BodyKind,
        parser: &mut Parser,
        watch: Option<&Watch<'_>>,
    ) -> BodyRead {
        let mut got = false;
        let mut retry_ms = None;
        let mut json = Vec::new();
        let mut silence = watch.and_then(|_| {
            self.inner
                .ctx
                .keepalive_expected
                .map(|expected| Silence::new(now(), expected))
        });
        // Rule C: due at ConnOpened + 5 s; headers arriving later than that are too late.
        let mut first_data_due = watch
            .filter(|w| w.server_first)
            .map(|w| w.opened + FIRST_DATA_WITHIN)
            .filter(|due| *due >= now());
        let how = loop {
            let due = match (silence.as_ref().map(|s| s.due), first_data_due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let step = tokio::select! {
                biased;
                f = body.frame() => Some(f),
                () = tokio::time::sleep(due.unwrap_or_default().saturating_sub(now())),
                    if due.is_some() => None,
            };
            // A timer is due: a byte or the end arriving at that same instant comes first.
            let step = match step {
                Some(f) => Some(f),
                None => {
                    tokio::task::yield_now().await;
                    tokio::select! {
                        biased;
                        f = body.frame() => Some(f),
                        () = std::future::ready(()) => None,
                    }
                }
            };
            let Some(step) = step else {
                let stream = watch.map(|w| w.stream).unwrap_or_default();
                if first_data_due.is_some_and(|d| d <= now()) {
                    first_data_due = None;
                    self.warn(
                        conn,
                        stream,
                        ClientWarning::SlowFirstData {
                            after: FIRST_DATA_WITHIN,
                        },
                    );
                }
                if let Some(s) = silence.as_mut().filter(|s| s.due <= now()) {
                    let warning = s.missed(now());
                    self.warn(conn, stream, warning);
                }
                continue;
            };
            match step {
                Some(Ok(frame)) => {
                    let Some(data) = frame.data_ref() else {
                        continue;
                    };
                    if !data.is_empty() {
                        got = true;
                        first_data_due = None;
                        if let Some(s) = silence.as_mut() {
                            s.heard(now());
                        }
                    }
                    let frames = if kind == BodyKind::Sse {
                        parser.feed(data)
                    } else {
                        // A JSON answer longer than the parser's limit is not kept (no
                        // MCP answer comes near it): memory stays bounded.
                        if kind == BodyKind::Json && json.len() <= PARSE_TEXT_MAX {
                            json.extend_from_slice(data);
                        }
                        Vec::new()
                    };
                    self.record(
                        Some(conn),
                        EventKind::Received {
                            bytes: data.len(),
                            frames: frames.clone(),
                        },
                    );
                    for f in frames {
                        match f {
                            Frame::Event { id, data, .. } => self.deliver(conn, id, &data),
                            Frame::Retry { ms } => retry_ms = Some(ms),
                            _ => {}
                        }
                    }
                }
                Some(Err(e)) => break stream_end(&e),
                None => break StreamEnd::Complete,
            }
        };
        parser.finish();
        let complete = how == StreamEnd::Complete;
        self.record(Some(conn), EventKind::StreamEnded { how });
        if let Some(w) = watch {
            // Rule B: not when a call stream ended normally after its answer.
            let answered = w
                .answer
                .is_some_and(|id| self.inner.state.borrow().answered.contains(&id));
            let after = now().saturating_sub(w.opened);
            if after <= DROPPED_EARLY_WITHIN && !(complete && answered) {
                self.warn(conn, w.stream, ClientWarning::DroppedEarly { after });
            }
        }
        BodyRead {
            bytes: got,
            json: (complete && kind == BodyKind::Json && json.len() <= PARSE_TEXT_MAX)
                .then_some(json),
            complete,
            retry_ms,
        }
    }

    fn warn(&self, conn: ConnId, stream: &str, warning: ClientWarning) {
        self.record(
            Some(conn),
            EventKind::ClientWarned {
                stream: stream.to_string(),
                warning,
            },
        );
    }

    /// Hands one SSE event to the application, unless its id was already delivered in this
    /// session. Events without data (priming events) carry no message.
    fn deliver(&self, conn: ConnId, event_id: Option<String>, data: &str) {
        if crate::sse::is_blank(data) {
            return;
        }
        if let Some(id) = &event_id {
            let mut st = self.inner.state.borrow_mut();
            let session = st.conn_sessions.get(&conn).cloned().unwrap_or_default();
            if !st.delivered.insert((session, id.clone())) {
                return; // a replayed duplicate
            }
        }
        let msg = serde_json::from_str::<Value>(data).ok();
        let message = match &msg {
            Some(m) => match (m.get("method").and_then(Value::as_str), m.get("id")) {
                (Some(method), _) => method.to_string(),
                (None, Some(id)) => format!("response {id}"),
                (None, None) => "message without method or id".to_string(),
            },
            None => "invalid JSON".to_string(),
        };
        self.record(
            Some(conn),
            EventKind::MessageDelivered { event_id, message },
        );
        if let Some(m) = &msg {
            if let Some(id) = response_id(m) {
                self.answered(conn, id, outcome(m));
            }
        }
    }

    /// Records the first answer to request `id`.
    fn answered(&self, conn: ConnId, id: u64, outcome: String) {
        if self.inner.state.borrow_mut().answered.insert(id) {
            self.record(Some(conn), EventKind::RpcAnswered { id, outcome });
        }
    }
}

/// Rule A on one connection: when the next missed-keepalive warning is due.
struct Silence {
    expected: Duration,
    /// The last body byte (or the response headers).
    since: Duration,
    due: Duration,
}

impl Silence {
    /// Silence starting at `since` (the response headers).
    fn new(since: Duration, expected: Duration) -> Self {
        Silence {
            expected,
            since,
            due: since + expected + expected / 2,
        }
    }

    /// A body byte arrived at `at`.
    fn heard(&mut self, at: Duration) {
        *self = Silence::new(at, self.expected);
    }

    /// The warning due at `at`; the next one is due an interval later.
    fn missed(&mut self, at: Duration) -> ClientWarning {
        self.due += self.expected;
        ClientWarning::MissedKeepalive {
            silent: at.saturating_sub(self.since),
            expected: self.expected,
        }
    }
}

/// The delay before reconnection attempt `failures + 1`: the server's `retry` when it sent
/// one, else the policy's `initial`, doubled per consecutive failure, at most `max`.
fn backoff(policy: &ReconnectPolicy, retry_ms: Option<u64>, failures: u32) -> Duration {
    let base = retry_ms.map_or(policy.initial, Duration::from_millis);
    let factor = 1u32.checked_shl(failures).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(policy.max)
}

fn body_kind<B>(response: &hyper::Response<B>) -> BodyKind {
    let ct = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ct.starts_with("text/event-stream") {
        BodyKind::Sse
    } else if ct.starts_with("application/json") {
        BodyKind::Json
    } else {
        BodyKind::Other
    }
}

/// The id of a JSON-RPC response (a message with `id` and no `method`).
fn response_id(msg: &Value) -> Option<u64> {
    if msg.get("method").is_some() {
        return None;
    }
    msg.get("id").and_then(Value::as_u64)
}

/// `ok`, or `error <code>: <message>`.
fn outcome(msg: &Value) -> String {
    match msg.get("error") {
        Some(e) => format!(
            "error {}: {}",
            e.get("code").and_then(Value::as_i64).unwrap_or(0),
            e.get("message").and_then(Value::as_str).unwrap_or("")
        ),
        None => "ok".into(),
    }
}

/// How a hyper error ended a response body, in trace words.
pub fn stream_end(e: &hyper::Error) -> StreamEnd {
    if e.is_incomplete_message() {
        return StreamEnd::Truncated;
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionReset => return StreamEnd::Reset,
                // The peer closed before the chunked body's last chunk.
                std::io::ErrorKind::UnexpectedEof => return StreamEnd::Truncated,
                _ => {}
            }
        }
        src = s.source();
    }
    StreamEnd::Error(e.to_string())
}

mod defects;
#[cfg(test)]
mod tests;
