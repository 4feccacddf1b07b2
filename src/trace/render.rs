//! Text rendering of a trace, one line per event, for humans and insta snapshots.

use super::{ClientWarning, Closer, Event, EventKind, StreamEnd, StreamMode, Trace};
use crate::time::{span, stamp};
use std::fmt::Write;

/// Renders the trace as aligned text lines: `HH:MM:SS.mmm  host  conn#N what happened`.
pub fn render_text(trace: &Trace) -> String {
    let width = trace
        .events
        .iter()
        .map(|e| e.host.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = String::new();
    for e in &trace.events {
        let _ = write!(out, "{}  {:<width$}  ", stamp(e.at), e.host);
        if let Some(c) = e.conn {
            let _ = write!(out, "{c} ");
        }
        out.push_str(&describe(e));
        out.push('\n');
    }
    out
}

fn closer(by: &Closer) -> String {
    match by {
        Closer::Client => "client".into(),
        Closer::Server => "server".into(),
        Closer::Intermediary(n) => n.clone(),
        Closer::Fault => "fault".into(),
    }
}

/// One event in words (without time, host and connection).
pub fn describe(e: &Event) -> String {
    match &e.kind {
        EventKind::IntermediaryStarted {
            preset, behaviors, ..
        } => {
            let p = preset
                .as_ref()
                .map(|p| format!("preset {p}: "))
                .unwrap_or_default();
            if behaviors.is_empty() {
                format!("started ({p}plain relay)")
            } else {
                format!("started ({p}{})", behaviors.join("; "))
            }
        }
        EventKind::FaultApplied { fault } => format!("fault: {fault}"),
        EventKind::ConnOpened { stream, route } => {
            format!("opened → {}  stream={stream}", route.join(" → "))
        }
        EventKind::ConnFailed { stream, error } => {
            format!("connect failed  stream={stream}: {error}")
        }
        EventKind::RequestSent {
            method,
            path,
            last_event_id,
        } => match last_event_id {
            Some(id) => format!("{method} {path}  Last-Event-ID={id:?}"),
            None => format!("{method} {path}"),
        },
        EventKind::ResponseReceived {
            status,
            content_type,
        } => format!(
            "response {status} {}",
            content_type.as_deref().unwrap_or("(no content-type)")
        ),
        EventKind::Received { bytes, frames } => {
            let fr: Vec<String> = frames.iter().map(|f| f.to_string()).collect();
            if fr.is_empty() {
                format!("received {bytes} bytes")
            } else {
                format!("received {bytes} bytes: {}", fr.join(", "))
            }
        }
        EventKind::StreamEnded { how } => match how {
            StreamEnd::Complete => "stream ended (response complete)".into(),
            StreamEnd::Truncated => "stream ended without a response terminator".into(),
            StreamEnd::Reset => "stream reset".into(),
            StreamEnd::Error(m) => format!("stream failed: {m}"),
        },
        EventKind::ConnClosed { by, reason } => {
            format!("closed by {}  ({reason})", closer(by))
        }
        EventKind::RequestReceived { method, path } => format!("{method} {path} received"),
        EventKind::RpcSent { method, id } => match id {
            Some(id) => format!("rpc → {method} #{id}"),
            None => format!("rpc → {method} (notification)"),
        },
        EventKind::RpcAnswered { id, outcome } => format!("rpc #{id} answered: {outcome}"),
        EventKind::SessionEstablished { session } => format!("session {session} established"),
        EventKind::MessageDelivered { event_id, message } => match event_id {
            Some(e) => format!("delivered {message}  (event {e})"),
            None => format!("delivered {message}"),
        },
        EventKind::Reconnecting {
            stream,
            attempt,
            after,
            last_event_id,
        } => format!(
            "stream={stream} reconnecting in {} (attempt {attempt}{})",
            span(*after),
            last_event_id
                .as_ref()
                .map(|l| format!(", Last-Event-ID={l:?}"))
                .unwrap_or_default()
        ),
        EventKind::StepRefused { step, reason } => {
            format!("step {step} refused by the client implementation: {reason}")
        }
        EventKind::GaveUp { stream, attempts } => {
            format!("stream={stream} given up after {attempts} failed reconnections")
        }
        EventKind::ClientWarned { stream, warning } => {
            let what = match warning {
                ClientWarning::MissedKeepalive { silent, expected } => format!(
                    "missed keepalive: silent for {} (keepalive expected every {})",
                    span(*silent),
                    span(*expected)
                ),
                ClientWarning::DroppedEarly { after } => format!(
                    "suspect buffering: connection dropped {} after opening",
                    span(*after)
                ),
                ClientWarning::SlowFirstData { after } => format!(
                    "suspect buffering: first data event {} after opening",
                    span(*after)
                ),
            };
            format!("warning  stream={stream}: {what}")
        }
        EventKind::ModeSwitched {
            stream,
            to,
            failures,
        } => {
            let to = match to {
                StreamMode::Sse => "SSE",
                StreamMode::LongPolling => "long-polling",
            };
            format!("stream={stream} switched to {to} after {failures} consecutive failed SSE connections")
        }
        EventKind::RpcReceived {
            method,
            id,
            session,
        } => {
            let id = id.map(|i| format!(" #{i}")).unwrap_or_default();
            let s = session
                .as_ref()
                .map(|s| format!("  session={s}"))
                .unwrap_or_default();
            format!("rpc ← {method}{id}{s}")
        }
        EventKind::SessionCreated { session } => format!("session {session} created"),
        EventKind::SessionTerminated { session } => format!("session {session} terminated"),
        EventKind::SessionExpired { session, idle } => {
            format!("session {session} expired: no request for {}", span(*idle))
        }
        EventKind::StreamAttached {
            stream,
            kind,
            session,
        } => format!("carries {kind} stream {stream} of session {session}"),
        EventKind::ReplayStarted {
            stream,
            after,
            events,
        } => format!("replaying {events} events of stream {stream} after id {after:?}"),
        EventKind::ResponseStarted {
            status,
            content_type,
            ..
        } => format!(
            "{status} {}",
            content_type.as_deref().unwrap_or("(no content-type)")
        ),
        EventKind::FrameWritten { frame, timer } => match timer {
            Some(t) => format!("sse {frame}  (timer#{t})"),
            None => format!("sse {frame}"),
        },
        EventKind::TimerArmed { timer, every } => {
            format!("keepalive timer#{timer} armed, every {}", span(*every))
        }
        EventKind::TimerCleared { timer } => format!("keepalive timer#{timer} cleared"),
        EventKind::WriteFailed { timer, error } => match timer {
            Some(t) => format!("write after close failed (timer#{t}): {error}"),
            None => format!("write after close failed: {error}"),
        },
        EventKind::ResponseEnded => "response ended by server".into(),
        EventKind::EventHeldBack {
            stream,
            session,
            id,
            data,
            kept,
        } => format!(
            "event id={id:?} data={data:?} of stream {stream} (session {session}) held back: no connection carries the stream; {}",
            if *kept {
                "kept for replay"
            } else {
                "not kept (no event store): lost"
            }
        ),
        EventKind::NotificationRefused {
            method,
            session,
            reason,
        } => format!(
            "scheduled {method}{} refused by the implementation: {reason}",
            session
                .as_ref()
                .map(|s| format!(" to session {s}"))
                .unwrap_or_default()
        ),
        EventKind::ServerExited {
            code,
            signal,
            output_tail,
        } => {
            let how = match (code, signal) {
                (Some(c), _) => format!("exit code {c}"),
                (None, Some(s)) => format!("signal {s}"),
                (None, None) => "unknown status".into(),
            };
            if output_tail.is_empty() {
                format!("server process exited ({how}); it wrote nothing")
            } else {
                format!(
                    "server process exited ({how}); its last output: {}",
                    output_tail.join(" | ")
                )
            }
        }
        EventKind::Forwarded {
            direction,
            bytes,
            note,
        } => match note {
            Some(n) => format!("forwarded {bytes} bytes {direction}  ({n})"),
            None => format!("forwarded {bytes} bytes {direction}"),
        },
        EventKind::Buffered { bytes, held } => {
            format!("buffered {bytes} bytes  (holding {held})")
        }
        EventKind::Flushed { bytes, why } => format!("flushed {bytes} bytes downstream  ({why})"),
        EventKind::IntermediaryResponded {
            status,
            behavior,
            reason,
        } => format!("answered {status} itself: {}", because(behavior, reason)),
        EventKind::IntermediaryClosed {
            behavior,
            action,
            reason,
        } => format!("closed ({action}): {}", because(behavior, reason)),
        EventKind::IntermediaryBlackholed { behavior, reason } => {
            format!("stopped forwarding silently: {}", because(behavior, reason))
        }
        EventKind::RunStopped { guard, reason } => {
            let by = match guard {
                super::StopGuard::Stall => "stall guard",
                super::StopGuard::Budget => "byte budget",
            };
            format!("run stopped by the {by}: {reason}")
        }
    }
}

/// `reason` alone when it already names the behavior, else `behavior (reason)`.
fn because(behavior: &str, reason: &str) -> String {
    if reason.starts_with(behavior) {
        reason.to_string()
    } else {
        format!("{behavior} ({reason})")
    }
}
