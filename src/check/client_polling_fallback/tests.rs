use super::*;
use crate::check::testing::TraceBuilder;
use crate::trace::StreamEnd;

const END: Duration = Duration::from_secs(30);
const S: u64 = 1_000;

/// initialize (session s1), GET conn 2 at 1s gets a byte and drops at 5s; then three
/// failing attempts: conn 3 refused at 6s, conn 4 answered 503 at 8s (ends 8.004s),
/// conn 5 ends without a byte at 12.010s.
fn three_failures() -> TraceBuilder {
    TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .session(3, 1, "s1")
        .ended(4, 1, StreamEnd::Complete)
        .stream(2, "get", S)
        .event_id(S + 4, 2, "1", "")
        .ended(5 * S, 2, StreamEnd::Truncated)
        .failed(6 * S, Some(3), "get", "connection refused")
        .open(8 * S, 4, "get")
        .request_with(8 * S, 4, "GET", Some("1"))
        .response_typed(8 * S + 3, 4, 503, "text/plain")
        .ended(8 * S + 4, 4, StreamEnd::Complete)
        .resume(5, "get", 12 * S, "1")
        .ended(12 * S + 10, 5, StreamEnd::Truncated)
}

/// Polls of stream get on conns from `conn` on, from `t0`, one every `every` ms, each
/// 5 ms long, until `until`.
fn polls(mut b: TraceBuilder, mut conn: u32, t0: u64, every: u64, until: u64) -> TraceBuilder {
    let mut t = t0;
    while t < until {
        b = b
            .poll(conn, "get", t)
            .ended(t + 5, conn, StreamEnd::Complete);
        t += every;
        conn += 1;
    }
    b
}

#[test]
fn a_switch_at_the_third_failure_then_polls_every_2s_pass() {
    let b = three_failures().mode_switched(12 * S + 10, Some(5), "get", 3);
    let t = polls(b, 6, 12 * S + 10, 2 * S, END.as_millis() as u64).build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "stream get switched to long polling at 00:00:12.010 right after its 3rd consecutive failed SSE connection (conn#5 (stream get)), then polled 9 times, starts at most 2s apart"
    );
}

#[test]
fn no_three_failures_passes_saying_so() {
    let t = TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .session(3, 1, "s1")
        .stream(2, "get", S)
        .ended(5 * S, 2, StreamEnd::Truncated)
        .failed(6 * S, Some(3), "get", "connection refused")
        .resume(4, "get", 8 * S, "1")
        .comment(8 * S + 4, 4)
        .failed(20 * S, Some(5), "get", "connection refused")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "no GET stream had 3 consecutive failed SSE connections (at most 2 on stream get); no switch was due and none was made"
    );
}

#[test]
fn switching_before_three_failures_fails() {
    let t = three_failures()
        .mode_switched(8 * S + 4, Some(4), "get", 3)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "stream get switched to long polling at 00:00:08.004 after only 2 consecutive failed SSE connections; expected a switch only after 3"
    );
}

#[test]
fn no_switch_or_a_late_one_after_the_third_failure_fails() {
    let t = three_failures().build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#5 (stream get) at 00:00:12.010 (ended without a body byte) was the 3rd consecutive failed SSE connection of stream get, but the client never switched it to long polling; expected ModeSwitched at once"
    );
    let t = three_failures()
        .failed(14 * S, Some(6), "get", "connection refused")
        .mode_switched(14 * S, Some(6), "get", 3)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.ends_with(
            "switched it to long polling only at 00:00:14.000, 1s 990ms later; expected at once (± 1ms); it tried SSE again first (conn#6 (stream get) at 00:00:14.000)"
        ),
        "{}",
        o.message
    );
}

#[test]
fn polls_that_lag_or_stop_fail() {
    let b = three_failures().mode_switched(12 * S + 10, Some(5), "get", 3);
    let t = polls(b, 6, 12 * S + 10, 3 * S, END.as_millis() as u64).build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#7 (stream get) polled at 00:00:15.010, 3s after the previous poll (conn#6 (stream get)) started at 00:00:12.010; expected every 2s (or as soon as the previous one ended)"
    );
    let b = three_failures().mode_switched(12 * S + 10, Some(5), "get", 3);
    let t = polls(b, 6, 12 * S + 10, 2 * S, 20 * S).build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.contains("was the last poll of stream get"),
        "{}",
        o.message
    );
    // A first poll 2s after the switch is late.
    let b = three_failures().mode_switched(12 * S + 10, Some(5), "get", 3);
    let t = polls(b, 6, 14 * S + 10, 2 * S, END.as_millis() as u64).build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(o.message.contains("polled first at"), "{}", o.message);
}

#[test]
fn a_long_poll_delays_the_next_one() {
    let t = three_failures()
        .mode_switched(12 * S + 10, Some(5), "get", 3)
        .poll(6, "get", 12 * S + 10)
        .ended(17 * S, 6, StreamEnd::Complete)
        .poll(7, "get", 17 * S);
    let t = polls(t, 8, 19 * S, 2 * S, END.as_millis() as u64).build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
}

#[test]
fn without_an_mcp_client_or_a_get_stream_it_is_unobservable() {
    let t = TraceBuilder::new().stream(1, "main", 0).build();
    assert_eq!(evaluate(&t, END).verdict, Verdict::Unobservable);
    let t = TraceBuilder::new()
        .post(1, "call", 0, "text/event-stream")
        .rpc_answered(5, 1, 2, "ok")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
}

#[test]
fn the_spec_dispatches_here() {
    let t = three_failures().build();
    let spec = crate::check::CheckSpec::ClientPollingFallback;
    assert_eq!(spec.evaluate(&t, END), evaluate(&t, END));
    assert_eq!(spec.id(), ID);
}
