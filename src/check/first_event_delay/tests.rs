use super::*;
use crate::check::testing::TraceBuilder;
use crate::trace::StreamEnd;

const END: Duration = Duration::from_secs(120);
const MAX: Duration = Duration::from_secs(5);

#[test]
fn passes_when_the_first_event_is_prompt() {
    let t = TraceBuilder::new()
        .stream(1, "main", 1_000)
        .comment(1_004, 1)
        .event(1_250, 1, None, "{}")
        .build();
    let o = evaluate(None, Some(MAX), None, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(o.at, Some(Duration::from_millis(1_250)));
    assert!(
        o.message.contains("250ms after the request"),
        "{}",
        o.message
    );
}

#[test]
fn exactly_max_passes_and_later_fails() {
    let t = TraceBuilder::new()
        .stream(1, "main", 1_000)
        .event(6_000, 1, None, "{}")
        .build();
    assert_eq!(
        evaluate(None, Some(MAX), None, &t, END).verdict,
        Verdict::Pass
    );
    let o = evaluate(None, Some(MAX - Duration::from_millis(1)), None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert_eq!(
            o.message,
            "the first event reached conn#1 (stream main) 5s after the request (at 00:00:06.000), more than max 4s 999ms"
        );
}

#[test]
fn comments_and_partial_chunks_are_not_events() {
    let t = TraceBuilder::new()
        .stream(1, "main", 0)
        .comment(15_000, 1)
        .bytes(20_000, 1, 7)
        .ended(60_000, 1, StreamEnd::Truncated)
        .build();
    let o = evaluate(Some("main"), Some(MAX), None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert_eq!(o.at, Some(Duration::from_secs(60)));
    assert_eq!(
            o.message,
            "no event reached the client in 60s on conn#1 (stream main) (request at 00:00:00.000, stream ended at 00:01:00.000)"
        );
}

#[test]
fn a_buffered_event_arriving_late_fails() {
    let t = TraceBuilder::new()
        .intermediary("nginx", &[("buffering", 0)])
        .stream(1, "main", 0)
        .event(60_000, 1, None, "{}")
        .build();
    let o = evaluate(None, Some(MAX), None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(o.message.contains("60s after the request"), "{}", o.message);
}

#[test]
fn a_stream_answered_504_names_the_status() {
    let t = TraceBuilder::new()
        .open(0, 1, "main")
        .request(0, 1)
        .response_typed(60_000, 1, 504, "text/html")
        .bytes(60_001, 1, 160)
        .ended(60_002, 1, StreamEnd::Complete)
        .build();
    let o = evaluate(None, Some(MAX), None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert_eq!(
            o.message,
            "conn#1 (stream main) got response 504 text/html at 00:01:00.000, not an event stream: no event could reach the client"
        );
    // With only `min`, an answer that is no stream is not "held back" either.
    let o = evaluate(None, None, Some(Duration::from_secs(60)), &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
}

#[test]
fn a_stream_open_when_the_run_was_stopped_is_judged_only_past_max() {
    let t = TraceBuilder::new()
        .stream(1, "main", 0)
        .stopped(3_000, "stall")
        .build();
    let stop = Duration::from_secs(3);
    let o = evaluate(None, Some(MAX), None, &t, stop);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    assert!(
        o.message.starts_with("the run was stopped at 00:00:03.000"),
        "{}",
        o.message
    );
    let o = evaluate(None, None, Some(Duration::from_secs(60)), &t, stop);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    // Already past max at the stop: a real failure.
    let o = evaluate(None, Some(Duration::from_secs(2)), None, &t, stop);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
}

#[test]
fn every_connection_of_a_reopened_stream_is_checked() {
    let t = TraceBuilder::new()
        .stream(1, "main", 0)
        .event(10, 1, None, "{}")
        .client_closed(1_000, 1)
        .stream(2, "main", 1_000)
        .client_closed(2_000, 2)
        .build();
    let o = evaluate(Some("main"), Some(MAX), None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(
        o.message.contains("in 1s on conn#2 (stream main)"),
        "{}",
        o.message
    );
}

#[test]
fn missing_and_absent_streams() {
    let t = TraceBuilder::new().stream(1, "main", 0).build();
    assert_eq!(
        evaluate(Some("x"), Some(MAX), None, &t, END).verdict,
        Verdict::Fail
    );
    let o = evaluate(None, Some(MAX), None, &TraceBuilder::new().build(), END);
    assert_eq!(o.verdict, Verdict::Unobservable);
}

#[test]
fn the_spec_dispatches_here() {
    let t = TraceBuilder::new()
        .stream(1, "main", 0)
        .event(10, 1, None, "{}")
        .build();
    let spec = crate::check::CheckSpec::FirstEventDelay {
        stream: None,
        max: Some(MAX),
        min: None,
    };
    let o = spec.evaluate(&t, END);
    assert_eq!(o, evaluate(None, Some(MAX), None, &t, END));
    assert_eq!(o.id, spec.id());
}

#[test]
fn the_pass_names_the_bounds_it_held() {
    let t = TraceBuilder::new()
        .stream(1, "main", 1_000)
        .event(3_000, 1, None, "{}")
        .build();
    let o = evaluate(None, Some(MAX), None, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
            o.message,
            "the first event reached conn#1 (stream main) 2s after the request (at 00:00:03.000), within max 5s"
        );
    // A delay of exactly min is not before it.
    let o = evaluate(None, Some(MAX), Some(Duration::from_secs(2)), &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message.ends_with(", between min 2s and max 5s"),
        "{}",
        o.message
    );
}

#[test]
fn a_request_unanswered_until_the_end_fails_without_a_stop() {
    let t = TraceBuilder::new()
        .open(1_000, 1, "main")
        .request(1_000, 1)
        .build();
    let o = evaluate(None, Some(MAX), None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
            o.message,
            "conn#1 (stream main) got no response (until 00:02:00.000): no event could reach the client"
        );
    assert_eq!(o.at, Some(END));
}
#[test]
fn the_pass_names_the_slowest_connection_the_first_on_ties() {
    // First events 1s, 3s and 3s after the requests of conns 1, 2 and 3.
    let t = TraceBuilder::new()
        .stream(1, "main", 0)
        .event(1_000, 1, None, "{}")
        .client_closed(2_000, 1)
        .stream(2, "main", 10_000)
        .event(13_000, 2, None, "{}")
        .client_closed(14_000, 2)
        .stream(3, "main", 20_000)
        .event(23_000, 3, None, "{}")
        .build();
    let o = evaluate(None, Some(MAX), None, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
            o.message,
            "the first event reached conn#2 (stream main) 3s after the request (at 00:00:13.000), within max 5s"
        );
    assert_eq!(o.at, Some(Duration::from_secs(13)));
}
