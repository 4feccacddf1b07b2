//! The client bridge: the simulated client host's side of a client adapter process.
//!
//! ```text
//!  adapter process (real client)          bridge (host "client")                simulated network
//!  ─────────────────────────────          ─────────────────────                ─────────────────
//!  the scenario's steps ◀── act{do} ───── at each [[client.step]] time
//!  connects to 127.0.0.1:L ──────────────▶ accept; net::connect(client, first hop) ──▶ … server
//!  request bytes (state.conns.written) ──▶ read exactly; Host rewritten ──────────────▶
//!                                          ◀──────────────────────── response bytes
//!  ◀── written to its socket after its clock is at now; sync{to_ms, sent}
//!  state.app (session, delivered, answered, reconnecting) ──▶ recorded as client events
//! ```
//!
//! As on the server side, every exchange with the process is blocking I/O on the simulation's
//! thread, the adapter is synced only when something is due (a step, bytes for it, its next
//! timer), and kernel port numbers never reach the trace: connections get their ids in the
//! order the bridge first sees them (ties in one reply broken by stream name, then port).
//!
//! Recorded (host `client`): `ConnOpened` / `ConnFailed`, `RequestSent` (with
//! `Last-Event-ID`), `RpcSent`, `ResponseReceived`, `Received` (decoded body bytes and their
//! SSE frames), `StreamEnded`, `ConnClosed{by: Client}` when the client closes a connection
//! before its response ended, and from the adapter's application view `SessionEstablished`,
//! `MessageDelivered`, `RpcAnswered`, `Reconnecting`, `GaveUp`.

use super::bridge::{forward_reads, sleep_opt, Launch, Reads};
use super::child::Child;
use super::protocol::{AppEvent, ClientSetup, Command, McpSetup, Reconnect, State};
use super::wire::{Observed, RequestHead, RequestSeen, ResponseReader};
use crate::scenario::ClientAction;
use crate::sim::ClientEnv;
use crate::sim::{net, now};
use crate::sse::Parser;
use crate::trace::{Closer, ConnId, EventKind, StreamEnd};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

const START_LIMIT: Duration = Duration::from_secs(60);
const SYNC_LIMIT: Duration = Duration::from_secs(20);
const READ_LIMIT: Duration = Duration::from_secs(10);

/// One client connection: the adapter's socket and its simulated twin.
struct Link {
    sock: TcpStream,
    /// The adapter's local port: how it names the connection.
    port: u16,
    conn: ConnId,
    stream: String,
    /// Towards the simulation (`None` when the connect failed).
    out: Option<net::WriteHalf>,
    /// Request bytes read from the adapter so far.
    seen: u64,
    /// The request head is held until complete (its `Host` is rewritten).
    head: Vec<u8>,
    head_done: bool,
    request: RequestHead,
    /// Response bytes from the simulation not yet written to the adapter, and its end.
    pending: Vec<u8>,
    pending_end: Option<StreamEnd>,
    /// Response bytes written to the adapter so far, and whether its end was passed on.
    sent: u64,
    eof: bool,
    synced: (u64, bool),
    response: ResponseReader,
    frames: Parser,
    /// The response ended (by its framing, or the connection).
    ended: bool,
    /// The adapter closed its socket.
    closed: bool,
}

struct ClientBridge {
    env: ClientEnv,
    child: Child,
    listener: TcpListener,
    links: Vec<Link>,
    by_port: BTreeMap<u16, usize>,
    /// Accepted sockets not yet reported by the adapter, by its local port.
    accepted: BTreeMap<u16, TcpStream>,
    next_ms: Option<u64>,
    clock_ms: u64,
    tx: Reads,
    /// The connection each JSON-RPC request id was sent on (its answer is recorded there).
    request_conns: BTreeMap<u64, ConnId>,
}

/// Runs the client host: starts the adapter, plays the scenario's steps through it, bridges
/// its connections into the simulation, and ends at the scenario's end.
pub async fn run(env: ClientEnv, launch: std::rc::Rc<Launch>) -> turmoil::Result {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    listener.set_nonblocking(true)?;
    let url = format!("http://127.0.0.1:{}/mcp", listener.local_addr()?.port());
    let mut child = Child::spawn(&launch.program, &launch.args, &launch.dir)?;
    let scenario = env.scenario.clone();
    let policy = &scenario.client.reconnect;
    let start = Command::Start {
        v: super::protocol::VERSION,
        implementation: launch.implementation.clone(),
        version: launch.version.clone(),
        seed: env.host.seed,
        epoch_ms: crate::time::EPOCH_SECS * 1000 + now().as_millis() as u64,
        // A client takes no implementation option; a version not pinned here is loaded
        // from its package folder.
        options: match &launch.options.package_dir {
            Some(d) => serde_json::json!({ "package_dir": d }),
            None => serde_json::json!({}),
        },
        mcp: McpSetup {
            revision: scenario.revision().to_string(),
            retry_ms: None,
            notifications: Vec::new(),
        },
        client: Some(ClientSetup {
            url,
            reconnect: Reconnect {
                enabled: policy.enabled,
                initial_ms: policy.initial.as_millis() as u64,
                max_ms: policy.max.as_millis() as u64,
                growth: 2.0,
                attempts: policy.attempts,
            },
        }),
    };
    let state = child.request(&start, START_LIMIT)?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut b = ClientBridge {
        env,
        child,
        listener,
        links: Vec::new(),
        by_port: BTreeMap::new(),
        accepted: BTreeMap::new(),
        next_ms: None,
        clock_ms: 0,
        tx,
        request_conns: BTreeMap::new(),
    };
    b.apply(state).await?;
    let steps = scenario.client.steps.clone();
    let mut next_step = 0;
    let end = scenario.duration;
    loop {
        let step_in = steps.get(next_step).map(|s| s.at.saturating_sub(now()));
        let timer_in = b
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
            () = sleep_opt(step_in) => {
                let action = action_json(&steps[next_step].action);
                next_step += 1;
                b.catch_up().await?;
                let step = action["do"].as_str().unwrap_or("?").to_string();
                match b.child.act(&Command::Act { action }, SYNC_LIMIT)? {
                    Ok(state) => b.apply(state).await?,
                    // The implementation cannot take this step (e.g. a second initialize on
                    // one SDK client): recorded, and the run goes on.
                    Err(reason) => b.env.host.recorder.record(
                        "client",
                        None,
                        EventKind::StepRefused { step, reason },
                    ),
                }
            }
            () = sleep_opt(timer_in) => b.sync().await?,
            () = tokio::time::sleep(end.saturating_sub(now())) => break,
        }
    }
    // The scenario ended: the client closes whatever is still open.
    for i in 0..b.links.len() {
        let l = &mut b.links[i];
        if !l.ended && !l.closed {
            l.closed = true;
            let conn = l.conn;
            if let Some(mut out) = l.out.take() {
                let _ = out.shutdown().await;
            }
            b.record(
                conn,
                EventKind::ConnClosed {
                    by: Closer::Client,
                    reason: "scenario ended".into(),
                },
            );
        }
    }
    let _ = b.child.request(&Command::Shutdown, SYNC_LIMIT);
    Ok(())
}

/// A timeline step as the protocol's `act` action.
fn action_json(a: &ClientAction) -> serde_json::Value {
    use serde_json::json;
    match a {
        ClientAction::Initialize => json!({"do": "initialize"}),
        ClientAction::OpenGetStream {
            stream,
            last_event_id,
        } => json!({"do": "open-get-stream", "stream": stream, "last_event_id": last_event_id}),
        ClientAction::CallTool {
            stream,
            duration,
            progress_every,
        } => json!({
            "do": "call-tool",
            "stream": stream,
            "duration_ms": duration.as_millis() as u64,
            "progress_every_ms": progress_every.map(|d| d.as_millis() as u64),
        }),
        ClientAction::CloseStream { stream } => json!({"do": "close-stream", "stream": stream}),
        // Never sent: the SDK client cannot honour this step, so it is refused before a run
        // (see `crate::targets::Unhonoured`).
        ClientAction::ReconnectStream {
            stream,
            last_event_id,
        } => json!({"do": "reconnect-stream", "stream": stream, "last_event_id": last_event_id}),
        ClientAction::Ping => json!({"do": "ping"}),
        ClientAction::DeleteSession => json!({"do": "delete-session"}),
        ClientAction::OpenStream { stream, path } => {
            json!({"do": "open-stream", "stream": stream, "path": path})
        }
    }
}

/// A request head with its `Host` header set to `host` (the adapter connected to loopback).
fn with_host(head: &[u8], host: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::with_capacity(head.len());
    for (n, line) in text.split_inclusive("\r\n").enumerate() {
        if n > 0 && line.len() > 5 && line[..5].eq_ignore_ascii_case("host:") {
            out.push_str(&format!("host: {host}\r\n"));
        } else {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

impl ClientBridge {
    fn record(&self, conn: ConnId, kind: EventKind) {
        self.env.host.recorder.record("client", Some(conn), kind);
    }

    /// The connection that carries `stream` now (the newest one).
    fn conn_of_stream(&self, stream: &str) -> Option<ConnId> {
        self.links
            .iter()
            .rev()
            .find(|l| l.stream == stream)
            .map(|l| l.conn)
    }

    /// Response bytes (or their end) from the simulation for link `i`, held for the next sync.
    fn received(&mut self, i: usize, data: Option<Vec<u8>>) {
        let l = &mut self.links[i];
        match data {
            Some(bytes) if !l.closed => l.pending.extend_from_slice(&bytes),
            Some(_) => {}
            None => {
                if l.pending_end.is_none() {
                    l.pending_end = Some(StreamEnd::Truncated);
                }
            }
        }
    }

    /// Brings the adapter's clock to now before anything reaches it.
    async fn catch_up(&mut self) -> Result<(), String> {
        let to_ms = now().as_millis() as u64;
        if self.clock_ms < to_ms {
            let state = self.child.request(
                &Command::Sync {
                    to_ms,
                    sent: Vec::new(),
                },
                SYNC_LIMIT,
            )?;
            self.apply(state).await?;
        }
        Ok(())
    }

    async fn sync(&mut self) -> Result<(), String> {
        let pending = self
            .links
            .iter()
            .any(|l| !l.pending.is_empty() || (l.pending_end.is_some() && !l.eof));
        if pending {
            self.catch_up().await?;
        }
        for i in 0..self.links.len() {
            self.pass_on(i);
        }
        let mut sent = Vec::new();
        for l in &mut self.links {
            if (l.sent, l.eof) != l.synced && !l.closed {
                l.synced = (l.sent, l.eof);
                sent.push(super::protocol::Sent {
                    conn: l.port,
                    bytes: l.sent,
                    eof: l.eof,
                });
            }
        }
        let to_ms = now().as_millis() as u64;
        let state = self
            .child
            .request(&Command::Sync { to_ms, sent }, SYNC_LIMIT)?;
        self.apply(state).await
    }

    /// Writes link `i`'s held response bytes to the adapter, recording what the client got.
    fn pass_on(&mut self, i: usize) {
        let bytes = std::mem::take(&mut self.links[i].pending);
        let conn = self.links[i].conn;
        if !bytes.is_empty() && !self.links[i].closed {
            let observed = self.links[i].response.feed(&bytes);
            self.observe(i, observed);
            let l = &mut self.links[i];
            if l.sock.write_all(&bytes).is_ok() {
                l.sent += bytes.len() as u64;
            }
        }
        let l = &mut self.links[i];
        if let Some(how) = l.pending_end.clone() {
            if !l.eof {
                l.eof = true;
                let _ = l.sock.shutdown(Shutdown::Write);
                let closed = l.response.closed();
                let ended = l.ended;
                if let Some(o) = closed {
                    self.observe(i, vec![o]);
                } else if !ended {
                    self.links[i].ended = true;
                    self.record(conn, EventKind::StreamEnded { how });
                }
            }
        }
    }

    fn observe(&mut self, i: usize, observed: Vec<Observed>) {
        let conn = self.links[i].conn;
        for o in observed {
            match o {
                Observed::Started {
                    status,
                    content_type,
                    ..
                } => self.record(
                    conn,
                    EventKind::ResponseReceived {
                        status,
                        content_type,
                    },
                ),
                Observed::Body(body) => {
                    let frames = self.links[i].frames.feed(&body);
                    self.record(
                        conn,
                        EventKind::Received {
                            bytes: body.len(),
                            frames,
                        },
                    );
                }
                Observed::Ended => {
                    self.links[i].ended = true;
                    self.record(
                        conn,
                        EventKind::StreamEnded {
                            how: StreamEnd::Complete,
                        },
                    );
                }
                Observed::Garbled(why) => {
                    self.links[i].ended = true;
                    self.record(
                        conn,
                        EventKind::StreamEnded {
                            how: StreamEnd::Error(why),
                        },
                    );
                }
            }
        }
    }

    /// Records and forwards what a state reply says happened.
    async fn apply(&mut self, state: State) -> Result<(), String> {
        // The connections the bridge knows: their request bytes first; then what reached the
        // application, at this instant (opening a new connection takes simulated time, and
        // an event names the stream's connection as it was: a `Reconnecting` the old one);
        // then the connections the adapter opened, accepted in a stable order.
        self.forward_all(&state).await?;
        for a in &state.app {
            self.app(a);
        }
        let mut new: Vec<&super::protocol::ConnState> = state
            .conns
            .iter()
            .filter(|c| !self.by_port.contains_key(&c.conn) && !c.closed)
            .collect();
        new.sort_by(|a, b| (a.stream.as_deref(), a.conn).cmp(&(b.stream.as_deref(), b.conn)));
        let opened: Vec<u16> = new.iter().map(|c| c.conn).collect();
        let mut refused = false;
        for c in new {
            refused |= !self
                .open(c.conn, c.stream.clone().unwrap_or_else(|| "?".into()))
                .await?;
        }
        for port in opened {
            if let Some(c) = state.conns.iter().find(|c| c.conn == port) {
                let i = self.by_port[&port];
                self.forward(i, c.written, c.closed || c.ended).await?;
            }
        }
        self.next_ms = state.next_ms;
        self.clock_ms = state.now_ms;
        if refused {
            // The adapter's socket was shut: sync it at once, so it sees its connect fail
            // now (its own timers may be minutes away).
            self.next_ms = Some(now().as_millis() as u64);
        }
        Ok(())
    }

    /// Forwards the request bytes of every connection the bridge already knows, in id order.
    async fn forward_all(&mut self, state: &State) -> Result<(), String> {
        let mut order: Vec<&super::protocol::ConnState> = state
            .conns
            .iter()
            .filter(|c| self.by_port.contains_key(&c.conn))
            .collect();
        order.sort_by_key(|c| self.by_port[&c.conn]);
        for c in order {
            let i = self.by_port[&c.conn];
            self.forward(i, c.written, c.closed || c.ended).await?;
        }
        Ok(())
    }

    /// A connection the adapter opened to the listener: accept it and connect its twin.
    /// Returns whether the connect succeeded (a refused one shuts the adapter's socket).
    async fn open(&mut self, port: u16, stream: String) -> Result<bool, String> {
        let sock = loop {
            if let Some(s) = self.accepted.remove(&port) {
                break s;
            }
            match self.listener.accept() {
                Ok((s, peer)) => {
                    self.accepted.insert(peer.port(), s);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Err(self.child.failure(&format!(
                        "reported connection {port} but it is not in the listener's queue"
                    )));
                }
                Err(e) => return Err(format!("accepting the adapter's connection: {e}")),
            }
        };
        sock.set_nonblocking(false).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(READ_LIMIT))
            .map_err(|e| e.to_string())?;
        let _ = sock.set_nodelay(true);
        let conn = self.env.host.conns.allocate();
        let i = self.links.len();
        self.by_port.insert(port, i);
        let out = match net::connect("client", &self.env.first_hop, self.env.port).await {
            Ok(tcp) => {
                if let Ok(local) = tcp.local_addr() {
                    self.env.host.conns.register(local, conn);
                }
                self.record(
                    conn,
                    EventKind::ConnOpened {
                        stream: stream.clone(),
                        route: self.env.route.clone(),
                    },
                );
                let (r, w) = tcp.into_split();
                forward_reads(r, i, self.tx.clone());
                Some(w)
            }
            Err(e) => {
                self.record(
                    conn,
                    EventKind::ConnFailed {
                        stream: stream.clone(),
                        error: net::describe_error(&e),
                    },
                );
                // The adapter sees its connection reset, as a refused connect would.
                let _ = sock.shutdown(Shutdown::Both);
                None
            }
        };
        let failed = out.is_none();
        self.links.push(Link {
            sock,
            port,
            conn,
            stream,
            out,
            seen: 0,
            head: Vec::new(),
            head_done: false,
            request: RequestHead::default(),
            pending: Vec::new(),
            pending_end: None,
            sent: 0,
            eof: failed,
            synced: (0, failed),
            response: ResponseReader::default(),
            frames: Parser::new(),
            ended: failed,
            closed: failed,
        });
        Ok(!failed)
    }

    /// Request bytes the adapter wrote on link `i`: read them, record, send them on.
    async fn forward(&mut self, i: usize, written: u64, done: bool) -> Result<(), String> {
        let new = written.saturating_sub(self.links[i].seen);
        let mut bytes = vec![0u8; new as usize];
        if new > 0 {
            if let Err(e) = self.links[i].sock.read_exact(&mut bytes) {
                return Err(self.child.failure(&format!(
                    "reported {written} bytes written on a connection but only part arrived ({e})"
                )));
            }
            self.links[i].seen = written;
        }
        let conn = self.links[i].conn;
        let host = self.env.first_hop.clone();
        let mut to_sim = Vec::new();
        for seen in self.links[i].request.feed(&bytes) {
            match seen {
                RequestSeen::Head {
                    method,
                    path,
                    last_event_id,
                    ..
                } => {
                    self.record(
                        conn,
                        EventKind::RequestSent {
                            method,
                            path,
                            last_event_id,
                        },
                    );
                }
                RequestSeen::Body(body) => {
                    if let Some((method, id)) = rpc_sent(&body) {
                        if let Some(id) = id {
                            self.request_conns.insert(id, conn);
                        }
                        self.record(conn, EventKind::RpcSent { method, id });
                    }
                }
            }
        }
        let l = &mut self.links[i];
        if l.head_done {
            to_sim.extend_from_slice(&bytes);
        } else {
            l.head.extend_from_slice(&bytes);
            if let Some(end) = find(&l.head, b"\r\n\r\n") {
                l.head_done = true;
                let head = std::mem::take(&mut l.head);
                to_sim.extend(with_host(&head[..end + 4], &host));
                to_sim.extend_from_slice(&head[end + 4..]);
            }
        }
        if let Some(out) = l.out.as_mut() {
            if !to_sim.is_empty() {
                let _ = out.write_all(&to_sim).await;
            }
        }
        if done && !l.closed {
            l.closed = true;
            let early = !l.ended;
            if let Some(mut out) = l.out.take() {
                let _ = out.shutdown().await;
            }
            if early {
                self.record(
                    conn,
                    EventKind::ConnClosed {
                        by: Closer::Client,
                        reason: "the client closed it".into(),
                    },
                );
            }
        }
        Ok(())
    }

    /// Records what reached the client's application.
    fn app(&mut self, a: &AppEvent) {
        let on = |stream: Option<&str>| stream.and_then(|s| self.conn_of_stream(s));
        let (conn, kind) = match a.clone() {
            AppEvent::Session { session } => (
                on(Some("initialize")),
                EventKind::SessionEstablished { session },
            ),
            AppEvent::Delivered {
                stream,
                event_id,
                message,
            } => (
                on(stream.as_deref()),
                EventKind::MessageDelivered { event_id, message },
            ),
            AppEvent::Answered { id, outcome } => (
                self.request_conns.get(&id).copied(),
                EventKind::RpcAnswered { id, outcome },
            ),
            AppEvent::Reconnecting {
                stream,
                attempt,
                after_ms,
                last_event_id,
            } => (
                on(Some(&stream)),
                EventKind::Reconnecting {
                    stream,
                    attempt,
                    after: Duration::from_millis(after_ms),
                    last_event_id,
                },
            ),
            AppEvent::GaveUp { stream, attempts } => {
                (on(Some(&stream)), EventKind::GaveUp { stream, attempts })
            }
            AppEvent::Error { .. } | AppEvent::Other => return,
        };
        self.env.host.recorder.record("client", conn, kind);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The JSON-RPC method and id of a request body (the first of a batch).
fn rpc_sent(body: &[u8]) -> Option<(String, Option<u64>)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let m = match &v {
        serde_json::Value::Array(a) => a.first()?,
        m => m,
    };
    Some((
        m.get("method")?.as_str()?.to_string(),
        m.get("id").and_then(|i| i.as_u64()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_header_is_rewritten_and_nothing_else() {
        let head = b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:40123\r\ncontent-length: 2\r\nX-Host: keep\r\n\r\n";
        let out = with_host(head, "nginx");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /mcp HTTP/1.1\r\nhost: nginx\r\ncontent-length: 2\r\nX-Host: keep\r\n\r\n"
        );
    }

    #[test]
    fn request_bodies_name_their_method_and_id() {
        assert_eq!(
            rpc_sent(br#"{"jsonrpc":"2.0","id":2,"method":"tools/call"}"#),
            Some(("tools/call".into(), Some(2)))
        );
        assert_eq!(
            rpc_sent(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Some(("notifications/initialized".into(), None))
        );
        assert_eq!(rpc_sent(b"not json"), None);
    }
}
