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

// ── what counts as a failed attempt, the exact 1 ms and 2 s bounds, the `at` of failures ─

/// The stream's GET on conn 2 gets a byte and drops at 5s; conns 3 and 4 are refused at 6s
/// and 7s; then `third`, and the client switches at `sw` and polls from `sw` every 2s.
fn with_third(third: impl FnOnce(TraceBuilder) -> TraceBuilder, sw: u64) -> Trace {
    let b = TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .session(3, 1, "s1")
        .ended(4, 1, StreamEnd::Complete)
        .stream(2, "get", S)
        .event_id(S + 4, 2, "1", "")
        .ended(5 * S, 2, StreamEnd::Truncated)
        .failed(6 * S, Some(3), "get", "connection refused")
        .failed(7 * S, Some(4), "get", "connection refused");
    let b = third(b).mode_switched(sw, Some(5), "get", 3);
    polls(b, 6, sw, 2 * S, END.as_millis() as u64).build()
}

/// The check's verdict on `t` without the switch and the polls: the third failure's
/// description and `at`.
fn unswitched(third: impl FnOnce(TraceBuilder) -> TraceBuilder) -> CheckOutcome {
    let b = TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .session(3, 1, "s1")
        .ended(4, 1, StreamEnd::Complete)
        .stream(2, "get", S)
        .event_id(S + 4, 2, "1", "")
        .ended(5 * S, 2, StreamEnd::Truncated)
        .failed(6 * S, Some(3), "get", "connection refused")
        .failed(7 * S, Some(4), "get", "connection refused");
    evaluate(&third(b).build(), END)
}

#[test]
fn each_way_of_failing_names_itself_in_the_third_failure() {
    let o = unswitched(|b| b.failed(8 * S, Some(5), "get", "connection refused"));
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#5 (stream get) at 00:00:08.000 (connect failed: connection refused) was the 3rd consecutive failed SSE connection of stream get, but the client never switched it to long polling; expected ModeSwitched at once"
    );
    assert_eq!(o.at, Some(Duration::from_millis(8_001)));
    // Sent, never answered, reset.
    let o = unswitched(|b| {
        b.open(8 * S, 5, "get")
            .request(8 * S, 5)
            .ended(9 * S, 5, StreamEnd::Reset)
    });
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .starts_with("conn#5 (stream get) at 00:00:09.000 (no response) was the 3rd"),
        "{}",
        o.message
    );
    assert_eq!(o.at, Some(Duration::from_millis(9_001)));
}

#[test]
fn an_answer_that_is_not_an_event_stream_fails_even_with_a_body() {
    // 200 application/json with a body, then ended: the 3rd failure, known from the headers.
    let third = |b: TraceBuilder| {
        b.open(8 * S, 5, "get")
            .request(8 * S, 5)
            .response_typed(8 * S + 3, 5, 200, "application/json")
            .bytes(8 * S + 4, 5, 40)
            .ended(8 * S + 5, 5, StreamEnd::Complete)
    };
    let o = evaluate(&with_third(third, 8 * S + 5), END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    let o = unswitched(third);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.starts_with(
            "conn#5 (stream get) at 00:00:08.005 (answered 200 application/json) was the 3rd"
        ),
        "{}",
        o.message
    );
}

#[test]
fn an_event_stream_with_only_empty_chunks_ended_without_a_body_byte() {
    let third = |b: TraceBuilder| {
        b.stream(5, "get", 8 * S)
            .bytes(8 * S + 4, 5, 0)
            .ended(9 * S, 5, StreamEnd::Truncated)
    };
    let o = evaluate(&with_third(third, 9 * S), END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    let o = unswitched(third);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .starts_with("conn#5 (stream get) at 00:00:09.000 (ended without a body byte)"),
        "{}",
        o.message
    );
}

#[test]
fn a_connection_cut_at_the_scenarios_end_is_no_failure() {
    let o = unswitched(|b| {
        b.stream(5, "get", 8 * S)
            .ended(END.as_millis() as u64, 5, StreamEnd::Truncated)
    });
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "no GET stream had 3 consecutive failed SSE connections (at most 2 on stream get); no switch was due and none was made"
    );
}

#[test]
fn only_the_clients_switch_of_the_same_stream_counts() {
    // A switch of another stream (and one the server recorded) at 3s, before any failure.
    let t = three_failures()
        .mode_switched(3 * S, None, "other", 3)
        .push(
            3 * S,
            SERVER,
            None,
            EventKind::ModeSwitched {
                stream: "get".into(),
                to: StreamMode::LongPolling,
                failures: 3,
            },
        )
        .mode_switched(12 * S + 10, Some(5), "get", 3);
    let t = polls(t, 6, 12 * S + 10, 2 * S, END.as_millis() as u64).build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
}

#[test]
fn a_switch_within_1ms_of_the_third_failure_passes() {
    // conn 5 ends at 12.010: a switch at 12.009 or 12.011 is at once.
    for sw in [12 * S + 9, 12 * S + 11] {
        let b = three_failures().mode_switched(sw, Some(5), "get", 3);
        let t = polls(b, 6, sw, 2 * S, END.as_millis() as u64).build();
        let o = evaluate(&t, END);
        assert_eq!(o.verdict, Verdict::Pass, "switch at {sw}: {}", o.message);
    }
}

#[test]
fn a_switch_while_the_third_attempt_was_still_open_counts_only_two() {
    // conn 5 opened at 12s ends at 12.010; the client switched at 12.005.
    let t = three_failures()
        .mode_switched(12 * S + 5, Some(5), "get", 3)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "stream get switched to long polling at 00:00:12.005 after only 2 consecutive failed SSE connections; expected a switch only after 3"
    );
    assert_eq!(o.at, Some(Duration::from_millis(12_005)));
}

#[test]
fn the_failures_of_late_or_missing_switches_and_polls_are_at_their_due_instant() {
    let t = three_failures().build();
    assert_eq!(evaluate(&t, END).at, Some(Duration::from_millis(12_011)));
    let t = three_failures()
        .failed(14 * S, Some(6), "get", "connection refused")
        .mode_switched(14 * S, Some(6), "get", 3)
        .build();
    assert_eq!(evaluate(&t, END).at, Some(Duration::from_millis(12_011)));
    // Switched at once, never polled.
    let t = three_failures()
        .mode_switched(12 * S + 10, Some(5), "get", 3)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "stream get switched to long polling at 00:00:12.010, but the client never sent a poll (GET /mcp?poll=1); expected the first by 00:00:12.011"
    );
    assert_eq!(o.at, Some(Duration::from_millis(12_011)));
    // The first poll 2s late.
    let b = three_failures().mode_switched(12 * S + 10, Some(5), "get", 3);
    let t = polls(b, 6, 14 * S + 10, 2 * S, END.as_millis() as u64).build();
    assert_eq!(evaluate(&t, END).at, Some(Duration::from_millis(12_011)));
}

#[test]
fn a_switch_that_says_the_wrong_count_fails() {
    let b = three_failures().mode_switched(12 * S + 10, Some(5), "get", 2);
    let t = polls(b, 6, 12 * S + 10, 2 * S, END.as_millis() as u64).build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "stream get recorded ModeSwitched{to LongPolling, failures 2} at 00:00:12.010; expected to LongPolling after 3 failures"
    );
}

#[test]
fn polls_at_the_exact_bounds_pass() {
    // The first poll 1 ms after the switch, then each 2s + 1 ms after the previous start.
    let b = three_failures().mode_switched(12 * S + 10, Some(5), "get", 3);
    let t = polls(b, 6, 12 * S + 11, 2 * S + 1, END.as_millis() as u64).build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    // The last poll at 25.999: the next was due at 28.000, exactly end − 2s; not required.
    let b = three_failures().mode_switched(12 * S + 10, Some(5), "get", 3);
    let b = polls(b, 6, 12 * S + 10, 2 * S, 25 * S);
    let t = b
        .poll(20, "get", 26 * S - 1)
        .ended(26 * S + 4, 20, StreamEnd::Complete)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    // One ms earlier, the next was required.
    let b = three_failures().mode_switched(12 * S + 10, Some(5), "get", 3);
    let b = polls(b, 6, 12 * S + 10, 2 * S, 25 * S);
    let t = b
        .poll(20, "get", 26 * S - 2)
        .ended(26 * S + 4, 20, StreamEnd::Complete)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(o.at, Some(Duration::from_millis(27_999)));
}
