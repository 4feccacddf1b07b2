//! The reference client: runs the scenario's client timeline, one connection per stream,
//! and records everything it receives.
//!
//! ```text
//!  [[client.step]] at=.. do=open-stream ──▶ stream task: connect → GET → read body
//!                                            each chunk ──▶ SSE parser ──▶ Received{frames}
//!  [[client.step]] do=close-stream / scenario end ──▶ close signal ──▶ ConnClosed{by: client}
//!  MCP steps (initialize, open-get-stream, call-tool, ping, delete-session)
//!                                        ──▶ crate::reference::client::mcp::McpClient (one per run)
//!  reconnect-stream ──▶ the GET stream's task: drop its connection, reconnect with the id
//!                       (a stream whose life is over starts again with that id)
//! ```
//!
//! Plain and MCP streams share one table of open streams by name: `close-stream` and the
//! scenario's end close either kind the same way.

use crate::sim::{ClientEnv, ClientTarget, HostFuture};
pub mod mcp;

use crate::scenario::ClientAction;
use crate::sim::net;
use crate::sim::now;
use crate::sse::Parser;
use crate::trace::{Closer, EventKind, StreamEnd};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use mcp::{stream_end, ClientContext, ClientDefects, McpClient, Opening};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Builds the reference client.
pub fn build() -> Rc<dyn ClientTarget> {
    build_with(ClientDefects::default())
}

/// Builds the reference client with a bug model's defects switched on.
pub fn build_with(defects: ClientDefects) -> Rc<dyn ClientTarget> {
    Rc::new(ReferenceClient { defects })
}

struct ReferenceClient {
    /// Defects of the MCP client (none for the reference).
    defects: ClientDefects,
}

async fn sleep_until(at: Duration) {
    tokio::time::sleep(at.saturating_sub(now())).await;
}

/// A stream the timeline opened: how to close it, how to make it reconnect (MCP streams),
/// and its task.
struct OpenStream {
    close: oneshot::Sender<String>,
    reconnect: Option<mpsc::UnboundedSender<String>>,
    task: JoinHandle<()>,
}

/// Open streams by name.
type OpenStreams = BTreeMap<String, OpenStream>;

/// Closes stream `name` if it is open, and waits for its task to finish.
async fn close(open: &mut OpenStreams, name: &str, why: &str) {
    if let Some(s) = open.remove(name) {
        let _ = s.close.send(why.into());
        let _ = s.task.await;
    }
}

/// Runs MCP stream `name` from `opening` as a task, registered under its name.
fn spawn_mcp(open: &mut OpenStreams, mcp: &McpClient, name: String, opening: Opening) {
    let (close, rx) = oneshot::channel();
    let (reconnect, reconnects) = mpsc::unbounded_channel();
    let task =
        tokio::task::spawn_local(
            mcp.clone()
                .run_stream(name.clone(), opening, rx, reconnects),
        );
    open.insert(
        name,
        OpenStream {
            close,
            reconnect: Some(reconnect),
            task,
        },
    );
}

impl ClientTarget for ReferenceClient {
    fn run(&self, env: ClientEnv) -> HostFuture {
        let defects = self.defects.clone();
        Box::pin(async move {
            let mcp = McpClient::new(ClientContext {
                recorder: env.host.recorder.clone(),
                conns: env.host.conns.clone(),
                first_hop: env.first_hop.clone(),
                route: env.route.clone(),
                port: env.port,
                revision: env.scenario.revision(),
                reconnect: env.scenario.client.reconnect.clone(),
                defects,
                keepalive_expected: env.scenario.client.keepalive_expected,
                tick: env.scenario.tick,
            });
            let mut open = OpenStreams::new();
            let timeline = async {
                for step in env.scenario.client.steps.clone() {
                    sleep_until(step.at).await;
                    match step.action {
                        ClientAction::OpenStream { stream, path } => {
                            close(&mut open, &stream, "reopened by the timeline").await;
                            let (tx, rx) = oneshot::channel();
                            let task = tokio::task::spawn_local(run_stream(
                                env.clone(),
                                stream.clone(),
                                path,
                                rx,
                            ));
                            open.insert(
                                stream,
                                OpenStream {
                                    close: tx,
                                    reconnect: None,
                                    task,
                                },
                            );
                        }
                        ClientAction::CloseStream { stream } => {
                            close(&mut open, &stream, "close-stream step").await;
                        }
                        ClientAction::Initialize => mcp.initialize().await,
                        ClientAction::OpenGetStream {
                            stream,
                            last_event_id,
                        } => {
                            close(&mut open, &stream, "reopened by the timeline").await;
                            let opening = match last_event_id {
                                Some(last_event_id) => Opening::GetAfter { last_event_id },
                                None => Opening::Get,
                            };
                            spawn_mcp(&mut open, &mcp, stream, opening);
                        }
                        ClientAction::ReconnectStream {
                            stream,
                            last_event_id,
                        } => {
                            let running = open.get(&stream).is_some_and(|s| {
                                !s.task.is_finished()
                                    && s.reconnect
                                        .as_ref()
                                        .is_some_and(|r| r.send(last_event_id.clone()).is_ok())
                            });
                            if !running {
                                // The stream's life is over (given up, refused): it starts
                                // again from the chosen id.
                                close(&mut open, &stream, "reconnect-stream step").await;
                                let opening = Opening::GetAfter { last_event_id };
                                spawn_mcp(&mut open, &mcp, stream, opening);
                            }
                        }
                        ClientAction::CallTool {
                            stream,
                            duration,
                            progress_every,
                        } => {
                            close(&mut open, &stream, "reopened by the timeline").await;
                            let opening = mcp.call_tool(duration, progress_every);
                            spawn_mcp(&mut open, &mcp, stream, opening);
                        }
                        ClientAction::Ping => mcp.ping().await,
                        ClientAction::DeleteSession => mcp.delete_session().await,
                    }
                }
            };
            // A step still waiting at the scenario's end (an unanswered request) is dropped.
            tokio::select! {
                biased;
                () = timeline => {}
                () = sleep_until(env.scenario.duration) => {}
            }
            sleep_until(env.scenario.duration).await;
            for (_, s) in std::mem::take(&mut open) {
                let _ = s.close.send("scenario ended".into());
                let _ = s.task.await;
            }
            Ok(())
        })
    }
}

async fn run_stream(
    env: ClientEnv,
    stream: String,
    path: String,
    mut close: oneshot::Receiver<String>,
) {
    let rec = env.host.recorder.clone();
    let conn = env.host.conns.allocate();
    let record = |kind| rec.record("client", Some(conn), kind);
    let tcp = match net::connect("client", &env.first_hop, env.port).await {
        Ok(s) => s,
        Err(e) => {
            record(EventKind::ConnFailed {
                stream,
                error: crate::sim::net::describe_error(&e),
            });
            return;
        }
    };
    if let Ok(local) = tcp.local_addr() {
        env.host.conns.register(local, conn);
    }
    record(EventKind::ConnOpened {
        stream: stream.clone(),
        route: env.route.clone(),
    });
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await {
            Ok(x) => x,
            Err(e) => {
                record(EventKind::StreamEnded {
                    how: StreamEnd::Error(e.to_string()),
                });
                return;
            }
        };
    let driver = tokio::task::spawn_local(connection);
    let req = hyper::Request::get(path.as_str())
        .header("host", env.first_hop.as_str())
        .header("accept", "text/event-stream")
        .body(Empty::<Bytes>::new())
        .expect("static request is valid");
    record(EventKind::RequestSent {
        method: "GET".into(),
        path: path.clone(),
        last_event_id: None,
    });
    let resp = tokio::select! {
        biased; // fixed branch order: tokio picks a random one otherwise, and ties happen on virtual time
        r = sender.send_request(req) => r,
        why = &mut close => {
            record(EventKind::ConnClosed { by: Closer::Client, reason: why.unwrap_or_default() });
            driver.abort();
            return;
        }
    };
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            record(EventKind::StreamEnded {
                how: stream_end(&e),
            });
            driver.abort();
            return;
        }
    };
    record(EventKind::ResponseReceived {
        status: resp.status().as_u16(),
        content_type: resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    });
    let mut body = resp.into_body();
    let mut parser = Parser::new();
    loop {
        tokio::select! {
            biased; // fixed branch order: tokio picks a random one otherwise, and ties happen on virtual time
            f = body.frame() => match f {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        let frames = parser.feed(data);
                        record(EventKind::Received { bytes: data.len(), frames });
                    }
                }
                Some(Err(e)) => {
                    record(EventKind::StreamEnded { how: stream_end(&e) });
                    break;
                }
                None => {
                    record(EventKind::StreamEnded { how: StreamEnd::Complete });
                    break;
                }
            },
            why = &mut close => {
                record(EventKind::ConnClosed { by: Closer::Client, reason: why.unwrap_or_default() });
                break;
            }
        }
    }
    drop(body);
    drop(sender);
    driver.abort();
}
