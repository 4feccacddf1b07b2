//! The event engine's network: in-memory TCP-like connections between named hosts, all
//! running as tasks of one tokio runtime whose paused clock jumps from event to event.
//!
//! ```text
//!   connect(from, to, port) ──one hop──▶ Listener queue of `to:port`
//!        (connected when the SYN arrives, as on turmoil; no listener: refused then)
//!   WriteHalf ── bytes stamped now + hop ──▶ Chan ──▶ ReadHalf (wakes at the stamp)
//!   drop / shutdown ── FIN stamped like data ──▶ EOF after the last byte
//!   write to a dead peer ── accepted; the peer's RST comes back one RTT later;
//!                           writes after that fail with BrokenPipe (as turmoil does)
//!   WINDOW bytes in flight or unread ── the writer waits until the reader reads (as TCP's
//!                           window holds a sender back), so a flood cannot fill memory
//! ```
//!
//! Every segment takes exactly one `hop` (one simulation tick by default) on a link, so a
//! connection costs work only when bytes move or timers fire: idle spans are skipped by the
//! paused clock instead of being stepped through. Written by hand because no crate offers an
//! in-memory, virtual-time, latency-stamped duplex with TCP's close and reset semantics
//! (`tokio::io::duplex` has neither latency nor FIN/RST).

use bytes::Bytes;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

/// Bytes one direction of a connection holds (in flight or unread) before a writer waits, as
/// a TCP window holds a sender back. No scenario of the suite comes near it; a target writing
/// faster than its reader reads is held back instead of filling memory.
pub const WINDOW: usize = 1 << 20;

/// Where a listener's accepted connections are queued.
type Backlog = mpsc::UnboundedSender<(Stream, SocketAddr)>;

/// The hosts and listeners of one event-engine run.
pub struct World {
    start: Instant,
    hop: Duration,
    hosts: RefCell<BTreeMap<String, IpAddr>>,
    listeners: RefCell<BTreeMap<(String, u16), Backlog>>,
    next_port: Cell<u16>,
}

impl World {
    /// A world where every segment takes `hop` to cross a link.
    /// Call it inside the run's runtime: its clock starts now.
    pub fn new(hop: Duration) -> Rc<Self> {
        Rc::new(Self {
            start: Instant::now(),
            hop,
            hosts: RefCell::default(),
            listeners: RefCell::default(),
            next_port: Cell::new(49152),
        })
    }

    /// Virtual time since the world was made.
    pub fn elapsed(&self) -> Duration {
        Instant::now() - self.start
    }

    /// The address of `host`, allocated in order of first use (deterministic).
    fn ip(&self, host: &str) -> IpAddr {
        let mut hosts = self.hosts.borrow_mut();
        let n = hosts.len() as u8;
        *hosts
            .entry(host.to_string())
            .or_insert(IpAddr::V4(Ipv4Addr::new(192, 168, 0, n + 1)))
    }

    /// Listens on `host:port`.
    pub fn bind(self: &Rc<Self>, host: &str, port: u16) -> io::Result<Listener> {
        let key = (host.to_string(), port);
        let mut l = self.listeners.borrow_mut();
        if l.get(&key).is_some_and(|tx| !tx.is_closed()) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{host}:{port} is already bound"),
            ));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        l.insert(key, tx);
        Ok(Listener {
            rx: tokio::sync::Mutex::new(rx),
        })
    }

    /// Connects from `from` to `to:port`: one round trip, refused if nothing listens.
    pub async fn connect(self: &Rc<Self>, from: &str, to: &str, port: u16) -> io::Result<Stream> {
        let local = SocketAddr::new(self.ip(from), {
            let p = self.next_port.get();
            self.next_port.set(p.wrapping_add(1).max(49152));
            p
        });
        let remote = SocketAddr::new(self.ip(to), port);
        tokio::time::sleep(self.hop).await; // SYN
        let tx = self
            .listeners
            .borrow()
            .get(&(to.to_string(), port))
            .filter(|tx| !tx.is_closed())
            .cloned();
        let Some(tx) = tx else {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "Connection refused",
            ));
        };
        let (a, b) = pair(self.hop, local, remote);
        if tx.send((b, local)).is_err() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "Connection refused",
            ));
        }
        Ok(a)
    }
}

/// Accepts connections on one `host:port`.
pub struct Listener {
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<(Stream, SocketAddr)>>,
}

impl Listener {
    /// The next connection and its peer's address.
    pub async fn accept(&self) -> io::Result<(Stream, SocketAddr)> {
        self.rx
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "listener closed"))
    }
}

/// One direction of a connection.
#[derive(Default)]
struct Chan {
    /// Bytes in flight or waiting to be read, with the instant they arrive.
    queue: VecDeque<(Instant, Bytes)>,
    /// How many bytes `queue` holds.
    queued: usize,
    /// A writer waiting for room (see [`WINDOW`]).
    writer: Option<Waker>,
    /// The writer's FIN arrives at this instant.
    fin_at: Option<Instant>,
    /// The reader's socket is gone (both halves dropped): data arriving is answered by RST.
    reader_gone: bool,
    /// The writer learns of the RST at this instant; writes after it fail.
    reset_at: Option<Instant>,
    waker: Option<Waker>,
}

impl Chan {
    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Room opened (read, or the reader is gone): a waiting writer may go on.
    fn wake_writer(&mut self) {
        if self.queued < WINDOW {
            if let Some(w) = self.writer.take() {
                w.wake();
            }
        }
    }

    /// When the next thing written can arrive: one hop from now, never before what is
    /// already in flight (links keep order).
    fn arrival(&self, hop: Duration) -> Instant {
        let at = Instant::now() + hop;
        self.queue.back().map_or(at, |(last, _)| at.max(*last))
    }
}

/// An endpoint's share of the socket: when both halves are dropped the socket is gone.
struct Endpoint {
    /// What this endpoint reads.
    rx: Rc<RefCell<Chan>>,
    /// What this endpoint writes.
    tx: Rc<RefCell<Chan>>,
    halves: Cell<u8>,
    hop: Duration,
    local: SocketAddr,
}

impl Endpoint {
    fn half_dropped(&self) {
        let n = self.halves.get() - 1;
        self.halves.set(n);
        if n == 0 {
            let mut rx = self.rx.borrow_mut();
            rx.reader_gone = true;
            rx.queue.clear();
            rx.queued = 0;
            rx.wake_writer();
        }
    }
}

fn pair(hop: Duration, a_addr: SocketAddr, b_addr: SocketAddr) -> (Stream, Stream) {
    let ab = Rc::new(RefCell::new(Chan::default()));
    let ba = Rc::new(RefCell::new(Chan::default()));
    let a = Rc::new(Endpoint {
        rx: ba.clone(),
        tx: ab.clone(),
        halves: Cell::new(2),
        hop,
        local: a_addr,
    });
    let b = Rc::new(Endpoint {
        rx: ab,
        tx: ba,
        halves: Cell::new(2),
        hop,
        local: b_addr,
    });
    (Stream::new(a), Stream::new(b))
}

/// A connected socket of the event engine.
pub struct Stream {
    read: ReadHalf,
    write: WriteHalf,
}

impl Stream {
    fn new(ep: Rc<Endpoint>) -> Self {
        Self {
            read: ReadHalf {
                ep: ep.clone(),
                sleep: None,
            },
            write: WriteHalf { ep, shut: false },
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.read.ep.local)
    }

    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        (self.read, self.write)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.write).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_shutdown(cx)
    }
}

/// The reading half of a [`Stream`].
pub struct ReadHalf {
    ep: Rc<Endpoint>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl ReadHalf {
    /// Waits until `at`, registering a timer; Ready when it has passed.
    fn wait_until(&mut self, cx: &mut Context<'_>, at: Instant) -> Poll<()> {
        match &mut self.sleep {
            Some(s) if s.deadline() == at => {}
            _ => self.sleep = Some(Box::pin(tokio::time::sleep_until(at))),
        }
        let s = self.sleep.as_mut().expect("set above");
        match s.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.sleep = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

use std::future::Future;

impl AsyncRead for ReadHalf {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let now = Instant::now();
            let due = {
                let rx = self.ep.rx.borrow();
                match rx.queue.front() {
                    Some((at, _)) => Some(*at),
                    None => rx.fin_at,
                }
            };
            match due {
                Some(at) if at <= now => {
                    let mut rx = self.ep.rx.borrow_mut();
                    if let Some((_, bytes)) = rx.queue.front_mut() {
                        let n = bytes.len().min(buf.remaining());
                        buf.put_slice(&bytes.split_to(n));
                        if bytes.is_empty() {
                            rx.queue.pop_front();
                        }
                        rx.queued -= n;
                        rx.wake_writer();
                    }
                    // Else: FIN has arrived; reading nothing is end of stream.
                    return Poll::Ready(Ok(()));
                }
                Some(at) => {
                    self.ep.rx.borrow_mut().waker = Some(cx.waker().clone());
                    match self.wait_until(cx, at) {
                        Poll::Ready(()) => continue,
                        Poll::Pending => return Poll::Pending,
                    }
                }
                None => {
                    self.sleep = None;
                    self.ep.rx.borrow_mut().waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for ReadHalf {
    fn drop(&mut self) {
        self.ep.half_dropped();
    }
}

/// The writing half of a [`Stream`].
pub struct WriteHalf {
    ep: Rc<Endpoint>,
    shut: bool,
}

impl WriteHalf {
    fn fin(&mut self) {
        if !self.shut {
            self.shut = true;
            let mut tx = self.ep.tx.borrow_mut();
            let at = tx.arrival(self.ep.hop);
            tx.fin_at = Some(at);
            tx.wake();
        }
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.shut {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let hop = self.ep.hop;
        let mut tx = self.ep.tx.borrow_mut();
        let now = Instant::now();
        if tx.reset_at.is_some_and(|at| at <= now) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "Broken pipe",
            )));
        }
        if tx.reader_gone {
            // The segment reaches a socket that is gone; its RST comes back one RTT later.
            if tx.reset_at.is_none() {
                tx.reset_at = Some(now + hop * 2);
            }
            return Poll::Ready(Ok(buf.len()));
        }
        if tx.queued >= WINDOW {
            tx.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let at = tx.arrival(hop);
        tx.queue.push_back((at, Bytes::copy_from_slice(buf)));
        tx.queued += buf.len();
        tx.wake();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.fin();
        Poll::Ready(Ok(()))
    }
}

impl Drop for WriteHalf {
    fn drop(&mut self) {
        self.fin();
        self.ep.half_dropped();
    }
}

#[cfg(test)]
mod tests;
