use super::*;
use crate::check::testing::TraceBuilder;
use crate::trace::StreamEnd;

const END: Duration = Duration::from_secs(300);
const S: u64 = 1_000;
const WITHIN: Duration = Duration::from_secs(60);

/// initialize (session s1), GET stream conn 2 from 1s with a priming event, dropped by
/// nginx at 40s.
fn dropped_get() -> TraceBuilder {
    TraceBuilder::new()
        .intermediary("nginx", &[("idle-timeout", 30_000)])
        .post(1, "initialize", 0, "application/json")
        .session(3, 1, "s1")
        .ended(4, 1, StreamEnd::Complete)
        .stream(2, "get", S)
        .event_id(S + 4, 2, "1", "")
        .closed_by_intermediary(40 * S, 2, "nginx", "idle-timeout", "upstream silent")
        .ended(40 * S, 2, StreamEnd::Truncated)
}

#[test]
fn a_reconnect_answered_200_within_the_limit_passes() {
    let t = dropped_get()
        .failed(43 * S, Some(3), "get", "connection refused")
        .resume(4, "get", 52 * S, "1")
        .build();
    let o = evaluate(Some("get"), WITHIN, false, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#4 (stream get) had the stream receiving again 12s 3ms after the drop at 00:00:40.000, the slowest of 1 recovery (all within 60s)"
    );
}

#[test]
fn giving_up_fails_naming_the_drop_the_tries_and_the_give_up() {
    let t = dropped_get()
        .failed(43 * S, Some(3), "get", "connection refused")
        .failed(49 * S, Some(4), "get", "connection refused")
        .gave_up(49 * S, 4, "get", 2)
        .build();
    let o = evaluate(None, WITHIN, false, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2 (stream get) dropped at 00:00:40.000 (closed at 00:00:40.000 by nginx (idle-timeout 30s, upstream silent)) and the client did not have stream get receiving again on session s1 within 60s (by 00:01:40.000): 2 reconnects (conn#3 (stream get) at 00:00:43.000 connect failed: connection refused, conn#4 (stream get) at 00:00:49.000 connect failed: connection refused), then gave up at 00:00:49.000 after 2 attempts"
    );
    assert_eq!(o.at, Some(Duration::from_secs(100)));
}

#[test]
fn refused_reconnects_and_a_late_recovery_fail() {
    let t = dropped_get()
        .open(41 * S, 3, "get")
        .request_with(41 * S, 3, "GET", Some("1"))
        .response_typed(41 * S + 3, 3, 409, "text/plain")
        .ended(41 * S + 4, 3, StreamEnd::Complete)
        .resume(4, "get", 130 * S, "1")
        .build();
    let o = evaluate(None, WITHIN, false, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.ends_with(
            "1 reconnect (conn#3 (stream get) at 00:00:41.000 answered 409); it was receiving again only at 00:02:10.003 (conn#4 (stream get)), 1m 30s 3ms after the drop"
        ),
        "{}",
        o.message
    );
}

#[test]
fn many_refused_tries_are_summarised_by_the_first_three_and_the_last() {
    let mut b = dropped_get();
    for i in 0..8u32 {
        let t = 41 * S + u64::from(i) * 2 * S;
        b = b
            .open(t, 3 + i, "get")
            .request_with(t, 3 + i, "GET", Some("1"))
            .response_typed(t + 3, 3 + i, 400, "application/json")
            .ended(t + 4, 3 + i, StreamEnd::Complete);
    }
    let o = evaluate(None, WITHIN, false, &b.build(), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.ends_with(
            "8 reconnects (conn#3 (stream get) at 00:00:41.000 answered 400, conn#4 (stream get) at 00:00:43.000 answered 400, conn#5 (stream get) at 00:00:45.000 answered 400, … 4 more …, conn#10 (stream get) at 00:00:55.000 answered 400)"
        ),
        "{}",
        o.message
    );
}

#[test]
fn a_poll_after_the_mode_switch_recovers() {
    let t = dropped_get()
        .failed(41 * S, Some(3), "get", "connection refused")
        .failed(43 * S, Some(4), "get", "connection refused")
        .failed(47 * S, Some(5), "get", "connection refused")
        .mode_switched(47 * S, Some(5), "get", 3)
        .poll(6, "get", 47 * S)
        .build();
    let o = evaluate(Some("get"), WITHIN, false, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message.starts_with("conn#6 (stream get)"),
        "{}",
        o.message
    );
}

#[test]
fn drops_near_the_end_a_finished_call_and_a_client_close_are_not_judged() {
    let t = dropped_get()
        .resume(3, "get", 41 * S, "1")
        .ended(260 * S, 3, StreamEnd::Truncated)
        .post(4, "call", 50 * S, "text/event-stream")
        .rpc_answered(55 * S, 4, 2, "ok")
        .ended(55 * S, 4, StreamEnd::Complete)
        .post(5, "other", 60 * S, "text/event-stream")
        .client_closed(70 * S, 5)
        .build();
    let o = evaluate(None, WITHIN, false, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message.ends_with(
            "the slowest of 1 recovery (all within 60s); 1 drop within 60s of the end not judged"
        ),
        "{}",
        o.message
    );
}

#[test]
fn a_first_get_answered_500_needs_recovering() {
    let base = || {
        TraceBuilder::new()
            .post(1, "initialize", 0, "application/json")
            .session(3, 1, "s1")
            .ended(4, 1, StreamEnd::Complete)
            .open(S, 2, "get")
            .request_with(S, 2, "GET", None)
            .response_typed(S + 3, 2, 500, "text/plain")
            .ended(S + 4, 2, StreamEnd::Complete)
    };
    // Never answered with an event stream: fails (was: "nothing needed recovering").
    let o = evaluate(None, WITHIN, false, &base().build(), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.starts_with(
            "conn#2 (stream get) got no event stream at 00:00:01.003 (answered 500) and the client did not have stream get receiving again on session s1 within 60s"
        ),
        "{}",
        o.message
    );
    // A later try answered with an event stream recovers it.
    let o = evaluate(
        None,
        WITHIN,
        false,
        &base().stream(3, "get", 4 * S).build(),
        END,
    );
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message.starts_with("conn#3 (stream get)"),
        "{}",
        o.message
    );
}

#[test]
fn a_get_on_a_new_session_is_not_the_stream_recovering() {
    // The drop at 40s; the resume is answered 404 (session s1 gone); the client
    // initializes s2 and opens the GET again there.
    let t = dropped_get()
        .open(41 * S, 3, "get")
        .request_with(41 * S, 3, "GET", Some("1"))
        .response_typed(41 * S + 3, 3, 404, "application/json")
        .ended(41 * S + 4, 3, StreamEnd::Complete)
        .post(4, "initialize", 42 * S, "application/json")
        .session(42 * S + 3, 4, "s2")
        .ended(42 * S + 4, 4, StreamEnd::Complete)
        .stream(5, "get", 43 * S)
        .build();
    let o = evaluate(None, WITHIN, false, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .contains("receiving again on session s1 within 60s"),
        "{}",
        o.message
    );
    assert!(
        o.message.ends_with(
            "; conn#5 (stream get) had it receiving on another session, s2, from 00:00:43.003: what the server kept for session s1 is not resumed there (see session.survives)"
        ),
        "{}",
        o.message
    );
}

#[test]
fn an_empty_200_that_ends_at_once_is_not_receiving_again() {
    let t = dropped_get()
        .resume(3, "get", 42 * S, "1")
        .ended(42 * S + 4, 3, StreamEnd::Complete)
        .resume(4, "get", 45 * S, "1")
        .ended(45 * S + 4, 4, StreamEnd::Complete)
        .build();
    let o = evaluate(None, WITHIN, false, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .contains("2 reconnects (conn#3 (stream get) at 00:00:42.000 answered 200"),
        "{}",
        o.message
    );
}

#[test]
fn across_sessions_a_get_on_a_new_session_counts() {
    let t = dropped_get()
        .open(41 * S, 3, "get")
        .request_with(41 * S, 3, "GET", Some("1"))
        .response_typed(41 * S + 3, 3, 404, "application/json")
        .ended(41 * S + 4, 3, StreamEnd::Complete)
        .post(4, "initialize", 42 * S, "application/json")
        .session(42 * S + 3, 4, "s2")
        .ended(42 * S + 4, 4, StreamEnd::Complete)
        .stream(5, "get", 43 * S)
        .build();
    let o = evaluate(None, WITHIN, true, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message
            .starts_with("conn#5 (stream get) had the stream receiving again 3s 3ms"),
        "{}",
        o.message
    );
}

#[test]
fn nothing_going_down_is_unobservable() {
    let t = TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .session(3, 1, "s1")
        .ended(4, 1, StreamEnd::Complete)
        .stream(2, "get", S)
        .client_closed(300 * S, 2)
        .build();
    let o = evaluate(None, WITHIN, false, &t, END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    assert!(
        o.message.ends_with("nothing needed recovering"),
        "{}",
        o.message
    );
}

#[test]
fn no_mcp_client_is_unobservable_and_a_never_opened_stream_fails() {
    let t = TraceBuilder::new()
        .stream(1, "main", 0)
        .ended(5 * S, 1, StreamEnd::Reset)
        .build();
    let o = evaluate(None, WITHIN, false, &t, END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    let t = dropped_get().build();
    let o = evaluate(Some("gett"), WITHIN, false, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(o.message, "stream gett was never opened");
}

#[test]
fn the_spec_dispatches_here() {
    let t = dropped_get().build();
    let spec = crate::check::CheckSpec::StreamRecovers {
        stream: None,
        within: WITHIN,
        across_sessions: false,
    };
    assert_eq!(
        spec.evaluate(&t, END),
        evaluate(None, WITHIN, false, &t, END)
    );
    assert_eq!(spec.id(), ID);
}

#[test]
fn a_refused_try_while_already_down_is_not_another_down() {
    // The drop at 40s; the resume at 41s is answered 500 (the stream is down already, this is
    // a failed try of its recovery, not a new down); the one at 52s has it receiving again.
    let t = dropped_get()
        .open(41 * S, 3, "get")
        .request_with(41 * S, 3, "GET", Some("1"))
        .response_typed(41 * S + 3, 3, 500, "text/plain")
        .ended(41 * S + 4, 3, StreamEnd::Complete)
        .resume(4, "get", 52 * S, "1")
        .build();
    let o = evaluate(None, WITHIN, false, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#4 (stream get) had the stream receiving again 12s 3ms after the drop at 00:00:40.000, the slowest of 1 recovery (all within 60s)"
    );
}

#[test]
fn a_drop_exactly_within_before_the_end_is_judged() {
    // Dropped at 4m with `within` 60s and the end at 5m: the whole window is in the run.
    let t = TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .session(3, 1, "s1")
        .ended(4, 1, StreamEnd::Complete)
        .stream(2, "get", S)
        .event_id(S + 4, 2, "1", "")
        .ended(240 * S, 2, StreamEnd::Reset)
        .build();
    let o = evaluate(None, WITHIN, false, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.starts_with(
            "conn#2 (stream get) dropped at 00:04:00.000 (ended at 00:04:00.000 (connection reset)) and the client did not have stream get receiving again on session s1 within 60s (by 00:05:00.000): no reconnect"
        ),
        "{}",
        o.message
    );
    assert_eq!(o.at, Some(END));
}

#[test]
fn a_stream_the_server_ends_counts_as_receiving_only_if_a_byte_arrived() {
    // The resume at 42s is a 200 event stream the server ends at 45s; it got an event (bytes)
    // or only an empty chunk (no bytes).
    let with = |bytes: usize| {
        dropped_get()
            .resume(3, "get", 42 * S, "1")
            .bytes(42 * S + 4, 3, bytes)
            .ended(45 * S, 3, StreamEnd::Complete)
            .build()
    };
    // With a byte it was receiving again at 42.003 (its end at 45s is a drop of its own, and
    // it is not recovered from: that fails, by 1m 45s).
    let o = evaluate(None, WITHIN, false, &with(20), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .starts_with("conn#3 (stream get) dropped at 00:00:45.000 (ended at 00:00:45.000 by server (response complete))"),
        "{}",
        o.message
    );
    assert_eq!(o.at, Some(Duration::from_secs(105)));
    // With no byte it never carried an event stream: the drop at 40s was not recovered from.
    let o = evaluate(None, WITHIN, false, &with(0), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .starts_with("conn#2 (stream get) dropped at 00:00:40.000"),
        "{}",
        o.message
    );
    assert!(
        o.message
            .contains("1 reconnect (conn#3 (stream get) at 00:00:42.000 answered 200)"),
        "{}",
        o.message
    );
    assert_eq!(o.at, Some(Duration::from_secs(100)));
}

#[test]
fn a_first_get_without_an_event_stream_says_what_it_got_instead() {
    let first = |content_type: &str| {
        TraceBuilder::new()
            .post(1, "initialize", 0, "application/json")
            .session(3, 1, "s1")
            .ended(4, 1, StreamEnd::Complete)
            .open(S, 2, "get")
            .request_with(S, 2, "GET", None)
            .response_typed(S + 3, 2, 200, content_type)
            .ended(S + 4, 2, StreamEnd::Complete)
            .build()
    };
    let o = evaluate(None, WITHIN, false, &first("application/json"), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.starts_with(
            "conn#2 (stream get) got no event stream at 00:00:01.003 (answered 200 application/json, not an event stream) and"
        ),
        "{}",
        o.message
    );
    let o = evaluate(None, WITHIN, false, &first("text/event-stream"), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.starts_with(
            "conn#2 (stream get) got no event stream at 00:00:01.003 (answered 200 with an event stream that ended before a byte) and"
        ),
        "{}",
        o.message
    );
}

#[test]
fn a_call_stream_ending_after_its_answer_is_not_a_drop() {
    // A tool call's event stream (POST at 50s) carries an event and its answer at 55s, then
    // ends: the call finished, nothing went down. The GET recovered at 52s.
    let t = dropped_get()
        .resume(3, "get", 52 * S, "1")
        .post(4, "call", 50 * S, "text/event-stream")
        .event_id(50 * S + 4, 4, "c1", "progress")
        .rpc_answered(55 * S, 4, 2, "ok")
        .ended(55 * S, 4, StreamEnd::Complete)
        .build();
    let o = evaluate(None, WITHIN, false, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message
            .ends_with("the slowest of 1 recovery (all within 60s)"),
        "{}",
        o.message
    );
}

#[test]
fn another_streams_switch_to_polling_does_not_recover_this_one() {
    // The GET drops at 40s; stream `other` switches to polling at 41s and polls: that is not
    // the GET stream receiving again.
    let t = dropped_get()
        .mode_switched(41 * S, None, "other", 3)
        .poll(3, "other", 42 * S)
        .build();
    let o = evaluate(Some("get"), WITHIN, false, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .starts_with("conn#2 (stream get) dropped at 00:00:40.000"),
        "{}",
        o.message
    );
}

#[test]
fn only_a_get_of_the_stream_itself_is_named_as_receiving_on_another_session() {
    // The drop at 40s; the resume is answered 404; the client initializes s2 and makes a tool
    // call there (an event stream of stream `call`), but never reopens the GET.
    let t = dropped_get()
        .open(41 * S, 3, "get")
        .request_with(41 * S, 3, "GET", Some("1"))
        .response_typed(41 * S + 3, 3, 404, "application/json")
        .ended(41 * S + 4, 3, StreamEnd::Complete)
        .post(4, "initialize", 42 * S, "application/json")
        .session(42 * S + 3, 4, "s2")
        .ended(42 * S + 4, 4, StreamEnd::Complete)
        .post(5, "call", 43 * S, "text/event-stream")
        .event_id(43 * S + 4, 5, "c1", "progress")
        .build();
    let o = evaluate(Some("get"), WITHIN, false, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.ends_with(
            "within 60s (by 00:01:40.000): 1 reconnect (conn#3 (stream get) at 00:00:41.000 answered 404)"
        ),
        "{}",
        o.message
    );
}

#[test]
fn another_streams_give_up_is_not_named_in_the_aftermath() {
    // Stream `other` drops at 41s and its client gives it up at 45s; the GET (dropped at
    // 40s) gets no reconnect at all.
    let t = dropped_get()
        .stream(3, "other", 2 * S)
        .ended(41 * S, 3, StreamEnd::Reset)
        .gave_up(45 * S, 3, "other", 3)
        .build();
    let o = evaluate(Some("get"), WITHIN, false, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .ends_with("within 60s (by 00:01:40.000): no reconnect"),
        "{}",
        o.message
    );
}
