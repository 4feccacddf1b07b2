use super::*;
use crate::check::testing::TraceBuilder;
use crate::trace::Closer;

const S: u64 = 1_000;
const MIN: u64 = 60 * S;

fn secs(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

trait Rpc {
    fn sent(self, t: u64, conn: u32, method: &str, id: u64) -> Self;
}

impl Rpc for TraceBuilder {
    fn sent(self, t: u64, conn: u32, method: &str, id: u64) -> Self {
        self.push(
            t,
            "client",
            Some(conn),
            EventKind::RpcSent {
                method: method.into(),
                id: Some(id),
            },
        )
    }
}

/// initialize #0 answered ok, then a 6-minute tool call #1 on conn 4 (stream call) at 1.001 s.
fn long_call() -> TraceBuilder {
    TraceBuilder::new()
        .open(1, 1, "initialize")
        .sent(1, 1, "initialize", 0)
        .rpc_answered(7, 1, 0, "ok")
        .open(1_001, 4, "call")
        .sent(1_001, 4, "tools/call", 1)
}

/// The timeline of `keepalive/mcp-long-tool-call`: one call at 1 s lasting 6 minutes.
const CALLS: &[(Duration, Duration)] = &[(Duration::from_secs(1), Duration::from_secs(360))];
const END: Duration = Duration::from_secs(8 * 60);

#[test]
fn the_sdks_own_request_timeout_fails_naming_it_and_the_result_passes() {
    // The TypeScript SDK client gives the call up after its 60 s default timeout; the
    // result arriving at 6:01 is received but discarded (never answered ok).
    let t = long_call()
        .rpc_answered(61_001, 4, 1, "error -32001: Request timed out")
        .event(361_006, 4, None, "{\"id\":1,\"result\":{}}")
        .build();
    let o = evaluate(CALLS, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "rpc #1 tools/call sent at 00:00:01.001 on conn#4 (stream call) was answered `error -32001: Request timed out` at 00:01:01.001 (60s later), not with a result"
    );
    assert_eq!(o.at, Some(secs(61_001)));

    let t = long_call()
        .delivered(361_006, 4, Some("5"), "response 1")
        .rpc_answered(361_006, 4, 1, "ok")
        .build();
    let o = evaluate(CALLS, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "2 of 2 requests (initialize, tools/call) got an ok answer"
    );
}

#[test]
fn an_intermediarys_answer_fails() {
    let t = TraceBuilder::new()
        .open(1, 1, "ping")
        .sent(1, 1, "ping", 3)
        .rpc_answered(60_004, 1, 3, "http 504")
        .build();
    let o = evaluate(&[], &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.contains(
            "rpc #3 ping sent at 00:00:00.001 on conn#1 (stream ping) was answered `http 504`"
        ),
        "{}",
        o.message
    );
}

#[test]
fn no_answer_fails_once_the_result_was_due_well_before_the_end() {
    // Due at 6:01.001; 60 s later is still before the end at 8:00.
    let t = long_call().build();
    let o = evaluate(CALLS, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "rpc #1 tools/call sent at 00:00:01.001 on conn#4 (stream call) got no answer by the end at 00:08:00.000 (its result was due at 00:06:01.001)"
    );
    assert_eq!(o.at, Some(END));
    // A ping answered by nothing fails too.
    let t = TraceBuilder::new()
        .open(10 * S, 2, "ping")
        .sent(10 * S, 2, "ping", 1)
        .build();
    assert_eq!(evaluate(&[], &t, END).verdict, Verdict::Fail);
}

#[test]
fn unanswered_requests_due_near_the_end_are_not_judged() {
    // A 5-minute call in a 2-minute scenario: its answer is not due before the end.
    let calls = [(secs(S), secs(5 * MIN))];
    let t = long_call().build();
    let o = evaluate(&calls, &t, secs(2 * MIN));
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message
            .ends_with("; 1 unanswered, due within 60s of the end, not judged"),
        "{}",
        o.message
    );
    // A ping 30 s before the end, unanswered: not judged; 61 s before: judged.
    let ping = |t0: u64| {
        TraceBuilder::new()
            .open(t0, 2, "ping")
            .sent(t0, 2, "ping", 1)
            .build()
    };
    assert_eq!(
        evaluate(&[], &ping(END.as_millis() as u64 - 30 * S), END).verdict,
        Verdict::Pass
    );
    assert_eq!(
        evaluate(&[], &ping(END.as_millis() as u64 - 61 * S), END).verdict,
        Verdict::Fail
    );
}

#[test]
fn a_request_whose_stream_the_client_closed_first_is_not_judged() {
    let t = long_call()
        .conn_closed(30 * S, 4, Closer::Client, "close-stream")
        .rpc_answered(30 * S, 4, 1, "error: This operation was aborted")
        .build();
    let o = evaluate(CALLS, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message
            .contains("1 not judged: the client closed its stream before an answer"),
        "{}",
        o.message
    );
    // The scenario's end closing it is no excuse.
    let t = long_call().client_closed(END.as_millis() as u64, 4).build();
    assert_eq!(evaluate(CALLS, &t, END).verdict, Verdict::Fail);
}

#[test]
fn answers_pair_with_the_request_of_their_id_sent_before_them() {
    // Two sessions, each starting its ids at 1: the second #1 needs an answer of its own.
    let t = TraceBuilder::new()
        .open(1, 1, "initialize")
        .sent(1, 1, "initialize", 1)
        .rpc_answered(5, 1, 1, "ok")
        .open(30 * S, 5, "initialize")
        .sent(30 * S, 5, "initialize", 1)
        .build();
    let o = evaluate(&[], &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.contains("sent at 00:00:30.000 on conn#5"),
        "{}",
        o.message
    );
}

#[test]
fn tool_calls_take_the_duration_of_the_step_that_sent_them() {
    // Two calls: 1 s for 6 min, 2 s for 1 min. Only the second is sent (at 2.001 s); it is
    // due at 1:02.001, so unanswered at the end of a 3-minute run it fails.
    let calls = [(secs(S), secs(6 * MIN)), (secs(2 * S), secs(MIN))];
    let t = TraceBuilder::new()
        .open(2_001, 3, "call2")
        .sent(2_001, 3, "tools/call", 2)
        .build();
    let o = evaluate(&calls, &t, secs(3 * MIN));
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.ends_with("(its result was due at 00:01:02.001)"),
        "{}",
        o.message
    );
}

#[test]
fn without_requests_it_is_unobservable() {
    let t = TraceBuilder::new().stream(1, "main", 1_000).build();
    let o = evaluate(&[], &t, END);
    assert_eq!(o.verdict, Verdict::Unobservable);
    // Notifications are not requests.
    let t = TraceBuilder::new()
        .push(
            5,
            "client",
            Some(2),
            EventKind::RpcSent {
                method: "notifications/initialized".into(),
                id: None,
            },
        )
        .build();
    assert_eq!(evaluate(&[], &t, END).verdict, Verdict::Unobservable);
}

#[test]
fn the_spec_dispatches_here() {
    let t = long_call().build();
    let spec = crate::check::CheckSpec::RpcAnswered {
        calls: CALLS.to_vec(),
    };
    let o = spec.evaluate(&t, END);
    assert_eq!(o, evaluate(CALLS, &t, END));
    assert_eq!(o.id, ID);
    assert_eq!(spec.id(), ID);
    assert_eq!(
        crate::check::CheckKind::from_id(ID),
        Some(crate::check::CheckKind::RpcAnswered)
    );
}

#[test]
fn a_call_takes_the_duration_of_a_step_due_by_then_not_of_a_later_one() {
    // The 6-minute call at 1 s is sent at 1.001 s; a 10-second call is on the timeline at
    // 100 s, later than the request: it is not the request's step.
    let calls = [(secs(S), secs(6 * MIN)), (secs(100 * S), secs(10 * S))];
    let o = evaluate(&calls, &long_call().build(), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.ends_with("(its result was due at 00:06:01.001)"),
        "{}",
        o.message
    );
    // A second call sent when the only step is already matched is due at once.
    let t = long_call()
        .rpc_answered(361_001, 4, 1, "ok")
        .open(362 * S, 5, "call")
        .sent(362 * S, 5, "tools/call", 2)
        .build();
    let o = evaluate(CALLS, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "rpc #2 tools/call sent at 00:06:02.000 on conn#5 (stream call) got no answer by the end at 00:08:00.000"
    );
}

#[test]
fn a_request_on_a_connection_the_client_never_reported_opening_names_the_connection() {
    let t = TraceBuilder::new().sent(10 * S, 2, "ping", 1).build();
    let o = evaluate(&[], &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "rpc #1 ping sent at 00:00:10.000 on conn#2 got no answer by the end at 00:08:00.000"
    );
}

#[test]
fn each_request_takes_the_answer_of_its_own_id() {
    // Two pings, answered out of order: #2 ok at 3 s, #1 with an error at 4 s.
    let t = TraceBuilder::new()
        .open(S, 2, "ping")
        .sent(S, 2, "ping", 1)
        .open(2 * S, 3, "ping")
        .sent(2 * S, 3, "ping", 2)
        .rpc_answered(3 * S, 3, 2, "ok")
        .rpc_answered(4 * S, 2, 1, "error -32603: internal")
        .build();
    let o = evaluate(&[], &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "rpc #1 ping sent at 00:00:01.000 on conn#2 (stream ping) was answered `error -32603: internal` at 00:00:04.000 (3s later), not with a result"
    );
    assert_eq!(o.at, Some(secs(4 * S)));
}

#[test]
fn closing_another_stream_is_no_excuse_for_an_unanswered_request() {
    // The client closes its GET stream at 30 s; the call on stream `call` stays unanswered.
    let t = long_call()
        .stream(2, "get", 2 * S)
        .client_closed(30 * S, 2)
        .build();
    let o = evaluate(CALLS, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.starts_with(
            "rpc #1 tools/call sent at 00:00:01.001 on conn#4 (stream call) got no answer"
        ),
        "{}",
        o.message
    );
}

#[test]
fn an_answer_due_exactly_tail_before_the_end_is_judged() {
    // A ping sent exactly 60 s before the end: the whole TAIL passed with no answer.
    let t0 = END.as_millis() as u64 - 60 * S;
    let t = TraceBuilder::new()
        .open(t0, 2, "ping")
        .sent(t0, 2, "ping", 1)
        .build();
    let o = evaluate(&[], &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "rpc #1 ping sent at 00:07:00.000 on conn#2 (stream ping) got no answer by the end at 00:08:00.000"
    );
}
