//! Reports: verdicts of scenario × target runs, matched against expectations, rendered as
//! text, JSON, JUnit or HTML pages.
//!
//! ```text
//!  Scenario + target name + RunOutput ──evaluate──▶ RunResult (checks, expected_fail, unexpected)
//!  [RunResult] ──▶ Report { seed, results, summary } ──▶ text | json | junit | html
//! ```
//!
//! An outcome is *expected* when every check the scenario lists for the target in
//! `[expect-fail."TARGET"]` fails and every other check does not fail. Anything else —
//! including an expected failure that now passes (a stale expectation) or a simulation
//! error — is *unexpected* and makes `middlebox run` exit 1.

mod file_name;
pub mod html;
mod junit;
mod text;

pub use file_name::{trace_file_name, NAME_MAX};
pub use html::{render_html, render_index, render_run_page, HtmlFile};
pub use junit::render_junit;
pub use text::{count, render_failure, render_matrix, render_text, WIDTH};

use crate::check::{CheckSpec, Verdict};
use crate::scenario::Scenario;
use crate::sim::RunOutput;
use crate::trace::Trace;
use serde::{Deserialize, Serialize};

/// One check's outcome within a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check's stable id (`keepalive.cadence`).
    pub id: String,
    /// What the check concluded.
    pub verdict: Verdict,
    /// The scenario declares this check a known failure for this target.
    pub expected_fail: bool,
    /// The virtual instant the verdict is about, as `HH:MM:SS.mmm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// One sentence: what held, or what happened instead.
    pub message: String,
    /// Where a known failure outside the scenario file declares this check's failure: the
    /// `--expect` baseline's file and line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_by: Option<String>,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultVerdict {
    /// No check failed and the run finished.
    Pass,
    /// A check failed, or the run itself failed ([`RunResult::error`]).
    Fail,
}

/// One scenario run against one target.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunResult {
    /// The scenario's path.
    pub scenario: String,
    /// The target's name.
    pub target: String,
    /// The seed the run used.
    pub seed: u64,
    /// Pass or fail, expected or not (see [`RunResult::unexpected`]).
    pub verdict: ResultVerdict,
    /// The scenario declares known failures for this target.
    pub expected_fail: bool,
    /// Some outcome differs from what the scenario expects.
    pub unexpected: bool,
    /// The simulation's own error (a host failed, or the run hung).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Every check judged, listed and implicit, in the scenario's order.
    pub checks: Vec<CheckResult>,
    /// Everything the run recorded.
    #[serde(skip)]
    pub trace: Trace,
    /// Command-line options the run was made with (repeated by [`RunResult::reproduce`]).
    #[serde(skip)]
    pub options: Vec<String>,
    /// The scenario's `description` (shown on the HTML report's run page).
    #[serde(skip)]
    pub description: String,
    /// The scenario's `cites` (shown on the HTML report's run page).
    #[serde(skip)]
    pub cites: Option<String>,
    /// The scenario's virtual run time (the end of the HTML report's timeline).
    #[serde(skip)]
    pub duration: std::time::Duration,
    /// How the reproduce line invokes middlebox, as shell words: `middlebox` (on `PATH`),
    /// the path of the program that made the run when it is not on `PATH`
    /// (`target/release/middlebox`), or `cargo run --release --` in the scenario harness.
    #[serde(skip, default = "default_program")]
    pub program: String,
}

/// The program a reproduce line names by default.
fn default_program() -> String {
    "middlebox".to_string()
}

impl RunResult {
    /// The exact command that reproduces this result.
    pub fn reproduce(&self) -> String {
        let mut cmd = format!(
            "{} run {} --target {} --seed {}",
            self.program,
            shell_word(&self.scenario),
            shell_word(&self.target),
            self.seed
        );
        for o in &self.options {
            cmd.push(' ');
            cmd.push_str(&shell_word(o));
        }
        cmd
    }
}

/// `w` as one shell word: as is when it is plain, else single-quoted.
pub fn shell_word(w: &str) -> String {
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=+,".contains(c));
    if plain {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

/// Evaluates every expectation of `scenario` over a run's trace.
pub fn evaluate(scenario: &Scenario, target: &str, seed: u64, out: RunOutput) -> RunResult {
    let known: &[String] = scenario
        .expect_fail
        .get(target)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    // The implicit checks run on every scenario; unless the file lists one, it is reported
    // only when it fails (a pass would add a line to every report and snapshot).
    let implicit: Vec<CheckSpec> = crate::check::implicit(scenario.client.tool_calls())
        .into_iter()
        .filter(|c| !scenario.expects.iter().any(|e| e.id() == c.id()))
        .collect();
    let listed = scenario.expects.len();
    // A run the harness stopped is judged up to the stop: what failed until then fails, and
    // a pass that needed more of the run is unobservable.
    let stopped = out.trace.stopped_at();
    let end = stopped.unwrap_or(scenario.duration);
    let checks: Vec<CheckResult> = scenario
        .expects
        .iter()
        .chain(implicit.iter())
        .enumerate()
        .filter_map(|(i, spec)| {
            let mut o = spec.evaluate(&out.trace, end);
            if let Some(at) = stopped {
                o = crate::check::judge_stopped(spec, o, at, scenario.duration);
            }
            // (shown too when the file expects this target to fail it: a stale expectation)
            if i >= listed && o.verdict != Verdict::Fail && !known.iter().any(|k| k == spec.id()) {
                return None;
            }
            Some(CheckResult {
                expected_fail: known.iter().any(|k| k == spec.id()),
                id: o.id,
                verdict: o.verdict,
                at: o.at.map(crate::time::stamp),
                message: o.message,
                expected_by: scenario
                    .expected_by
                    .get(target)
                    .and_then(|m| m.get(spec.id()))
                    .cloned(),
            })
        })
        .collect();
    let mut out = out;
    if out.error.is_none() {
        out.error = refusals(&out.trace);
    }
    let failed = out.error.is_some() || checks.iter().any(|c| c.verdict == Verdict::Fail);
    // The stall guard's stop is the failure `determinism.wall-clock` names: where the file
    // expects that failure of this target, the stop is expected too (any other error is not).
    // (A stop by the byte budget is no wall-clock sign: it is never expected.)
    let stop_expected = out.trace.stop().map(|(_, g)| g) == Some(crate::trace::StopGuard::Stall)
        && checks.iter().any(|c| {
            c.id == crate::check::determinism_wall_clock::ID
                && c.verdict == Verdict::Fail
                && c.expected_fail
        });
    let unexpected =
        (out.error.is_some() && !stop_expected) || checks.iter().any(|c| !c.as_expected());
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
        options: scenario.cli_options.clone(),
        description: scenario.description.clone(),
        cites: scenario.cites.clone(),
        duration: scenario.duration,
        program: default_program(),
    }
}

/// The run's error when the implementation refused a scheduled notification (the scenario
/// did not run as written): each refusal with the implementation's reason.
fn refusals(trace: &Trace) -> Option<String> {
    let said: Vec<String> = trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            crate::trace::EventKind::NotificationRefused {
                method,
                session,
                reason,
            } => Some(format!(
                "{method} at {}{}: {reason}",
                crate::time::stamp(e.at),
                session
                    .as_ref()
                    .map(|s| format!(" (session {s})"))
                    .unwrap_or_default()
            )),
            _ => None,
        })
        .collect();
    (!said.is_empty()).then(|| {
        format!(
            "the implementation refused {} scheduled notification{}: {}",
            said.len(),
            if said.len() == 1 { "" } else { "s" },
            said.join("; ")
        )
    })
}

/// Counts over a report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Runs that passed.
    pub pass: usize,
    /// Runs that failed, as expected or not.
    pub fail: usize,
    /// Runs with an outcome the scenario does not expect (the ones that fail CI).
    pub unexpected: usize,
}

/// Everything one `middlebox run` produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// The `--seed` given, if any (each result carries the seed it ran with).
    pub seed: Option<u64>,
    /// Every run, in input order.
    pub results: Vec<RunResult>,
    /// Counts over `results`.
    pub summary: Summary,
}

impl Report {
    /// The report of `results`, with its summary counted.
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

    /// Runs that failed as the scenarios expect.
    pub fn expected_failures(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.verdict == ResultVerdict::Fail && !r.unexpected)
            .count()
    }

    /// The targets and the scenarios of the results, each in the order it first appears.
    pub fn axes(&self) -> (Vec<&str>, Vec<&str>) {
        let mut targets: Vec<&str> = Vec::new();
        let mut scenarios: Vec<&str> = Vec::new();
        for r in &self.results {
            if !targets.contains(&r.target.as_str()) {
                targets.push(&r.target);
            }
            if !scenarios.contains(&r.scenario.as_str()) {
                scenarios.push(&r.scenario);
            }
        }
        (targets, scenarios)
    }

    /// Pretty JSON, stable order.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    /// A report read back from [`Self::to_json`]'s text (traces are not in it).
    pub fn from_json(text: &str) -> Result<Self, String> {
        let r: Report = serde_json::from_str(text).map_err(|e| {
            format!("not a middlebox report.json ({e}); expected the file `middlebox run --out DIR` writes")
        })?;
        Ok(Self::new(r.seed, r.results))
    }

    /// The reports of several shards of one run as one: their results in the order given.
    /// A scenario × target pair found in two reports is an error (the shards overlap).
    pub fn merge(reports: Vec<Report>) -> Result<Self, String> {
        let seed = reports.first().and_then(|r| r.seed);
        let same_seed = reports.iter().all(|r| r.seed == seed);
        let mut results: Vec<RunResult> = Vec::new();
        for r in reports {
            for x in r.results {
                if results
                    .iter()
                    .any(|y| y.scenario == x.scenario && y.target == x.target)
                {
                    return Err(format!(
                        "{} × {} is in two reports; expected the reports of disjoint shards (--shard K/N)",
                        x.scenario, x.target
                    ));
                }
                results.push(x);
            }
        }
        Ok(Self::new(if same_seed { seed } else { None }, results))
    }
}

#[cfg(test)]
mod tests;
