//! Scenario files: loading in two passes.
//!
//! ```text
//!  file.toml ──toml + serde (raw.rs, deny_unknown_fields, kebab-case)──▶ RawScenario
//!            ──validate (validate.rs: presets, overrides, checks, ranges)──▶ Scenario
//!  errors at either pass ──▶ ScenarioError { file, line, column, key path, expected, hint }
//! ```
//!
//! Pass 1 gets its line and column from the TOML deserializer's span and its key path from
//! `serde_path_to_error`; pass 2 reads both off the [`toml::Spanned`] raw values it checks.
//! [`discover`] finds scenario files, [`load`] reads one, [`parse`] does the work.

pub mod error;
mod explain;
pub mod model;

pub use explain::{explain, explain_json};
pub(crate) mod raw;
pub(crate) mod validate;

pub use error::ScenarioError;
pub use model::*;

use crate::intermediary::preset::{self, Preset};
use std::path::{Path, PathBuf};

/// Parses and validates one scenario. `file` is the path to show in errors and becomes
/// [`Scenario::path`].
pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    parse_with_presets(file, text, &preset::all())
}

/// [`parse`] against an explicit preset list (tests, tools).
pub fn parse_with_presets(
    file: &str,
    text: &str,
    presets: &[Preset],
) -> Result<Scenario, ScenarioError> {
    let raw = parse_raw(file, text)?;
    validate::validate(file, text, raw, presets)
}

/// Pass 1: TOML syntax and the shape of every key.
fn parse_raw(file: &str, text: &str) -> Result<raw::RawScenario, ScenarioError> {
    let de = toml::Deserializer::parse(text).map_err(|e| {
        ScenarioError::at(
            file,
            text,
            e.span().map_or(0, |s| s.start),
            "",
            syntax_message(e.message()),
        )
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key_path = key_path(e.path());
        let inner = e.into_inner();
        let (message, hint) = error::humanize_serde_message(inner.message().trim(), &key_path);
        ScenarioError::at(
            file,
            text,
            inner.span().map_or(0, |s| s.start),
            key_path,
            message,
        )
        .with_hint_opt(hint)
    })
}

/// A TOML syntax error's message, on one line, saying what was expected.
fn syntax_message(message: &str) -> String {
    let message = message.trim().replace('\n', "; ");
    if message.contains("expected") {
        format!("TOML syntax: {message}")
    } else {
        format!("TOML syntax: {message}; expected valid TOML (see toml.io)")
    }
}

/// Renders a serde path as the file's key path (`intermediary[0].idle-timeout.after`),
/// leaving out the private keys that `toml::Spanned` uses internally.
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if key.starts_with("$__") {
                    continue;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&error::key_segment(key));
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// Reads and parses one scenario file. An unreadable file is an error with line 0.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ScenarioError::whole_file(
            &file,
            format!("cannot read the file: {e}; expected a readable UTF-8 TOML file"),
        )
    })?;
    parse(&file, &text)
}

/// Finds scenario files: each path is a file (taken as is) or a directory searched
/// recursively for `*.toml` files. The result is sorted and free of duplicates; symbolic
/// links to directories are not followed. A missing path is an error.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| {
            ScenarioError::whole_file(
                &path.display().to_string(),
                format!(
                    "cannot open: {e}; expected a scenario file or a directory of *.toml files"
                ),
            )
        })?;
        if meta.is_dir() {
            walk(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ScenarioError> {
    let unreadable = |e: std::io::Error| {
        ScenarioError::whole_file(
            &dir.display().to_string(),
            format!("cannot list the directory: {e}; expected a readable directory"),
        )
    };
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let path = entry.path();
        let kind = entry.file_type().map_err(unreadable)?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "toml")
            && std::fs::metadata(&path).is_ok_and(|m| m.is_file())
        {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
