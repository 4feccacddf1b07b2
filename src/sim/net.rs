//! The sockets hosts use, on either engine.
//!
//! ```text
//!  target / relay code ──▶ net::connect(from, to, port) / net::bind(host, port)
//!                              │ the thread's engine (set by the runner)
//!               ┌──────────────┴──────────────┐
//!   Engine::Network: turmoil sockets     Engine::Events: sim::mem pipes
//!   (stepped every tick)                 (paused clock, jumps event to event)
//! ```
//!
//! Software written against this module runs unchanged on both engines. Each simulation
//! lives on one thread, so the engine in use is a thread-local set for the run's duration.

use super::mem;
use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

thread_local! {
    static EVENTS: RefCell<Option<Rc<mem::World>>> = const { RefCell::new(None) };
}

/// Runs `f` with the event engine's world as this thread's network; restores the previous
/// one afterwards (also on panic).
pub(crate) fn with_events<T>(world: Rc<mem::World>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Rc<mem::World>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            EVENTS.with(|e| *e.borrow_mut() = self.0.take());
        }
    }
    let _restore = Restore(EVENTS.with(|e| e.borrow_mut().replace(world)));
    f()
}

fn events() -> Option<Rc<mem::World>> {
    EVENTS.with(|e| e.borrow().clone())
}

/// Virtual time since the event engine's run started, when it drives this thread.
pub(crate) fn events_elapsed() -> Option<std::time::Duration> {
    EVENTS.with(|e| e.borrow().as_ref().map(|w| w.elapsed()))
}

/// Connects from host `from` to `to:port`.
pub async fn connect(from: &str, to: &str, port: u16) -> io::Result<Stream> {
    match events() {
        Some(w) => w.connect(from, to, port).await.map(Stream::Events),
        None => turmoil::net::TcpStream::connect((to, port))
            .await
            .map(Stream::Network),
    }
}

/// Listens on `host:port` (all addresses of the host).
pub async fn bind(host: &str, port: u16) -> io::Result<Listener> {
    match events() {
        Some(w) => w.bind(host, port).map(Listener::Events),
        None => turmoil::net::TcpListener::bind(("0.0.0.0", port))
            .await
            .map(Listener::Network),
    }
}

/// A listening socket.
pub enum Listener {
    Network(turmoil::net::TcpListener),
    Events(mem::Listener),
}

impl Listener {
    /// The next connection and its peer's address.
    pub async fn accept(&self) -> io::Result<(Stream, SocketAddr)> {
        match self {
            Listener::Network(l) => l.accept().await.map(|(s, a)| (Stream::Network(s), a)),
            Listener::Events(l) => l.accept().await.map(|(s, a)| (Stream::Events(s), a)),
        }
    }
}

/// A connected socket.
pub enum Stream {
    Network(turmoil::net::TcpStream),
    Events(mem::Stream),
}

impl Stream {
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Stream::Network(s) => s.local_addr(),
            Stream::Events(s) => s.local_addr(),
        }
    }

    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Network(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Network(r), WriteHalf::Network(w))
            }
            Stream::Events(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Events(r), WriteHalf::Events(w))
            }
        }
    }
}

/// The reading half of a [`Stream`].
pub enum ReadHalf {
    Network(turmoil::net::tcp::OwnedReadHalf),
    Events(mem::ReadHalf),
}

/// The writing half of a [`Stream`].
pub enum WriteHalf {
    Network(turmoil::net::tcp::OwnedWriteHalf),
    Events(mem::WriteHalf),
}

/// Delegates `AsyncRead` to whichever engine's socket the enum holds.
macro_rules! delegate_read {
    ($t:ident) => {
        impl AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $t::Network(s) => Pin::new(s).poll_read(cx, buf),
                    $t::Events(s) => Pin::new(s).poll_read(cx, buf),
                }
            }
        }
    };
}

/// Delegates `AsyncWrite` to whichever engine's socket the enum holds.
macro_rules! delegate_write {
    ($t:ident) => {
        impl AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $t::Network(s) => Pin::new(s).poll_write(cx, buf),
                    $t::Events(s) => Pin::new(s).poll_write(cx, buf),
                }
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $t::Network(s) => Pin::new(s).poll_flush(cx),
                    $t::Events(s) => Pin::new(s).poll_flush(cx),
                }
            }
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $t::Network(s) => Pin::new(s).poll_shutdown(cx),
                    $t::Events(s) => Pin::new(s).poll_shutdown(cx),
                }
            }
        }
    };
}

delegate_read!(Stream);
delegate_write!(Stream);
delegate_read!(ReadHalf);
delegate_write!(WriteHalf);

/// A socket error in words fit for a trace: its kind only (turmoil's messages can carry a
/// socket address, and addresses never reach a trace).
pub fn describe_error(e: &io::Error) -> String {
    e.kind().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_are_described_without_addresses() {
        let e = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "192.168.0.2:80");
        assert_eq!(super::describe_error(&e), "connection refused");
    }
}
