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

// ── exact boundaries and the rules that select what is judged ──────────────────

fn ms(t: u64) -> Duration {
    Duration::from_millis(t)
}

#[test]
fn a_drop_exactly_60s_after_the_open_is_early() {
    // "ends within 60 s of opening": 60 s itself is a sign.
    let t = get(S + 4)
        .ended(61 * S, 2, StreamEnd::Truncated)
        .warned(61 * S, 2, "get", dropped(60 * S))
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(o.at, Some(ms(61 * S)));
    assert_eq!(
        o.message,
        "the client warned of every sign of buffering on its connection (1 DroppedEarly, 0 SlowFirstData) and of nothing else"
    );
    // Unwarned, it fails tick + 1 ms after the sign.
    let t = get(S + 4).ended(61 * S, 2, StreamEnd::Truncated).build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(o.at, Some(ms(61 * S + 2)));
    assert_eq!(
        o.message,
        "conn#2 (stream get) ended at 00:01:01.000, 60s after it opened (within 60s: suspected buffering), but the client recorded no DroppedEarly{after 60s} warning on it by 00:01:01.002"
    );
}

/// initialize, then a tool call's POST stream (conn 2, opened at 1s), unprimed.
fn unprimed_call() -> TraceBuilder {
    TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .session(3, 1, "s1")
        .ended(4, 1, StreamEnd::Complete)
        .post(2, "call", S, "text/event-stream")
}

#[test]
fn only_a_complete_end_after_the_answer_is_a_finished_call() {
    let sign = |t: &Trace| {
        let o = evaluate(TICK, t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert_eq!(
            o.message,
            "conn#2 (stream call) ended at 00:00:10.000, 9s after it opened (within 60s: suspected buffering), but the client recorded no DroppedEarly{after 9s} warning on it by 00:00:10.002"
        );
    };
    // Complete, but never answered: the server ended the stream early.
    sign(
        &unprimed_call()
            .ended(10 * S, 2, StreamEnd::Complete)
            .build(),
    );
    // Answered, but cut off (no terminator): not a finished call.
    sign(
        &unprimed_call()
            .rpc_answered(5 * S, 2, 2, "ok")
            .ended(10 * S, 2, StreamEnd::Truncated)
            .build(),
    );
    // Complete, with an answer recorded only after the end (an SDK reporting the call's
    // error once the stream is gone): not answered when it ended.
    sign(
        &unprimed_call()
            .ended(10 * S, 2, StreamEnd::Complete)
            .rpc_answered(10 * S + 1, 2, 2, "error: stream ended")
            .build(),
    );
    // Answered, ended by a reset; a completion noted later is not how it ended.
    sign(
        &unprimed_call()
            .rpc_answered(5 * S, 2, 2, "ok")
            .conn_closed(10 * S, 2, crate::trace::Closer::Fault, "reset")
            .ended(10 * S + 1, 2, StreamEnd::Complete)
            .build(),
    );
    // Answered, then complete at that very instant: a finished call, no sign.
    let t = unprimed_call()
        .rpc_answered(10 * S, 2, 2, "ok")
        .ended(10 * S, 2, StreamEnd::Complete)
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
}

#[test]
fn a_byte_exactly_5s_after_the_open_makes_slow_first_data_optional() {
    // The priming event reaches the client at 6s, the instant the sign would become true.
    let t = call(6 * S).client_closed(300 * S, 2).build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    let t = call(6 * S)
        .warned(6 * S, 2, "call", slow())
        .client_closed(300 * S, 2)
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
}

#[test]
fn an_end_exactly_5s_after_the_open_makes_slow_first_data_optional() {
    // The client closes the call at 6s; the primed bytes it never read do not count.
    let t = call(20 * S).client_closed(6 * S, 2).build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    let t = call(20 * S)
        .warned(6 * S, 2, "call", slow())
        .client_closed(6 * S, 2)
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
}

#[test]
fn slow_first_data_after_early_data_or_an_early_end_is_unfounded() {
    // The priming event arrived at once.
    let t = call(S + 4)
        .warned(6 * S, 2, "call", slow())
        .client_closed(300 * S, 2)
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2 (stream call): the client warned SlowFirstData{after 5s} at 00:00:06.000 without its sign of buffering; the connection showed no such sign"
    );
    // The client had closed the call at 3s.
    let t = call(20 * S)
        .client_closed(3 * S, 2)
        .warned(6 * S, 2, "call", slow())
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(o.at, Some(ms(6 * S)));
}

#[test]
fn an_empty_chunk_is_no_body_byte() {
    let t = unprimed_call()
        .written(S + 2, 2, "1", "")
        .bytes(2 * S, 2, 0)
        .event_id(20 * S, 2, "1", "")
        .warned(6 * S, 2, "call", slow())
        .client_closed(300 * S, 2)
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
}

#[test]
fn only_an_empty_event_with_an_id_written_within_5s_primes() {
    // The server's first frame is a message, not a priming event: nothing to expect.
    let t = unprimed_call()
        .written(S + 2, 2, "1", r#"{"jsonrpc":"2.0","method":"x"}"#)
        .event_id(20 * S, 2, "1", r#"{"jsonrpc":"2.0","method":"x"}"#)
        .client_closed(300 * S, 2)
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    // A priming event written after the 5s mark: the server wrote nothing first.
    let t = unprimed_call()
        .written(7 * S, 2, "1", "")
        .event_id(20 * S, 2, "1", "")
        .client_closed(300 * S, 2)
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
}

#[test]
fn an_unfounded_warning_names_its_connections_sign_of_that_kind_only() {
    // Warned before its sign became true: the message shows the sign it missed.
    let t = call(20 * S)
        .warned(5 * S, 2, "call", slow())
        .client_closed(300 * S, 2)
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2 (stream call): the client warned SlowFirstData{after 5s} at 00:00:05.000 without its sign of buffering; its sign was: conn#2 (stream call) had no body byte at 00:00:06.000, 5s after it opened (the server wrote its priming event at 00:00:01.002; first byte at 00:00:20.000)"
    );
    // The connection's other sign (an early drop, warned) is not named.
    let t = get(S + 4)
        .warned(6 * S, 2, "get", slow())
        .ended(31 * S, 2, StreamEnd::Truncated)
        .warned(31 * S, 2, "get", dropped(30 * S))
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2 (stream get): the client warned SlowFirstData{after 5s} at 00:00:06.000 without its sign of buffering; the connection showed no such sign"
    );
}

#[test]
fn slow_first_data_on_a_silent_unprimed_call_is_allowed_never_required() {
    // The server writes nothing for 20 s (no priming event: it keeps no event store): the
    // client cannot tell that from a buffered primed stream, so a warning is allowed...
    let t = unprimed_call()
        .warned(6 * S, 2, "call", slow())
        .client_closed(300 * S, 2)
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    // ...and not required.
    let t = unprimed_call().client_closed(300 * S, 2).build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    // An unprimed call whose first event (not a priming one) came at once: a warning is a
    // false alarm.
    let t = unprimed_call()
        .written(S + 2, 2, "7", "result")
        .event_id(S + 3, 2, "7", "result")
        .warned(6 * S, 2, "call", slow())
        .client_closed(300 * S, 2)
        .build();
    let o = evaluate(TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
}
