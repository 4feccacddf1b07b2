//! `axum-sse`: an axum 0.8 app streaming Server-Sent Events with `Sse` + `KeepAlive`, run
//! in-process through [`super::service::tower`]: a second in-process target and a worked
//! example of plugging a tower service in.
//!
//! ```text
//!  GET <any path> ──(server.first-byte-delay)──▶ Sse(stream of the scenario's [[server.event]]s at their times)
//!                      .keep_alive(KeepAlive::new().interval(server.keepalive))   (axum's own)
//!                      + `X-Accel-Buffering: no` when `server.x-accel-buffering-no`
//!                      + the stream ends after `server.end-after`
//! ```
//!
//! Plain SSE only (no MCP endpoint): it runs on scenarios without MCP steps. axum's keepalive
//! frame is its default, an empty comment (`:\n\n`), unless the scenario sets one
//! (`KeepAlive::text`, `KeepAlive::event`).

use super::service;
use crate::scenario::{KeepaliveFrame, ServerConfig};
use crate::sim::now;
use crate::sim::ServerTarget;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::StreamExt;
use std::convert::Infallible;
use std::rc::Rc;
use std::sync::Arc;

/// Builds the axum target for a scenario's `[server]` settings.
pub fn build(cfg: &ServerConfig) -> Rc<dyn ServerTarget> {
    let cfg = Arc::new(cfg.clone());
    service::tower(move || app(cfg.clone()))
}

/// The axum app: every path answers with the SSE stream.
pub fn app(cfg: Arc<ServerConfig>) -> Router {
    Router::new().fallback(move || stream(cfg.clone()))
}

/// axum's `KeepAlive` for the scenario's frame: its default (the empty comment `:`) unless the
/// file sets a comment. axum writes a comment as `: <text>`, so it can write comment texts
/// that are empty or start with a space ([`honours_comment`]), and no named-event keepalive
/// with an empty `data:` line ([`comment_frame`]): the registry refuses those scenarios for
/// this target, and a caller of [`build`] gets axum's default for them.
fn keepalive(cfg: &ServerConfig) -> KeepAlive {
    match &cfg.keepalive_frame {
        KeepaliveFrame::Comment { text } if cfg.keepalive_frame_set => {
            match text.strip_prefix(' ') {
                Some(after_space) => KeepAlive::new().text(after_space),
                None => KeepAlive::new(),
            }
        }
        _ => KeepAlive::new(),
    }
}

/// Whether axum can write the scenario's comment keepalive: `:` alone, or `: <text>`.
pub fn honours_comment(s: &crate::scenario::Scenario) -> bool {
    match &s.server.keepalive_frame {
        KeepaliveFrame::Comment { text } => text.is_empty() || text.starts_with(' '),
        KeepaliveFrame::NamedEvent { .. } => true,
    }
}

/// Whether the scenario's keepalive frame is a comment (axum's `KeepAlive::event` writes a
/// named event without the empty `data:` line a named-event keepalive has).
pub fn comment_frame(s: &crate::scenario::Scenario) -> bool {
    matches!(s.server.keepalive_frame, KeepaliveFrame::Comment { .. })
}

async fn stream(cfg: Arc<ServerConfig>) -> Response {
    if !cfg.first_byte_delay.is_zero() {
        tokio::time::sleep(cfg.first_byte_delay).await;
    }
    let events = futures_util::stream::unfold(cfg.events.clone().into_iter(), |mut due| async {
        let e = due.next()?;
        tokio::time::sleep(e.at.saturating_sub(now())).await;
        let mut ev = Event::default().data(e.data);
        if let Some(name) = e.event {
            ev = ev.event(name);
        }
        if let Some(id) = e.id {
            ev = ev.id(id);
        }
        Some((Ok::<_, Infallible>(ev), due))
    })
    // The stream stays open after the last scheduled event.
    .chain(futures_util::stream::pending());
    let end_after = cfg.end_after.as_ref().map(|e| e.after);
    let events = events.take_until(async move {
        match end_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    });
    let sse = Sse::new(events);
    let resp = match cfg.keepalive {
        Some(every) => sse
            .keep_alive(keepalive(&cfg).interval(every))
            .into_response(),
        None => sse.into_response(),
    };
    if cfg.x_accel_buffering_no {
        ([("x-accel-buffering", "no")], resp).into_response()
    } else {
        resp
    }
}
