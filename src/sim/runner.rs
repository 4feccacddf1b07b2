//! Runs one scenario against one server target and one client target.

use super::{relay_host, ConnRegistry, HostEnv, PORT};
use crate::scenario::{FaultKind, Scenario};
use crate::sim::{ClientEnv, ClientTarget, ServerEnv, ServerTarget};
use crate::trace::{Budget, EventKind, Recorder, Trace};
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// Extra virtual time allowed after the scenario's end before the run counts as hung.
const GRACE: Duration = Duration::from_secs(60);

/// The result of one run.
#[derive(Debug, Default)]
pub struct RunOutput {
    /// Everything the run recorded.
    pub trace: Trace,
    /// A host failed or the run did not finish: the simulation's own error.
    pub error: Option<String>,
}

/// Which simulation engine runs a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// The event engine where it can run the scenario (no faults), else the network engine.
    #[default]
    Auto,
    /// turmoil: every host and link stepped every tick; supports every fault.
    Network,
    /// One paused-clock runtime, hosts as tasks joined by in-memory links: cost follows
    /// events. No faults.
    Events,
    /// Both engines, and their traces must be byte-identical (scenarios with faults: the
    /// network engine alone). A self-check of the event engine.
    Both,
    /// The event engine paced to the wall clock, for servers on real time (`exec:` targets):
    /// a scenario takes its duration in real time, and timestamps are real, so its traces are
    /// deterministic in structure only. No faults.
    Realtime,
}

impl Engine {
    /// The engine that actually runs `scenario`, or why the requested one cannot.
    pub fn resolve(self, scenario: &Scenario) -> Result<Engine, String> {
        let faults = !scenario.faults.is_empty();
        match self {
            Engine::Auto | Engine::Both if faults => Ok(Engine::Network),
            Engine::Auto => Ok(Engine::Events),
            Engine::Realtime if faults => Err(format!(
                "a real-time run cannot apply faults ({} has {})",
                scenario.path,
                scenario.faults.len()
            )),
            Engine::Events if faults => Err(format!(
                "the events engine cannot apply faults ({} has {}); use --engine network or auto",
                scenario.path,
                scenario.faults.len()
            )),
            e => Ok(e),
        }
    }
}

/// Runs `scenario` with `seed` on `engine`: the server target on host `server`, the client
/// target on host `client`, the scenario's intermediaries between them.
pub fn run_on(
    engine: Engine,
    scenario: &Scenario,
    server: Rc<dyn ServerTarget>,
    client: Rc<dyn ClientTarget>,
    seed: u64,
) -> RunOutput {
    match engine.resolve(scenario) {
        Ok(Engine::Events) => run_events(scenario, server, client, seed),
        Ok(Engine::Realtime) => run_events_paced(scenario, server, client, seed, true),
        Ok(_) => run(scenario, server, client, seed),
        Err(e) => RunOutput {
            error: Some(e),
            ..RunOutput::default()
        },
    }
}

/// The hops after the client, in order, ending with `server`.
fn hops(scenario: &Scenario) -> Vec<String> {
    scenario
        .intermediaries
        .iter()
        .map(|i| i.name.clone())
        .chain(std::iter::once("server".to_string()))
        .collect()
}

/// The trace recorder and what every host of one run shares; the server's work before the
/// clock starts ([`ServerTarget::prepare`]) is done here, so an error fails the run at once.
/// The recorder's guards learn how the targets keep time (the more real of the two: the
/// other is the reference) and the run's byte budget.
fn host_env(
    scenario: &Scenario,
    server: &dyn ServerTarget,
    client: &dyn ClientTarget,
    seed: u64,
) -> Result<(Recorder, HostEnv), RunOutput> {
    server.prepare().map_err(|e| RunOutput {
        error: Some(e),
        ..RunOutput::default()
    })?;
    let recorder = Recorder::with_clock(super::now);
    recorder.set_guard(
        server.clock().max(client.clock()),
        scenario.tick,
        Budget::for_run(scenario.client.steps.len(), scenario.duration),
    );
    let env = HostEnv {
        recorder: recorder.clone(),
        conns: ConnRegistry::default(),
        seed,
    };
    Ok((recorder, env))
}

/// The event engine: every host is a task of one current-thread tokio runtime whose clock
/// is paused, so it jumps straight to the next timer when every task waits; links are
/// [`super::mem`] pipes where each segment takes one tick. Deterministic: one thread, FIFO
/// task order, no real I/O.
pub fn run_events(
    scenario: &Scenario,
    server: Rc<dyn ServerTarget>,
    client: Rc<dyn ClientTarget>,
    seed: u64,
) -> RunOutput {
    run_events_paced(scenario, server, client, seed, false)
}

/// The event engine with its clock paused (`realtime` false: virtual time) or running on
/// the wall clock with real I/O enabled (`realtime`: for servers on real time).
fn run_events_paced(
    scenario: &Scenario,
    server: Rc<dyn ServerTarget>,
    client: Rc<dyn ClientTarget>,
    seed: u64,
    realtime: bool,
) -> RunOutput {
    let (recorder, env) = match host_env(scenario, &*server, &*client, seed) {
        Ok(x) => x,
        Err(out) => return out,
    };
    let scenario = Arc::new(scenario.clone());
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_time().start_paused(!realtime);
    if realtime {
        builder.enable_io();
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            return RunOutput {
                error: Some(format!("cannot build the event engine's runtime: {e}")),
                ..RunOutput::default()
            }
        }
    };
    let local = tokio::task::LocalSet::new();
    let hops = hops(&scenario);
    let world = {
        let _ctx = rt.enter(); // the world's clock is the runtime's paused clock
        super::mem::World::new(scenario.tick)
    };
    let error = super::net::with_events(world, || {
        local.block_on(&rt, async {
            let mut hosts = Vec::new();
            hosts.push((
                "server".to_string(),
                tokio::task::spawn_local(server.serve(ServerEnv {
                    host: env.clone(),
                    scenario: scenario.clone(),
                    port: PORT,
                })),
            ));
            // From the server outwards, as the network engine registers them.
            for (i, cfg) in scenario.intermediaries.iter().enumerate().rev() {
                hosts.push((
                    cfg.name.clone(),
                    tokio::task::spawn_local(relay_host::serve(
                        cfg.clone(),
                        hops[i + 1].clone(),
                        env.clone(),
                    )),
                ));
            }
            // Let every host bind before the client connects (turmoil starts hosts first too).
            tokio::task::yield_now().await;
            let client = client.run(ClientEnv {
                host: env.clone(),
                scenario: scenario.clone(),
                first_hop: hops[0].clone(),
                route: hops.clone(),
                port: PORT,
            });
            let limit = scenario.duration + GRACE;
            let run = tokio::time::timeout(limit, client);
            let error = tokio::select! {
                biased;
                diagnosis = recorder.stalled() => Some(diagnosis),
                r = run => match r {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(_) => Some(format!(
                        "Ran for duration: {limit:?} without completing (event engine)"
                    )),
                },
            };
            let host_error = hosts.iter_mut().find_map(|(name, h)| {
                if !h.is_finished() {
                    return None;
                }
                match futures_now(h) {
                    Some(Ok(Err(e))) => Some(format!("host {name} failed: {e}")),
                    // Re-raised: the caller handles a host's panic as on the network
                    // engine, where it unwinds out of the simulation step.
                    Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    _ => None,
                }
            });
            for (_, h) in &hosts {
                h.abort();
            }
            error.or(host_error)
        })
    });
    RunOutput {
        trace: recorder.finish(),
        error,
    }
}

/// The output of a finished task, without waiting.
fn futures_now<T>(h: &mut tokio::task::JoinHandle<T>) -> Option<Result<T, tokio::task::JoinError>> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match std::pin::Pin::new(h).poll(&mut cx) {
        std::task::Poll::Ready(r) => Some(r),
        std::task::Poll::Pending => None,
    }
}

/// Runs `scenario` with `seed` on the network engine (turmoil): the server target on host
/// `server`, the client target on host `client`, the scenario's intermediaries between them.
pub fn run(
    scenario: &Scenario,
    server: Rc<dyn ServerTarget>,
    client: Rc<dyn ClientTarget>,
    seed: u64,
) -> RunOutput {
    let (recorder, env) = match host_env(scenario, &*server, &*client, seed) {
        Ok(x) => x,
        Err(out) => return out,
    };
    let scenario = Arc::new(scenario.clone());
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(crate::time::EPOCH_SECS))
        .tick_duration(scenario.tick)
        .simulation_duration(scenario.duration + GRACE)
        // Every segment takes exactly one tick on a link, as on the event engine; extra
        // latency is the `latency` behavior's job, never turmoil's random default.
        .min_message_latency(scenario.tick)
        .max_message_latency(scenario.tick)
        .build();

    let hops = hops(&scenario);

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
    // Hosts are registered from the server outwards: turmoil steps hosts in registration
    // order, and a connection to a host stepped earlier completes in one tick (to a host
    // stepped later it would take two), so every hop's connect costs exactly one tick, as on
    // the event engine.
    for (i, cfg) in scenario.intermediaries.iter().enumerate().rev() {
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
        // The same stall guard as the event engine's: a target flooding on the real clock
        // would otherwise step (and record) until memory runs out.
        if let Some(diagnosis) = recorder.stall() {
            break Some(diagnosis);
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
        let t = crate::targets::get("reference").expect("reference");
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
