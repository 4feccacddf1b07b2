//! Presets: named, sourced configurations of real intermediaries. (Stub.)

use super::BehaviorConfig;

/// A named configuration of a real intermediary.
#[derive(Clone, Debug)]
pub struct Preset {
    /// Name used in scenario files (`preset = "nginx"`).
    pub name: &'static str,
    /// One line: what it models.
    pub summary: &'static str,
    /// Where the numbers come from (document, section).
    pub source: &'static str,
    /// The behavior stack.
    pub behaviors: Vec<BehaviorConfig>,
}

/// Every preset, in a stable order.
pub fn all() -> Vec<Preset> {
    Vec::new()
}

/// Looks a preset up by name.
pub fn get(name: &str) -> Option<Preset> {
    all().into_iter().find(|p| p.name == name)
}
