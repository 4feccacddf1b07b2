//! Any Rust HTTP service as the server target, in-process and on virtual time.
//!
//! ```text
//!  make() ──▶ S: hyper Service (or a tower Service, through `ServiceTarget::tower`)
//!    one per connection, served by hyper's HTTP/1 server on the simulation's sockets
//!    request  ──▶ RequestReceived
//!    response ──▶ ResponseStarted ─▶ body chunks ─▶ SSE parser ─▶ FrameWritten per frame
//!                                   └─ end ─▶ ResponseEnded
//! ```
//!
//! The service runs inside the simulation's runtime, so its tokio timers (keepalive
//! intervals, sleeps) follow virtual time. What it does not report (keepalive timers it arms
//! and clears) leaves the checks that need it `unobservable`.

use crate::sim::net;
use crate::sim::{HostFuture, ServerEnv, ServerTarget};
use crate::sse::Parser;
use crate::trace::{ConnId, EventKind, Recorder};
use bytes::Buf;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::Service;
use hyper::{Request, Response};
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

type BoxError = Box<dyn StdError + Send + Sync>;

/// A server target made from a function that builds the service, once per connection.
pub struct ServiceTarget<F> {
    make: Rc<F>,
}

impl<F> ServiceTarget<F> {
    /// A target serving a hyper [`Service`] built by `make` for every connection.
    pub fn new(make: F) -> Rc<Self> {
        Rc::new(Self {
            make: Rc::new(make),
        })
    }
}

/// Builds a target from a `tower::Service` maker (axum's `Router`, rmcp's
/// `StreamableHttpService`, ...).
pub fn tower<F, T>(
    make: F,
) -> Rc<ServiceTarget<impl Fn() -> hyper_util::service::TowerToHyperService<T> + 'static>>
where
    F: Fn() -> T + 'static,
{
    ServiceTarget::new(move || hyper_util::service::TowerToHyperService::new(make()))
}

impl<F, S, B> ServerTarget for ServiceTarget<F>
where
    F: Fn() -> S + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + 'static,
    S::Future: 'static,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    fn serve(&self, env: ServerEnv) -> HostFuture {
        Box::pin(serve_with(env, self.make.clone()))
    }
}

async fn serve_with<F, S, B>(env: ServerEnv, make: Rc<F>) -> turmoil::Result
where
    F: Fn() -> S + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + 'static,
    S::Future: 'static,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let listener = net::bind("server", env.port).await?;
    loop {
        let (stream, peer) = listener.accept().await?;
        let svc = Recording {
            inner: make(),
            rec: env.host.recorder.clone(),
            conns: env.host.conns.clone(),
            peer,
        };
        tokio::task::spawn_local(async move {
            // One request per connection, as the reference server: the harness's clients
            // never reuse a connection, and the relays see a response end when its
            // connection closes (they do not parse chunked framing).
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Wraps a service to record what the server does into the trace.
struct Recording<S> {
    inner: S,
    rec: Recorder,
    /// Looked up per request, not at accept: on the network engine the relay registers its
    /// upstream connection only once its connect has returned, after the server accepted.
    conns: crate::sim::ConnRegistry,
    peer: std::net::SocketAddr,
}

impl<S, B> Service<Request<Incoming>> for Recording<S>
where
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Future: 'static,
    B: Body,
{
    type Response = Response<RecordedBody<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>>>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let conn = self.conns.lookup(self.peer);
        self.rec.record(
            "server",
            conn,
            EventKind::RequestReceived {
                method: req.method().to_string(),
                path: req.uri().path().to_string(),
            },
        );
        let rec = self.rec.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            crate::reference::server::record_response_started(&rec, conn, &resp);
            Ok(resp.map(|body| RecordedBody {
                inner: Box::pin(body),
                parser: Parser::new(),
                rec,
                conn,
                ended: false,
            }))
        })
    }
}

/// A response body that records every SSE frame written and the end of the response.
pub struct RecordedBody<B> {
    inner: Pin<Box<B>>,
    parser: Parser,
    rec: Recorder,
    conn: Option<ConnId>,
    ended: bool,
}

impl<B: Body> Body for RecordedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    // The first contiguous chunk: the whole of it for `Bytes` bodies (axum,
                    // hyper, http-body-util); a segmented buffer would be seen in part.
                    let bytes = data.chunk();
                    for f in this.parser.feed(bytes) {
                        this.rec.record(
                            "server",
                            this.conn,
                            EventKind::FrameWritten {
                                frame: f,
                                timer: None,
                            },
                        );
                    }
                }
            }
            Poll::Ready(None) if !this.ended => {
                this.ended = true;
                this.rec
                    .record("server", this.conn, EventKind::ResponseEnded);
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests;
