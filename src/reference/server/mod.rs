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

pub mod mcp;

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

/// What the stream task does next.
enum Due {
    Keepalive,
    Event(usize),
    End,
}

/// A plain SSE stream: keepalives, the scheduled `[[server.event]]`s, and `end-after`.
async fn stream_task(mut out: SseOut, cfg: Rc<ServerConfig>, timer: Option<(u32, Duration)>) {
    let start = now();
    let mut keepalive = timer
        .map(|(id, every)| Keepalive::arm(id, every, cfg.keepalive_frame.clone(), &out, start));
    let mut next_event = cfg.events.iter().position(|e| e.at >= start);
    let end_at = cfg.end_after.as_ref().map(|e| start + e.after);
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
        consider(keepalive.as_ref().and_then(Keepalive::due), Due::Keepalive);
        let Some((at, what)) = due else {
            // Nothing left to write: hold the stream open until the client goes away.
            std::future::pending::<()>().await;
            return;
        };
        tokio::time::sleep(at.saturating_sub(now())).await;
        let written = match what {
            Due::End => {
                out.end();
                if let Some(k) = &keepalive {
                    k.handle().clear();
                }
                return; // dropping `out` ends the body
            }
            Due::Event(i) => {
                let e = &cfg.events[i];
                next_event = (i + 1 < cfg.events.len()).then_some(i + 1);
                let frame = Frame::Event {
                    name: e.event.clone(),
                    id: e.id.clone(),
                    data: e.data.clone(),
                };
                out.write(frame, None).await
            }
            Due::Keepalive => {
                let k = keepalive.as_mut().expect("keepalive due only with a timer");
                let (frame, id) = k.fire();
                out.write(frame, Some(id)).await
            }
        };
        if written == Err(WriteError::Closed) {
            if let Some(k) = &keepalive {
                k.handle().clear();
            }
            return;
        }
    }
}

/// Numbers keepalive timers per server host: `timer#1`, `timer#2`, ...
#[derive(Clone, Default)]
pub(crate) struct TimerIds(Rc<Cell<u32>>);

impl TimerIds {
    /// The next timer id.
    pub(crate) fn next(&self) -> u32 {
        self.0.set(self.0.get() + 1);
        self.0.get()
    }
}

/// Why a frame was not written (already recorded as `WriteFailed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteError {
    /// The frame cannot be encoded; the stream is still usable.
    Encode,
    /// The body is closed: the client is gone, or the server already ended the response.
    Closed,
}

/// The server side of one SSE response body: writes frames and records every write.
pub(crate) struct SseOut {
    tx: Option<Sender<Bytes>>,
    rec: Recorder,
    conn: Option<ConnId>,
}

impl SseOut {
    /// Writes into `tx`, recording as host `server` on `conn`.
    pub(crate) fn new(tx: Sender<Bytes>, rec: Recorder, conn: Option<ConnId>) -> Self {
        Self {
            tx: Some(tx),
            rec,
            conn,
        }
    }

    /// Records an event of this response's connection.
    pub(crate) fn record(&self, kind: EventKind) {
        self.rec.record("server", self.conn, kind);
    }

    /// Writes one frame: `FrameWritten` on success, else `WriteFailed` (`timer` = the
    /// keepalive timer writing it, if any).
    pub(crate) async fn write(
        &mut self,
        frame: Frame,
        timer: Option<u32>,
    ) -> Result<(), WriteError> {
        let bytes = match encode(&frame) {
            Ok(s) => Bytes::from(s),
            Err(e) => {
                self.record(EventKind::WriteFailed {
                    timer,
                    error: format!("cannot encode {frame}: {e}"),
                });
                return Err(WriteError::Encode);
            }
        };
        let Some(tx) = self.tx.as_mut() else {
            self.record(EventKind::WriteFailed {
                timer,
                error: "response already ended by the server".into(),
            });
            return Err(WriteError::Closed);
        };
        if tx.send_data(bytes).await.is_err() {
            self.record(EventKind::WriteFailed {
                timer,
                error: "response body closed (client gone)".into(),
            });
            return Err(WriteError::Closed);
        }
        self.record(EventKind::FrameWritten { frame, timer });
        Ok(())
    }

    /// Ends the response body on purpose (`ResponseEnded`); later writes fail.
    pub(crate) fn end(&mut self) {
        self.record(EventKind::ResponseEnded);
        self.tx = None;
    }
}

/// A handle on a keepalive timer: clearing it stops it, wherever it runs.
#[derive(Clone)]
pub(crate) struct TimerHandle {
    id: u32,
    cleared: Rc<Cell<bool>>,
    rec: Recorder,
    conn: Option<ConnId>,
}

impl TimerHandle {
    /// Clears the timer (`TimerCleared`, on the connection it writes to); a no-op when it is
    /// already cleared.
    pub(crate) fn clear(&self) {
        if !self.cleared.replace(true) {
            self.rec.record(
                "server",
                self.conn,
                EventKind::TimerCleared { timer: self.id },
            );
        }
    }

    /// True once cleared.
    pub(crate) fn is_cleared(&self) -> bool {
        self.cleared.get()
    }
}

/// The keepalive timer of one SSE stream: fires every `every` from when it was armed and
/// writes the configured keepalive frame, until its handle is cleared.
pub(crate) struct Keepalive {
    every: Duration,
    next: Duration,
    frame: KeepaliveFrame,
    handle: TimerHandle,
}

impl Keepalive {
    /// Arms timer `id` at `start` (`TimerArmed`) for the stream `out` writes.
    pub(crate) fn arm(
        id: u32,
        every: Duration,
        frame: KeepaliveFrame,
        out: &SseOut,
        start: Duration,
    ) -> Self {
        out.record(EventKind::TimerArmed { timer: id, every });
        Self {
            every,
            next: start + every,
            frame,
            handle: TimerHandle {
                id,
                cleared: Rc::new(Cell::new(false)),
                rec: out.rec.clone(),
                conn: out.conn,
            },
        }
    }

    /// When it fires next; `None` once cleared.
    pub(crate) fn due(&self) -> Option<Duration> {
        (!self.handle.is_cleared()).then_some(self.next)
    }

    /// Fires: the frame to write and the timer id; the next firing is one period later.
    pub(crate) fn fire(&mut self) -> (Frame, u32) {
        self.next += self.every;
        let frame = match &self.frame {
            KeepaliveFrame::Comment { text } => Frame::Comment { text: text.clone() },
            KeepaliveFrame::NamedEvent { name } => Frame::Event {
                name: Some(name.clone()),
                id: None,
                data: String::new(),
            },
        };
        (frame, self.handle.id)
    }

    /// The handle to clear this timer with.
    pub(crate) fn handle(&self) -> &TimerHandle {
        &self.handle
    }
}
