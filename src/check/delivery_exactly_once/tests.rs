use super::*;
use crate::check::testing::TraceBuilder;
use crate::trace::StreamEnd;

const END: Duration = Duration::from_secs(300);
const A: &str = "{\"jsonrpc\":\"2.0\",\"method\":\"a\"}";
const B: &str = "{\"jsonrpc\":\"2.0\",\"method\":\"b\"}";

/// initialize on conn 1 (JSON answer), then a GET stream on conn 2 (g1 of s1) receiving
/// priming 1 and notification `a` as event 2; the stream is cut at 60s.
fn base() -> TraceBuilder {
    TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .rpc_received(1, 1, "initialize", Some(1), None)
        .json_response(1, 1)
        .rpc_answered(4, 1, 1, "ok")
        .ended(4, 1, StreamEnd::Complete)
        .stream(2, "get", 1_000)
        .attached(1_002, 2, "g1", "get", "s1")
        .written(1_002, 2, "1", "")
        .event_id(1_004, 2, "1", "")
        .written(10_000, 2, "2", A)
        .event_id(10_002, 2, "2", A)
        .delivered(10_002, 2, Some("2"), "a")
}

#[test]
fn each_message_once_passes_across_a_replay() {
    let t = base()
        .written(59_000, 2, "3", B)
        .ended(60_000, 2, StreamEnd::Truncated)
        .resume(3, "get", 63_000, "2")
        .attached(63_002, 3, "g1", "replay", "s1")
        .replay_started(63_002, 3, "g1", "2", 1)
        .written(63_002, 3, "3", B)
        .event_id(63_004, 3, "3", B)
        .delivered(63_004, 3, Some("3"), "b")
        .client_closed(300_000, 3)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "3 server messages reached the client application exactly once"
    );
}

#[test]
fn a_message_lost_on_a_drop_never_resumed_fails() {
    let t = base()
        .written(59_000, 2, "3", B)
        .ended(60_000, 2, StreamEnd::Truncated)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2: the server wrote b (event 3, session s1) at 00:00:59.000 but it never reached the client application, and the stream ended for good at 00:01:00.000 (conn#2 (stream get) was not resumed)"
    );
    assert_eq!(o.at, Some(Duration::from_secs(60)));
}

#[test]
fn a_notification_reusing_the_priming_events_id_is_judged_by_what_was_written() {
    // The priming event and the notification carry the same id: a client that deduplicates
    // by id never hands the notification over. Keyed by id, this passed.
    let t = TraceBuilder::new()
        .stream(2, "get", 1_000)
        .rpc_sent(1_000, 2, "get", None)
        .attached(1_002, 2, "g1", "get", "s1")
        .written(1_002, 2, "0", "")
        .event_id(1_004, 2, "0", "")
        .written(10_000, 2, "0", A)
        .event_id(10_002, 2, "0", A)
        .client_closed(300_000, 2)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2: the server wrote a (event 0, session s1) at 00:00:10.000; it reached the client at 00:00:10.002 but the client application never got it"
    );
}

#[test]
fn id_less_messages_are_judged_one_by_one() {
    // No event store: three notifications without ids; the second never reaches the
    // application. Keyed by id, "the server reports writing no message".
    let t = TraceBuilder::new()
        .stream(2, "get", 1_000)
        .rpc_sent(1_000, 2, "get", None)
        .written_plain(10_000, 2, A)
        .event(10_002, 2, None, A)
        .delivered(10_002, 2, None, "a")
        .written_plain(20_000, 2, A)
        .event(20_002, 2, None, A)
        .written_plain(30_000, 2, B)
        .event(30_002, 2, None, B)
        .delivered(30_002, 2, None, "b")
        .client_closed(300_000, 2)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2: the server wrote a (no event id) at 00:00:20.000; it reached the client at 00:00:20.002 but the client application never got it"
    );
    // All three delivered: pass, counting three.
    let t = TraceBuilder::new()
        .stream(2, "get", 1_000)
        .rpc_sent(1_000, 2, "get", None)
        .written_plain(10_000, 2, A)
        .event(10_002, 2, None, A)
        .delivered(10_002, 2, None, "a")
        .written_plain(20_000, 2, A)
        .event(20_002, 2, None, A)
        .delivered(20_002, 2, None, "a")
        .client_closed(300_000, 2)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(o.message.starts_with("2 server messages"), "{}", o.message);
}

#[test]
fn an_id_less_message_lost_on_a_drop_cannot_be_replayed() {
    let t = TraceBuilder::new()
        .stream(2, "get", 1_000)
        .rpc_sent(1_000, 2, "get", None)
        .written_plain(59_000, 2, A)
        .ended(59_000, 2, StreamEnd::Truncated)
        .stream(3, "get", 62_000)
        .client_closed(300_000, 3)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .starts_with("conn#2: the server wrote a (no event id) at 00:00:59.000 but it never reached the client application"),
        "{}",
        o.message
    );
}

#[test]
fn an_event_held_back_while_the_stream_was_down_must_come_by_replay() {
    // Cut at 60s; notification b (event 3) held back at 61s; resumed at 63s.
    let down = || {
        base()
            .ended(60_000, 2, StreamEnd::Truncated)
            .held(61_000, "s1", "g1", "3", B, true)
            .resume(3, "get", 63_000, "2")
            .attached(63_002, 3, "g1", "replay", "s1")
    };
    // Replayed and delivered: one message, once.
    let t = down()
        .written(63_002, 3, "3", B)
        .event_id(63_004, 3, "3", B)
        .delivered(63_004, 3, Some("3"), "b")
        .client_closed(300_000, 3)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "3 server messages reached the client application exactly once"
    );
    // Never replayed: lost (judging only what was written, this passed).
    let t = down().client_closed(300_000, 3).build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2: the server held back b (event 3, session s1) at 00:01:01.000 (no connection carried its stream; the last was conn#2) but it never reached the client application, before the client closed it (conn#3 (stream get) at 00:05:00.000)"
    );
    // Without an event store it is lost at once.
    let t = base()
        .ended(60_000, 2, StreamEnd::Truncated)
        .held(61_000, "s1", "g1", "3", B, false)
        .resume(3, "get", 63_000, "2")
        .attached(63_002, 3, "g1", "replay", "s1")
        .client_closed(300_000, 3)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .ends_with("and the server keeps no events, so it can never be replayed"),
        "{}",
        o.message
    );
    // Held back after the client closed the stream itself: excused.
    let t = base()
        .client_closed(30_000, 2)
        .held(40_000, "s1", "g1", "3", B, true)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
}

#[test]
fn a_duplicate_delivery_fails() {
    let t = base()
        .delivered(20_000, 2, Some("2"), "a")
        .client_closed(300_000, 2)
        .build();
    // The second delivery matches no receipt left: the server never wrote it again.
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2: the client application received a at 00:00:20.000, which the server never wrote to it"
    );
    // A replay of an id the client already had, handed over again: a duplicate.
    let t = base()
        .ended(60_000, 2, StreamEnd::Truncated)
        .resume(3, "get", 63_000, "1")
        .attached(63_002, 3, "g1", "replay", "s1")
        .written(63_002, 3, "2", A)
        .event_id(63_004, 3, "2", A)
        .delivered(63_004, 3, Some("2"), "a")
        .client_closed(300_000, 3)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#3: the client application received a (event 2, session s1) 2 times (at 00:00:10.002, 00:01:03.004), written by the server at 00:00:10.000"
    );
    assert_eq!(o.at, Some(Duration::from_millis(63_004)));
}

#[test]
fn a_lost_json_answer_fails_and_an_intermediary_answer_does_not_count() {
    let t = TraceBuilder::new()
        .post(1, "ping", 0, "application/json")
        .rpc_received(1, 1, "ping", Some(2), Some("s1"))
        .json_response(1, 1)
        .rpc_answered(4, 1, 2, "http 504")
        .ended(4, 1, StreamEnd::Complete)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#1: the server wrote the JSON answer to #2 at 00:00:00.001 but it never reached the client application"
    );
    // A client that reports the JSON answer as a delivered message too counts it once.
    let t = TraceBuilder::new()
        .post(1, "ping", 0, "application/json")
        .rpc_received(1, 1, "ping", Some(2), Some("s1"))
        .json_response(1, 1)
        .delivered(4, 1, None, "response 2")
        .rpc_answered(4, 1, 2, "ok")
        .ended(4, 1, StreamEnd::Complete)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "1 server message reached the client application exactly once"
    );
}

#[test]
fn writes_after_the_client_closed_the_stream_are_excused() {
    let t = base()
        .client_closed(30_000, 2)
        .written(40_000, 2, "3", B)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message
            .ends_with("; 1 written after the client closed their stream or the scenario ended"),
        "{}",
        o.message
    );
    // Written before the close and never delivered: lost.
    let t = base()
        .written(20_000, 2, "3", B)
        .client_closed(30_000, 2)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .ends_with("before the client closed it (conn#2 (stream get) at 00:00:30.000)"),
        "{}",
        o.message
    );
}

#[test]
fn what_was_in_flight_when_the_harness_stopped_the_run_is_not_judged() {
    let t = base()
        .written(20_000, 2, "3", B)
        .stopped(20_000, "stall")
        .build();
    let o = evaluate(&t, Duration::from_secs(20));
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(o.message.starts_with("2 server messages"), "{}", o.message);
}

#[test]
fn no_messages_and_no_deliveries_is_unobservable() {
    let t = TraceBuilder::new()
        .stream(1, "get", 0)
        .rpc_answered(5, 1, 9, "ok")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    assert!(
        o.message.starts_with("no server message and no delivery"),
        "{}",
        o.message
    );
    // A plain SSE client: the server's events cannot be matched to deliveries.
    let t = TraceBuilder::new()
        .stream(1, "main", 0)
        .written(1_000, 1, "1", "{}")
        .event_id(1_002, 1, "1", "{}")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    assert!(o.message.contains("plain SSE client"), "{}", o.message);
}

#[test]
fn message_names_follow_the_clients() {
    assert_eq!(message_name(A), "a");
    assert_eq!(message_name("{\"id\":7,\"result\":{}}"), "response 7");
    assert_eq!(message_name("{\"id\":\"x\",\"result\":{}}"), "response x");
    assert_eq!(normalise("response \"x\""), "response x");
    assert_eq!(message_name("[1]"), "batch");
    assert_eq!(message_name("nope"), "invalid JSON");
}

#[test]
fn a_new_post_starts_a_new_logical_stream() {
    let t = TraceBuilder::new()
        .post(1, "call", 0, "text/event-stream")
        .ended(5, 1, StreamEnd::Truncated)
        .resume(2, "call", 10, "1")
        .client_closed(20, 2)
        .post(3, "call", 30, "text/event-stream")
        .build();
    let all = client_streams(&t, END);
    assert_eq!(logical_streams(&all), vec![vec![0, 1], vec![2]]);
}

#[test]
fn the_spec_dispatches_here() {
    let t = base().build();
    let spec = crate::check::CheckSpec::DeliveryExactlyOnce;
    assert_eq!(spec.evaluate(&t, END), evaluate(&t, END));
    assert_eq!(spec.id(), ID);
}

#[test]
fn an_event_held_back_is_judged_only_on_the_session_the_client_uses() {
    // The client holds s1 (established at 3 ms); the GET is cut at 60s and resumed at 63s.
    let t = base()
        .session(3, 1, "s1")
        .ended(60_000, 2, StreamEnd::Truncated)
        .held(61_000, "s1", "g1", "3", B, false)
        .resume(3, "get", 63_000, "2")
        .attached(63_002, 3, "g1", "replay", "s1")
        .client_closed(300_000, 3)
        .build();
    // Held back on s1, with no event store: lost.
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2: the server held back b (event 3, session s1) at 00:01:01.000 (no connection carried its stream; the last was conn#2) but it never reached the client application, and the server keeps no events, so it can never be replayed"
    );
    // Lost when it was held: nothing can bring it back after that.
    assert_eq!(o.at, Some(Duration::from_secs(61)));
    // The client moved to s2 at 61.003s; the server then held back an event of s1's stream:
    // a session the client no longer uses is session.survives's verdict, not this one.
    let t = base()
        .session(3, 1, "s1")
        .ended(60_000, 2, StreamEnd::Truncated)
        .post(4, "initialize", 61_000, "application/json")
        .session(61_003, 4, "s2")
        .ended(61_004, 4, StreamEnd::Complete)
        .held(62_000, "s1", "g1", "3", B, false)
        .resume(3, "get", 63_000, "2")
        .attached(63_002, 3, "g2", "get", "s2")
        .client_closed(300_000, 3)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
}

#[test]
fn a_held_back_event_without_data_is_no_message() {
    // A priming event (an id, no data) the server held back while the GET was down: nothing
    // for the client application to get.
    let t = base()
        .ended(60_000, 2, StreamEnd::Truncated)
        .held(61_000, "s1", "g1", "3", "", false)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "2 server messages reached the client application exactly once"
    );
}

#[test]
fn an_answer_on_an_event_stream_is_a_message_not_a_json_answer() {
    // A POST answered with an event stream carrying `response 2`, delivered once as a
    // message (the client reports no RpcAnswered).
    let r = "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}";
    let t = TraceBuilder::new()
        .post(1, "ping", 0, "text/event-stream")
        .rpc_received(1, 1, "ping", Some(2), Some("s1"))
        .server_response(1, 1)
        .written(2, 1, "1", r)
        .event_id(4, 1, "1", r)
        .delivered(4, 1, Some("1"), "response 2")
        .ended(5, 1, StreamEnd::Complete)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "1 server message reached the client application exactly once"
    );
}

#[test]
fn deliveries_with_no_server_events_say_the_server_wrote_nothing() {
    // The client got and delivered a message, but the trace has no server writes (a server
    // that records nothing): nothing to match it against.
    let t = TraceBuilder::new()
        .stream(1, "get", 0)
        .event_id(1_000, 1, "1", A)
        .delivered(1_000, 1, Some("1"), "a")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    assert_eq!(
        o.message,
        "the server wrote no message to the client; nothing to check"
    );
}

#[test]
fn a_delivery_is_matched_to_a_receipt_on_its_own_connection_first() {
    // Two tool calls' event streams each carry a notification `a` with event id 1 (different
    // params); the client hands over only the one on conn#3.
    let a1 = "{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":{\"n\":1}}";
    let a2 = "{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":{\"n\":2}}";
    let t = TraceBuilder::new()
        .post(2, "call", 0, "text/event-stream")
        .rpc_sent(0, 2, "tools/call", Some(2))
        .written(1_000, 2, "1", a1)
        .event_id(1_002, 2, "1", a1)
        .post(3, "call", 1_500, "text/event-stream")
        .rpc_sent(1_500, 3, "tools/call", Some(3))
        .written(2_000, 3, "1", a2)
        .event_id(2_002, 3, "1", a2)
        .delivered(2_002, 3, Some("1"), "a")
        .client_closed(10_000, 2)
        .client_closed(10_000, 3)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2: the server wrote a (event 1) at 00:00:01.000; it reached the client at 00:00:01.002 but the client application never got it"
    );
    assert_eq!(o.at, Some(Duration::from_millis(1_002)));
}

#[test]
fn json_answers_to_one_request_id_on_two_connections_are_two_answers() {
    // The client restarted its request ids with a new session: #2 on conn#1 (s1) and #2 on
    // conn#4 (s2), each answered with JSON and delivered once.
    let t = TraceBuilder::new()
        .post(1, "ping", 0, "application/json")
        .rpc_received(1, 1, "ping", Some(2), Some("s1"))
        .json_response(1, 1)
        .delivered(4, 1, None, "response 2")
        .ended(4, 1, StreamEnd::Complete)
        .post(4, "ping", 1_000, "application/json")
        .rpc_received(1_001, 4, "ping", Some(2), Some("s2"))
        .json_response(1_001, 4)
        .delivered(1_004, 4, None, "response 2")
        .ended(1_004, 4, StreamEnd::Complete)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "2 server messages reached the client application exactly once"
    );
    assert_eq!(o.at, Some(Duration::from_millis(1_004)));
}

#[test]
fn a_write_never_received_on_a_stream_open_to_the_end_fails() {
    // No harness stop: the GET stayed open to the end, and b (written at 59s) never arrived.
    let t = base().written(59_000, 2, "3", B).build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2: the server wrote b (event 3, session s1) at 00:00:59.000 but it never reached the client application, and the stream stayed open until the scenario's end"
    );
    assert_eq!(o.at, Some(END));
}

#[test]
fn the_earliest_failure_is_reported_and_the_first_written_of_simultaneous_ones() {
    const C: &str = "{\"jsonrpc\":\"2.0\",\"method\":\"c\"}";
    // b and c are both lost on the drop at 60s: the first written is named.
    let lost = || {
        base()
            .written(59_000, 2, "3", B)
            .written(59_500, 2, "4", C)
            .ended(60_000, 2, StreamEnd::Truncated)
    };
    let o = evaluate(&lost().build(), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .starts_with("conn#2: the server wrote b (event 3, session s1) at 00:00:59.000"),
        "{}",
        o.message
    );
    // A delivery of something never written, at 20s, comes before both.
    let o = evaluate(&lost().delivered(20_000, 2, None, "z").build(), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2: the client application received z at 00:00:20.000, which the server never wrote to it"
    );
    assert_eq!(o.at, Some(Duration::from_secs(20)));
}

#[test]
fn a_write_still_in_flight_before_the_harness_stop_is_not_judged() {
    // b, written at 19.5s, had not reached the client when the harness stopped the run at
    // 20s with the GET still open: in flight, not lost.
    let t = base()
        .written(19_500, 2, "3", B)
        .stopped(20_000, "stall")
        .build();
    let o = evaluate(&t, Duration::from_secs(20));
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message
            .starts_with("2 server messages reached the client application exactly once; 1 "),
        "{}",
        o.message
    );
}

#[test]
fn a_kept_event_no_replay_carried_by_the_end_fails_saying_so() {
    // b is held back (kept) at 61s while the GET is down; the resume at 63s replays nothing
    // and stays open to the end.
    let t = base()
        .ended(60_000, 2, StreamEnd::Truncated)
        .held(61_000, "s1", "g1", "3", B, true)
        .resume(3, "get", 63_000, "2")
        .attached(63_002, 3, "g1", "replay", "s1")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2: the server held back b (event 3, session s1) at 00:01:01.000 (no connection carried its stream; the last was conn#2) but it never reached the client application, and no replay carried it before the scenario's end"
    );
    assert_eq!(o.at, Some(END));
}
