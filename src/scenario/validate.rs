//! Pass 2: from the file as written ([`RawScenario`]) to a [`Scenario`] the simulation can
//! run.
//!
//! Here live the rules that need more than one key: presets are resolved and merged with
//! their overrides, host names are defaulted and checked for uniqueness, faults must name
//! hosts that exist, a client may only close a stream it opened, every time must fall within
//! the run, each check gets exactly the parameters it takes. Each error points at the
//! [`Spanned`] value it is about.

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
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;

/// MCP protocol revisions a scenario may declare.
pub const PROTOCOL_REVISIONS: &[&str] = &["2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"];

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

/// The MCP revision without sessions, GET stream or resumption.
pub const SESSIONLESS_REVISION: &str = "2026-07-28";

/// The MCP revision whose new SSE streams start with a priming event and `retry`.
pub const PRIMING_REVISION: &str = "2025-11-25";

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
            Kind::Mcp(DEFAULT_REVISION.to_string())
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
    Mcp(String),
}

impl Kind {
    /// MCP on a revision with sessions, the GET stream and resumption.
    fn resumable(&self) -> bool {
        matches!(self, Kind::Mcp(r) if r != SESSIONLESS_REVISION)
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
        if let Kind::Mcp(r) = &self.kind {
            if r == SESSIONLESS_REVISION {
                return Err(self
                    .err(
                        span,
                        path,
                        format!("`{path}` has no effect under {SESSIONLESS_REVISION} (the run's revision, the last in `protocol`), which has no {what}; expected it left out, or an earlier revision"),
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
            self.kind = Kind::Mcp(last.clone());
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
        let revision = protocol.last().map_or(DEFAULT_REVISION, String::as_str);
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
        })
    }

    fn protocol(&self, raw: &[Spanned<String>]) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for (i, p) in raw.iter().enumerate() {
            let path = format!("protocol[{i}]");
            let name = p.get_ref();
            if !PROTOCOL_REVISIONS.contains(&name.as_str()) {
                return Err(self
                    .err(
                        p.span(),
                        path,
                        format!(
                            "unknown MCP revision {name:?}; expected one of: {}",
                            PROTOCOL_REVISIONS.join(", ")
                        ),
                    )
                    .with_hint_opt(suggestion(name, PROTOCOL_REVISIONS.iter().copied())));
            }
            if out.contains(name) {
                return Err(self.err(
                    p.span(),
                    path,
                    format!("revision {name:?} is listed twice; expected each revision once"),
                ));
            }
            out.push(name.clone());
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

    // ---------------------------------------------------------------- intermediaries

    fn intermediaries(
        &self,
        raw: Vec<Spanned<RawIntermediary>>,
    ) -> Result<Vec<IntermediaryConfig>> {
        let mut out: Vec<IntermediaryConfig> = Vec::new();
        let mut unnamed = 0;
        for (i, im) in raw.into_iter().enumerate() {
            let base = format!("intermediary[{i}]");
            let span = im.span();
            let im = im.into_inner();
            let preset = match &im.preset {
                None => None,
                Some(p) => Some(self.preset(p, &format!("{base}.preset"))?),
            };
            let name = match &im.name {
                Some(n) => {
                    let path = format!("{base}.name");
                    self.host_name(n, &path)?;
                    n.get_ref().clone()
                }
                None => match preset {
                    Some(p) => p.name.to_string(),
                    None => {
                        unnamed += 1;
                        format!("proxy{unnamed}")
                    }
                },
            };
            if let Some(j) = out.iter().position(|o| o.name == name) {
                let (at, path) = match &im.name {
                    Some(n) => (n.span(), format!("{base}.name")),
                    None => (span.clone(), base.clone()),
                };
                return Err(self
                    .err(
                        at,
                        path,
                        format!(
                            "intermediary name `{name}` is already used by intermediary[{j}]; expected a unique name"
                        ),
                    )
                    .with_hint(format!("give each a distinct `name`, e.g. name = \"{name}-{}\"", i + 1)));
            }
            let mut behaviors = preset.map(|p| p.behaviors.clone()).unwrap_or_default();
            self.apply(
                &mut behaviors,
                im.idle_timeout,
                &base,
                "idle-timeout",
                |v, b, p, s, t| v.idle_timeout(b, p, s, t).map(BehaviorConfig::IdleTimeout),
            )?;
            self.apply(
                &mut behaviors,
                im.first_byte_timeout,
                &base,
                "first-byte-timeout",
                |v, b, p, s, t| {
                    v.first_byte_timeout(b, p, s, t)
                        .map(BehaviorConfig::FirstByteTimeout)
                },
            )?;
            self.apply(
                &mut behaviors,
                im.max_duration,
                &base,
                "max-duration",
                |v, b, p, s, t| v.max_duration(b, p, s, t).map(BehaviorConfig::MaxDuration),
            )?;
            self.apply(
                &mut behaviors,
                im.buffering,
                &base,
                "buffering",
                |v, b, p, s, t| v.buffering(b, p, s, t).map(BehaviorConfig::Buffering),
            )?;
            self.apply(
                &mut behaviors,
                im.latency,
                &base,
                "latency",
                |v, b, p, s, t| v.latency(b, p, s, t).map(BehaviorConfig::Latency),
            )?;
            out.push(IntermediaryConfig {
                name,
                preset: preset.map(|p| p.name.to_string()),
                behaviors,
            });
        }
        Ok(out)
    }

    fn preset(&self, p: &Spanned<String>, path: &str) -> Result<&Preset> {
        let name = p.get_ref();
        if let Some(found) = self.presets.iter().find(|x| x.name == name.as_str()) {
            return Ok(found);
        }
        let names: Vec<&str> = self.presets.iter().map(|x| x.name).collect();
        let list = if names.is_empty() {
            "(no presets are available)".to_string()
        } else {
            names.join(", ")
        };
        Err(self
            .err(
                p.span(),
                path,
                format!("unknown preset {name:?}; expected one of: {list}"),
            )
            .with_hint_opt(suggestion(name, names.iter().copied())))
    }

    fn host_name(&self, n: &Spanned<String>, path: &str) -> Result<()> {
        let name = n.get_ref();
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(self.err(
                n.span(),
                path,
                format!("invalid name {name:?}; expected lowercase letters, digits and '-', like \"edge-proxy\""),
            ));
        }
        if name == "client" || name == "server" {
            return Err(self.err(
                n.span(),
                path,
                format!("`{name}` is reserved for the {name} host; expected another name"),
            ));
        }
        Ok(())
    }

    /// Applies one behavior key to a stack: `"off"` removes the kind, a table merges into
    /// the existing behavior of that kind (in place) or is appended.
    fn apply<T>(
        &self,
        stack: &mut Vec<BehaviorConfig>,
        key: Option<Spanned<Toggle<T>>>,
        base: &str,
        kind: &str,
        merge: impl Fn(&Self, Option<&BehaviorConfig>, &str, Range<usize>, T) -> Result<BehaviorConfig>,
    ) -> Result<()> {
        let Some(key) = key else { return Ok(()) };
        let span = key.span();
        let path = format!("{base}.{kind}");
        match key.into_inner() {
            Toggle::Off => stack.retain(|b| b.kind() != kind),
            Toggle::On(table) => {
                let pos = stack.iter().position(|b| b.kind() == kind);
                let merged = merge(self, pos.map(|p| &stack[p]), &path, span, table)?;
                match pos {
                    Some(p) => stack[p] = merged,
                    None => stack.push(merged),
                }
            }
        }
        Ok(())
    }

    fn missing(
        &self,
        span: Range<usize>,
        path: &str,
        key: &str,
        kind: &str,
        example: &str,
    ) -> ScenarioError {
        self.err(
            span,
            path,
            format!("missing required key `{key}` (no preset {kind} to inherit from); expected e.g. {kind} = {{ {example} }}"),
        )
    }

    fn required_after(
        &self,
        given: &Option<Spanned<HumanSpan>>,
        inherited: Option<Duration>,
        path: &str,
        span: Range<usize>,
        kind: &str,
    ) -> Result<Duration> {
        match (given, inherited) {
            (Some(a), _) => self.positive(a, &format!("{path}.after")),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(self.missing(span, path, "after", kind, "after = \"60s\"")),
        }
    }

    fn after_headers_action(&self, a: &Spanned<RawAction>, path: &str) -> Result<CloseAction> {
        let action = a.get_ref().0;
        if let CloseAction::Respond(_) = action {
            return Err(self.err(
                a.span(),
                format!("{path}.after-headers"),
                format!("`{action}` is impossible after response headers went to the client; expected \"fin\", \"rst\" or \"blackhole\""),
            ));
        }
        Ok(action)
    }

    fn idle_timeout(
        &self,
        base: Option<&BehaviorConfig>,
        path: &str,
        span: Range<usize>,
        raw: RawIdleTimeout,
    ) -> Result<IdleTimeoutConfig> {
        let base = match base {
            Some(BehaviorConfig::IdleTimeout(c)) => Some(c),
            _ => None,
        };
        let after = self.required_after(
            &raw.after,
            base.map(|b| b.after),
            path,
            span,
            "idle-timeout",
        )?;
        let watch = match raw.watch {
            Some(WatchName::Upstream) => Watch::Upstream,
            Some(WatchName::Downstream) => Watch::Downstream,
            Some(WatchName::Any) => Watch::Any,
            None => base.map_or(Watch::Upstream, |b| b.watch),
        };
        let after_headers = match &raw.after_headers {
            Some(a) => self.after_headers_action(a, path)?,
            None => base.map_or(CloseAction::Fin, |b| b.after_headers),
        };
        Ok(IdleTimeoutConfig {
            after,
            watch,
            action: raw
                .action
                .map(|a| a.0)
                .or(base.map(|b| b.action))
                .unwrap_or(CloseAction::Fin),
            after_headers,
        })
    }

    fn first_byte_timeout(
        &self,
        base: Option<&BehaviorConfig>,
        path: &str,
        span: Range<usize>,
        raw: RawFirstByteTimeout,
    ) -> Result<FirstByteTimeoutConfig> {
        let base = match base {
            Some(BehaviorConfig::FirstByteTimeout(c)) => Some(c),
            _ => None,
        };
        let after = self.required_after(
            &raw.after,
            base.map(|b| b.after),
            path,
            span,
            "first-byte-timeout",
        )?;
        let status = match &raw.status {
            Some(s) => {
                let status = *s.get_ref();
                if !(100..=599).contains(&status) {
                    return Err(self.err(
                        s.span(),
                        format!("{path}.status"),
                        format!("status {status} is out of range; expected an HTTP status from 100 to 599, like 504"),
                    ));
                }
                status
            }
            None => base.map_or(504, |b| b.status),
        };
        Ok(FirstByteTimeoutConfig { after, status })
    }

    fn max_duration(
        &self,
        base: Option<&BehaviorConfig>,
        path: &str,
        span: Range<usize>,
        raw: RawMaxDuration,
    ) -> Result<MaxDurationConfig> {
        let base = match base {
            Some(BehaviorConfig::MaxDuration(c)) => Some(c),
            _ => None,
        };
        let after = self.required_after(
            &raw.after,
            base.map(|b| b.after),
            path,
            span,
            "max-duration",
        )?;
        let after_headers = match &raw.after_headers {
            Some(a) => self.after_headers_action(a, path)?,
            None => base.map_or(CloseAction::Fin, |b| b.after_headers),
        };
        Ok(MaxDurationConfig {
            after,
            action: raw
                .action
                .map(|a| a.0)
                .or(base.map(|b| b.action))
                .unwrap_or(CloseAction::Fin),
            after_headers,
        })
    }

    fn buffering(
        &self,
        base: Option<&BehaviorConfig>,
        path: &str,
        span: Range<usize>,
        raw: RawBuffering,
    ) -> Result<BufferingConfig> {
        let base = match base {
            Some(BehaviorConfig::Buffering(c)) => Some(c),
            _ => None,
        };
        let base_mode = base.map_or(BufferingMode::None, |b| b.mode.clone());
        let bytes = match &raw.bytes {
            None => None,
            Some(b) => {
                let n = *b.get_ref();
                match usize::try_from(n) {
                    Ok(n) if n > 0 => Some(n),
                    _ => {
                        return Err(self.err(
                            b.span(),
                            format!("{path}.bytes"),
                            format!(
                                "{n} is out of range; expected a byte count more than 0, like 4096"
                            ),
                        ))
                    }
                }
            }
        };
        let every = match &raw.every {
            None => None,
            Some(e) => Some(self.positive(e, &format!("{path}.every"))?),
        };
        let mode_name = match &raw.mode {
            Some(m) => *m.get_ref(),
            None => match base_mode {
                BufferingMode::None => BufferingModeName::None,
                BufferingMode::Full => BufferingModeName::Full,
                BufferingMode::Threshold { .. } => BufferingModeName::Threshold,
                BufferingMode::FlushInterval { .. } => BufferingModeName::FlushInterval,
            },
        };
        let wrong_mode = |key: &str, at: Range<usize>, wants: &str| {
            let hint = format!("set mode = \"{wants}\" in the same table");
            self.err(
                at,
                format!("{path}.{key}"),
                format!("`{key}` applies only to mode = \"{wants}\"; expected it left out for this mode"),
            )
            .with_hint(hint)
        };
        if mode_name != BufferingModeName::Threshold {
            if let Some(b) = &raw.bytes {
                return Err(wrong_mode("bytes", b.span(), "threshold"));
            }
        }
        if mode_name != BufferingModeName::FlushInterval {
            if let Some(e) = &raw.every {
                return Err(wrong_mode("every", e.span(), "flush-interval"));
            }
        }
        let mode = match mode_name {
            BufferingModeName::None => BufferingMode::None,
            BufferingModeName::Full => BufferingMode::Full,
            BufferingModeName::Threshold => {
                let inherited = match base_mode {
                    BufferingMode::Threshold { bytes } => Some(bytes),
                    _ => None,
                };
                match bytes.or(inherited) {
                    Some(bytes) => BufferingMode::Threshold { bytes },
                    None => {
                        return Err(self.err(
                            raw.mode.as_ref().map_or(span, |m| m.span()),
                            path,
                            "mode \"threshold\" needs `bytes`; expected e.g. buffering = { mode = \"threshold\", bytes = 4096 }",
                        ))
                    }
                }
            }
            BufferingModeName::FlushInterval => {
                let inherited = match base_mode {
                    BufferingMode::FlushInterval { every } => Some(every),
                    _ => None,
                };
                match every.or(inherited) {
                    Some(every) => BufferingMode::FlushInterval { every },
                    None => {
                        return Err(self.err(
                            raw.mode.as_ref().map_or(span, |m| m.span()),
                            path,
                            "mode \"flush-interval\" needs `every`; expected e.g. buffering = { mode = \"flush-interval\", every = \"1s\" }",
                        ))
                    }
                }
            }
        };
        Ok(BufferingConfig {
            mode,
            honor_x_accel_buffering: raw
                .honor_x_accel_buffering
                .or(base.map(|b| b.honor_x_accel_buffering))
                .unwrap_or(false),
        })
    }

    fn latency(
        &self,
        base: Option<&BehaviorConfig>,
        path: &str,
        span: Range<usize>,
        raw: RawLatency,
    ) -> Result<LatencyConfig> {
        let base = match base {
            Some(BehaviorConfig::Latency(c)) => Some(c),
            _ => None,
        };
        if let Some(fixed) = &raw.fixed {
            for (key, v) in [("min", &raw.min), ("max", &raw.max)] {
                if let Some(v) = v {
                    return Err(self.err(
                        v.span(),
                        format!("{path}.{key}"),
                        format!("`{key}` cannot be combined with `fixed`; expected either fixed = \"2ms\" or min and max"),
                    ));
                }
            }
            let d = fixed.get_ref().0;
            return Ok(LatencyConfig { min: d, max: d });
        }
        let example = "min = \"1ms\", max = \"5ms\" (or fixed = \"2ms\")";
        let min = match (&raw.min, base) {
            (Some(m), _) => m.get_ref().0,
            (None, Some(b)) => b.min,
            (None, None) => return Err(self.missing(span, path, "min", "latency", example)),
        };
        let max = match (&raw.max, base) {
            (Some(m), _) => m.get_ref().0,
            (None, Some(b)) => b.max,
            (None, None) => return Err(self.missing(span, path, "max", "latency", example)),
        };
        if min > max {
            let (at, key) = match (&raw.max, &raw.min) {
                (Some(m), _) => (m.span(), "max"),
                (None, Some(m)) => (m.span(), "min"),
                (None, None) => (span, ""),
            };
            let path = if key.is_empty() {
                path.to_string()
            } else {
                format!("{path}.{key}")
            };
            return Err(self.err(
                at,
                path,
                format!(
                    "max ({}) is less than min ({}); expected min ≤ max",
                    crate::time::span(max),
                    crate::time::span(min)
                ),
            ));
        }
        Ok(LatencyConfig { min, max })
    }

    // ---------------------------------------------------------------- server

    fn server(&self, raw: RawServer) -> Result<ServerConfig> {
        let default = ServerConfig::default();
        let keepalive = match &raw.keepalive {
            None => default.keepalive,
            Some(k) => {
                self.set("server.keepalive", k.span(), "server.keepalive");
                match k.get_ref() {
                    SpanOrOff::Off => None,
                    SpanOrOff::Span(d) if d.is_zero() => {
                        return Err(self.err(
                            k.span(),
                            "server.keepalive",
                            "is 0s; expected a span more than 0s, like \"15s\", or \"off\"",
                        ))
                    }
                    SpanOrOff::Span(d) => {
                        self.not_below_tick(*d, k.span(), "server.keepalive")?;
                        Some(*d)
                    }
                }
            }
        };
        if let Some(f) = &raw.keepalive_frame {
            self.set("server.keepalive-frame", f.span(), "server.keepalive-frame");
        }
        if let Some(c) = &raw.keepalive_comment {
            self.set(
                "server.keepalive-comment",
                c.span(),
                "server.keepalive-comment",
            );
        }
        if let Some(e) = &raw.keepalive_event {
            self.set("server.keepalive-event", e.span(), "server.keepalive-event");
        }
        let named = raw.keepalive_frame.as_ref().map(|f| *f.get_ref())
            == Some(KeepaliveFrameName::NamedEvent);
        let keepalive_frame = if named {
            if let Some(c) = &raw.keepalive_comment {
                return Err(self.err(
                    c.span(),
                    "server.keepalive-comment",
                    "applies only to keepalive-frame = \"comment\"; expected keepalive-event for a named-event keepalive",
                ));
            }
            let name = match &raw.keepalive_event {
                Some(e) => self.one_line(e, "server.keepalive-event", false)?,
                None => "ping".to_string(),
            };
            KeepaliveFrame::NamedEvent { name }
        } else {
            if let Some(e) = &raw.keepalive_event {
                return Err(self
                    .err(
                        e.span(),
                        "server.keepalive-event",
                        "applies only to keepalive-frame = \"named-event\"; expected keepalive-comment for a comment keepalive",
                    )
                    .with_hint("add keepalive-frame = \"named-event\" to [server]"));
            }
            let text = match &raw.keepalive_comment {
                Some(c) => self.one_line(c, "server.keepalive-comment", true)?,
                None => " keepalive".to_string(),
            };
            KeepaliveFrame::Comment { text }
        };
        let keepalive_frame_set = raw.keepalive_frame.is_some()
            || raw.keepalive_comment.is_some()
            || raw.keepalive_event.is_some();
        let mut events = Vec::with_capacity(raw.event.len());
        if let (Some(first), Kind::Mcp(_)) = (raw.event.first(), &self.kind) {
            return Err(self
                .err(
                    first.span(),
                    "server.event[0]",
                    "[[server.event]] applies only to plain SSE streams, and this scenario's client speaks MCP (its streams carry JSON-RPC messages); expected no [[server.event]] in an MCP scenario",
                )
                .with_hint("to send the MCP client something at a time, use [[server.notification]] (a JSON-RPC notification on every session's GET stream)"));
        }
        if let Some(first) = raw.event.first() {
            self.set("server.event", first.span(), "server.event[0]");
        }
        for (i, e) in raw.event.into_iter().enumerate() {
            let path = format!("server.event[{i}]");
            let e = e.into_inner();
            let at = self.within_run(&e.at, &format!("{path}.at"))?;
            let event = match &e.event {
                Some(v) => Some(self.one_line(v, &format!("{path}.event"), false)?),
                None => None,
            };
            let id = match &e.id {
                Some(v) => Some(self.one_line(v, &format!("{path}.id"), true)?),
                None => None,
            };
            events.push(ServerEvent {
                at,
                event,
                id,
                data: e.data,
            });
        }
        events.sort_by_key(|e| e.at);
        if let Some(first) = raw.notification.first() {
            self.mcp_only(first.span(), "server.notification")?;
            self.needs_sessions(
                first.span(),
                "server.notification",
                "GET stream to carry it",
            )?;
            self.set(
                "server.notification",
                first.span(),
                "server.notification[0]",
            );
        }
        let mut notifications = Vec::with_capacity(raw.notification.len());
        for (i, n) in raw.notification.into_iter().enumerate() {
            let path = format!("server.notification[{i}]");
            let n = n.into_inner();
            let at = self.within_run(&n.at, &format!("{path}.at"))?;
            let method = n.method.get_ref();
            if method.trim().is_empty() || method.contains(|c: char| c.is_control()) {
                return Err(self.err(
                    n.method.span(),
                    format!("{path}.method"),
                    format!("invalid method {method:?}; expected a JSON-RPC method name on one line, like \"notifications/tools/list_changed\""),
                ));
            }
            notifications.push(ServerNotification {
                at,
                method: method.clone(),
            });
        }
        notifications.sort_by_key(|n| n.at);
        let retry = match &raw.retry {
            None => default.retry,
            Some(r) => {
                self.mcp_only(r.span(), "server.retry")?;
                self.set("server.retry", r.span(), "server.retry");
                match r.get_ref() {
                    SpanOrOff::Off => None,
                    SpanOrOff::Span(d) => {
                        if let Kind::Mcp(revision) = &self.kind {
                            if revision != PRIMING_REVISION {
                                return Err(self
                                    .err(
                                        r.span(),
                                        "server.retry",
                                        format!("`retry` is sent with the priming event, which only {PRIMING_REVISION} has, and this run speaks {revision} (the last in `protocol`); expected retry = \"off\" or no `retry`"),
                                    )
                                    .with_hint(format!("list {PRIMING_REVISION} last in `protocol`, or remove `retry`")));
                            }
                        }
                        Some(*d)
                    }
                }
            }
        };
        let event_store = match &raw.event_store {
            None => default.event_store,
            Some(e) => {
                self.mcp_only(e.span(), "server.event-store")?;
                if *e.get_ref() {
                    self.needs_sessions(e.span(), "server.event-store", "resumption")?;
                }
                self.set("server.event-store", e.span(), "server.event-store");
                *e.get_ref()
            }
        };
        let resume = match &raw.resume {
            None => default.resume,
            Some(r) => {
                self.mcp_only(r.span(), "server.resume")?;
                self.needs_sessions(r.span(), "server.resume", "GET stream and no resumption")?;
                self.set("server.resume", r.span(), "server.resume");
                match r.get_ref() {
                    ResumeName::Replay => ResumeAnswer::Replay,
                    ResumeName::Empty200 => ResumeAnswer::Empty200,
                    ResumeName::Http404 => ResumeAnswer::Http404,
                    ResumeName::Http500 => ResumeAnswer::Http500,
                }
            }
        };
        let session_idle_timeout = match &raw.session_idle_timeout {
            None => default.session_idle_timeout,
            Some(t) => {
                let path = "server.session-idle-timeout";
                self.mcp_only(t.span(), path)?;
                self.set(path, t.span(), path);
                match t.get_ref() {
                    SpanOrOff::Off => None,
                    SpanOrOff::Span(d) => {
                        self.needs_sessions(t.span(), path, "sessions")?;
                        if d.is_zero() {
                            return Err(self.err(
                                t.span(),
                                path,
                                "is 0s; expected a span more than 0s, like \"5m\", or \"off\"",
                            ));
                        }
                        Some(*d)
                    }
                }
            }
        };
        let x_accel_buffering_no = match &raw.x_accel_buffering_no {
            None => default.x_accel_buffering_no,
            Some(x) => {
                self.set(
                    "server.x-accel-buffering-no",
                    x.span(),
                    "server.x-accel-buffering-no",
                );
                *x.get_ref()
            }
        };
        let first_byte_delay = match &raw.first_byte_delay {
            None => default.first_byte_delay,
            Some(d) => {
                self.set(
                    "server.first-byte-delay",
                    d.span(),
                    "server.first-byte-delay",
                );
                d.get_ref().0
            }
        };
        let end_after = match &raw.end_after {
            None => None,
            Some(e) => Some(self.end_after(e)?),
        };
        Ok(ServerConfig {
            keepalive,
            keepalive_set: raw.keepalive.is_some(),
            keepalive_frame,
            keepalive_frame_set,
            x_accel_buffering_no,
            first_byte_delay,
            end_after,
            events,
            notifications,
            event_store,
            retry,
            resume,
            session_idle_timeout,
            session_idle_timeout_set: raw.session_idle_timeout.is_some(),
            ..default
        })
    }

    /// `server.end-after`: a span (every SSE response), or in MCP scenarios a table naming
    /// which kinds of SSE response end.
    fn end_after(&self, raw: &Spanned<RawEndAfter>) -> Result<EndAfter> {
        let path = "server.end-after";
        self.set(path, raw.span(), path);
        let positive = |d: Duration, span: Range<usize>, path: &str| {
            if d.is_zero() {
                Err(self.err(
                    span,
                    path,
                    "is 0s; expected a span more than 0s, like \"5s\"",
                ))
            } else {
                Ok(d)
            }
        };
        match raw.get_ref() {
            RawEndAfter::Span(d) => Ok(EndAfter {
                after: positive(d.0, raw.span(), path)?,
                streams: SseKind::ALL.to_vec(),
            }),
            RawEndAfter::Table(t) => {
                let after = positive(
                    t.after.get_ref().0,
                    t.after.span(),
                    "server.end-after.after",
                )?;
                let streams = match &t.streams {
                    None => SseKind::ALL.to_vec(),
                    Some(list) => {
                        let spath = "server.end-after.streams";
                        if self.kind == Kind::Plain {
                            return Err(self
                                .err(
                                    list.span(),
                                    spath,
                                    "`streams` picks kinds of MCP SSE response (get, post, replay), and this scenario's client speaks plain SSE, whose streams all end; expected it left out",
                                )
                                .with_hint("write end-after = \"5s\" (every stream ends)"));
                        }
                        if list.get_ref().is_empty() {
                            return Err(self.err(
                                list.span(),
                                spath,
                                "is empty; expected one or more of \"get\", \"post\", \"replay\"",
                            ));
                        }
                        let mut kinds = Vec::new();
                        for (i, k) in list.get_ref().iter().enumerate() {
                            let kind = match k.get_ref() {
                                SseKindName::Get => SseKind::Get,
                                SseKindName::Post => SseKind::Post,
                                SseKindName::Replay => SseKind::Replay,
                            };
                            if kinds.contains(&kind) {
                                return Err(self.err(
                                    k.span(),
                                    format!("{spath}[{i}]"),
                                    format!(
                                        "\"{}\" is listed twice; expected each kind once",
                                        kind.word()
                                    ),
                                ));
                            }
                            kinds.push(kind);
                        }
                        kinds.sort();
                        if let Kind::Mcp(r) = &self.kind {
                            if r == SESSIONLESS_REVISION && kinds != [SseKind::Post] {
                                return Err(self
                                    .err(
                                        list.span(),
                                        spath,
                                        format!("{SESSIONLESS_REVISION} (the run's revision) has no GET stream and no replay, so only \"post\" responses exist; expected streams = [\"post\"]"),
                                    )
                                    .with_hint("keep only \"post\", or list an earlier revision last in `protocol`"));
                            }
                        }
                        kinds
                    }
                };
                Ok(EndAfter { after, streams })
            }
        }
    }

    // ---------------------------------------------------------------- client

    /// The client's steps in time order, its reconnection policy, and every stream name a
    /// step opens. `revision` is the run's MCP revision.
    fn client(&self, raw: RawClient, revision: &str) -> Result<(ClientConfig, BTreeSet<String>)> {
        let reconnect = self.reconnect(&raw)?;
        let mut indexed: Vec<(usize, Spanned<RawStep>)> =
            raw.step.into_iter().enumerate().collect();
        indexed.sort_by_key(|(_, s)| s.get_ref().at.get_ref().0);
        let sessionless = revision == SESSIONLESS_REVISION;
        // Stream names in use: the step that opened each, and when a tool call's stream ends
        // by itself.
        let mut open: BTreeMap<String, OpenName> = BTreeMap::new();
        let mut ever: BTreeSet<String> = BTreeSet::new();
        let mut initialized = false;
        let mut steps = Vec::with_capacity(indexed.len());
        for (i, step) in indexed {
            let base = format!("client.step[{i}]");
            let span = step.span();
            let step = step.into_inner();
            let at = self.within_run(&step.at, &format!("{base}.at"))?;
            let name = *step.action.get_ref();
            let word = name.word();
            self.step_keys(&step, &base)?;
            self.set(step_key(name), step.action.span(), format!("{base}.do"));
            let mcp = !matches!(name, StepName::OpenStream | StepName::CloseStream);
            if matches!(name, StepName::OpenGetStream | StepName::ReconnectStream) && sessionless {
                return Err(self.err(
                    step.action.span(),
                    format!("{base}.do"),
                    format!("the {SESSIONLESS_REVISION} revision has no GET stream; expected no {word} step under it (the run's revision is the last in `protocol`), or an earlier revision"),
                ));
            }
            if mcp && name != StepName::Initialize && !sessionless && !initialized {
                return Err(self
                    .err(
                        step.action.span(),
                        format!("{base}.do"),
                        format!("`{word}` needs a session, and no initialize step comes before it; expected a do = \"initialize\" step earlier"),
                    )
                    .with_hint(format!(
                        "add a step with do = \"initialize\" at or before {}",
                        crate::time::span(at)
                    )));
            }
            let default_stream = match name {
                StepName::OpenGetStream | StepName::ReconnectStream => "get",
                StepName::CallTool => "call",
                _ => "main",
            };
            let stream = match &step.stream {
                Some(s) => self.one_line(s, &format!("{base}.stream"), false)?,
                None => default_stream.to_string(),
            };
            let (stream_span, stream_path) = match &step.stream {
                Some(s) => (s.span(), format!("{base}.stream")),
                None => (span.clone(), base.clone()),
            };
            let opens = matches!(
                name,
                StepName::OpenStream | StepName::OpenGetStream | StepName::CallTool
            );
            if opens {
                if let Some(o) = open.get(&stream).filter(|o| o.busy_at(at)) {
                    let what = match o.ends {
                        Some(end) => format!(
                            "stream `{stream}` is still answering the tool call of client.step[{}] (until {})",
                            o.step,
                            crate::time::span(end)
                        ),
                        None => format!(
                            "stream `{stream}` is already open (opened by client.step[{}])",
                            o.step
                        ),
                    };
                    return Err(self
                        .err(
                            stream_span,
                            stream_path,
                            format!("{what}; expected a stream name not open at this time"),
                        )
                        .with_hint("close it first, or give this stream another name with stream = \"...\""));
                }
            }
            let action = match name {
                StepName::OpenStream => ClientAction::OpenStream {
                    stream: stream.clone(),
                    path: self.request_path(&step.path, &base)?,
                },
                StepName::CloseStream => {
                    if open.remove(&stream).is_none() {
                        let names: Vec<&str> = open.keys().map(String::as_str).collect();
                        let then = if names.is_empty() {
                            "no stream is open then".to_string()
                        } else {
                            format!("open then: {}", names.join(", "))
                        };
                        return Err(self
                            .err(
                                stream_span,
                                stream_path,
                                format!("close-stream of stream `{stream}`, which no earlier step opened; expected a stream opened by an earlier open-stream, open-get-stream or call-tool step ({then})"),
                            )
                            .with_hint_opt(suggestion(&stream, names.iter().copied())));
                    }
                    ClientAction::CloseStream {
                        stream: stream.clone(),
                    }
                }
                StepName::Initialize => {
                    initialized = true;
                    ClientAction::Initialize
                }
                StepName::OpenGetStream => ClientAction::OpenGetStream {
                    stream: stream.clone(),
                    last_event_id: match &step.last_event_id {
                        Some(l) => Some(self.last_event_id(l, &format!("{base}.last-event-id"))?),
                        None => None,
                    },
                },
                StepName::ReconnectStream => {
                    let opened_by = open.get(&stream).filter(|o| o.busy_at(at)).map(|o| o.kind);
                    if opened_by != Some(StepName::OpenGetStream) {
                        let gets: Vec<&str> = open
                            .iter()
                            .filter(|(_, o)| o.kind == StepName::OpenGetStream && o.busy_at(at))
                            .map(|(n, _)| n.as_str())
                            .collect();
                        let then = if gets.is_empty() {
                            "no GET stream is open then".to_string()
                        } else {
                            format!("GET streams open then: {}", gets.join(", "))
                        };
                        return Err(self
                            .err(
                                stream_span,
                                stream_path,
                                format!("reconnect-stream of stream `{stream}`, which is not a GET stream open at this time; expected a stream opened by an earlier open-get-stream step and not closed ({then})"),
                            )
                            .with_hint_opt(suggestion(&stream, gets.iter().copied())));
                    }
                    let Some(l) = &step.last_event_id else {
                        return Err(self.err(
                            span,
                            base,
                            "missing required key `last-event-id` for do = \"reconnect-stream\"; expected a line like last-event-id = \"3\" (the Last-Event-ID the stream reconnects with)",
                        ));
                    };
                    ClientAction::ReconnectStream {
                        stream: stream.clone(),
                        last_event_id: self.last_event_id(l, &format!("{base}.last-event-id"))?,
                    }
                }
                StepName::CallTool => {
                    let Some(d) = &step.tool_duration else {
                        return Err(self.err(
                            span,
                            base,
                            "missing required key `tool-duration` for do = \"call-tool\"; expected a line like tool-duration = \"30s\" (how long the tool runs)",
                        ));
                    };
                    let progress_every = match &step.progress_every {
                        Some(p) => {
                            let path = format!("{base}.progress-every");
                            let every = self.positive(p, &path)?;
                            self.not_below_tick(every, p.span(), &path)?;
                            Some(every)
                        }
                        None => None,
                    };
                    ClientAction::CallTool {
                        stream: stream.clone(),
                        duration: d.get_ref().0,
                        progress_every,
                    }
                }
                StepName::Ping => ClientAction::Ping,
                StepName::DeleteSession => ClientAction::DeleteSession,
            };
            if opens {
                let ends = match &action {
                    ClientAction::CallTool { duration, .. } => Some(at + *duration),
                    _ => None,
                };
                open.insert(
                    stream.clone(),
                    OpenName {
                        step: i,
                        ends,
                        kind: name,
                    },
                );
                ever.insert(stream);
            }
            steps.push(ClientStep { at, action });
        }
        let keepalive_expected = match &raw.keepalive_expected {
            None => Some(DEFAULT_KEEPALIVE_EXPECTED),
            Some(k) => {
                let path = "client.keepalive-expected";
                self.mcp_only(k.span(), path)?;
                self.set(path, k.span(), path);
                match k.get_ref() {
                    SpanOrOff::Off => None,
                    SpanOrOff::Span(d) if d.is_zero() => {
                        return Err(self.err(
                            k.span(),
                            path,
                            "is 0s; expected a span more than 0s, like \"30s\", or \"off\"",
                        ))
                    }
                    SpanOrOff::Span(d) => {
                        self.not_below_tick(*d, k.span(), path)?;
                        Some(*d)
                    }
                }
            }
        };
        Ok((
            ClientConfig {
                steps,
                reconnect,
                keepalive_expected,
            },
            ever,
        ))
    }

    /// Rejects the step keys its `do` does not take.
    fn step_keys(&self, step: &RawStep, base: &str) -> Result<()> {
        let name = *step.action.get_ref();
        let word = name.word();
        let takes_stream = matches!(
            name,
            StepName::OpenStream
                | StepName::CloseStream
                | StepName::OpenGetStream
                | StepName::CallTool
                | StepName::ReconnectStream
        );
        let keys: [(&str, Option<Range<usize>>, bool, &str); 5] = [
            (
                "stream",
                step.stream.as_ref().map(|v| v.span()),
                takes_stream,
                "do = \"open-stream\", \"close-stream\", \"open-get-stream\", \"call-tool\" or \"reconnect-stream\"",
            ),
            (
                "path",
                step.path.as_ref().map(|v| v.span()),
                name == StepName::OpenStream,
                "do = \"open-stream\"",
            ),
            (
                "tool-duration",
                step.tool_duration.as_ref().map(|v| v.span()),
                name == StepName::CallTool,
                "do = \"call-tool\"",
            ),
            (
                "progress-every",
                step.progress_every.as_ref().map(|v| v.span()),
                name == StepName::CallTool,
                "do = \"call-tool\"",
            ),
            (
                "last-event-id",
                step.last_event_id.as_ref().map(|v| v.span()),
                matches!(name, StepName::OpenGetStream | StepName::ReconnectStream),
                "do = \"open-get-stream\" or \"reconnect-stream\"",
            ),
        ];
        for (key, at, taken, applies) in keys {
            if let (Some(at), false) = (at, taken) {
                return Err(self.err(
                    at,
                    format!("{base}.{key}"),
                    format!("`{key}` applies only to {applies}, not to do = \"{word}\"; expected it left out"),
                ));
            }
        }
        Ok(())
    }

    /// An `open-get-stream` or `reconnect-stream` step's `last-event-id`: a header value of
    /// visible ASCII.
    fn last_event_id(&self, v: &Spanned<String>, path: &str) -> Result<String> {
        let s = v.get_ref();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(self.err(
                v.span(),
                path,
                format!("invalid last-event-id {s:?}; expected a non-empty id of visible ASCII characters without spaces, like \"3\""),
            ));
        }
        Ok(s.clone())
    }

    /// The request path of an `open-stream` step; default `/sse`.
    fn request_path(&self, path: &Option<Spanned<String>>, base: &str) -> Result<String> {
        let Some(p) = path else {
            return Ok("/sse".to_string());
        };
        let v = p.get_ref();
        if !v.starts_with('/') || v.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(self.err(
                p.span(),
                format!("{base}.path"),
                format!(
                    "invalid path {v:?}; expected a request path starting with '/', like \"/sse\""
                ),
            ));
        }
        Ok(v.clone())
    }

    /// `[client]`'s reconnect keys as a [`ReconnectPolicy`].
    fn reconnect(&self, raw: &RawClient) -> Result<ReconnectPolicy> {
        let default = ReconnectPolicy::default();
        let keys: [(&'static str, Option<Range<usize>>, bool); 4] = [
            (
                "client.reconnect",
                raw.reconnect.as_ref().map(|v| v.span()),
                raw.reconnect.as_ref().is_some_and(|r| *r.get_ref()),
            ),
            (
                "client.reconnect-initial",
                raw.reconnect_initial.as_ref().map(|v| v.span()),
                true,
            ),
            (
                "client.reconnect-max",
                raw.reconnect_max.as_ref().map(|v| v.span()),
                true,
            ),
            (
                "client.reconnect-attempts",
                raw.reconnect_attempts.as_ref().map(|v| v.span()),
                true,
            ),
        ];
        for (key, at, reconnects) in keys {
            if let Some(at) = at {
                self.mcp_only(at.clone(), key)?;
                if reconnects {
                    self.needs_sessions(at.clone(), key, "resumption (nothing is reconnected)")?;
                }
                self.set(key, at, key);
            }
        }
        if raw.reconnect.as_ref().is_some_and(|r| !*r.get_ref()) {
            let tuning = [
                (
                    "reconnect-initial",
                    raw.reconnect_initial.as_ref().map(|v| v.span()),
                ),
                (
                    "reconnect-max",
                    raw.reconnect_max.as_ref().map(|v| v.span()),
                ),
                (
                    "reconnect-attempts",
                    raw.reconnect_attempts.as_ref().map(|v| v.span()),
                ),
            ];
            for (key, at) in tuning {
                if let Some(at) = at {
                    return Err(self
                        .err(
                            at,
                            format!("client.{key}"),
                            format!("`{key}` has no effect with reconnect = false; expected it left out"),
                        )
                        .with_hint(format!("remove `{key}`, or set reconnect = true")));
                }
            }
            return Ok(ReconnectPolicy {
                enabled: false,
                ..default
            });
        }
        let initial = match &raw.reconnect_initial {
            Some(v) => self.positive(v, "client.reconnect-initial")?,
            None => default.initial,
        };
        let max = match &raw.reconnect_max {
            Some(v) => v.get_ref().0,
            None => default.max,
        };
        if max < initial {
            let (at, key) = match (&raw.reconnect_max, &raw.reconnect_initial) {
                (Some(m), _) => (m.span(), "reconnect-max"),
                (None, Some(i)) => (i.span(), "reconnect-initial"),
                (None, None) => unreachable!("the defaults are ordered"),
            };
            let defaulted = |given: bool| if given { "" } else { ", the default" };
            return Err(self.err(
                at,
                format!("client.{key}"),
                format!(
                    "reconnect-max ({}{}) is less than reconnect-initial ({}{}); expected reconnect-initial ≤ reconnect-max",
                    crate::time::span(max),
                    defaulted(raw.reconnect_max.is_some()),
                    crate::time::span(initial),
                    defaulted(raw.reconnect_initial.is_some()),
                ),
            ));
        }
        let attempts = match &raw.reconnect_attempts {
            Some(a) if *a.get_ref() == 0 => {
                return Err(self.err(
                    a.span(),
                    "client.reconnect-attempts",
                    "is 0; expected an integer ≥ 1, like 5",
                ))
            }
            Some(a) => *a.get_ref(),
            None => default.attempts,
        };
        Ok(ReconnectPolicy {
            enabled: true,
            initial,
            max,
            attempts,
        })
    }

    // ---------------------------------------------------------------- faults

    fn faults(&self, raw: Vec<Spanned<RawFault>>, hosts: &[&str]) -> Result<Vec<Fault>> {
        let mut out = Vec::with_capacity(raw.len());
        for (i, f) in raw.into_iter().enumerate() {
            let base = format!("fault[{i}]");
            let span = f.span();
            if i == 0 {
                self.set("fault", span.clone(), base.clone());
            }
            let f = f.into_inner();
            let at = self.within_run(&f.at, &format!("{base}.at"))?;
            let action = f.action;
            let word = match action {
                FaultName::Partition => "partition",
                FaultName::Repair => "repair",
                FaultName::Hold => "hold",
                FaultName::Release => "release",
                FaultName::Crash => "crash",
                FaultName::Bounce => "bounce",
            };
            let link = !matches!(action, FaultName::Crash | FaultName::Bounce);
            let not_taken: &[(&str, &Option<Spanned<String>>)] = if link {
                &[("host", &f.host)]
            } else {
                &[("a", &f.a), ("b", &f.b)]
            };
            for (key, v) in not_taken {
                if let Some(v) = v {
                    let takes = if link { "a and b" } else { "host" };
                    return Err(self.err(
                        v.span(),
                        format!("{base}.{key}"),
                        format!("`{key}` is not a key of do = \"{word}\"; expected {takes}"),
                    ));
                }
            }
            let host = |key: &str, v: &Option<Spanned<String>>| -> Result<String> {
                let Some(v) = v else {
                    let takes = if link {
                        "host names a and b"
                    } else {
                        "a host name"
                    };
                    return Err(self.err(
                        span.clone(),
                        base.clone(),
                        format!(
                            "missing required key `{key}` for do = \"{word}\"; expected {takes} (one of: {})",
                            hosts.join(", ")
                        ),
                    ));
                };
                let name = v.get_ref();
                if !hosts.contains(&name.as_str()) {
                    return Err(self
                        .err(
                            v.span(),
                            format!("{base}.{key}"),
                            format!(
                                "unknown host {name:?}; expected one of: {}",
                                hosts.join(", ")
                            ),
                        )
                        .with_hint_opt(suggestion(name, hosts.iter().copied())));
                }
                Ok(name.clone())
            };
            let kind = if link {
                let a = host("a", &f.a)?;
                let b = host("b", &f.b)?;
                if a == b {
                    return Err(self.err(
                        f.b.as_ref().map_or(span.clone(), |b| b.span()),
                        format!("{base}.b"),
                        format!("`b` is `{b}`, the same host as `a`; expected two different hosts"),
                    ));
                }
                match action {
                    FaultName::Partition => FaultKind::Partition { a, b },
                    FaultName::Repair => FaultKind::Repair { a, b },
                    FaultName::Hold => FaultKind::Hold { a, b },
                    _ => FaultKind::Release { a, b },
                }
            } else {
                let host = host("host", &f.host)?;
                match action {
                    FaultName::Crash => FaultKind::Crash { host },
                    _ => FaultKind::Bounce { host },
                }
            };
            out.push(Fault { at, kind });
        }
        out.sort_by_key(|f| f.at);
        Ok(out)
    }

    // ---------------------------------------------------------------- expectations

    fn expects(
        &self,
        raw: Vec<Spanned<RawExpect>>,
        streams: &BTreeSet<String>,
        client: &ClientConfig,
        intermediaries: &[IntermediaryConfig],
        tick: Duration,
    ) -> Result<Vec<CheckSpec>> {
        let ids: Vec<&str> = CheckKind::ALL.iter().map(|k| k.id()).collect();
        let timeline = Timeline::of(client, self.kind.resumable());
        let mut judged: Vec<(Needs, Option<String>, Range<usize>, String)> = Vec::new();
        let mut out = Vec::with_capacity(raw.len());
        for (i, e) in raw.into_iter().enumerate() {
            let base = format!("expect[{i}]");
            let span = e.span();
            let e = e.into_inner();
            let id = e.check.get_ref().as_str();
            let Some(kind) = CheckKind::from_id(id) else {
                return Err(self
                    .err(
                        e.check.span(),
                        format!("{base}.check"),
                        format!("unknown check {id:?}; expected one of: {}", ids.join(", ")),
                    )
                    .with_hint_opt(suggestion(id, ids.iter().copied())));
            };
            let params = kind.info().params;
            let takes = if params.is_empty() {
                "none".to_string()
            } else {
                params
                    .iter()
                    .map(|p| {
                        if p.required {
                            format!("{} (required)", p.name)
                        } else {
                            p.name.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let given: [(&str, Option<Range<usize>>); 15] = [
                ("stream", e.stream.as_ref().map(|v| v.span())),
                ("until", e.until.as_ref().map(|v| v.span())),
                ("by", e.by.as_ref().map(|v| v.span())),
                ("at", e.at.as_ref().map(|v| v.span())),
                ("tolerance", e.tolerance.as_ref().map(|v| v.span())),
                ("gap-max", e.gap_max.as_ref().map(|v| v.span())),
                ("max", e.max.as_ref().map(|v| v.span())),
                ("min", e.min.as_ref().map(|v| v.span())),
                ("grace", e.grace.as_ref().map(|v| v.span())),
                ("initial", e.initial.as_ref().map(|v| v.span())),
                ("within", e.within.as_ref().map(|v| v.span())),
                ("expected", e.expected.as_ref().map(|v| v.span())),
                (
                    "reconnects-max",
                    e.reconnects_max.as_ref().map(|v| v.span()),
                ),
                ("window", e.window.as_ref().map(|v| v.span())),
                (
                    "across-sessions",
                    e.across_sessions.as_ref().map(|v| v.span()),
                ),
            ];
            for (key, at) in &given {
                if let Some(at) = at {
                    if !params.iter().any(|p| p.name == *key) {
                        return Err(self.err(
                            at.clone(),
                            format!("{base}.{key}"),
                            if params.is_empty() {
                                format!("`{key}` is not a parameter of check `{id}`; expected no parameters (it takes none)")
                            } else {
                                format!("`{key}` is not a parameter of check `{id}`; expected only its parameters: {takes}")
                            },
                        ));
                    }
                }
            }
            let missing = |param: &str| {
                self.err(
                    span.clone(),
                    base.clone(),
                    format!("missing required key `{param}` for check `{id}`; expected its parameters: {takes}"),
                )
            };
            let stream = match &e.stream {
                None => None,
                Some(s) => {
                    let name = s.get_ref();
                    if !streams.contains(name) {
                        let list: Vec<&str> = streams.iter().map(String::as_str).collect();
                        let opened = if list.is_empty() {
                            "no client step opens a stream".to_string()
                        } else {
                            format!("opened: {}", list.join(", "))
                        };
                        return Err(self
                            .err(
                                s.span(),
                                format!("{base}.stream"),
                                format!("no client step opens stream `{name}`; expected the name of a stream a client step opens ({opened})"),
                            )
                            .with_hint_opt(suggestion(name, list.iter().copied())));
                    }
                    Some(name.clone())
                }
            };
            let gap_max = || {
                let g = e.gap_max.as_ref().ok_or_else(|| missing("gap-max"))?;
                self.positive(g, &format!("{base}.gap-max"))
            };
            let spec = match kind {
                CheckKind::StreamSurvives => CheckSpec::StreamSurvives {
                    stream,
                    until: match &e.until {
                        Some(u) => Some(self.within_run(u, &format!("{base}.until"))?),
                        None => None,
                    },
                },
                CheckKind::StreamClosed => {
                    let by = e.by.as_ref().ok_or_else(|| missing("by"))?;
                    let at = e.at.as_ref().ok_or_else(|| missing("at"))?;
                    let names: Vec<&str> = intermediaries.iter().map(|m| m.name.as_str()).collect();
                    if !names.contains(&by.get_ref().as_str()) {
                        let list = if names.is_empty() {
                            "(this scenario has no intermediaries)".to_string()
                        } else {
                            names.join(", ")
                        };
                        return Err(self
                            .err(
                                by.span(),
                                format!("{base}.by"),
                                format!(
                                    "unknown intermediary {:?}; expected one of: {list}",
                                    by.get_ref()
                                ),
                            )
                            .with_hint_opt(suggestion(by.get_ref(), names.iter().copied())));
                    }
                    CheckSpec::StreamClosed {
                        stream,
                        by: by.get_ref().clone(),
                        at: self.within_run(at, &format!("{base}.at"))?,
                        tolerance: e
                            .tolerance
                            .as_ref()
                            .map_or(CLOSED_TOLERANCE_DEFAULT, |t| t.get_ref().0),
                    }
                }
                CheckKind::KeepaliveCadence => CheckSpec::KeepaliveCadence {
                    stream,
                    gap_max: gap_max()?,
                },
                CheckKind::KeepaliveFormat => CheckSpec::KeepaliveFormat { stream },
                CheckKind::FirstEventDelay => {
                    if e.max.is_none() && e.min.is_none() {
                        return Err(missing("max` or `min"));
                    }
                    let max = match &e.max {
                        Some(m) => Some(self.positive(m, &format!("{base}.max"))?),
                        None => None,
                    };
                    let min = match &e.min {
                        Some(m) => Some(self.positive(m, &format!("{base}.min"))?),
                        None => None,
                    };
                    if let (Some(lo), Some(hi), Some(m)) = (min, max, &e.min) {
                        if lo > hi {
                            return Err(self.err(
                                m.span(),
                                format!("{base}.min"),
                                format!(
                                    "min {} is above max {}; expected min ≤ max",
                                    crate::time::span(lo),
                                    crate::time::span(hi)
                                ),
                            ));
                        }
                    }
                    CheckSpec::FirstEventDelay { stream, max, min }
                }
                CheckKind::KeepaliveOnPost => CheckSpec::KeepaliveOnPost {
                    gap_max: gap_max()?,
                },
                CheckKind::KeepaliveOnReplay => CheckSpec::KeepaliveOnReplay {
                    gap_max: gap_max()?,
                },
                CheckKind::TimersIndependent => CheckSpec::TimersIndependent {
                    gap_max: gap_max()?,
                },
                CheckKind::TimersCleared => CheckSpec::TimersCleared {
                    grace: e
                        .grace
                        .as_ref()
                        .map_or(CLEARED_GRACE_DEFAULT, |g| g.get_ref().0),
                },
                CheckKind::ReplayComplete => CheckSpec::ReplayComplete { stream },
                CheckKind::EventIdUnique => CheckSpec::EventIdUnique,
                CheckKind::DeliveryExactlyOnce => CheckSpec::DeliveryExactlyOnce,
                CheckKind::ReplaySameStream => CheckSpec::ReplaySameStream,
                CheckKind::ReplaySessionIsolated => CheckSpec::ReplaySessionIsolated,
                CheckKind::ClientReconnectBackoff => {
                    let i = e.initial.as_ref().ok_or_else(|| missing("initial"))?;
                    let m = e.max.as_ref().ok_or_else(|| missing("max"))?;
                    let initial = self.positive(i, &format!("{base}.initial"))?;
                    let max = self.positive(m, &format!("{base}.max"))?;
                    if initial > max {
                        return Err(self.err(
                            i.span(),
                            format!("{base}.initial"),
                            format!(
                                "initial {} is above max {}; expected initial ≤ max",
                                crate::time::span(initial),
                                crate::time::span(max)
                            ),
                        ));
                    }
                    CheckSpec::ClientReconnectBackoff { initial, max }
                }
                CheckKind::StreamRecovers => CheckSpec::StreamRecovers {
                    stream,
                    within: match &e.within {
                        Some(w) => {
                            self.positive(w, &format!("{base}.within"))?;
                            self.within_run(w, &format!("{base}.within"))?
                        }
                        None => crate::check::stream_recovers::WITHIN_DEFAULT,
                    },
                    across_sessions: e.across_sessions.as_ref().is_some_and(|a| *a.get_ref()),
                },
                CheckKind::ClientReconnectRate => {
                    let reconnects_max = match &e.reconnects_max {
                        Some(m) if *m.get_ref() == 0 => {
                            return Err(self.err(
                                m.span(),
                                format!("{base}.reconnects-max"),
                                "reconnects-max is 0; expected a count of at least 1 (a client that must never reconnect cannot survive a drop)",
                            ));
                        }
                        Some(m) => *m.get_ref(),
                        None => crate::check::client_reconnect_rate::RECONNECTS_MAX_DEFAULT,
                    };
                    let window = match &e.window {
                        Some(w) => self.positive(w, &format!("{base}.window"))?,
                        None => crate::check::client_reconnect_rate::WINDOW_DEFAULT,
                    };
                    CheckSpec::ClientReconnectRate {
                        reconnects_max,
                        window,
                    }
                }
                CheckKind::SessionSurvives => CheckSpec::SessionSurvives,
                CheckKind::ClientDetectsBuffering => CheckSpec::ClientDetectsBuffering { tick },
                CheckKind::ClientPollingFallback => CheckSpec::ClientPollingFallback,
                CheckKind::DeterminismWallClock => CheckSpec::DeterminismWallClock,
                // The timeline's calls are filled in once the client is validated (below).
                CheckKind::RpcAnswered => CheckSpec::RpcAnswered { calls: Vec::new() },
                CheckKind::ClientKeepaliveWarnings => CheckSpec::ClientKeepaliveWarnings {
                    expected: match &e.expected {
                        Some(x) => self.positive(x, &format!("{base}.expected"))?,
                        None => crate::check::client_keepalive_warnings::EXPECTED_DEFAULT,
                    },
                    tick,
                },
                CheckKind::ClientResumes => CheckSpec::ClientResumes { stream },
            };
            // Judged once every expectation's parameters are valid (below).
            let (at, path) = match &e.stream {
                Some(s) => (s.span(), format!("{base}.stream")),
                None => (e.check.span(), format!("{base}.check")),
            };
            judged.push((
                kind.info().needs,
                e.stream.map(Spanned::into_inner),
                at,
                path,
            ));
            out.push(spec);
        }
        // Whether each has anything to judge at all.
        for ((needs, stream, at, path), spec) in judged.into_iter().zip(&out) {
            if let Err(why) = timeline.judges(needs, stream.as_deref()) {
                return Err(self
                    .err(
                        at,
                        path,
                        format!("check `{}` can never be judged here: {why}", spec.id()),
                    )
                    .with_hint("add the client step it needs, or remove this [[expect]]"));
            }
        }
        Ok(out)
    }

    fn expect_fail(
        &self,
        raw: BTreeMap<String, Spanned<RawExpectFail>>,
        expects: &[CheckSpec],
    ) -> Result<BTreeMap<String, Vec<String>>> {
        // The checks this scenario expects, in file order, each once.
        let mut expected: Vec<&str> = Vec::new();
        for id in expects.iter().map(CheckSpec::id) {
            if !expected.contains(&id) {
                expected.push(id);
            }
        }
        let mut out = BTreeMap::new();
        for (target, table) in raw {
            let base = format!("expect-fail.{}", key_segment(&target));
            let span = table.span();
            let table = table.into_inner();
            if target.trim().is_empty() {
                return Err(self.err(
                    span,
                    base,
                    "empty target name; expected a target like \"bug/no-keepalive\"",
                ));
            }
            if table.checks.is_empty() {
                return Err(self.err(
                    span,
                    format!("{base}.checks"),
                    "is empty; expected the ids of the checks this target fails",
                ));
            }
            let mut checks: Vec<String> = Vec::new();
            for (i, c) in table.checks.iter().enumerate() {
                let id = c.get_ref();
                let path = format!("{base}.checks[{i}]");
                // The implicit checks run on every scenario without an [[expect]] table.
                let implicit = crate::check::implicit(Vec::new())
                    .iter()
                    .any(|c| c.id() == id.as_str());
                if !expected.contains(&id.as_str()) && !implicit {
                    let list = if expected.is_empty() {
                        "(this scenario has no [[expect]] tables)".to_string()
                    } else {
                        expected.join(", ")
                    };
                    let hint = if CheckKind::from_id(id).is_some() {
                        Some(format!("add an [[expect]] table with check = \"{id}\""))
                    } else {
                        suggestion(id, expected.iter().copied())
                    };
                    return Err(self
                        .err(
                            c.span(),
                            path,
                            format!("`{id}` is not a check of this scenario; expected one of the [[expect]] checks: {list}"),
                        )
                        .with_hint_opt(hint));
                }
                if checks.contains(id) {
                    return Err(self.err(
                        c.span(),
                        path,
                        format!("`{id}` is listed twice; expected each check once"),
                    ));
                }
                checks.push(id.clone());
            }
            out.insert(target, checks);
        }
        Ok(out)
    }
}

/// What the client's timeline opens, to tell whether a check has anything to judge.
struct Timeline {
    /// Each stream name with the kinds of step that open it.
    streams: BTreeMap<String, BTreeSet<&'static str>>,
    /// Any MCP step.
    mcp: bool,
    /// The run's revision resumes streams.
    resumable: bool,
}

impl Timeline {
    fn of(client: &ClientConfig, resumable: bool) -> Self {
        let mut streams: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
        for s in &client.steps {
            let (name, kind) = match &s.action {
                ClientAction::OpenStream { stream, .. } => (stream, "open-stream"),
                ClientAction::OpenGetStream { stream, .. } => (stream, "open-get-stream"),
                ClientAction::CallTool { stream, .. } => (stream, "call-tool"),
                _ => continue,
            };
            streams.entry(name.clone()).or_default().insert(kind);
        }
        Timeline {
            streams,
            mcp: client.steps.iter().any(|s| s.action.is_mcp()),
            resumable,
        }
    }

    /// Whether a check needing `needs` has something to judge (on stream `stream` when
    /// named); else why not, in words.
    fn judges(&self, needs: Needs, stream: Option<&str>) -> std::result::Result<(), String> {
        let kinds: BTreeSet<&str> = match stream {
            Some(name) => self.streams.get(name).cloned().unwrap_or_default(),
            None => self.streams.values().flatten().copied().collect(),
        };
        let on = stream.map_or("no client step opens".to_string(), |s| {
            format!("stream `{s}` is not")
        });
        let mcp_stream = kinds.contains("open-get-stream") || kinds.contains("call-tool");
        match needs {
            Needs::Nothing => Ok(()),
            Needs::Stream if kinds.is_empty() => Err(format!(
                "it judges streams, and {} a stream; expected a client step that opens one (open-stream, open-get-stream or call-tool)",
                stream.map_or("no client step opens", |_| "nothing opens")
            )),
            Needs::Mcp if !self.mcp => Err(
                "it judges MCP messages, and the client speaks plain SSE; expected MCP client steps (initialize, ...)".into(),
            ),
            Needs::McpStream if !mcp_stream => Err(format!(
                "it judges MCP SSE streams, and {on} one; expected an open-get-stream or call-tool step"
            )),
            Needs::Call if !kinds.contains("call-tool") => Err(
                "it judges tool calls answered over SSE, and no client step calls a tool; expected a call-tool step".into(),
            ),
            Needs::Resumable if !mcp_stream => Err(format!(
                "it judges MCP streams resumed with Last-Event-ID, and {on} one; expected an open-get-stream or call-tool step"
            )),
            Needs::Resumable if !self.resumable => Err(format!(
                "it judges streams resumed with Last-Event-ID, and the run's revision ({SESSIONLESS_REVISION}, the last in `protocol`) resumes nothing; expected an earlier revision"
            )),
            _ => Ok(()),
        }
    }
}

/// A stream name in use on the client's timeline.
struct OpenName {
    /// The step (file index) that opened it.
    step: usize,
    /// When a tool call's stream ends by itself (its `tool-duration` after the call);
    /// `None` for streams that stay open until closed.
    ends: Option<Duration>,
    /// The kind of step that opened it.
    kind: StepName,
}

/// The implementation key a client step of kind `name` sets (see [`SetKey`]).
fn step_key(name: StepName) -> &'static str {
    match name {
        StepName::OpenStream => "client.step.open-stream",
        StepName::CloseStream => "client.step.close-stream",
        StepName::Initialize => "client.step.initialize",
        StepName::OpenGetStream => "client.step.open-get-stream",
        StepName::CallTool => "client.step.call-tool",
        StepName::ReconnectStream => "client.step.reconnect-stream",
        StepName::Ping => "client.step.ping",
        StepName::DeleteSession => "client.step.delete-session",
    }
}

impl OpenName {
    /// Whether the name is still taken at `at`.
    fn busy_at(&self, at: Duration) -> bool {
        self.ends.is_none_or(|end| at < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scenario naming `id` with its required parameters given.
    fn with_check(id: &str, params: &[crate::check::Param]) -> String {
        let mut text = format!(
            "description = \"d\"\nduration = \"1m\"\n[[intermediary]]\nname = \"edge\"\n[[expect]]\ncheck = \"{id}\"\n"
        );
        for crate::check::Param { name, required } in params {
            let value = match *name {
                "by" => "\"edge\"",
                _ => "\"5s\"",
            };
            if *required {
                text.push_str(&format!("{name} = {value}\n"));
            }
        }
        text
    }

    #[test]
    fn rpc_answered_knows_the_timelines_calls_and_may_be_expected_to_fail_unlisted() {
        let text = "description = \"d\"\nduration = \"8m\"\n\
            [[client.step]]\nat = \"0s\"\ndo = \"initialize\"\n\
            [[client.step]]\nat = \"1s\"\ndo = \"call-tool\"\ntool-duration = \"6m\"\n";
        let listed = format!("{text}[[expect]]\ncheck = \"rpc.answered\"\n");
        let s = crate::scenario::parse_with_presets("t.toml", &listed, &[]).unwrap();
        assert_eq!(
            s.expects,
            vec![CheckSpec::RpcAnswered {
                calls: vec![(Duration::from_secs(1), Duration::from_secs(360))]
            }]
        );
        // Like determinism.wall-clock, it runs on every scenario: an [expect-fail] may name
        // it without an [[expect]] table.
        let unlisted = format!(
            "{text}[[expect]]\ncheck = \"client.polling-fallback\"\n\
             [expect-fail.\"x\"]\nchecks = [\"rpc.answered\"]\n"
        );
        let s = crate::scenario::parse_with_presets("t.toml", &unlisted, &[]).unwrap();
        assert_eq!(s.expect_fail["x"], vec!["rpc.answered".to_string()]);
    }

    #[test]
    fn check_params_cover_every_check_and_build_the_named_spec() {
        let mut ids = BTreeSet::new();
        for kind in CheckKind::ALL {
            let crate::check::CheckInfo { id, params, .. } = kind.info();
            assert!(ids.insert(id), "{id} listed twice");
            assert_eq!(CheckKind::from_id(id), Some(*kind));
            let mut text = with_check(id, params);
            if id == "first-event.delay" {
                text.push_str("max = \"5s\"\n"); // one of max/min is required
            }
            // What every check needs to have something to judge: a GET stream, a tool call.
            text.push_str("[[client.step]]\nat = \"0s\"\ndo = \"initialize\"\n[[client.step]]\nat = \"1s\"\ndo = \"open-get-stream\"\n[[client.step]]\nat = \"1s\"\ndo = \"call-tool\"\ntool-duration = \"5s\"\n");
            let s = crate::scenario::parse_with_presets("t.toml", &text, &[])
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.expects[0].kind(), *kind);
            // The serialized spec (report.json) names it by the same id.
            let json = serde_json::to_value(&s.expects[0]).expect("serializable");
            assert_eq!(json["check"], id, "{json}");
        }
        // Every CheckSpec variant is reachable: 24 ids, 24 variants.
        assert_eq!(ids.len(), 24);
    }
}
