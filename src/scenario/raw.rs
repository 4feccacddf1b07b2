//! Pass 1: a scenario file as written, before any cross-checking.
//!
//! These types mirror the file's keys one to one (`#[serde(deny_unknown_fields)]`, kebab-case
//! key names), so an unknown or misspelt key is an error at its own line. Values that carry a
//! type of their own are parsed here too: durations (`"60s"`, `"1m 30s"`, `"250ms"`), close
//! actions (`fin`, `http-504`), enumerated words (`watch = "any"`). Everything that needs the
//! whole file (presets, overrides, host names, check parameters, times within the duration) is
//! pass 2, in `validate.rs`; the fields it looks at are wrapped in [`Spanned`] so its errors
//! point at a line and column too.
//!
//! The doc comment of each field below is the reference for that key (the README's scenario
//! keys table is copied from it).

use crate::intermediary::CloseAction;
use serde::de::{self, Deserializer, MapAccess, Unexpected, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;
use toml::Spanned;

/// A whole scenario file.
///
/// ```toml
/// description = "An idle SSE stream behind nginx's defaults must survive 30 minutes"
/// cites = "typescript-sdk#876"
/// protocol = ["2025-06-18"]
/// seed = 7
/// duration = "30m"
/// tick = "1ms"
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawScenario {
    /// `description`: one sentence saying what must hold. Required.
    pub description: Spanned<String>,
    /// `cites`: public report(s) this scenario reproduces, free text
    /// (`"typescript-sdk#876"`). Optional.
    #[serde(default)]
    pub cites: Option<String>,
    /// `protocol`: MCP revisions the scenario applies to, a list of `"2025-03-26"`,
    /// `"2025-06-18"`, `"2025-11-25"`, `"2026-07-28"`. Optional; empty or absent means any.
    #[serde(default)]
    pub protocol: Vec<Spanned<String>>,
    /// `seed`: the simulation seed, an integer ≥ 0. Optional; `--seed` overrides it;
    /// default 1.
    #[serde(default)]
    pub seed: Option<u64>,
    /// `duration`: virtual run time, a span (`"30m"`). Required; more than 0s and at most
    /// 7 days. At the end the client closes every open stream.
    pub duration: Spanned<HumanSpan>,
    /// `tick`: simulation tick (timing resolution), a span from `"1ms"` to `"1s"`.
    /// Default `"1ms"`.
    #[serde(default)]
    pub tick: Option<Spanned<HumanSpan>>,
    /// `[[intermediary]]`: the chain between client and server, client side first. Zero or
    /// more tables; see [`RawIntermediary`].
    #[serde(default)]
    pub intermediary: Vec<Spanned<RawIntermediary>>,
    /// `[server]`: the built-in server's settings; see [`RawServer`]. Optional.
    #[serde(default)]
    pub server: RawServer,
    /// `[client]`: the client's timeline; see [`RawClient`]. Optional.
    #[serde(default)]
    pub client: RawClient,
    /// `[[fault]]`: scheduled network and host faults; see [`RawFault`].
    #[serde(default)]
    pub fault: Vec<Spanned<RawFault>>,
    /// `[[expect]]`: checks that must pass; see [`RawExpect`].
    #[serde(default)]
    pub expect: Vec<Spanned<RawExpect>>,
    /// `[expect-fail."TARGET"]`: known failures of one target (e.g. `"bug/no-keepalive"`);
    /// see [`RawExpectFail`].
    #[serde(default)]
    pub expect_fail: BTreeMap<String, Spanned<RawExpectFail>>,
}

/// `[[intermediary]]`: one simulated middlebox.
///
/// Its behavior stack starts from the preset's (if any). Each behavior key then either
/// removes that behavior (`"off"`) or gives a table that is merged field by field into the
/// preset's behavior of the same kind (fields not given keep the preset's values); when the
/// preset has no behavior of that kind the table must give every required field. Behaviors
/// the preset lacks are appended in the order idle-timeout, first-byte-timeout,
/// max-duration, buffering, latency.
///
/// ```toml
/// [[intermediary]]
/// preset = "nginx"
/// name = "edge"
/// idle-timeout = { after = "90s", watch = "upstream", action = "http-504", after-headers = "fin" }
/// first-byte-timeout = "off"
/// buffering = { mode = "threshold", bytes = 4096, honor-x-accel-buffering = true }
/// latency = { min = "1ms", max = "5ms" }
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawIntermediary {
    /// `preset`: name of a preset of a real intermediary (`middlebox presets` lists them).
    /// Optional; without it the behavior stack starts empty.
    #[serde(default)]
    pub preset: Option<Spanned<String>>,
    /// `name`: host name in the simulation, the trace, faults and checks; lowercase letters,
    /// digits and `-`, unique, not `client` or `server`. Default: the preset's name, else
    /// `proxy1`, `proxy2`, ... (counting intermediaries without preset or name).
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// `idle-timeout`: end the connection after a span without bytes from the watched side;
    /// a table ([`RawIdleTimeout`]) or `"off"`.
    #[serde(default)]
    pub idle_timeout: Option<Spanned<Toggle<RawIdleTimeout>>>,
    /// `first-byte-timeout`: answer with an error status when no response headers arrived in
    /// time; a table ([`RawFirstByteTimeout`]) or `"off"`.
    #[serde(default)]
    pub first_byte_timeout: Option<Spanned<Toggle<RawFirstByteTimeout>>>,
    /// `max-duration`: end every connection a fixed span after it opened; a table
    /// ([`RawMaxDuration`]) or `"off"`.
    #[serde(default)]
    pub max_duration: Option<Spanned<Toggle<RawMaxDuration>>>,
    /// `buffering`: hold response bytes back; a table ([`RawBuffering`]) or `"off"` (no
    /// buffering).
    #[serde(default)]
    pub buffering: Option<Spanned<Toggle<RawBuffering>>>,
    /// `latency`: delay every chunk; a table ([`RawLatency`]) or `"off"`.
    #[serde(default)]
    pub latency: Option<Spanned<Toggle<RawLatency>>>,
}

/// `idle-timeout = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawIdleTimeout {
    /// `after`: silence after which the timer fires, a span > 0. Required unless the preset
    /// has an idle timeout.
    #[serde(default)]
    pub after: Option<Spanned<HumanSpan>>,
    /// `watch`: whose bytes reset the timer: `upstream` (server side), `downstream` (client
    /// side) or `any`. Default `upstream`.
    #[serde(default)]
    pub watch: Option<WatchName>,
    /// `action`: what happens when it fires before response headers went to the client:
    /// `fin`, `rst`, `blackhole` or `http-NNN` (answer with status NNN, 100..=599).
    /// Default `fin`.
    #[serde(default)]
    pub action: Option<RawAction>,
    /// `after-headers`: what happens when it fires after response headers went to the
    /// client: `fin`, `rst` or `blackhole` (a status is impossible then). Default `fin`.
    #[serde(default)]
    pub after_headers: Option<Spanned<RawAction>>,
}

/// `first-byte-timeout = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawFirstByteTimeout {
    /// `after`: time from the request until response headers must have arrived, a span > 0.
    /// Required unless the preset has a first-byte timeout.
    #[serde(default)]
    pub after: Option<Spanned<HumanSpan>>,
    /// `status`: the HTTP status the intermediary answers with, 100..=599. Default 504.
    #[serde(default)]
    pub status: Option<Spanned<u16>>,
}

/// `max-duration = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawMaxDuration {
    /// `after`: lifetime of a connection from when it opened, a span > 0. Required unless
    /// the preset has a maximum duration.
    #[serde(default)]
    pub after: Option<Spanned<HumanSpan>>,
    /// `action`: before response headers went to the client: `fin`, `rst`, `blackhole` or
    /// `http-NNN`. Default `fin`.
    #[serde(default)]
    pub action: Option<RawAction>,
    /// `after-headers`: after response headers went to the client: `fin`, `rst` or
    /// `blackhole`. Default `fin`.
    #[serde(default)]
    pub after_headers: Option<Spanned<RawAction>>,
}

/// `buffering = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawBuffering {
    /// `mode`: `none` (forward at once), `full` (hold the whole body), `threshold` (hold
    /// until `bytes` are held) or `flush-interval` (release `every` span). Default: the
    /// preset's mode, else `none`.
    #[serde(default)]
    pub mode: Option<Spanned<BufferingModeName>>,
    /// `bytes`: threshold in bytes, > 0; `threshold` mode only (required there).
    #[serde(default)]
    pub bytes: Option<Spanned<u64>>,
    /// `every`: flush interval, a span > 0; `flush-interval` mode only (required there).
    #[serde(default)]
    pub every: Option<Spanned<HumanSpan>>,
    /// `honor-x-accel-buffering`: a response header `X-Accel-Buffering: no` turns
    /// buffering off for that response, as nginx does. Default false.
    #[serde(default)]
    pub honor_x_accel_buffering: Option<bool>,
}

/// `latency = { ... }`: `{ min = "1ms", max = "5ms" }` (uniform, seeded) or
/// `{ fixed = "2ms" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawLatency {
    /// `min`: smallest delay per chunk, a span. With `max`; not with `fixed`.
    #[serde(default)]
    pub min: Option<Spanned<HumanSpan>>,
    /// `max`: largest delay per chunk, a span ≥ `min`. With `min`; not with `fixed`.
    #[serde(default)]
    pub max: Option<Spanned<HumanSpan>>,
    /// `fixed`: the same delay for every chunk (= `min` and `max`), a span.
    #[serde(default)]
    pub fixed: Option<Spanned<HumanSpan>>,
}

/// `[server]`: the built-in server.
///
/// ```toml
/// [server]
/// keepalive = "15s"
/// keepalive-frame = "comment"
/// keepalive-comment = " keepalive"
/// x-accel-buffering-no = true
/// first-byte-delay = "0s"
/// end-after = "10m"          # or, MCP: { after = "10m", streams = ["get", "replay"] }
///
/// [[server.event]]
/// at = "2m"
/// event = "update"
/// id = "7"
/// data = "hello"
/// ```
///
/// MCP keys (the built-in MCP server; see `MCP-CONTRACT.md`):
///
/// ```toml
/// [server]
/// event-store = true
/// retry = "3s"
/// resume = "replay"
/// session-idle-timeout = "30m"
///
/// [[server.notification]]
/// at = "2m"
/// method = "notifications/tools/list_changed"
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawServer {
    /// `keepalive`: interval between keepalive frames on each stream, a span > 0, or
    /// `"off"`. Default `"15s"`.
    #[serde(default)]
    pub keepalive: Option<Spanned<SpanOrOff>>,
    /// `keepalive-frame`: `comment` (`:<text>` line, transparent) or `named-event`
    /// (`event: <name>` with empty data, dispatched to listeners). Default `comment`.
    #[serde(default)]
    pub keepalive_frame: Option<Spanned<KeepaliveFrameName>>,
    /// `keepalive-comment`: the text after `:` of a comment keepalive, one line.
    /// Default `" keepalive"`. Only with `keepalive-frame = "comment"`.
    #[serde(default)]
    pub keepalive_comment: Option<Spanned<String>>,
    /// `keepalive-event`: the event name of a named-event keepalive, one line, not empty.
    /// Default `"ping"`. Only with `keepalive-frame = "named-event"`.
    #[serde(default)]
    pub keepalive_event: Option<Spanned<String>>,
    /// `x-accel-buffering-no`: send `X-Accel-Buffering: no` with SSE responses.
    /// Default true.
    #[serde(default)]
    pub x_accel_buffering_no: Option<Spanned<bool>>,
    /// `first-byte-delay`: delay before response headers, a span. Default `"0s"`.
    #[serde(default)]
    pub first_byte_delay: Option<Spanned<HumanSpan>>,
    /// `end-after`: the server ends SSE responses cleanly (with the body's terminator) this
    /// span > 0 after each started: a span (every SSE response), or, in MCP scenarios, a table
    /// `{ after = "5s", streams = ["get", "post", "replay"] }` naming which kinds of MCP SSE
    /// response end (`get`: a GET opening the standalone stream, `post`: a tool call's
    /// answer, `replay`: a GET with `Last-Event-ID`; default all three). Optional; default
    /// never.
    #[serde(default)]
    pub end_after: Option<Spanned<RawEndAfter>>,
    /// `[[server.event]]`: events written on every stream open at that time; see
    /// [`RawServerEvent`].
    #[serde(default)]
    pub event: Vec<Spanned<RawServerEvent>>,
    /// `event-store`: MCP: keep every sent event so a `GET` with `Last-Event-ID` can replay
    /// it. Default true.
    #[serde(default)]
    pub event_store: Option<Spanned<bool>>,
    /// `retry`: MCP (2025-11-25): the `retry:` field sent with the priming event, a span
    /// (sent in whole milliseconds; `"0s"` means reconnect at once), or `"off"` (no `retry:`
    /// field). Default `"3s"`.
    #[serde(default)]
    pub retry: Option<Spanned<SpanOrOff>>,
    /// `resume`: MCP (revisions with sessions): how a `GET` carrying `Last-Event-ID` is
    /// answered: `replay` (the missed events of its stream, then the stream goes on),
    /// `empty-200` (`200 text/event-stream` that ends at once, no event), `http-404`,
    /// `http-500`. Default `replay`.
    #[serde(default)]
    pub resume: Option<Spanned<ResumeName>>,
    /// `session-idle-timeout`: MCP (revisions with sessions): a session with no request for
    /// this span > 0 is forgotten, whatever its streams do (its open responses end; later
    /// requests carrying it are answered 404); or `"off"`. Default `"off"`.
    #[serde(default)]
    pub session_idle_timeout: Option<Spanned<SpanOrOff>>,
    /// `[[server.notification]]`: MCP: JSON-RPC notifications sent to every session's GET
    /// stream at that time; see [`RawServerNotification`].
    #[serde(default)]
    pub notification: Vec<Spanned<RawServerNotification>>,
}

/// `[[server.notification]]`: one scheduled MCP notification.
///
/// ```toml
/// [[server.notification]]
/// at = "2m"
/// method = "notifications/tools/list_changed"
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawServerNotification {
    /// `at`: when, a span from the simulation start, ≤ `duration`. Required.
    pub at: Spanned<HumanSpan>,
    /// `method`: the JSON-RPC method, one line, not empty
    /// (`"notifications/tools/list_changed"`). Required.
    pub method: Spanned<String>,
}

/// `[[server.event]]`: one scheduled event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawServerEvent {
    /// `at`: when, a span from the simulation start, ≤ `duration`. Required.
    pub at: Spanned<HumanSpan>,
    /// `event`: the `event:` field, one line. Optional; default `message`.
    #[serde(default)]
    pub event: Option<Spanned<String>>,
    /// `id`: the `id:` field, one line without NUL. Optional.
    #[serde(default)]
    pub id: Option<Spanned<String>>,
    /// `data`: the event's data (several lines become several `data:` lines). Required.
    pub data: String,
}

/// `[client]`: the client's timeline, and how its MCP streams reconnect.
///
/// ```toml
/// [client]
/// reconnect = true
/// reconnect-initial = "1s"
/// reconnect-max = "30s"
/// reconnect-attempts = 5
/// keepalive-expected = "30s"
/// ```
///
/// A dropped MCP stream (GET stream, or a tool call's POST stream) is resumed with a `GET`
/// carrying `Last-Event-ID`, after a delay that starts at `reconnect-initial` (or the
/// server's `retry`, when it sent one) and doubles after each failed attempt up to
/// `reconnect-max`; after `reconnect-attempts` consecutive failures the client gives up.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawClient {
    /// `[[client.step]]`: what the client does and when; see [`RawStep`]. Steps run in
    /// time order (file order for equal times).
    #[serde(default)]
    pub step: Vec<Spanned<RawStep>>,
    /// `reconnect`: reconnect dropped MCP streams at all. Default true.
    #[serde(default)]
    pub reconnect: Option<Spanned<bool>>,
    /// `reconnect-initial`: the first reconnection delay, a span > 0. Default `"1s"`.
    /// Not with `reconnect = false`.
    #[serde(default)]
    pub reconnect_initial: Option<Spanned<HumanSpan>>,
    /// `reconnect-max`: the largest reconnection delay, a span ≥ `reconnect-initial`.
    /// Default `"30s"`. Not with `reconnect = false`.
    #[serde(default)]
    pub reconnect_max: Option<Spanned<HumanSpan>>,
    /// `reconnect-attempts`: consecutive failed attempts before giving up, an integer ≥ 1.
    /// Default 5. Not with `reconnect = false`.
    #[serde(default)]
    pub reconnect_attempts: Option<Spanned<u32>>,
    /// `keepalive-expected`: the keepalive interval the MCP client expects on its SSE
    /// connections, a span > 0, or `"off"` (no warnings). After 1.5 × this with no byte the
    /// client logs a missed-keepalive warning, then again after each further interval.
    /// Default `"30s"`.
    #[serde(default)]
    pub keepalive_expected: Option<Spanned<SpanOrOff>>,
}

/// `[[client.step]]`: one client action.
///
/// ```toml
/// [[client.step]]
/// at = "1s"
/// do = "open-stream"
/// stream = "main"
/// path = "/sse"
/// ```
///
/// MCP steps (endpoint `/mcp`):
///
/// ```toml
/// [[client.step]]
/// at = "0s"
/// do = "initialize"
///
/// [[client.step]]
/// at = "1s"
/// do = "open-get-stream"
///
/// [[client.step]]
/// at = "2s"
/// do = "call-tool"
/// stream = "long-call"
/// tool-duration = "5m"
/// progress-every = "30s"
/// ```
///
/// | `do` | keys besides `at` |
/// | --- | --- |
/// | `open-stream` | `stream` (default `"main"`), `path` |
/// | `close-stream` | `stream` (default `"main"`) |
/// | `initialize` | none |
/// | `open-get-stream` | `stream` (default `"get"`), `last-event-id` |
/// | `call-tool` | `stream` (default `"call"`), `tool-duration` (required), `progress-every` |
/// | `reconnect-stream` | `stream` (default `"get"`), `last-event-id` (required) |
/// | `ping` | none |
/// | `delete-session` | none |
///
/// MCP steps other than `initialize` need an `initialize` step before them, except under
/// protocol `2026-07-28` (the run's revision is the last one `protocol` lists), which has
/// no session and no GET stream (`open-get-stream` is an error there).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawStep {
    /// `at`: when, a span from the simulation start, ≤ `duration`. Required.
    pub at: Spanned<HumanSpan>,
    /// `do`: `open-stream` (open a GET SSE stream), `close-stream` (close a stream opened
    /// earlier, plain or MCP), or an MCP step: `initialize` (POST `initialize`, then
    /// `notifications/initialized`; the client keeps the session id), `open-get-stream`
    /// (open the standalone GET SSE stream), `call-tool` (POST `tools/call` of the `sleep`
    /// tool, answered over SSE), `reconnect-stream` (drop a GET stream's connection, if one
    /// is open, and reconnect it at once with a chosen `Last-Event-ID`), `ping` (POST
    /// `ping`), `delete-session` (DELETE the session). Required.
    #[serde(rename = "do")]
    pub action: Spanned<StepName>,
    /// `stream`: the stream's name, used by `close-stream`, `reconnect-stream` and by
    /// checks; `open-stream`, `close-stream`, `open-get-stream`, `call-tool` and
    /// `reconnect-stream` only. Default `"main"` (plain streams), `"get"` (`open-get-stream`,
    /// `reconnect-stream`), `"call"` (`call-tool`). A name may not be
    /// opened again while its stream is open (a tool call's stream counts as open until its
    /// `tool-duration` has passed, or until a `close-stream`).
    #[serde(default)]
    pub stream: Option<Spanned<String>>,
    /// `path`: request path, starting with `/`; `open-stream` only. Default `"/sse"`.
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    /// `tool-duration`: how long the `sleep` tool runs before it answers, a span;
    /// `call-tool` only, required there.
    #[serde(default)]
    pub tool_duration: Option<Spanned<HumanSpan>>,
    /// `progress-every`: interval between the tool's `notifications/progress` messages, a
    /// span > 0; `call-tool` only. Optional; default no progress notifications.
    #[serde(default)]
    pub progress_every: Option<Spanned<HumanSpan>>,
    /// `last-event-id`: one line of visible ASCII. `open-get-stream`: a `Last-Event-ID` the
    /// stream's first request already carries (e.g. a guessed id, GHSA-84j6-jc92-77jm);
    /// optional, default none (a fresh GET stream). `reconnect-stream`: the `Last-Event-ID`
    /// the stream reconnects with; required.
    #[serde(default)]
    pub last_event_id: Option<Spanned<String>>,
}

/// `[[fault]]`: one scheduled fault.
///
/// ```toml
/// [[fault]]
/// at = "5m"
/// do = "partition"
/// a = "client"
/// b = "nginx"
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawFault {
    /// `at`: when, a span from the simulation start, ≤ `duration`. Required.
    pub at: Spanned<HumanSpan>,
    /// `do`: `partition` / `repair` (drop / stop dropping messages between hosts `a` and
    /// `b`), `hold` / `release` (delay / deliver them), `crash` / `bounce` (kill / restart
    /// host `host`). Required.
    #[serde(rename = "do")]
    pub action: FaultName,
    /// `a`: a host name (`client`, `server` or an intermediary's name); link faults only.
    #[serde(default)]
    pub a: Option<Spanned<String>>,
    /// `b`: the other host of the link, not `a`; link faults only.
    #[serde(default)]
    pub b: Option<Spanned<String>>,
    /// `host`: the host to crash or bounce; `crash` and `bounce` only.
    #[serde(default)]
    pub host: Option<Spanned<String>>,
}

/// `[[expect]]`: one check that must pass, with its parameters.
///
/// | check | parameters |
/// | --- | --- |
/// | `stream.survives` | `stream`, `until` (span ≤ duration; default the end) |
/// | `stream.closed` | `stream`, `by` (intermediary name, required), `at` (span ≤ duration, required), `tolerance` (span, default `"1s"`) |
/// | `keepalive.cadence` | `stream`, `gap-max` (span > 0, required) |
/// | `keepalive.format` | `stream` |
/// | `first-event.delay` | `stream`, `max` (span > 0, required) |
/// | `keepalive.on-post` | `gap-max` (span > 0, required) |
/// | `keepalive.on-replay` | `gap-max` (span > 0, required) |
/// | `timers.independent` | `gap-max` (span > 0, required) |
/// | `timers.cleared` | `grace` (span, default `"1s"`) |
/// | `replay.complete` | `stream` |
/// | `event-id.unique` | none |
/// | `client.resumes` | `stream` |
/// | `client.reconnect-rate` | `reconnects-max` (count ≥ 1, default 6), `window` (span > 0, default `"60s"`) |
/// | `stream.recovers` | `stream`, `within` (span > 0, ≤ duration, default `"60s"`), `across-sessions` (bool, default false) |
/// | `session.survives` | none |
/// | `client.detects-buffering` | none |
/// | `client.polling-fallback` | none |
/// | `client.keepalive-warnings` | `expected` (span > 0, default `"30s"`) |
///
/// `stream` (optional where taken) names a stream a client step opens; absent means every
/// stream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawExpect {
    /// `check`: the check id. Required.
    pub check: Spanned<String>,
    /// `stream`: which client stream; default every stream.
    #[serde(default)]
    pub stream: Option<Spanned<String>>,
    /// `until`: `stream.survives` only.
    #[serde(default)]
    pub until: Option<Spanned<HumanSpan>>,
    /// `by`: `stream.closed` only.
    #[serde(default)]
    pub by: Option<Spanned<String>>,
    /// `at`: `stream.closed` only.
    #[serde(default)]
    pub at: Option<Spanned<HumanSpan>>,
    /// `tolerance`: `stream.closed` only.
    #[serde(default)]
    pub tolerance: Option<Spanned<HumanSpan>>,
    /// `gap-max`: `keepalive.cadence`, `keepalive.on-post`, `keepalive.on-replay` and
    /// `timers.independent` only.
    #[serde(default)]
    pub gap_max: Option<Spanned<HumanSpan>>,
    /// `max`: `first-event.delay`: the first event must arrive within this span;
    /// `client.reconnect-backoff`: the largest reconnect delay.
    #[serde(default)]
    pub max: Option<Spanned<HumanSpan>>,
    /// `min`: `first-event.delay` only: the first event must not arrive before this span
    /// (pins buffering: a held-back stream passes, an early event fails).
    #[serde(default)]
    pub min: Option<Spanned<HumanSpan>>,
    /// `grace`: `timers.cleared` only.
    #[serde(default)]
    pub grace: Option<Spanned<HumanSpan>>,
    /// `initial`: `client.reconnect-backoff` only: the first reconnect delay when the server
    /// sent no `retry`.
    #[serde(default)]
    pub initial: Option<Spanned<HumanSpan>>,
    /// `within`: `stream.recovers` only: how soon a dropped stream must be receiving again.
    #[serde(default)]
    pub within: Option<Spanned<HumanSpan>>,
    /// `expected`: `client.keepalive-warnings` only: the keepalive interval the client
    /// expects (warnings after 1.5 × it of silence, then every it).
    #[serde(default)]
    pub expected: Option<Spanned<HumanSpan>>,
    /// `reconnects-max`: `client.reconnect-rate` only: the most reconnects of one stream
    /// allowed within `window`.
    #[serde(default)]
    pub reconnects_max: Option<Spanned<u32>>,
    /// `window`: `client.reconnect-rate` only: the span reconnects are counted over.
    #[serde(default)]
    pub window: Option<Spanned<HumanSpan>>,
    /// `across-sessions`: `stream.recovers` only: a GET on a new session counts as the stream
    /// receiving again.
    #[serde(default)]
    pub across_sessions: Option<Spanned<bool>>,
}

/// `[expect-fail."TARGET"]`: checks a target is known to fail.
///
/// ```toml
/// [expect-fail."bug/no-keepalive"]
/// checks = ["stream.survives", "keepalive.cadence"]
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawExpectFail {
    /// `checks`: ids of checks listed in this file's `[[expect]]` tables. Required.
    pub checks: Vec<Spanned<String>>,
    /// `reason`: why the target fails them, with the trace's evidence (one line). Optional.
    pub reason: Option<Spanned<String>>,
}

/// A span of time written as a human string: `"60s"`, `"1m 30s"`, `"250ms"`, `"0s"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanSpan(pub Duration);

impl<'de> Deserialize<'de> for HumanSpan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanSpan;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string with a unit, like \"60s\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<HumanSpan, E> {
                crate::time::parse_span(s).map(HumanSpan).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// A span of time or the word `"off"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanOrOff {
    Off,
    Span(Duration),
}

impl<'de> Deserialize<'de> for SpanOrOff {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SpanOrOff;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string with a unit, like \"15s\", or \"off\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<SpanOrOff, E> {
                if s == "off" {
                    return Ok(SpanOrOff::Off);
                }
                crate::time::parse_span(s)
                    .map(SpanOrOff::Span)
                    .map_err(|e| E::custom(format!("{e}, or \"off\"")))
            }
        }
        d.deserialize_str(V)
    }
}

/// `server.end-after`: a span, or a table `{ after, streams }`.
#[derive(Debug)]
pub enum RawEndAfter {
    Span(HumanSpan),
    Table(RawEndAfterTable),
}

/// `end-after = { after = "5s", streams = ["get"] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawEndAfterTable {
    /// `after`: a span > 0. Required.
    pub after: Spanned<HumanSpan>,
    /// `streams`: `get`, `post`, `replay`; not empty. Default all three.
    #[serde(default)]
    pub streams: Option<Spanned<Vec<Spanned<SseKindName>>>>,
}

impl<'de> Deserialize<'de> for RawEndAfter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEndAfter;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a duration string like \"5s\", or a table like { after = \"5s\", streams = [\"get\"] }",
                )
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawEndAfter, E> {
                crate::time::parse_span(s)
                    .map(|d| RawEndAfter::Span(HumanSpan(d)))
                    .map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawEndAfter, A::Error> {
                RawEndAfterTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawEndAfter::Table)
            }
        }
        d.deserialize_any(V)
    }
}

/// `end-after.streams` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SseKindName {
    Get,
    Post,
    Replay,
}

/// `server.resume` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResumeName {
    Replay,
    #[serde(rename = "empty-200")]
    Empty200,
    #[serde(rename = "http-404")]
    Http404,
    #[serde(rename = "http-500")]
    Http500,
}

/// A behavior key's value: `"off"` or a table of settings.
#[derive(Debug, PartialEq, Eq)]
pub enum Toggle<T> {
    Off,
    On(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Toggle<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Toggle<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"off\" or a table of settings like { after = \"60s\" }")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Toggle<T>, E> {
                if s == "off" {
                    Ok(Toggle::Off)
                } else {
                    Err(E::invalid_value(Unexpected::Str(s), &self))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Toggle<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Toggle::On)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A close action: `fin`, `rst`, `blackhole` or `http-NNN` (NNN in 100..=599).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawAction(pub CloseAction);

impl RawAction {
    /// Parses an action word.
    pub fn parse(s: &str) -> Result<CloseAction, String> {
        const EXPECTED: &str = "expected \"fin\", \"rst\", \"blackhole\" or \"http-NNN\" with a status NNN from 100 to 599, like \"http-504\"";
        match s {
            "fin" => Ok(CloseAction::Fin),
            "rst" => Ok(CloseAction::Rst),
            "blackhole" => Ok(CloseAction::Blackhole),
            _ => match s.strip_prefix("http-").map(|n| (n, n.parse::<u16>())) {
                Some((n, Ok(code)))
                    if (100..=599).contains(&code)
                        && n.len() == 3
                        && n.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    Ok(CloseAction::Respond(code))
                }
                _ => Err(format!("invalid action {s:?}; {EXPECTED}")),
            },
        }
    }
}

impl<'de> Deserialize<'de> for RawAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawAction;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an action string: \"fin\", \"rst\", \"blackhole\" or \"http-NNN\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawAction, E> {
                RawAction::parse(s).map(RawAction).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// `watch` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WatchName {
    Upstream,
    Downstream,
    Any,
}

/// `buffering.mode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BufferingModeName {
    None,
    Full,
    Threshold,
    FlushInterval,
}

/// `server.keepalive-frame` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeepaliveFrameName {
    Comment,
    NamedEvent,
}

/// `client.step.do` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepName {
    OpenStream,
    CloseStream,
    Initialize,
    OpenGetStream,
    CallTool,
    ReconnectStream,
    Ping,
    DeleteSession,
}

impl StepName {
    /// The word as written in a file.
    pub fn word(self) -> &'static str {
        match self {
            StepName::OpenStream => "open-stream",
            StepName::CloseStream => "close-stream",
            StepName::Initialize => "initialize",
            StepName::OpenGetStream => "open-get-stream",
            StepName::CallTool => "call-tool",
            StepName::ReconnectStream => "reconnect-stream",
            StepName::Ping => "ping",
            StepName::DeleteSession => "delete-session",
        }
    }
}

/// `fault.do` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultName {
    Partition,
    Repair,
    Hold,
    Release,
    Crash,
    Bounce,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_words_and_statuses() {
        assert_eq!(RawAction::parse("fin"), Ok(CloseAction::Fin));
        assert_eq!(RawAction::parse("rst"), Ok(CloseAction::Rst));
        assert_eq!(RawAction::parse("blackhole"), Ok(CloseAction::Blackhole));
        assert_eq!(RawAction::parse("http-504"), Ok(CloseAction::Respond(504)));
        assert_eq!(RawAction::parse("http-100"), Ok(CloseAction::Respond(100)));
        assert_eq!(RawAction::parse("http-599"), Ok(CloseAction::Respond(599)));
        for bad in [
            "http-0504",
            "http-600",
            "http-99",
            "http-+50",
            "http-",
            "FIN",
            "close",
            "",
        ] {
            let err = RawAction::parse(bad).unwrap_err();
            assert!(err.contains("expected \"fin\""), "{bad}: {err}");
        }
    }
}
