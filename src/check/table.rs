//! The table of checks: one row per check (its id, summary, parameters, and what it needs
//! from the client's timeline). Everything that lists checks reads it: the scenario
//! validator (which ids a file may name, their keys, what they need), the README test.
//!
//! ```text
//!  check_table! row ──▶ CheckKind::X (the enum, exhaustive everywhere)
//!                   └─▶ CheckKind::X.info() ──▶ CheckInfo { id (the check file's ID),
//!                                                 summary, params, needs }
//! ```
//!
//! Adding a check: its file with `ID` and `evaluate`, one row here, one [`super::CheckSpec`]
//! variant; the compiler then names every match that must learn it.

use super::*;

/// What a check needs from the client's timeline to have anything to judge; a scenario
/// whose timeline lacks it is refused (the check could only say `unobservable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Nothing: it judges the whole run.
    Nothing,
    /// A stream (plain or MCP) a client step opens.
    Stream,
    /// An MCP step (any request).
    Mcp,
    /// An MCP stream: a GET stream or a tool call answered over SSE.
    McpStream,
    /// A tool call (a POST answered over SSE).
    Call,
    /// An MCP stream that can be resumed with `Last-Event-ID` (a revision with sessions).
    Resumable,
}

/// One parameter a check takes in an `[[expect]]` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    /// The key, kebab-case (`gap-max`).
    pub name: &'static str,
    /// Whether the table must give it.
    pub required: bool,
}

/// A check's row of the table.
#[derive(Clone, Copy, Debug)]
pub struct CheckInfo {
    /// The stable id (`keepalive.cadence`), as files name it.
    pub id: &'static str,
    /// One line: what it asserts.
    pub summary: &'static str,
    /// The parameters an `[[expect]]` table may give, in the order documented.
    pub params: &'static [Param],
    /// What it needs from the client's timeline.
    pub needs: Needs,
}

/// Declares [`CheckKind`], its [`CheckKind::ALL`] and its rows from one list.
macro_rules! check_table {
    ($( $kind:ident => $module:ident, $summary:literal,
        [$($param:literal $(($req:ident))?),*], $needs:ident; )*) => {
        /// Every check, by kind (one file of this module each).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum CheckKind {
            $(
                #[doc = concat!("`", stringify!($module), "`: ", $summary)]
                $kind,
            )*
        }

        impl CheckKind {
            /// Every check, in the table's order (the order an unknown id's error lists them).
            pub const ALL: &'static [CheckKind] = &[$(CheckKind::$kind),*];

            /// The check's row of the table.
            pub const fn info(self) -> CheckInfo {
                match self {
                    $(CheckKind::$kind => CheckInfo {
                        id: $module::ID,
                        summary: $summary,
                        params: &[$(Param {
                            name: $param,
                            required: check_table!(@required $($req)?),
                        }),*],
                        needs: Needs::$needs,
                    },)*
                }
            }
        }
    };
    (@required required) => { true };
    (@required) => { false };
}

check_table! {
    StreamSurvives => stream_survives,
        "the stream stays open until a time; only the client may close it",
        ["stream", "until"], Stream;
    StreamClosed => stream_closed,
        "the stream is closed by a named intermediary near a time",
        ["stream", "by" (required), "at" (required), "tolerance"], Stream;
    KeepaliveCadence => keepalive_cadence,
        "largest gap between bytes reaching the client ≤ gap-max",
        ["stream", "gap-max" (required)], Stream;
    KeepaliveFormat => keepalive_format,
        "keepalives are SSE comments, not (named) events",
        ["stream"], Stream;
    FirstEventDelay => first_event_delay,
        "the first event reaches the client within max (and not before min) of the request",
        ["stream", "max", "min"], Stream;
    KeepaliveOnPost => keepalive_on_post,
        "keepalive cadence on POST requests answered with SSE",
        ["gap-max" (required)], Call;
    KeepaliveOnReplay => keepalive_on_replay,
        "keepalive cadence on streams resumed with Last-Event-ID",
        ["gap-max" (required)], Resumable;
    TimersIndependent => timers_independent,
        "closing one stream leaves every other stream's cadence intact",
        ["gap-max" (required)], Stream;
    TimersCleared => timers_cleared,
        "every keepalive timer is cleared once its stream is gone; no write after a failed one",
        ["grace"], Stream;
    ReplayComplete => replay_complete,
        "a resumed stream replays exactly the missed events, in order, once",
        ["stream"], Resumable;
    EventIdUnique => event_id_unique,
        "event ids are unique across all streams of a session",
        [], McpStream;
    ClientResumes => client_resumes,
        "every reconnect sends the last event id received on that stream",
        ["stream"], Resumable;
    DeliveryExactlyOnce => delivery_exactly_once,
        "every server message reaches the client application exactly once",
        [], Mcp;
    ReplaySameStream => replay_same_stream,
        "a resumed connection replays only the Last-Event-ID's own stream",
        [], Resumable;
    ReplaySessionIsolated => replay_session_isolated,
        "a replay never carries another session's events",
        [], Resumable;
    ClientReconnectBackoff => client_reconnect_backoff,
        "reconnect delays start at initial (or the server's retry), double, stay ≤ max, and are kept",
        ["initial" (required), "max" (required)], Resumable;
    ClientReconnectRate => client_reconnect_rate,
        "no stream is reconnected more than reconnects-max times within any window (no reconnect storm)",
        ["reconnects-max", "window"], Nothing;
    StreamRecovers => stream_recovers,
        "every dropped MCP stream is receiving again within a limit (reconnect or polling)",
        ["stream", "within", "across-sessions"], Resumable;
    SessionSurvives => session_survives,
        "the session the client uses stays valid (never answered 404) until it deletes it",
        [], Nothing;
    ClientDetectsBuffering => client_detects_buffering,
        "the client warns of early drops and slow first data (suspected buffering), and only then",
        [], McpStream;
    ClientPollingFallback => client_polling_fallback,
        "after 3 consecutive failed SSE connections the client switches to polling every 2 s",
        [], Resumable;
    ClientKeepaliveWarnings => client_keepalive_warnings,
        "the client warns of every missed keepalive (1.5 × expected silence, then each expected)",
        ["expected"], McpStream;
    DeterminismWallClock => determinism_wall_clock,
        "no burst of comment frames at one virtual instant, no stall-sized burst: nothing reads the real clock",
        [], Nothing;
    RpcAnswered => rpc_answered,
        "every request the client sends (initialize, tool call, ping) gets an ok answer",
        [], Nothing;
}

impl CheckKind {
    /// The check named `id` in a scenario file.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.info().id == id)
    }

    /// The check's stable id.
    pub const fn id(self) -> &'static str {
        self.info().id
    }
}
