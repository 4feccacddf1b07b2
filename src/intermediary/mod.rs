//! Simulated intermediaries: TCP relay hosts whose behaviour is a stack of behaviors.
//!
//! ```text
//!   downstream side                    intermediary host                     upstream side
//!   (towards client)   ┌──────────────────────────────────────────────┐   (towards server)
//!   client ──bytes──▶  │ relay (src/sim/relay.rs): I/O, HTTP head parse│ ──bytes──▶ server
//!          ◀─bytes───  │   ▲ Observation            │ Decision        │ ◀─bytes───
//!                      │   │                        ▼                 │
//!                      │ [idle-timeout] [max-duration] [buffering] ...│  one file each,
//!                      └──────────────────────────────────────────────┘  pure functions of
//!                                                                        virtual time + input
//! ```
//!
//! A [`Behavior`] never does I/O and never reads a clock: the relay tells it what happened
//! ([`Observation`]) and when (`now`, virtual time since the start of the simulation), asks
//! for its next deadline, and carries out the [`Decision`]s it returns. The same behaviors
//! can therefore drive any engine that can feed them time and bytes.
//!
//! Configuration ([`IntermediaryConfig`], [`BehaviorConfig`]) comes from a scenario file,
//! usually starting from a named [`preset`] of a real middlebox.

pub mod buffering;
pub mod first_byte_timeout;
pub mod idle_timeout;
pub mod latency;
pub mod max_duration;
pub mod preset;

pub use buffering::{Buffering, BufferingMode};
pub use first_byte_timeout::FirstByteTimeout;
pub use idle_timeout::IdleTimeout;
pub use latency::Latency;
pub use max_duration::MaxDuration;

use crate::trace::Limit;
use serde::Serialize;
use std::time::Duration;

/// A side of the intermediary, named by where it leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// The connection towards the client.
    Downstream,
    /// The connection towards the server.
    Upstream,
}

/// Which side's bytes an idle timer watches: bytes *received from* that side reset it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Watch {
    /// Bytes from the upstream (server) side reset the timer (nginx `proxy_read_timeout`).
    Upstream,
    /// Bytes from the downstream (client) side reset the timer.
    Downstream,
    /// Bytes from either side reset the timer (Envoy `stream_idle_timeout`, AWS ALB).
    Any,
}

impl Watch {
    /// Whether bytes received from `side` reset a timer that watches `self`.
    pub fn matches(self, side: Side) -> bool {
        matches!(
            (self, side),
            (Watch::Any, _)
                | (Watch::Upstream, Side::Upstream)
                | (Watch::Downstream, Side::Downstream)
        )
    }
}

impl std::fmt::Display for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Watch::Upstream => "upstream",
            Watch::Downstream => "downstream",
            Watch::Any => "any",
        })
    }
}

/// How an intermediary ends a connection when a limit fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloseAction {
    /// Close both sides with FIN. Mid-body this truncates a chunked response.
    Fin,
    /// Reset both sides. (turmoil exposes no RST to applications; the relay closes and the
    /// trace records the intent.)
    Rst,
    /// Stop forwarding in both directions, silently, keeping both sockets open.
    Blackhole,
    /// Answer the client with this HTTP status (e.g. 504), then close. Only possible before
    /// response headers were sent downstream; behaviors fall back to their `after-headers`
    /// action otherwise.
    Respond(u16),
}

impl std::fmt::Display for CloseAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseAction::Fin => f.write_str("fin"),
            CloseAction::Rst => f.write_str("rst"),
            CloseAction::Blackhole => f.write_str("blackhole"),
            CloseAction::Respond(s) => write!(f, "http-{s}"),
        }
    }
}

/// What the relay tells a behavior. `now` is passed alongside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// The downstream connection was accepted and the upstream one established.
    Opened,
    /// The request head passed upstream.
    RequestHead {
        /// The request method as the client wrote it, e.g. `GET`.
        method: String,
        /// The request target as the client wrote it, e.g. `/mcp`.
        path: String,
    },
    /// The response head arrived from upstream (status and headers, names lowercased).
    ResponseHead {
        /// The response status code, e.g. 200.
        status: u16,
        /// The response headers in the order received, as `(name, value)`: names lowercased,
        /// values as sent (decoded as UTF-8 with replacement).
        headers: Vec<(String, String)>,
    },
    /// `len` bytes were received from `from` (before any holding or delay). Every read is
    /// reported, head bytes included; idle timers use this.
    Bytes {
        /// The side the bytes came from.
        from: Side,
        /// How many bytes this read carried. Unit: bytes.
        len: usize,
    },
    /// `len` bytes of the response *body* (after the head) arrived from upstream; reported
    /// right after the `Bytes` observation of the same read. Buffering counts these.
    ResponseBody {
        /// How many body bytes this read carried. Unit: bytes.
        len: usize,
    },
    /// The upstream side ended its response (FIN or a complete body).
    UpstreamEnded,
}

/// What a behavior asks the relay to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// End the connection. `reason` is a human sentence for the trace, e.g.
    /// `"idle-timeout 60s (upstream silent since 00:00:01.003)"`.
    Close {
        /// How to end it. Once response headers went downstream the relay ends a `Respond`
        /// with `fin` instead.
        action: CloseAction,
        /// Why, as the trace records it with the close, the answer or the blackhole.
        reason: String,
    },
    /// Release every held response byte downstream.
    Flush {
        /// Why, as the trace records it ([`crate::trace::EventKind::Flushed`]), e.g.
        /// `"threshold 4096 bytes reached (5000 held)"`.
        why: String,
    },
}

/// One rule of an intermediary. Implementations are pure: no I/O, no clocks, no global RNG.
pub trait Behavior: std::fmt::Debug {
    /// Stable kind name, as used in scenario files: `idle-timeout`, `buffering`, ...
    fn kind(&self) -> &'static str;

    /// One-line human summary with units, e.g. `idle-timeout 60s upstream → http-504`.
    fn summary(&self) -> String;

    /// The time limit this behavior enforces, for checks that explain a failure.
    fn limit(&self) -> Option<Limit> {
        None
    }

    /// Something happened on the connection at `now`. May decide at once (e.g. a buffer
    /// threshold reached).
    fn observe(&mut self, now: Duration, obs: &Observation) -> Option<Decision>;

    /// The next virtual instant at which this behavior wants [`Behavior::on_deadline`]
    /// called, if any.
    fn deadline(&self) -> Option<Duration> {
        None
    }

    /// Called when `now >= deadline()`.
    fn on_deadline(&mut self, _now: Duration) -> Option<Decision> {
        None
    }

    /// Whether response body bytes must be held back now (buffering).
    fn holds_response(&self) -> bool {
        false
    }

    /// Extra delay before a chunk received from `from` is forwarded (latency).
    fn delay(&mut self, _from: Side) -> Duration {
        Duration::ZERO
    }
}

/// The configuration of one behavior, after validation. Units are in the field names'
/// types ([`Duration`]s, byte counts).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BehaviorConfig {
    /// `idle-timeout`: end the connection after a span with no bytes from the watched side.
    IdleTimeout(idle_timeout::IdleTimeoutConfig),
    /// `first-byte-timeout`: answer with an error status when no response headers arrived
    /// within a span of the request.
    FirstByteTimeout(first_byte_timeout::FirstByteTimeoutConfig),
    /// `max-duration`: end the connection a fixed span after it opened, whatever the traffic.
    MaxDuration(max_duration::MaxDurationConfig),
    /// `buffering`: hold response body bytes back from the client.
    Buffering(buffering::BufferingConfig),
    /// `latency`: delay every chunk by a fixed or seeded-random span.
    Latency(latency::LatencyConfig),
}

impl BehaviorConfig {
    /// The kind name used in scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            BehaviorConfig::IdleTimeout(_) => "idle-timeout",
            BehaviorConfig::FirstByteTimeout(_) => "first-byte-timeout",
            BehaviorConfig::MaxDuration(_) => "max-duration",
            BehaviorConfig::Buffering(_) => "buffering",
            BehaviorConfig::Latency(_) => "latency",
        }
    }

    /// Builds a fresh behavior for one connection. `seed` feeds seeded randomness (latency).
    pub fn build(&self, seed: u64) -> Box<dyn Behavior> {
        match self {
            BehaviorConfig::IdleTimeout(c) => Box::new(IdleTimeout::new(c.clone())),
            BehaviorConfig::FirstByteTimeout(c) => Box::new(FirstByteTimeout::new(c.clone())),
            BehaviorConfig::MaxDuration(c) => Box::new(MaxDuration::new(c.clone())),
            BehaviorConfig::Buffering(c) => Box::new(Buffering::new(c.clone())),
            BehaviorConfig::Latency(c) => Box::new(Latency::new(c.clone(), seed)),
        }
    }
}

/// One intermediary of a topology, fully resolved (preset merged with overrides).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntermediaryConfig {
    /// Host name in the simulation and the trace (defaults to the preset's name).
    pub name: String,
    /// The preset it started from, if any.
    pub preset: Option<String>,
    /// The behavior stack, applied in order.
    pub behaviors: Vec<BehaviorConfig>,
}
