//! The trace: the ordered events of one run, stamped with virtual time only.
//!
//! ```text
//!  client host ──┐      intermediary hosts      ┌── server host
//!                ▼              ▼               ▼
//!            Recorder::record(host, conn, EventKind)   (one shared, ordered log)
//!                               │
//!                               ▼
//!                 Trace ──▶ checks (read only this)  ──▶ verdicts
//!                   └─────▶ render_text / JSON     ──▶ snapshots/
//! ```
//!
//! Events carry the host name (`client`, `server`, or the intermediary's name) and a stable
//! connection id (`conn#N`, numbered by the client in the order it opens connections), never
//! an OS port, address or wall-clock time. Names are past tense: what happened.

mod budget;
mod render;

pub use budget::{Budget, EVENT_BYTES};
pub use render::{describe, render_text};

use crate::sse::Frame;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A stable connection id, `conn#N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ConnId(pub u32);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// Which way bytes flow through an intermediary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// From the client towards the server (requests).
    Upstream,
    /// From the server towards the client (responses, SSE frames).
    Downstream,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Upstream => "upstream",
            Direction::Downstream => "downstream",
        })
    }
}

/// Who ended a connection or stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Closer {
    /// The client side: the client closed it, or an intermediary saw its downstream end.
    Client,
    /// The server side: an intermediary saw its upstream end and closed downstream.
    Server,
    /// An intermediary, by name.
    Intermediary(String),
    /// A simulated fault (crash, partition).
    Fault,
}

/// How the client saw a response body end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamEnd {
    /// The body ended with its terminator (last chunk / full content length).
    Complete,
    /// The connection ended before the body's terminator (truncated chunked body).
    Truncated,
    /// The connection was reset.
    Reset,
    /// Any other transport error, with its message.
    Error(String),
}

/// One limit of an intermediary, as configured; checks use these to say which limit a gap
/// crossed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Limit {
    /// Behavior kind, e.g. `idle-timeout`, `max-duration`, `first-byte-timeout`.
    pub behavior: String,
    /// The limit itself.
    #[serde(with = "crate::time::human")]
    pub after: Duration,
    /// What the limit watches, in words (e.g. `upstream silence`).
    pub watches: String,
}

/// What happened. Every variant is a past-tense fact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EventKind {
    // ── topology ──────────────────────────────────────────────────────────────
    /// An intermediary host started with these behaviors.
    IntermediaryStarted {
        /// The preset it started from (e.g. `nginx`), if any.
        preset: Option<String>,
        /// One summary per behavior, e.g. `first-byte-timeout 30s (response headers) → http-503`.
        behaviors: Vec<String>,
        /// The time limits its behaviors enforce.
        limits: Vec<Limit>,
    },
    /// A scheduled fault was applied by the simulation.
    FaultApplied {
        /// The fault in words, e.g. `crash server`, `partition client ↔ nginx`.
        fault: String,
    },

    // ── client ────────────────────────────────────────────────────────────────
    /// The client opened a connection for a named stream, through this route.
    ConnOpened {
        /// The client's name for it: a step's stream (e.g. `get`) or an MCP request (`ping`).
        stream: String,
        /// The hosts after the client, in order, ending with `server`.
        route: Vec<String>,
    },
    /// The client could not connect.
    ConnFailed {
        /// The client's name for the connection, as in `ConnOpened`.
        stream: String,
        /// Why the connect failed, in words.
        error: String,
    },
    /// The client sent a request head.
    RequestSent {
        /// The HTTP method, e.g. `GET`.
        method: String,
        /// The request target: the path (e.g. `/mcp`) and its query, if any.
        path: String,
        /// The `Last-Event-ID` header sent, if any.
        last_event_id: Option<String>,
    },
    /// The client received response headers.
    ResponseReceived {
        /// The HTTP status code, e.g. 200.
        status: u16,
        /// The `Content-Type` header, if the response had one.
        content_type: Option<String>,
    },
    /// The client received a chunk of the body and parsed these frames from it.
    Received {
        /// The body bytes in this chunk.
        bytes: usize,
        /// The SSE frames this chunk completed; none for a body that is not SSE.
        frames: Vec<Frame>,
    },
    /// The client saw the response body end.
    StreamEnded {
        /// How the body ended.
        how: StreamEnd,
    },
    /// A connection was closed (by whom, and why in words).
    ConnClosed {
        /// Which side ended it.
        by: Closer,
        /// Why, in words, e.g. `scenario ended`, `upstream closed; closing downstream`.
        reason: String,
    },

    /// MCP client: a JSON-RPC request or notification was sent (`id` None for notifications).
    RpcSent {
        /// The JSON-RPC method, e.g. `tools/call`.
        method: String,
        /// The JSON-RPC request id; None for a notification.
        id: Option<u64>,
    },
    /// MCP client: the answer to request `id` reached the application (`outcome`: `ok`,
    /// `error <code>: <message>`, or `http <status>`).
    RpcAnswered {
        /// The id of the request answered, as in `RpcSent`.
        id: u64,
        /// `ok`, `error <code>: <message>`, or `http <status>`.
        outcome: String,
    },
    /// MCP client: the server assigned this session.
    SessionEstablished {
        /// The session id, from the server's `Mcp-Session-Id` header.
        session: String,
    },
    /// MCP client: a server message reached the application (`message`: the notification's
    /// method, or `response <id>`), with the SSE event id it came in, if any.
    MessageDelivered {
        /// The id of the SSE event that carried it, if it had one.
        event_id: Option<String>,
        /// The notification's method, or `response <id>`.
        message: String,
    },
    /// MCP client: a dropped stream will be reopened after `after`.
    Reconnecting {
        /// The client's name for the stream, as in `ConnOpened`.
        stream: String,
        /// The number of this reconnection attempt, from 1.
        attempt: u32,
        /// How long the client waits before it reconnects (virtual time).
        #[serde(with = "crate::time::human")]
        after: Duration,
        /// The `Last-Event-ID` it will resume from, if any.
        last_event_id: Option<String>,
    },
    /// MCP client: the stream is given up after `attempts` failed reconnections.
    GaveUp {
        /// The client's name for the stream, as in `ConnOpened`.
        stream: String,
        /// How many reconnection attempts in a row failed.
        attempts: u32,
    },
    /// A client implementation could not take a timeline step (`step`: its `do`), saying why;
    /// the run goes on without it.
    StepRefused {
        /// The step's `do`, e.g. `initialize`.
        step: String,
        /// The implementation's reason, in its own words.
        reason: String,
    },
    /// MCP client: the client logged an operational warning about a stream (MP-301g
    /// module 3: missed keepalives, suspected buffering by an intermediary).
    ClientWarned {
        /// The client's name for the stream, as in `ConnOpened`.
        stream: String,
        /// What the client warned of.
        warning: ClientWarning,
    },
    /// MCP client: the stream changed how it receives server messages, after `failures`
    /// consecutive failed SSE connections (MP-301g module 3: long-polling fallback).
    ModeSwitched {
        /// The client's name for the stream, as in `ConnOpened`.
        stream: String,
        /// How the stream receives server messages from now on.
        to: StreamMode,
        /// How many SSE connections in a row failed.
        failures: u32,
    },

    // ── server ────────────────────────────────────────────────────────────────
    /// MCP server: a JSON-RPC message was received (`id` None for notifications).
    RpcReceived {
        /// The JSON-RPC method; `(response)` for a message without one.
        method: String,
        /// The JSON-RPC id, if numeric; None for a notification.
        id: Option<u64>,
        /// The request's `Mcp-Session-Id` header, if any.
        session: Option<String>,
    },
    /// MCP server: a session was created by `initialize`.
    SessionCreated {
        /// The new session's id (e.g. `s1`), sent as `Mcp-Session-Id`.
        session: String,
    },
    /// MCP server: a session was terminated (DELETE).
    SessionTerminated {
        /// The terminated session's id.
        session: String,
    },
    /// MCP server: a session was forgotten after `idle` without a request
    /// (`server.session-idle-timeout`); later requests on it are answered 404.
    SessionExpired {
        /// The expired session's id.
        session: String,
        /// How long it went without a request: `server.session-idle-timeout` (virtual time).
        #[serde(with = "crate::time::human")]
        idle: Duration,
    },
    /// MCP server: this connection carries server stream `stream` (`kind`: `get`, `post`,
    /// `replay`, `poll`) of `session`. Event ids are unique across a session's streams.
    StreamAttached {
        /// The server's name for the stream within its session, e.g. `g1` (GET), `p1` (POST).
        stream: String,
        /// `get`, `post`, `replay` or `poll`.
        kind: String,
        /// The session's id; `none` on a revision without sessions.
        session: String,
    },
    /// MCP server: replay of `events` stored events of `stream` after event id `after`.
    ReplayStarted {
        /// The server's name for the stream replayed, as in `StreamAttached`.
        stream: String,
        /// The `Last-Event-ID` the request carried.
        after: String,
        /// How many stored events are replayed.
        events: usize,
    },
    /// The server received a request head.
    RequestReceived {
        /// The HTTP method, e.g. `POST`.
        method: String,
        /// The request path, e.g. `/mcp` (with its query, on some targets).
        path: String,
    },
    /// The server sent response headers.
    ResponseStarted {
        /// The HTTP status code, e.g. 200.
        status: u16,
        /// The `Content-Type` header, if the response had one.
        content_type: Option<String>,
        /// Every response header as (lowercase name, value).
        headers: Vec<(String, String)>,
    },
    /// The server wrote an SSE frame (`timer` set when a keepalive timer wrote it).
    FrameWritten {
        /// The frame written; the trace keeps long texts cut.
        frame: Frame,
        /// The id of the keepalive timer that wrote it, if one did.
        timer: Option<u32>,
    },
    /// The server armed a keepalive timer for a stream.
    TimerArmed {
        /// The timer's id (`timer#N`), unique on the server host.
        timer: u32,
        /// How often it fires (virtual time).
        #[serde(with = "crate::time::human")]
        every: Duration,
    },
    /// The server cleared a keepalive timer.
    TimerCleared {
        /// The id of the timer cleared, as in `TimerArmed`.
        timer: u32,
    },
    /// The server failed to write a frame: the stream was already closed (the client is gone,
    /// or the response ended), or the frame could not be encoded (`error` says which).
    WriteFailed {
        /// The id of the keepalive timer that tried to write, if one did.
        timer: Option<u32>,
        /// What failed, in words, e.g. `response body closed (client gone)`.
        error: String,
    },
    /// The server ended the response body on purpose.
    ResponseEnded,
    /// MCP server: an event of `stream` no connection took (none carries the stream): kept
    /// for a `Last-Event-ID` replay, or lost when the server keeps no events (`kept` false).
    EventHeldBack {
        /// The server's name for the stream, as in `StreamAttached`.
        stream: String,
        /// The session's id; `none` on a revision without sessions.
        session: String,
        /// The event id the server gave it.
        id: String,
        /// The event's `data`.
        data: String,
        /// True when the event store keeps it for a replay; false when it is lost.
        kept: bool,
    },
    /// MCP server: the implementation refused to send a notification the scenario scheduled
    /// (`[[server.notification]]`) to `session`, with its own reason. The run has an error.
    NotificationRefused {
        /// The notification's JSON-RPC method.
        method: String,
        /// The session it was for, if the implementation said.
        session: Option<String>,
        /// The implementation's reason (its error message).
        reason: String,
    },
    /// A server process (`exec:`) exited before the run ended: its exit code or the signal
    /// that ended it, and the last lines it wrote (stdout and stderr).
    ServerExited {
        /// The exit code, if the process exited by itself.
        code: Option<i32>,
        /// The number of the signal that ended it, if one did.
        signal: Option<i32>,
        /// The last lines it wrote, at most 5, oldest first.
        output_tail: Vec<String>,
    },

    // ── intermediary ──────────────────────────────────────────────────────────
    /// Bytes passed through an intermediary (`note` says what it did with them).
    Forwarded {
        /// Which way the bytes went.
        direction: Direction,
        /// How many bytes were passed on.
        bytes: usize,
        /// What they were or how they were delayed, e.g. `response head, status 200; delayed 2s`.
        note: Option<String>,
    },
    /// Response bytes were held back by buffering.
    Buffered {
        /// The bytes of this chunk now held.
        bytes: usize,
        /// All bytes held on the connection now, this chunk's included.
        held: usize,
    },
    /// Held response bytes were released.
    Flushed {
        /// How many held bytes were sent on downstream.
        bytes: usize,
        /// What released them, e.g. `upstream ended`.
        why: String,
    },
    /// An intermediary answered the client itself (e.g. a 504) instead of the server.
    IntermediaryResponded {
        /// The HTTP status it answered with, e.g. 504.
        status: u16,
        /// The behavior that decided, by kind; `upstream-connect` if the next hop was unreachable.
        behavior: String,
        /// Why, in words, e.g. `idle-timeout 60s (upstream silent since 00:00:01.003)`.
        reason: String,
    },
    /// An intermediary closed the connection on both sides.
    IntermediaryClosed {
        /// The behavior that decided, by kind, e.g. `idle-timeout`.
        behavior: String,
        /// How it closed: `fin` or `rst`.
        action: String,
        /// Why, in words, e.g. `idle-timeout 60s (upstream silent since 00:00:01.003)`.
        reason: String,
    },
    /// An intermediary stopped forwarding but kept the sockets open.
    IntermediaryBlackholed {
        /// The behavior that decided, by kind, e.g. `idle-timeout`.
        behavior: String,
        /// Why, in words.
        reason: String,
    },

    // ── harness ───────────────────────────────────────────────────────────────
    /// The harness stopped the run before the scenario's end (host `harness`): which guard
    /// tripped, and why; nothing after this instant is observed.
    RunStopped {
        /// The guard that tripped.
        guard: StopGuard,
        /// The diagnosis: what was recorded, the last event, and the likely cause.
        reason: String,
    },
}

/// Which of the recorder's guards stopped a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopGuard {
    /// Too many events at one instant or within one second: a target writing without pause
    /// (on virtual time, the sign of a timer reading the real clock).
    Stall,
    /// The run recorded more than its byte budget.
    Budget,
}

/// An operational warning the MCP client logs (MP-301g module 3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "warning", rename_all = "kebab-case")]
pub enum ClientWarning {
    /// Nothing arrived on the stream for `silent`, longer than the keepalive interval the
    /// client expects (`expected`) allows.
    MissedKeepalive {
        /// How long the stream had been silent, since its last byte or its headers.
        #[serde(with = "crate::time::human")]
        silent: Duration,
        /// The keepalive interval the client expects: `client.keepalive-expected`.
        #[serde(with = "crate::time::human")]
        expected: Duration,
    },
    /// Buffering suspected: the SSE connection dropped `after` it was opened, within the
    /// first 60 s.
    DroppedEarly {
        /// How long after it was opened the connection dropped (virtual time).
        #[serde(with = "crate::time::human")]
        after: Duration,
    },
    /// Buffering suspected: no body byte had arrived `after` the connection was opened (a
    /// primed stream, whose server writes first).
    SlowFirstData {
        /// How long the client waited for a first body byte before it warned: 5 s.
        #[serde(with = "crate::time::human")]
        after: Duration,
    },
}

/// How an MCP client stream receives server messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamMode {
    /// One long-lived SSE response.
    Sse,
    /// Short requests at a fixed interval, each answered with what is pending.
    LongPolling,
}

/// One event of a trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Virtual time since the start of the simulation.
    #[serde(serialize_with = "ser_stamp")]
    pub at: Duration,
    /// `client`, `server`, or an intermediary's name.
    pub host: String,
    /// The connection this event belongs to, if any.
    pub conn: Option<ConnId>,
    /// What happened; its fields sit beside `at`, `host` and `conn` in the JSON.
    #[serde(flatten)]
    pub kind: EventKind,
}

fn ser_stamp<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::stamp(*d))
}

/// The events of one run, in the order they happened.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Trace {
    /// The events, in the order they were recorded.
    pub events: Vec<Event>,
}

impl Trace {
    /// Events of one connection, in order.
    pub fn conn(&self, conn: ConnId) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(move |e| e.conn == Some(conn))
    }

    /// The connections the client opened, with their stream names, in order.
    pub fn streams(&self) -> Vec<(ConnId, String, Duration)> {
        self.events
            .iter()
            .filter_map(|e| match (&e.kind, e.conn) {
                (EventKind::ConnOpened { stream, .. }, Some(c)) if e.host == "client" => {
                    Some((c, stream.clone(), e.at))
                }
                _ => None,
            })
            .collect()
    }

    /// When the harness stopped the run before the scenario's end, if it did.
    pub fn stopped_at(&self) -> Option<Duration> {
        self.stop().map(|(at, _)| at)
    }

    /// When and by which guard the harness stopped the run, if it did.
    pub fn stop(&self) -> Option<(Duration, StopGuard)> {
        self.events.iter().find_map(|e| match e.kind {
            EventKind::RunStopped { guard, .. } => Some((e.at, guard)),
            _ => None,
        })
    }

    /// The limits every intermediary announced when it started, by intermediary name.
    pub fn limits(&self) -> Vec<(String, Limit)> {
        let mut out = Vec::new();
        for e in &self.events {
            if let EventKind::IntermediaryStarted { limits, .. } = &e.kind {
                if out.iter().any(|(h, _): &(String, Limit)| h == &e.host) {
                    continue; // a restarted host announces itself again
                }
                out.extend(limits.iter().map(|l| (e.host.clone(), l.clone())));
            }
        }
        out
    }

    /// JSON rendering (pretty, stable key order).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("trace serializes")
    }
}

/// The shared, ordered log every host of one simulation writes to.
///
/// turmoil runs all hosts on one thread, one after another, so the order of `record` calls
/// is the simulation's own deterministic order. [`Recorder::record`] stamps an event with the
/// clock the recorder was made with (the simulation's virtual clock; see [`Clock`]).
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Vec<Event>>>,
    stall: Arc<Mutex<Stall>>,
    clock: Clock,
}

/// Where a recorder reads the time of an event recorded now: virtual time since the run
/// started. The simulation passes its own (`sim::now`); the trace layer reads no clock.
pub type Clock = fn() -> Duration;

/// The clock of a recorder outside a simulation: every event at zero.
fn zero() -> Duration {
    Duration::ZERO
}

impl Default for Recorder {
    fn default() -> Self {
        Self::with_clock(zero)
    }
}

/// Events recorded at one virtual instant, and within one virtual second: a target whose
/// timers read the real clock can write without end while virtual time stands still (or
/// crawls, one link tick at a time, as the links' windows fill and drain). Past
/// [`STALL_LIMIT`] events at one instant, or [`RATE_LIMIT`] within one virtual second, the
/// recorder keeps no more events and reports the stall (both engines stop the run with it).
/// The same trip stops a run past its byte budget ([`Budget`]: a target writing far more than
/// any scenario needs, e.g. a flood on real time), so memory stays bounded.
#[derive(Default)]
struct Stall {
    at: Duration,
    count: u64,
    /// The whole virtual second `second_count` counts events of.
    second: u64,
    /// Events per connection (index: conn id + 1; 0 for events of no connection), each as
    /// (the virtual second it counts, its count): a flood is one connection's. A slot of an
    /// older second counts from zero again, so nothing is cleared per second (this runs for
    /// every event recorded).
    per_conn: Vec<(u64, u64)>,
    /// The count of the connection of the event being recorded.
    second_count: u64,
    /// When the run was stopped.
    stopped_at: Option<Duration>,
    /// The diagnosis, once tripped.
    tripped: Option<String>,
    waker: Option<std::task::Waker>,
    /// How the run's targets keep time: what a stall most likely means.
    clock: TargetClock,
    /// The run's tick (for the diagnosis).
    tick: Duration,
    /// What the run may record, and what it has (see [`Budget`]).
    budget: Budget,
    spend: budget::Spend,
}

/// The host name of events the harness itself records ([`EventKind::RunStopped`]).
pub const HARNESS: &str = "harness";

/// How the targets of a run keep time: what a stall or a flood most likely means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum TargetClock {
    /// In-process, on tokio's clock (virtual time).
    #[default]
    Tokio,
    /// A process whose timers a clock shim fakes (virtual time through an adapter).
    Shim,
    /// A process on the wall clock (`exec:`): the run is paced to real time.
    Real,
}

/// What a stall diagnosis says is the likely cause, by how the targets keep time.
fn stall_cause(clock: TargetClock, tick: Duration, stood_still: bool) -> String {
    let real_clock = "A target whose timers read the real clock (std::time::Instant or \
                      SystemTime) instead of tokio's";
    match (clock, stood_still) {
        (TargetClock::Tokio, true) => {
            format!("{real_clock} keeps firing without virtual time advancing")
        }
        (TargetClock::Tokio, false) => format!(
            "{real_clock} keeps firing while virtual time only advances tick by tick, or a \
             timer repeats far faster than the tick ({})",
            crate::time::span(tick)
        ),
        (TargetClock::Shim, true) => "The implementation writes without waiting on a timer \
             (zero-delay timers, immediate callbacks or I/O run on its real event loop \
             between syncs), so virtual time cannot advance"
            .into(),
        (TargetClock::Shim, false) => {
            "The implementation writes on a very short timer, or without pause".into()
        }
        (TargetClock::Real, _) => "The run is paced to the wall clock: the target really wrote \
             this fast, without pause (a flood)"
            .into(),
    }
}

/// Events at one virtual instant beyond which a run counts as stalled.
pub const STALL_LIMIT: u64 = 200_000;

/// Events of one connection within one whole virtual second beyond which a run counts as
/// stalled. The busiest scenario × target pair recorded 38 events in one virtual second; a
/// keepalive flood records tens of thousands on its connection (counting per connection keeps
/// 10,000 legitimate streams opening in the same second far below it).
pub const RATE_LIMIT: u64 = 50_000;

impl Recorder {
    /// A recorder outside a simulation: [`Recorder::record`] stamps every event at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// A recorder whose [`Recorder::record`] stamps events with `clock`.
    pub fn with_clock(clock: Clock) -> Self {
        Self {
            inner: Arc::default(),
            stall: Arc::default(),
            clock,
        }
    }

    /// Records an event at virtual time `at`: kept cut (long texts, see `budget::keep`) and
    /// charged to the run's byte budget; the guards stop the run past a stall or the budget.
    pub fn record_at(&self, at: Duration, host: &str, conn: Option<ConnId>, kind: EventKind) {
        let kind = {
            let mut st = self.stall.lock().expect("stall lock");
            if st.tripped.is_some() {
                return;
            }
            if st.at == at {
                st.count += 1;
            } else {
                st.at = at;
                st.count = 1;
            }
            let second = at.as_secs();
            st.second = second;
            let slot = conn.map_or(0, |c| c.0 as usize + 1);
            if st.per_conn.len() <= slot {
                st.per_conn.resize(slot + 1, (0, 0));
            }
            let n = &mut st.per_conn[slot];
            if n.0 != second {
                *n = (second, 0);
            }
            n.1 += 1;
            st.second_count = n.1;
            // A burst (nearly) all at one instant is reported as standing still (below).
            let one_instant = st.count * 10 >= st.second_count * 9;
            let kind_kept = budget::keep(kind);
            let cost = budget::cost(&kind_kept);
            st.spend.charge(conn, cost);
            let last = || {
                let mut d = render::describe(&Event {
                    at,
                    host: host.to_string(),
                    conn,
                    kind: kind_kept.clone(),
                });
                if d.len() > 200 {
                    d.truncate(d.floor_char_boundary(200));
                    d.push('…');
                }
                let on = conn.map(|c| format!(" on {c}")).unwrap_or_default();
                format!("{host}{on}: {d}")
            };
            let realtime = st.clock == TargetClock::Real;
            let diagnosis = if !one_instant && st.second_count > RATE_LIMIT {
                let within = if realtime {
                    "second of real time"
                } else {
                    "virtual second"
                };
                Some((
                    StopGuard::Stall,
                    format!(
                        "{} at {}: {RATE_LIMIT} events of {} were recorded within the {within} \
                     {}–{}, the last by {}. {}; the run was stopped",
                        if realtime {
                            "events flooded"
                        } else {
                            "virtual time crawled"
                        },
                        crate::time::stamp(at),
                        conn.map_or_else(|| "no connection".to_string(), |c| c.to_string()),
                        crate::time::stamp(Duration::from_secs(second)),
                        crate::time::stamp(Duration::from_secs(second + 1)),
                        last(),
                        stall_cause(st.clock, st.tick, false)
                    ),
                ))
            } else if st.count > STALL_LIMIT || (one_instant && st.second_count > RATE_LIMIT) {
                Some((
                    StopGuard::Stall,
                    format!(
                    "{} at {}: {} events were recorded at that instant, the last by {}. {}; the \
                     run was stopped",
                    if realtime {
                        "events flooded"
                    } else {
                        "virtual time stood still"
                    },
                    crate::time::stamp(at),
                    st.count,
                    last(),
                    stall_cause(st.clock, st.tick, true)
                ),
                ))
            } else if st.spend.total > st.budget.bytes {
                let (top, share) = st.spend.top();
                let cause = if realtime {
                    "The target wrote without pause (a flood), on real time"
                } else {
                    "A target wrote far more than any scenario needs"
                };
                Some((
                    StopGuard::Budget,
                    format!(
                        "byte budget exhausted at {}: the run recorded {} in {} events ({}% of it \
                     {}; each event counts {EVENT_BYTES} bytes, its texts and the bytes it \
                     moved), over its budget of {} ({}); the last event by {}. {cause}; the \
                     run was stopped",
                        crate::time::stamp(at),
                        budget::size(st.spend.total),
                        st.spend.events,
                        share,
                        top.map_or_else(|| "on no connection".to_string(), |c| format!("on {c}")),
                        budget::size(st.budget.bytes),
                        st.budget.rule,
                        last(),
                    ),
                ))
            } else {
                None
            };
            if let Some((guard, d)) = diagnosis {
                st.tripped = Some(d.clone());
                st.stopped_at = Some(at);
                if let Some(w) = st.waker.take() {
                    w.wake();
                }
                drop(st);
                self.inner.lock().expect("trace lock").push(Event {
                    at,
                    host: HARNESS.to_string(),
                    conn: None,
                    kind: EventKind::RunStopped { guard, reason: d },
                });
                return;
            }
            kind_kept
        };
        self.inner.lock().expect("trace lock").push(Event {
            at,
            host: host.to_string(),
            conn,
            kind,
        });
    }

    /// Tells the guards how the run's targets keep time and its tick (what a stall most
    /// likely means), and the run's byte budget.
    pub fn set_guard(&self, clock: TargetClock, tick: Duration, budget: Budget) {
        let mut st = self.stall.lock().expect("stall lock");
        st.clock = clock;
        st.tick = tick;
        st.budget = budget;
    }

    /// What the run has recorded so far, and its byte budget (see [`Budget`]).
    pub fn spent(&self) -> (u64, u64) {
        let st = self.stall.lock().expect("stall lock");
        (st.spend.total, st.budget.bytes)
    }

    /// Records an event now, by the recorder's clock (see [`Recorder::with_clock`]).
    pub fn record(&self, host: &str, conn: Option<ConnId>, kind: EventKind) {
        self.record_at((self.clock)(), host, conn, kind);
    }

    /// When the stall guard stopped the run (see [`STALL_LIMIT`], [`RATE_LIMIT`]).
    pub fn stopped_at(&self) -> Option<Duration> {
        self.stall.lock().expect("stall lock").stopped_at
    }

    /// The diagnosis if the run has stalled (see [`STALL_LIMIT`], [`RATE_LIMIT`]).
    pub fn stall(&self) -> Option<String> {
        self.stall.lock().expect("stall lock").tripped.clone()
    }

    /// Resolves with the diagnosis when the run has stalled (see [`STALL_LIMIT`]).
    pub fn stalled(&self) -> impl std::future::Future<Output = String> + '_ {
        std::future::poll_fn(move |cx| {
            let mut st = self.stall.lock().expect("stall lock");
            match &st.tripped {
                Some(d) => std::task::Poll::Ready(d.clone()),
                None => {
                    st.waker = Some(cx.waker().clone());
                    std::task::Poll::Pending
                }
            }
        })
    }

    /// Takes the recorded trace.
    pub fn finish(&self) -> Trace {
        Trace {
            events: std::mem::take(&mut *self.inner.lock().expect("trace lock")),
        }
    }
}

#[cfg(test)]
mod tests;
