//! The `[server]` table: keepalive, events, notifications, resumption, session idle timeout.

use super::*;

impl Validator<'_> {
    pub(super) fn server(&self, raw: RawServer) -> Result<ServerConfig> {
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
                        if let Kind::Mcp(revision) = self.kind {
                            if !revision.primes() {
                                let priming = Revision::ALL
                                    .into_iter()
                                    .filter(|r| r.primes())
                                    .map(Revision::as_str)
                                    .collect::<Vec<_>>()
                                    .join(", ");
                                return Err(self
                                    .err(
                                        r.span(),
                                        "server.retry",
                                        format!("`retry` is sent with the priming event, which only {priming} has, and this run speaks {revision} (the last in `protocol`); expected retry = \"off\" or no `retry`"),
                                    )
                                    .with_hint(format!("list {priming} last in `protocol`, or remove `retry`")));
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
    pub(super) fn end_after(&self, raw: &Spanned<RawEndAfter>) -> Result<EndAfter> {
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
                            if !r.has_sessions() && kinds != [SseKind::Post] {
                                return Err(self
                                    .err(
                                        list.span(),
                                        spath,
                                        format!("{r} (the run's revision) has no GET stream and no replay, so only \"post\" responses exist; expected streams = [\"post\"]"),
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
}
