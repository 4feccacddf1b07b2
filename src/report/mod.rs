//! Reports: verdicts of scenario × target runs, matched against expectations, rendered as
//! text, JSON or JUnit.
//!
//! ```text
//!  Scenario + target name + RunOutput ──evaluate──▶ RunResult (checks, expected_fail, unexpected)
//!  [RunResult] ──▶ Report { seed, results, summary } ──▶ text | json | junit
//! ```
//!
//! An outcome is *expected* when every check the scenario lists for the target in
//! `[expect-fail."TARGET"]` fails and every other check does not fail. Anything else —
//! including an expected failure that now passes (a stale expectation) or a simulation
//! error — is *unexpected* and makes `middlebox run` exit 1.

mod junit;
mod text;

pub use junit::render_junit;
pub use text::{render_failure, render_text};

use crate::check::Verdict;
use crate::scenario::Scenario;
use crate::sim::RunOutput;
use crate::trace::Trace;
use serde::Serialize;

/// One check's outcome within a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub id: String,
    pub verdict: Verdict,
    /// The scenario declares this check a known failure for this target.
    pub expected_fail: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    pub message: String,
}

impl CheckResult {
    /// Whether the verdict is what the scenario expects.
    pub fn as_expected(&self) -> bool {
        if self.expected_fail {
            self.verdict == Verdict::Fail
        } else {
            self.verdict != Verdict::Fail
        }
    }
}

/// Overall verdict of one scenario × target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultVerdict {
    Pass,
    Fail,
}

/// One scenario run against one target.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    pub scenario: String,
    pub target: String,
    pub seed: u64,
    pub verdict: ResultVerdict,
    /// The scenario declares known failures for this target.
    pub expected_fail: bool,
    /// Some outcome differs from what the scenario expects.
    pub unexpected: bool,
    /// The simulation's own error (a host failed, or the run hung).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub checks: Vec<CheckResult>,
    #[serde(skip)]
    pub trace: Trace,
}

impl RunResult {
    /// The exact command that reproduces this result.
    pub fn reproduce(&self) -> String {
        format!(
            "middlebox run {} --target {} --seed {}",
            self.scenario, self.target, self.seed
        )
    }
}

/// Evaluates every expectation of `scenario` over a run's trace.
pub fn evaluate(scenario: &Scenario, target: &str, seed: u64, out: RunOutput) -> RunResult {
    let known: &[String] = scenario
        .expect_fail
        .get(target)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let checks: Vec<CheckResult> = scenario
        .expects
        .iter()
        .map(|spec| {
            let o = spec.evaluate(&out.trace, scenario.duration);
            CheckResult {
                expected_fail: known.iter().any(|k| k == spec.id()),
                id: o.id,
                verdict: o.verdict,
                at: o.at.map(crate::time::stamp),
                message: o.message,
            }
        })
        .collect();
    let failed = out.error.is_some() || checks.iter().any(|c| c.verdict == Verdict::Fail);
    let unexpected = out.error.is_some() || checks.iter().any(|c| !c.as_expected());
    RunResult {
        scenario: scenario.path.clone(),
        target: target.to_string(),
        seed,
        verdict: if failed {
            ResultVerdict::Fail
        } else {
            ResultVerdict::Pass
        },
        expected_fail: !known.is_empty(),
        unexpected,
        error: out.error,
        checks,
        trace: out.trace,
    }
}

/// Counts over a report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub pass: usize,
    pub fail: usize,
    pub unexpected: usize,
}

/// Everything one `middlebox run` produced.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The `--seed` given, if any (each result carries the seed it ran with).
    pub seed: Option<u64>,
    pub results: Vec<RunResult>,
    pub summary: Summary,
}

impl Report {
    pub fn new(seed: Option<u64>, results: Vec<RunResult>) -> Self {
        let summary = Summary {
            pass: results
                .iter()
                .filter(|r| r.verdict == ResultVerdict::Pass)
                .count(),
            fail: results
                .iter()
                .filter(|r| r.verdict == ResultVerdict::Fail)
                .count(),
            unexpected: results.iter().filter(|r| r.unexpected).count(),
        };
        Self {
            seed,
            results,
            summary,
        }
    }

    /// Pretty JSON, stable order.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }
}
