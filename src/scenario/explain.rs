//! `middlebox explain`: a scenario as the simulation will run it.

use super::Scenario;
use crate::time::span;
use std::fmt::Write;

/// Renders the resolved scenario: topology with every behavior, server, timeline, faults,
/// expectations; then the full resolved form as JSON.
pub fn explain(s: &Scenario) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}\n  {}", s.path, s.description);
    if let Some(c) = &s.cites {
        let _ = writeln!(o, "  cites: {c}");
    }
    let _ = writeln!(
        o,
        "  duration {}, tick {}, seed {}",
        span(s.duration),
        span(s.tick),
        s.seed.map_or("1 (default)".to_string(), |x| x.to_string())
    );
    let mut route = vec!["client".to_string()];
    route.extend(s.intermediaries.iter().map(|i| i.name.clone()));
    route.push("server".into());
    let _ = writeln!(o, "\ntopology: {}", route.join(" → "));
    for i in &s.intermediaries {
        let p = i
            .preset
            .as_ref()
            .map(|p| format!(" (preset {p})"))
            .unwrap_or_default();
        let _ = writeln!(o, "  {}{p}", i.name);
        if i.behaviors.is_empty() {
            let _ = writeln!(o, "    - plain relay");
        }
        for b in &i.behaviors {
            let _ = writeln!(o, "    - {}", b.build(0).summary());
        }
    }
    let _ = writeln!(o, "\nserver:");
    let ka = s.server.keepalive.map_or("off".to_string(), span);
    let mcp = s.uses_mcp();
    let ends = |e: &super::EndAfter| {
        if !mcp {
            format!(", ends each response after {}", span(e.after))
        } else {
            let kinds: Vec<&str> = e.streams.iter().map(|k| k.word()).collect();
            format!(
                ", ends each {} SSE response after {}",
                kinds.join("/"),
                span(e.after)
            )
        }
    };
    let frame = match &s.server.keepalive_frame {
        super::KeepaliveFrame::Comment { text } => {
            format!(
                "keepalive-frame = \"comment\", keepalive-comment = {}",
                quoted(text)
            )
        }
        super::KeepaliveFrame::NamedEvent { name } => {
            format!(
                "keepalive-frame = \"named-event\", keepalive-event = {}",
                quoted(name)
            )
        }
    };
    let _ = writeln!(
        o,
        "  keepalive = \"{ka}\", {frame}, first byte after {}{}",
        span(s.server.first_byte_delay),
        s.server.end_after.as_ref().map(ends).unwrap_or_default()
    );
    if mcp {
        let _ = writeln!(
            o,
            "  MCP {}: event store {}, retry {}, a GET with Last-Event-ID answered {}, sessions forgotten after {}",
            s.revision(),
            if s.server.event_store { "on" } else { "off" },
            s.server.retry.map_or("off".to_string(), span),
            s.server.resume.word(),
            s.server
                .session_idle_timeout
                .map_or("never (no idle timeout)".to_string(), |d| {
                    format!("{} without a request", span(d))
                })
        );
        for n in &s.server.notifications {
            let _ = writeln!(o, "  at {}: notification {}", span(n.at), n.method);
        }
    }
    for e in &s.server.events {
        let _ = writeln!(
            o,
            "  [[server.event]] {}",
            inline(&serde_json::to_value(e).unwrap_or_default())
        );
    }
    let _ = writeln!(o, "\nclient:");
    for st in &s.client.steps {
        let _ = writeln!(o, "  [[client.step]] {}", inline(&step_value(st)));
    }
    if !s.faults.is_empty() {
        let _ = writeln!(o, "\nfaults:");
        for f in &s.faults {
            let _ = writeln!(o, "  at {}: {}", span(f.at), f.kind);
        }
    }
    let _ = writeln!(o, "\nexpect:");
    for e in &s.expects {
        let _ = writeln!(
            o,
            "  [[expect]] {}",
            inline(&serde_json::to_value(e).unwrap_or_default())
        );
    }
    for (t, checks) in &s.expect_fail {
        let _ = writeln!(o, "  {t} is expected to fail: {}", checks.join(", "));
        if let Some(r) = s.expect_fail_reasons.get(t) {
            let _ = writeln!(o, "    because {r}");
        }
    }
    o
}

/// The scenario as resolved, as JSON (`middlebox explain --json`): every setting, defaults
/// filled in.
pub fn explain_json(s: &Scenario) -> String {
    serde_json::to_string_pretty(s).unwrap_or_default()
}

/// A client step as the file writes it: `at`, `do`, then that kind's keys.
fn step_value(st: &super::ClientStep) -> serde_json::Value {
    let mut v = serde_json::Map::new();
    v.insert("at".into(), serde_json::Value::String(span(st.at)));
    if let Ok(serde_json::Value::Object(action)) = serde_json::to_value(&st.action) {
        for (k, x) in action {
            // The model's `duration` of a tool call is the file's `tool-duration`.
            let k = if k == "duration" {
                "tool-duration".to_string()
            } else {
                k
            };
            v.insert(k, x);
        }
    }
    serde_json::Value::Object(v)
}

/// A string as a TOML basic string. JSON's string escapes (`\"`, `\\`, `\n`, `\uXXXX`, ...)
/// are all TOML basic-string escapes, so serde_json writes it (the toml crate's writer is a
/// feature this crate leaves off).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// An object's keys as TOML `key = value` pairs in the file's vocabulary: kebab-case keys,
/// unset (null) ones left out, `do` and `check` first.
fn inline(v: &serde_json::Value) -> String {
    let serde_json::Value::Object(map) = v else {
        return v.to_string();
    };
    let mut keys: Vec<&String> = map.keys().collect();
    let first = |k: &str| !matches!(k, "at" | "do" | "check");
    keys.sort_by_key(|k| (first(k), ["at", "do", "check"].iter().position(|f| f == k)));
    let pairs: Vec<String> = keys
        .into_iter()
        .filter(|k| !map[*k].is_null())
        .map(|k| {
            let value = match &map[k] {
                serde_json::Value::String(t) => quoted(t),
                other => other.to_string(),
            };
            format!("{} = {value}", k.replace('_', "-"))
        })
        .collect();
    pairs.join(", ")
}

#[cfg(test)]
mod tests;
