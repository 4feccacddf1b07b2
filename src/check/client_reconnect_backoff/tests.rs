use super::*;
use crate::check::testing::TraceBuilder;
use crate::trace::StreamEnd;

const END: Duration = Duration::from_secs(300);
const S: u64 = 1_000;

/// A GET stream on conn 1 that carried `retry` (if any) and dropped at 60s, then conn 2
/// refused (503) at 61s+first, conn 3 refused, conn 4 fine; delays in ms are given.
fn drops(retry: Option<u64>, delays: [u64; 3], opens: [u64; 3]) -> TraceBuilder {
    let mut b = TraceBuilder::new().stream(1, "get", 0);
    if let Some(r) = retry {
        b = b.retry(4, 1, r);
    }
    b = b
        .event_id(5, 1, "1", "")
        .ended(60 * S, 1, StreamEnd::Truncated)
        .reconnecting(60 * S, 1, "get", 1, delays[0], Some("1"));
    let mut t = 60 * S;
    for (k, conn) in [2u32, 3].into_iter().enumerate() {
        t += opens[k];
        b = b
            .open(t, conn, "get")
            .request_with(t, conn, "GET", Some("1"))
            .response_typed(t + 3, conn, 503, "text/plain")
            .ended(t + 4, conn, StreamEnd::Complete)
            .reconnecting(t + 4, conn, "get", k as u32 + 2, delays[k + 1], Some("1"));
        t += 4;
    }
    t += opens[2];
    b.resume(4, "get", t, "1").bytes(t + 4, 4, 13)
}

#[test]
fn doubling_from_initial_up_to_max_passes() {
    let t = drops(None, [S, 2 * S, 3 * S], [S, 2 * S, 3 * S]).build();
    let o = evaluate(Duration::from_secs(1), Duration::from_secs(3), &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#3 (stream get) waited 3s as attempt 3 (initial 1s); 3 reconnects paced as the policy says"
    );
}

#[test]
fn the_servers_retry_sets_the_first_delay() {
    let t = drops(Some(3_000), [3 * S, 6 * S, 12 * S], [3 * S, 6 * S, 12 * S]).build();
    let o = evaluate(Duration::from_secs(1), Duration::from_secs(30), &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    let t = drops(Some(3_000), [S, 2 * S, 4 * S], [S, 2 * S, 4 * S]).build();
    let o = evaluate(Duration::from_secs(1), Duration::from_secs(30), &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#1 (stream get) was to reconnect at 00:01:00.000 as attempt 1 after 1s: expected attempt 1 after 3s (the server's retry 3000ms, doubled per consecutive failed reconnect, at most 30s)"
    );
}

#[test]
fn a_delay_that_does_not_double_or_exceeds_max_fails() {
    let t = drops(None, [S, S, S], [S, S, S]).build();
    let o = evaluate(Duration::from_secs(1), Duration::from_secs(30), &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.starts_with(
            "conn#2 (stream get) was to reconnect at 00:01:01.004 as attempt 2 after 1s: expected attempt 2 after 2s"
        ),
        "{}",
        o.message
    );
    let t = drops(None, [S, 2 * S, 4 * S], [S, 2 * S, 4 * S]).build();
    let o = evaluate(Duration::from_secs(1), Duration::from_secs(3), &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.ends_with("after 4s: above max 3s"),
        "{}",
        o.message
    );
}

#[test]
fn reconnecting_before_the_announced_wait_fails() {
    let t = drops(None, [S, 2 * S, 4 * S], [S, 500, 4 * S]).build();
    let o = evaluate(Duration::from_secs(1), Duration::from_secs(30), &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#3 (stream get) reconnected at 00:01:01.504, 500ms after the client announced a wait of 2s at 00:01:01.004"
    );
}

#[test]
fn a_working_reconnect_resets_the_attempts() {
    let t = drops(None, [S, 2 * S, 4 * S], [S, 2 * S, 4 * S])
        .ended(100 * S, 4, StreamEnd::Truncated)
        .reconnecting(100 * S, 4, "get", 1, S, Some("1"))
        .build();
    let o = evaluate(Duration::from_secs(1), Duration::from_secs(30), &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message
            .contains("conn#4 (stream get) waited 1s as attempt 1"),
        "{}",
        o.message
    );
}

#[test]
fn no_reconnect_is_unobservable() {
    let t = TraceBuilder::new().stream(1, "get", 0).build();
    let o = evaluate(Duration::from_secs(1), Duration::from_secs(30), &t, END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
}

#[test]
fn the_spec_dispatches_here() {
    let t = drops(None, [S, 2 * S, 4 * S], [S, 2 * S, 4 * S]).build();
    let spec = crate::check::CheckSpec::ClientReconnectBackoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(30),
    };
    assert_eq!(
        spec.evaluate(&t, END),
        evaluate(Duration::from_secs(1), Duration::from_secs(30), &t, END)
    );
    assert_eq!(spec.id(), ID);
}

#[test]
fn a_refusal_with_a_body_is_a_failed_reconnect() {
    // conn 2's 503 carries a text body: still no 2xx, so attempt 2 waits 2s.
    let t = drops(None, [S, 2 * S, 4 * S], [S, 2 * S, 4 * S])
        .bytes(61 * S + 3, 2, 19)
        .build();
    let o = evaluate(Duration::from_secs(1), Duration::from_secs(30), &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#3 (stream get) waited 4s as attempt 3 (initial 1s); 3 reconnects paced as the policy says"
    );
}

#[test]
fn a_failed_first_connection_is_not_a_failed_reconnect() {
    // The stream's first connection is refused; its reconnect is attempt 1 after initial.
    let t = TraceBuilder::new()
        .open(0, 1, "get")
        .request(0, 1)
        .response_typed(3, 1, 503, "text/plain")
        .ended(4, 1, StreamEnd::Complete)
        .reconnecting(4, 1, "get", 1, S, None)
        .stream(2, "get", S + 4)
        .bytes(S + 10, 2, 13)
        .build();
    let o = evaluate(Duration::from_secs(1), Duration::from_secs(30), &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#1 (stream get) waited 1s as attempt 1 (initial 1s); 1 reconnect paced as the policy says"
    );
}

#[test]
fn a_delay_of_exactly_max_that_should_be_shorter_names_the_expected_one() {
    // Attempt 1 after 3s, the max, where initial 1s was due: not above max.
    let t = drops(None, [3 * S, 2 * S, 4 * S], [3 * S, 2 * S, 4 * S]).build();
    let o = evaluate(Duration::from_secs(1), Duration::from_secs(3), &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#1 (stream get) was to reconnect at 00:01:00.000 as attempt 1 after 3s: expected attempt 1 after 1s (initial 1s, doubled per consecutive failed reconnect, at most 3s)"
    );
}
