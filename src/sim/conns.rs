//! Stable connection ids across hops.
//!
//! The client numbers its connections (`conn#1`, `conn#2`, ...) in the order it opens them
//! and registers its socket's local address under that id. Each relay looks up the address
//! of the peer it accepted, registers the local address of the connection it opens upstream
//! under the same id, and so on to the server. Addresses never reach the trace; ids do.

use crate::trace::ConnId;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// Shared map from a connection's client-side socket address to its stable id.
#[derive(Clone, Default)]
pub struct ConnRegistry {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    next: u32,
    by_addr: BTreeMap<SocketAddr, ConnId>,
}

impl ConnRegistry {
    /// Allocates the next connection id (client side).
    pub fn allocate(&self) -> ConnId {
        let mut g = self.inner.lock().expect("conn registry");
        g.next += 1;
        ConnId(g.next)
    }

    /// Registers the local address of a connection that carries `id`.
    pub fn register(&self, local: SocketAddr, id: ConnId) {
        self.inner
            .lock()
            .expect("conn registry")
            .by_addr
            .insert(local, id);
    }

    /// The id of the connection whose other end is `peer`.
    pub fn lookup(&self, peer: SocketAddr) -> Option<ConnId> {
        self.inner
            .lock()
            .expect("conn registry")
            .by_addr
            .get(&peer)
            .copied()
    }
}
