use super::*;
use crate::sse::Frame;
use crate::trace::{Closer, ConnId, Event, EventKind};
use std::time::Duration;

const SCENARIO: &str = r#"
description = "one stream through nginx"
duration = "10m"

[[intermediary]]
preset = "nginx"

[[client.step]]
at = "1s"
do = "open-stream"

[[expect]]
check = "stream.survives"

[[expect]]
check = "keepalive.format"

[expect-fail."bug/no-keepalive"]
checks = ["stream.survives"]
"#;

fn scenario() -> Scenario {
    crate::scenario::parse("scenarios/mem.toml", SCENARIO).expect("scenario parses")
}

fn event(ms: u64, host: &str, kind: EventKind) -> Event {
    Event {
        at: Duration::from_millis(ms),
        host: host.into(),
        conn: Some(ConnId(1)),
        kind,
    }
}

/// How the hand-written stream goes.
#[derive(Clone, Copy)]
pub(super) enum Story {
    /// Comment keepalives every 15 s; the client closes at the scenario's end.
    Keepalives,
    /// No byte after the head; the client closes at the scenario's end.
    Silent,
    /// nginx closes it at 61 s (idle timeout).
    CutByNginx,
}

fn trace(story: Story) -> Trace {
    let mut events = vec![
        event(
            1_000,
            "client",
            EventKind::ConnOpened {
                stream: "main".into(),
                route: vec!["nginx".into(), "server".into()],
            },
        ),
        event(
            1_000,
            "client",
            EventKind::RequestSent {
                method: "GET".into(),
                path: "/mcp".into(),
                last_event_id: None,
            },
        ),
        event(
            1_003,
            "client",
            EventKind::ResponseReceived {
                status: 200,
                content_type: Some("text/event-stream".into()),
            },
        ),
    ];
    match story {
        Story::Keepalives => {
            for i in 1..40 {
                events.push(event(
                    1_003 + i * 15_000,
                    "client",
                    EventKind::Received {
                        bytes: 13,
                        frames: vec![Frame::Comment {
                            text: " keepalive".into(),
                        }],
                    },
                ));
            }
        }
        Story::Silent => {}
        Story::CutByNginx => events.push(event(
            61_003,
            "nginx",
            EventKind::IntermediaryClosed {
                behavior: "idle-timeout".into(),
                action: "fin".into(),
                reason: "idle-timeout 60s (upstream silent since 00:00:01.003)".into(),
            },
        )),
    }
    if !matches!(story, Story::CutByNginx) {
        events.push(event(
            600_000,
            "client",
            EventKind::ConnClosed {
                by: Closer::Client,
                reason: "scenario end".into(),
            },
        ));
    }
    Trace { events }
}

/// `scenarios/mem.toml` (checks `stream.survives`, `keepalive.format`; `bug/no-keepalive`
/// expected to fail `stream.survives`) evaluated for `target` with seed 42.
pub(super) fn run(target: &str, story: Story, error: Option<&str>) -> RunResult {
    let out = RunOutput {
        trace: trace(story),
        error: error.map(Into::into),
    };
    evaluate(&scenario(), target, 42, out)
}

/// The keepalive story, then a flood of `:` comments at 00:01:15 on which the stall guard
/// stopped the run; `expected`: the file declares the target's wall-clock failure.
fn stopped(expected: bool) -> RunResult {
    stopped_by(expected, crate::trace::StopGuard::Stall)
}

/// [`stopped`], by the given guard.
fn stopped_by(expected: bool, guard: crate::trace::StopGuard) -> RunResult {
    let mut t = trace(Story::Keepalives);
    t.events.retain(|e| e.at <= Duration::from_secs(75));
    for _ in 0..50 {
        t.events.push(event(
            75_000,
            "server",
            EventKind::FrameWritten {
                frame: crate::sse::Frame::Comment {
                    text: String::new(),
                },
                timer: None,
            },
        ));
    }
    t.events.push(Event {
        at: Duration::from_secs(75),
        host: crate::trace::HARNESS.into(),
        conn: None,
        kind: EventKind::RunStopped {
            guard,
            reason: "virtual time stood still at 00:01:15.000: ...".into(),
        },
    });
    let text = if expected {
        format!("{SCENARIO}\n[expect-fail.\"flooder\"]\nchecks = [\"determinism.wall-clock\"]\n")
    } else {
        SCENARIO.to_string()
    };
    let s = crate::scenario::parse("scenarios/mem.toml", &text).expect("parses");
    let out = RunOutput {
        trace: t,
        error: Some("virtual time stood still at 00:01:15.000: ...".into()),
    };
    evaluate(&s, "flooder", 42, out)
}

#[test]
fn reproduce_lines_quote_what_the_shell_would_split() {
    let mut r = run("reference", Story::CutByNginx, None);
    r.target = "exec:KEEPALIVE=0 python3 srv.py".into();
    r.options = vec!["--keepalive".into(), "1m 30s".into()];
    assert_eq!(
            r.reproduce(),
            "middlebox run scenarios/mem.toml --target 'exec:KEEPALIVE=0 python3 srv.py' --seed 42 --keepalive '1m 30s'"
        );
    assert_eq!(shell_word("it's"), "'it'\\''s'");
}

#[test]
fn a_run_the_stall_guard_stopped_is_judged_up_to_the_stop_and_expected_only_when_declared() {
    let r = stopped(true);
    assert_eq!(verdict(&r, "determinism.wall-clock"), Verdict::Fail);
    // The stream was open and keepalives came until 00:01:15, but the check judges the
    // whole 10 minutes: past the stop it cannot tell.
    let survives = r.checks.iter().find(|c| c.id == "stream.survives");
    let survives = survives.expect("stream.survives is reported");
    assert_eq!(survives.verdict, Verdict::Unobservable, "{:?}", r.checks);
    assert!(
            survives.message.starts_with(
                "the run was stopped at 00:01:15.000, before 00:10:00.000 (the end of what this check judges); until the stop: conn#1 (stream main) stayed open until 00:01:15.000"
            ),
            "{}",
            survives.message
        );
    assert_eq!(survives.at.as_deref(), Some("00:01:15.000"));
    assert_eq!(r.verdict, ResultVerdict::Fail);
    assert!(!r.unexpected, "{:?}", r.checks);
    assert!(r.error.is_some(), "the stop stays on record");
    // Undeclared, the same stop is unexpected.
    assert!(stopped(false).unexpected);
    // A stop by the byte budget is no wall-clock sign: unexpected even where the file
    // declares determinism.wall-clock.
    assert!(stopped_by(true, crate::trace::StopGuard::Budget).unexpected);
}

fn verdict(r: &RunResult, id: &str) -> Verdict {
    r.checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id} in {:?}", r.checks))
        .verdict
}

#[test]
fn all_passing_is_expected() {
    let r = run("reference", Story::Keepalives, None);
    assert_eq!(verdict(&r, "stream.survives"), Verdict::Pass);
    assert_eq!(verdict(&r, "keepalive.format"), Verdict::Pass);
    assert_eq!(r.verdict, ResultVerdict::Pass);
    assert!(!r.unexpected);
    assert!(!r.expected_fail);
    assert_eq!(
        (r.scenario.as_str(), r.target.as_str(), r.seed),
        ("scenarios/mem.toml", "reference", 42)
    );
    assert!(r.checks.iter().all(|c| !c.expected_fail));
}

#[test]
fn unobservable_not_expected_to_fail_is_fine() {
    let r = run("reference", Story::Silent, None);
    assert_eq!(verdict(&r, "keepalive.format"), Verdict::Unobservable);
    assert_eq!(r.verdict, ResultVerdict::Pass);
    assert!(!r.unexpected);
}

#[test]
fn an_unexpected_fail_is_unexpected() {
    let r = run("reference", Story::CutByNginx, None);
    assert_eq!(verdict(&r, "stream.survives"), Verdict::Fail);
    assert_eq!(r.verdict, ResultVerdict::Fail);
    assert!(r.unexpected);
    let c = r.checks.iter().find(|c| c.id == "stream.survives").unwrap();
    assert!(!c.as_expected());
    assert_eq!(c.at.as_deref(), Some("00:01:01.003"));
}

#[test]
fn an_expected_fail_is_expected() {
    let r = run("bug/no-keepalive", Story::CutByNginx, None);
    assert_eq!(r.verdict, ResultVerdict::Fail);
    assert!(r.expected_fail);
    assert!(!r.unexpected, "{:?}", r.checks);
    let marked: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.expected_fail)
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(marked, ["stream.survives"]);
}

#[test]
fn an_expected_failure_that_passes_is_unexpected() {
    let r = run("bug/no-keepalive", Story::Keepalives, None);
    assert_eq!(r.verdict, ResultVerdict::Pass);
    assert!(r.expected_fail);
    assert!(r.unexpected, "a stale expectation must be flagged");
}

#[test]
fn an_expected_failure_that_is_unobservable_is_unexpected() {
    let c = CheckResult {
        id: "stream.survives".into(),
        verdict: Verdict::Unobservable,
        expected_fail: true,
        at: None,
        message: String::new(),
        expected_by: None,
    };
    assert!(!c.as_expected());
}

#[test]
fn a_simulation_error_fails_and_is_unexpected_even_with_passing_checks() {
    let r = run("reference", Story::Keepalives, Some("host server panicked"));
    assert!(r.checks.iter().all(|c| c.verdict != Verdict::Fail));
    assert_eq!(r.verdict, ResultVerdict::Fail);
    assert!(r.unexpected);
    assert_eq!(r.error.as_deref(), Some("host server panicked"));
}

#[test]
fn reproduce_names_scenario_target_and_seed() {
    let r = run("bug/no-keepalive", Story::Keepalives, None);
    assert_eq!(
        r.reproduce(),
        "middlebox run scenarios/mem.toml --target bug/no-keepalive --seed 42"
    );
}

#[test]
fn report_summary_counts_pass_fail_and_unexpected() {
    let report = Report::new(
        Some(42),
        vec![
            run("reference", Story::Keepalives, None),        // pass
            run("reference", Story::CutByNginx, None),        // fail, unexpected
            run("bug/no-keepalive", Story::CutByNginx, None), // fail, expected
            run("bug/no-keepalive", Story::Keepalives, None), // pass, unexpected
        ],
    );
    assert_eq!(
        report.summary,
        Summary {
            pass: 2,
            fail: 2,
            unexpected: 2
        }
    );
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["summary"]["unexpected"], 2);
    assert_eq!(json["results"].as_array().map(Vec::len), Some(4));
    assert!(
        json["results"][0].get("trace").is_none(),
        "trace is skipped"
    );
}

/// The keepalive story with a ping #1 sent at 2 s and answered `outcome` (None: never).
fn pinged(outcome: Option<&str>, expect_fail: bool) -> RunResult {
    let mut t = trace(Story::Keepalives);
    t.events.push(event(
        2_000,
        "client",
        EventKind::RpcSent {
            method: "ping".into(),
            id: Some(1),
        },
    ));
    if let Some(o) = outcome {
        t.events.push(event(
            2_005,
            "client",
            EventKind::RpcAnswered {
                id: 1,
                outcome: o.into(),
            },
        ));
    }
    t.events.sort_by_key(|e| e.at);
    let text = if expect_fail {
        format!("{SCENARIO}\n[expect-fail.\"reference\"]\nchecks = [\"rpc.answered\"]\n")
    } else {
        SCENARIO.to_string()
    };
    let s = crate::scenario::parse("scenarios/mem.toml", &text).expect("parses");
    let out = RunOutput {
        trace: t,
        error: None,
    };
    evaluate(&s, "reference", 42, out)
}

#[test]
fn rpc_answered_runs_on_every_scenario_and_shows_only_when_it_fails() {
    let ok = pinged(Some("ok"), false);
    assert!(ok.checks.iter().all(|c| c.id != "rpc.answered"));
    assert!(!ok.unexpected);
    let bad = pinged(Some("http 504"), false);
    assert_eq!(verdict(&bad, "rpc.answered"), Verdict::Fail);
    assert!(bad.unexpected);
    let silent = pinged(None, false);
    assert_eq!(verdict(&silent, "rpc.answered"), Verdict::Fail);
    // Declared, the failure is expected.
    let declared = pinged(Some("error -32001: Request timed out"), true);
    assert!(!declared.unexpected, "{:?}", declared.checks);
    assert!(pinged(Some("ok"), true).unexpected, "a stale expectation");
}

#[test]
fn a_refused_scheduled_notification_is_the_runs_error() {
    let mut t = trace(Story::Keepalives);
    t.events.push(Event {
        at: Duration::from_secs(10),
        host: "server".into(),
        conn: None,
        kind: EventKind::NotificationRefused {
            method: "notifications/resources/list_changed".into(),
            session: Some("s1".into()),
            reason: "Server does not support notifying about resources".into(),
        },
    });
    let out = RunOutput {
        trace: t,
        error: None,
    };
    let r = evaluate(&scenario(), "reference", 42, out);
    assert_eq!(
            r.error.as_deref(),
            Some("the implementation refused 1 scheduled notification: notifications/resources/list_changed at 00:00:10.000 (session s1): Server does not support notifying about resources")
        );
    assert_eq!(r.verdict, ResultVerdict::Fail);
    assert!(r.unexpected);
}

#[test]
fn a_report_reads_back_from_its_json_and_shards_merge_into_one() {
    let a = Report::new(Some(42), vec![run("reference", Story::Keepalives, None)]);
    let b = Report::new(
        Some(42),
        vec![run("bug/no-keepalive", Story::Keepalives, None)],
    );
    let back = Report::from_json(&a.to_json()).unwrap();
    assert_eq!(back.to_json(), a.to_json());
    assert_eq!(back.results[0].reproduce(), a.results[0].reproduce());
    let merged = Report::merge(vec![back, Report::from_json(&b.to_json()).unwrap()]).unwrap();
    assert_eq!(merged.results.len(), 2);
    // The stale expectation of the second shard counts in the whole.
    assert_eq!(merged.summary.unexpected, 1);
    assert_eq!(merged.seed, Some(42));
    let e = Report::merge(vec![a.clone(), a]).unwrap_err();
    assert!(e.contains("in two reports"), "{e}");
    assert!(Report::from_json("{}")
        .unwrap_err()
        .contains("not a middlebox report.json"));
}
