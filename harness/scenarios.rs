//! `cargo test --test scenarios`: every scenario file is its own test per target.
//!
//! ```text
//!  scenarios/**/*.toml ──load──▶ one trial per scenario × default target
//!     trial: run ──▶ snapshot (snapshots/<path>@<target>.snap: verdicts + trace)
//!                └─▶ expectations (pass, or fail exactly as `[expect-fail]` says)
//! ```
//! Names look like `keepalive/idle-get-nginx@reference`; filter with the usual test filter.
//! A scenario file that does not load is a failing trial of its own.

use libtest_mimic::{Arguments, Failed, Trial};
use middlebox::report::{render_failure, RunResult};
use middlebox::{scenario, suite, targets};
use std::path::{Path, PathBuf};

fn test_name(path: &str) -> String {
    path.trim_start_matches("scenarios/")
        .trim_end_matches(".toml")
        .to_string()
}

fn snapshot_name(path: &str, target: &str) -> String {
    format!(
        "{}@{}",
        test_name(path).replace('/', "__"),
        target.replace('/', "-")
    )
}

/// What is snapshotted: the verdicts, then the trace.
fn snapshot_text(r: &RunResult) -> String {
    let mut s = String::from("# checks\n");
    for c in &r.checks {
        let exp = if c.expected_fail { " (expected)" } else { "" };
        s.push_str(&format!("{}: {}{exp} — {}\n", c.id, c.verdict, c.message));
    }
    if let Some(e) = &r.error {
        s.push_str(&format!("simulation error: {e}\n"));
    }
    s.push_str("# trace\n");
    s.push_str(&middlebox::trace::render_text(&r.trace));
    s
}

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::set_current_dir(root).expect("cd to the package root");
    let files = scenario::discover(&[PathBuf::from("scenarios")]).expect("scenarios/ exists");
    let mut trials = Vec::new();
    let mut expected_snaps = std::collections::BTreeSet::new();
    for f in files {
        let shown = f.to_string_lossy().to_string();
        match scenario::load(&f) {
            Err(e) => {
                let msg = e.to_string();
                trials.push(Trial::test(test_name(&shown), move || Err(msg.into())));
            }
            Ok(s) => {
                for name in targets::default_names() {
                    let t = targets::get(name).expect("default target exists");
                    if !t.applies_to(&s) {
                        continue;
                    }
                    expected_snaps.insert(format!("{}.snap", snapshot_name(&s.path, name)));
                    let s = s.clone();
                    let snaps = root.join("snapshots");
                    trials.push(Trial::test(
                        format!("{}@{}", test_name(&s.path), name),
                        move || {
                            let mut r = suite::run_one(&s, &t, None);
                            // Run from the crate's root, as `cargo test` is.
                            r.program = "cargo run --release --".to_string();
                            let mut settings = insta::Settings::clone_current();
                            settings.set_snapshot_path(snaps);
                            settings.set_prepend_module_to_snapshot(false);
                            settings.set_omit_expression(true);
                            settings.set_description(format!(
                                "{} × {} (seed {}): {}",
                                s.path, r.target, r.seed, s.description
                            ));
                            let snap = snapshot_name(&s.path, name);
                            let text = snapshot_text(&r);
                            let snapshot = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                settings.bind(|| insta::assert_snapshot!(snap, text));
                            }));
                            if r.unexpected {
                                return Err(Failed::from(render_failure(&r)));
                            }
                            snapshot.map_err(|_| {
                                Failed::from(format!(
                                    "trace snapshot changed for {} × {}; review the diff above, then accept or fix\n  reproduce: {}",
                                    s.path,
                                    r.target,
                                    r.reproduce()
                                ))
                            })
                        },
                    ));
                }
            }
        }
    }
    // A snapshot no trial writes any more (a renamed scenario, a target that stopped
    // applying) would sit there unreviewed forever: list it as a failure.
    let snaps = root.join("snapshots");
    trials.push(Trial::test("snapshots-without-a-trial", move || {
        let mut orphans: Vec<String> = std::fs::read_dir(&snaps)
            .map_err(|e| Failed::from(format!("cannot list {}: {e}", snaps.display())))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".snap") && !expected_snaps.contains(n))
            .collect();
        orphans.sort();
        if orphans.is_empty() {
            Ok(())
        } else {
            Err(Failed::from(format!(
                "{} snapshot(s) under snapshots/ belong to no scenario × target trial; delete them if the scenario or target is gone:\n  {}",
                orphans.len(),
                orphans.join("\n  ")
            )))
        }
    }));
    libtest_mimic::run(&args, trials).exit();
}
