//! `[[expect]]` and `[expect-fail]` tables: each check gets exactly the parameters it takes,
//! and has something on the client's timeline to judge.

use super::*;

impl Validator<'_> {
    pub(super) fn expects(
        &self,
        raw: Vec<Spanned<RawExpect>>,
        streams: &BTreeSet<String>,
        client: &ClientConfig,
        intermediaries: &[IntermediaryConfig],
        tick: Duration,
    ) -> Result<Vec<CheckSpec>> {
        let ids: Vec<&str> = CheckKind::ALL.iter().map(|k| k.id()).collect();
        let timeline = Timeline::of(client, &self.kind);
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

    pub(super) fn expect_fail(
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
pub(super) struct Timeline {
    /// Each stream name with the kinds of step that open it.
    streams: BTreeMap<String, BTreeSet<&'static str>>,
    /// Any MCP step.
    mcp: bool,
    /// The run's revision resumes streams.
    resumable: bool,
    /// The run's revision (MCP scenarios).
    revision: Option<Revision>,
}

impl Timeline {
    pub(super) fn of(client: &ClientConfig, kind: &Kind) -> Self {
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
            resumable: kind.resumable(),
            revision: match kind {
                Kind::Mcp(r) => Some(*r),
                Kind::Plain => None,
            },
        }
    }

    /// Whether a check needing `needs` has something to judge (on stream `stream` when
    /// named); else why not, in words.
    pub(super) fn judges(
        &self,
        needs: Needs,
        stream: Option<&str>,
    ) -> std::result::Result<(), String> {
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
                "it judges streams resumed with Last-Event-ID, and the run's revision ({}, the last in `protocol`) resumes nothing; expected an earlier revision",
                self.revision.map_or("none", Revision::as_str)
            )),
            _ => Ok(()),
        }
    }
}
