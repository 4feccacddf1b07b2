//! `middlebox proxy`: an intermediary's behaviors on real sockets and real time.
//!
//! ```text
//!  client ──TCP──▶ listener (--listen) ──▶ per connection: connect to --upstream
//!                     │
//!                     ▼
//!          Relay (src/sim/relay.rs, the simulation's own core) with the preset's behaviors
//!            bytes in + time since the proxy started ──▶ Actions:
//!              Send { at }   ──▶ queued per side, written when `at` comes (latency, flushes)
//!              Close / CloseUpstream / Blackhole ──▶ carried out on the sockets
//!              Record(kind)  ──▶ Recorder: one line on stdout now, the trace at exit
//!            deadline()      ──▶ a tokio sleep, then on_deadline (idle timeouts, max duration)
//! ```
//!
//! The tour: [`overrides`] turns `--preset` and the override options into an
//! [`IntermediaryConfig`] through the scenario loader; [`Proxy::bind`] listens; [`Proxy::run`]
//! serves on a current-thread runtime until `--for` elapses or SIGINT/SIGTERM arrives, and
//! returns the [`Trace`], in the format `middlebox run --out` writes.
//!
//! This is the one place in the crate that runs on the wall clock by design: the time it
//! feeds the relay is real time since the proxy started, not a simulation's virtual time.

pub mod overrides;

use crate::intermediary::{IntermediaryConfig, Side};
use crate::sim::relay::{error_response, Action, Relay};
use crate::trace::{ConnId, Event, EventKind, Trace};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// A live proxy, bound and ready to serve.
pub struct Proxy {
    cfg: IntermediaryConfig,
    upstream: String,
    listener: std::net::TcpListener,
}

/// Where events go: kept for the trace, and printed as they happen.
struct Recorder {
    start: Instant,
    events: Vec<Event>,
    out: Box<dyn Write>,
}

impl Recorder {
    /// Time since the proxy started.
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn record(&mut self, host: &str, conn: Option<ConnId>, kind: EventKind) {
        let event = Event {
            at: self.now(),
            host: host.to_string(),
            conn,
            kind,
        };
        // Every event goes to the trace; the live output keeps to decisions and connection
        // ends (a line per forwarded chunk would bury them).
        if !matches!(
            event.kind,
            EventKind::Forwarded { .. } | EventKind::Buffered { .. }
        ) {
            let conn = conn.map(|c| format!("{c} ")).unwrap_or_default();
            let line = format!(
                "{}  {}  {conn}{}\n",
                crate::time::stamp(event.at),
                event.host,
                crate::trace::describe(&event)
            );
            let _ = self
                .out
                .write_all(line.as_bytes())
                .and_then(|()| self.out.flush());
        }
        self.events.push(event);
    }
}

type Shared = Rc<RefCell<Recorder>>;

impl Proxy {
    /// Binds `listen` (port 0: any free port; see [`Proxy::local_addr`]).
    pub fn bind(cfg: IntermediaryConfig, listen: &str, upstream: &str) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            cfg,
            upstream: upstream.to_string(),
            listener,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `run_for` elapses (if given) or SIGINT/SIGTERM arrives, printing to `out`
    /// first `listening on ADDR → upstream ADDR` (once the signals are handled), then each
    /// decision as it happens, and returns the trace of the whole run.
    pub fn run(self, run_for: Option<Duration>, out: Box<dyn Write>) -> std::io::Result<Trace> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, self.serve(run_for, out))
    }

    async fn serve(
        self,
        run_for: Option<Duration>,
        mut out: Box<dyn Write>,
    ) -> std::io::Result<Trace> {
        // Signal streams made first, and once: a signal after the first line of output (which
        // a script may wait for) or between two turns of the loop is not lost.
        use tokio::signal::unix::{signal, SignalKind};
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        writeln!(
            out,
            "listening on {} → upstream {}",
            self.listener.local_addr()?,
            self.upstream
        )?;
        out.flush()?;
        // The live proxy runs on the wall clock by design (see the module docs); this instant
        // is its time zero, and no simulation trace is made from it.
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        let rec: Shared = Rc::new(RefCell::new(Recorder {
            start,
            events: Vec::new(),
            out,
        }));
        let host = self.cfg.name.clone();
        let probe: Vec<_> = self.cfg.behaviors.iter().map(|b| b.build(0)).collect();
        rec.borrow_mut().record(
            &host,
            None,
            EventKind::IntermediaryStarted {
                preset: self.cfg.preset.clone(),
                behaviors: probe.iter().map(|b| b.summary()).collect(),
                limits: probe.iter().filter_map(|b| b.limit()).collect(),
            },
        );
        let listener = TcpListener::from_std(self.listener)?;
        let stop = async {
            match run_for {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(stop);
        let mut accepted: u32 = 0;
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => break,
                _ = sigint.recv() => break,
                _ = sigterm.recv() => break,
                r = listener.accept() => {
                    let (down, peer) = match r {
                        Ok(x) => x,
                        Err(_) => continue, // e.g. the client reset before accept
                    };
                    accepted += 1;
                    let conn = ConnId(accepted);
                    tokio::task::spawn_local(relay_conn(
                        down,
                        peer,
                        conn,
                        self.cfg.clone(),
                        self.upstream.clone(),
                        rec.clone(),
                    ));
                }
            }
        }
        let events = std::mem::take(&mut rec.borrow_mut().events);
        Ok(Trace { events })
    }
}

/// Bytes waiting for their instant, per side, and how the connection is ending.
struct Pipe {
    queue: [VecDeque<(Duration, Vec<u8>)>; 2],
    /// `Some(graceful)` once the relay closed the connection.
    closing: Option<bool>,
    rst: bool,
    close_upstream: bool,
}

/// Closes a socket with a reset. The halves are joined first: dropping a write half on its
/// own shuts it down with a FIN, which the peer would read before the reset.
fn reset(r: OwnedReadHalf, w: OwnedWriteHalf) {
    if let Ok(s) = r.reunite(w) {
        // A zero linger turns the close into a reset. (tokio deprecates `set_linger` because a
        // non-zero linger blocks the close; a zero one does not.)
        #[allow(deprecated)]
        let _ = s.set_linger(Some(Duration::ZERO));
    }
}

fn idx(side: Side) -> usize {
    (side == Side::Downstream) as usize
}

async fn relay_conn(
    down: TcpStream,
    peer: SocketAddr,
    conn: ConnId,
    cfg: IntermediaryConfig,
    upstream: String,
    rec: Shared,
) {
    let host = cfg.name.clone();
    let record = |kind: EventKind| rec.borrow_mut().record(&host, Some(conn), kind);
    let now = || rec.borrow().now();
    let _ = down.set_nodelay(true);
    let (mut dr, mut dw) = down.into_split();
    record(EventKind::ConnOpened {
        stream: peer.to_string(),
        route: vec![host.clone(), upstream.clone()],
    });
    let up = match TcpStream::connect(&upstream).await {
        Ok(s) => s,
        Err(e) => {
            record(EventKind::IntermediaryResponded {
                status: 502,
                behavior: "upstream-connect".into(),
                reason: format!("could not connect to {upstream}: {e}"),
            });
            let _ = dw.write_all(&error_response(502)).await;
            return;
        }
    };
    let _ = up.set_nodelay(true);
    let (mut ur, mut uw) = up.into_split();
    let seed = u64::from(conn.0);
    let mut relay = Relay::new(cfg.behaviors.iter().map(|b| b.build(seed)).collect());
    let mut pipe = Pipe {
        queue: [VecDeque::new(), VecDeque::new()],
        closing: None,
        rst: false,
        close_upstream: false,
    };
    let apply = |actions: Vec<Action>, pipe: &mut Pipe| {
        for a in actions {
            match a {
                Action::Record(kind) => record(kind),
                Action::Send { to, bytes, at } => pipe.queue[idx(to)].push_back((at, bytes)),
                Action::Close { rst, graceful } => {
                    if !graceful {
                        pipe.queue[0].clear();
                        pipe.queue[1].clear();
                    }
                    pipe.closing = Some(graceful);
                    pipe.rst = rst;
                }
                Action::CloseUpstream => pipe.close_upstream = true,
                Action::Blackhole => {
                    pipe.queue[0].clear();
                    pipe.queue[1].clear();
                }
            }
        }
    };
    apply(relay.opened(now()), &mut pipe);
    let mut dbuf = vec![0u8; 16 * 1024];
    let mut ubuf = vec![0u8; 16 * 1024];
    let (mut down_open, mut up_open) = (true, true);
    loop {
        // Write everything that is due, in order, per side.
        let t = now();
        for side in [Side::Upstream, Side::Downstream] {
            while pipe.queue[idx(side)]
                .front()
                .is_some_and(|(at, _)| *at <= t)
            {
                let (_, bytes) = pipe.queue[idx(side)].pop_front().expect("front");
                let w = match side {
                    Side::Upstream => uw.write_all(&bytes).await,
                    Side::Downstream => dw.write_all(&bytes).await,
                };
                if w.is_err() {
                    pipe.queue[idx(side)].clear();
                }
            }
        }
        if pipe.close_upstream {
            return; // dropping both halves of both sockets sends FIN
        }
        if pipe.closing.is_some() && pipe.queue.iter().all(|q| q.is_empty()) {
            if pipe.rst {
                reset(dr, dw);
                reset(ur, uw);
            }
            return;
        }
        if !down_open && !up_open {
            return;
        }
        let wake = [
            relay.deadline(),
            pipe.queue[0].front().map(|(at, _)| *at),
            pipe.queue[1].front().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min();
        let sleep = async {
            match wake {
                Some(w) => tokio::time::sleep(w.saturating_sub(now())).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased; // a fixed branch order, as everywhere in the crate (tests/determinism.rs)
            r = dr.read(&mut dbuf), if down_open => match r {
                Ok(0) | Err(_) => {
                    down_open = false;
                    apply(relay.downstream_eof(now(), r.is_err()), &mut pipe);
                }
                Ok(n) => apply(relay.on_downstream(now(), &dbuf[..n]), &mut pipe),
            },
            r = ur.read(&mut ubuf), if up_open => match r {
                Ok(0) | Err(_) => {
                    up_open = false;
                    apply(relay.upstream_eof(now(), r.is_err()), &mut pipe);
                }
                Ok(n) => apply(relay.on_upstream(now(), &ubuf[..n]), &mut pipe),
            },
            _ = sleep => {
                let t = now();
                if relay.deadline().is_some_and(|d| d <= t) {
                    apply(relay.on_deadline(t), &mut pipe);
                }
            }
        }
    }
}
