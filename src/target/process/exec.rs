//! `exec:CMD`: any HTTP server, started by a shell command, as the server target on real time.
//!
//! ```text
//!  sh -c CMD  (PORT=<free loopback port>)  ──▶ the server listens on 127.0.0.1:$PORT
//!  simulated connection ──▶ a loopback connection to it; bytes copied both ways as they come,
//!                           read as HTTP/1.1 to record the server side of the trace
//! ```
//!
//! There is no clock shim: the process runs on the wall clock, so the run does too (the
//! event engine paced to real time, [`crate::sim::runner::Engine::Realtime`]). A scenario takes
//! its `duration` in real seconds: write short ones (intermediary limits in seconds, not
//! minutes) for such targets. Traces keep their structure from run to run; their timestamps
//! are real.

use super::child::Child;
use super::wire::{Observed, RequestHead, RequestSeen, ResponseReader};
use crate::sim::net;
use crate::sse::Parser;
use crate::target::{HostFuture, ServerEnv, ServerTarget};
use crate::trace::EventKind;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the command may take to start listening: attempts × pause (real time).
const READY_ATTEMPTS: u32 = 600;
const READY_PAUSE: Duration = Duration::from_millis(50);

/// A server target run by a shell command.
pub struct ExecTarget {
    cmd: String,
}

/// Builds the target for `cmd`.
pub fn build(cmd: &str) -> Rc<dyn ServerTarget> {
    Rc::new(ExecTarget {
        cmd: cmd.to_string(),
    })
}

impl ServerTarget for ExecTarget {
    fn serve(&self, env: ServerEnv) -> HostFuture {
        Box::pin(serve(env, self.cmd.clone()))
    }
}

async fn serve(env: ServerEnv, cmd: String) -> turmoil::Result {
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port();
    let mut child = Child::spawn_with_env(
        Path::new("sh"),
        &["-c".to_string(), cmd.clone()],
        Path::new("."),
        &[("PORT", port.to_string())],
    )?;
    let mut ready = false;
    for _ in 0..READY_ATTEMPTS {
        if let Some(status) = child.exited() {
            return Err(child
                .failure(&format!(
                    "exited ({status}) before listening on 127.0.0.1:$PORT ({port}); the \
                     command must serve HTTP on the port in the PORT environment variable"
                ))
                .into());
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(READY_PAUSE).await;
    }
    if !ready {
        return Err(child
            .failure(&format!(
                "never listened on 127.0.0.1:$PORT ({port}) within {} s; the command must \
                 serve HTTP on the port in the PORT environment variable",
                (READY_PAUSE * READY_ATTEMPTS).as_secs()
            ))
            .into());
    }
    let listener = net::bind("server", env.port).await?;
    loop {
        let (stream, peer) = listener.accept().await?;
        tokio::task::spawn_local(pump(stream, peer, port, env.clone()));
    }
    // `child` lives as long as this future: dropping the host kills the command.
}

/// Copies one connection both ways, recording the server side.
async fn pump(stream: net::Stream, peer: std::net::SocketAddr, port: u16, env: ServerEnv) {
    let Ok(real) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return; // the simulated connection closes: the client sees the server gone
    };
    let _ = real.set_nodelay(true);
    let (mut sim_r, mut sim_w) = stream.into_split();
    let (mut real_r, mut real_w) = real.into_split();
    let rec = env.host.recorder.clone();
    let conns = env.host.conns.clone();
    let record = move |kind: EventKind| rec.record("server", conns.lookup(peer), kind);
    let up = {
        let record = record.clone();
        async move {
            let mut head = RequestHead::default();
            let mut session = None;
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = match sim_r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                for seen in head.feed(&buf[..n]) {
                    match seen {
                        RequestSeen::Head {
                            method,
                            path,
                            session: s,
                            ..
                        } => {
                            session = s;
                            record(EventKind::RequestReceived { method, path });
                        }
                        RequestSeen::Body(body) => {
                            if let Some(k) = super::bridge::rpc_received(&body, &session) {
                                record(k);
                            }
                        }
                    }
                }
                if real_w.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = real_w.shutdown().await;
        }
    };
    let down = async move {
        let mut response = ResponseReader::default();
        let mut frames = Parser::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match real_r.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    if let Some(o) = response.closed() {
                        observe(&record, &mut frames, vec![o]);
                    }
                    break;
                }
                Ok(n) => n,
            };
            let observed = response.feed(&buf[..n]);
            let complete = observed.contains(&Observed::Ended);
            observe(&record, &mut frames, observed);
            if sim_w.write_all(&buf[..n]).await.is_err() {
                break;
            }
            // One request per connection, as every server target here (the relays see a
            // response end when its connection closes).
            if complete {
                break;
            }
        }
        let _ = sim_w.shutdown().await;
    };
    tokio::join!(up, down);
}

fn observe(record: &impl Fn(EventKind), frames: &mut Parser, observed: Vec<Observed>) {
    for o in observed {
        for kind in super::bridge::response_events(o, frames, None) {
            record(kind);
        }
    }
}
