//! One SSE connection of `/mcp`: the task that writes what its stream hands over and its
//! keepalives, and which timers it clears when the stream ends or a write fails.

use super::*;

/// Which timer a stream clears when it ends or its first write fails.
pub(super) enum Release {
    /// Its own (every stream owns its timer).
    Own,
    /// Whatever timer is in the session's slot (`shared_keepalive_timer` defect).
    SessionSlot(Slot),
}

impl Release {
    pub(super) fn release(&self, own: Option<&Keepalive>) {
        match self {
            Release::Own => {
                if let Some(k) = own {
                    k.handle().clear();
                }
            }
            Release::SessionSlot(slot) => {
                let current = slot.borrow_mut().take();
                if let Some(h) = current {
                    h.clear();
                }
            }
        }
    }
}

/// The transport keepalive of one connection (`transport_keepalive` defect): background
/// work the runtime cancels at `cancel_at`; a failed write does not clear it.
pub(super) struct TransportKeepalive {
    pub(super) keepalive: Keepalive,
    pub(super) cancel_at: Option<Duration>,
}

impl TransportKeepalive {
    /// When it next needs attention: its firing, or its cancellation when that comes first
    /// (a firing due at exactly the cancellation instant still runs).
    pub(super) fn wake(&self) -> Option<Duration> {
        let due = self.keepalive.due()?;
        Some(match self.cancel_at {
            Some(c) if c < due => c,
            _ => due,
        })
    }
}

/// The keepalive timers one connection runs.
pub(super) struct Timers {
    /// The per-stream timer (the reference's), released by [`Release`].
    pub(super) stream: Option<Keepalive>,
    /// The transport keepalive (bug model), stopped only by the response's end or the
    /// runtime's cancellation.
    pub(super) transport: Option<TransportKeepalive>,
}

/// Which timer needs attention next.
pub(super) enum Wake {
    Stream,
    Transport,
}

impl Timers {
    /// The next instant a timer needs attention, and which (the per-stream timer on ties).
    pub(super) fn next(&self) -> Option<(Duration, Wake)> {
        let stream = self
            .stream
            .as_ref()
            .and_then(Keepalive::due)
            .map(|d| (d, Wake::Stream));
        let transport = self
            .transport
            .as_ref()
            .and_then(TransportKeepalive::wake)
            .map(|d| (d, Wake::Transport));
        match (stream, transport) {
            (Some(s), Some(t)) => Some(if t.0 < s.0 { t } else { s }),
            (s, t) => s.or(t),
        }
    }
}

/// One SSE connection: writes what its stream hands over and its keepalives, until the
/// stream ends, a write fails, or `end_at` (`server.end-after`: the server ends the response
/// cleanly and the connection no longer carries the stream, which goes on collecting events
/// for a resumption); a timer left running (shared-timer defect, transport keepalive) keeps
/// firing.
pub(super) async fn run_connection(
    mut out: SseOut,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    mut timers: Timers,
    release: Release,
    gone: Box<dyn FnOnce()>,
    end_at: Option<Duration>,
) {
    let mut gone = Some(gone);
    let mut open = true; // the stream is still written to
    let mut fed = true; // its server stream still hands frames over
    loop {
        let next = timers.next();
        if !open && next.is_none() {
            return;
        }
        let due = next.as_ref().map(|(at, _)| *at);
        tokio::select! {
            biased;
            m = rx.recv(), if open && fed => match m {
                Some(Outgoing::Frame(frame)) => {
                    if out.write(frame, None).await == Err(WriteError::Closed) {
                        release.release(timers.stream.as_ref());
                        open = false;
                        if let Some(g) = gone.take() { g() }
                    }
                }
                Some(Outgoing::End) => {
                    out.end();
                    release.release(timers.stream.as_ref());
                    if let Some(t) = &timers.transport {
                        t.keepalive.handle().clear();
                    }
                    open = false;
                }
                // Another connection took the stream over: only the keepalive remains.
                None => fed = false,
            },
            _ = tokio::time::sleep(end_at.unwrap_or_default().saturating_sub(now())), if open && end_at.is_some() => {
                out.end();
                release.release(timers.stream.as_ref());
                if let Some(t) = &timers.transport {
                    t.keepalive.handle().clear();
                }
                open = false;
                if let Some(g) = gone.take() { g() }
            },
            _ = tokio::time::sleep(due.unwrap_or_default().saturating_sub(now())), if due.is_some() => {
                let (frame, id) = match timers.next() {
                    Some((at, Wake::Stream)) if at <= now() => {
                        timers.stream.as_mut().expect("a due stream timer").fire()
                    }
                    Some((at, Wake::Transport)) if at <= now() => {
                        let t = timers.transport.as_mut().expect("a due transport timer");
                        if t.cancel_at.is_some_and(|c| c < t.keepalive.due().unwrap_or(c)) {
                            // The runtime cancels the background work (recorded as its clear).
                            t.keepalive.handle().clear();
                            continue;
                        }
                        t.keepalive.fire()
                    }
                    _ => continue,
                };
                if out.write(frame, Some(id)).await == Err(WriteError::Closed) && open {
                    release.release(timers.stream.as_ref());
                    open = false;
                    if let Some(g) = gone.take() { g() }
                }
            },
            else => std::future::pending::<()>().await,
        }
    }
}
