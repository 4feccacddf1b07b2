use super::*;
use crate::check::Verdict;
use crate::sim::runner::{run_on, Engine};
use crate::trace::{EventKind, Trace};

/// Ten seconds: over before rmcp's first keepalive (15 s), so nothing reads the real clock.
const SHORT: &str = r#"
description = "initialize, then a 3 s tool call with progress every second"
protocol = ["2025-11-25"]
duration = "10s"

[[intermediary]]
preset = "nginx"

[[client.step]]
at = "0s"
do = "initialize"

[[client.step]]
at = "1s"
do = "call-tool"
tool-duration = "3s"
progress-every = "1s"
"#;

fn run(hosts: Hosts, text: &str, engine: Engine) -> (Trace, Option<String>) {
    let s = crate::scenario::parse("rmcp.toml", text).expect("valid scenario");
    let out = run_on(
        engine,
        &s,
        build_with(&s.server, hosts),
        crate::reference::client::build(),
        1,
    );
    (out.trace, out.error)
}

fn statuses(t: &Trace) -> Vec<u16> {
    t.events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ResponseStarted { status, .. } if e.host == "server" => Some(*status),
            _ => None,
        })
        .collect()
}

#[test]
fn rmcp_default_allowed_hosts_refuse_the_simulated_host_names_with_403() {
    let (t, _) = run(Hosts::RmcpDefault, SHORT, Engine::Events);
    // The client's `Host` is `nginx` (its first hop); nginx forwards it; rmcp refuses.
    assert_eq!(statuses(&t).first(), Some(&403), "{t:?}");
    assert!(!t
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::SessionEstablished { .. })));
}

#[test]
fn the_sleep_tool_streams_progress_then_its_result_in_session_s1() {
    let (t, error) = run(Hosts::Route, SHORT, Engine::Events);
    assert_eq!(error, None);
    let sessions: Vec<&str> = t
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::SessionEstablished { session } => Some(session.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(sessions, ["s1"]);
    let delivered: Vec<(String, String)> = t
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MessageDelivered { message, .. } => {
                Some((crate::time::stamp(e.at), message.clone()))
            }
            _ => None,
        })
        .collect();
    let progress: Vec<&str> = delivered
        .iter()
        .filter(|(_, m)| m == "notifications/progress")
        .map(|(at, _)| at.as_str())
        .collect();
    assert_eq!(progress, ["00:00:02.006", "00:00:03.006"], "{delivered:?}");
    assert!(
        delivered
            .iter()
            .any(|(at, m)| m == "response 2" && at == "00:00:04.006"),
        "{delivered:?}"
    );
    assert!(t.events.iter().any(|e| matches!(
        &e.kind,
        EventKind::RpcAnswered { id: 2, outcome } if outcome == "ok"
    )));
}

#[test]
fn traces_are_identical_across_runs_and_engines_before_the_first_keepalive() {
    let (a, _) = run(Hosts::Route, SHORT, Engine::Events);
    let (b, _) = run(Hosts::Route, SHORT, Engine::Events);
    let (n, _) = run(Hosts::Route, SHORT, Engine::Network);
    let text = crate::trace::render_text(&a);
    assert_eq!(text, crate::trace::render_text(&b));
    assert_eq!(crate::suite::first_difference(&n, &a), None);
    assert!(text.contains("s1"), "{text}");
}

#[test]
fn rmcp_keepalive_floods_and_both_engines_stop_it_fast_naming_sse_stream() {
    let text =
        std::fs::read_to_string("scenarios/keepalive/mcp-get-nginx.toml").expect("scenario file");
    for engine in [Engine::Events, Engine::Network] {
        let (t, error) = run(Hosts::Route, &text, engine);
        let e = error.expect("the run is stopped with a diagnosis");
        // The first keepalive is due when the real clock says 15 s have passed, so the
        // virtual instant of the flood depends on how busy the machine is (≥ 15 s).
        assert!(e.starts_with("virtual time crawled at 00:00:"), "{e}");
        assert!(
            t.stopped_at()
                .is_some_and(|at| at >= Duration::from_secs(15)),
            "{e}"
        );
        assert!(e.contains("read the real clock"), "{e}");
        assert!(t.events.len() as u64 <= crate::trace::RATE_LIMIT + 50);
        let o = crate::check::determinism_wall_clock::evaluate(&t, Duration::from_secs(1200));
        assert_eq!(o.verdict, Verdict::Fail, "{engine:?}");
        assert!(o.message.contains("on conn#3"), "{}", o.message);
        assert!(
            o.message.contains("KeepAliveStream::reset"),
            "{}",
            o.message
        );
    }
}
