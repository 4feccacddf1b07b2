//! `exec:CMD`: any HTTP server, started by a shell command, as the server target on real time.
//!
//! ```text
//!  prepare (before the run's clock starts):
//!    sh -c CMD  (PORT=<free loopback port>, own process group, a watcher: child.rs)
//!    ──▶ waits until it listens on 127.0.0.1:$PORT (30 s), or fails with its output's tail
//!  serve (t = 0 is when it listens):
//!    simulated connection ──▶ a loopback connection to it; bytes copied both ways as they
//!                             come, read as HTTP/1.1 to record the server side of the trace
//!    the process exits during the run ──▶ ServerExited (code or signal, output tail), and the
//!                                          run's error names it
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
use crate::sim::{HostFuture, ServerEnv, ServerTarget};
use crate::sse::Parser;
use crate::trace::{EventKind, TargetClock};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the command may take to start listening: attempts × pause (real time).
const READY_ATTEMPTS: u32 = 600;
const READY_PAUSE: Duration = Duration::from_millis(50);

/// How often the run looks whether the process is still there (real time).
const EXIT_POLL: Duration = Duration::from_millis(50);

/// Lines of the process's output an exit event keeps (the run's error has them all).
const EXIT_TAIL_LINES: usize = 5;

/// A server target run by a shell command.
pub struct ExecTarget {
    cmd: String,
    /// The process, once [`ServerTarget::prepare`] started it and saw it listen.
    started: RefCell<Option<Started>>,
}

/// A started `exec:` server, listening.
struct Started {
    child: Child,
    port: u16,
}

/// Builds the target for `cmd`.
pub fn build(cmd: &str) -> Rc<dyn ServerTarget> {
    Rc::new(ExecTarget {
        cmd: cmd.to_string(),
        started: RefCell::new(None),
    })
}

impl ServerTarget for ExecTarget {
    fn serve(&self, env: ServerEnv) -> HostFuture {
        let started = self.started.borrow_mut().take();
        Box::pin(serve(env, self.cmd.clone(), started))
    }

    /// Starts the command and waits until it listens, so that the run's clock starts then.
    fn prepare(&self) -> Result<(), String> {
        *self.started.borrow_mut() = Some(start(&self.cmd)?);
        Ok(())
    }

    fn clock(&self) -> TargetClock {
        TargetClock::Real
    }
}

/// Starts `sh -c cmd` with `PORT` set and waits (real time, blocking) until it listens.
fn start(cmd: &str) -> Result<Started, String> {
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("cannot find a free loopback port: {e}"))?
        .port();
    let mut child = Child::spawn_exec(cmd, &[("PORT", port.to_string())])?;
    for _ in 0..READY_ATTEMPTS {
        if let Some(status) = child.exited() {
            return Err(child.failure(&format!(
                "exited ({status}) before listening on 127.0.0.1:$PORT ({port}); the \
                 command must serve HTTP on the port in the PORT environment variable"
            )));
        }
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        if std::net::TcpStream::connect_timeout(&addr, READY_PAUSE).is_ok() {
            return Ok(Started { child, port });
        }
        std::thread::sleep(READY_PAUSE);
    }
    Err(child.failure(&format!(
        "never listened on 127.0.0.1:$PORT ({port}) within {} s; the command must serve \
         HTTP on the port in the PORT environment variable",
        (READY_PAUSE * READY_ATTEMPTS).as_secs()
    )))
}

async fn serve(env: ServerEnv, cmd: String, started: Option<Started>) -> turmoil::Result {
    // Not prepared (a caller that skipped `prepare`): start now, on the run's clock.
    let Started { mut child, port } = match started {
        Some(s) => s,
        None => start(&cmd)?,
    };
    let listener = net::bind("server", env.port).await?;
    let mut poll = tokio::time::interval(EXIT_POLL);
    loop {
        tokio::select! {
            biased;
            a = listener.accept() => {
                let (stream, peer) = a?;
                tokio::task::spawn_local(pump(stream, peer, port, env.clone()));
            }
            _ = poll.tick() => {
                if let Some(status) = child.exited() {
                    return Err(exited(&env, &child, status).into());
                }
            }
        }
    }
    // `child` lives as long as this future: dropping the host kills the command.
}

/// Records that the server exited during the run; the error that names it.
fn exited(env: &ServerEnv, child: &Child, status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    // Give the output threads a moment to collect the last lines of the dead process.
    std::thread::sleep(Duration::from_millis(50));
    let tail = child.tail();
    let output_tail = tail[tail.len().saturating_sub(EXIT_TAIL_LINES)..].to_vec();
    env.host.recorder.record(
        "server",
        None,
        EventKind::ServerExited {
            code: status.code(),
            signal: status.signal(),
            output_tail,
        },
    );
    child.failure(&format!(
        "exited ({status}) at {}, before the run ended",
        crate::time::stamp(crate::sim::now())
    ))
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
