//! The live proxy's command-line overrides, resolved through the scenario loader.
//!
//! ```text
//!  --preset nginx --idle-timeout 2s
//!    ──▶ [[intermediary]] preset = "nginx"  idle-timeout = { after = "2s" }   (a scenario text)
//!    ──▶ crate::scenario::parse (the same rules and errors as a scenario file)
//!    ──▶ IntermediaryConfig (preset merged with the overrides)
//! ```
//!
//! Going through the scenario loader keeps one set of rules: a value a scenario file would
//! refuse is refused here, with the loader's message, named by its option.

use crate::intermediary::{preset, IntermediaryConfig};

/// The behavior overrides of `middlebox proxy`, as the user typed them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--idle-timeout SPAN|off`.
    pub idle_timeout: Option<String>,
    /// `--first-byte-timeout SPAN|off`.
    pub first_byte_timeout: Option<String>,
    /// `--max-duration SPAN|off`.
    pub max_duration: Option<String>,
    /// `--buffering off|full|BYTES` (`BYTES`: hold until that many bytes are held).
    pub buffering: Option<String>,
}

/// The scenario keys the options map to, in option order: (option, key).
const KEYS: [(&str, &str); 4] = [
    ("--idle-timeout", "idle-timeout"),
    ("--first-byte-timeout", "first-byte-timeout"),
    ("--max-duration", "max-duration"),
    ("--buffering", "buffering"),
];

impl Overrides {
    fn values(&self) -> [Option<&String>; 4] {
        [
            self.idle_timeout.as_ref(),
            self.first_byte_timeout.as_ref(),
            self.max_duration.as_ref(),
            self.buffering.as_ref(),
        ]
    }
}

/// A TOML string literal of `s`. A JSON string is one: serde_json escapes only with `\"`,
/// `\\`, `\n`-style and `\uXXXX` escapes, all valid in a TOML basic string (the toml crate
/// is built here without its serializer).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The scenario value of one option: `"off"`, or the table the option stands for.
fn value(key: &str, v: &str) -> String {
    if v == "off" {
        return quoted("off");
    }
    match key {
        "buffering" if v == "full" => "{ mode = \"full\" }".into(),
        // A byte count stays a number when it is one, so the loader judges its range; else
        // it goes in as text and the loader says what it expected.
        "buffering" => match v.parse::<u64>() {
            Ok(n) => format!("{{ mode = \"threshold\", bytes = {n} }}"),
            Err(_) => format!("{{ mode = {} }}", quoted(v)),
        },
        _ => format!("{{ after = {} }}", quoted(v)),
    }
}

/// Resolves `preset` with `overrides` into the intermediary the proxy runs. Errors are one
/// line naming the option (or `--preset`), what was wrong and what was expected.
pub fn resolve(preset_name: &str, overrides: &Overrides) -> Result<IntermediaryConfig, String> {
    if preset::get(preset_name).is_none() {
        return Err(format!(
            "--preset {}: unknown preset; expected one of: {}",
            quoted(preset_name),
            preset::names().join(", ")
        ));
    }
    let mut text = format!(
        "description = \"middlebox proxy\"\nduration = \"1s\"\n\n[[intermediary]]\npreset = {}\n",
        quoted(preset_name)
    );
    for ((_, key), v) in KEYS.iter().zip(overrides.values()) {
        if let Some(v) = v {
            text.push_str(&format!("{key} = {}\n", value(key, v)));
        }
    }
    let scenario = crate::scenario::parse("<proxy options>", &text).map_err(|e| {
        let option = KEYS
            .iter()
            .zip(overrides.values())
            .find(|((_, key), _)| e.key_path.contains(key))
            .map(|((opt, _), v)| format!("{opt} {}", quoted(v.map_or("", |s| s))))
            .unwrap_or_else(|| format!("--preset {}", quoted(preset_name)));
        let hint = e.hint.map(|h| format!(" (hint: {h})")).unwrap_or_default();
        format!("{option}: {}{hint}", e.message)
    })?;
    scenario
        .intermediaries
        .into_iter()
        .next()
        .ok_or_else(|| "the proxy options resolved to no intermediary".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intermediary::BehaviorConfig;
    use std::time::Duration;

    #[test]
    fn idle_timeout_override_keeps_the_presets_actions() {
        let o = Overrides {
            idle_timeout: Some("2s".into()),
            ..Default::default()
        };
        let cfg = resolve("nginx", &o).expect("valid");
        assert_eq!(cfg.name, "nginx");
        let idle = cfg
            .behaviors
            .iter()
            .find_map(|b| match b {
                BehaviorConfig::IdleTimeout(c) => Some(c),
                _ => None,
            })
            .expect("nginx has an idle timeout");
        assert_eq!(idle.after, Duration::from_secs(2));
        assert_eq!(idle.action, crate::intermediary::CloseAction::Respond(504));
    }

    #[test]
    fn off_removes_a_behavior() {
        let o = Overrides {
            buffering: Some("off".into()),
            ..Default::default()
        };
        let cfg = resolve("nginx", &o).expect("valid");
        assert!(cfg.behaviors.iter().all(|b| b.kind() != "buffering"));
        assert!(cfg.behaviors.iter().any(|b| b.kind() == "idle-timeout"));
    }

    #[test]
    fn bad_values_name_their_option() {
        let o = Overrides {
            max_duration: Some("5 parsecs".into()),
            ..Default::default()
        };
        let e = resolve("nginx", &o).expect_err("invalid span");
        assert!(e.starts_with("--max-duration \"5 parsecs\": "), "{e}");
        assert!(e.contains("expected"), "{e}");
        let e = resolve("nginix", &Overrides::default()).expect_err("unknown preset");
        assert!(
            e.contains("--preset \"nginix\"") && e.contains("aws-alb"),
            "{e}"
        );
    }

    #[test]
    fn quoting_keeps_values_out_of_the_toml_structure() {
        let o = Overrides {
            idle_timeout: Some("2s\" }\nbuffering = \"off".into()),
            ..Default::default()
        };
        let e = resolve("nginx", &o).expect_err("not a span");
        assert!(e.starts_with("--idle-timeout "), "{e}");
    }
}
