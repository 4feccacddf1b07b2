use super::*;
use crate::check::testing::TraceBuilder;
use crate::trace::{Closer, StreamEnd};

const END: Duration = Duration::from_secs(30 * 60);

fn nginx() -> TraceBuilder {
    TraceBuilder::new().intermediary("nginx", &[("idle-timeout", 60_000)])
}

#[test]
fn passes_when_only_the_client_closes() {
    let t = nginx()
        .stream(1, "main", 0)
        .comment(15_003, 1)
        .client_closed(1_800_000, 1)
        .build();
    let o = evaluate(None, None, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(o.at, Some(END));
    assert!(o.message.contains("conn#1 (stream main)"), "{}", o.message);
}

#[test]
fn fails_naming_the_intermediary_decision() {
    let t = nginx()
        .stream(1, "main", 0)
        .closed_by_intermediary(
            60_003,
            1,
            "nginx",
            "idle-timeout",
            "idle-timeout 60s (upstream silent since 00:00:00.003)",
        )
        .ended(60_004, 1, StreamEnd::Truncated)
        .client_closed(60_004, 1)
        .build();
    let o = evaluate(Some("main"), Some(END), &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert_eq!(o.at, Some(Duration::from_millis(60_003)));
    assert_eq!(
        o.message,
        "conn#1 (stream main) closed at 00:01:00.003 by nginx (idle-timeout 60s, upstream silent since 00:00:00.003); expected open until 00:30:00.000"
    );
}

#[test]
fn a_death_after_until_passes() {
    let t = nginx()
        .stream(1, "main", 0)
        .closed_by_intermediary(60_003, 1, "nginx", "idle-timeout", "")
        .build();
    let o = evaluate(None, Some(Duration::from_secs(60)), &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    let o = evaluate(None, Some(Duration::from_millis(60_004)), &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.contains("by nginx (idle-timeout 60s)"),
        "{}",
        o.message
    );
}

#[test]
fn a_blackhole_counts_as_death() {
    let t = nginx()
        .stream(1, "main", 0)
        .blackholed(120_000, 1, "nginx", "idle-timeout", "upstream silent")
        .client_closed(1_800_000, 1)
        .build();
    let o = evaluate(None, None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(
        o.message.contains("blackholed at 00:02:00.000 by nginx"),
        "{}",
        o.message
    );
    assert!(o.message.contains("no bytes pass"), "{}", o.message);
}

#[test]
fn an_intermediary_504_fails_naming_the_status() {
    let t = TraceBuilder::new()
        .intermediary("alb", &[("first-byte-timeout", 60_000)])
        .open(0, 1, "main")
        .request(0, 1)
        .responded(
            60_000,
            1,
            "alb",
            504,
            "first-byte-timeout",
            "no response head",
        )
        .response_typed(60_001, 1, 504, "text/html")
        .ended(60_002, 1, StreamEnd::Complete)
        .build();
    let o = evaluate(None, None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(
        o.message.contains("answered 504 at 00:01:00.000 by alb"),
        "{}",
        o.message
    );
    assert!(
        o.message
            .contains("first-byte-timeout 60s, no response head"),
        "{}",
        o.message
    );
}

#[test]
fn a_server_error_status_fails() {
    let t = TraceBuilder::new()
        .open(0, 1, "main")
        .request(0, 1)
        .response_typed(2, 1, 500, "text/plain")
        .ended(3, 1, StreamEnd::Complete)
        .build();
    let o = evaluate(None, None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(
        o.message.contains("got response 500 at 00:00:00.002"),
        "{}",
        o.message
    );
}

#[test]
fn a_server_close_fails_naming_the_server() {
    let t = TraceBuilder::new()
        .stream(1, "main", 0)
        .server_closed(10_000, 1, "handler returned")
        .ended(10_001, 1, StreamEnd::Truncated)
        .build();
    let o = evaluate(None, None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(
        o.message
            .contains("closed at 00:00:10.000 by server (handler returned)"),
        "{}",
        o.message
    );
}

#[test]
fn a_reopened_stream_reports_the_first_failure() {
    let t = nginx()
        .stream(1, "main", 0)
        .client_closed(10_000, 1)
        .stream(2, "main", 10_000)
        .ended(70_000, 2, StreamEnd::Truncated)
        .conn_closed(
            70_000,
            2,
            Closer::Intermediary("nginx".into()),
            "peer closed",
        )
        .stream(3, "main", 71_000)
        .build();
    let o = evaluate(Some("main"), None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(
        o.message
            .starts_with("conn#2 (stream main) ended at 00:01:10.000 by nginx"),
        "{}",
        o.message
    );
}

#[test]
fn a_named_stream_never_opened_fails() {
    let t = nginx().stream(1, "main", 0).build();
    let o = evaluate(Some("notifications"), None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert_eq!(
        o.message,
        "stream notifications was never opened (the client opened: main)"
    );
}

#[test]
fn no_stream_at_all_is_unobservable() {
    let o = evaluate(None, None, &nginx().build(), END);
    assert_eq!(o.verdict, Verdict::Unobservable);
    assert!(o.message.contains("no stream"), "{}", o.message);
}

#[test]
fn until_beyond_the_scenario_is_unobservable() {
    let t = nginx().stream(1, "main", 0).build();
    let o = evaluate(None, Some(Duration::from_secs(3600)), &t, END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
}

#[test]
fn a_failed_connect_fails() {
    let t = TraceBuilder::new()
        .open(0, 1, "main")
        .failed(1, Some(1), "main", "connection refused")
        .build();
    let o = evaluate(None, None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(
        o.message.contains("never connected (connection refused)"),
        "{}",
        o.message
    );
}

#[test]
fn the_spec_dispatches_here() {
    let t = nginx().stream(1, "main", 0).build();
    let spec = crate::check::CheckSpec::StreamSurvives {
        stream: None,
        until: Some(Duration::from_secs(60)),
    };
    assert_eq!(
        spec.evaluate(&t, END),
        evaluate(None, Some(Duration::from_secs(60)), &t, END)
    );
    assert_eq!(spec.evaluate(&t, END).id, spec.id());
}

#[test]
fn a_stream_still_open_at_the_end_survives_to_the_end() {
    let t = nginx().stream(1, "main", 0).comment(15_003, 1).build();
    let o = evaluate(None, None, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#1 (stream main) stayed open until 00:30:00.000; only the client closed"
    );
    assert_eq!(o.at, Some(END));
}

#[test]
fn a_death_exactly_at_until_is_not_before_it() {
    let t = nginx()
        .stream(1, "main", 0)
        .closed_by_intermediary(60_003, 1, "nginx", "idle-timeout", "")
        .build();
    let o = evaluate(None, Some(Duration::from_millis(60_003)), &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#1 (stream main) stayed open until 00:01:00.003 (ended at 00:01:00.003); only the client closed"
    );
}
