use super::*;
use crate::check::testing::TraceBuilder;
use crate::trace::StreamEnd;

const END: Duration = Duration::from_secs(600);
const S: u64 = 1_000;

/// initialize on conn 1 (session s1 at 3 ms), a GET stream on conn 2 from 1 s.
fn session() -> TraceBuilder {
    TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .rpc_sent(0, 1, "initialize", Some(1))
        .session(3, 1, "s1")
        .ended(4, 1, StreamEnd::Complete)
        .stream(2, "get", S)
}

#[test]
fn a_session_used_to_the_end_passes() {
    let t = session()
        .post(3, "ping", 120 * S, "application/json")
        .ended(120 * S + 4, 3, StreamEnd::Complete)
        .client_closed(600 * S, 2)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "session s1 stayed valid from 00:00:00.003 to 00:10:00.000 (2 requests on it, the longest idle span 119s)"
    );
}

#[test]
fn a_404_for_the_session_fails_naming_when_and_how_long_it_was_idle() {
    // The GET is cut at 5m; its resume at 5m 3s is answered 404: the server forgot s1.
    let t = session()
        .ended(300 * S, 2, StreamEnd::Truncated)
        .open(303 * S, 3, "get")
        .request_with(303 * S, 3, "GET", Some("1"))
        .response_typed(303 * S + 3, 3, 404, "application/json")
        .ended(303 * S + 4, 3, StreamEnd::Complete)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "session s1 was lost at 00:05:03.003: conn#3 (stream get) GET answered 404 after the session had been idle for 5m 2s (the last request on it at 00:00:01.000 (conn#2 (stream get))); it was established at 00:00:00.003"
    );
    assert_eq!(o.at, Some(Duration::from_millis(303_003)));
}

#[test]
fn a_404_from_an_intermediary_or_after_a_delete_is_not_the_session_lost() {
    let t = session()
        .open(60 * S, 3, "call")
        .request_with(60 * S, 3, "POST", None)
        .responded(60 * S + 2, 3, "edge", 404, "route", "no route")
        .response(60 * S + 3, 3, 404)
        .open(90 * S, 4, "delete")
        .request_with(90 * S, 4, "DELETE", None)
        .response(90 * S + 3, 4, 200)
        .post(5, "ping", 100 * S, "application/json")
        .response(100 * S + 3, 5, 404)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message
            .contains("until the client deleted it at 00:01:30.000"),
        "{}",
        o.message
    );
}

#[test]
fn a_new_session_takes_over_and_the_reinitialize_is_not_on_the_old_one() {
    let t = session()
        .client_closed(100 * S, 2)
        .post(3, "initialize", 200 * S, "application/json")
        .rpc_sent(200 * S, 3, "initialize", Some(2))
        .session(200 * S + 3, 3, "s2")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message.starts_with(
            "session s1 stayed valid from 00:00:00.003 until the client moved to another session at 00:03:20.003 (1 request on it"
        ),
        "{}",
        o.message
    );
    assert!(
        o.message.contains("; session s2 stayed valid"),
        "{}",
        o.message
    );
}

#[test]
fn no_session_is_unobservable() {
    let t = TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .rpc_sent(0, 1, "initialize", Some(1))
        .build();
    assert_eq!(evaluate(&t, END).verdict, Verdict::Unobservable);
    let t = TraceBuilder::new().stream(1, "main", 0).build();
    assert_eq!(evaluate(&t, END).verdict, Verdict::Unobservable);
}

#[test]
fn each_request_counts_on_the_session_held_when_it_was_sent() {
    // s2 is established at 200.003 s and the client's `notifications/initialized` goes out at
    // that same instant: it is on s2, not on s1; the GET from 1 s is on s1 only.
    let t = session()
        .client_closed(100 * S, 2)
        .post(3, "initialize", 200 * S, "application/json")
        .rpc_sent(200 * S, 3, "initialize", Some(2))
        .session(200 * S + 3, 3, "s2")
        .ended(200 * S + 4, 3, StreamEnd::Complete)
        .post(4, "initialized", 200 * S + 3, "application/json")
        .rpc_sent(200 * S + 3, 4, "notifications/initialized", None)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "session s1 stayed valid from 00:00:00.003 until the client moved to another session at 00:03:20.003 (1 request on it, the longest idle span 997ms); \
         session s2 stayed valid from 00:03:20.003 to 00:10:00.000 (1 request on it, the longest idle span 0s)"
    );
}
