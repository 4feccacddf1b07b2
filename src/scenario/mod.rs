//! Scenario files: loading in two passes.
//!
//! ```text
//!  file.toml ──toml + serde (raw.rs, deny_unknown_fields, kebab-case)──▶ RawScenario
//!            ──validate (validate.rs: presets, overrides, checks, ranges)──▶ Scenario
//!  errors at either pass ──▶ ScenarioError { file, line, column, key path, expected, hint }
//! ```

pub mod model;

pub use model::*;
