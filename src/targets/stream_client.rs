//! Any Rust SSE client as the client target, driven through one small trait.
//!
//! ```text
//!  scenario timeline ──open-stream{stream, path}──▶ connect to the first hop (conn#N, ConnOpened)
//!                                                    StreamClient::stream(io, host, path)
//!     io = the simulated socket, recorded as bytes pass:
//!       written ─▶ RequestSent (method, path, Last-Event-ID) once the head is out
//!       read    ─▶ ResponseReceived, Received{bytes, frames}, StreamEnded
//!  close-stream / the scenario's end ──▶ the stream's future is dropped, ConnClosed{by: client}
//! ```
//!
//! The client does its own HTTP (hyper's client connection over `io`, or any other): the
//! harness only reads what crosses the socket, so the client-side checks (`stream.survives`,
//! `keepalive.cadence`, ...) judge exactly what the client received. MCP steps are not driven
//! through this trait (they need the client's own MCP API): a scenario with MCP steps fails
//! the run with a message saying so.

use super::process::wire::{Observed, RequestHead, RequestSeen, ResponseReader};
use crate::scenario::ClientAction;
use crate::sim::{net, now};
use crate::sim::{ClientEnv, ClientTarget, HostFuture};
use crate::sse::Parser;
use crate::trace::{Closer, ConnId, EventKind, Recorder, StreamEnd};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An SSE client under test: runs one stream over `io` until it ends or is dropped.
pub trait StreamClient {
    /// Sends a GET for `path` (with `Host: host`) over `io` and reads the response as the
    /// client would; returns when the client is done with the stream.
    fn stream(
        &self,
        io: RecordedIo,
        host: String,
        path: String,
    ) -> Pin<Box<dyn Future<Output = ()>>>;
}

/// An open stream: its connection, the task running the client on it, and the flag the
/// timeline sets when it closes the stream itself.
type Open = (ConnId, tokio::task::JoinHandle<()>, Rc<Cell<bool>>);

/// A client target made of a [`StreamClient`].
pub struct StreamClientTarget<C> {
    client: Rc<C>,
}

impl<C: StreamClient + 'static> StreamClientTarget<C> {
    /// A target driving `client` through the scenario's `open-stream` / `close-stream` steps.
    pub fn new(client: C) -> Rc<Self> {
        Rc::new(Self {
            client: Rc::new(client),
        })
    }
}

impl<C: StreamClient + 'static> ClientTarget for StreamClientTarget<C> {
    fn run(&self, env: ClientEnv) -> HostFuture {
        let client = self.client.clone();
        Box::pin(async move {
            if env.scenario.uses_mcp() {
                return Err(format!(
                    "{}: has MCP steps; a StreamClient target runs plain SSE scenarios \
                     (open-stream / close-stream) only",
                    env.scenario.path
                )
                .into());
            }
            let mut open: BTreeMap<String, Open> = BTreeMap::new();
            let rec = env.host.recorder.clone();
            let close = |open: &mut BTreeMap<String, Open>, name: &str, why: &str| {
                if let Some((conn, task, closing)) = open.remove(name) {
                    if !task.is_finished() {
                        closing.set(true);
                        task.abort();
                        rec.record(
                            "client",
                            Some(conn),
                            EventKind::ConnClosed {
                                by: Closer::Client,
                                reason: why.to_string(),
                            },
                        );
                    }
                }
            };
            for step in env.scenario.client.steps.clone() {
                tokio::time::sleep(step.at.saturating_sub(now())).await;
                match step.action {
                    ClientAction::OpenStream { stream, path } => {
                        close(&mut open, &stream, "reopened by the timeline");
                        let conn = env.host.conns.allocate();
                        let tcp = match net::connect("client", &env.first_hop, env.port).await {
                            Ok(s) => s,
                            Err(e) => {
                                env.host.recorder.record(
                                    "client",
                                    Some(conn),
                                    EventKind::ConnFailed {
                                        stream,
                                        error: net::describe_error(&e),
                                    },
                                );
                                continue;
                            }
                        };
                        if let Ok(local) = tcp.local_addr() {
                            env.host.conns.register(local, conn);
                        }
                        env.host.recorder.record(
                            "client",
                            Some(conn),
                            EventKind::ConnOpened {
                                stream: stream.clone(),
                                route: env.route.clone(),
                            },
                        );
                        let closing = Rc::new(Cell::new(false));
                        let io =
                            RecordedIo::new(tcp, env.host.recorder.clone(), conn, closing.clone());
                        let fut = client.stream(io, env.first_hop.clone(), path);
                        open.insert(stream, (conn, tokio::task::spawn_local(fut), closing));
                    }
                    ClientAction::CloseStream { stream } => {
                        close(&mut open, &stream, "close-stream step");
                    }
                    _ => {}
                }
            }
            tokio::time::sleep(env.scenario.duration.saturating_sub(now())).await;
            let names: Vec<String> = open.keys().cloned().collect();
            for n in names {
                close(&mut open, &n, "scenario ended");
            }
            Ok(())
        })
    }
}

/// The simulated socket handed to a [`StreamClient`]: reads and writes pass through, and
/// what they carry is recorded as the client side of the trace.
pub struct RecordedIo {
    inner: net::Stream,
    rec: Recorder,
    conn: ConnId,
    request: RequestHead,
    response: ResponseReader,
    frames: Parser,
    /// The response's end was recorded.
    ended: bool,
    /// The timeline closed the stream (and recorded it).
    closing: Rc<Cell<bool>>,
}

impl RecordedIo {
    fn new(inner: net::Stream, rec: Recorder, conn: ConnId, closing: Rc<Cell<bool>>) -> Self {
        Self {
            inner,
            rec,
            conn,
            request: RequestHead::default(),
            response: ResponseReader::default(),
            frames: Parser::new(),
            ended: false,
            closing,
        }
    }

    fn record(&self, kind: EventKind) {
        self.rec.record("client", Some(self.conn), kind);
    }

    fn observe(&mut self, observed: Vec<Observed>) {
        for o in observed {
            let kind = match o {
                Observed::Started {
                    status,
                    content_type,
                    ..
                } => EventKind::ResponseReceived {
                    status,
                    content_type,
                },
                Observed::Body(body) => EventKind::Received {
                    bytes: body.len(),
                    frames: self.frames.feed(&body),
                },
                Observed::Ended => {
                    self.ended = true;
                    EventKind::StreamEnded {
                        how: StreamEnd::Complete,
                    }
                }
                Observed::Garbled(why) => {
                    self.ended = true;
                    EventKind::StreamEnded {
                        how: StreamEnd::Error(why),
                    }
                }
            };
            self.record(kind);
        }
    }
}

impl Drop for RecordedIo {
    fn drop(&mut self) {
        // The client let go of a stream that had not ended, on its own.
        if !self.ended && !self.closing.get() {
            self.record(EventKind::ConnClosed {
                by: Closer::Client,
                reason: "the client dropped the connection".into(),
            });
        }
    }
}

impl AsyncRead for RecordedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        match &polled {
            Poll::Ready(Ok(())) => {
                let got = buf.filled()[before..].to_vec();
                if got.is_empty() {
                    // The connection ended: a body delimited by the close ends here, any other
                    // unfinished body was cut.
                    if !this.ended {
                        match this.response.closed() {
                            Some(o) => this.observe(vec![o]),
                            None => {
                                this.ended = true;
                                this.record(EventKind::StreamEnded {
                                    how: StreamEnd::Truncated,
                                });
                            }
                        }
                    }
                } else {
                    let observed = this.response.feed(&got);
                    this.observe(observed);
                }
            }
            Poll::Ready(Err(e)) if !this.ended => {
                this.ended = true;
                let how = if e.kind() == io::ErrorKind::ConnectionReset {
                    StreamEnd::Reset
                } else {
                    StreamEnd::Error(net::describe_error(e))
                };
                this.record(EventKind::StreamEnded { how });
            }
            _ => {}
        }
        polled
    }
}

impl AsyncWrite for RecordedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            for seen in this.request.feed(&buf[..*n]) {
                if let RequestSeen::Head {
                    method,
                    path,
                    last_event_id,
                    ..
                } = seen
                {
                    this.record(EventKind::RequestSent {
                        method,
                        path,
                        last_event_id,
                    });
                }
            }
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
