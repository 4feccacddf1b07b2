//! Building and running a turmoil simulation from a scenario.

use std::time::Duration;

/// Virtual time since the simulation started, as seen by the host running now; zero outside
/// a simulation.
pub fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or(Duration::ZERO)
}
