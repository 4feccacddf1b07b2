//! Runs one scenario against one server target and one client target.

use super::{relay_host, ConnRegistry, HostEnv, PORT};
use crate::scenario::{FaultKind, Scenario};
use crate::target::{ClientEnv, ClientTarget, ServerEnv, ServerTarget};
use crate::trace::{EventKind, Recorder, Trace};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// The fixed epoch every simulation starts at (2026-01-01T00:00:00Z): never the wall clock.
pub const EPOCH_SECS: u64 = 1_767_225_600;

/// Extra virtual time allowed after the scenario's end before the run counts as hung.
const GRACE: Duration = Duration::from_secs(60);

/// The result of one run.
#[derive(Debug)]
pub struct RunOutput {
    pub trace: Trace,
    /// A host failed or the run did not finish: the simulation's own error.
    pub error: Option<String>,
}

/// Runs `scenario` with `seed`: the server target on host `server`, the client target on
/// host `client`, the scenario's intermediaries between them.
pub fn run(
    scenario: &Scenario,
    server: Rc<dyn ServerTarget>,
    client: Rc<dyn ClientTarget>,
    seed: u64,
) -> RunOutput {
    let scenario = Arc::new(scenario.clone());
    let recorder = Recorder::new();
    let env = HostEnv {
        recorder: recorder.clone(),
        conns: ConnRegistry::default(),
        seed,
    };
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
        .tick_duration(scenario.tick)
        .simulation_duration(scenario.duration + GRACE)
        // Link latency is modelled by the `latency` behavior, not by turmoil's random default.
        .min_message_latency(Duration::ZERO)
        .max_message_latency(Duration::ZERO)
        .build();

    let hops: Vec<String> = scenario
        .intermediaries
        .iter()
        .map(|i| i.name.clone())
        .chain(std::iter::once("server".to_string()))
        .collect();

    {
        let env = env.clone();
        let scenario = scenario.clone();
        let server = server.clone();
        sim.host("server", move || {
            server.serve(ServerEnv {
                host: env.clone(),
                scenario: scenario.clone(),
                port: PORT,
            })
        });
    }
    for (i, cfg) in scenario.intermediaries.iter().enumerate() {
        let env = env.clone();
        let cfg = cfg.clone();
        let next = hops[i + 1].clone();
        sim.host(cfg.name.clone(), move || {
            relay_host::serve(cfg.clone(), next.clone(), env.clone())
        });
    }
    sim.client(
        "client",
        client.run(ClientEnv {
            host: env.clone(),
            scenario: scenario.clone(),
            first_hop: hops[0].clone(),
            route: hops.clone(),
            port: PORT,
        }),
    );

    tracing::debug!(scenario = %scenario.path, seed, hosts = hops.len() + 1, "simulation built");
    let mut faults = scenario.faults.clone();
    faults.sort_by_key(|f| f.at);
    let mut faults = faults.into_iter().peekable();
    let error = loop {
        while let Some(f) = faults.next_if(|f| f.at <= sim.elapsed()) {
            tracing::debug!(at = %crate::time::stamp(f.at), fault = %f.kind, "fault applied");
            recorder.record_at(
                sim.elapsed(),
                "fault",
                None,
                EventKind::FaultApplied {
                    fault: f.kind.to_string(),
                },
            );
            match &f.kind {
                FaultKind::Partition { a, b } => sim.partition(a.as_str(), b.as_str()),
                FaultKind::Repair { a, b } => sim.repair(a.as_str(), b.as_str()),
                FaultKind::Hold { a, b } => sim.hold(a.as_str(), b.as_str()),
                FaultKind::Release { a, b } => sim.release(a.as_str(), b.as_str()),
                FaultKind::Crash { host } => sim.crash(host.as_str()),
                FaultKind::Bounce { host } => sim.bounce(host.as_str()),
            }
        }
        match sim.step() {
            Ok(true) => break None,
            Ok(false) => {}
            Err(e) => break Some(e.to_string()),
        }
    };
    if let Some(e) = &error {
        tracing::warn!(scenario = %scenario.path, seed, error = %e, "simulation failed");
    }
    RunOutput {
        trace: recorder.finish(),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;
    use tracing_test::traced_test;

    const SCENARIO: &str = r#"
description = "a crash and a bounce of the server"
duration = "20s"
[[client.step]]
at = "1s"
do = "open-stream"
[[fault]]
at = "5s"
do = "crash"
host = "server"
[[fault]]
at = "6s"
do = "bounce"
host = "server"
"#;

    #[traced_test]
    #[test]
    fn faults_are_applied_at_their_time_and_logged() {
        let s = parse("mem.toml", SCENARIO).expect("valid scenario");
        let t = crate::target::get("reference").expect("reference");
        let out = run(&s, t.server(&s.server), t.client(), 3);
        assert_eq!(out.error, None);
        let faults: Vec<_> = out
            .trace
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::FaultApplied { fault } => {
                    Some((crate::time::stamp(e.at), fault.clone()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            faults,
            vec![
                ("00:00:05.000".to_string(), "crash server".to_string()),
                ("00:00:06.000".to_string(), "bounce server".to_string())
            ]
        );
        assert!(logs_contain("fault applied"));
        assert!(logs_contain("crash server"));
    }
}
