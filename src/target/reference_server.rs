//! The reference SSE server: hyper over turmoil, one keepalive timer per stream.
//!
//! ```text
//!  GET <any path> ──▶ 200 text/event-stream ──▶ stream task (one per response)
//!                                               ├─ keepalive timer#N (armed at start, own period)
//!                                               ├─ scheduled [[server.event]]s
//!                                               └─ end-after → response ends
//!  a failed write (the client is gone) ──▶ WriteFailed, timer#N cleared, task ends
//! ```
//!
//! Every stream owns its timer: closing one stream never touches another's. The server
//! records every frame it writes, every timer it arms and clears, and every failed write.

use super::{HostFuture, ServerEnv, ServerTarget};
use crate::scenario::{KeepaliveFrame, ServerConfig};
use crate::sim::now;
use crate::sse::{encode, Frame};
use crate::trace::{ConnId, EventKind};
use bytes::Bytes;
use http_body_util::channel::{Channel, Sender};
use hyper::{Request, Response};
use std::cell::Cell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use turmoil::net::TcpListener;

/// Builds the reference server for a scenario's `[server]` settings.
pub fn build(cfg: &ServerConfig) -> Rc<dyn ServerTarget> {
    Rc::new(ReferenceServer { cfg: cfg.clone() })
}

struct ReferenceServer {
    cfg: ServerConfig,
}

impl ServerTarget for ReferenceServer {
    fn serve(&self, env: ServerEnv) -> HostFuture {
        let cfg = Rc::new(self.cfg.clone());
        Box::pin(async move {
            let listener = TcpListener::bind(("0.0.0.0", env.port)).await?;
            let timers = Rc::new(Cell::new(0u32));
            loop {
                let (stream, peer) = listener.accept().await?;
                let (cfg, env, timers) = (cfg.clone(), env.clone(), timers.clone());
                tokio::task::spawn_local(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        handle(req, peer, cfg.clone(), env.clone(), timers.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        })
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    peer: SocketAddr,
    cfg: Rc<ServerConfig>,
    env: ServerEnv,
    timers: Rc<Cell<u32>>,
) -> Result<Response<Channel<Bytes>>, Infallible> {
    let conn = env.host.conns.lookup(peer);
    let rec = env.host.recorder.clone();
    rec.record(
        "server",
        conn,
        EventKind::RequestReceived {
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
        },
    );
    if !cfg.first_byte_delay.is_zero() {
        tokio::time::sleep(cfg.first_byte_delay).await;
    }
    let (tx, body) = Channel::<Bytes>::new(16);
    let mut resp = Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache");
    if cfg.x_accel_buffering_no {
        resp = resp.header("x-accel-buffering", "no");
    }
    let resp = resp.body(body).expect("static response head is valid");
    rec.record(
        "server",
        conn,
        EventKind::ResponseStarted {
            status: 200,
            content_type: Some("text/event-stream".into()),
            headers: resp
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
        },
    );
    let timer = cfg.keepalive.map(|every| {
        timers.set(timers.get() + 1);
        (timers.get(), every)
    });
    tokio::task::spawn_local(stream_task(tx, cfg, env, conn, timer));
    Ok(resp)
}

/// What the stream task does next.
enum Due {
    Keepalive,
    Event(usize),
    End,
}

async fn stream_task(
    mut tx: Sender<Bytes>,
    cfg: Rc<ServerConfig>,
    env: ServerEnv,
    conn: Option<ConnId>,
    timer: Option<(u32, Duration)>,
) {
    let rec = env.host.recorder;
    let record = |kind| rec.record("server", conn, kind);
    let start = now();
    if let Some((id, every)) = timer {
        record(EventKind::TimerArmed { timer: id, every });
    }
    let mut next_keepalive = timer.map(|(_, every)| start + every);
    let mut next_event = cfg.events.iter().position(|e| e.at >= start);
    let end_at = cfg.end_after.map(|d| start + d);
    loop {
        let mut due: Option<(Duration, Due)> = None;
        let mut consider = |at: Option<Duration>, what: Due| {
            if let Some(at) = at {
                if due.as_ref().is_none_or(|(t, _)| at < *t) {
                    due = Some((at, what));
                }
            }
        };
        // Order of consideration breaks ties: end, then events, then keepalive.
        consider(end_at, Due::End);
        consider(
            next_event.map(|i| cfg.events[i].at),
            Due::Event(next_event.unwrap_or(0)),
        );
        consider(next_keepalive, Due::Keepalive);
        let Some((at, what)) = due else {
            // Nothing left to write: hold the stream open until the client goes away.
            std::future::pending::<()>().await;
            return;
        };
        tokio::time::sleep(at.saturating_sub(now())).await;
        let (frame, by_timer) = match what {
            Due::End => {
                record(EventKind::ResponseEnded);
                if let Some((id, _)) = timer {
                    record(EventKind::TimerCleared { timer: id });
                }
                return; // dropping `tx` ends the body
            }
            Due::Event(i) => {
                let e = &cfg.events[i];
                next_event = (i + 1 < cfg.events.len()).then_some(i + 1);
                (
                    Frame::Event {
                        name: e.event.clone(),
                        id: e.id.clone(),
                        data: e.data.clone(),
                    },
                    None,
                )
            }
            Due::Keepalive => {
                let (id, every) = timer.expect("keepalive due only with a timer");
                next_keepalive = Some(at + every);
                let frame = match &cfg.keepalive_frame {
                    KeepaliveFrame::Comment { text } => Frame::Comment { text: text.clone() },
                    KeepaliveFrame::NamedEvent { name } => Frame::Event {
                        name: Some(name.clone()),
                        id: None,
                        data: String::new(),
                    },
                };
                (frame, Some(id))
            }
        };
        let bytes = match encode(&frame) {
            Ok(s) => Bytes::from(s),
            Err(e) => {
                record(EventKind::WriteFailed {
                    timer: by_timer,
                    error: format!("cannot encode {frame}: {e}"),
                });
                continue;
            }
        };
        if tx.send_data(bytes).await.is_err() {
            record(EventKind::WriteFailed {
                timer: by_timer,
                error: "response body closed (client gone)".into(),
            });
            if let Some((id, _)) = timer {
                record(EventKind::TimerCleared { timer: id });
            }
            return;
        }
        record(EventKind::FrameWritten {
            frame,
            timer: by_timer,
        });
    }
}
