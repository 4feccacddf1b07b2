use super::*;
use crate::check::testing::TraceBuilder;

const END: Duration = Duration::from_secs(300);
const TICK: Duration = Duration::from_millis(1);
const S: u64 = 1_000;

fn dropped(after: u64) -> ClientWarning {
    ClientWarning::DroppedEarly {
        after: Duration::from_millis(after),
    }
}

fn slow() -> ClientWarning {
    ClientWarning::SlowFirstData {
        after: Duration::from_secs(5),
    }
}

/// An MCP client whose GET (conn 2, opened at 1s) is primed by the server at 1.002s;
/// `byte_at` is when the priming event reaches the client (a buffering proxy delays it).
fn get(byte_at: u64) -> TraceBuilder {
    TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .session(3, 1, "s1")
        .ended(4, 1, StreamEnd::Complete)
        .stream(2, "get", S)
        .written(S + 2, 2, "1", "")
        .event_id(byte_at, 2, "1", "")
}

/// The same with a tool call's POST stream (conn 2, stream `call`): the kind of stream
/// the priming SHOULD is written for.
fn call(byte_at: u64) -> TraceBuilder {
    TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .session(3, 1, "s1")
        .ended(4, 1, StreamEnd::Complete)
        .post(2, "call", S, "text/event-stream")
        .written(S + 2, 2, "1", "")
        .event_id(byte_at, 2, "1", "")
}

#[test]
fn a_primed_get_that_stays_silent_is_no_sign() {
    // Sign C is for POST answers: a GET's silence says nothing (the SDKs do not prime GET).
    let t = get(20 * S).client_closed(300 * S, 2).build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
}

#[test]
fn both_signs_warned_in_time_pass() {
    let t = call(20 * S)
        .warned(6 * S, 2, "call", slow())
        .ended(31 * S, 2, StreamEnd::Truncated)
        .warned(31 * S + 1, 2, "call", dropped(30 * S))
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "the client warned of every sign of buffering on its connection (1 DroppedEarly, 1 SlowFirstData) and of nothing else"
    );
}

#[test]
fn a_quiet_healthy_run_passes_saying_so() {
    let t = get(S + 4).client_closed(300 * S, 2).build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message
            .starts_with("no connection showed a sign of buffering"),
        "{}",
        o.message
    );
}

#[test]
fn a_missing_dropped_early_warning_fails() {
    let t = get(S + 4).ended(31 * S, 2, StreamEnd::Truncated).build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2 (stream get) ended at 00:00:31.000, 30s after it opened (within 60s: suspected buffering), but the client recorded no DroppedEarly{after 30s} warning on it by 00:00:31.002"
    );
    // Too late counts as missing too.
    let t = get(S + 4)
        .ended(31 * S, 2, StreamEnd::Truncated)
        .warned(31 * S + 5, 2, "get", dropped(30 * S))
        .build();
    assert_eq!(evaluate(TICK, &t, END).verdict, Verdict::Fail);
}

#[test]
fn a_missing_slow_first_data_warning_fails() {
    let t = call(20 * S).client_closed(300 * S, 2).build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2 (stream call) had no body byte at 00:00:06.000, 5s after it opened (the server wrote its priming event at 00:00:01.002; first byte at 00:00:20.000), but the client recorded no SlowFirstData{after 5s} warning on it by 00:00:06.002"
    );
}

#[test]
fn a_retry_field_written_before_the_priming_event_does_not_hide_it() {
    // ts-sdk-server@1.29.0 writes `retry: 3000` first, then its priming event; a
    // buffering proxy holds both, so the client's warning is founded.
    let t = TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .session(3, 1, "s1")
        .ended(4, 1, StreamEnd::Complete)
        .post(2, "call", S, "text/event-stream")
        .push(
            S + 2,
            "server",
            Some(2),
            EventKind::FrameWritten {
                frame: Frame::Retry { ms: 3_000 },
                timer: None,
            },
        )
        .written(S + 2, 2, "1", "")
        .event_id(20 * S, 2, "1", "")
        .warned(6 * S, 2, "call", slow())
        .client_closed(300 * S, 2)
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
}

#[test]
fn a_warning_without_its_sign_fails() {
    // Data arrived at once: SlowFirstData is a false alarm.
    let t = get(S + 4)
        .warned(6 * S, 2, "get", slow())
        .client_closed(300 * S, 2)
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2 (stream get): the client warned SlowFirstData{after 5s} at 00:00:06.000 without its sign of buffering; the connection showed no such sign"
    );
    // A drop after 2 minutes is not early.
    let t = get(S + 4)
        .ended(121 * S, 2, StreamEnd::Truncated)
        .warned(121 * S, 2, "get", dropped(120 * S))
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.starts_with(
            "conn#2 (stream get): the client warned DroppedEarly{after 120s} at 00:02:01.000 without its sign"
        ),
        "{}",
        o.message
    );
}

#[test]
fn a_finished_call_a_client_close_and_an_unprimed_stream_are_no_signs() {
    let t = TraceBuilder::new()
        .post(1, "call", 0, "text/event-stream")
        .rpc_answered(2 * S, 1, 2, "ok")
        .ended(2 * S, 1, StreamEnd::Complete)
        .stream(2, "get", S)
        .client_closed(10 * S, 2)
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
}

#[test]
fn without_an_mcp_client_it_is_unobservable() {
    let t = TraceBuilder::new()
        .stream(1, "main", 0)
        .ended(5 * S, 1, StreamEnd::Reset)
        .build();
    assert_eq!(evaluate(TICK, &t, END).verdict, Verdict::Unobservable);
}

#[test]
fn no_sse_connection_is_unobservable() {
    // Only a JSON exchange: no SSE connection whose signs could be judged.
    let t = TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .session(4, 1, "s1")
        .ended(5, 1, crate::trace::StreamEnd::Complete)
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
}

#[test]
fn the_spec_dispatches_here() {
    let t = get(20 * S).build();
    let spec = crate::check::CheckSpec::ClientDetectsBuffering { tick: TICK };
    assert_eq!(spec.evaluate(&t, END), evaluate(TICK, &t, END));
    assert_eq!(spec.id(), ID);
}
