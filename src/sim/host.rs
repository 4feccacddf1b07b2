//! What a host gets: the two roles an implementation plays in a run, and what the simulation
//! hands each of them.
//!
//! ```text
//!  runner ──serve(ServerEnv)──▶ ServerTarget   on host "server" (at every (re)start)
//!         ──run(ClientEnv)───▶ ClientTarget   on host "client" (the scenario's timeline)
//!  each env: the run's HostEnv (recorder, connection ids, seed) + the scenario + where to talk
//! ```

use super::HostEnv;
use crate::scenario::Scenario;
use crate::trace::TargetClock;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A host's software: the future turmoil drives.
pub type HostFuture = Pin<Box<dyn Future<Output = turmoil::Result>>>;

/// What a server target gets from the simulation.
#[derive(Clone)]
pub struct ServerEnv {
    /// What every host of the run shares (recorder, connection ids, seed).
    pub host: HostEnv,
    /// The scenario being run (its `[server]` table configures the server).
    pub scenario: Arc<Scenario>,
    /// Port to listen on.
    pub port: u16,
}

/// What a client target gets from the simulation.
#[derive(Clone)]
pub struct ClientEnv {
    /// What every host of the run shares (recorder, connection ids, seed).
    pub host: HostEnv,
    /// The scenario being run (its `[client]` timeline is what the client does).
    pub scenario: Arc<Scenario>,
    /// Host name of the first hop (an intermediary, or `server`).
    pub first_hop: String,
    /// Every hop after the client, in order, ending with `server`.
    pub route: Vec<String>,
    /// Port every host listens on.
    pub port: u16,
}

/// A server implementation. `serve` is called at every start of the server host.
pub trait ServerTarget {
    /// The server host's software, started afresh at every start of the host (again after a
    /// crash, by a `bounce` fault).
    fn serve(&self, env: ServerEnv) -> HostFuture;

    /// Work done before the run's clock starts (real time, blocking): an `exec:` server is
    /// started and waited for until it listens. An error fails the run.
    fn prepare(&self) -> Result<(), String> {
        Ok(())
    }

    /// How this server keeps time (what a stall or a flood most likely means).
    fn clock(&self) -> TargetClock {
        TargetClock::Tokio
    }
}

/// A client implementation: runs the scenario's client timeline and returns at its end.
pub trait ClientTarget {
    /// The client host's software: runs the scenario's timeline and returns at its end.
    fn run(&self, env: ClientEnv) -> HostFuture;

    /// How this client keeps time (what a stall or a flood most likely means).
    fn clock(&self) -> TargetClock {
        TargetClock::Tokio
    }
}
