//! Baselines: known failures declared outside the scenario files (`middlebox run --expect FILE`).
//!
//! ```text
//!  baseline.toml ──parse (target → scenario file → check id = reason)──▶ Baseline
//!       └─ apply(scenarios): each entry joins its scenario's expect-fail list for the target,
//!          remembering where it was declared (Scenario::expected_by) so that an entry that
//!          no longer fails is reported as stale, naming FILE:LINE
//! ```
//!
//! The file, in the repository of the implementation under test:
//!
//! ```toml
//! ["node:server.mjs"."scenarios/keepalive/nginx-30m.toml"]
//! "keepalive.cadence" = "no keepalive yet: the proxy cuts the idle stream at 60 s"
//! "stream.survives" = "same cause"
//! ```
//!
//! Scenario paths are as `middlebox run` prints them (relative to the working directory).
//! Every entry names a known target, an existing scenario file and one of its checks, with a
//! reason; anything else is a located error. An entry whose target or scenario is not in the
//! run is not judged (the run says how many).

use crate::scenario::{Scenario, ScenarioError};
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

type Raw = BTreeMap<
    Spanned<String>,
    BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<String>>>,
>;

/// One known failure: `target` fails `check` on `scenario`, because `reason`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaselineEntry {
    /// The target's name, as `--target` takes it.
    pub target: String,
    /// The scenario file, as written in the baseline.
    pub scenario: String,
    /// The check's id.
    pub check: String,
    /// Why it fails.
    pub reason: String,
    /// `FILE:LINE` of the entry.
    pub at: String,
    /// Byte offset of the scenario key (for errors found when applying).
    offset: usize,
}

/// A parsed baseline file.
#[derive(Clone, Debug)]
pub struct Baseline {
    /// The file's path, as given.
    pub file: String,
    text: String,
    /// Every entry, in file order of targets, then scenarios, then checks (sorted).
    pub entries: Vec<BaselineEntry>,
}

impl Baseline {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ScenarioError::whole_file(&file, format!("cannot read the baseline: {e}"))
        })?;
        Self::parse(&file, &text)
    }

    /// Parses a baseline's text; `file` is the path shown in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, ScenarioError> {
        let raw: Raw = toml::from_str(text).map_err(|e| {
            ScenarioError::at(
                file,
                text,
                e.span().map_or(0, |s| s.start),
                "",
                format!(
                    "{}; expected tables [\"TARGET\".\"SCENARIO\"] of `\"CHECK\" = \"REASON\"`",
                    e.message().trim().replace('\n', "; ")
                ),
            )
            .with_hint("e.g. [\"node:server.mjs\".\"scenarios/keepalive/nginx-30m.toml\"] then \"keepalive.cadence\" = \"no keepalive yet\"")
        })?;
        let mut entries = Vec::new();
        for (target, scenarios) in raw {
            let t = target.get_ref();
            if crate::targets::get(t).is_none() {
                return Err(ScenarioError::at(
                    file,
                    text,
                    target.span().start,
                    t.clone(),
                    format!("unknown target `{t}`; expected a name `middlebox targets` lists, or exec:CMD, node:PATH, python:MODULE:APP"),
                ));
            }
            for (scenario, checks) in scenarios {
                let path = format!("{t}.{}", scenario.get_ref());
                if checks.is_empty() {
                    return Err(ScenarioError::at(
                        file,
                        text,
                        scenario.span().start,
                        path,
                        "no check listed; expected `\"CHECK\" = \"REASON\"` lines",
                    ));
                }
                for (check, reason) in checks {
                    if reason.get_ref().trim().is_empty() {
                        return Err(ScenarioError::at(
                            file,
                            text,
                            reason.span().start,
                            format!("{path}.{}", check.get_ref()),
                            "empty reason; expected why the target fails this check",
                        ));
                    }
                    let (line, _) = crate::scenario::error::line_column(text, check.span().start);
                    entries.push(BaselineEntry {
                        target: t.clone(),
                        scenario: scenario.get_ref().clone(),
                        check: check.get_ref().clone(),
                        reason: reason.get_ref().clone(),
                        at: format!("{file}:{line}"),
                        offset: scenario.span().start,
                    });
                }
            }
        }
        Ok(Self {
            file: file.to_string(),
            text: text.to_string(),
            entries,
        })
    }

    /// Adds every entry to its scenario's expectations; returns how many entries were not
    /// judged (their target is not in `targets`, or their scenario is not in `scenarios`).
    /// An entry naming a scenario file that does not exist, or a check the scenario does not
    /// judge, is an error.
    pub fn apply(
        &self,
        scenarios: &mut [Scenario],
        targets: &[&str],
    ) -> Result<usize, ScenarioError> {
        let mut not_judged = 0;
        for e in &self.entries {
            let err = |message: String| {
                ScenarioError::at(
                    &self.file,
                    &self.text,
                    e.offset,
                    format!("{}.{}", e.target, e.scenario),
                    message,
                )
            };
            let wanted = Path::new(&e.scenario);
            let Ok(wanted) = wanted.canonicalize() else {
                return Err(err(format!(
                    "no scenario file `{}`; expected a path as `middlebox run` prints it (relative to the working directory)",
                    e.scenario
                )));
            };
            let found = scenarios
                .iter_mut()
                .find(|s| Path::new(&s.path).canonicalize().is_ok_and(|p| p == wanted));
            let Some(s) = found else {
                not_judged += 1;
                continue;
            };
            let implicit = crate::check::implicit(s.client.tool_calls());
            let known: Vec<&str> = s
                .expects
                .iter()
                .chain(implicit.iter())
                .map(|c| c.id())
                .collect();
            if !known.contains(&e.check.as_str()) {
                let mut list = known.clone();
                list.dedup();
                return Err(ScenarioError::at(
                    &self.file,
                    &self.text,
                    e.offset,
                    format!("{}.{}.{}", e.target, e.scenario, e.check),
                    format!(
                        "`{}` is not a check of {}; expected one of: {}",
                        e.check,
                        s.path,
                        list.join(", ")
                    ),
                ));
            }
            if !targets.contains(&e.target.as_str()) {
                not_judged += 1;
                continue;
            }
            let list = s.expect_fail.entry(e.target.clone()).or_default();
            if !list.contains(&e.check) {
                list.push(e.check.clone());
            }
            s.expected_by
                .entry(e.target.clone())
                .or_default()
                .insert(e.check.clone(), e.at.clone());
            s.expect_fail_reasons
                .entry(e.target.clone())
                .or_insert_with(|| e.reason.clone());
        }
        Ok(not_judged)
    }
}

#[cfg(test)]
mod tests;
