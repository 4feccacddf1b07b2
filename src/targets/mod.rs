//! Targets: the implementations under test, in the server or the client role.
//!
//! ```text
//!            ┌──────────── one small interface per role ────────────┐
//!  registry ─┤ ServerTarget::serve(ServerEnv)  → runs on host "server" (every (re)start)
//!  (by name) └ ClientTarget::run(ClientEnv)    → runs on host "client" (the timeline)
//! ```
//!
//! A run pairs one server target with one client target: a server-role target is run with
//! the reference client and vice versa. Built-in targets run in-process on turmoil sockets;
//! later kinds (MCP reference, bug models, external processes, tower services) implement the
//! same two traits. Every target records what it does into the trace through its env.
//!
//! Each target declares the scenario keys it cannot honour ([`Unhonoured`]: a real SDK has no
//! setting for the keepalive frame, an `exec:` server gets no setting at all). A scenario
//! that sets such a key does not run on that target:
//!
//! ```text
//!  scenario.set_keys (file:line:col of every implementation key it sets)
//!     × target.unhonoured ──▶ named with --target   ──▶ located error, exit 2 (TargetInfo::refusal)
//!                         ──▶ one of the defaults   ──▶ pair not run, one note line
//!                         ──▶ [expect-fail."TARGET"] ──▶ error (the pair never runs)
//! ```

#[cfg(feature = "axum")]
pub mod axum_sse;
pub mod process;
#[cfg(feature = "rmcp")]
pub mod rmcp;
pub mod service;
pub mod stream_client;

use crate::reference::client::mcp::ClientDefects;
use crate::reference::defects::{self, BugModel, Defect};
use crate::scenario::{Scenario, ScenarioError, ServerConfig, SetKey};
use crate::sim::{ClientTarget, ServerTarget};
use std::rc::Rc;
use std::sync::Arc;

/// Builds a target's server for a scenario's `[server]` settings.
pub type ServerFactory = Arc<dyn Fn(&ServerConfig) -> Rc<dyn ServerTarget> + Send + Sync>;

/// A [`ServerFactory`] from a function or closure.
fn server(
    f: impl Fn(&ServerConfig) -> Rc<dyn ServerTarget> + Send + Sync + 'static,
) -> Option<ServerFactory> {
    Some(Arc::new(f))
}

/// Builds a target's client.
pub type ClientFactory = Arc<dyn Fn() -> Rc<dyn ClientTarget> + Send + Sync>;

/// A [`ClientFactory`] from a function or closure.
fn client(f: impl Fn() -> Rc<dyn ClientTarget> + Send + Sync + 'static) -> Option<ClientFactory> {
    Some(Arc::new(f))
}

/// Which role a target plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Runs on the server host, against the reference client.
    Server,
    /// Runs on the client host, against the reference server.
    Client,
    /// Both: the reference implementation.
    Both,
}

/// Which scenarios a target's behaviour can differ from the reference's in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Any scenario.
    Any,
    /// Only scenarios whose client speaks MCP ([`Scenario::uses_mcp`]): the target's
    /// defect lives in the MCP layer, so on plain SSE scenarios it would run the reference's
    /// exact code and trace. Such pairs are not run (they would only cost time).
    Mcp,
    /// Only plain SSE scenarios: the target has no MCP endpoint.
    Plain,
}

/// A named target in the registry.
#[derive(Clone)]
pub struct TargetInfo {
    /// Name used with `--target` and in `[expect-fail."NAME"]`.
    pub name: &'static str,
    /// Which end it plays.
    pub role: Role,
    /// One line: what it is.
    pub summary: &'static str,
    /// The public report a bug model reproduces.
    pub cites: Option<&'static str>,
    /// True for bug models: run by default next to the reference, expected to fail.
    pub bug_model: bool,
    /// Which scenarios it runs on.
    pub scope: Scope,
    /// A process on real time (`exec:`): its runs are paced to the wall clock.
    pub realtime: bool,
    /// The scenario keys it cannot honour when a file sets them.
    pub unhonoured: &'static [Unhonoured],
    pub(crate) server: Option<ServerFactory>,
    pub(crate) client: Option<ClientFactory>,
}

/// A scenario key a target cannot honour when a file sets it (see [`SetKey`]): its
/// implementation has no such setting, or not that value.
#[derive(Clone, Copy)]
pub struct Unhonoured {
    /// The key, as [`SetKey::key`] names it (`server.end-after`).
    pub key: &'static str,
    /// Why, in one clause: what the implementation does instead.
    pub why: &'static str,
    /// The settings of the key it honours nonetheless (e.g. `keepalive = "off"` on an
    /// implementation without a keepalive); `None`: no setting.
    pub unless: Option<fn(&Scenario) -> bool>,
}

impl Unhonoured {
    /// No setting of `key` can be honoured.
    pub const fn key(key: &'static str, why: &'static str) -> Self {
        Self {
            key,
            why,
            unless: None,
        }
    }

    /// Only the settings for which `honoured` holds can be.
    pub const fn unless(
        key: &'static str,
        why: &'static str,
        honoured: fn(&Scenario) -> bool,
    ) -> Self {
        Self {
            key,
            why,
            unless: Some(honoured),
        }
    }
}

impl TargetInfo {
    /// A server target named on the command line (`exec:CMD`, `node:PATH`,
    /// `python:MODULE:APP`, an SDK version not pinned here): its name is leaked (one string
    /// per target named in a run).
    fn named_server(
        name: &str,
        summary: &'static str,
        realtime: bool,
        scope: Scope,
        unhonoured: &'static [Unhonoured],
        f: impl Fn(&ServerConfig) -> Rc<dyn ServerTarget> + Send + Sync + 'static,
    ) -> Self {
        TargetInfo {
            name: Box::leak(name.to_string().into_boxed_str()),
            role: Role::Server,
            summary,
            cites: None,
            bug_model: false,
            realtime,
            scope,
            unhonoured,
            server: server(f),
            client: None,
        }
    }

    /// A client target named on the command line (an SDK version not pinned here): its name
    /// is leaked (one string per target named in a run).
    fn named_client(
        name: &str,
        summary: &'static str,
        scope: Scope,
        unhonoured: &'static [Unhonoured],
        f: impl Fn() -> Rc<dyn ClientTarget> + Send + Sync + 'static,
    ) -> Self {
        TargetInfo {
            name: Box::leak(name.to_string().into_boxed_str()),
            role: Role::Client,
            summary,
            cites: None,
            bug_model: false,
            realtime: false,
            scope,
            unhonoured,
            server: None,
            client: client(f),
        }
    }

    /// The target of a bug model (see [`defects`]): the reference server or client with its
    /// defect, run by default, expected to fail.
    pub(crate) fn from_bug_model(b: &BugModel) -> Self {
        let (role, server, client) = match b.defect {
            Defect::Server(f) => (
                Role::Server,
                server(move |cfg: &ServerConfig| {
                    let mut cfg = cfg.clone();
                    f(&mut cfg);
                    crate::reference::server::build(&cfg)
                }),
                None,
            ),
            Defect::Client(f) => (
                Role::Client,
                None,
                client(move || {
                    let mut d = ClientDefects::default();
                    f(&mut d);
                    crate::reference::client::build_with(d)
                }),
            ),
        };
        TargetInfo {
            name: b.name,
            role,
            summary: b.summary,
            cites: Some(b.cites),
            bug_model: true,
            realtime: false,
            scope: if b.mcp_only { Scope::Mcp } else { Scope::Any },
            unhonoured: &[],
            server,
            client,
        }
    }

    /// Whether this target runs on `scenario`: it is in scope ([`Scope`]) and honours every
    /// implementation key the scenario sets ([`Self::cannot_honour`]).
    pub fn applies_to(&self, scenario: &Scenario) -> bool {
        self.in_scope(scenario) && self.cannot_honour(scenario).is_none()
    }

    /// Whether the scenario is of a kind this target runs on (see [`Scope`]).
    pub fn in_scope(&self, scenario: &Scenario) -> bool {
        match self.scope {
            Scope::Any => true,
            Scope::Mcp => scenario.uses_mcp(),
            Scope::Plain => !scenario.uses_mcp(),
        }
    }

    /// The first key `scenario` sets (in file order) that this target cannot honour, and why.
    pub fn cannot_honour<'s>(&self, scenario: &'s Scenario) -> Option<(&'s SetKey, &'static str)> {
        scenario.set_keys.iter().find_map(|k| {
            self.unhonoured
                .iter()
                .find(|u| u.key == k.key && !u.unless.is_some_and(|honoured| honoured(scenario)))
                .map(|u| (k, u.why))
        })
    }

    /// The error for running this target, named on the command line, on a scenario that sets
    /// a key it cannot honour: located at the key.
    pub fn refusal(&self, scenario: &Scenario) -> Option<ScenarioError> {
        let (key, why) = self.cannot_honour(scenario)?;
        Some(ScenarioError {
            file: scenario.path.clone(),
            line: key.at.line,
            column: key.at.column,
            key_path: key.at.path.clone(),
            message: format!(
                "{} cannot honour this: {why}; expected a scenario without this key for this target",
                self.name
            ),
            hint: Some(format!(
                "run it without --target {}, or remove the key (`middlebox targets` lists what each target honours)",
                self.name
            )),
        })
    }

    /// The server to run for this target on a scenario: its own when it has the server role,
    /// else the reference server.
    pub fn server(&self, cfg: &ServerConfig) -> Rc<dyn ServerTarget> {
        match &self.server {
            Some(f) => f(cfg),
            None => crate::reference::server::build(cfg),
        }
    }

    /// The client to run: its own when it has the client role, else the reference client.
    pub fn client(&self) -> Rc<dyn ClientTarget> {
        match &self.client {
            Some(f) => f(),
            None => crate::reference::client::build(),
        }
    }
}

/// `server.x-accel-buffering-no = true` (the implementation sends the header anyway).
fn sends_x_accel(s: &Scenario) -> bool {
    s.server.x_accel_buffering_no
}

/// `server.x-accel-buffering-no = false` (the implementation never sends the header).
fn sends_no_x_accel(s: &Scenario) -> bool {
    !s.server.x_accel_buffering_no
}

/// `server.resume = "replay"` (what an SDK does with an event store).
fn replays(s: &Scenario) -> bool {
    s.server.resume == crate::scenario::ResumeAnswer::Replay
}

/// `server.session-idle-timeout = "off"`.
fn no_idle_timeout(s: &Scenario) -> bool {
    s.server.session_idle_timeout.is_none()
}

/// `server.keepalive = "off"`.
fn keepalive_off(s: &Scenario) -> bool {
    s.server.keepalive.is_none()
}

/// `server.event-store = true`.
#[cfg(feature = "rmcp")]
fn event_store_on(s: &Scenario) -> bool {
    s.server.event_store
}

/// What a real MCP server SDK has no setting for (through its adapter).
macro_rules! sdk_server_limits {
    ($frame:literal) => {
        [
            Unhonoured::key("server.keepalive-frame", concat!("the SDK always writes its own keepalive frame, ", $frame)),
            Unhonoured::key("server.keepalive-comment", concat!("the SDK always writes its own keepalive frame, ", $frame)),
            Unhonoured::key("server.keepalive-event", concat!("the SDK always writes its own keepalive frame, ", $frame)),
            Unhonoured::unless("server.x-accel-buffering-no", "the SDK always sends `X-Accel-Buffering: no` on SSE responses", sends_x_accel),
            Unhonoured::key("server.first-byte-delay", "the SDK has no setting to delay its response headers"),
            Unhonoured::key("server.end-after", "the SDK has no setting to end its SSE responses after a span"),
            Unhonoured::unless("server.resume", "the SDK has no setting for how it answers a resumption (it replays from its event store)", replays),
        ]
    };
}

const TS_SDK_SERVER: &[Unhonoured] = &{
    let l = sdk_server_limits!("`: keepalive`");
    [
        l[0], l[1], l[2], l[3], l[4], l[5], l[6],
        Unhonoured::unless("server.session-idle-timeout", "the TypeScript SDK's transport has no session idle timeout (sessions live until DELETE)", no_idle_timeout),
    ]
};

const TS_SDK_SERVER_1_29: &[Unhonoured] = &{
    let l = sdk_server_limits!("`: keepalive`");
    [
        l[0], l[1], l[2], l[4], l[5], l[6],
        Unhonoured::unless("server.x-accel-buffering-no", "1.29.0 never sends `X-Accel-Buffering: no` (1.32.2 does)", sends_no_x_accel),
        Unhonoured::unless("server.session-idle-timeout", "the TypeScript SDK's transport has no session idle timeout (sessions live until DELETE)", no_idle_timeout),
        Unhonoured::unless("server.keepalive", "1.29.0 has no keepalive setting (keepAliveMs arrived in 1.30.0): it never writes a keepalive", keepalive_off),
    ]
};

/// A TypeScript SDK version not pinned here: what it sends of `X-Accel-Buffering` is not
/// known, so the key is refused; its keepalive setting exists from 1.30.0.
const TS_SDK_SERVER_ANY: &[Unhonoured] = &{
    let l = sdk_server_limits!("`: keepalive`");
    [
        l[0], l[1], l[2], l[4], l[5], l[6],
        Unhonoured::key("server.x-accel-buffering-no", "what this SDK version sends of `X-Accel-Buffering` is not known here"),
        Unhonoured::unless("server.session-idle-timeout", "the TypeScript SDK's transport has no session idle timeout (sessions live until DELETE)", no_idle_timeout),
    ]
};

/// The same before 1.30.0: no keepalive setting.
const TS_SDK_SERVER_ANY_OLD: &[Unhonoured] = &{
    let l = sdk_server_limits!("`: keepalive`");
    [
        l[0], l[1], l[2], l[4], l[5], l[6],
        Unhonoured::key("server.x-accel-buffering-no", "what this SDK version sends of `X-Accel-Buffering` is not known here"),
        Unhonoured::unless("server.session-idle-timeout", "the TypeScript SDK's transport has no session idle timeout (sessions live until DELETE)", no_idle_timeout),
        Unhonoured::unless("server.keepalive", "versions before 1.30.0 have no keepalive setting (keepAliveMs arrived in 1.30.0): they never write a keepalive", keepalive_off),
    ]
};

const PYTHON_SDK_SERVER: &[Unhonoured] = &sdk_server_limits!("sse-starlette's `: ping - <time>`");

#[cfg(feature = "rmcp")]
const RMCP: &[Unhonoured] = &[
    Unhonoured::key(
        "server.keepalive-frame",
        "rmcp always writes sse-stream's keepalive frame, the empty comment `:`",
    ),
    Unhonoured::key(
        "server.keepalive-comment",
        "rmcp always writes sse-stream's keepalive frame, the empty comment `:`",
    ),
    Unhonoured::key(
        "server.keepalive-event",
        "rmcp always writes sse-stream's keepalive frame, the empty comment `:`",
    ),
    Unhonoured::unless(
        "server.x-accel-buffering-no",
        "rmcp always sends `X-Accel-Buffering: no` on SSE responses",
        sends_x_accel,
    ),
    Unhonoured::key(
        "server.first-byte-delay",
        "rmcp has no setting to delay its response headers",
    ),
    Unhonoured::key(
        "server.end-after",
        "rmcp has no setting to end its SSE responses after a span",
    ),
    Unhonoured::unless(
        "server.event-store",
        "rmcp's local session manager always keeps recent events for resumption (no switch)",
        event_store_on,
    ),
    Unhonoured::unless(
        "server.resume",
        "rmcp has no setting for how it answers a resumption (it replays from its session cache)",
        replays,
    ),
];

/// Why an `exec:` server honours no `[server]` key.
const EXEC_GETS_NOTHING: &str =
    "an exec: server gets only PORT from middlebox; configure it in its command instead";

/// Why a `node:` program or a `python:` app honours no `[server]` key.
const NODE_APP_GETS_NOTHING: &str =
    "your own program (node:, python:) is run as it is, with no settings from middlebox; configure it in the program";

const NODE_APP: &[Unhonoured] = &[
    Unhonoured::key("server.keepalive", NODE_APP_GETS_NOTHING),
    Unhonoured::key("server.keepalive-frame", NODE_APP_GETS_NOTHING),
    Unhonoured::key("server.keepalive-comment", NODE_APP_GETS_NOTHING),
    Unhonoured::key("server.keepalive-event", NODE_APP_GETS_NOTHING),
    Unhonoured::key("server.x-accel-buffering-no", NODE_APP_GETS_NOTHING),
    Unhonoured::key("server.first-byte-delay", NODE_APP_GETS_NOTHING),
    Unhonoured::key("server.end-after", NODE_APP_GETS_NOTHING),
    Unhonoured::key("server.event", NODE_APP_GETS_NOTHING),
    Unhonoured::key("server.event-store", NODE_APP_GETS_NOTHING),
    Unhonoured::key("server.retry", NODE_APP_GETS_NOTHING),
    Unhonoured::key("server.notification", NODE_APP_GETS_NOTHING),
    Unhonoured::key("server.resume", NODE_APP_GETS_NOTHING),
    Unhonoured::key("server.session-idle-timeout", NODE_APP_GETS_NOTHING),
];

const EXEC: &[Unhonoured] = &[
    Unhonoured::key("server.keepalive", EXEC_GETS_NOTHING),
    Unhonoured::key("server.keepalive-frame", EXEC_GETS_NOTHING),
    Unhonoured::key("server.keepalive-comment", EXEC_GETS_NOTHING),
    Unhonoured::key("server.keepalive-event", EXEC_GETS_NOTHING),
    Unhonoured::key("server.x-accel-buffering-no", EXEC_GETS_NOTHING),
    Unhonoured::key("server.first-byte-delay", EXEC_GETS_NOTHING),
    Unhonoured::key("server.end-after", EXEC_GETS_NOTHING),
    Unhonoured::key("server.event", EXEC_GETS_NOTHING),
    Unhonoured::key("server.event-store", EXEC_GETS_NOTHING),
    Unhonoured::key("server.retry", EXEC_GETS_NOTHING),
    Unhonoured::key("server.notification", EXEC_GETS_NOTHING),
    Unhonoured::key("server.resume", EXEC_GETS_NOTHING),
    Unhonoured::key("server.session-idle-timeout", EXEC_GETS_NOTHING),
    Unhonoured::key(
        "fault",
        "an exec: server runs on real time, and only the network engine applies faults",
    ),
];

#[cfg(feature = "axum")]
const AXUM_SSE: &[Unhonoured] = &[
    Unhonoured::unless(
        "server.keepalive-frame",
        "axum writes a named keepalive event without its empty `data:` line (`event: NAME` alone dispatches nothing)",
        axum_sse::comment_frame,
    ),
    Unhonoured::key(
        "server.keepalive-event",
        "axum writes a named keepalive event without its empty `data:` line (`event: NAME` alone dispatches nothing)",
    ),
    Unhonoured::unless(
        "server.keepalive-comment",
        "axum writes a comment keepalive as `: <text>`, so the text must be empty or start with a space",
        axum_sse::honours_comment,
    ),
];

const TS_SDK_CLIENT: &[Unhonoured] = &[
    Unhonoured::key("client.keepalive-expected", "the SDK client has no keepalive expectation and logs no missed-keepalive warnings"),
    Unhonoured::key("client.step.reconnect-stream", "the SDK client cannot reconnect a stream with a chosen Last-Event-ID (its transport keeps the id itself)"),
    Unhonoured::key("client.step.open-stream", "the SDK client opens MCP streams only, no plain SSE stream"),
];

/// A Python SDK version not pinned here: what it sends of `X-Accel-Buffering` depends on the
/// sse-starlette pip resolves for it, so the key is refused; keepalive (sse-starlette's ping
/// interval) and session idle timeout are set as for 2.3.0 (the adapter runs 2.2.0 and
/// later, which have both).
const PYTHON_SDK_SERVER_ANY: &[Unhonoured] = &{
    let l = sdk_server_limits!("sse-starlette's `: ping - <time>`");
    [
        l[0],
        l[1],
        l[2],
        l[4],
        l[5],
        l[6],
        Unhonoured::key(
            "server.x-accel-buffering-no",
            "what this SDK version sends of `X-Accel-Buffering` is not known here",
        ),
    ]
};

/// A TypeScript SDK client version not pinned here, 1.29.0 or later: the reconnection options
/// and the transport internals the adapter hooks are those of 1.29.0 and 1.32.2.
const TS_SDK_CLIENT_ANY: &[Unhonoured] = TS_SDK_CLIENT;

/// The same before 1.29.0: whether its transport honours the reconnection settings is not
/// known, so they are refused.
const TS_SDK_CLIENT_ANY_OLD: &[Unhonoured] = &{
    const WHY: &str = "whether SDK client versions before 1.29.0 honour the reconnection settings is not known here";
    let l = TS_SDK_CLIENT;
    [
        l[0],
        l[1],
        l[2],
        Unhonoured::key("client.reconnect", WHY),
        Unhonoured::key("client.reconnect-initial", WHY),
        Unhonoured::key("client.reconnect-max", WHY),
        Unhonoured::key("client.reconnect-attempts", WHY),
    ]
};

/// The target `family@version` (one of [`process::ANY_VERSION`]) at a version not pinned
/// here, or a checkout (`file:DIR`); `None` when `version` is neither (a range, a tag).
fn any_version(name: &str, family: &str, version: &str) -> Option<TargetInfo> {
    if !process::version_spec(family, version) {
        return None;
    }
    let v = version.to_string();
    let f: &'static str = process::ANY_VERSION.iter().find(|f| **f == family)?;
    let old = |oldest| {
        !v.starts_with("file:") && process::install::triple(&v).is_some_and(|t| t < oldest)
    };
    Some(match family {
        "ts-sdk-client" => TargetInfo::named_client(
            name,
            "the TypeScript SDK's StreamableHTTPClientTransport at a version not pinned here (installed on first use into the cache) or a checkout (file:DIR), in Node, on virtual time through harness/node, against the reference server",
            Scope::Mcp,
            if old((1, 29, 0)) { TS_SDK_CLIENT_ANY_OLD } else { TS_SDK_CLIENT_ANY },
            move || process::build_client_version(f, &v),
        ),
        "python-sdk-server" => TargetInfo::named_server(
            name,
            "the Python SDK's Streamable HTTP server at a version not pinned here (mcp 2.2.0 or later, installed on first use into a virtualenv in the cache) or a checkout (file:DIR), on a virtual-time asyncio loop through harness/python",
            false,
            Scope::Mcp,
            PYTHON_SDK_SERVER_ANY,
            move |cfg| process::build_version(cfg, f, &v),
        ),
        "ts-server" => TargetInfo::named_server(
            name,
            "the TypeScript SDK 2.x server (@modelcontextprotocol/server over @modelcontextprotocol/node) at a version not pinned here (installed on first use into the cache) or a checkout (file:DIR), in Node, on virtual time through harness/node",
            false,
            Scope::Mcp,
            // Every 2.x release has keepAliveMs (checked: 2.0.0, 2.2.0, 2.3.1, 2.4.0).
            TS_SDK_SERVER_ANY,
            move |cfg| process::build_version(cfg, f, &v),
        ),
        _ => TargetInfo::named_server(
            name,
            "the TypeScript SDK's StreamableHTTPServerTransport at a version not pinned here (installed on first use into the cache) or a checkout (file:DIR), in Node, on virtual time through harness/node",
            false,
            Scope::Mcp,
            if process::sdk_has_keepalive(&v) {
                TS_SDK_SERVER_ANY
            } else {
                TS_SDK_SERVER_ANY_OLD
            },
            move |cfg| process::build_version(cfg, f, &v),
        ),
    })
}

/// `client.reconnect = true` (the Python SDK always reconnects).
fn reconnects(s: &Scenario) -> bool {
    s.client.reconnect.enabled
}

/// The Python SDK's client (`mcp` 2.3.0, `mcp/client/streamable_http.py`): its transport has
/// no reconnection settings and no call that acts on one stream or ends the session alone.
const PYTHON_SDK_CLIENT: &[Unhonoured] = &[
    Unhonoured::key("client.keepalive-expected", "the SDK client has no keepalive expectation and logs no missed-keepalive warnings"),
    Unhonoured::key("client.step.reconnect-stream", "the SDK client cannot reconnect a stream with a chosen Last-Event-ID (its transport keeps the id itself)"),
    Unhonoured::key("client.step.open-stream", "the SDK client opens MCP streams only, no plain SSE stream"),
    Unhonoured::key("client.step.close-stream", "the SDK client has no call that closes one stream: the GET stream is the transport's own task, and a cancelled tool call leaves its POST response open (2025 revisions: it only sends notifications/cancelled)"),
    Unhonoured::key("client.step.delete-session", "the SDK client sends DELETE only when the application leaves streamable_http_client (terminate_on_close), which closes the client with it; it has no call that ends the session alone"),
    Unhonoured::unless("client.reconnect", "the SDK client always reconnects its streams (no setting to turn it off)", reconnects),
    Unhonoured::key("client.reconnect-initial", "the SDK client waits the server's retry, else a fixed 1 s (DEFAULT_RECONNECTION_DELAY_MS), never doubled; it has no setting for it"),
    Unhonoured::key("client.reconnect-max", "the SDK client waits the server's retry, else a fixed 1 s (DEFAULT_RECONNECTION_DELAY_MS), never doubled; it has no setting for it"),
    Unhonoured::key("client.reconnect-attempts", "the SDK client gives a stream up after MAX_RECONNECTION_ATTEMPTS = 2 failures, a module constant with no setting"),
];

/// Every built-in target, reference first, in a stable order.
pub fn all() -> Vec<TargetInfo> {
    let reference = TargetInfo {
        name: "reference",
        role: Role::Both,
        summary: "built-in SSE server (per-stream keepalive timer, scheduled events) and client",
        cites: None,
        bug_model: false,
        realtime: false,
        scope: Scope::Any,
        unhonoured: &[],
        server: server(crate::reference::server::build),
        client: client(crate::reference::client::build),
    };
    let bug_models = defects::ALL.iter().map(TargetInfo::from_bug_model);
    let implementations = vec![
        #[cfg(feature = "axum")]
        TargetInfo {
            name: "axum-sse",
            role: Role::Server,
            summary: "an axum 0.8 app streaming the scenario's events with Sse + KeepAlive (axum's own keepalive, frame `:\\n\\n`), in-process through tower",
            cites: None,
            bug_model: false,
            realtime: false,
            scope: Scope::Plain,
            unhonoured: AXUM_SSE,
            server: server(axum_sse::build),
            client: None,
        },
        TargetInfo {
            name: "ts-sdk-server@1.32.2",
            role: Role::Server,
            summary: "the TypeScript SDK's StreamableHTTPServerTransport (@modelcontextprotocol/sdk 1.32.2, keepAliveMs default 15 s) in Node, on virtual time through harness/node",
            cites: None,
            bug_model: false,
            realtime: false,
            scope: Scope::Mcp,
            unhonoured: TS_SDK_SERVER,
            server: server(|cfg| process::build(cfg, "ts-sdk-server@1.32.2")),
            client: None,
        },
        TargetInfo {
            name: "ts-sdk-server@1.29.0",
            role: Role::Server,
            summary: "the TypeScript SDK's StreamableHTTPServerTransport (@modelcontextprotocol/sdk 1.29.0, before keepAliveMs) in Node, on virtual time through harness/node",
            cites: None,
            bug_model: false,
            realtime: false,
            scope: Scope::Mcp,
            unhonoured: TS_SDK_SERVER_1_29,
            server: server(|cfg| process::build(cfg, "ts-sdk-server@1.29.0")),
            client: None,
        },
        TargetInfo {
            name: "ts-server@2.4.0",
            role: Role::Server,
            summary: "the TypeScript SDK 2.x server (@modelcontextprotocol/server 2.4.0 over @modelcontextprotocol/node) in Node, on virtual time through harness/node",
            cites: None,
            bug_model: false,
            realtime: false,
            scope: Scope::Mcp,
            unhonoured: TS_SDK_SERVER,
            server: server(|cfg| process::build(cfg, "ts-server@2.4.0")),
            client: None,
        },
        TargetInfo {
            name: "python-sdk-server@2.3.0",
            role: Role::Server,
            summary: "the Python SDK's Streamable HTTP server (mcp 2.3.0, sse-starlette pings every 15 s) on a virtual-time asyncio loop through harness/python",
            cites: None,
            bug_model: false,
            realtime: false,
            scope: Scope::Mcp,
            unhonoured: PYTHON_SDK_SERVER,
            server: server(|cfg| process::build(cfg, "python-sdk-server@2.3.0")),
            client: None,
        },
        #[cfg(feature = "rmcp")]
        TargetInfo {
            name: "rmcp",
            role: Role::Server,
            summary: "the official Rust MCP SDK, rmcp 3.9.0: StreamableHttpService + LocalSessionManager (sessions named s1, s2, …), its own SSE keepalive (sse-stream, frame `:\\n\\n`), in-process through tower",
            cites: None,
            bug_model: false,
            realtime: false,
            scope: Scope::Mcp,
            unhonoured: RMCP,
            server: server(rmcp::build),
            client: None,
        },
        TargetInfo {
            name: "ts-sdk-client@1.32.2",
            role: Role::Client,
            summary: "the TypeScript SDK's StreamableHTTPClientTransport (@modelcontextprotocol/sdk 1.32.2) in Node, on virtual time through harness/node, against the reference server",
            cites: None,
            bug_model: false,
            realtime: false,
            scope: Scope::Mcp,
            unhonoured: TS_SDK_CLIENT,
            server: None,
            client: client(|| process::build_client("ts-sdk-client@1.32.2")),
        },
        TargetInfo {
            name: "ts-client@2.4.0",
            role: Role::Client,
            summary: "the TypeScript SDK 2.x client (Client + StreamableHTTPClientTransport from @modelcontextprotocol/client 2.4.0) in Node, on virtual time through harness/node, against the reference server",
            cites: None,
            bug_model: false,
            realtime: false,
            scope: Scope::Mcp,
            // 2.x keeps 1.x's StreamableHTTPClientTransport (reconnection options, the last
            // event id per connection, resumeStream): the same keys.
            unhonoured: TS_SDK_CLIENT,
            server: None,
            client: client(|| process::build_client("ts-client@2.4.0")),
        },
        TargetInfo {
            name: "python-sdk-client@2.3.0",
            role: Role::Client,
            summary: "the Python SDK's client (ClientSession over streamable_http_client, mcp 2.3.0) on a virtual-time asyncio loop through harness/python, against the reference server",
            cites: None,
            bug_model: false,
            realtime: false,
            scope: Scope::Mcp,
            unhonoured: PYTHON_SDK_CLIENT,
            server: None,
            client: client(|| process::build_client("python-sdk-client@2.3.0")),
        },
    ];
    std::iter::once(reference)
        .chain(bug_models)
        .chain(implementations)
        .collect()
}

/// Looks a target up by name; `FAMILY@VERSION` and `FAMILY@file:DIR` run an SDK at a version
/// not pinned here or a checkout (`process::ANY_VERSION`: `ts-sdk-server`, `ts-server`,
/// `ts-sdk-client`, `python-sdk-server`); `exec:CMD` is a server run by the shell command `CMD` on real
/// time (`src/targets/process/exec.rs`); `node:PATH` is the user's own Node program on
/// virtual time (`harness/node/app.mjs`).
pub fn get(name: &str) -> Option<TargetInfo> {
    if let Some((family, version)) = name
        .split_once('@')
        .filter(|(f, _)| process::ANY_VERSION.contains(f))
    {
        let pinned = all().into_iter().find(|t| t.name == name);
        return pinned.or_else(|| any_version(name, family, version));
    }
    if let Some(spec) = name.strip_prefix("python:") {
        if spec.trim().is_empty() {
            return None;
        }
        let spec = spec.to_string();
        return Some(TargetInfo::named_server(
            name,
            "your own ASGI app (MODULE:APP: Starlette, FastAPI, the MCP SDK's streamable HTTP app) served by uvicorn on a virtual-time asyncio loop through harness/python",
            false,
            Scope::Any,
            NODE_APP,
            move |cfg| process::build_python_app(cfg, &spec),
        ));
    }
    if let Some(path) = name.strip_prefix("node:") {
        if path.trim().is_empty() {
            return None;
        }
        let path = path.to_string();
        return Some(TargetInfo::named_server(
            name,
            "your own Node program (one that listens, or exports a node:http Server or a (req, res) handler such as an Express app) on virtual time through harness/node",
            false,
            Scope::Any,
            NODE_APP,
            move |cfg| process::build_app(cfg, &path),
        ));
    }
    if let Some(cmd) = name.strip_prefix("exec:") {
        if cmd.trim().is_empty() {
            return None;
        }
        let cmd = cmd.to_string();
        return Some(TargetInfo::named_server(
            name,
            "any HTTP server, started by a shell command with PORT set, on real time",
            true,
            Scope::Any,
            EXEC,
            move |_cfg| process::exec::build(&cmd),
        ));
    }
    all().into_iter().find(|t| t.name == name)
}

/// Targets whose traces are not reproducible, left out of [`default_names`] (run them with
/// `--target`): `rmcp` reads the real clock for its keepalive deadlines (sse-stream's
/// `KeepAliveStream::reset`), so when and how often its keepalives fire depends on how fast
/// the host runs; its runs stop with the stall guard's diagnosis.
pub const NOT_REPRODUCIBLE: &[&str] = &["rmcp"];

/// The targets `middlebox run` uses when none is named: every built-in one (the reference,
/// every bug model, the in-process implementations) but the [`NOT_REPRODUCIBLE`] ones, each
/// on the scenarios it applies to.
pub fn default_names() -> Vec<&'static str> {
    all()
        .into_iter()
        .map(|t| t.name)
        .filter(|n| !NOT_REPRODUCIBLE.contains(n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(server: &str) -> Scenario {
        let text = format!(
            "description = \"d\"\nduration = \"1m\"\n[[client.step]]\nat = \"0s\"\ndo = \"initialize\"\n[[client.step]]\nat = \"1s\"\ndo = \"open-get-stream\"\n[server]\n{server}"
        );
        crate::scenario::parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_target_refuses_the_first_key_it_cannot_honour_at_its_place() {
        let ts = get("ts-sdk-server@1.32.2").unwrap();
        let s = scenario("first-byte-delay = \"1s\"\nend-after = \"5s\"\n");
        let (key, why) = ts.cannot_honour(&s).expect("refused");
        assert_eq!((key.key, key.at.line), ("server.first-byte-delay", 10));
        assert!(why.contains("delay its response headers"), "{why}");
        let e = ts.refusal(&s).unwrap();
        assert_eq!(
            (e.line, e.column, e.key_path.as_str()),
            (10, 20, "server.first-byte-delay")
        );
        assert!(e.to_string().starts_with(
            "error: t.toml:10:20: server.first-byte-delay: ts-sdk-server@1.32.2 cannot honour this: "
        ));
        assert!(!ts.applies_to(&s) && ts.in_scope(&s));
        // The reference and every bug model honour it.
        for t in all()
            .iter()
            .filter(|t| t.name == "reference" || t.bug_model)
        {
            assert!(t.refusal(&s).is_none(), "{}", t.name);
        }
    }

    #[test]
    fn a_value_the_implementation_has_anyway_is_honoured() {
        let old = get("ts-sdk-server@1.29.0").unwrap();
        assert!(old
            .cannot_honour(&scenario("keepalive = \"15s\"\n"))
            .is_some());
        assert!(old.applies_to(&scenario("keepalive = \"off\"\n")));
        assert!(old.applies_to(&scenario("x-accel-buffering-no = false\n")));
        let new = get("ts-sdk-server@1.32.2").unwrap();
        assert!(new.applies_to(&scenario("x-accel-buffering-no = true\n")));
        assert!(!new.applies_to(&scenario("x-accel-buffering-no = false\n")));
        assert!(new.applies_to(&scenario("resume = \"replay\"\n")));
        assert!(!new.applies_to(&scenario("resume = \"http-404\"\n")));
        // A key set to its default is still set: an exec: server gets no setting at all.
        let exec = get("exec:true").unwrap();
        assert!(!exec.applies_to(&scenario("keepalive = \"15s\"\n")));
        assert!(exec.applies_to(&scenario("")));
    }
    #[test]
    fn targets_named_on_the_command_line_refuse_what_they_cannot_honour() {
        // A user's own program takes no [server] setting, whatever the key.
        for name in ["node:app.mjs", "python:server:app"] {
            let t = get(name).unwrap();
            assert!(t.applies_to(&scenario("")), "{name}");
            for key in [
                "keepalive = \"15s\"",
                "event-store = false",
                "retry = \"2s\"",
            ] {
                assert!(
                    !t.applies_to(&scenario(&format!("{key}\n"))),
                    "{name}: {key}"
                );
            }
        }
        // An SDK version not pinned here: keepAliveMs exists from 1.30.0; what it sends of
        // X-Accel-Buffering is not known, so either setting is refused.
        let old = get("ts-sdk-server@1.20.0").unwrap();
        assert!(!old.applies_to(&scenario("keepalive = \"15s\"\n")));
        assert!(old.applies_to(&scenario("keepalive = \"off\"\n")));
        let new = get("ts-sdk-server@1.30.0").unwrap();
        assert!(new.applies_to(&scenario("keepalive = \"15s\"\n")));
        for v in ["true", "false"] {
            let s = scenario(&format!("x-accel-buffering-no = {v}\n"));
            assert!(!new.applies_to(&s) && !old.applies_to(&s), "{v}");
        }
        // Pinned versions keep their own entries; a range or a tag is no target.
        assert_eq!(get("ts-sdk-server@1.32.2").unwrap().unhonoured.len(), 8);
        assert!(get("ts-sdk-server@latest").is_none() && get("ts-sdk-server@^1.30.0").is_none());
    }

    #[test]
    fn every_sdk_family_runs_at_any_exact_version_or_checkout_and_refuses_what_is_not_known() {
        for family in process::ANY_VERSION {
            // A range, a tag, nothing: no target.
            for v in ["latest", "^1.0", "~2.2.0", "2.2", "", "file:", "file: "] {
                assert!(get(&format!("{family}@{v}")).is_none(), "{family}@{v}");
            }
            let t = get(&format!("{family}@file:/some/checkout")).expect("a checkout");
            assert_eq!(t.name, format!("{family}@file:/some/checkout"));
            assert_eq!(t.scope, Scope::Mcp);
        }
        // Each registry's exact forms: npm's prerelease, Python's.
        assert!(get("ts-server@2.0.0-beta.3").is_some() && get("ts-server@2.0.0rc1").is_none());
        assert!(get("python-sdk-server@2.4.0rc1").is_some());
        assert!(get("python-sdk-server@2.4.0-rc.1").is_none());
        // The pinned versions keep their own entries.
        assert_eq!(get("ts-server@2.4.0").unwrap().unhonoured.len(), 8);
        assert_eq!(
            get("python-sdk-server@2.3.0").unwrap().summary,
            all()
                .iter()
                .find(|t| t.name == "python-sdk-server@2.3.0")
                .unwrap()
                .summary
        );

        // Servers: what the version sends of X-Accel-Buffering is not known, so either
        // setting is refused; keepalive and (Python) the session idle timeout are set.
        let ts2 = get("ts-server@2.2.0").unwrap();
        let py = get("python-sdk-server@2.2.0").unwrap();
        assert_eq!((ts2.role, py.role), (Role::Server, Role::Server));
        for t in [&ts2, &py] {
            assert!(
                t.applies_to(&scenario("keepalive = \"15s\"\n")),
                "{}",
                t.name
            );
            for v in ["true", "false"] {
                let s = scenario(&format!("x-accel-buffering-no = {v}\n"));
                assert!(!t.applies_to(&s), "{}: {v}", t.name);
            }
            assert!(
                !t.applies_to(&scenario("first-byte-delay = \"1s\"\n")),
                "{}",
                t.name
            );
        }
        let idle = scenario("session-idle-timeout = \"10m\"\n");
        assert!(py.applies_to(&idle) && !ts2.applies_to(&idle));
        // The pinned Python version sends the header (known), an unpinned one may not.
        let accel = scenario("x-accel-buffering-no = true\n");
        assert!(get("python-sdk-server@2.3.0").unwrap().applies_to(&accel));

        // Clients: the pinned version's limits; before 1.29.0 the reconnection settings too.
        let client = get("ts-sdk-client@1.30.0").unwrap();
        let old_client = get("ts-sdk-client@1.20.0").unwrap();
        assert_eq!((client.role, old_client.role), (Role::Client, Role::Client));
        assert!(client.server.is_none() && client.client.is_some());
        let reconnect = |extra: &str| {
            let text = format!(
                "description = \"d\"\nduration = \"1m\"\n[client]\n{extra}\n[[client.step]]\nat = \"0s\"\ndo = \"initialize\"\n[[client.step]]\nat = \"1s\"\ndo = \"open-get-stream\"\n[server]\nevent-store = true\n"
            );
            crate::scenario::parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}"))
        };
        let s = reconnect("reconnect-attempts = 3");
        assert!(client.applies_to(&s));
        let e = old_client.refusal(&s).expect("refused");
        assert_eq!(e.key_path, "client.reconnect-attempts");
        assert!(e.to_string().contains("before 1.29.0"), "{e}");
        assert!(old_client.applies_to(&reconnect("")));
        let keepalive = reconnect("keepalive-expected = \"15s\"");
        assert!(!client.applies_to(&keepalive));
    }
}
