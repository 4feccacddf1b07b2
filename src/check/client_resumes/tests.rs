use super::*;
use crate::check::testing::TraceBuilder;
use crate::trace::StreamEnd;

const END: Duration = Duration::from_secs(300);

/// GET conn 1 receives 1..3 and is dropped at 60s; conn 2 resumes from 3 at 61s, gets only
/// a priming event repeating 3 and is dropped again at 121s; conn 3 reconnects at 122s
/// with `third`.
fn drop_resume_drop(third: Option<&str>) -> TraceBuilder {
    TraceBuilder::new()
        .stream(1, "get", 0)
        .event_id(1_000, 1, "1", "")
        .event_id(2_000, 1, "2", "{}")
        .event_id(3_000, 1, "3", "{}")
        .ended(60_000, 1, StreamEnd::Truncated)
        .resume(2, "get", 61_000, "3")
        .event_id(61_004, 2, "3", "")
        .ended(121_000, 2, StreamEnd::Truncated)
        .open(122_000, 3, "get")
        .request_with(122_000, 3, "GET", third)
        .response(122_003, 3, 200)
}

#[test]
fn an_id_kept_across_two_drops_passes() {
    let t = drop_resume_drop(Some("3")).build();
    let o = evaluate(Some("get"), &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
            o.message,
            "conn#3 (stream get) reconnected at 00:02:02.000 with Last-Event-ID 3, the last id it had received; 2 reconnects checked"
        );
    assert_eq!(o.at, Some(Duration::from_secs(122)));
}

#[test]
fn forgetting_the_id_after_a_resume_with_nothing_new_fails() {
    let t = drop_resume_drop(None).build();
    let o = evaluate(None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
            o.message,
            "conn#3 (stream get) reconnected at 00:02:02.000 without Last-Event-ID, but the last event id it had received was 3 (on conn#2)"
        );
}

#[test]
fn a_stale_id_fails() {
    let t = drop_resume_drop(Some("2")).build();
    let o = evaluate(None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .contains("with Last-Event-ID 2, but the last event id it had received was 3"),
        "{}",
        o.message
    );
}

#[test]
fn a_new_tool_call_and_a_fresh_open_are_not_reconnects() {
    let t = TraceBuilder::new()
        .post(1, "call", 0, "text/event-stream")
        .event_id(1_000, 1, "1", "{}")
        .ended(2_000, 1, StreamEnd::Complete)
        .post(2, "call", 3_000, "text/event-stream")
        .event_id(4_000, 2, "2", "{}")
        .ended(5_000, 2, StreamEnd::Complete)
        .stream(3, "get", 6_000)
        .event_id(7_000, 3, "3", "{}")
        .client_closed(8_000, 3)
        .stream(4, "get", 9_000)
        .build();
    let o = evaluate(None, &t, END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
}

#[test]
fn resuming_a_tool_call_uses_the_calls_last_id() {
    let t = TraceBuilder::new()
        .post(1, "call", 0, "text/event-stream")
        .event_id(1_000, 1, "4", "{}")
        .ended(2_000, 1, StreamEnd::Truncated)
        .failed(3_000, Some(2), "call", "connection refused")
        .resume(3, "call", 4_000, "4")
        .build();
    let o = evaluate(Some("call"), &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(o.message.ends_with("1 reconnect checked"), "{}", o.message);
}

#[test]
fn an_empty_id_resets_what_the_client_must_send() {
    let t = TraceBuilder::new()
        .stream(1, "get", 0)
        .event_id(1_000, 1, "3", "{}")
        .id_only(2_000, 1, "")
        .ended(3_000, 1, StreamEnd::Reset)
        .open(4_000, 2, "get")
        .request_with(4_000, 2, "GET", None)
        .response(4_003, 2, 200)
        .build();
    let o = evaluate(None, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message.contains("having received no event id"),
        "{}",
        o.message
    );
}

#[test]
fn an_id_only_block_sets_what_the_client_must_send() {
    // Event 3, then a block with only `id: 7`: the last event id is 7.
    let base = |sent: &'static str| {
        TraceBuilder::new()
            .stream(1, "get", 0)
            .event_id(1_000, 1, "3", "{}")
            .id_only(2_000, 1, "7")
            .ended(3_000, 1, StreamEnd::Reset)
            .resume(2, "get", 4_000, sent)
            .build()
    };
    let o = evaluate(None, &base("7"), END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
            o.message,
            "conn#2 (stream get) reconnected at 00:00:04.000 with Last-Event-ID 7, the last id it had received; 1 reconnect checked"
        );
    let o = evaluate(None, &base("3"), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
            o.message,
            "conn#2 (stream get) reconnected at 00:00:04.000 with Last-Event-ID 3, but the last event id it had received was 7 (on conn#1)"
        );
}

#[test]
fn the_spec_dispatches_here() {
    let t = drop_resume_drop(None).build();
    let spec = crate::check::CheckSpec::ClientResumes { stream: None };
    let o = spec.evaluate(&t, END);
    assert_eq!(o, evaluate(None, &t, END));
    assert_eq!(o.id, ID);
    assert_eq!(spec.id(), ID);
}
