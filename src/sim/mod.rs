//! Building and running a turmoil simulation from a scenario.
//!
//! ```text
//!  Scenario + server target + client target + seed
//!        │ runner::run
//!        ▼
//!  turmoil Sim (seed, fixed epoch, tick, no random link latency)
//!    "client" host ── client target ──▶ hop 1 ──▶ ... ──▶ "server" host ── server target
//!                                      (relay_host + relay core + behaviors)
//!        │  every host records into one Recorder, stamped with sim::now()
//!        ▼
//!  Trace (+ the simulation's own error, if a host failed)
//! ```

pub(crate) mod conns;
pub mod host;
pub(crate) mod mem;
pub(crate) mod net;
pub(crate) mod relay;
pub(crate) mod relay_host;
pub(crate) mod runner;

pub use conns::ConnRegistry;
pub use host::{ClientEnv, ClientTarget, HostFuture, ServerEnv, ServerTarget};
pub use runner::{run, Engine, RunOutput};

use crate::trace::Recorder;
use std::time::Duration;

/// Every host listens on this port.
pub const PORT: u16 = 80;

/// Virtual time since the simulation started, as seen by the host running now; zero outside
/// a simulation.
pub fn now() -> Duration {
    match net::events_elapsed() {
        Some(d) => d,
        None => turmoil::sim_elapsed().unwrap_or(Duration::ZERO),
    }
}

/// What every host of one simulation shares.
#[derive(Clone)]
pub struct HostEnv {
    /// The run's trace: every host records what it does here.
    pub recorder: Recorder,
    /// Connection ids, unique within the run.
    pub conns: ConnRegistry,
    /// The run's seed (for seeded behaviour inside hosts).
    pub seed: u64,
}
