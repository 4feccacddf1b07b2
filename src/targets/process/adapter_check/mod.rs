//! `middlebox adapter-check`: drives any adapter through the clock-control protocol
//! (`harness/CLOCK-PROTOCOL.md`) and reports, rule by rule, where it deviates.
//!
//! ```text
//!  Setup: CMD (argv), impl@version, options
//!    │
//!    ▼  sequence.rs: a fixed, deterministic list of exchanges, two runs of the adapter
//!  run 1  a garbage line · sync before start · start v 2 · start (two scheduled
//!         notifications) · sync to 0 · sync to 20 s · a GET on its port delivered by a sync,
//!         the response read back (exactly `written` bytes) · eof · an MCP session's GET
//!         stream (stream.rs) and two periods of its keepalive · shutdown · exit
//!  run 2  start with an unknown option · stdin closed · exit
//!    │      session.rs: one line out, one line back, every wait bounded by real time
//!    ▼      state.rs: what a state reply must look like
//!  Ledger: per rule (rules.rs) held / broken (what was seen instead) / not reached
//!    ▼
//!  Report::render: one line per rule, the reproduction first when one broke
//! ```
//!
//! A rule is held only when an exchange judged it and nothing broke it; a rule no exchange
//! reached (the run stopped earlier: the adapter refused `start`, exited, hung) is "not
//! reached", and the check fails. A hung adapter breaks the rule of the reply it did not give
//! (after the protocol's own watchdog: 60 s for `start`, 20 s for the rest), never hangs the
//! check; garbage on stdout breaks `lines.json`, and the check reads on.

mod rules;
mod sequence;
mod session;
mod state;
mod stream;

pub use rules::{Rule, RULES};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// What to check: how to start the adapter and what `start` asks it to build.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The program (found on `PATH` like a shell would) and its arguments, run as they are,
    /// in the current folder.
    pub program: PathBuf,
    /// The program's arguments.
    pub args: Vec<String>,
    /// `impl` and `version` of `start` (the adapter's own names).
    pub implementation: String,
    /// `version` of `start`.
    pub version: String,
    /// `options` of `start` (a JSON object; `{}` for none).
    pub options: serde_json::Value,
    /// How long the check waits for each answer.
    pub limits: Limits,
}

/// Real-time limits of the check's waits (the protocol's watchdogs by default).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The reply to `start`.
    pub start: Duration,
    /// Any other reply.
    pub reply: Duration,
    /// The adapter's exit after `shutdown` or after its stdin closed.
    pub exit: Duration,
    /// The bytes a reply says were written.
    pub read: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            start: Duration::from_secs(60),
            reply: Duration::from_secs(20),
            exit: Duration::from_secs(5),
            read: Duration::from_secs(10),
        }
    }
}

/// How one rule came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Judged, and it held every time.
    Held,
    /// Broken: what was seen instead (the first time).
    Broken(String),
    /// No exchange judged it (why).
    NotReached(String),
}

/// One rule's outcome.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The rule.
    pub rule: &'static Rule,
    /// How it came out.
    pub outcome: Outcome,
}

/// The outcome of every rule, in [`RULES`] order, and the adapter's last stderr lines.
#[derive(Debug, Clone)]
pub struct Report {
    /// One per rule, in [`RULES`] order.
    pub findings: Vec<Finding>,
    /// The last lines the adapter wrote on stderr.
    pub stderr_tail: Vec<String>,
}

impl Report {
    /// Whether every rule held.
    pub fn passed(&self) -> bool {
        self.findings.iter().all(|f| f.outcome == Outcome::Held)
    }

    /// The outcome of rule `id`.
    pub fn outcome(&self, id: &str) -> Option<&Outcome> {
        self.findings
            .iter()
            .find(|f| f.rule.id == id)
            .map(|f| &f.outcome)
    }

    /// One line per rule (`ok`, `FAIL` with what was seen, `--` not reached), a count, and the adapter's stderr tail when a rule did not hold; `reproduce` (the command line)
    /// comes first when one did not.
    pub fn render(&self, reproduce: &str) -> String {
        let mut out = String::new();
        if !self.passed() {
            out.push_str(&format!(
                "adapter-check FAILED; reproduce with: {reproduce}\n(MIDDLEBOX_PROTOCOL_LOG=1 prints every line exchanged; the rules: harness/CLOCK-PROTOCOL.md)\n"
            ));
        }
        let width = self
            .findings
            .iter()
            .map(|f| f.rule.id.len())
            .max()
            .unwrap_or(0);
        let (mut held, mut broken, mut missed) = (0, 0, 0);
        // Why rules were not reached: said in full once, then "as above".
        let mut reasons: Vec<&str> = Vec::new();
        for f in &self.findings {
            let (tag, detail) = match &f.outcome {
                Outcome::Held => {
                    held += 1;
                    ("ok  ", None)
                }
                Outcome::Broken(seen) => {
                    broken += 1;
                    ("FAIL", Some(format!("seen: {seen}")))
                }
                Outcome::NotReached(why) => {
                    missed += 1;
                    if reasons.last() == Some(&why.as_str()) {
                        ("--  ", Some("not reached: as above".to_string()))
                    } else {
                        reasons.push(why);
                        ("--  ", Some(format!("not reached: {why}")))
                    }
                }
            };
            out.push_str(&format!(
                "{tag} {:width$}  {}\n",
                f.rule.id, f.rule.statement
            ));
            if let Some(d) = detail {
                for (i, l) in d.lines().enumerate() {
                    let lead = if i == 0 { "" } else { "  " };
                    out.push_str(&format!("     {:width$}  {lead}{l}\n", ""));
                }
            }
        }
        out.push_str(&format!(
            "{} rules: {held} held, {broken} broken, {missed} not reached\n",
            self.findings.len()
        ));
        if !self.passed() && !self.stderr_tail.is_empty() {
            out.push_str("the adapter's last stderr lines:\n");
            for l in &self.stderr_tail {
                out.push_str(&format!("    {l}\n"));
            }
        }
        out
    }
}

/// Runs the check: starts the adapter (twice), drives it, judges every rule.
pub fn check(setup: &Setup) -> Report {
    let mut ledger = Ledger::default();
    let stderr_tail = sequence::run(setup, &mut ledger);
    ledger.into_report(stderr_tail)
}

/// What each rule came to so far: `None` judged and held, `Some(seen)` broken.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    judged: BTreeMap<&'static str, Option<String>>,
    /// Why the sequence stopped early (the reason of every rule not reached).
    stopped: Option<String>,
    /// Rules a step could not judge, and why (before any stop).
    skipped: BTreeMap<&'static str, String>,
}

impl Ledger {
    /// Rule `id` held this time (a rule broken before stays broken).
    pub(crate) fn held(&mut self, id: &'static str) {
        rules::rule(id);
        self.judged.entry(id).or_insert(None);
    }

    /// Rule `id` was broken: `seen` is what the adapter did instead (the first one is kept).
    pub(crate) fn broke(&mut self, id: &'static str, seen: impl Into<String>) {
        rules::rule(id);
        let e = self.judged.entry(id).or_insert(None);
        if e.is_none() {
            *e = Some(seen.into());
        }
    }

    /// Judges rule `id`: held when `ok`, else broken with `seen()`.
    pub(crate) fn judge(&mut self, id: &'static str, ok: bool, seen: impl FnOnce() -> String) {
        if ok {
            self.held(id)
        } else {
            self.broke(id, seen())
        }
    }

    /// Whether rule `id` has been broken.
    pub(crate) fn is_broken(&self, id: &str) -> bool {
        matches!(self.judged.get(id), Some(Some(_)))
    }

    /// Rule `id` cannot be judged by this adapter's run, for `why` (unless it is judged
    /// after all).
    pub(crate) fn skip(&mut self, id: &'static str, why: impl Into<String>) {
        rules::rule(id);
        self.skipped.entry(id).or_insert_with(|| why.into());
    }

    /// The sequence stops here: rules not judged yet are not reached, for `why`.
    pub(crate) fn stop(&mut self, why: impl Into<String>) {
        if self.stopped.is_none() {
            self.stopped = Some(why.into());
        }
    }

    fn into_report(self, stderr_tail: Vec<String>) -> Report {
        let why = self
            .stopped
            .unwrap_or_else(|| "no exchange of the sequence judged it".into());
        let findings = RULES
            .iter()
            .map(|rule| Finding {
                rule,
                outcome: match self.judged.get(rule.id) {
                    Some(None) => Outcome::Held,
                    Some(Some(seen)) => Outcome::Broken(seen.clone()),
                    None => Outcome::NotReached(self.skipped.get(rule.id).unwrap_or(&why).clone()),
                },
            })
            .collect();
        Report {
            findings,
            stderr_tail,
        }
    }
}

#[cfg(test)]
mod tests;
