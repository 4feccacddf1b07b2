use super::*;
use crate::check::testing::TraceBuilder;
use crate::trace::StreamEnd;

const END: Duration = Duration::from_secs(300);
const GRACE: Duration = Duration::from_secs(1);

/// A GET stream on conn 2 at 1s (timer 1) and a tool call on conn 3 at 10s (timer 2),
/// both every 15 s, as the server records them.
fn two_streams() -> TraceBuilder {
    TraceBuilder::new()
        .stream(2, "get", 1_000)
        .server_response(1_002, 2)
        .attached(1_002, 2, "g1", "get", "s1")
        .armed(1_002, 2, 1, 15_000)
        .keepalive_written(16_002, 2, 1)
        .post(3, "call", 10_000, "text/event-stream")
        .server_response(10_002, 3)
        .attached(10_002, 3, "p1", "post", "s1")
        .armed(10_002, 3, 2, 15_000)
        .keepalive_written(25_002, 3, 2)
        .written(40_000, 3, "3", "{\"result\":{}}")
        .response_ended(40_000, 3)
}

#[test]
fn per_stream_timers_cleared_on_end_and_on_first_failure_pass() {
    let t = two_streams()
        .cleared(40_000, 3, 2)
        .keepalive_written(31_002, 2, 1)
        .client_closed(45_000, 2)
        .write_failed(46_002, 2, Some(1))
        .cleared(46_002, 2, 1)
        .build();
    let o = evaluate(GRACE, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message
            .starts_with("of 2 keepalive timers the server armed, 2 were cleared"),
        "{}",
        o.message
    );
}

#[test]
fn a_timer_on_a_stream_the_server_never_saw_end_is_not_judged() {
    // The only timer's stream never ended for the server: nothing was judged.
    let t = TraceBuilder::new()
        .stream(2, "get", 1_000)
        .armed(1_002, 2, 1, 15_000)
        .client_closed(20_000, 2)
        .build();
    let o = evaluate(GRACE, &t, Duration::from_secs(20));
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    assert!(
        o.message
            .starts_with("the server armed 1 keepalive timer but saw none of its streams end"),
        "{}",
        o.message
    );
    // Beside a timer that was judged, it is counted as still armed.
    let t = TraceBuilder::new()
        .stream(2, "get", 1_000)
        .armed(1_002, 2, 1, 15_000)
        .stream(3, "other", 1_000)
        .armed(1_002, 3, 2, 15_000)
        .client_closed(10_000, 3)
        .write_failed(16_002, 3, Some(2))
        .cleared(16_002, 3, 2)
        .client_closed(20_000, 2)
        .build();
    let o = evaluate(GRACE, &t, Duration::from_secs(20));
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(o.message.contains("; 1 still armed"), "{}", o.message);
}

#[test]
fn the_shared_timer_slot_clears_the_wrong_timer_and_leaks_the_other() {
    // The call (conn 2, timer 1) starts first; the GET stream (conn 3) arms timer 2 into
    // the one slot. When the call ends, the server clears the slot: timer 2, the GET's.
    // Timer 1 keeps firing on the ended call and fails every time.
    let t = TraceBuilder::new()
        .post(2, "call", 1_000, "text/event-stream")
        .armed(1_002, 2, 1, 15_000)
        .stream(3, "get", 5_000)
        .armed(5_002, 3, 2, 15_000)
        .written(30_000, 2, "4", "{\"result\":{}}")
        .response_ended(30_000, 2)
        .cleared(30_000, 2, 2)
        .write_failed(31_002, 2, Some(1))
        .write_failed(46_002, 2, Some(1))
        .write_failed(61_002, 2, Some(1))
        .build();
    let o = evaluate(GRACE, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2: timer#1 was never cleared after the server saw its stream end at 00:00:30.000 (the response ended; grace 1s); it kept firing: 3 more writes"
    );
    assert_eq!(o.at, Some(Duration::from_secs(31)));
}

#[test]
fn failed_writes_that_never_clear_the_timer_fail() {
    let t = TraceBuilder::new()
        .stream(2, "get", 1_000)
        .armed(1_002, 2, 1, 15_000)
        .keepalive_written(16_002, 2, 1)
        .client_closed(20_000, 2)
        .write_failed(31_002, 2, Some(1))
        .write_failed(46_002, 2, Some(1))
        .build();
    let o = evaluate(GRACE, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.starts_with(
            "conn#2: timer#1 was never cleared after the server saw its stream end at 00:00:31.002 (a write failed; grace 1s)"
        ),
        "{}",
        o.message
    );
    assert!(o.message.ends_with("1 more write"), "{}", o.message);
    assert_eq!(o.at, Some(Duration::from_millis(32_002)));
}

#[test]
fn a_late_clear_fails_and_names_the_delay() {
    let t = two_streams()
        .cleared(45_000, 3, 2)
        .cleared(300_000, 2, 1)
        .build();
    let o = evaluate(GRACE, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .starts_with("conn#3: timer#2 was cleared at 00:00:45.000, 5s after"),
        "{}",
        o.message
    );
}

#[test]
fn a_write_after_a_failed_write_fails() {
    let t = TraceBuilder::new()
        .stream(2, "get", 1_000)
        .armed(1_002, 2, 1, 15_000)
        .write_failed(16_002, 2, Some(1))
        .cleared(16_002, 2, 1)
        .written(20_000, 2, "5", "{}")
        .build();
    let o = evaluate(GRACE, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2: the server wrote event 5 at 00:00:20.000 after a write on it had failed at 00:00:16.002"
    );
}

#[test]
fn a_timer_writing_on_another_connection_is_a_leak() {
    let t = two_streams()
        .cleared(40_000, 3, 2)
        .keepalive_written(31_002, 3, 1)
        .build();
    let o = evaluate(GRACE, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.starts_with(
            "conn#3: timer#1, armed on conn#2 at 00:00:01.002, wrote on conn#3 at 00:00:31.002"
        ),
        "{}",
        o.message
    );
}

#[test]
fn no_timers_is_unobservable() {
    let t = TraceBuilder::new()
        .stream(2, "get", 1_000)
        .server_response(1_002, 2)
        .build();
    let o = evaluate(GRACE, &t, END);
    assert_eq!(o.verdict, Verdict::Unobservable);
    assert!(
        o.message.starts_with("the target reports no timers"),
        "{}",
        o.message
    );
    let t = TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .ended(5, 1, StreamEnd::Complete)
        .build();
    let o = evaluate(GRACE, &t, END);
    assert_eq!(o.verdict, Verdict::Unobservable);
    assert!(o.message.starts_with("no event stream"), "{}", o.message);
}

#[test]
fn the_spec_dispatches_here() {
    let t = two_streams().build();
    let spec = crate::check::CheckSpec::TimersCleared { grace: GRACE };
    let o = spec.evaluate(&t, END);
    assert_eq!(o, evaluate(GRACE, &t, END));
    assert_eq!(o.id, ID);
    assert_eq!(spec.id(), ID);
}

#[test]
fn the_no_timer_message_counts_event_streams_either_side_saw() {
    // The server answered with JSON only: no event stream, so no timer was due.
    let t = TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .json_response(1, 1)
        .ended(5, 1, StreamEnd::Complete)
        .build();
    let o = evaluate(GRACE, &t, END);
    assert_eq!(o.verdict, Verdict::Unobservable);
    assert_eq!(
        o.message,
        "no event stream was opened; no keepalive timer to check"
    );
    // The server started an event stream the client never got the headers of (a proxy
    // held them): the server still armed no timer on it.
    let t = TraceBuilder::new()
        .open(1_000, 2, "get")
        .request(1_000, 2)
        .server_response(1_002, 2)
        .build();
    let o = evaluate(GRACE, &t, END);
    assert_eq!(o.verdict, Verdict::Unobservable);
    assert_eq!(
        o.message,
        "the target reports no timers: the server armed no keepalive timer on any event stream"
    );
}

#[test]
fn a_keepalive_after_a_failed_write_is_named_with_its_timer() {
    // Timer 1's write fails at 16s; it is cleared at 16.5s but fires again at 31s.
    let t = TraceBuilder::new()
        .stream(2, "get", 1_000)
        .armed(1_002, 2, 1, 15_000)
        .write_failed(16_002, 2, Some(1))
        .cleared(16_500, 2, 1)
        .keepalive_written(31_002, 2, 1)
        .build();
    let o = evaluate(GRACE, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2: the server wrote a keepalive (timer#1) at 00:00:31.002 after a write on it had failed at 00:00:16.002 (and 1 more violation)"
    );
    assert_eq!(o.at, Some(Duration::from_millis(31_002)));
}
