//! Running many scenario × target pairs, on every core.
//!
//! Each turmoil `Sim` lives on one thread; independent runs go to a small pool of worker
//! threads and come back in the input order, so the report never depends on scheduling.

use crate::report::{evaluate, RunResult};
use crate::scenario::Scenario;
use crate::sim::{self, RunOutput};
use crate::target::TargetInfo;
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
    let seed = seed_for(scenario, seed_override);
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sim::run(
            scenario,
            target.server(&scenario.server),
            target.client(),
            seed,
        )
    }))
    .unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        RunOutput {
            trace: Trace::default(),
            error: Some(format!("the simulation panicked: {msg}")),
        }
    });
    evaluate(scenario, target.name, seed, out)
}

/// Runs every scenario against every target on `jobs` threads; results in input order
/// (scenario-major). `progress` is called after each run finishes.
pub fn run_all(
    scenarios: &[Scenario],
    targets: &[TargetInfo],
    seed_override: Option<u64>,
    jobs: usize,
    progress: &(dyn Fn(&RunResult) + Sync),
) -> Vec<RunResult> {
    let pairs: Vec<(usize, usize)> = (0..scenarios.len())
        .flat_map(|s| (0..targets.len()).map(move |t| (s, t)))
        .collect();
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<RunResult>>> = Mutex::new(vec![None; pairs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(pairs.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&(s, t)) = pairs.get(i) else { break };
                let r = run_one(&scenarios[s], &targets[t], seed_override);
                progress(&r);
                slots.lock().expect("results")[i] = Some(r);
            });
        }
    });
    slots
        .into_inner()
        .expect("results")
        .into_iter()
        .map(|r| r.expect("every pair ran"))
        .collect()
}
