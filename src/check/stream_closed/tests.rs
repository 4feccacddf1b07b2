use super::*;
use crate::check::testing::TraceBuilder;
use crate::trace::StreamEnd;

const END: Duration = Duration::from_secs(600);
const SEC: Duration = Duration::from_secs(1);

fn killed_at(t: u64) -> TraceBuilder {
    TraceBuilder::new()
        .intermediary("nginx", &[("idle-timeout", 60_000)])
        .stream(1, "main", 0)
        .closed_by_intermediary(
            t,
            1,
            "nginx",
            "idle-timeout",
            "idle-timeout 60s (upstream silent since 00:00:00.003)",
        )
        .ended(t + 1, 1, StreamEnd::Truncated)
}

#[test]
fn passes_when_the_named_intermediary_closes_in_the_window() {
    let t = killed_at(60_003).build();
    let o = evaluate(Some("main"), "nginx", Duration::from_secs(60), SEC, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(o.at, Some(Duration::from_millis(60_003)));
}

#[test]
fn the_window_edges_are_inclusive() {
    let t = killed_at(61_000).build();
    let o = evaluate(None, "nginx", Duration::from_secs(60), SEC, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    let o = evaluate(
        None,
        "nginx",
        Duration::from_secs(60),
        Duration::from_millis(999),
        &t,
        END,
    );
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(o.message.contains(", 1s late; "), "{}", o.message);
}

#[test]
fn fails_when_closed_at_another_time() {
    let t = killed_at(30_000).build();
    let o = evaluate(None, "nginx", Duration::from_secs(60), SEC, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(o.message.contains("30s early"), "{}", o.message);
    assert!(
        o.message
            .contains("expected nginx to close it at 00:01:00.000 ± 1s"),
        "{}",
        o.message
    );
}

#[test]
fn fails_when_someone_else_closes() {
    let t = TraceBuilder::new()
        .intermediary("nginx", &[("idle-timeout", 60_000)])
        .intermediary("alb", &[("idle-timeout", 60_000)])
        .stream(1, "main", 0)
        .closed_by_intermediary(60_000, 1, "alb", "idle-timeout", "")
        .build();
    let o = evaluate(None, "nginx", Duration::from_secs(60), SEC, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert_eq!(
            o.message,
            "conn#1 (stream main) closed at 00:01:00.000 by alb (idle-timeout 60s); expected nginx to close it at 00:01:00.000 ± 1s"
        );
    assert_eq!(o.at, Some(Duration::from_secs(60)));
}

#[test]
fn fails_when_the_stream_survives() {
    let t = TraceBuilder::new()
        .stream(1, "main", 0)
        .client_closed(600_000, 1)
        .build();
    let o = evaluate(None, "nginx", Duration::from_secs(60), SEC, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(
        o.message
            .contains("survived until the client closed it at 00:10:00.000"),
        "{}",
        o.message
    );
    let open = TraceBuilder::new().stream(1, "main", 0).build();
    let o = evaluate(None, "nginx", Duration::from_secs(60), SEC, &open, END);
    assert!(
        o.message.contains("still open at the scenario's end"),
        "{}",
        o.message
    );
}

#[test]
fn a_reconnected_stream_passes_on_its_closed_connection() {
    let t = killed_at(60_003)
        .stream(2, "main", 61_000)
        .client_closed(600_000, 2)
        .build();
    let o = evaluate(Some("main"), "nginx", Duration::from_secs(60), SEC, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message.starts_with("conn#1 (stream main)"),
        "{}",
        o.message
    );
}

#[test]
fn a_named_stream_never_opened_fails() {
    let t = killed_at(60_003).build();
    let o = evaluate(
        Some("other"),
        "nginx",
        Duration::from_secs(60),
        SEC,
        &t,
        END,
    );
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(
        o.message.contains("stream other was never opened"),
        "{}",
        o.message
    );
}

#[test]
fn the_spec_dispatches_here() {
    let t = killed_at(60_003).build();
    let spec = crate::check::CheckSpec::StreamClosed {
        stream: Some("main".into()),
        by: "nginx".into(),
        at: Duration::from_secs(60),
        tolerance: SEC,
    };
    let o = spec.evaluate(&t, END);
    assert_eq!(
        o,
        evaluate(Some("main"), "nginx", Duration::from_secs(60), SEC, &t, END)
    );
    assert_eq!(o.id, spec.id());
}
