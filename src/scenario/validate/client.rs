//! The `[client]` table: the timeline of steps (a client may only close a stream it
//! opened), and the reconnect policy.

use super::*;

impl Validator<'_> {
    /// The client's steps in time order, its reconnection policy, and every stream name a
    /// step opens. `revision` is the run's MCP revision.
    pub(super) fn client(
        &self,
        raw: RawClient,
        revision: Revision,
    ) -> Result<(ClientConfig, BTreeSet<String>)> {
        let reconnect = self.reconnect(&raw)?;
        let mut indexed: Vec<(usize, Spanned<RawStep>)> =
            raw.step.into_iter().enumerate().collect();
        indexed.sort_by_key(|(_, s)| s.get_ref().at.get_ref().0);
        let sessionless = !revision.has_sessions();
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
                    format!("the {revision} revision has no GET stream; expected no {word} step under it (the run's revision is the last in `protocol`), or an earlier revision"),
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
    pub(super) fn step_keys(&self, step: &RawStep, base: &str) -> Result<()> {
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
    pub(super) fn last_event_id(&self, v: &Spanned<String>, path: &str) -> Result<String> {
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
    pub(super) fn request_path(
        &self,
        path: &Option<Spanned<String>>,
        base: &str,
    ) -> Result<String> {
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
    pub(super) fn reconnect(&self, raw: &RawClient) -> Result<ReconnectPolicy> {
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
}

/// A stream name in use on the client's timeline.
pub(super) struct OpenName {
    /// The step (file index) that opened it.
    step: usize,
    /// When a tool call's stream ends by itself (its `tool-duration` after the call);
    /// `None` for streams that stay open until closed.
    ends: Option<Duration>,
    /// The kind of step that opened it.
    kind: StepName,
}

/// The implementation key a client step of kind `name` sets (see [`SetKey`]).
pub(super) fn step_key(name: StepName) -> &'static str {
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
    pub(super) fn busy_at(&self, at: Duration) -> bool {
        self.ends.is_none_or(|end| at < end)
    }
}
