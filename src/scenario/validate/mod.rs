//! Pass 2: from the file as written ([`RawScenario`]) to a [`Scenario`] the simulation can
//! run.
//!
//! Here live the rules that need more than one key: presets are resolved and merged with
//! their overrides, host names are defaulted and checked for uniqueness, faults must name
//! hosts that exist, a client may only close a stream it opened, every time must fall within
//! the run, each check gets exactly the parameters it takes. Each error points at the
//! [`Spanned`] value it is about.
//!
//! ```text
//!  RawScenario ──Validator::scenario (here: top-level keys, protocol, ranges)
//!     [[intermediary]] ──▶ intermediaries.rs     [server] ──▶ server.rs
//!     [client]         ──▶ client.rs             [[fault]] ──▶ faults.rs
//!     [[expect]], [expect-fail] ──▶ expect.rs (the table of checks: check::CheckKind)
//!  ──▶ Scenario
//! ```
//!
//! One `impl Validator` block per table, each in its own file.

mod client;
mod expect;
mod faults;
mod intermediaries;
mod server;
#[cfg(test)]
mod tests;

use super::error::{key_segment, suggestion, ScenarioError};
use super::model::*;
use super::raw::*;
use crate::check::{CheckKind, CheckSpec, Needs};
use crate::intermediary::buffering::{BufferingConfig, BufferingMode};
use crate::intermediary::first_byte_timeout::FirstByteTimeoutConfig;
use crate::intermediary::idle_timeout::IdleTimeoutConfig;
use crate::intermediary::latency::LatencyConfig;
use crate::intermediary::max_duration::MaxDurationConfig;
use crate::intermediary::preset::Preset;
use crate::intermediary::{BehaviorConfig, CloseAction, IntermediaryConfig, Watch};
use crate::mcp::Revision;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;

/// The longest scenario duration: 7 days.
pub const DURATION_MAX: Duration = Duration::from_secs(7 * 24 * 3600);
/// The smallest simulation tick.
pub const TICK_MIN: Duration = Duration::from_millis(1);
/// The largest simulation tick.
pub const TICK_MAX: Duration = Duration::from_secs(1);

/// Default `tolerance` of `stream.closed`.
const CLOSED_TOLERANCE_DEFAULT: Duration = Duration::from_secs(1);
/// Default `grace` of `timers.cleared`.
const CLEARED_GRACE_DEFAULT: Duration = Duration::from_secs(1);

type Result<T> = std::result::Result<T, ScenarioError>;

/// Validates a raw scenario against the given presets.
pub(crate) fn validate(
    file: &str,
    text: &str,
    raw: RawScenario,
    presets: &[Preset],
) -> Result<Scenario> {
    let mcp = raw.client.step.iter().any(|s| {
        !matches!(
            s.get_ref().action.get_ref(),
            StepName::OpenStream | StepName::CloseStream
        )
    });
    Validator {
        file,
        text,
        presets,
        duration: Duration::ZERO,
        tick: TICK_MIN,
        kind: if mcp {
            Kind::Mcp(Revision::DEFAULT)
        } else {
            Kind::Plain
        },
        set_keys: RefCell::new(Vec::new()),
    }
    .scenario(raw)
}

struct Validator<'a> {
    file: &'a str,
    text: &'a str,
    presets: &'a [Preset],
    /// The scenario's duration, once known.
    duration: Duration,
    /// The simulation tick, once known.
    tick: Duration,
    /// Plain SSE or MCP (with the run's revision, once known).
    kind: Kind,
    /// The implementation keys the file sets, as they are validated.
    set_keys: RefCell<Vec<SetKey>>,
}

/// What kind of scenario a file is: its client speaks plain SSE, or MCP (any MCP step).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Plain,
    /// MCP, speaking this revision.
    Mcp(Revision),
}

impl Kind {
    /// MCP on a revision with sessions, the GET stream and resumption.
    fn resumable(&self) -> bool {
        matches!(self, Kind::Mcp(r) if r.has_sessions())
    }
}

impl Validator<'_> {
    fn err(
        &self,
        span: Range<usize>,
        path: impl Into<String>,
        msg: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError::at(self.file, self.text, span.start, path, msg)
    }

    /// Notes that the file sets implementation key `key` at `span` (key path `path`).
    fn set(&self, key: &'static str, span: Range<usize>, path: impl Into<String>) {
        let (line, column) = super::error::line_column(self.text, span.start);
        self.set_keys.borrow_mut().push(SetKey {
            key,
            at: Place {
                path: path.into(),
                line,
                column,
            },
        });
    }

    /// The place of `span` (key path `path`).
    fn place(&self, span: Range<usize>, path: impl Into<String>) -> Place {
        let (line, column) = super::error::line_column(self.text, span.start);
        Place {
            path: path.into(),
            line,
            column,
        }
    }

    /// Refuses key `path` (at `span`) in a plain SSE scenario: it configures MCP only.
    fn mcp_only(&self, span: Range<usize>, path: &str) -> Result<()> {
        if self.kind == Kind::Plain {
            return Err(self
                .err(
                    span,
                    path,
                    format!("`{path}` applies only to MCP scenarios, and this one has no MCP client step (initialize, open-get-stream, call-tool, ...); expected it left out of a plain SSE scenario"),
                )
                .with_hint("remove the key, or make the client speak MCP (do = \"initialize\", then MCP steps)"));
        }
        Ok(())
    }

    /// Refuses key `path` (at `span`) under the sessionless revision: it configures sessions,
    /// the GET stream or resumption.
    fn needs_sessions(&self, span: Range<usize>, path: &str, what: &str) -> Result<()> {
        if let Kind::Mcp(r) = self.kind {
            if !r.has_sessions() {
                return Err(self
                    .err(
                        span,
                        path,
                        format!("`{path}` has no effect under {r} (the run's revision, the last in `protocol`), which has no {what}; expected it left out, or an earlier revision"),
                    )
                    .with_hint("remove the key, or list an earlier revision last in `protocol`"));
            }
        }
        Ok(())
    }

    /// Refuses a period shorter than the tick: the simulation cannot time it.
    fn not_below_tick(&self, d: Duration, span: Range<usize>, path: &str) -> Result<()> {
        if d < self.tick {
            return Err(self
                .err(
                    span,
                    path,
                    format!(
                        "{} is shorter than the tick ({}), the simulation's timing resolution; expected a period ≥ the tick",
                        crate::time::span(d),
                        crate::time::span(self.tick)
                    ),
                )
                .with_hint(format!(
                    "lengthen it, or set a smaller tick (tick = \"{}\")",
                    crate::time::span(d.max(TICK_MIN))
                )));
        }
        Ok(())
    }

    fn scenario(mut self, raw: RawScenario) -> Result<Scenario> {
        if raw.description.get_ref().trim().is_empty() {
            return Err(self.err(
                raw.description.span(),
                "description",
                "is empty; expected one sentence saying what must hold",
            ));
        }
        let protocol = self.protocol(&raw.protocol)?;
        if let (Kind::Plain, Some(p)) = (&self.kind, raw.protocol.first()) {
            return Err(self
                .err(
                    p.span(),
                    "protocol",
                    "`protocol` names the MCP revision a run speaks, and this scenario has no MCP client step; expected it left out of a plain SSE scenario",
                )
                .with_hint("remove `protocol`, or make the client speak MCP (do = \"initialize\", then MCP steps)"));
        }
        if let Some(last) = protocol.last() {
            self.kind = Kind::Mcp(*last);
        }
        let duration = *raw.duration.get_ref();
        if duration.0.is_zero() || duration.0 > DURATION_MAX {
            return Err(self.err(
                raw.duration.span(),
                "duration",
                format!(
                    "{} is out of range; expected more than 0s and at most 7days",
                    crate::time::span(duration.0)
                ),
            ));
        }
        self.duration = duration.0;
        let tick = match &raw.tick {
            None => TICK_MIN,
            Some(t) => {
                let tick = t.get_ref().0;
                if !(TICK_MIN..=TICK_MAX).contains(&tick) {
                    return Err(self.err(
                        t.span(),
                        "tick",
                        format!(
                            "{} is out of range; expected from 1ms to 1s",
                            crate::time::span(tick)
                        ),
                    ));
                }
                tick
            }
        };
        self.tick = tick;
        let intermediaries = self.intermediaries(raw.intermediary)?;
        let server = self.server(raw.server)?;
        let revision = protocol.last().copied().unwrap_or(Revision::DEFAULT);
        let (client, streams) = self.client(raw.client, revision)?;
        let mut hosts: Vec<&str> = vec!["client", "server"];
        hosts.extend(intermediaries.iter().map(|i| i.name.as_str()));
        let faults = self.faults(raw.fault, &hosts)?;
        let mut expects = self.expects(raw.expect, &streams, &client, &intermediaries, tick)?;
        let expect_fail_at = raw
            .expect_fail
            .iter()
            .map(|(t, table)| {
                let path = format!("expect-fail.{}", key_segment(t));
                (t.clone(), self.place(table.span(), path))
            })
            .collect();
        for spec in &mut expects {
            if let CheckSpec::RpcAnswered { calls } = spec {
                *calls = client.tool_calls();
            }
        }
        let mut expect_fail_reasons = BTreeMap::new();
        for (target, table) in &raw.expect_fail {
            if let Some(r) = &table.get_ref().reason {
                let path = format!("expect-fail.{}.reason", key_segment(target));
                expect_fail_reasons.insert(target.clone(), self.one_line(r, &path, false)?);
            }
        }
        let expect_fail = self.expect_fail(raw.expect_fail, &expects)?;
        Ok(Scenario {
            path: self.file.to_string(),
            description: raw.description.into_inner(),
            cites: raw.cites,
            protocol,
            seed: raw.seed,
            duration: self.duration,
            tick,
            intermediaries,
            server,
            client,
            faults,
            expects,
            expect_fail,
            expect_fail_reasons,
            cli_options: Vec::new(),
            set_keys: {
                let mut keys = self.set_keys.take();
                keys.sort_by_key(|k| (k.at.line, k.at.column));
                keys
            },
            expect_fail_at,
            expected_by: BTreeMap::new(),
        })
    }

    fn protocol(&self, raw: &[Spanned<String>]) -> Result<Vec<Revision>> {
        let mut out: Vec<Revision> = Vec::new();
        for (i, p) in raw.iter().enumerate() {
            let path = format!("protocol[{i}]");
            let name = p.get_ref();
            let Some(revision) = Revision::parse(name) else {
                let names: Vec<&str> = Revision::ALL.iter().map(|r| r.as_str()).collect();
                return Err(self
                    .err(
                        p.span(),
                        path,
                        format!(
                            "unknown MCP revision {name:?}; expected one of: {}",
                            names.join(", ")
                        ),
                    )
                    .with_hint_opt(suggestion(name, names.iter().copied())));
            };
            if out.contains(&revision) {
                return Err(self.err(
                    p.span(),
                    path,
                    format!("revision {name:?} is listed twice; expected each revision once"),
                ));
            }
            out.push(revision);
        }
        Ok(out)
    }

    /// Checks that an instant lies within the run.
    fn within_run(&self, at: &Spanned<HumanSpan>, path: &str) -> Result<Duration> {
        let d = at.get_ref().0;
        if d > self.duration {
            return Err(self.err(
                at.span(),
                path,
                format!(
                    "{} is after the end of the run; expected a time ≤ duration ({})",
                    crate::time::span(d),
                    crate::time::span(self.duration)
                ),
            ));
        }
        Ok(d)
    }

    /// Checks that a span is more than zero.
    fn positive(&self, s: &Spanned<HumanSpan>, path: &str) -> Result<Duration> {
        let d = s.get_ref().0;
        if d.is_zero() {
            return Err(self.err(
                s.span(),
                path,
                "is 0s; expected a span more than 0s, like \"60s\"",
            ));
        }
        Ok(d)
    }

    /// Checks a one-line string (header-like SSE fields).
    fn one_line(&self, s: &Spanned<String>, path: &str, allow_empty: bool) -> Result<String> {
        let v = s.get_ref();
        if v.contains(['\r', '\n', '\0']) {
            return Err(self.err(
                s.span(),
                path,
                format!("{v:?} contains a line break or NUL; expected one line of text"),
            ));
        }
        if !allow_empty && v.is_empty() {
            return Err(self.err(s.span(), path, "is empty; expected a non-empty name"));
        }
        Ok(v.clone())
    }
}
