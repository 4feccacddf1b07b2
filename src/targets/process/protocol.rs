//! The clock-control protocol, version 1: the messages between the harness and an adapter.
//!
//! ```text
//!  harness ── stdin: one command per line ──▶ adapter (clock shim + implementation)
//!          ◀─ stdout: one reply per command ─┘  (its own stdout moved to stderr)
//!  start  → State + port        the adapter binds 127.0.0.1:0 and builds the implementation
//!  sync   → State               bytes the harness sent are read, timers stepped deadline by
//!                               deadline up to `to_ms`, every write flushed to the kernel;
//!                               servers add scheduled notifications they refused (`refused`)
//!  shutdown → {"ok":true}
//! ```
//!
//! Times are integer milliseconds of virtual time since the simulation start. A connection is
//! named by the harness's local port (the socket's remote port as the adapter sees it). The
//! README's "Clock-control protocol" section is the user-facing description.

use serde::{Deserialize, Serialize};

/// The protocol version the harness speaks.
pub const VERSION: u32 = 1;

/// A command to the adapter.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Build the implementation and listen; sent once, first.
    Start {
        v: u32,
        #[serde(rename = "impl")]
        implementation: String,
        version: String,
        seed: u64,
        /// The wall clock the implementation sees at virtual time zero (ms since the Unix
        /// epoch).
        epoch_ms: u64,
        /// Implementation options: [`Options`] for servers, `{}` for clients.
        options: serde_json::Value,
        mcp: McpSetup,
        /// Client adapters only: where to connect and how to reconnect.
        #[serde(skip_serializing_if = "Option::is_none")]
        client: Option<ClientSetup>,
    },
    /// Client adapters only: start a timeline action now (`{"do": ...}`).
    Act { action: serde_json::Value },
    /// Let the adapter read what was sent, then advance its clock to `to_ms`.
    Sync { to_ms: u64, sent: Vec<Sent> },
    /// Close everything and exit.
    Shutdown,
}

/// Implementation options (`null` = the implementation's default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Options {
    /// Keepalive interval in ms; `0` disables it; `None` keeps the implementation's default.
    pub keepalive_ms: Option<u64>,
    /// Give the transport an event store (resumability with `Last-Event-ID`).
    pub event_store: bool,
    /// For the harness's own tests only: a defect the adapter injects into the
    /// implementation's environment (Node: `clear-interval-noop`, `clearInterval` does
    /// nothing), so a check can be shown failing on a real implementation for a real reason.
    /// Never set by a scenario.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_defect: Option<String>,
    /// Session idle timeout in ms; `0` disables it; absent keeps the implementation's default
    /// (sent only to implementations that have one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_idle_timeout_ms: Option<u64>,
    /// `node:PATH` targets: the program's absolute path (the adapter imports it);
    /// `python:MODULE:APP` targets: `MODULE:APP`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// `python:` targets only: the folder `MODULE` is imported from (where middlebox runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_dir: Option<String>,
    /// `ts-sdk-server@VERSION` (or `ts-sdk-client`, `ts-server`) not pinned here, or
    /// `@file:DIR`: the SDK package's folder (for `ts-server`, `@modelcontextprotocol/server`'s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_dir: Option<String>,
    /// `ts-server@VERSION` not pinned here, or `@file:DIR`: `@modelcontextprotocol/node`'s
    /// folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_package_dir: Option<String>,
    /// `python-sdk-server@file:DIR`: the checkout's source folders, put first on the Python
    /// path before the SDK is imported.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub python_path: Vec<String>,
}

/// What the MCP server does on its own.
#[derive(Debug, Clone, Default, Serialize)]
pub struct McpSetup {
    pub revision: String,
    pub retry_ms: Option<u64>,
    pub notifications: Vec<Notification>,
}

/// What a client adapter needs: the harness's listener, the reconnection policy.
#[derive(Debug, Clone, Serialize)]
pub struct ClientSetup {
    pub url: String,
    pub reconnect: Reconnect,
}

/// The scenario's `[client.reconnect]` policy.
#[derive(Debug, Clone, Serialize)]
pub struct Reconnect {
    pub enabled: bool,
    pub initial_ms: u64,
    pub max_ms: u64,
    pub growth: f64,
    pub attempts: u32,
}

/// A notification sent to every live session's GET stream at `at_ms`.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub at_ms: u64,
    pub method: String,
    pub params: serde_json::Value,
}

/// Bytes the harness has written to one connection so far (cumulative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sent {
    pub conn: u16,
    pub bytes: u64,
    /// The harness has shut its write side down.
    pub eof: bool,
}

/// The adapter's reply to `start` and `sync`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct State {
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
    /// The listening port (reply to `start` only).
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub now_ms: u64,
    /// The earliest live timer's deadline.
    #[serde(default)]
    pub next_ms: Option<u64>,
    #[serde(default)]
    pub conns: Vec<ConnState>,
    #[serde(default)]
    pub timers: Vec<Timer>,
    #[serde(default)]
    pub fired: Vec<Fired>,
    /// Client adapters: what reached the application since the previous reply.
    #[serde(default)]
    pub app: Vec<AppEvent>,
    /// Server adapters: scheduled notifications the implementation refused to send since the
    /// previous reply.
    #[serde(default)]
    pub refused: Vec<Refusal>,
}

/// A scheduled notification the implementation refused to send to one session (its API
/// threw or rejected), with the implementation's own reason.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Refusal {
    pub method: String,
    /// The session it was for.
    #[serde(default)]
    pub session: Option<String>,
    /// The implementation's error message.
    pub reason: String,
    /// When it was refused.
    pub at_ms: u64,
}

/// Something a client adapter's application saw.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AppEvent {
    /// The session id the client now uses.
    Session { session: String },
    /// A server message reached the application.
    Delivered {
        #[serde(default)]
        stream: Option<String>,
        #[serde(default)]
        event_id: Option<String>,
        message: String,
    },
    /// A request's result (`ok`, or `error: ...`).
    Answered { id: u64, outcome: String },
    /// The transport will reopen a dropped stream.
    Reconnecting {
        stream: String,
        attempt: u32,
        after_ms: u64,
        #[serde(default)]
        last_event_id: Option<String>,
    },
    /// The transport gave a stream up.
    GaveUp { stream: String, attempts: u32 },
    /// The transport reported an error.
    Error {
        #[serde(default)]
        stream: Option<String>,
        message: String,
    },
    /// Anything else an adapter reports (kept, not recorded).
    #[serde(other)]
    Other,
}

/// One connection as the adapter sees it (cumulative counts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ConnState {
    pub conn: u16,
    #[serde(default)]
    pub read: u64,
    /// Bytes handed to the kernel.
    pub written: u64,
    /// The adapter ended its write side, everything flushed.
    #[serde(default)]
    pub ended: bool,
    /// The socket is closed.
    #[serde(default)]
    pub closed: bool,
    /// Client adapters: the logical stream the connection belongs to.
    #[serde(default)]
    pub stream: Option<String>,
}

/// A live virtual timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Timer {
    pub id: u32,
    /// The connection whose request created it, if any.
    pub conn: Option<u16>,
    pub delay_ms: u64,
    #[serde(default)]
    pub repeat: bool,
}

/// A timer that fired during a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Fired {
    pub id: u32,
    pub at_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_one_json_object_with_an_op() {
        let c = Command::Sync {
            to_ms: 15000,
            sent: vec![Sent {
                conn: 51234,
                bytes: 812,
                eof: false,
            }],
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"op":"sync","to_ms":15000,"sent":[{"conn":51234,"bytes":812,"eof":false}]}"#
        );
        let s = serde_json::to_string(&Command::Start {
            v: VERSION,
            implementation: "ts-sdk-server".into(),
            version: "1.32.2".into(),
            seed: 7,
            epoch_ms: 0,
            options: serde_json::to_value(Options {
                keepalive_ms: None,
                event_store: true,
                ..Options::default()
            })
            .unwrap(),
            mcp: McpSetup::default(),
            client: None,
        })
        .unwrap();
        assert!(
            s.starts_with(r#"{"op":"start","v":1,"impl":"ts-sdk-server""#),
            "{s}"
        );
        assert!(s.contains(r#""keepalive_ms":null"#), "{s}");
        assert!(!s.contains("test_defect"), "only sent when set: {s}");
        assert!(!s.contains("python_path"), "only sent when set: {s}");
        assert!(!s.contains("client"), "no client part for servers: {s}");
        let a = serde_json::to_string(&Command::Act {
            action: serde_json::json!({"do": "initialize"}),
        })
        .unwrap();
        assert_eq!(a, r#"{"op":"act","action":{"do":"initialize"}}"#);
    }

    #[test]
    fn a_state_reply_parses_with_every_optional_part_missing_or_present() {
        let s: State = serde_json::from_str(
            r#"{"ok":true,"now_ms":30000,"next_ms":45000,
                "conns":[{"conn":51234,"read":812,"written":1290,"ended":false,"closed":false}],
                "timers":[{"id":3,"conn":51234,"delay_ms":15000,"repeat":true}],
                "fired":[{"id":3,"at_ms":15000},{"id":3,"at_ms":30000}]}"#,
        )
        .unwrap();
        assert_eq!(s.next_ms, Some(45000));
        assert_eq!(s.conns[0].written, 1290);
        assert_eq!(s.timers[0].conn, Some(51234));
        assert_eq!(s.fired.len(), 2);
        let c: State = serde_json::from_str(
            r#"{"ok":true,"conns":[{"conn":5,"written":10,"stream":"get"}],
                "app":[{"kind":"session","session":"s1"},
                       {"kind":"delivered","stream":"get","event_id":"3","message":"notifications/x"},
                       {"kind":"answered","id":2,"outcome":"ok"},
                       {"kind":"something-new","x":1}]}"#,
        )
        .unwrap();
        assert_eq!(c.conns[0].stream.as_deref(), Some("get"));
        assert_eq!(
            c.app[0],
            AppEvent::Session {
                session: "s1".into()
            }
        );
        assert_eq!(c.app[3], AppEvent::Other);
        let r: State = serde_json::from_str(
            r#"{"ok":true,"refused":[{"method":"notifications/resources/list_changed",
                "session":"s1","reason":"Server does not support notifying about resources","at_ms":122000}]}"#,
        )
        .unwrap();
        assert_eq!(
            r.refused,
            vec![Refusal {
                method: "notifications/resources/list_changed".into(),
                session: Some("s1".into()),
                reason: "Server does not support notifying about resources".into(),
                at_ms: 122_000,
            }]
        );
        assert!(s.refused.is_empty(), "absent means none");
        let e: State = serde_json::from_str(r#"{"ok":false,"error":"unknown impl"}"#).unwrap();
        assert!(!e.ok);
        assert_eq!(e.error.as_deref(), Some("unknown impl"));
    }
}
