//! The reference server host: plain SSE on every path, MCP Streamable HTTP on `/mcp`.
//!
//! ```text
//!  GET <any path but /mcp> ──▶ 200 text/event-stream ──▶ stream task (one per response)
//!                                               ├─ keepalive timer#N (armed at start, own period)
//!                                               ├─ scheduled [[server.event]]s
//!                                               └─ end-after → response ends
//!  any method /mcp ──▶ crate::reference::server::mcp (sessions, JSON-RPC, SSE streams, replay)
//!  a failed write (the client is gone) ──▶ WriteFailed, timer#N cleared, task ends
//! ```
//!
//! Both paths write SSE through one [`SseOut`] (every frame written, every failed write
//! recorded) and keep their streams alive with one [`Keepalive`] timer type; timer ids count
//! per server host. On the plain path every stream owns its timer: closing one stream never
//! touches another's. The MCP path can be told to share timers wrongly (bug models; see
//! [`crate::scenario::Defects`]).
//!
//! Files: `plain.rs` (the plain path's stream task), `sse_out.rs` ([`SseOut`]),
//! `keepalive.rs` ([`Keepalive`], its handle and ids), `mcp.rs` (the `/mcp` endpoint); the
//! host and its routing are here.

mod keepalive;
pub mod mcp;
mod plain;
mod sse_out;

pub(crate) use keepalive::{Keepalive, TimerHandle, TimerIds};
use plain::stream_task;
pub(crate) use sse_out::{SseOut, WriteError};

use crate::sim::{HostFuture, ServerEnv, ServerTarget};

use crate::scenario::{KeepaliveFrame, ServerConfig};
use crate::sim::net;
use crate::sim::now;
use crate::sse::{encode, Frame};
use crate::trace::{ConnId, EventKind, Recorder};
use bytes::Bytes;
use http_body_util::channel::{Channel, Sender};
use http_body_util::{Either, Full};
use hyper::{Request, Response};
use mcp::McpServer;
use std::cell::Cell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

/// The path the MCP endpoint answers on.
pub const MCP_PATH: &str = "/mcp";

/// A response body of the reference server: complete (JSON, errors) or streamed (SSE).
pub(crate) type Body = Either<Full<Bytes>, Channel<Bytes>>;

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
            let listener = net::bind("server", env.port).await?;
            let timers = TimerIds::default();
            let mcp = McpServer::start(
                cfg.clone(),
                env.scenario.revision(),
                env.host.recorder.clone(),
                timers.clone(),
            );
            loop {
                let (stream, peer) = listener.accept().await?;
                let (cfg, env, timers, mcp) =
                    (cfg.clone(), env.clone(), timers.clone(), mcp.clone());
                tokio::task::spawn_local(async move {
                    let svc = hyper::service::service_fn(move |req: Request<_>| {
                        let (cfg, env, timers, mcp) =
                            (cfg.clone(), env.clone(), timers.clone(), mcp.clone());
                        async move {
                            if req.uri().path() == MCP_PATH {
                                let conn = env.host.conns.lookup(peer);
                                Ok::<_, Infallible>(mcp.handle(req, conn).await)
                            } else {
                                handle(req, peer, cfg, env, timers).await
                            }
                        }
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
    timers: TimerIds,
) -> Result<Response<Body>, Infallible> {
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
    let resp = resp
        .body(Either::Right(body))
        .expect("static response head is valid");
    record_response_started(&rec, conn, &resp);
    let timer = cfg.keepalive.map(|every| (timers.next(), every));
    let out = SseOut::new(tx, rec, conn);
    tokio::task::spawn_local(stream_task(out, cfg, timer));
    Ok(resp)
}

/// Records `ResponseStarted` for a response about to be sent (status, content type, headers).
pub(crate) fn record_response_started<B>(rec: &Recorder, conn: Option<ConnId>, resp: &Response<B>) {
    rec.record(
        "server",
        conn,
        EventKind::ResponseStarted {
            status: resp.status().as_u16(),
            content_type: resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            headers: resp
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
        },
    );
}
