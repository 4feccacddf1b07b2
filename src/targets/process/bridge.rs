//! The bridge: the simulated server host's side of an adapter process.
//!
//! ```text
//!   simulated network                      bridge (host "server")                 adapter process
//!  ─────────────────────                  ─────────────────────────              ────────────────
//!  accept ─────────────────────────────▶ loopback connect (one per connection) ─▶ implementation
//!  bytes from the client ──────────────▶ write to the loopback socket ─────────▶
//!                                        sync{to_ms: now, sent} ──── control ──▶ reads them, steps
//!                                        ◀── state{written, timers, fired} ────  timers to now,
//!  bytes to the client ◀── read exactly the new `written` bytes ◀───────────────  flushes
//!  virtual sleep until state.next_ms ──▶ sync again (a keepalive due)
//! ```
//!
//! The adapter is synced only when something is due: bytes arrived for it, or its next timer
//! deadline came, so the cost follows events, not virtual duration. Every exchange with the
//! process is blocking I/O on the simulation's own thread: virtual time cannot move while the
//! process works, and the order of everything recorded is the order of the simulation.
//!
//! What is recorded (host `server`): `RequestReceived` when a request head has passed,
//! `RpcReceived` when its JSON-RPC body has (with the request's session), `ResponseStarted`
//! (and `SessionCreated` for a session id a response names first), `FrameWritten` (a comment written while one of the connection's timers
//! fired carries that timer), `ResponseEnded` (the body's framing ended), `TimerArmed` /
//! `TimerCleared` for repeating timers the adapter attributes to a connection (one-shot
//! timers, like a session's idle timeout, are not stream timers), and `WriteFailed` when a
//! connection's timer fires after its socket closed (a leaked timer), and
//! `NotificationRefused` for a scheduled notification the implementation refused to send
//! (the run goes on; the report makes it the run's error). Kernel port numbers never reach
//! the trace: connections are kept in accept order.

use super::child::Child;
use super::protocol::{Command, ConnState, McpSetup, Notification, Options, Sent, State, Timer};
use super::wire::{Observed, RequestHead, RequestSeen, ResponseReader};
use crate::sim::net;
use crate::sim::now;
use crate::sim::ServerEnv;
use crate::sse::{Frame, Parser};
use crate::trace::{ConnId, EventKind};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Real time an adapter may take to start (load its runtime and the implementation).
const START_LIMIT: Duration = Duration::from_secs(60);
/// Real time an adapter may take to answer a sync.
const SYNC_LIMIT: Duration = Duration::from_secs(20);
/// Real time the harness waits for bytes the adapter said it had flushed.
const READ_LIMIT: Duration = Duration::from_secs(10);

/// How to start one implementation's adapter.
#[derive(Clone, Debug)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Working directory of the process.
    pub dir: PathBuf,
    /// `impl` and `version` of the start command.
    pub implementation: String,
    pub version: String,
    pub options: Options,
}

/// One simulated connection bridged to one loopback connection.
struct Link {
    sock: TcpStream,
    /// The loopback connection's local port: how the adapter names it.
    port: u16,
    peer: SocketAddr,
    conn: Option<ConnId>,
    out: net::WriteHalf,
    sent: u64,
    eof: bool,
    /// Bytes from the client not yet written to the adapter (written at the next sync).
    pending: Vec<u8>,
    /// The client's end, not yet passed on.
    pending_eof: bool,
    /// What the adapter was last told.
    synced: (u64, bool),
    /// Bytes read back so far.
    seen: u64,
    request: RequestHead,
    /// The request's `Mcp-Session-Id`.
    session: Option<String>,
    response: ResponseReader,
    frames: Parser,
    /// The adapter's socket closed (or its write side ended): nothing more comes back.
    finished: bool,
}

struct Bridge {
    env: ServerEnv,
    child: Child,
    links: Vec<Link>,
    by_port: BTreeMap<u16, usize>,
    /// Live timers by id, as last reported.
    timers: BTreeMap<u32, Timer>,
    next_ms: Option<u64>,
    /// The adapter's clock, as of its last reply.
    clock_ms: u64,
    /// Session ids seen in responses (a new one: `SessionCreated`).
    sessions: std::collections::BTreeSet<String>,
}

/// Runs the server host: starts the adapter, then bridges until the host is stopped (the
/// adapter is killed when this future is dropped).
pub async fn serve(env: ServerEnv, launch: std::rc::Rc<Launch>) -> turmoil::Result {
    let mut child = Child::spawn(&launch.program, &launch.args, &launch.dir)?;
    let scenario = env.scenario.clone();
    let start = Command::Start {
        v: super::protocol::VERSION,
        implementation: launch.implementation.clone(),
        version: launch.version.clone(),
        seed: env.host.seed,
        epoch_ms: crate::time::EPOCH_SECS * 1000 + now().as_millis() as u64,
        options: serde_json::to_value(&launch.options).expect("options serialise"),
        mcp: McpSetup {
            revision: scenario.revision().to_string(),
            retry_ms: scenario.server.retry.map(|d| d.as_millis() as u64),
            notifications: scenario
                .server
                .notifications
                .iter()
                .map(|n| Notification {
                    at_ms: n.at.as_millis() as u64,
                    method: n.method.clone(),
                    params: serde_json::json!({}),
                })
                .collect(),
        },
        client: None,
    };
    let state = child.request(&start, START_LIMIT)?;
    let port = state
        .port
        .ok_or_else(|| child.failure("answered start without a port"))?;
    let listener = net::bind("server", env.port).await?;
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Option<Vec<u8>>)>();
    let mut b = Bridge {
        env,
        child,
        links: Vec::new(),
        by_port: BTreeMap::new(),
        timers: BTreeMap::new(),
        next_ms: None,
        clock_ms: 0,
        sessions: std::collections::BTreeSet::new(),
    };
    b.apply(state).await?;
    loop {
        let wake = b
            .next_ms
            .map(|ms| Duration::from_millis(ms).saturating_sub(now()));
        tokio::select! {
            biased;
            m = rx.recv() => {
                let Some((i, data)) = m else { return Ok(()) };
                b.received(i, data);
                while let Ok((i, data)) = rx.try_recv() {
                    b.received(i, data);
                }
                b.sync().await?;
            }
            a = listener.accept() => {
                let (stream, peer) = a?;
                b.accept(stream, peer, port, &tx)?;
            }
            () = sleep_opt(wake) => b.sync().await?,
        }
    }
}

/// What a simulated connection's reading side delivers to a bridge's loop: bytes of link `i`,
/// or its end (`None`).
pub(super) type Reads = mpsc::UnboundedSender<(usize, Option<Vec<u8>>)>;

/// Reads a simulated connection's bytes into the bridge's loop as `(i, bytes)`, then its end.
pub(super) fn forward_reads(mut r: net::ReadHalf, i: usize, tx: Reads) {
    tokio::task::spawn_local(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = tx.send((i, None));
                    return;
                }
                Ok(n) => {
                    if tx.send((i, Some(buf[..n].to_vec()))).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

/// Sleeps `d`, or for ever when there is nothing to wait for.
pub(super) async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

impl Bridge {
    fn record(&self, i: usize, kind: EventKind) {
        let conn = self.conn_of(i);
        self.env.host.recorder.record("server", conn, kind);
    }

    fn conn_of(&self, i: usize) -> Option<ConnId> {
        let l = &self.links[i];
        l.conn.or_else(|| self.env.host.conns.lookup(l.peer))
    }

    fn accept(
        &mut self,
        stream: net::Stream,
        peer: SocketAddr,
        port: u16,
        tx: &Reads,
    ) -> Result<(), String> {
        let sock = TcpStream::connect(("127.0.0.1", port)).map_err(|e| {
            self.child
                .failure(&format!("refused a loopback connection: {e}"))
        })?;
        let _ = sock.set_nodelay(true);
        sock.set_read_timeout(Some(READ_LIMIT))
            .map_err(|e| e.to_string())?;
        let local = sock.local_addr().map_err(|e| e.to_string())?.port();
        let (r, out) = stream.into_split();
        let i = self.links.len();
        self.by_port.insert(local, i);
        let conn = self.env.host.conns.lookup(peer);
        self.links.push(Link {
            sock,
            port: local,
            peer,
            conn,
            out,
            sent: 0,
            eof: false,
            pending: Vec::new(),
            pending_eof: false,
            synced: (0, false),
            seen: 0,
            request: RequestHead::default(),
            session: None,
            response: ResponseReader::default(),
            frames: Parser::new(),
            finished: false,
        });
        forward_reads(r, i, tx.clone());
        Ok(())
    }

    /// Bytes (or the end) from the simulated client of link `i`, held for the next sync.
    fn received(&mut self, i: usize, data: Option<Vec<u8>>) {
        let link = &mut self.links[i];
        match data {
            Some(bytes) if !link.finished => link.pending.extend_from_slice(&bytes),
            Some(_) => {}
            None => link.pending_eof = true,
        }
    }

    /// Lets the adapter catch up with the simulation: its clock to now, then what was sent.
    async fn sync(&mut self) -> Result<(), String> {
        let to_ms = now().as_millis() as u64;
        let pending = self
            .links
            .iter()
            .any(|l| !l.pending.is_empty() || (l.pending_eof && !l.eof));
        // The adapter handles bytes at its clock's current time, and reads them as soon as
        // they reach its socket: bring its clock to now (firing what was due) before writing
        // them, so a request arriving now is handled at now.
        if pending && self.clock_ms < to_ms {
            let state = self.child.request(
                &Command::Sync {
                    to_ms,
                    sent: Vec::new(),
                },
                SYNC_LIMIT,
            )?;
            self.apply(state).await?;
        }
        for i in 0..self.links.len() {
            self.pass_on(i);
        }
        let mut sent = Vec::new();
        for l in &mut self.links {
            if (l.sent, l.eof) != l.synced && !l.finished {
                l.synced = (l.sent, l.eof);
                sent.push(Sent {
                    conn: l.port,
                    bytes: l.sent,
                    eof: l.eof,
                });
            }
        }
        let state = self
            .child
            .request(&Command::Sync { to_ms, sent }, SYNC_LIMIT)?;
        self.apply(state).await
    }

    /// Writes link `i`'s held bytes (and end) to the adapter's socket, recording the request.
    fn pass_on(&mut self, i: usize) {
        let link = &mut self.links[i];
        let bytes = std::mem::take(&mut link.pending);
        if !bytes.is_empty() && !link.finished {
            if link.sock.write_all(&bytes).is_err() {
                // The adapter closed this connection; the sync reports it.
                return;
            }
            link.sent += bytes.len() as u64;
            for seen in link.request.feed(&bytes) {
                match seen {
                    RequestSeen::Head {
                        method,
                        path,
                        session,
                        ..
                    } => {
                        self.links[i].session = session;
                        self.record(i, EventKind::RequestReceived { method, path });
                    }
                    RequestSeen::Body(body) => {
                        if let Some(kind) = rpc_received(&body, &self.links[i].session) {
                            self.record(i, kind);
                        }
                    }
                }
            }
        }
        let link = &mut self.links[i];
        if link.pending_eof && !link.eof {
            link.eof = true;
            let _ = link.sock.shutdown(Shutdown::Write);
        }
    }

    /// Records and forwards what a state reply says happened.
    async fn apply(&mut self, state: State) -> Result<(), String> {
        // Which of its timers fired on each connection (the last one), and timers of
        // connections whose socket had already closed.
        let mut fired_on: BTreeMap<u16, u32> = BTreeMap::new();
        let mut leaked: Vec<(usize, u32)> = Vec::new();
        for f in &state.fired {
            let conn = state
                .timers
                .iter()
                .chain(self.timers.values())
                .find(|t| t.id == f.id && t.repeat)
                .and_then(|t| t.conn);
            if let Some(port) = conn {
                fired_on.insert(port, f.id);
                if let Some(&i) = self.by_port.get(&port) {
                    if self.links[i].finished {
                        leaked.push((i, f.id));
                    }
                }
            }
        }
        let reported: BTreeMap<u16, ConnState> =
            state.conns.iter().map(|c| (c.conn, c.clone())).collect();
        for i in 0..self.links.len() {
            let port = self.links[i].port;
            let Some(cs) = reported.get(&port) else {
                continue;
            };
            self.forward(i, cs, fired_on.get(&port).copied()).await?;
        }
        // Timers: armed ones new since the last reply, cleared ones gone from it.
        // Only repeating timers count as stream timers: one-shot timers created while a
        // request was handled (session idle timeouts, a tool's sleep) are not keepalives.
        let live: BTreeMap<u32, Timer> = state
            .timers
            .iter()
            .filter(|t| t.repeat)
            .map(|t| (t.id, *t))
            .collect();
        for t in live.values() {
            if self.timers.contains_key(&t.id) {
                continue;
            }
            if let Some(&i) = t.conn.and_then(|p| self.by_port.get(&p)) {
                self.record(
                    i,
                    EventKind::TimerArmed {
                        timer: t.id,
                        every: Duration::from_millis(t.delay_ms),
                    },
                );
            }
        }
        for (i, id) in leaked {
            self.record(
                i,
                EventKind::WriteFailed {
                    timer: Some(id),
                    error: "the connection's timer fired after its socket closed".into(),
                },
            );
        }
        for t in self.timers.values() {
            if live.contains_key(&t.id) {
                continue;
            }
            if let Some(&i) = t.conn.and_then(|p| self.by_port.get(&p)) {
                self.record(i, EventKind::TimerCleared { timer: t.id });
            }
        }
        self.timers = live;
        // A scheduled notification the implementation would not send: on record (the
        // report makes it the run's error), and the run goes on.
        for r in state.refused {
            self.env.host.recorder.record(
                "server",
                None,
                EventKind::NotificationRefused {
                    method: r.method,
                    session: r.session,
                    reason: r.reason,
                },
            );
        }
        self.next_ms = state.next_ms;
        self.clock_ms = state.now_ms;
        Ok(())
    }

    /// Reads link `i`'s new bytes from the adapter, records them and sends them on, a piece
    /// at a time (memory stays bounded whatever the adapter says it wrote).
    async fn forward(
        &mut self,
        i: usize,
        cs: &ConnState,
        timer: Option<u32>,
    ) -> Result<(), String> {
        let mut left = cs.written.saturating_sub(self.links[i].seen);
        let mut complete = false;
        loop {
            let n = left.min(FORWARD_PIECE) as usize;
            let mut bytes = vec![0u8; n];
            if n > 0 {
                if let Err(e) = self.links[i].sock.read_exact(&mut bytes) {
                    return Err(self.child.failure(&format!(
                        "reported {} bytes written on a connection but only part arrived ({e})",
                        cs.written
                    )));
                }
                self.links[i].seen += n as u64;
                left -= n as u64;
            }
            let mut observed = self.links[i].response.feed(&bytes);
            if left == 0 && (cs.closed || cs.ended) {
                observed.extend(self.links[i].response.closed());
            }
            // One request per connection, as every server target here: a response whose
            // framing ended closes its connection (the relays see a response end only when
            // its connection closes; they do not parse chunked framing).
            complete |= observed.contains(&Observed::Ended);
            for o in observed {
                if let Observed::Garbled(why) = &o {
                    return Err(self.child.failure(&format!(
                        "wrote a response the harness cannot follow: {why}"
                    )));
                }
                let created = match &o {
                    Observed::Started { headers, .. } => headers
                        .iter()
                        .find(|(k, _)| k == "mcp-session-id")
                        .map(|(_, v)| v.clone())
                        .filter(|s| self.sessions.insert(s.clone())),
                    _ => None,
                };
                for kind in response_events(o, &mut self.links[i].frames, timer) {
                    self.record(i, kind);
                }
                if let Some(session) = created {
                    self.record(i, EventKind::SessionCreated { session });
                }
            }
            if !bytes.is_empty() {
                // The client may be gone already; the simulation records that on its side.
                let _ = self.links[i].out.write_all(&bytes).await;
            }
            // A run the recorder stopped (a flood past the byte budget) reads no further.
            if left == 0 || self.env.host.recorder.stall().is_some() {
                break;
            }
        }
        let link = &mut self.links[i];
        if (cs.closed || cs.ended || complete) && !link.finished {
            link.finished = true;
            let _ = link.out.shutdown().await;
            if complete {
                let _ = link.sock.shutdown(Shutdown::Both);
            }
        }
        Ok(())
    }
}

/// Bytes of an adapter's output read, recorded and forwarded at a time.
const FORWARD_PIECE: u64 = 64 * 1024;

/// The server-side events one observed piece of a response gives: `ResponseStarted`, a
/// `FrameWritten` per SSE frame (comments carry `timer`, the connection's timer that just
/// fired), `ResponseEnded`; nothing for bytes that are not HTTP.
pub(super) fn response_events(
    o: Observed,
    frames: &mut Parser,
    timer: Option<u32>,
) -> Vec<EventKind> {
    match o {
        Observed::Started {
            status,
            content_type,
            headers,
        } => vec![EventKind::ResponseStarted {
            status,
            content_type,
            headers,
        }],
        Observed::Body(body) => frames
            .feed(&body)
            .into_iter()
            .map(|frame| {
                let timer = match frame {
                    Frame::Comment { .. } => timer,
                    _ => None,
                };
                EventKind::FrameWritten { frame, timer }
            })
            .collect(),
        Observed::Ended => vec![EventKind::ResponseEnded],
        Observed::Garbled(_) => Vec::new(),
    }
}

/// `RpcReceived` for a JSON-RPC message (or the first of a batch) in a request body.
pub(super) fn rpc_received(body: &[u8], session: &Option<String>) -> Option<EventKind> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let msg = match &v {
        serde_json::Value::Array(a) => a.first()?,
        m => m,
    };
    Some(EventKind::RpcReceived {
        method: msg
            .get("method")
            .and_then(|m| m.as_str())
            .unwrap_or("(response)")
            .to_string(),
        id: msg.get("id").and_then(|i| i.as_u64()),
        session: session.clone(),
    })
}
