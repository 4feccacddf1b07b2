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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{HostFuture, Role, ServerEnv, ServerTarget};
    use std::rc::Rc;

    struct Panicking;
    impl ServerTarget for Panicking {
        fn serve(&self, _env: ServerEnv) -> HostFuture {
            Box::pin(async { panic!("the server under test blew up") })
        }
    }

    fn panicking() -> TargetInfo {
        TargetInfo {
            name: "test/panicking",
            role: Role::Server,
            summary: "panics at start",
            cites: None,
            bug_model: false,
            server: Some(|_| Rc::new(Panicking)),
            client: None,
        }
    }

    const SCENARIO: &str = r#"
description = "one stream"
duration = "10s"
[[client.step]]
at = "1s"
do = "open-stream"
[[expect]]
check = "stream.survives"
"#;

    #[test]
    fn a_panicking_target_is_an_unexpected_result_with_its_message() {
        let s = crate::scenario::parse("mem.toml", SCENARIO).unwrap();
        let r = run_one(&s, &panicking(), Some(9));
        assert!(r.unexpected);
        let e = r.error.expect("an error");
        assert!(e.contains("the server under test blew up"), "{e}");
        assert_eq!(r.seed, 9);
    }

    #[test]
    fn results_come_back_in_input_order_whatever_the_threads() {
        let s = crate::scenario::parse("mem.toml", SCENARIO).unwrap();
        let scenarios = vec![s.clone(), s];
        let targets: Vec<TargetInfo> = crate::target::all();
        let r = run_all(&scenarios, &targets, None, 2, &|_| {});
        let order: Vec<&str> = r.iter().map(|r| r.target.as_str()).collect();
        let names: Vec<&str> = targets.iter().map(|t| t.name).collect();
        assert_eq!(order, [names.clone(), names].concat());
        assert!(!r[0].unexpected, "{:?}", r[0].checks);
    }
}
