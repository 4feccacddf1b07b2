//! The SDK targets (Node and Python adapters) under virtual time, end to end: the
//! acceptance of the process targets. Needs `harness/setup` (CI runs it first).
//!
//! ```text
//!  scenario (MCP GET stream behind a preset, 30 virtual minutes)
//!     × ts-sdk-server@1.32.2 / ts-server@2.4.0 / ts-sdk-server@1.29.0 / python-sdk-server@2.3.0
//!     ──▶ verdicts as the implementation's keepalive says, timers seen through the shim,
//!         byte-identical traces run after run
//! ```

use middlebox::check::Verdict;
use middlebox::report::RunResult;
use middlebox::{scenario, suite, targets};

fn run(text: &str, name: &str) -> RunResult {
    let s = scenario::parse("adapters.toml", text).expect("scenario parses");
    let t = targets::get(name).expect("target exists");
    let r = suite::run_one(&s, &t, None);
    if let Some(e) = &r.error {
        assert!(
            !e.contains("is not installed"),
            "{e}\n(run `harness/setup` before these tests)"
        );
    }
    r
}

fn verdict(r: &RunResult, id: &str) -> (Verdict, String) {
    let c = r
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("{id} checked"));
    (c.verdict, c.message.clone())
}

/// An MCP session's GET stream behind `preset` for 30 virtual minutes.
fn get_stream(preset: &str, keepalive: Option<&str>) -> String {
    let server = keepalive
        .map(|k| format!("[server]\nkeepalive = \"{k}\"\n"))
        .unwrap_or_default();
    format!(
        r#"description = "GET stream behind {preset}"
protocol = ["2025-11-25"]
duration = "30m"

[[intermediary]]
preset = "{preset}"

{server}
[[client.step]]
at = "0s"
do = "initialize"

[[client.step]]
at = "1s"
do = "open-get-stream"

[[expect]]
check = "stream.survives"
stream = "get"

[[expect]]
check = "keepalive.cadence"
stream = "get"
gap-max = "20s"

[[expect]]
check = "keepalive.format"

[[expect]]
check = "timers.cleared"
"#
    )
}

/// (preset, the idle limit its closing message names)
const PRESETS: [(&str, &str); 3] = [
    ("nginx", "idle-timeout 60s"),
    ("envoy", "idle-timeout 5m"),
    ("cloudflare", "idle-timeout 120s"),
];

#[test]
fn typescript_servers_with_defaults_survive_30_minutes_behind_nginx_envoy_and_cloudflare() {
    for target in ["ts-sdk-server@1.32.2", "ts-server@2.4.0"] {
        for (preset, _) in PRESETS {
            let r = run(&get_stream(preset, None), target);
            assert!(r.error.is_none(), "{target} × {preset}: {:?}", r.error);
            for id in ["stream.survives", "keepalive.cadence", "keepalive.format"] {
                let (v, m) = verdict(&r, id);
                assert_eq!(v, Verdict::Pass, "{target} × {preset}: {id}: {m}");
            }
            // The shim's timer list is seen: one keepalive timer, every 15 s (the default);
            // its stream is open to the end, so there is no clearing to judge.
            let (v, m) = verdict(&r, "timers.cleared");
            assert_eq!(v, Verdict::Unobservable, "{target} × {preset}: {m}");
            assert!(
                m.starts_with("the server armed 1 keepalive timer but saw none of its streams end"),
                "{target} × {preset}: {m}"
            );
        }
    }
}

#[test]
fn without_keepalive_they_are_cut_at_the_presets_limit_as_is_1_29_0() {
    let cases = [
        ("ts-sdk-server@1.32.2", Some("off")),
        ("ts-server@2.4.0", Some("off")),
        ("ts-sdk-server@1.29.0", None),
    ];
    for (target, keepalive) in cases {
        for (preset, limit) in PRESETS {
            let r = run(&get_stream(preset, keepalive), target);
            let (v, m) = verdict(&r, "stream.survives");
            assert_eq!(v, Verdict::Fail, "{target} × {preset}: {m}");
            assert!(
                m.contains(&format!("by {preset} ({limit}")),
                "{target} × {preset}: cut for another reason: {m}"
            );
        }
    }
}

#[test]
fn timers_verdicts_are_real_for_the_node_targets() {
    // Two concurrent streams; closing the GET must clear its timer and leave the call's.
    let text = std::fs::read_to_string("scenarios/cleanup/close-first-stream.toml").unwrap();
    for target in ["ts-sdk-server@1.32.2", "ts-server@2.4.0"] {
        let r = run(&text, target);
        for id in ["timers.cleared", "timers.independent"] {
            let (v, m) = verdict(&r, id);
            assert_eq!(v, Verdict::Pass, "{target}: {id}: {m}");
        }
        let (_, m) = verdict(&r, "timers.cleared");
        assert!(m.contains("of 2 keepalive timers"), "{target}: {m}");
    }
}

#[test]
fn python_sdk_pings_every_15s_in_a_valid_format() {
    let r = run(&get_stream("nginx", None), "python-sdk-server@2.3.0");
    for id in ["stream.survives", "keepalive.cadence", "keepalive.format"] {
        let (v, m) = verdict(&r, id);
        assert_eq!(v, Verdict::Pass, "{id}: {m}");
    }
    let pings: Vec<_> = r
        .trace
        .events
        .iter()
        .filter(|e| e.host == "server")
        .filter_map(|e| match &e.kind {
            middlebox::trace::EventKind::FrameWritten {
                frame: middlebox::sse::Frame::Comment { text },
                ..
            } => Some((e.at, text.clone())),
            _ => None,
        })
        .collect();
    assert!(pings.len() >= 119, "{} pings", pings.len());
    for w in pings.windows(2) {
        assert_eq!(w[1].0 - w[0].0, std::time::Duration::from_secs(15));
    }
    // sse-starlette's ping carries a datetime: the virtual clock's, so bytes are the same
    // every run.
    assert!(
        pings[0].1.starts_with(" ping - 2026-01-01 00:00:16"),
        "{:?}",
        pings[0]
    );
}

#[test]
fn a_node_target_gives_byte_identical_traces_over_five_runs() {
    let text = std::fs::read_to_string("scenarios/cleanup/close-first-stream.toml").unwrap();
    let first = middlebox::trace::render_text(&run(&text, "ts-sdk-server@1.32.2").trace);
    for i in 1..5 {
        let again = middlebox::trace::render_text(&run(&text, "ts-sdk-server@1.32.2").trace);
        assert!(again == first, "run {i} differs from run 0");
    }
    assert!(first.lines().count() > 50, "a real trace");
}

#[test]
fn the_typescript_client_runs_the_client_suite_against_the_reference_server() {
    let files = scenario::discover(&[std::path::PathBuf::from("scenarios/client")]).unwrap();
    assert!(files.len() >= 4);
    let t = targets::get("ts-sdk-client@1.32.2").expect("target exists");
    for f in files {
        let s = scenario::load(&f).unwrap();
        if !t.applies_to(&s) {
            // A key the SDK client cannot honour (keepalive-expected, reconnect-stream): refused.
            assert!(t.refusal(&s).is_some(), "{}", s.path);
            continue;
        }
        let r = suite::run_one(&s, &t, None);
        // Every outcome is what the file declares for the SDK client (its missing MP-301g
        // behaviours are declared with their reasons).
        assert!(!r.unexpected, "{}: {:?} {:?}", s.path, r.error, r.checks);
        // The real SDK did the talking: its initialize has id 0 (the reference client's is 1),
        // and its answer reached the application.
        let kinds: Vec<_> = r.trace.events.iter().map(|e| &e.kind).collect();
        assert!(
            kinds.iter().any(|k| matches!(k, middlebox::trace::EventKind::RpcSent { method, id: Some(0) } if method == "initialize")),
            "{}",
            s.path
        );
        assert!(
            kinds
                .iter()
                .any(|k| matches!(k, middlebox::trace::EventKind::SessionEstablished { .. })),
            "{}",
            s.path
        );
    }
}

/// `exec:CMD` on real time: a stdlib Python SSE server behind a 3 s idle timeout, 8 s long.
fn exec(keepalive: &str) -> RunResult {
    let s = scenario::load(std::path::Path::new("tests/fixtures/exec/idle-3s.toml")).unwrap();
    let name = format!("exec:KEEPALIVE={keepalive} python3 tests/fixtures/exec/sse_server.py");
    let t = targets::get(&name).expect("exec targets resolve");
    assert!(t.realtime);
    suite::run_one(&s, &t, None)
}

#[test]
fn an_exec_target_runs_a_real_server_on_real_time_through_the_intermediaries() {
    let ok = exec("1");
    assert!(ok.error.is_none(), "{:?}", ok.error);
    let (v, m) = verdict(&ok, "stream.survives");
    assert_eq!(v, Verdict::Pass, "{m}");
    let (v, m) = verdict(&ok, "keepalive.cadence");
    assert_eq!(v, Verdict::Pass, "{m}");
    // The server side is read off the bytes: the event, then a comment about every second.
    let comments = ok
        .trace
        .events
        .iter()
        .filter(|e| {
            e.host == "server"
                && matches!(
                    &e.kind,
                    middlebox::trace::EventKind::FrameWritten {
                        frame: middlebox::sse::Frame::Comment { .. },
                        ..
                    }
                )
        })
        .count();
    assert!(
        (5..=8).contains(&comments),
        "{comments} keepalives in 7.5 s"
    );

    let silent = exec("0");
    let (v, m) = verdict(&silent, "stream.survives");
    assert_eq!(v, Verdict::Fail, "{m}");
    assert!(m.contains("by proxy (idle-timeout 3s"), "{m}");
}

#[test]
fn exec_targets_are_named_on_the_command_line() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_middlebox"))
        .args([
            "run",
            "tests/fixtures/exec/idle-3s.toml",
            "--target",
            "exec:KEEPALIVE=1 python3 tests/fixtures/exec/sse_server.py",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 run: 1 pass"), "{text}");
    // A command that never listens fails clearly, naming PORT.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_middlebox"))
        .args([
            "run",
            "tests/fixtures/exec/idle-3s.toml",
            "--target",
            "exec:echo not a server; exit 3",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("PORT"), "{text}");
}

/// The server-side data of every SSE event written, with its connection.
fn server_events(r: &RunResult) -> Vec<(Option<middlebox::trace::ConnId>, String)> {
    r.trace
        .events
        .iter()
        .filter(|e| e.host == "server")
        .filter_map(|e| match &e.kind {
            middlebox::trace::EventKind::FrameWritten {
                frame: middlebox::sse::Frame::Event { data, .. },
                ..
            } => Some((e.conn, data.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn every_server_sends_the_three_scheduled_notifications_and_replays_the_one_sent_during_a_cut() {
    // Before the Node adapters declared the capabilities the SDK checks, only
    // tools/list_changed was written: resources and prompts were refused and dropped.
    let text = std::fs::read_to_string("scenarios/replay/resume-after-cut.toml").unwrap();
    let methods = [
        "notifications/tools/list_changed",
        "notifications/resources/list_changed",
        "notifications/prompts/list_changed",
    ];
    for target in [
        "ts-sdk-server@1.32.2",
        "ts-sdk-server@1.29.0",
        "ts-server@2.4.0",
        "python-sdk-server@2.3.0",
    ] {
        let r = run(&text, target);
        assert!(r.error.is_none(), "{target}: {:?}", r.error);
        let written = server_events(&r);
        for m in methods {
            assert!(
                written.iter().any(|(_, d)| d.contains(m)),
                "{target}: {m} never written"
            );
        }
        // resources/list_changed is sent at 2m 2s, while the GET cut at 2m is reconnecting:
        // stored, then replayed on the connection that resumed with Last-Event-ID.
        let (conn, _) = written
            .iter()
            .find(|(_, d)| d.contains(methods[1]))
            .unwrap();
        let resumed = r.trace.events.iter().any(|e| {
            e.host == "client"
                && e.conn == *conn
                && matches!(
                    &e.kind,
                    middlebox::trace::EventKind::RequestSent {
                        last_event_id: Some(_),
                        ..
                    }
                )
        });
        assert!(
            resumed,
            "{target}: {methods:?}[1] not written on a resumed GET"
        );
        let delivered = r.trace.events.iter().any(|e| {
            e.host == "client"
                && e.conn == *conn
                && matches!(&e.kind, middlebox::trace::EventKind::MessageDelivered { message, .. } if message == methods[1])
        });
        assert!(
            delivered,
            "{target}: the replayed notification was not delivered"
        );
        let (v, m) = verdict(&r, "replay.complete");
        assert_eq!(v, Verdict::Pass, "{target}: {m}");
    }
}

#[test]
fn a_notification_the_implementation_refuses_is_a_trace_event_and_a_run_error() {
    // The SDKs refuse notifications/elicitation/complete unless the client declared URL
    // elicitation (the reference client declares nothing).
    let text = r#"description = "a scheduled notification the SDK refuses"
protocol = ["2025-11-25"]
duration = "1m"

[[server.notification]]
at = "10s"
method = "notifications/elicitation/complete"

[[server.notification]]
at = "20s"
method = "notifications/tools/list_changed"

[[client.step]]
at = "0s"
do = "initialize"

[[client.step]]
at = "1s"
do = "open-get-stream"

[[expect]]
check = "delivery.exactly-once"
"#;
    let reason =
        "Client does not support URL elicitation (required for notifications/elicitation/complete)";
    for target in [
        "ts-sdk-server@1.32.2",
        "ts-sdk-server@1.29.0",
        "ts-server@2.4.0",
    ] {
        let r = run(text, target);
        let refused: Vec<_> = r
            .trace
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                middlebox::trace::EventKind::NotificationRefused {
                    method,
                    session,
                    reason,
                } => Some((e.at, method.as_str(), session.as_deref(), reason.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            refused,
            vec![(
                std::time::Duration::from_secs(10),
                "notifications/elicitation/complete",
                Some("s1"),
                reason
            )],
            "{target}"
        );
        let e = r.error.as_deref().unwrap_or_default();
        assert!(
            e.contains(reason),
            "{target}: the run error names the reason: {e:?}"
        );
        assert!(r.unexpected, "{target}");
        // The run went on: the next scheduled notification was written.
        assert!(
            server_events(&r)
                .iter()
                .any(|(_, d)| d.contains("notifications/tools/list_changed")),
            "{target}"
        );
    }
}

#[test]
fn the_sdk_clients_own_timeout_fails_rpc_answered_and_the_late_result_is_not_delivered() {
    // A 6-minute tool call behind Cloudflare: the reference server keeps the stream alive and
    // answers at 00:06:01, but the TypeScript SDK client gave the call up at 00:01:01 (its
    // 60 s DEFAULT_REQUEST_TIMEOUT_MSEC, armed when the step ran at 00:00:01.000).
    let text = std::fs::read_to_string("scenarios/keepalive/mcp-long-tool-call.toml").unwrap();
    let r = run(&text, "ts-sdk-client@1.32.2");
    assert!(r.error.is_none(), "{:?}", r.error);
    let c = r
        .checks
        .iter()
        .find(|c| c.id == "rpc.answered")
        .expect("rpc.answered reported (it fails)");
    assert_eq!(c.verdict, Verdict::Fail, "{}", c.message);
    assert!(
        c.message
            .contains("was answered `error -32001: Request timed out` at 00:01:01.000"),
        "{}",
        c.message
    );
    assert!(c.expected_fail, "declared with its reason in the scenario");
    assert!(!r.unexpected, "{:?}", r.checks);
    use middlebox::trace::EventKind;
    // The result reached the client's socket ...
    let received = r.trace.events.iter().any(|e| {
        e.host == "client"
            && matches!(&e.kind, EventKind::Received { frames, .. }
                if frames.iter().any(|f| f.to_string().contains("slept 360000 ms")))
    });
    assert!(received, "the result arrived at the client");
    // ... but never the application: the SDK discarded it as an unknown request id.
    let delivered: Vec<_> = r
        .trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MessageDelivered { message, .. } if e.host == "client" => {
                Some((e.at, message.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        delivered,
        vec![(
            std::time::Duration::from_millis(6),
            "response 0".to_string()
        )],
        "only the initialize answer reached the application"
    );
}

#[test]
fn timers_cleared_fails_on_a_real_sdk_whose_clear_interval_does_nothing_and_passes_without() {
    // The SDK's own keepalive interval, on the real SDK; the test-only defect makes the
    // adapter's clearInterval a no-op, so the GET's timer outlives the GET closed at 2m.
    let s = scenario::load(std::path::Path::new(
        "scenarios/cleanup/close-first-stream.toml",
    ))
    .unwrap();
    for name in ["ts-sdk-server@1.32.2", "ts-server@2.4.0"] {
        let clean = suite::run_server(&s, name, targets::process::build(&s.server, name), None);
        let (v, m) = verdict(&clean, "timers.cleared");
        assert_eq!(v, Verdict::Pass, "{name}: {m}");

        let broken = suite::run_server(
            &s,
            name,
            targets::process::build_with_defect(&s.server, name, "clear-interval-noop"),
            None,
        );
        assert!(broken.error.is_none(), "{name}: {:?}", broken.error);
        let (v, m) = verdict(&broken, "timers.cleared");
        assert_eq!(v, Verdict::Fail, "{name}: {m}");
        // Every stream's timer outlives its stream (the initialize's SSE answer first, then
        // the GET closed at 2m and the call ended at 6m) and fires on for the rest of the run.
        assert!(
            m.starts_with("conn#1: timer#1 was never cleared after the server saw its stream end at 00:00:00.004"),
            "{name}: {m}"
        );
        assert!(m.contains("it kept firing"), "{name}: {m}");
        assert!(m.ends_with("(and 2 more violations)"), "{name}: {m}");
        let leaked = broken.trace.events.iter().any(|e| {
            e.host == "server"
                && matches!(
                    &e.kind,
                    middlebox::trace::EventKind::WriteFailed { timer: Some(_), .. }
                )
        });
        assert!(
            leaked,
            "{name}: the shim saw a timer fire after its socket closed"
        );
    }
    // A defect the adapter does not know is refused at start, naming the known ones.
    let bad = suite::run_server(
        &s,
        "ts-sdk-server@1.32.2",
        targets::process::build_with_defect(&s.server, "ts-sdk-server@1.32.2", "bogus"),
        None,
    );
    let e = bad.error.unwrap_or_default();
    assert!(
        e.contains(r#"unknown test_defect "bogus" (known: clear-interval-noop)"#),
        "{e}"
    );
}

/// A plain SSE stream behind Cloudflare (120 s idle timeout) for 30 virtual minutes.
const PLAIN_CLOUDFLARE: &str = r#"description = "plain SSE stream behind cloudflare"
duration = "30m"

[[intermediary]]
preset = "cloudflare"

[[client.step]]
at = "1s"
do = "open-stream"

[[expect]]
check = "stream.survives"

[[expect]]
check = "keepalive.cadence"
gap-max = "20s"
"#;

fn fixture(name: &str) -> String {
    format!(
        "node:{}/tests/fixtures/node/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
#[allow(clippy::disallowed_methods)] // the wall time 30 virtual minutes take is what is measured
fn a_users_own_node_program_runs_on_virtual_time_and_is_judged_for_what_it_does() {
    // A node:http server exporting its Server, with a 15 s comment keepalive: survives.
    let started = std::time::Instant::now();
    let ok = run(PLAIN_CLOUDFLARE, &fixture("sse-keepalive.mjs"));
    let wall = started.elapsed();
    assert!(!ok.unexpected, "{}", middlebox::render_failure(&ok));
    assert_eq!(verdict(&ok, "keepalive.cadence").0, Verdict::Pass);
    let keepalives = ok
        .trace
        .events
        .iter()
        .filter(|e| {
            e.host == "client"
                && matches!(&e.kind, middlebox::EventKind::Received { frames, .. }
                    if frames.iter().any(|f| matches!(f, middlebox::sse::Frame::Comment { .. })))
        })
        .count();
    // One comment every 15 s of the 30 minutes, on virtual time.
    assert!((115..=120).contains(&keepalives), "{keepalives} keepalives");
    // 30 virtual minutes in well under the time they name.
    assert!(wall.as_secs() < 20, "took {wall:?}");
    // The same program without its keepalive (a bare request handler export): cut by
    // Cloudflare's idle timeout, and the failure names it.
    let silent = run(PLAIN_CLOUDFLARE, &fixture("sse-silent.mjs"));
    let (v, m) = verdict(&silent, "stream.survives");
    assert_eq!(v, Verdict::Fail, "{m}");
    assert!(
        m.contains("by cloudflare (idle-timeout 120s"),
        "the cut is cloudflare's idle timeout: {m}"
    );
    // Deterministic: the same trace again.
    let again = run(PLAIN_CLOUDFLARE, &fixture("sse-keepalive.mjs"));
    assert_eq!(
        middlebox::trace::render_text(&ok.trace),
        middlebox::trace::render_text(&again.trace)
    );
}

#[test]
fn a_node_program_that_exports_no_server_or_does_not_exist_fails_saying_what_is_expected() {
    let dir = std::env::temp_dir().join(format!("middlebox-node-app-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let empty = dir.join("nothing.mjs");
    std::fs::write(&empty, "export const answer = 42;\n").expect("fixture");
    let r = run(PLAIN_CLOUDFLARE, &format!("node:{}", empty.display()));
    let e = r.error.expect("a run error");
    assert!(
        e.contains("neither listened nor exports a node:http Server or a request handler"),
        "{e}"
    );
    let missing = dir.join("missing.mjs");
    let r = run(PLAIN_CLOUDFLARE, &format!("node:{}", missing.display()));
    let e = r.error.expect("a run error");
    assert!(
        e.contains("missing.mjs") && e.contains("expected the path of a Node program"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// An Express app serving MCP with the TypeScript SDK as its docs show (it calls
/// `app.listen(PORT)` itself), through `node:`.
fn express(entry: &str) -> String {
    format!(
        "node:{}/examples/node-express-mcp/{entry}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
#[allow(clippy::disallowed_methods)] // the wall time 30 virtual minutes take is what is measured
fn an_express_app_with_the_sdk_passes_the_mcp_keepalive_suite_and_fails_without_its_keepalive() {
    let cloudflare =
        std::fs::read_to_string("scenarios/keepalive/mcp-keepalive-90s-cloudflare.toml").unwrap();
    let long_call = std::fs::read_to_string("scenarios/keepalive/mcp-long-tool-call.toml").unwrap();
    let started = std::time::Instant::now();
    let ok = run(&cloudflare, &express("server.mjs"));
    let wall = started.elapsed();
    assert!(!ok.unexpected, "{}", middlebox::render_failure(&ok));
    let call = run(&long_call, &express("server.mjs"));
    assert!(!call.unexpected, "{}", middlebox::render_failure(&call));
    // The cleanup suite (closing streams, timers cleared) passes as well.
    for f in ["close-first-stream", "close-everything"] {
        let text = std::fs::read_to_string(format!("scenarios/cleanup/{f}.toml")).unwrap();
        let r = run(&text, &express("server.mjs"));
        assert!(!r.unexpected, "{f}: {}", middlebox::render_failure(&r));
    }
    // 10 virtual minutes of an SDK app in a fraction of the time.
    assert!(wall.as_secs() < 20, "took {wall:?}");
    // keepAliveMs: 0 → the GET stream is cut at Cloudflare's 120 s idle timeout.
    let silent = run(&cloudflare, &express("server-no-keepalive.mjs"));
    let (v, m) = verdict(&silent, "stream.survives");
    assert_eq!(v, Verdict::Fail, "{m}");
    assert!(m.contains("by cloudflare (idle-timeout 120s"), "{m}");
    // The session id comes from the SDK's randomUUID, seeded: the same trace again.
    let again = run(&cloudflare, &express("server.mjs"));
    assert_eq!(
        middlebox::trace::render_text(&ok.trace),
        middlebox::trace::render_text(&again.trace)
    );
}

/// `middlebox run` in `examples/python-fastapi-mcp` with that example's virtualenv as the
/// app's Python; (exit code, stdout).
fn fastapi_run(args: &[&str]) -> (i32, String) {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = format!("{root}/examples/python-fastapi-mcp");
    let python = format!("{dir}/.venv/bin/python");
    assert!(
        std::path::Path::new(&python).is_file(),
        "{python} is missing (run `harness/setup` before these tests)"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_middlebox"))
        .args(["run", "--python", &python])
        .args(args)
        .current_dir(&dir)
        .env_remove("MIDDLEBOX_PYTHON")
        .env_remove("VIRTUAL_ENV")
        .output()
        .expect("middlebox runs");
    (
        out.status.code().unwrap_or(-1),
        // Reports wrap at 100 columns: compare words.
        flat(&String::from_utf8_lossy(&out.stdout)),
    )
}

/// `s` with line breaks and indents as single spaces.
fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn a_fastapi_app_mounting_the_sdk_passes_the_mcp_keepalive_suite_and_fails_without_its_ping() {
    let root = env!("CARGO_MANIFEST_DIR");
    let cloudflare = format!("{root}/scenarios/keepalive/mcp-keepalive-90s-cloudflare.toml");
    let long_call = format!("{root}/scenarios/keepalive/mcp-long-tool-call.toml");
    let cleanup = format!("{root}/scenarios/cleanup");
    let (code, out) = fastapi_run(&[
        "--target",
        "python:server:app",
        &cloudflare,
        &long_call,
        &cleanup,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("4 runs: 4 pass, 0 fail"), "{out}");
    let (code, out) = fastapi_run(&["--target", "python:server_no_keepalive:app", &cloudflare]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("closed at 00:02:01.005 by cloudflare (idle-timeout 120s"),
        "{out}"
    );
    // Deterministic: two runs write the same traces.
    let dirs: Vec<std::path::PathBuf> = (0..2)
        .map(|i| std::env::temp_dir().join(format!("middlebox-fastapi-{}-{i}", std::process::id())))
        .collect();
    for d in &dirs {
        let d = d.display().to_string();
        let (code, out) = fastapi_run(&["--target", "python:server:app", &cloudflare, "--out", &d]);
        assert_eq!(code, 0, "{out}");
    }
    let read = |d: &std::path::Path| {
        let mut files = Vec::new();
        let mut todo = vec![d.to_path_buf()];
        while let Some(p) = todo.pop() {
            for e in std::fs::read_dir(&p).expect("out dir") {
                let e = e.expect("entry").path();
                if e.is_dir() {
                    todo.push(e);
                } else {
                    files.push((
                        e.strip_prefix(d).expect("under").to_path_buf(),
                        std::fs::read(&e).expect("a trace"),
                    ));
                }
            }
        }
        files.sort();
        files
    };
    let (a, b) = (read(&dirs[0]), read(&dirs[1]));
    assert!(
        a.len() >= 3,
        "report and traces written: {:?}",
        a.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(a == b, "two runs gave different traces");
    for d in &dirs {
        std::fs::remove_dir_all(d).ok();
    } // A module or app that is not there: the run's error says which.
    let (_, out) = fastapi_run(&["--target", "python:nosuch:app", &cloudflare]);
    assert!(
        out.contains("importing nosuch failed: ModuleNotFoundError"),
        "{out}"
    );
    let (_, out) = fastapi_run(&["--target", "python:server:nope", &cloudflare]);
    assert!(
        out.contains("server has no attribute 'nope'; expected MODULE:APP"),
        "{out}"
    );
}

#[test]
fn a_typescript_sdk_version_not_pinned_here_is_installed_once_and_runs() {
    // The cache lives with the build, so later test runs find the version installed.
    let cache = format!("{}/sdk-cache", env!("CARGO_TARGET_TMPDIR"));
    let run = |target: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_middlebox"))
            .args([
                "run",
                "--target",
                target,
                "scenarios/keepalive/mcp-get-nginx.toml",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("MIDDLEBOX_CACHE_DIR", &cache)
            .output()
            .expect("middlebox runs");
        (
            out.status.code().unwrap_or(-1),
            flat(&String::from_utf8_lossy(&out.stdout)),
        )
    };
    // 1.30.0: the first version with keepAliveMs, not pinned in harness/node.
    let (code, out) = run("ts-sdk-server@1.30.0");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 run: 1 pass"), "{out}");
    let package = format!("{cache}/npm/sdk-1.30.0/node_modules/@modelcontextprotocol/sdk");
    let manifest = std::fs::read_to_string(format!("{package}/package.json")).expect("installed");
    assert!(manifest.contains("\"version\": \"1.30.0\""), "{manifest}");
    // The same package as a checkout (`file:DIR`) runs too.
    let (code, out) = run(&format!("ts-sdk-server@file:{package}"));
    assert_eq!(code, 0, "{out}");
    // A version that does not exist fails the run, naming npm's reason.
    let (_, out) = run("ts-sdk-server@0.0.1-no-such-version");
    assert!(
        out.contains("installing @modelcontextprotocol/sdk@0.0.1-no-such-version into"),
        "{out}"
    );
}

/// `middlebox run --target TARGET scenarios/keepalive/mcp-get-nginx.toml` with installs in
/// `cache` (under the build folder: later test runs find them installed) and these extra
/// environment variables; (exit code, stdout).
fn run_with_cache(
    cache: &str,
    target: &str,
    env: &[(&str, &str)],
    extra: &[&str],
) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_middlebox"))
        .args([
            "run",
            "--target",
            target,
            "scenarios/keepalive/mcp-get-nginx.toml",
        ])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("MIDDLEBOX_CACHE_DIR", cache)
        .envs(env.iter().copied())
        .output()
        .expect("middlebox runs");
    (
        out.status.code().unwrap_or(-1),
        flat(&String::from_utf8_lossy(&out.stdout)),
    )
}

/// The cache the tests install into: one per build folder.
fn test_cache() -> String {
    format!("{}/sdk-cache", env!("CARGO_TARGET_TMPDIR"))
}

/// A fresh, empty folder under the build folder (a cache there must reach the registry).
fn fresh_dir(name: &str) -> String {
    let dir = format!(
        "{}/{name}-{}",
        env!("CARGO_TARGET_TMPDIR"),
        std::process::id()
    );
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The text traces `--out DIR` wrote, concatenated.
fn traces_text(out: &str) -> String {
    let mut text = String::new();
    for e in std::fs::read_dir(format!("{out}/traces")).expect("traces written") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "txt") {
            text += &std::fs::read_to_string(&p).expect("a trace");
        }
    }
    text
}

#[test]
fn a_typescript_2x_server_version_not_pinned_here_is_installed_with_its_node_package_and_runs() {
    let cache = test_cache();
    // 2.2.0: @modelcontextprotocol/node is not published at 2.2.0; the newest release whose
    // peer range admits server 2.2.0 is 2.1.0 (`^2.1.0`; 2.1.1 needs ^2.3.0).
    let (code, out) = run_with_cache(&cache, "ts-server@2.2.0", &[], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 run: 1 pass"), "{out}");
    let dir = format!("{cache}/npm/server-2.2.0");
    let version = |package: &str| {
        let manifest = std::fs::read_to_string(format!(
            "{dir}/node_modules/@modelcontextprotocol/{package}/package.json"
        ))
        .expect("installed");
        let v: serde_json::Value = serde_json::from_str(&manifest).expect("a manifest");
        v["version"].as_str().expect("a version").to_string()
    };
    assert_eq!(
        (version("server").as_str(), version("node").as_str()),
        ("2.2.0", "2.1.0")
    );
    // A folder whose node_modules holds both packages runs as a checkout (`file:DIR`).
    let (code, out) = run_with_cache(&cache, &format!("ts-server@file:{dir}"), &[], &[]);
    assert_eq!(code, 0, "{out}");
    // The adapter runs the packages of the folder named, not its own 2.4.0: one whose server
    // throws on import fails the run with that error.
    let fake = fresh_dir("ts-server-fake");
    for package in ["server", "node"] {
        let d = format!("{fake}/node_modules/@modelcontextprotocol/{package}");
        std::fs::create_dir_all(format!("{d}/dist")).expect("a folder");
        std::fs::write(
            format!("{d}/package.json"),
            r#"{"version": "9.9.9", "type": "module", "exports": {".": {"import": {"default": "./dist/index.mjs"}}}}"#,
        )
        .expect("written");
        std::fs::write(
            format!("{d}/dist/index.mjs"),
            format!("throw new Error('the {package} package of the folder named was imported');\n"),
        )
        .expect("written");
    }
    let (code, out) = run_with_cache(&cache, &format!("ts-server@file:{fake}"), &[], &[]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("the server package of the folder named was imported"),
        "{out}"
    );
    std::fs::remove_dir_all(&fake).ok();
    // 1.x is not the 2.x server: said before anything is installed.
    let (_, out) = run_with_cache(&cache, "ts-server@1.30.0", &[], &[]);
    assert!(out.contains("ts-server runs the 2.x SDK"), "{out}");
}

#[test]
fn a_registry_that_cannot_be_reached_fails_the_run_naming_package_version_and_cache() {
    // npm: choosing the node package for the server asks the registry first.
    let cache = fresh_dir("unreachable-npm");
    let npm = [
        ("npm_config_registry", "http://127.0.0.1:9/"),
        ("npm_config_fetch_retries", "0"),
    ];
    let (code, out) = run_with_cache(&cache, "ts-server@2.3.0", &npm, &[]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "installing @modelcontextprotocol/server@2.3.0 into {cache}/npm/server-2.3.0"
        )),
        "{out}"
    );
    assert!(out.contains("expected a reachable npm registry"), "{out}");
    let (code, out) = run_with_cache(&cache, "ts-sdk-client@1.31.0", &npm, &[]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "installing @modelcontextprotocol/sdk@1.31.0 into {cache}/npm/sdk-1.31.0 failed"
        )),
        "{out}"
    );
    // pip: the virtualenv is made, the install fails, nothing is left in the cache.
    let pip = [
        ("PIP_INDEX_URL", "http://127.0.0.1:9/simple"),
        ("PIP_RETRIES", "0"),
        ("PIP_CONFIG_FILE", "/dev/null"),
    ];
    let (code, out) = run_with_cache(&cache, "python-sdk-server@2.2.0", &pip, &[]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "installing mcp==2.2.0 into {cache}/pip/mcp-2.2.0 failed"
        )),
        "{out}"
    );
    assert!(
        out.contains("expected a published version and a reachable package index"),
        "{out}"
    );
    let left: Vec<_> = std::fs::read_dir(format!("{cache}/pip"))
        .expect("the cache folder")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    std::fs::remove_dir_all(&cache).ok();
}

#[test]
fn a_python_sdk_version_not_pinned_here_is_installed_into_its_own_virtualenv_and_runs() {
    let cache = test_cache();
    let out_dir = fresh_dir("python-sdk-out");
    let (code, out) = run_with_cache(&cache, "python-sdk-server@2.2.0", &[], &["--out", &out_dir]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 run: 1 pass"), "{out}");
    // The SDK that answered is 2.2.0: the adapter names the installed version in serverInfo.
    assert!(traces_text(&out_dir)
        .contains(r#"\"serverInfo\":{\"name\":\"middlebox-python\",\"version\":\"2.2.0\"}"#));
    // Its sources laid out as a python-sdk checkout (src/mcp/mcp, src/mcp-types/mcp_types)
    // run on the harness's virtualenv, imported from the checkout.
    let site = std::fs::read_dir(format!("{cache}/pip/mcp-2.2.0/lib"))
        .expect("the virtualenv")
        .map(|e| e.expect("entry").path().join("site-packages"))
        .next()
        .expect("one python");
    let checkout = fresh_dir("python-sdk-checkout");
    for (package, under) in [("mcp", "src/mcp"), ("mcp_types", "src/mcp-types")] {
        copy_tree(
            &site.join(package),
            &std::path::Path::new(&checkout).join(under).join(package),
        );
    }
    std::fs::remove_dir_all(&out_dir).ok();
    let (code, out) = run_with_cache(
        &cache,
        &format!("python-sdk-server@file:{checkout}"),
        &[],
        &["--out", &out_dir],
    );
    assert_eq!(code, 0, "{out}");
    assert!(traces_text(&out_dir).contains(r#"\"version\":\"checkout\""#));
    // Before 2.2.0 the adapter cannot name sessions: said before anything is installed.
    let (_, out) = run_with_cache(&cache, "python-sdk-server@2.1.0", &[], &[]);
    assert!(
        out.contains("the Python adapter runs mcp 2.2.0 and later"),
        "{out}"
    );
    for d in [&out_dir, &checkout] {
        std::fs::remove_dir_all(d).ok();
    }
}

/// Copies the folder `from` to `to` (no links followed: the SDK's sources are plain files).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("a folder");
    for e in std::fs::read_dir(from).expect("a folder") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("a type").is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copied");
        }
    }
}

#[test]
fn a_typescript_sdk_client_version_not_pinned_here_is_installed_once_and_runs() {
    let cache = test_cache();
    let (code, out) = run_with_cache(&cache, "ts-sdk-client@1.30.0", &[], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 run: 1 pass"), "{out}");
    let package = format!("{cache}/npm/sdk-1.30.0/node_modules/@modelcontextprotocol/sdk");
    let manifest = std::fs::read_to_string(format!("{package}/package.json")).expect("installed");
    assert!(manifest.contains("\"version\": \"1.30.0\""), "{manifest}");
    // The same package as a checkout runs too.
    let (code, out) = run_with_cache(&cache, &format!("ts-sdk-client@file:{package}"), &[], &[]);
    assert_eq!(code, 0, "{out}");
    // The adapter runs the package named, not its own 1.32.2: one whose client throws on
    // import fails the run with that error.
    let fake = fresh_dir("sdk-client-fake");
    std::fs::create_dir_all(format!("{fake}/dist/esm/client")).expect("a folder");
    for file in ["index.js", "streamableHttp.js"] {
        std::fs::write(
            format!("{fake}/dist/esm/client/{file}"),
            "throw new Error('the client of the folder named was imported');\n",
        )
        .expect("written");
    }
    let (code, out) = run_with_cache(&cache, &format!("ts-sdk-client@file:{fake}"), &[], &[]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("the client of the folder named was imported"),
        "{out}"
    );
    std::fs::remove_dir_all(&fake).ok();
}

/// The client-role targets' deliveries: (stream's conn, message) in trace order.
fn delivered(r: &RunResult) -> Vec<String> {
    r.trace
        .events
        .iter()
        .filter(|e| e.host == "client")
        .filter_map(|e| match &e.kind {
            middlebox::trace::EventKind::MessageDelivered { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_typescript_2x_client_passes_a_long_get_and_keeps_1x_request_timeout() {
    // A known pass: the GET stream behind nginx for 30 minutes, kept alive by the reference
    // server's 15 s keepalive; the SDK 2.x client did the talking (its ids start at 0) and its
    // initialize answer reached the application.
    let text = std::fs::read_to_string("scenarios/keepalive/mcp-get-nginx.toml").unwrap();
    let r = run(&text, "ts-client@2.4.0");
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(
        !r.unexpected && r.verdict == middlebox::report::ResultVerdict::Pass,
        "{:?}",
        r.checks
    );
    let kinds: Vec<_> = r.trace.events.iter().map(|e| &e.kind).collect();
    assert!(kinds.iter().any(|k| matches!(k, middlebox::trace::EventKind::RpcSent { method, id: Some(0) } if method == "initialize")));
    assert_eq!(
        delivered(&r).first().map(String::as_str),
        Some("response 0")
    );
    // A known-bad pairing, for the right reason: a 6-minute tool call is given up by the SDK's
    // own 60 s timeout (2.x: SdkError REQUEST_TIMEOUT), the late result never delivered.
    let text = std::fs::read_to_string("scenarios/keepalive/mcp-long-tool-call.toml").unwrap();
    let r = run(&text, "ts-client@2.4.0");
    let (v, m) = verdict(&r, "rpc.answered");
    assert_eq!(v, Verdict::Fail, "{m}");
    assert!(
        m.contains("was answered `error REQUEST_TIMEOUT: Request timed out` at 00:01:01.000"),
        "{m}"
    );
    assert!(
        !delivered(&r).iter().any(|d| d == "response 1"),
        "{:?}",
        delivered(&r)
    );
    assert!(!r.unexpected, "declared in the scenario: {:?}", r.checks);
}

#[test]
fn the_python_sdk_client_survives_a_long_call_and_gives_its_get_up_at_the_second_drop() {
    // A known pass: the 6-minute tool call the TypeScript clients time out; the Python SDK has
    // no request timeout, gets the result, then lists the tools itself (to validate it).
    let text = std::fs::read_to_string("scenarios/keepalive/mcp-long-tool-call.toml").unwrap();
    let r = run(&text, "python-sdk-client@2.3.0");
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(
        !r.unexpected && r.verdict == middlebox::report::ResultVerdict::Pass,
        "{:?}",
        r.checks
    );
    let d = delivered(&r);
    assert!(
        d.iter().any(|m| m == "response 2"),
        "the call's result: {d:?}"
    );
    assert!(d.iter().any(|m| m == "response 3"), "its tools/list: {d:?}");
    // A known-bad pairing, for the right reason: the GET is cut at 30 s (gcp-lb max-duration),
    // reconnected once, cut again at 1m 3s: the SDK's attempt count, never reset by the working
    // reconnect, reaches MAX_RECONNECTION_ATTEMPTS and the GET is given up with no reconnect.
    let text = std::fs::read_to_string("scenarios/client/dropped-early.toml").unwrap();
    let r = run(&text, "python-sdk-client@2.3.0");
    let (v, m) = verdict(&r, "stream.recovers");
    assert_eq!(v, Verdict::Fail, "{m}");
    assert!(
        m.contains("no reconnect, then gave up at 00:01:03.015"),
        "{m}"
    );
    let gave_up: Vec<_> = r
        .trace
        .events
        .iter()
        .filter(|e| matches!(e.kind, middlebox::trace::EventKind::GaveUp { .. }))
        .map(|e| e.at)
        .collect();
    assert_eq!(gave_up, vec![std::time::Duration::from_millis(63_015)]);
    assert!(!r.unexpected, "declared in the scenario: {:?}", r.checks);
    // Steps the SDK has no call for are refused before a run, with the reason.
    let t = targets::get("python-sdk-client@2.3.0").unwrap();
    let close = scenario::load(std::path::Path::new(
        "scenarios/cleanup/close-first-stream.toml",
    ))
    .unwrap();
    let e = t.refusal(&close).expect("close-stream refused");
    assert!(
        e.to_string().contains("no call that closes one stream"),
        "{e}"
    );
}
