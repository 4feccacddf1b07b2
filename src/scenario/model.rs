//! The validated scenario: what the simulation builder and the runner consume.
//!
//! Produced by [`super::load`] from a file's raw form (see `raw.rs`): every duration parsed,
//! every preset resolved and merged with its overrides, every check's parameters typed.

use crate::check::CheckSpec;
use crate::intermediary::IntermediaryConfig;
use crate::mcp::Revision;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One scenario file, validated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scenario {
    /// Path as given (relative to the working directory when possible); also the test name.
    pub path: String,
    /// `description`: one sentence saying what must hold (not blank).
    pub description: String,
    /// Public report(s) this scenario reproduces, free text.
    pub cites: Option<String>,
    /// MCP protocol revisions the scenario applies to (empty: any).
    pub protocol: Vec<Revision>,
    /// Seed from the file; `--seed` overrides it; default 1.
    pub seed: Option<u64>,
    /// Virtual run time. At the end the client closes every open stream.
    #[serde(with = "crate::time::human")]
    pub duration: Duration,
    /// Simulation tick (timing resolution). Default 1 ms.
    #[serde(with = "crate::time::human")]
    pub tick: Duration,
    /// The chain between client and server, client side first.
    pub intermediaries: Vec<IntermediaryConfig>,
    /// `[server]`: the built-in server's settings (defaults when the file has no table).
    pub server: ServerConfig,
    /// `[client]`: the client's timeline and reconnection policy.
    pub client: ClientConfig,
    /// `[[fault]]` tables, sorted by time (file order for equal times).
    pub faults: Vec<Fault>,
    /// `[[expect]]` tables, in file order, with their parameters typed. The implicit checks
    /// every run is judged by are not listed here (see [`crate::check::implicit`]).
    pub expects: Vec<CheckSpec>,
    /// Known failures, by target name: which checks that target is expected to fail.
    pub expect_fail: BTreeMap<String, Vec<String>>,
    /// Why a target fails, when its `[expect-fail]` table says (`reason`).
    pub expect_fail_reasons: BTreeMap<String, String>,
    /// Command-line options that changed this scenario's settings (`--keepalive off`), so a
    /// failure's reproduce line repeats them.
    #[serde(skip)]
    pub cli_options: Vec<String>,
    /// The implementation keys the file sets, in file order, with where: a target that cannot
    /// honour one of them is refused on this scenario (see [`crate::targets::TargetInfo`]).
    #[serde(skip)]
    pub set_keys: Vec<SetKey>,
    /// Where each `[expect-fail."TARGET"]` table is, by target name.
    #[serde(skip)]
    pub expect_fail_at: BTreeMap<String, Place>,
    /// Known failures declared outside the file (an `--expect` baseline), by target then
    /// check id: where (`FILE:LINE`). Their checks are in [`Self::expect_fail`] too.
    #[serde(skip)]
    pub expected_by: BTreeMap<String, BTreeMap<String, String>>,
}

/// A place in a scenario file: a key path with its line and column.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    /// The key path, e.g. `server.end-after` or `client.step[3].do`.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

/// A key a scenario file sets that configures the implementation under test (a `[server]` or
/// `[client]` key, a kind of client step, a fault): only a target that can honour it runs the
/// scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetKey {
    /// The key as the README's scenario keys table names it: `server.end-after`,
    /// `client.keepalive-expected`, `fault`; a client step kind as `client.step.DO`
    /// (`client.step.reconnect-stream`).
    pub key: &'static str,
    /// Where the file sets it.
    pub at: Place,
}

impl Scenario {
    /// Where the file sets `key`, if it does.
    pub fn sets(&self, key: &str) -> Option<&SetKey> {
        self.set_keys.iter().find(|k| k.key == key)
    }
}

impl Scenario {
    /// The MCP protocol revision the client and server speak in this run: the last one the
    /// scenario lists, else [`Revision::DEFAULT`].
    pub fn revision(&self) -> Revision {
        self.protocol.last().copied().unwrap_or(Revision::DEFAULT)
    }

    /// True when the client timeline speaks MCP (any MCP step), false for plain SSE streams.
    pub fn uses_mcp(&self) -> bool {
        self.client.steps.iter().any(|s| s.action.is_mcp())
    }
}

/// What keepalive frame the reference server writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum KeepaliveFrame {
    /// `:<text>\n\n`, e.g. text `" keepalive"`.
    Comment {
        /// `server.keepalive-comment`: the text after the `:`, one line, may be empty.
        /// Default `" keepalive"`.
        text: String,
    },
    /// `event: <name>\ndata: \n\n` (a named event with empty data; not transparent).
    NamedEvent {
        /// `server.keepalive-event`: the event name, one line, not empty. Default `"ping"`.
        name: String,
    },
}

/// Settings of the built-in server (and, later, options passed to real targets).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerConfig {
    /// Keepalive interval per stream; `None` = off. Default 15s.
    #[serde(with = "crate::time::human_opt")]
    pub keepalive: Option<Duration>,
    /// True when the scenario file sets `keepalive`: real implementations keep their own
    /// default keepalive otherwise.
    #[serde(skip)]
    pub keepalive_set: bool,
    /// Default: comment `" keepalive"`.
    pub keepalive_frame: KeepaliveFrame,
    /// Send `X-Accel-Buffering: no` with SSE responses. Default true.
    pub x_accel_buffering_no: bool,
    /// Delay before response headers. Default 0s.
    #[serde(with = "crate::time::human")]
    pub first_byte_delay: Duration,
    /// End SSE responses cleanly this long after they started; `None` = never.
    pub end_after: Option<EndAfter>,
    /// Events written on every open stream at these times (from the simulation start).
    pub events: Vec<ServerEvent>,
    /// MCP: JSON-RPC notifications sent on every session's GET stream at these times.
    pub notifications: Vec<ServerNotification>,
    /// MCP: keep sent events for `Last-Event-ID` resumption. Default true.
    pub event_store: bool,
    /// MCP (2025-11-25): `retry` sent with the priming event. Default 3s.
    #[serde(with = "crate::time::human_opt")]
    pub retry: Option<Duration>,
    /// MCP: how a GET carrying `Last-Event-ID` is answered. Default: replayed.
    pub resume: ResumeAnswer,
    /// MCP: a session with no request for this long is forgotten (later requests on it are
    /// answered 404), whatever its streams do; `None` (default) = never.
    #[serde(with = "crate::time::human_opt")]
    pub session_idle_timeout: Option<Duration>,
    /// True when the scenario file sets `session-idle-timeout` (real implementations keep
    /// their own default otherwise).
    #[serde(skip)]
    pub session_idle_timeout_set: bool,
    /// True when the scenario file sets `keepalive-frame`, `keepalive-comment` or
    /// `keepalive-event`: real implementations keep their own frame otherwise.
    #[serde(skip)]
    pub keepalive_frame_set: bool,
    /// Deliberate defects of bug-model targets (never set from a scenario file).
    #[serde(skip)]
    pub defects: Defects,
}

/// Deliberate defects a bug-model target switches on in the reference server. Each one is
/// explicit, documented target behaviour, never a special case in a check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Defects {
    /// Streams that replay after `Last-Event-ID` get no keepalive timer
    /// (typescript-sdk PR #1726, review round 1).
    pub replay_without_keepalive: bool,
    /// One keepalive timer slot per session instead of one per stream: a new stream
    /// overwrites the slot without clearing the old timer, and closing any stream clears
    /// whatever timer is in the slot (typescript-sdk PR #1726, later rounds).
    pub shared_keepalive_timer: bool,
    /// MCP SSE connections (GET, POST and replay) arm no per-stream keepalive timer,
    /// whatever `server.keepalive` says (cloudflare/agents#1583: the streaming handler's GET
    /// and POST branches never write after the headers).
    pub no_stream_keepalive: bool,
    /// A transport-level keepalive on every MCP SSE connection: every this long from the
    /// response start it writes the named event `event: ping\ndata: \n\n` (no id). It is
    /// background work of the response (see `background_cancel_after`), a failed write never
    /// clears it, and only the server ending the response (or the cancellation) stops it.
    /// `None` (default): no transport keepalive (cloudflare/agents#1583).
    pub transport_keepalive: Option<Duration>,
    /// Background work of an MCP SSE response (the transport keepalive) is cancelled this
    /// long after its response started, as the Workers runtime cancels work outside
    /// `ctx.waitUntil` after the fetch handler returned; work due at exactly that instant
    /// still runs. `None` (default): never cancelled (cloudflare/agents#1583).
    pub background_cancel_after: Option<Duration>,
    /// A one-GET-per-session guard instead of the reference's supersede: a GET on a session
    /// whose standalone GET stream exists (a new one, or a resumption of it) is refused while
    /// the guard holds. `None` (default): the reference supersedes the older GET (spec rule
    /// G). See [`GetGuard`] for the two released-when variants
    /// (modelcontextprotocol/csharp-sdk#1239, render-oss/render-mcp-server#26).
    pub get_guard: Option<GetGuard>,
    /// On revision 2026-07-28, POST SSE streams arm no keepalive timer (GET and replay
    /// streams, and every other revision, unchanged). Default false
    /// (python-sdk PR #3001 review; FIELD-BUGS 13).
    pub post_without_keepalive_2026: bool,
    /// `Last-Event-ID` is looked up in one event store shared by every session of the host
    /// (event ids from one host-wide counter), without checking that the id's stream belongs
    /// to the requesting session: a guessed id replays, and then attaches, another session's
    /// stream. Default false (GHSA-84j6-jc92-77jm; FIELD-BUGS 15).
    pub replay_crosses_sessions: bool,
    /// A resumption after `Last-Event-ID: L` replays every stored event of the session after
    /// L, whatever stream it belongs to; the stream L belongs to is still the one resumed.
    /// Default false (modelcontextprotocol/servers#4087: the Everything server's
    /// `InMemoryEventStore`; fixed by servers PR #4099).
    pub replay_all_streams: bool,
    /// A resumption of a standalone GET stream replays nothing and attaches its connection to
    /// a stream nothing writes to (the key `''`): later notifications of the GET stream are
    /// stored but never written to it, while its keepalive flows. POST streams resume as
    /// usual. Default false (modelcontextprotocol/typescript-sdk#943, #2560: the example
    /// `InMemoryEventStore`'s `getStreamIdFromEventId` returns `''` for `_GET_stream` ids).
    pub replay_standalone_lost: bool,
}

/// When a server's one-GET-per-session guard lets a new GET through (`Defects::get_guard`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetGuard {
    /// Released only when the session ends: once a session opened its GET stream, every
    /// later GET on it is answered 400, for ever (modelcontextprotocol/csharp-sdk#1239).
    NeverReleased,
    /// Held while the server believes the session's GET stream has a connection: a new GET
    /// is answered 409 until the server notices the old one is dead (its first failed write
    /// to it, or the stream ending from the server's view) (render-oss/render-mcp-server#26).
    UntilNoticed,
}

/// `server.end-after`: the server ends SSE responses cleanly (with the body's terminator, as
/// when it finishes normally) `after` their start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndAfter {
    /// How long after its start a response ends: the span `end-after` gives, or its table's
    /// `after` (> 0). Unit: virtual time span.
    #[serde(with = "crate::time::human")]
    pub after: Duration,
    /// MCP: which kinds of SSE response end (every kind unless the file lists some). Plain
    /// SSE streams all end.
    pub streams: Vec<SseKind>,
}

impl EndAfter {
    /// When a response of `kind` that started at `start` ends, if it does.
    pub fn deadline(&self, kind: SseKind, start: Duration) -> Option<Duration> {
        self.streams.contains(&kind).then_some(start + self.after)
    }
}

/// The kinds of MCP SSE response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SseKind {
    /// A `GET` opening the standalone stream.
    Get,
    /// A `POST` answered with SSE (a tool call).
    Post,
    /// A `GET` with `Last-Event-ID` resuming a stream.
    Replay,
}

impl SseKind {
    /// Every kind, in file order.
    pub const ALL: [SseKind; 3] = [SseKind::Get, SseKind::Post, SseKind::Replay];

    /// The word in files and traces: `get`, `post`, `replay`.
    pub fn word(self) -> &'static str {
        match self {
            SseKind::Get => "get",
            SseKind::Post => "post",
            SseKind::Replay => "replay",
        }
    }
}

/// `server.resume`: how the MCP server answers a `GET` carrying `Last-Event-ID`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResumeAnswer {
    /// Replays the missed events of that stream, then carries it on (the reference).
    #[default]
    Replay,
    /// `200 text/event-stream` ending at once, with no event.
    Empty200,
    /// `404` (session not found).
    Http404,
    /// `500` (internal error).
    Http500,
}

impl ResumeAnswer {
    /// Every answer, in the order the README lists them.
    pub const ALL: [ResumeAnswer; 4] = [
        ResumeAnswer::Replay,
        ResumeAnswer::Empty200,
        ResumeAnswer::Http404,
        ResumeAnswer::Http500,
    ];

    /// The word in files: `replay`, `empty-200`, `http-404`, `http-500`.
    pub fn word(self) -> &'static str {
        match self {
            ResumeAnswer::Replay => "replay",
            ResumeAnswer::Empty200 => "empty-200",
            ResumeAnswer::Http404 => "http-404",
            ResumeAnswer::Http500 => "http-500",
        }
    }
}

/// A JSON-RPC notification the MCP server sends at a scheduled time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerNotification {
    /// `at`: when, from the simulation start (≤ `duration`). Unit: virtual time span.
    #[serde(with = "crate::time::human")]
    pub at: Duration,
    /// e.g. `notifications/tools/list_changed`.
    pub method: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            keepalive: Some(Duration::from_secs(15)),
            keepalive_set: false,
            keepalive_frame: KeepaliveFrame::Comment {
                text: " keepalive".into(),
            },
            x_accel_buffering_no: true,
            first_byte_delay: Duration::ZERO,
            end_after: None,
            events: Vec::new(),
            notifications: Vec::new(),
            event_store: true,
            retry: Some(Duration::from_secs(3)),
            resume: ResumeAnswer::Replay,
            session_idle_timeout: None,
            session_idle_timeout_set: false,
            keepalive_frame_set: false,
            defects: Defects::default(),
        }
    }
}

/// An event the server writes at a scheduled time on every stream open then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerEvent {
    /// `at`: when, from the simulation start (≤ `duration`); a stream opened later does not
    /// get it. Unit: virtual time span.
    #[serde(with = "crate::time::human")]
    pub at: Duration,
    /// Event type (`event:` field); `None` = default `message`.
    pub event: Option<String>,
    /// `id:` field, if any.
    pub id: Option<String>,
    /// `data`: the event's data; each line becomes one `data:` line.
    pub data: String,
}

/// The client's timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClientConfig {
    /// Steps, sorted by time (stable for equal times).
    pub steps: Vec<ClientStep>,
    /// How MCP streams reconnect after a drop.
    pub reconnect: ReconnectPolicy,
    /// MCP: the keepalive interval the client expects on its SSE connections; it warns
    /// (`MissedKeepalive`) after 1.5 × this of silence, then after each further interval.
    /// `None` = no keepalive warnings. Default 30s.
    #[serde(with = "crate::time::human_opt")]
    pub keepalive_expected: Option<Duration>,
}

/// The keepalive interval the MCP client expects when a scenario names none.
pub const DEFAULT_KEEPALIVE_EXPECTED: Duration = Duration::from_secs(30);

impl ClientConfig {
    /// The timeline's tool calls as `(at, tool-duration)`, in order (for `rpc.answered`).
    pub fn tool_calls(&self) -> Vec<(Duration, Duration)> {
        self.steps
            .iter()
            .filter_map(|s| match &s.action {
                ClientAction::CallTool { duration, .. } => Some((s.at, *duration)),
                _ => None,
            })
            .collect()
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            steps: Vec::new(),
            reconnect: ReconnectPolicy::default(),
            keepalive_expected: Some(DEFAULT_KEEPALIVE_EXPECTED),
        }
    }
}

/// MCP client reconnection: bounded exponential backoff, honouring the server's `retry`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReconnectPolicy {
    /// Reconnect dropped MCP streams at all. Default true.
    pub enabled: bool,
    /// First delay (or the server's `retry`, when it sent one). Default 1s.
    #[serde(with = "crate::time::human")]
    pub initial: Duration,
    /// Largest delay; each consecutive failure doubles the delay up to this. Default 30s.
    #[serde(with = "crate::time::human")]
    pub max: Duration,
    /// Consecutive failed attempts before giving up. Default 5.
    pub attempts: u32,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            attempts: 5,
        }
    }
}

/// `[[client.step]]`: one thing the client does, and when.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClientStep {
    /// `at`: when, from the simulation start (≤ `duration`). Unit: virtual time span.
    #[serde(with = "crate::time::human")]
    pub at: Duration,
    /// `do`, with the keys that kind of step takes.
    pub action: ClientAction,
}

/// What a client step does: its `do` key (`open-stream`, `call-tool`, ...) and that kind's
/// keys. `stream` names a stream for later steps and for checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "do")]
pub enum ClientAction {
    /// Open a GET SSE stream named `stream` on `path`.
    OpenStream {
        /// `stream`: a name no stream open at this time has. Default `"main"`.
        stream: String,
        /// `path`: the request path, starting with `/`. Default `"/sse"`.
        path: String,
    },
    /// Close the named stream from the client side.
    CloseStream {
        /// `stream`: a stream an earlier `open-stream`, `open-get-stream` or `call-tool` step
        /// opened and no `close-stream` closed since. Default `"main"`.
        stream: String,
    },
    /// MCP: POST `initialize` (JSON answer), then `notifications/initialized`; the client
    /// keeps the session id.
    Initialize,
    /// MCP: open the standalone GET SSE stream, named `stream` (default `get`); it is
    /// resumed with `Last-Event-ID` after a drop. `last_event_id`: sent with the first
    /// request already (a guessed id, GHSA-84j6-jc92-77jm); default none.
    OpenGetStream {
        /// `stream`: a name no stream open at this time has. Default `"get"`.
        stream: String,
        /// `last-event-id`: the `Last-Event-ID` the first request carries, visible ASCII
        /// without spaces; `None` (default): a fresh GET stream.
        last_event_id: Option<String>,
    },
    /// MCP: POST `tools/call` of the built-in `sleep` tool, which runs `duration` and sends a
    /// progress notification every `progress_every`; answered over SSE on a stream named
    /// `stream` (default `call`).
    CallTool {
        /// `stream`: a name no stream open at this time has. Default `"call"`.
        stream: String,
        /// `tool-duration`: how long the tool runs before it answers (required). Unit:
        /// virtual time span.
        #[serde(with = "crate::time::human")]
        duration: Duration,
        /// `progress-every`: the interval between the tool's `notifications/progress`
        /// messages (> 0, at least one tick); `None` (default): no progress notifications.
        /// Unit: virtual time span.
        #[serde(with = "crate::time::human_opt")]
        progress_every: Option<Duration>,
    },
    /// MCP: drop the GET stream `stream`'s connection (if one is open) and reconnect it at
    /// once with `Last-Event-ID: last_event_id`; its reconnections go on from there.
    ReconnectStream {
        /// `stream`: a GET stream an earlier `open-get-stream` step opened and no
        /// `close-stream` closed since. Default `"get"`.
        stream: String,
        /// `last-event-id`: the `Last-Event-ID` the stream reconnects with, visible ASCII
        /// without spaces (required).
        last_event_id: String,
    },
    /// MCP: POST `ping` (JSON answer).
    Ping,
    /// MCP: DELETE the session.
    DeleteSession,
}

impl ClientAction {
    /// True for the MCP steps (everything but plain `open-stream` / `close-stream`).
    pub fn is_mcp(&self) -> bool {
        !matches!(
            self,
            ClientAction::OpenStream { .. } | ClientAction::CloseStream { .. }
        )
    }
}

/// A scheduled fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// `at`: when, from the simulation start (≤ `duration`). Unit: virtual time span.
    #[serde(with = "crate::time::human")]
    pub at: Duration,
    /// `do`, with the hosts it names.
    pub kind: FaultKind,
}

/// Faults between two hosts (by name: `client`, `server`, an intermediary's name) or on the
/// server host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "fault")]
pub enum FaultKind {
    /// Drop every message between `a` and `b` until repaired.
    Partition {
        /// `a`: one host of the link.
        a: String,
        /// `b`: the other host of the link, not `a`.
        b: String,
    },
    /// Undo a partition.
    Repair {
        /// `a`: one host of the link.
        a: String,
        /// `b`: the other host of the link, not `a`.
        b: String,
    },
    /// Hold (delay) messages between `a` and `b` until released.
    Hold {
        /// `a`: one host of the link.
        a: String,
        /// `b`: the other host of the link, not `a`.
        b: String,
    },
    /// Deliver held messages.
    Release {
        /// `a`: one host of the link.
        a: String,
        /// `b`: the other host of the link, not `a`.
        b: String,
    },
    /// Crash a host (its connections die with it).
    Crash {
        /// `host`: the host to crash.
        host: String,
    },
    /// Restart a crashed host.
    Bounce {
        /// `host`: the host to restart.
        host: String,
    },
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultKind::Partition { a, b } => write!(f, "partition {a} ↔ {b}"),
            FaultKind::Repair { a, b } => write!(f, "repair {a} ↔ {b}"),
            FaultKind::Hold { a, b } => write!(f, "hold {a} ↔ {b}"),
            FaultKind::Release { a, b } => write!(f, "release {a} ↔ {b}"),
            FaultKind::Crash { host } => write!(f, "crash {host}"),
            FaultKind::Bounce { host } => write!(f, "bounce {host}"),
        }
    }
}
