//! Running many scenario × target pairs, on every core.
//!
//! Each turmoil `Sim` lives on one thread; independent runs go to a small pool of worker
//! threads and come back in the input order, so the report never depends on scheduling.

use crate::report::{evaluate, RunResult};
use crate::scenario::Scenario;
use crate::sim::runner::Engine;
use crate::sim::RunOutput;
use crate::targets::TargetInfo;
use crate::trace::Trace;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The seed a scenario runs with: `--seed` if given, else the file's, else 1.
pub fn seed_for(scenario: &Scenario, seed_override: Option<u64>) -> u64 {
    seed_override.or(scenario.seed).unwrap_or(1)
}

/// Runs one scenario against one target and evaluates its expectations. A panic inside the
/// simulation becomes the result's error instead of taking the whole run down.
pub fn run_one(scenario: &Scenario, target: &TargetInfo, seed_override: Option<u64>) -> RunResult {
    run_one_on(Engine::default(), scenario, target, seed_override)
}

/// Runs one scenario against any server (for instance a
/// [`crate::targets::service::ServiceTarget`] wrapping your own hyper or tower service) with
/// the reference client, and evaluates the scenario's expectations. `name` is the target name
/// the scenario's `[expect-fail."NAME"]` tables and the report use.
///
/// ```
/// use middlebox::targets::service::ServiceTarget;
/// # use bytes::Bytes;
/// # use http_body_util::Full;
/// # use std::convert::Infallible;
/// // A server that answers every request with one short SSE event, then ends the response.
/// let server = ServiceTarget::new(|| {
///     hyper::service::service_fn(|_req| async {
///         Ok::<_, Infallible>(
///             hyper::Response::builder()
///                 .header("content-type", "text/event-stream")
///                 .body(Full::new(Bytes::from_static(b"data: hello\n\n")))
///                 .unwrap(),
///         )
///     })
/// });
/// let scenario = middlebox::scenario::parse(
///     "doc.toml",
///     "description = \"one stream\"\nduration = \"1m\"\n\
///      [[client.step]]\nat = \"1s\"\ndo = \"open-stream\"\n\
///      [[expect]]\ncheck = \"stream.survives\"\n",
/// )
/// .unwrap();
/// let result = middlebox::suite::run_server(&scenario, "my-sse-server", server, None);
/// // The response ended after one event: the stream did not survive the minute.
/// assert!(result.unexpected);
/// assert_eq!(result.checks[0].id, "stream.survives");
/// ```
pub fn run_server(
    scenario: &Scenario,
    name: &str,
    server: std::rc::Rc<dyn crate::sim::ServerTarget>,
    seed_override: Option<u64>,
) -> RunResult {
    run_pair(
        Engine::default(),
        scenario,
        name,
        server,
        crate::reference::client::build(),
        seed_override,
    )
}

/// Runs one scenario with any client (for instance a
/// [`crate::targets::stream_client::StreamClientTarget`] driving your own SSE client) against
/// the reference server; `name` is the client's name in the result.
///
/// ```
/// use middlebox::targets::stream_client::{RecordedIo, StreamClient, StreamClientTarget};
/// use http_body_util::BodyExt;
/// use std::{future::Future, pin::Pin};
///
/// /// An SSE client on hyper: GET the path, read the body to its end.
/// struct HyperSse;
/// impl StreamClient for HyperSse {
///     fn stream(&self, io: RecordedIo, host: String, path: String)
///         -> Pin<Box<dyn Future<Output = ()>>> {
///         Box::pin(async move {
///             let io = hyper_util::rt::TokioIo::new(io);
///             let Ok((mut send, conn)) = hyper::client::conn::http1::handshake(io).await else {
///                 return;
///             };
///             tokio::task::spawn_local(conn);
///             let req = hyper::Request::get(path)
///                 .header("host", host)
///                 .header("accept", "text/event-stream")
///                 .body(http_body_util::Empty::<bytes::Bytes>::new())
///                 .unwrap();
///             let Ok(resp) = send.send_request(req).await else { return };
///             let mut body = resp.into_body();
///             while let Some(Ok(_)) = body.frame().await {}
///         })
///     }
/// }
///
/// let scenario = middlebox::scenario::parse(
///     "doc.toml",
///     "description = \"30 minutes behind nginx\"\nduration = \"30m\"\n\
///      [[intermediary]]\npreset = \"nginx\"\n\
///      [[client.step]]\nat = \"1s\"\ndo = \"open-stream\"\n\
///      [[expect]]\ncheck = \"stream.survives\"\n\
///      [[expect]]\ncheck = \"keepalive.cadence\"\ngap-max = \"20s\"\n",
/// )
/// .unwrap();
/// let r = middlebox::suite::run_client(&scenario, "hyper-sse", StreamClientTarget::new(HyperSse), None);
/// assert!(!r.unexpected, "{}", middlebox::report::render_failure(&r));
/// // What the client received is in the trace: the reference server's keepalives.
/// assert!(r.trace.events.iter().any(|e| e.host == "client"
///     && matches!(e.kind, middlebox::trace::EventKind::Received { .. })));
/// ```
pub fn run_client(
    scenario: &Scenario,
    name: &str,
    client: std::rc::Rc<dyn crate::sim::ClientTarget>,
    seed_override: Option<u64>,
) -> RunResult {
    run_pair(
        Engine::default(),
        scenario,
        name,
        crate::reference::server::build(&scenario.server),
        client,
        seed_override,
    )
}

/// Runs every scenario file under `paths` (files, or directories searched for `*.toml`)
/// against `server`, one run each, and returns the report (`report.summary.unexpected == 0`
/// when every outcome is what the files expect for `name`).
pub fn run_server_files(
    paths: &[std::path::PathBuf],
    name: &str,
    server: std::rc::Rc<dyn crate::sim::ServerTarget>,
    seed_override: Option<u64>,
) -> Result<crate::report::Report, crate::scenario::ScenarioError> {
    run_files(paths, seed_override, |s| {
        run_server(s, name, server.clone(), seed_override)
    })
}

/// [`run_server_files`] for a client: every scenario under `paths` with `client` against the
/// reference server.
pub fn run_client_files(
    paths: &[std::path::PathBuf],
    name: &str,
    client: std::rc::Rc<dyn crate::sim::ClientTarget>,
    seed_override: Option<u64>,
) -> Result<crate::report::Report, crate::scenario::ScenarioError> {
    run_files(paths, seed_override, |s| {
        run_client(s, name, client.clone(), seed_override)
    })
}

/// Loads every scenario file under `paths` and runs `run` on each, in file order.
fn run_files(
    paths: &[std::path::PathBuf],
    seed_override: Option<u64>,
    run: impl Fn(&Scenario) -> RunResult,
) -> Result<crate::report::Report, crate::scenario::ScenarioError> {
    let mut results = Vec::new();
    for f in crate::scenario::discover(paths)? {
        results.push(run(&crate::scenario::load(&f)?));
    }
    Ok(crate::report::Report::new(seed_override, results))
}

/// The text of a panic payload.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// [`run_one`] on a chosen engine.
pub fn run_one_on(
    engine: Engine,
    scenario: &Scenario,
    target: &TargetInfo,
    seed_override: Option<u64>,
) -> RunResult {
    // A process on real time can only run paced to the wall clock.
    let engine = if target.realtime {
        Engine::Realtime
    } else {
        engine
    };
    if engine.resolve(scenario) == Ok(Engine::Both) {
        let mut net = run_one_on(Engine::Network, scenario, target, seed_override);
        let ev = run_one_on(Engine::Events, scenario, target, seed_override);
        if let Some(d) = first_difference(&net.trace, &ev.trace) {
            net.unexpected = true;
            // `--engine both` given on the command line is among the options already.
            let both = if net.options.iter().any(|o| o == "--engine") {
                String::new()
            } else {
                " --engine both".to_string()
            };
            net.error = Some(format!(
                "the engines disagree (reproduce: {}{both}): {d}",
                net.reproduce()
            ));
        }
        return net;
    }
    run_pair(
        engine,
        scenario,
        target.name,
        target.server(&scenario.server),
        target.client(),
        seed_override,
    )
}

/// Runs one server × client pair on `engine` and evaluates the scenario over it, under the
/// name `name`; a panicking simulation is a failed run, not a crash.
fn run_pair(
    engine: Engine,
    scenario: &Scenario,
    name: &str,
    server: std::rc::Rc<dyn crate::sim::ServerTarget>,
    client: std::rc::Rc<dyn crate::sim::ClientTarget>,
    seed_override: Option<u64>,
) -> RunResult {
    let seed = seed_for(scenario, seed_override);
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::sim::runner::run_on(engine, scenario, server, client, seed)
    }))
    .unwrap_or_else(|p| RunOutput {
        error: Some(format!("the simulation panicked: {}", panic_message(&*p))),
        ..RunOutput::default()
    });
    evaluate(scenario, name, seed, out)
}

/// The (scenario, target) index pairs to run, scenario-major: every target that applies to
/// the scenario (see [`crate::targets::Scope`]).
pub fn pairs(scenarios: &[Scenario], targets: &[TargetInfo]) -> Vec<(usize, usize)> {
    (0..scenarios.len())
        .flat_map(|s| (0..targets.len()).map(move |t| (s, t)))
        .filter(|&(s, t)| targets[t].applies_to(&scenarios[s]))
        .collect()
}

/// Where two traces' text renderings first differ, in words; None when byte-identical.
pub fn first_difference(network: &Trace, events: &Trace) -> Option<String> {
    let (a, b) = (
        crate::trace::render_text(network),
        crate::trace::render_text(events),
    );
    if a == b {
        return None;
    }
    let (mut la, mut lb) = (a.lines(), b.lines());
    let mut n = 0;
    loop {
        n += 1;
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => {
                return Some(format!(
                    "trace line {n}: network engine `{}`, event engine `{}`",
                    x.unwrap_or("(end)"),
                    y.unwrap_or("(end)")
                ))
            }
        }
    }
}

/// Runs every scenario against every target that applies to it (see [`pairs`]) on `jobs`
/// threads; results in input order (scenario-major). `progress` is called after each run.
pub fn run_all(
    scenarios: &[Scenario],
    targets: &[TargetInfo],
    seed_override: Option<u64>,
    jobs: usize,
    engine: Engine,
    progress: &(dyn Fn(&RunResult) + Sync),
) -> Vec<RunResult> {
    let pairs = pairs(scenarios, targets);
    run_pairs(
        scenarios,
        targets,
        &pairs,
        seed_override,
        jobs,
        engine,
        progress,
    )
}

/// Runs the given (scenario, target) index pairs on `jobs` threads; results in the pairs'
/// order. `progress` is called after each run.
pub fn run_pairs(
    scenarios: &[Scenario],
    targets: &[TargetInfo],
    pairs: &[(usize, usize)],
    seed_override: Option<u64>,
    jobs: usize,
    engine: Engine,
    progress: &(dyn Fn(&RunResult) + Sync),
) -> Vec<RunResult> {
    parallel(pairs.len(), jobs, |i| {
        let (s, t) = pairs[i];
        let r = run_one_on(engine, &scenarios[s], &targets[t], seed_override);
        progress(&r);
        r
    })
}

/// Runs `f(0)`, …, `f(n - 1)` on `jobs` threads; the results in index order, whatever the
/// scheduling.
pub fn parallel<T: Send>(n: usize, jobs: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(n.max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let r = f(i);
                slots.lock().expect("results")[i] = Some(r);
            });
        }
    });
    slots
        .into_inner()
        .expect("results")
        .into_iter()
        .map(|r| r.expect("every index ran"))
        .collect()
}

#[cfg(test)]
mod tests;
