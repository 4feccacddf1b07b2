//! `[[intermediary]]` tables: presets resolved and merged with their overrides, host names
//! defaulted and unique, each behavior's keys typed.

use super::*;

impl Validator<'_> {
    pub(super) fn intermediaries(
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

    pub(super) fn preset(&self, p: &Spanned<String>, path: &str) -> Result<&Preset> {
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

    pub(super) fn host_name(&self, n: &Spanned<String>, path: &str) -> Result<()> {
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
    pub(super) fn apply<T>(
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

    pub(super) fn missing(
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

    pub(super) fn required_after(
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

    pub(super) fn after_headers_action(
        &self,
        a: &Spanned<RawAction>,
        path: &str,
    ) -> Result<CloseAction> {
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

    pub(super) fn idle_timeout(
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

    pub(super) fn first_byte_timeout(
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

    pub(super) fn max_duration(
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

    pub(super) fn buffering(
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

    pub(super) fn latency(
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
}
