//! Loading tests: every fixture under `tests/fixtures/scenarios/`, override merging, and a
//! no-panic sweep over damaged files.
//!
//! Each malformed fixture starts with `# expect-error: LINE:COL: KEY.PATH: message start`
//! (and optionally `# expect-hint: ...`); the test checks the error's text against it.

use super::*;
use crate::check::CheckSpec;
use crate::intermediary::buffering::{BufferingConfig, BufferingMode};
use crate::intermediary::first_byte_timeout::FirstByteTimeoutConfig;
use crate::intermediary::idle_timeout::IdleTimeoutConfig;
use crate::intermediary::latency::LatencyConfig;
use crate::intermediary::max_duration::MaxDurationConfig;
use crate::intermediary::{BehaviorConfig, CloseAction, Watch};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn nginx_idle() -> IdleTimeoutConfig {
    IdleTimeoutConfig {
        after: secs(60),
        watch: Watch::Upstream,
        action: CloseAction::Respond(504),
        after_headers: CloseAction::Fin,
    }
}

/// Presets for tests only, so these tests do not move when the real presets are tuned.
fn test_presets() -> Vec<Preset> {
    vec![
        Preset {
            name: "nginx",
            summary: "test nginx",
            source: "test",
            behaviors: vec![
                BehaviorConfig::IdleTimeout(nginx_idle()),
                BehaviorConfig::Buffering(BufferingConfig {
                    mode: BufferingMode::Threshold { bytes: 8192 },
                    honor_x_accel_buffering: true,
                }),
            ],
        },
        Preset {
            name: "aws-alb",
            summary: "test alb",
            source: "test",
            behaviors: vec![BehaviorConfig::IdleTimeout(IdleTimeoutConfig {
                after: secs(60),
                watch: Watch::Any,
                action: CloseAction::Fin,
                after_headers: CloseAction::Rst,
            })],
        },
    ]
}

fn fixtures(kind: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scenarios")
        .join(kind);
    discover(&[dir]).expect("fixture directory")
}

/// The display name of a fixture: its path under the crate root.
fn display(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string()
}

fn parse_fixture(path: &Path) -> (String, String, Result<Scenario, ScenarioError>) {
    let text = std::fs::read_to_string(path).unwrap();
    let file = display(path);
    let result = parse_with_presets(&file, &text, &test_presets());
    (file, text, result)
}

fn valid(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scenarios/valid")
        .join(name);
    match parse_fixture(&path).2 {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn parse_text(text: &str) -> Result<Scenario, ScenarioError> {
    parse_with_presets("t.toml", text, &test_presets())
}

fn err(text: &str) -> ScenarioError {
    match parse_text(text) {
        Ok(s) => panic!("expected an error, got {s:#?}"),
        Err(e) => e,
    }
}

const HEAD: &str = "description = \"d\"\nduration = \"10m\"\n";

// ------------------------------------------------------------------- fixtures

#[test]
fn every_valid_fixture_loads() {
    let files = fixtures("valid");
    assert!(files.len() >= 5, "{files:?}");
    for path in files {
        let (file, _, result) = parse_fixture(&path);
        let scenario = result.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scenario.path, file);
    }
}

#[test]
fn every_malformed_fixture_fails_where_its_header_says() {
    let files = fixtures("malformed");
    assert!(files.len() >= 14, "{files:?}");
    let mut wrong = Vec::new();
    for path in files {
        let (file, text, result) = parse_fixture(&path);
        let expected = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect-error: "))
            .unwrap_or_else(|| panic!("{file}: no `# expect-error:` header"));
        let hint = text.lines().find_map(|l| l.strip_prefix("# expect-hint: "));
        let error = match result {
            Ok(_) => {
                wrong.push(format!("{file}: loaded, but expected {expected}"));
                continue;
            }
            Err(e) => e,
        };
        let shown = error.to_string();
        let first_line = shown.lines().next().unwrap_or_default();
        let want = format!("error: {file}:{expected}");
        if !first_line.starts_with(&want) {
            wrong.push(format!("{file}:\n  got  {first_line}\n  want {want}..."));
        }
        let mut numbers = expected.splitn(3, ':').map(|n| n.parse::<usize>().ok());
        let line = numbers.next().flatten().expect("header line number");
        let column = numbers.next().flatten().expect("header column");
        if (error.line, error.column) != (line, column) {
            wrong.push(format!("{file}: at {}:{}", error.line, error.column));
        }
        if !first_line.contains("expected") {
            wrong.push(format!("{file}: says nothing expected: {first_line}"));
        }
        if error.hint.as_deref() != hint {
            wrong.push(format!("{file}: hint {:?}, want {hint:?}", error.hint));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn idle_nginx_takes_the_preset_and_every_key() {
    let s = valid("idle-nginx.toml");
    assert_eq!(s.cites.as_deref(), Some("typescript-sdk#876"));
    assert!(
        s.protocol.is_empty(),
        "a plain SSE scenario names no revision"
    );
    assert_eq!(s.seed, Some(7));
    // The implementation keys it sets, with where: only `[server] keepalive` (line 10) and
    // the step kind (line 14).
    let set: Vec<(&str, &str, usize, usize)> = s
        .set_keys
        .iter()
        .map(|k| (k.key, k.at.path.as_str(), k.at.line, k.at.column))
        .collect();
    assert_eq!(
        set,
        [
            ("server.keepalive", "server.keepalive", 10, 13),
            ("client.step.open-stream", "client.step[0].do", 14, 6),
        ]
    );
    assert_eq!(s.duration, secs(1800));
    assert_eq!(s.tick, Duration::from_millis(1));
    assert_eq!(s.intermediaries.len(), 1);
    let nginx = &s.intermediaries[0];
    assert_eq!(nginx.name, "nginx");
    assert_eq!(nginx.preset.as_deref(), Some("nginx"));
    assert_eq!(nginx.behaviors, test_presets()[0].behaviors);
    // The file sets the default keepalive explicitly: the same settings, marked as set.
    assert!(s.server.keepalive_set);
    assert_eq!(
        s.server,
        ServerConfig {
            keepalive_set: true,
            ..ServerConfig::default()
        }
    );
    assert_eq!(
        s.client.steps,
        vec![ClientStep {
            at: secs(1),
            action: ClientAction::OpenStream {
                stream: "main".into(),
                path: "/sse".into()
            }
        }]
    );
    assert_eq!(
        s.expects,
        vec![
            CheckSpec::StreamSurvives {
                stream: None,
                until: Some(secs(1800))
            },
            CheckSpec::KeepaliveCadence {
                stream: Some("main".into()),
                gap_max: secs(20)
            },
        ]
    );
    assert_eq!(
        s.expect_fail.get("bug/no-keepalive"),
        Some(&vec![
            "stream.survives".to_string(),
            "keepalive.cadence".to_string()
        ])
    );
}

#[test]
fn overrides_merge_field_by_field() {
    let s = valid("overrides.toml");
    assert_eq!(s.tick, Duration::from_millis(10));
    let names: Vec<&str> = s.intermediaries.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["cdn", "nginx", "proxy1"]);

    // aws-alb: `after` replaced, watch and actions kept; buffering and latency appended.
    assert_eq!(
        s.intermediaries[0].behaviors,
        vec![
            BehaviorConfig::IdleTimeout(IdleTimeoutConfig {
                after: secs(100),
                watch: Watch::Any,
                action: CloseAction::Fin,
                after_headers: CloseAction::Rst,
            }),
            BehaviorConfig::Buffering(BufferingConfig {
                mode: BufferingMode::FlushInterval { every: secs(1) },
                honor_x_accel_buffering: false,
            }),
            BehaviorConfig::Latency(LatencyConfig {
                min: Duration::from_millis(2),
                max: Duration::from_millis(2),
            }),
        ]
    );
    // nginx: the action replaced in place, buffering removed, the rest appended in order.
    assert_eq!(
        s.intermediaries[1].behaviors,
        vec![
            BehaviorConfig::IdleTimeout(IdleTimeoutConfig {
                action: CloseAction::Respond(504),
                ..nginx_idle()
            }),
            BehaviorConfig::FirstByteTimeout(FirstByteTimeoutConfig {
                after: secs(30),
                status: 503
            }),
            BehaviorConfig::MaxDuration(MaxDurationConfig {
                after: secs(3600),
                action: CloseAction::Rst,
                after_headers: CloseAction::Blackhole,
            }),
        ]
    );
    assert_eq!(s.intermediaries[2].preset, None);
    assert_eq!(
        s.intermediaries[2].behaviors,
        vec![BehaviorConfig::Latency(LatencyConfig {
            min: Duration::from_millis(1),
            max: Duration::from_millis(5),
        })]
    );
    assert!(!s.server.x_accel_buffering_no);
    assert_eq!(s.server.first_byte_delay, Duration::from_millis(250));
}

#[test]
fn faults_and_steps_are_sorted_stably_and_checked() {
    let s = valid("faults.toml");
    let steps: Vec<(u64, &ClientAction)> = s
        .client
        .steps
        .iter()
        .map(|st| (st.at.as_secs(), &st.action))
        .collect();
    let open = |stream: &str, path: &str| ClientAction::OpenStream {
        stream: stream.into(),
        path: path.into(),
    };
    assert_eq!(
        steps,
        vec![
            (0, &open("main", "/sse")),
            (1, &open("side", "/events")),
            (
                2,
                &ClientAction::CloseStream {
                    stream: "side".into()
                }
            ),
            (2, &open("side", "/sse")),
        ]
    );
    let faults: Vec<String> = s
        .faults
        .iter()
        .map(|f| format!("{} {}", f.at.as_secs(), f.kind))
        .collect();
    assert_eq!(
        faults,
        [
            "240 partition client ↔ edge",
            "300 repair client ↔ edge",
            "360 crash server",
            "420 bounce server"
        ]
    );
    assert_eq!(
        s.intermediaries[0].behaviors,
        vec![BehaviorConfig::IdleTimeout(IdleTimeoutConfig {
            after: secs(90),
            watch: Watch::Any,
            action: CloseAction::Respond(504),
            after_headers: CloseAction::Fin,
        })]
    );
    assert_eq!(
        s.expects[0],
        CheckSpec::StreamClosed {
            stream: Some("main".into()),
            by: "edge".into(),
            at: secs(330),
            tolerance: secs(1),
        }
    );
}

#[test]
fn server_events_are_sorted_and_keepalive_is_a_named_event() {
    let s = valid("server-events.toml");
    assert!(s.protocol.is_empty());
    assert_eq!(s.seed, Some(42));
    assert!(s.server.keepalive_frame_set);
    assert_eq!(s.server.keepalive, None);
    assert_eq!(
        s.server.keepalive_frame,
        KeepaliveFrame::NamedEvent {
            name: "heartbeat".into()
        }
    );
    assert_eq!(
        s.server.end_after,
        Some(EndAfter {
            after: secs(540),
            streams: SseKind::ALL.to_vec()
        })
    );
    assert_eq!(
        s.server.events,
        vec![
            ServerEvent {
                at: secs(120),
                event: Some("update".into()),
                id: Some("7".into()),
                data: "first".into()
            },
            ServerEvent {
                at: secs(180),
                event: None,
                id: None,
                data: "second".into()
            },
        ]
    );
    assert_eq!(
        s.expects[1],
        CheckSpec::FirstEventDelay {
            stream: None,
            max: Some(secs(121)),
            min: None,
        }
    );
}

#[test]
fn behaviors_without_a_preset_take_their_defaults() {
    let s = valid("no-preset.toml");
    assert_eq!(s.intermediaries[0].name, "proxy1");
    assert_eq!(
        s.intermediaries[0].behaviors,
        vec![
            BehaviorConfig::IdleTimeout(IdleTimeoutConfig {
                after: secs(60),
                watch: Watch::Upstream,
                action: CloseAction::Fin,
                after_headers: CloseAction::Fin,
            }),
            BehaviorConfig::FirstByteTimeout(FirstByteTimeoutConfig {
                after: secs(30),
                status: 504
            }),
            BehaviorConfig::MaxDuration(MaxDurationConfig {
                after: secs(1800),
                action: CloseAction::Fin,
                after_headers: CloseAction::Fin,
            }),
            BehaviorConfig::Buffering(BufferingConfig {
                mode: BufferingMode::Threshold { bytes: 4096 },
                honor_x_accel_buffering: true,
            }),
        ]
    );
    assert_eq!(s.intermediaries[1].name, "lb");
    assert!(s.intermediaries[1].behaviors.is_empty());
    assert_eq!(s.server.keepalive, Some(secs(20)));
    assert_eq!(
        s.server.keepalive_frame,
        KeepaliveFrame::Comment {
            text: " ping".into()
        }
    );
}

#[test]
fn minimal_scenario_gets_every_default() {
    let s = valid("minimal.toml");
    assert_eq!(s.duration, secs(60));
    assert_eq!(s.tick, Duration::from_millis(1));
    assert!(s.protocol.is_empty() && s.intermediaries.is_empty() && s.faults.is_empty());
    assert!(s.expects.is_empty() && s.expect_fail.is_empty() && s.client.steps.is_empty());
    assert_eq!(s.seed, None);
    assert_eq!(s.server, ServerConfig::default());
}

#[test]
fn mcp_resume_takes_every_mcp_key() {
    let s = valid("mcp-resume.toml");
    assert_eq!(s.revision(), crate::mcp::Revision::V2025_11_25);
    assert!(s.server.event_store);
    assert_eq!(s.server.retry, Some(secs(2)));
    assert_eq!(
        s.server.notifications,
        vec![
            ServerNotification {
                at: secs(120),
                method: "notifications/tools/list_changed".into()
            },
            ServerNotification {
                at: secs(300),
                method: "notifications/resources/list_changed".into()
            },
        ]
    );
    assert_eq!(
        s.client.reconnect,
        ReconnectPolicy {
            enabled: true,
            initial: Duration::from_millis(500),
            max: secs(10),
            attempts: 3,
        }
    );
    let call = |stream: &str, duration: u64, progress: Option<u64>| ClientAction::CallTool {
        stream: stream.into(),
        duration: secs(duration),
        progress_every: progress.map(secs),
    };
    let steps: Vec<(u64, ClientAction)> = s
        .client
        .steps
        .iter()
        .map(|st| (st.at.as_secs(), st.action.clone()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (0, ClientAction::Initialize),
            (
                1,
                ClientAction::OpenGetStream {
                    stream: "get".into(),
                    last_event_id: None,
                }
            ),
            (2, call("long-call", 300, Some(30))),
            (360, ClientAction::Ping),
            (420, call("call", 30, None)),
            (480, call("call", 10, None)),
            (
                540,
                ClientAction::CloseStream {
                    stream: "get".into()
                }
            ),
            (570, ClientAction::DeleteSession),
        ]
    );
    assert_eq!(
        s.expects,
        vec![
            CheckSpec::KeepaliveOnPost { gap_max: secs(20) },
            CheckSpec::KeepaliveOnReplay { gap_max: secs(20) },
            CheckSpec::TimersIndependent { gap_max: secs(20) },
            CheckSpec::TimersCleared { grace: secs(2) },
            CheckSpec::ReplayComplete {
                stream: Some("get".into())
            },
            CheckSpec::EventIdUnique,
            CheckSpec::ClientResumes {
                stream: Some("long-call".into())
            },
        ]
    );
    assert_eq!(
        s.expect_fail.get("bug/shared-keepalive-timer"),
        Some(&vec![
            "timers.independent".to_string(),
            "timers.cleared".to_string()
        ])
    );
}

#[test]
fn mcp_stateless_needs_no_initialize_and_switches_things_off() {
    let s = valid("mcp-stateless.toml");
    assert_eq!(s.revision(), crate::mcp::Revision::V2026_07_28);
    assert_eq!(s.server.retry, None);
    assert!(!s.server.event_store);
    assert!(s.server.notifications.is_empty());
    assert_eq!(
        s.client.reconnect,
        ReconnectPolicy {
            enabled: false,
            ..ReconnectPolicy::default()
        }
    );
    assert_eq!(s.client.steps[0].action, ClientAction::Ping);
    assert_eq!(
        s.client.steps[2].action,
        ClientAction::CloseStream {
            stream: "call".into()
        }
    );
    assert_eq!(
        s.expects[1..],
        [
            CheckSpec::TimersCleared { grace: secs(1) },
            CheckSpec::KeepaliveFormat { stream: None },
        ]
    );
}

#[test]
fn mcp_defaults_when_no_key_is_given() {
    let s = valid("minimal.toml");
    assert_eq!(s.client.reconnect, ReconnectPolicy::default());
    assert!(s.server.event_store);
    assert_eq!(s.server.retry, Some(secs(3)));
}

// ------------------------------------------------------------------- MCP, inline

/// A step table.
fn step(at: &str, what: &str, extra: &str) -> String {
    format!("[[client.step]]\nat = \"{at}\"\ndo = \"{what}\"\n{extra}")
}

fn init() -> String {
    step("0s", "initialize", "")
}

#[test]
fn mcp_steps_need_an_earlier_initialize_in_time_order() {
    // Same time: file order decides, so initialize written first is enough ...
    let ok = format!(
        "{HEAD}{}{}",
        step("0s", "initialize", ""),
        step("0s", "ping", "")
    );
    assert!(parse_text(&ok).is_ok());
    // ... and written second is too late.
    let e = err(&format!(
        "{HEAD}{}{}",
        step("0s", "ping", ""),
        step("0s", "initialize", "")
    ));
    assert_eq!(
        (e.line, e.column, e.key_path.as_str()),
        (5, 6, "client.step[0].do")
    );
    assert!(e.message.starts_with("`ping` needs a session"), "{e}");
    for what in ["call-tool", "delete-session"] {
        let extra = if what == "call-tool" {
            "tool-duration = \"1s\"\n"
        } else {
            ""
        };
        let e = err(&format!(
            "{HEAD}{}{}",
            step("2s", what, extra),
            step("3s", "initialize", "")
        ));
        assert!(e.message.starts_with(&format!("`{what}` needs")), "{e}");
    }
    // Plain SSE steps need no session.
    assert!(parse_text(&format!("{HEAD}{}", step("0s", "open-stream", ""))).is_ok());
    // The sessionless revision needs none either, and initialize stays allowed there.
    let text = format!(
        "protocol = [\"2026-07-28\"]\n{HEAD}{}{}",
        step("0s", "call-tool", "tool-duration = \"1s\"\n"),
        step("1s", "initialize", "")
    );
    assert!(parse_text(&text).is_ok());
}

#[test]
fn the_last_protocol_decides_whether_there_is_a_get_stream() {
    let steps = format!("{}{}", init(), step("1s", "open-get-stream", ""));
    let e = err(&format!(
        "protocol = [\"2025-06-18\", \"2026-07-28\"]\n{HEAD}{steps}"
    ));
    assert_eq!(e.key_path, "client.step[1].do");
    assert!(e.message.contains("has no GET stream"), "{e}");
    let s = parse_text(&format!(
        "protocol = [\"2026-07-28\", \"2025-06-18\"]\n{HEAD}{steps}"
    ))
    .unwrap();
    assert_eq!(s.client.steps.len(), 2);
}

#[test]
fn a_tool_call_holds_its_stream_name_until_the_tool_is_done() {
    let call = |at: &str, d: &str| step(at, "call-tool", &format!("tool-duration = \"{d}\"\n"));
    let e = err(&format!(
        "{HEAD}{}{}{}",
        init(),
        call("1s", "10s"),
        call("5s", "1s")
    ));
    assert_eq!(e.key_path, "client.step[2]");
    assert!(
        e.message.starts_with(
            "stream `call` is still answering the tool call of client.step[1] (until 11s)"
        ),
        "{e}"
    );
    // Once the tool is done the name is free, for another call or for a GET stream.
    let s = parse_text(&format!(
        "{HEAD}{}{}{}{}",
        init(),
        call("1s", "10s"),
        call("11s", "1s"),
        step("20s", "open-get-stream", "stream = \"call\"\n")
    ))
    .unwrap();
    assert_eq!(s.client.steps.len(), 4);
    // A running call's stream may be closed, which frees its name at once.
    let s = parse_text(&format!(
        "{HEAD}{}{}{}{}",
        init(),
        call("1s", "10s"),
        step("2s", "close-stream", "stream = \"call\"\n"),
        call("3s", "1s"),
    ))
    .unwrap();
    assert_eq!(
        s.client.steps[2].action,
        ClientAction::CloseStream {
            stream: "call".into()
        }
    );
    // A plain stream and a GET stream may not share an open name either.
    let e = err(&format!(
        "{HEAD}{}{}{}",
        init(),
        step("1s", "open-stream", "stream = \"get\"\n"),
        step("2s", "open-get-stream", "")
    ));
    assert!(
        e.message
            .contains("already open (opened by client.step[1])"),
        "{e}"
    );
}

#[test]
fn open_get_stream_takes_a_last_event_id() {
    let s = parse_text(&format!(
        "{HEAD}{}{}",
        init(),
        step("1s", "open-get-stream", "last-event-id = \"7\"\n")
    ))
    .expect("valid");
    assert_eq!(
        s.client.steps[1].action,
        ClientAction::OpenGetStream {
            stream: "get".into(),
            last_event_id: Some("7".into()),
        }
    );
    for bad in ["", "a b", "é"] {
        let e = err(&format!(
            "{HEAD}{}{}",
            init(),
            step(
                "1s",
                "open-get-stream",
                &format!("last-event-id = \"{bad}\"\n")
            )
        ));
        assert_eq!(e.key_path, "client.step[1].last-event-id", "{e}");
    }
}

#[test]
fn step_keys_must_fit_the_step() {
    let cases = [
        ("ping", "stream = \"x\"\n", "stream"),
        ("initialize", "path = \"/mcp\"\n", "path"),
        ("open-get-stream", "path = \"/mcp\"\n", "path"),
        ("open-stream", "tool-duration = \"1s\"\n", "tool-duration"),
        (
            "delete-session",
            "progress-every = \"1s\"\n",
            "progress-every",
        ),
        ("call-tool", "last-event-id = \"3\"\n", "last-event-id"),
    ];
    for (what, extra, key) in cases {
        let e = err(&format!("{HEAD}{}{}", init(), step("1s", what, extra)));
        assert_eq!(e.key_path, format!("client.step[1].{key}"), "{e}");
        assert!(
            e.message
                .contains(&format!("not to do = \"{what}\"; expected it left out")),
            "{e}"
        );
    }
    let e = err(&format!(
        "{HEAD}{}{}",
        init(),
        step(
            "1s",
            "call-tool",
            "tool-duration = \"1s\"\nprogress-every = \"0s\"\n"
        )
    ));
    assert_eq!(
        (e.line, e.column, e.key_path.as_str()),
        (10, 18, "client.step[1].progress-every")
    );
}

#[test]
fn reconnect_keys_are_ranged_and_need_reconnect_on() {
    let client = |keys: &str| format!("{HEAD}[client]\n{keys}{}", init());
    let e = err(&client("reconnect-initial = \"1m\"\n"));
    assert_eq!(
        (e.line, e.column, e.key_path.as_str()),
        (4, 21, "client.reconnect-initial")
    );
    assert!(
        e.message
            .starts_with("reconnect-max (30s, the default) is less than reconnect-initial (60s)"),
        "{e}"
    );
    let e = err(&client("reconnect-initial = \"0s\"\n"));
    assert!(e.message.starts_with("is 0s"), "{e}");
    let e = err(&client("reconnect-attempts = 0\n"));
    assert_eq!(e.key_path, "client.reconnect-attempts");
    assert!(e.message.contains("expected an integer ≥ 1"), "{e}");
    let e = err(&client("reconnect-attempts = -1\n"));
    assert_eq!(e.key_path, "client.reconnect-attempts");
    let e = err(&client("reconnect = false\nreconnect-max = \"5s\"\n"));
    assert_eq!(e.key_path, "client.reconnect-max");
    // Equal bounds are fine: a constant delay.
    let s = parse_text(&client(
        "reconnect-initial = \"2s\"\nreconnect-max = \"2s\"\n",
    ))
    .unwrap();
    assert_eq!(
        s.client.reconnect,
        ReconnectPolicy {
            initial: secs(2),
            max: secs(2),
            ..ReconnectPolicy::default()
        }
    );
}

#[test]
fn server_mcp_keys_are_checked() {
    let mcp = |rest: &str| format!("{HEAD}{rest}{}", init());
    let s = parse_text(&mcp("[server]\nretry = \"0s\"\n")).unwrap();
    assert_eq!(s.server.retry, Some(Duration::ZERO));
    let e = err(&mcp("[server]\nretry = \"soon\"\n"));
    assert_eq!(e.key_path, "server.retry");
    assert!(e.message.contains("or \"off\""), "{e}");
    let e = err(&mcp(
        "[[server.notification]]\nat = \"11m\"\nmethod = \"m\"\n",
    ));
    assert_eq!(e.key_path, "server.notification[0].at");
    let e = err(&mcp(
        "[[server.notification]]\nat = \"1m\"\nmethod = \"a\\nb\"\n",
    ));
    assert_eq!(e.key_path, "server.notification[0].method");
    let e = err(&format!("{HEAD}[[server.notification]]\nat = \"1m\"\n"));
    assert!(
        e.message
            .contains("method = \"notifications/tools/list_changed\""),
        "{e}"
    );
}

#[test]
fn mcp_check_params_are_exact() {
    let expect = |body: &str| {
        format!(
            "{HEAD}[[expect]]\n{body}{}{}",
            init(),
            step("1s", "call-tool", "tool-duration = \"1m\"\n")
        )
    };
    let e = err(&expect("check = \"event-id.unique\"\nstream = \"main\"\n"));
    assert_eq!(e.key_path, "expect[0].stream");
    assert!(e.message.contains("expected no parameters"), "{e}");
    let e = err(&expect("check = \"keepalive.on-replay\"\n"));
    assert!(
        e.message
            .contains("missing required key `gap-max` for check `keepalive.on-replay`; expected its parameters: gap-max (required)"),
        "{e}"
    );
    let e = err(&expect(
        "check = \"timers.independent\"\ngap-max = \"0s\"\n",
    ));
    assert_eq!(e.key_path, "expect[0].gap-max");
    let e = err(&expect("check = \"client.resumes\"\nstream = \"get\"\n"));
    assert!(
        e.message.contains("no client step opens stream `get`"),
        "{e}"
    );
    let e = err(&expect(
        "check = \"keepalive.cadence\"\ngap-max = \"1s\"\ngrace = \"1s\"\n",
    ));
    assert_eq!(e.key_path, "expect[0].grace");
    let s = parse_text(&expect("check = \"timers.cleared\"\ngrace = \"0s\"\n")).unwrap();
    assert_eq!(
        s.expects,
        [CheckSpec::TimersCleared {
            grace: Duration::ZERO
        }]
    );
}

// ------------------------------------------------------------------- merging, inline

#[test]
fn threshold_bytes_override_keeps_the_preset_mode() {
    let s = parse_text(&format!(
        "{HEAD}[[intermediary]]\npreset = \"nginx\"\nbuffering = {{ bytes = 100 }}\n"
    ))
    .unwrap();
    assert_eq!(
        s.intermediaries[0].behaviors[1],
        BehaviorConfig::Buffering(BufferingConfig {
            mode: BufferingMode::Threshold { bytes: 100 },
            honor_x_accel_buffering: true,
        })
    );
}

#[test]
fn latency_override_of_one_end_keeps_the_other() {
    let presets = vec![Preset {
        name: "slow",
        summary: "",
        source: "",
        behaviors: vec![BehaviorConfig::Latency(LatencyConfig {
            min: Duration::from_millis(10),
            max: Duration::from_millis(20),
        })],
    }];
    let text =
        format!("{HEAD}[[intermediary]]\npreset = \"slow\"\nlatency = {{ max = \"50ms\" }}\n");
    let s = parse_with_presets("t.toml", &text, &presets).unwrap();
    assert_eq!(
        s.intermediaries[0].behaviors,
        vec![BehaviorConfig::Latency(LatencyConfig {
            min: Duration::from_millis(10),
            max: Duration::from_millis(50),
        })]
    );
    let text =
        format!("{HEAD}[[intermediary]]\npreset = \"slow\"\nlatency = {{ max = \"5ms\" }}\n");
    let e = parse_with_presets("t.toml", &text, &presets).unwrap_err();
    assert_eq!(e.key_path, "intermediary[0].latency.max");
    assert!(
        e.message.contains("max (5ms) is less than min (10ms)"),
        "{e}"
    );
}

#[test]
fn off_removes_a_preset_behavior_and_is_harmless_without_one() {
    let s = parse_text(&format!(
        "{HEAD}[[intermediary]]\npreset = \"nginx\"\nidle-timeout = \"off\"\nlatency = \"off\"\n"
    ))
    .unwrap();
    assert_eq!(s.intermediaries[0].behaviors.len(), 1);
    assert_eq!(s.intermediaries[0].behaviors[0].kind(), "buffering");
}

#[test]
fn unnamed_intermediaries_count_proxy_names() {
    let s = parse_text(&format!(
        "{HEAD}[[intermediary]]\n[[intermediary]]\npreset = \"nginx\"\n[[intermediary]]\n"
    ))
    .unwrap();
    let names: Vec<&str> = s.intermediaries.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["proxy1", "nginx", "proxy2"]);
}

#[test]
fn reserved_and_duplicate_explicit_names_are_errors() {
    let e = err(&format!("{HEAD}[[intermediary]]\nname = \"server\"\n"));
    assert_eq!(
        (e.line, e.column, e.key_path.as_str()),
        (4, 8, "intermediary[0].name")
    );
    assert!(e.message.contains("reserved"), "{e}");
    let e = err(&format!(
        "{HEAD}[[intermediary]]\nname = \"a\"\n[[intermediary]]\nname = \"a\"\n"
    ));
    assert_eq!((e.line, e.key_path.as_str()), (6, "intermediary[1].name"));
}

#[test]
fn keepalive_keys_must_match_the_frame() {
    let e = err(&format!("{HEAD}[server]\nkeepalive-event = \"ping\"\n"));
    assert_eq!(e.key_path, "server.keepalive-event");
    assert_eq!(
        e.hint.as_deref(),
        Some("add keepalive-frame = \"named-event\" to [server]")
    );
    let e = err(&format!("{HEAD}[server]\nkeepalive = \"0s\"\n"));
    assert_eq!(
        (e.line, e.column, e.key_path.as_str()),
        (4, 13, "server.keepalive")
    );
    let e = err(&format!("{HEAD}[server]\nkeepalive-comment = \"a\\nb\"\n"));
    assert!(e.message.contains("line break"), "{e}");
}

#[test]
fn stream_closed_by_must_be_an_intermediary() {
    let e = err(&format!(
        "{HEAD}[[intermediary]]\nname = \"edge\"\n[[expect]]\ncheck = \"stream.closed\"\nby = \"egde\"\nat = \"1m\"\n"
    ));
    assert_eq!(
        (e.line, e.column, e.key_path.as_str()),
        (7, 6, "expect[0].by")
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean `edge`?"));
}

#[test]
fn fault_keys_must_fit_the_fault() {
    let e = err(&format!(
        "{HEAD}[[fault]]\nat = \"1s\"\ndo = \"crash\"\nhost = \"server\"\na = \"client\"\n"
    ));
    assert_eq!(e.key_path, "fault[0].a");
    assert!(e.message.contains("expected host"), "{e}");
    let e = err(&format!(
        "{HEAD}[[fault]]\nat = \"1s\"\ndo = \"repair\"\na = \"client\"\nb = \"client\"\n"
    ));
    assert_eq!(e.key_path, "fault[0].b");
    let e = err(&format!("{HEAD}[[fault]]\nat = \"1s\"\ndo = \"explode\"\n"));
    assert_eq!((e.line, e.key_path.as_str()), (5, "fault[0].do"));
    assert!(
        e.message.contains("expected one of: partition, repair"),
        "{e}"
    );
}

#[test]
fn duration_is_bounded() {
    let e = err("description = \"d\"\nduration = \"0s\"\n");
    assert_eq!((e.line, e.column, e.key_path.as_str()), (2, 12, "duration"));
    let e = err("description = \"d\"\nduration = \"8days\"\n");
    assert!(e.message.contains("at most 7days"), "{e}");
    assert!(parse_text("description = \"d\"\nduration = \"7days\"\n").is_ok());
}

#[test]
fn opening_an_open_stream_is_an_error() {
    let e = err(&format!(
        "{HEAD}[[client.step]]\nat = \"0s\"\ndo = \"open-stream\"\n[[client.step]]\nat = \"1s\"\ndo = \"open-stream\"\n"
    ));
    assert_eq!(e.key_path, "client.step[1]");
    assert!(e.message.contains("already open"), "{e}");
}

// ------------------------------------------------------------------- robustness

/// Feeds many damaged variants of every valid fixture through the loader: none may panic,
/// and every error must point inside the text.
#[test]
fn damaged_files_never_panic() {
    const BYTES: &[&str] = &[
        "\"",
        "[",
        "]",
        "{",
        "}",
        "=",
        "\n",
        "0",
        "-",
        ".",
        ",",
        "#",
        "'",
        "\\",
        "é",
        "off",
        "99999999999999999999",
    ];
    let mut rng = SmallRng::seed_from_u64(7);
    let mut runs = 0;
    for path in fixtures("valid") {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines = text.lines().count() + 1;
        let mut check = |variant: &str| {
            runs += 1;
            if let Err(e) = parse_with_presets("f.toml", variant, &test_presets()) {
                assert!(
                    e.line >= 1 && e.line <= lines + 1,
                    "{e}\n--- in ---\n{variant}"
                );
                assert!(e.column >= 1, "{e}");
                assert!(
                    e.to_string().contains("expected"),
                    "{e}\n--- in ---\n{variant}"
                );
            }
        };
        for (i, _) in text.char_indices() {
            check(&text[..i]);
        }
        let chars: Vec<char> = text.chars().collect();
        for _ in 0..400 {
            let mut v = chars.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..v.len());
                match rng.random_range(0..3) {
                    0 => {
                        v.remove(at);
                    }
                    1 => {
                        let s = BYTES[rng.random_range(0..BYTES.len())];
                        for (k, c) in s.chars().enumerate() {
                            v.insert(at + k, c);
                        }
                    }
                    _ => {
                        let other = rng.random_range(0..v.len());
                        v.swap(at, other);
                    }
                }
                if v.is_empty() {
                    break;
                }
            }
            check(&v.into_iter().collect::<String>());
        }
        // Every line dropped once.
        let all: Vec<&str> = text.lines().collect();
        for skip in 0..all.len() {
            let v: Vec<&str> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, l)| *l)
                .collect();
            check(&v.join("\n"));
        }
    }
    assert!(runs > 3000, "{runs}");
}

// ------------------------------------------------------------------- files

#[test]
fn discover_is_recursive_sorted_and_rejects_missing_paths() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios");
    let all = discover(std::slice::from_ref(&root)).unwrap();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    assert_eq!(
        all.len(),
        fixtures("valid").len() + fixtures("malformed").len()
    );
    assert!(all
        .iter()
        .all(|p| p.extension().is_some_and(|x| x == "toml")));
    // A file given twice (directly and through its directory) appears once.
    let one = root.join("valid/minimal.toml");
    let again = discover(&[one.clone(), root.join("valid")]).unwrap();
    assert_eq!(again, fixtures("valid"));
    let missing = root.join("no-such-dir");
    let e = discover(&[missing]).unwrap_err();
    assert_eq!(e.line, 0);
    assert!(e.to_string().contains("no-such-dir: cannot open"), "{e}");
}

#[test]
fn load_reports_unreadable_files_at_line_zero() {
    let e = load(Path::new("tests/fixtures/scenarios/none.toml")).unwrap_err();
    assert_eq!((e.line, e.column), (0, 0));
    assert!(
        e.to_string()
            .starts_with("error: tests/fixtures/scenarios/none.toml: cannot read"),
        "{e}"
    );
}

#[test]
fn load_parses_a_file_with_the_real_preset_list() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios/valid/minimal.toml");
    let s = load(&path).unwrap();
    assert_eq!(s.path, path.display().to_string());
}

#[test]
fn client_behaviour_check_params_are_checked_and_defaulted() {
    let expect = |body: &str| {
        format!(
            "{HEAD}{}{}[[expect]]\n{body}",
            init(),
            step("1s", "open-get-stream", "")
        )
    };
    let s = parse_text(&format!(
        "{}[[expect]]\ncheck = \"client.detects-buffering\"\n[[expect]]\ncheck = \"client.polling-fallback\"\n[[expect]]\ncheck = \"client.keepalive-warnings\"\nexpected = \"15s\"\n",
        expect("check = \"stream.recovers\"\n")
    ))
    .unwrap();
    assert_eq!(
        s.expects,
        [
            CheckSpec::StreamRecovers {
                stream: None,
                within: secs(60),
                across_sessions: false,
            },
            CheckSpec::ClientDetectsBuffering { tick: s.tick },
            CheckSpec::ClientPollingFallback,
            CheckSpec::ClientKeepaliveWarnings {
                expected: secs(15),
                tick: s.tick
            },
        ]
    );
    let e = err(&expect("check = \"stream.recovers\"\nwithin = \"0s\"\n"));
    assert_eq!(e.key_path, "expect[0].within");
    let e = err(&expect(
        "check = \"stream.recovers\"\nwithin = \"99days\"\n",
    ));
    assert_eq!(e.key_path, "expect[0].within");
    assert!(e.message.contains("after the end of the run"), "{e}");
    let e = err(&expect(
        "check = \"client.polling-fallback\"\nexpected = \"30s\"\n",
    ));
    assert_eq!(e.key_path, "expect[0].expected");
    assert!(e.message.contains("expected no parameters"), "{e}");
    let e = err(&expect(
        "check = \"client.keepalive-warnings\"\nwithin = \"30s\"\n",
    ));
    assert_eq!(e.key_path, "expect[0].within");
    assert!(
        e.message.contains("expected only its parameters: expected"),
        "{e}"
    );
}

mod refusals;
