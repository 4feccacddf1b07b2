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
    let _ = writeln!(
        o,
        "  keepalive {ka} ({:?}), first byte after {}{}",
        s.server.keepalive_frame,
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
            "  at {}: event {:?} data {:?}",
            span(e.at),
            e.event,
            e.data
        );
    }
    let _ = writeln!(o, "\nclient:");
    for st in &s.client.steps {
        let _ = writeln!(o, "  at {}: {:?}", span(st.at), st.action);
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
            "  {}",
            serde_json::to_string(e).unwrap_or_else(|_| e.id().into())
        );
    }
    for (t, checks) in &s.expect_fail {
        let _ = writeln!(o, "  {t} is expected to fail: {}", checks.join(", "));
        if let Some(r) = s.expect_fail_reasons.get(t) {
            let _ = writeln!(o, "    because {r}");
        }
    }
    let _ = writeln!(
        o,
        "\nresolved (JSON):\n{}",
        serde_json::to_string_pretty(s).unwrap_or_default()
    );
    o
}
