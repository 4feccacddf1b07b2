//! Checks: named properties evaluated over a trace, and nothing else.
//!
//! ```text
//!   Trace ──▶ CheckSpec::evaluate ──▶ CheckOutcome { id, verdict, at, message }
//! ```
//!
//! Each check has a stable id (`keepalive.cadence`). Safety checks say something must never
//! happen (a keepalive gap above the limit, a named-event keepalive); liveness checks say
//! something must eventually happen or hold until a time (the stream survives until T, the
//! first event arrives within D). A check that cannot see what it needs in the trace says
//! `unobservable` instead of guessing.

pub(crate) mod client_detects_buffering;
pub(crate) mod client_keepalive_warnings;
pub(crate) mod client_polling_fallback;
pub(crate) mod client_reconnect_backoff;
pub(crate) mod client_reconnect_rate;
pub(crate) mod client_resumes;
mod client_stream;
pub(crate) mod delivery_exactly_once;
pub(crate) mod determinism_wall_clock;
pub(crate) mod event_id_unique;
pub(crate) mod first_event_delay;
pub(crate) mod keepalive_cadence;
pub(crate) mod keepalive_format;
pub(crate) mod keepalive_on_post;
pub(crate) mod keepalive_on_replay;
pub(crate) mod replay_complete;
pub(crate) mod replay_same_stream;
pub(crate) mod replay_session_isolated;
pub(crate) mod rpc_answered;
pub(crate) mod session_survives;
pub(crate) mod stream_closed;
pub(crate) mod stream_recovers;
pub(crate) mod stream_survives;
mod table;
#[cfg(test)]
mod testing;
pub(crate) mod timers_cleared;
pub(crate) mod timers_independent;

pub use table::{CheckInfo, CheckKind, Needs, Param};

use crate::trace::Trace;
use serde::Serialize;
use std::time::Duration;

/// The verdict of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The property held over everything the check judges.
    Pass,
    /// The property was violated: the outcome's `at` and message say where and how.
    Fail,
    /// The target cannot expose what the check needs.
    Unobservable,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Unobservable => "unobservable",
        })
    }
}

/// The outcome of one check over one trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckOutcome {
    /// Stable check id, e.g. `keepalive.cadence`.
    pub id: String,
    /// What the check concluded.
    pub verdict: Verdict,
    /// Virtual time the verdict is about (the failure point, or the end of the span checked).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_stamp"
    )]
    pub at: Option<Duration>,
    /// One human sentence: on failure, what happened, which stream, which limit.
    pub message: String,
}

fn ser_opt_stamp<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&crate::time::stamp(*d)),
        None => s.serialize_none(),
    }
}

/// A check with its parameters, as validated from a scenario's `[[expect]]` table.
///
/// `stream` selects the client stream by name; `None` means every stream the client opened.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "check")]
pub enum CheckSpec {
    /// `stream.survives`: the stream stays open until `until` (default: the scenario's end);
    /// only the client may close it.
    #[serde(rename = "stream.survives")]
    StreamSurvives {
        /// The client stream judged (its name in the client's timeline); `None`: every stream.
        stream: Option<String>,
        /// Until when the stream must stay open; `None`: the scenario's end.
        #[serde(with = "crate::time::human_opt")]
        until: Option<Duration>,
    },
    /// `stream.closed`: the stream is closed by intermediary `by` at `at` ± `tolerance`.
    #[serde(rename = "stream.closed")]
    StreamClosed {
        /// The client stream judged; `None`: every stream.
        stream: Option<String>,
        /// The intermediary (its host name) expected to close the stream.
        by: String,
        /// When it is expected to close it (virtual time since the run started).
        #[serde(with = "crate::time::human")]
        at: Duration,
        /// How far from `at` the close may be, either way (default 1 s).
        #[serde(with = "crate::time::human")]
        tolerance: Duration,
    },
    /// `keepalive.cadence`: the largest gap between bytes reaching the client on a stream
    /// (from response headers to the stream's end) is at most `gap_max`.
    #[serde(rename = "keepalive.cadence")]
    KeepaliveCadence {
        /// The client stream judged; `None`: every stream.
        stream: Option<String>,
        /// The largest gap allowed between bytes reaching the client.
        #[serde(with = "crate::time::human")]
        gap_max: Duration,
    },
    /// `keepalive.format`: keepalives are comments; a data-less named event is flagged.
    #[serde(rename = "keepalive.format")]
    KeepaliveFormat {
        /// The client stream judged; `None`: every stream.
        stream: Option<String>,
    },
    /// `first-event.delay`: the first event reaches the client within `max` of the request,
    /// and not before `min` (at least one of the two is given).
    #[serde(rename = "first-event.delay")]
    FirstEventDelay {
        /// The client stream judged; `None`: every stream.
        stream: Option<String>,
        /// The latest the first event may reach the client after the request; `None`: no upper bound.
        #[serde(with = "crate::time::human_opt")]
        max: Option<Duration>,
        /// The earliest it may; `None`: no lower bound.
        #[serde(with = "crate::time::human_opt")]
        min: Option<Duration>,
    },
    /// `keepalive.on-post`: `keepalive.cadence` over POST requests answered with SSE.
    #[serde(rename = "keepalive.on-post")]
    KeepaliveOnPost {
        /// The largest gap allowed between bytes reaching the client.
        #[serde(with = "crate::time::human")]
        gap_max: Duration,
    },
    /// `keepalive.on-replay`: `keepalive.cadence` over requests sent with `Last-Event-ID`.
    #[serde(rename = "keepalive.on-replay")]
    KeepaliveOnReplay {
        /// The largest gap allowed between bytes reaching the client.
        #[serde(with = "crate::time::human")]
        gap_max: Duration,
    },
    /// `timers.independent`: after any stream closes, every other stream still open keeps
    /// its cadence (gaps at the client ≤ `gap_max`) until it ends.
    #[serde(rename = "timers.independent")]
    TimersIndependent {
        /// The largest gap allowed between bytes reaching the client on every stream still open.
        #[serde(with = "crate::time::human")]
        gap_max: Duration,
    },
    /// `timers.cleared`: every keepalive timer the server armed is cleared within `grace` of
    /// the server learning its stream is gone, and nothing is written on a stream after a
    /// failed write. Unobservable when the server reports no timers.
    #[serde(rename = "timers.cleared")]
    TimersCleared {
        /// How long after the server learns a stream is gone its timer may still run (default 1 s).
        #[serde(with = "crate::time::human")]
        grace: Duration,
    },
    /// `replay.complete`: after each reconnect with `Last-Event-ID`, the client receives
    /// exactly the events the server had written on that stream after that id (no loss, no
    /// duplicate, order kept) before any new one.
    #[serde(rename = "replay.complete")]
    ReplayComplete {
        /// The client stream judged; `None`: every stream.
        stream: Option<String>,
    },
    /// `event-id.unique`: the server never uses one event id twice within a session.
    #[serde(rename = "event-id.unique")]
    EventIdUnique,
    /// `client.resumes`: every reconnect of a stream sends, as `Last-Event-ID`, the last event
    /// id the client received on it (persisting across consecutive drops).
    #[serde(rename = "client.resumes")]
    ClientResumes {
        /// The client stream judged; `None`: every stream.
        stream: Option<String>,
    },
    /// `delivery.exactly-once`: every JSON-RPC message the server wrote to the client (an SSE
    /// event with data, or a JSON answer) reaches the application exactly once, unless the
    /// client had closed that stream itself (or the scenario had ended) before it was written.
    #[serde(rename = "delivery.exactly-once")]
    DeliveryExactlyOnce,
    /// `replay.same-stream`: a resumed connection replays only events of the server stream
    /// its `Last-Event-ID` belonged to.
    #[serde(rename = "replay.same-stream")]
    ReplaySameStream,
    /// `replay.session-isolated`: a replay never writes an event first written in another
    /// session (GHSA-84j6-jc92-77jm).
    #[serde(rename = "replay.session-isolated")]
    ReplaySessionIsolated,
    /// `client.reconnect-backoff`: consecutive failed reconnects of a stream wait `initial`
    /// (or the server's `retry`), doubling each time, at most `max`, and the client waits
    /// that long before reconnecting.
    #[serde(rename = "client.reconnect-backoff")]
    ClientReconnectBackoff {
        /// The first wait after a failed reconnect (the server's `retry` replaces it when sent).
        #[serde(with = "crate::time::human")]
        initial: Duration,
        /// The longest wait.
        #[serde(with = "crate::time::human")]
        max: Duration,
    },
    /// `client.reconnect-rate`: no stream is reconnected more than `reconnects_max` times
    /// within any `window`, whatever the cause.
    #[serde(rename = "client.reconnect-rate")]
    ClientReconnectRate {
        /// The most reconnects of one stream within any `window` (default 6).
        reconnects_max: u32,
        /// The sliding window (default 60 s).
        #[serde(with = "crate::time::human")]
        window: Duration,
    },
    /// `stream.recovers`: every time a resumable MCP client stream drops, the client has it
    /// receiving again (a later `200` GET of the stream, or a `200` poll after its mode
    /// switch) within `within` (default 60s). Drops within `within` of the end are not judged.
    #[serde(rename = "stream.recovers")]
    StreamRecovers {
        /// The client stream judged; `None`: every MCP stream.
        stream: Option<String>,
        /// How long a dropped stream may take to receive again (default 60 s).
        #[serde(with = "crate::time::human")]
        within: Duration,
        /// A GET on another session than the one the stream dropped on counts too (default
        /// false: the client recovering by starting a new session is not the stream
        /// recovering).
        across_sessions: bool,
    },
    /// `session.survives`: the session the MCP client uses stays valid for the run: no
    /// request on it is answered 404 until the client deletes it.
    #[serde(rename = "session.survives")]
    SessionSurvives,
    /// `client.detects-buffering`: the client warns `DroppedEarly` on every SSE connection
    /// that ends within 60 s of opening (not closed by it, not a finished call) and
    /// `SlowFirstData` on every primed connection without a body byte 5 s after opening,
    /// each within `tick` + 1 ms; never without its sign.
    #[serde(rename = "client.detects-buffering")]
    ClientDetectsBuffering {
        /// The scenario's tick (not a file parameter).
        #[serde(skip)]
        tick: Duration,
    },
    /// `client.polling-fallback`: after 3 consecutive failed SSE connections of a GET stream
    /// (and never before) the client switches it to long polling at once, then polls every
    /// 2 s until the end.
    #[serde(rename = "client.polling-fallback")]
    ClientPollingFallback,
    /// `client.keepalive-warnings`: the client warns `MissedKeepalive` on every SSE
    /// connection silent for 1.5 × `expected` (default 30s), then each further `expected`,
    /// within `tick` + 1 ms; never otherwise.
    #[serde(rename = "client.keepalive-warnings")]
    ClientKeepaliveWarnings {
        /// The keepalive interval the client expects (default 30 s).
        #[serde(with = "crate::time::human")]
        expected: Duration,
        /// The scenario's tick (not a file parameter).
        #[serde(skip)]
        tick: Duration,
    },
    /// `determinism.wall-clock`: no host writes comment frames in a burst at one virtual
    /// instant, and no virtual second holds a stall-sized burst of events: signs of a target
    /// reading the real clock. Run on every scenario (reported when it fails, or when listed).
    #[serde(rename = "determinism.wall-clock")]
    DeterminismWallClock,
    /// `rpc.answered`: every JSON-RPC request the client's timeline sends gets an `ok` answer
    /// (an error outcome, an `http NNN` one, or none fails) unless the client closed its
    /// stream first; unanswered requests due within 60 s of the end are not
    /// judged. Run on every scenario (reported when it fails, or when listed).
    #[serde(rename = "rpc.answered")]
    RpcAnswered {
        /// The timeline's tool calls as `(at, tool-duration)`: a call's answer is due its
        /// duration after it was sent (not a file parameter).
        #[serde(skip)]
        calls: Vec<(Duration, Duration)>,
    },
}

/// The verdict of `spec` on a run the harness stopped at `stopped` (a [`crate::trace::EventKind::RunStopped`])
/// before the check's [`CheckSpec::horizon`]: what failed before the stop stays failed, but a
/// pass only covers the run up to the stop, so it becomes `unobservable`, saying so.
pub fn judge_stopped(
    spec: &CheckSpec,
    o: CheckOutcome,
    stopped: Duration,
    duration: Duration,
) -> CheckOutcome {
    let horizon = spec.horizon(duration);
    if o.verdict != Verdict::Pass || horizon <= stopped {
        return o;
    }
    CheckOutcome {
        verdict: Verdict::Unobservable,
        at: Some(stopped),
        message: format!(
            "the run was stopped at {}, before {} (the end of what this check judges); until the stop: {}",
            crate::time::stamp(stopped),
            crate::time::stamp(horizon),
            o.message
        ),
        ..o
    }
}

/// The checks every run is judged by, with their default parameters, whether the scenario
/// lists them or not (a listed one takes the file's parameters). Unlisted, they are reported
/// only when they fail: each catches a defect no scenario should have to ask about.
///
/// `calls`: the timeline's tool calls as `(at, tool-duration)` (for `rpc.answered`).
pub fn implicit(calls: Vec<(Duration, Duration)>) -> Vec<CheckSpec> {
    vec![
        CheckSpec::DeterminismWallClock,
        CheckSpec::RpcAnswered { calls },
        CheckSpec::ClientReconnectRate {
            reconnects_max: client_reconnect_rate::RECONNECTS_MAX_DEFAULT,
            window: client_reconnect_rate::WINDOW_DEFAULT,
        },
    ]
}

impl CheckSpec {
    /// The stable id.
    pub fn id(&self) -> &'static str {
        self.kind().id()
    }

    /// Which check this is (its row of the table: [`CheckKind::info`]).
    pub fn kind(&self) -> CheckKind {
        match self {
            CheckSpec::StreamSurvives { .. } => CheckKind::StreamSurvives,
            CheckSpec::StreamClosed { .. } => CheckKind::StreamClosed,
            CheckSpec::KeepaliveCadence { .. } => CheckKind::KeepaliveCadence,
            CheckSpec::KeepaliveFormat { .. } => CheckKind::KeepaliveFormat,
            CheckSpec::FirstEventDelay { .. } => CheckKind::FirstEventDelay,
            CheckSpec::KeepaliveOnPost { .. } => CheckKind::KeepaliveOnPost,
            CheckSpec::KeepaliveOnReplay { .. } => CheckKind::KeepaliveOnReplay,
            CheckSpec::TimersIndependent { .. } => CheckKind::TimersIndependent,
            CheckSpec::TimersCleared { .. } => CheckKind::TimersCleared,
            CheckSpec::ReplayComplete { .. } => CheckKind::ReplayComplete,
            CheckSpec::EventIdUnique => CheckKind::EventIdUnique,
            CheckSpec::ClientResumes { .. } => CheckKind::ClientResumes,
            CheckSpec::DeliveryExactlyOnce => CheckKind::DeliveryExactlyOnce,
            CheckSpec::ReplaySameStream => CheckKind::ReplaySameStream,
            CheckSpec::ReplaySessionIsolated => CheckKind::ReplaySessionIsolated,
            CheckSpec::ClientReconnectBackoff { .. } => CheckKind::ClientReconnectBackoff,
            CheckSpec::ClientReconnectRate { .. } => CheckKind::ClientReconnectRate,
            CheckSpec::StreamRecovers { .. } => CheckKind::StreamRecovers,
            CheckSpec::SessionSurvives => CheckKind::SessionSurvives,
            CheckSpec::ClientDetectsBuffering { .. } => CheckKind::ClientDetectsBuffering,
            CheckSpec::ClientPollingFallback => CheckKind::ClientPollingFallback,
            CheckSpec::ClientKeepaliveWarnings { .. } => CheckKind::ClientKeepaliveWarnings,
            CheckSpec::DeterminismWallClock => CheckKind::DeterminismWallClock,
            CheckSpec::RpcAnswered { .. } => CheckKind::RpcAnswered,
        }
    }

    /// The virtual time up to which this check must observe the run to reach a verdict
    /// (`duration`: the scenario's end). A run the harness stopped earlier can fail the
    /// check but never pass it ([`judge_stopped`]).
    pub fn horizon(&self, duration: Duration) -> Duration {
        match self {
            CheckSpec::StreamSurvives { until, .. } => until.unwrap_or(duration),
            CheckSpec::StreamClosed { at, tolerance, .. } => *at + *tolerance,
            CheckSpec::KeepaliveCadence { .. }
            | CheckSpec::KeepaliveFormat { .. }
            | CheckSpec::FirstEventDelay { .. }
            | CheckSpec::KeepaliveOnPost { .. }
            | CheckSpec::KeepaliveOnReplay { .. }
            | CheckSpec::TimersIndependent { .. }
            | CheckSpec::TimersCleared { .. }
            | CheckSpec::ReplayComplete { .. }
            | CheckSpec::EventIdUnique
            | CheckSpec::ClientResumes { .. }
            | CheckSpec::DeliveryExactlyOnce
            | CheckSpec::ReplaySameStream
            | CheckSpec::ReplaySessionIsolated
            | CheckSpec::ClientReconnectBackoff { .. }
            | CheckSpec::ClientReconnectRate { .. }
            | CheckSpec::StreamRecovers { .. }
            | CheckSpec::SessionSurvives
            | CheckSpec::ClientDetectsBuffering { .. }
            | CheckSpec::ClientPollingFallback
            | CheckSpec::ClientKeepaliveWarnings { .. }
            | CheckSpec::DeterminismWallClock
            | CheckSpec::RpcAnswered { .. } => duration,
        }
    }

    /// Evaluates the check over a trace. `end` is the scenario's duration (when the client
    /// closes everything).
    pub fn evaluate(&self, trace: &Trace, end: Duration) -> CheckOutcome {
        match self {
            CheckSpec::StreamSurvives { stream, until } => {
                stream_survives::evaluate(stream.as_deref(), *until, trace, end)
            }
            CheckSpec::StreamClosed {
                stream,
                by,
                at,
                tolerance,
            } => stream_closed::evaluate(stream.as_deref(), by, *at, *tolerance, trace, end),
            CheckSpec::KeepaliveCadence { stream, gap_max } => {
                keepalive_cadence::evaluate(stream.as_deref(), *gap_max, trace, end)
            }
            CheckSpec::KeepaliveFormat { stream } => {
                keepalive_format::evaluate(stream.as_deref(), trace, end)
            }
            CheckSpec::FirstEventDelay { stream, max, min } => {
                first_event_delay::evaluate(stream.as_deref(), *max, *min, trace, end)
            }
            CheckSpec::KeepaliveOnPost { gap_max } => {
                keepalive_on_post::evaluate(*gap_max, trace, end)
            }
            CheckSpec::KeepaliveOnReplay { gap_max } => {
                keepalive_on_replay::evaluate(*gap_max, trace, end)
            }
            CheckSpec::TimersIndependent { gap_max } => {
                timers_independent::evaluate(*gap_max, trace, end)
            }
            CheckSpec::TimersCleared { grace } => timers_cleared::evaluate(*grace, trace, end),
            CheckSpec::ReplayComplete { stream } => {
                replay_complete::evaluate(stream.as_deref(), trace, end)
            }
            CheckSpec::EventIdUnique => event_id_unique::evaluate(trace, end),
            CheckSpec::ClientResumes { stream } => {
                client_resumes::evaluate(stream.as_deref(), trace, end)
            }
            CheckSpec::DeliveryExactlyOnce => delivery_exactly_once::evaluate(trace, end),
            CheckSpec::ReplaySameStream => replay_same_stream::evaluate(trace, end),
            CheckSpec::ReplaySessionIsolated => replay_session_isolated::evaluate(trace, end),
            CheckSpec::ClientReconnectBackoff { initial, max } => {
                client_reconnect_backoff::evaluate(*initial, *max, trace, end)
            }
            CheckSpec::StreamRecovers {
                stream,
                within,
                across_sessions,
            } => {
                stream_recovers::evaluate(stream.as_deref(), *within, *across_sessions, trace, end)
            }
            CheckSpec::SessionSurvives => session_survives::evaluate(trace, end),
            CheckSpec::ClientReconnectRate {
                reconnects_max,
                window,
            } => client_reconnect_rate::evaluate(*reconnects_max, *window, trace, end),
            CheckSpec::ClientDetectsBuffering { tick } => {
                client_detects_buffering::evaluate(*tick, trace, end)
            }
            CheckSpec::ClientPollingFallback => client_polling_fallback::evaluate(trace, end),
            CheckSpec::ClientKeepaliveWarnings { expected, tick } => {
                client_keepalive_warnings::evaluate(*expected, *tick, trace, end)
            }
            CheckSpec::DeterminismWallClock => determinism_wall_clock::evaluate(trace, end),
            CheckSpec::RpcAnswered { calls } => rpc_answered::evaluate(calls, trace, end),
        }
    }
}

#[cfg(test)]
mod tests;
