use super::*;
use crate::check::testing::TraceBuilder;
use crate::trace::StreamEnd;

const END: Duration = Duration::from_secs(600);
const S: u64 = 1_000;

/// A GET stream whose connections are cut `every` ms after opening and reopened 1 s later,
/// from 1 s to `until` ms.
fn cut_every(every: u64, until: u64) -> TraceBuilder {
    let mut b = TraceBuilder::new().intermediary("lb", &[("max-duration", every)]);
    let (mut t, mut conn) = (S, 1);
    while t < until {
        b = b
            .stream(conn, "get", t)
            .comment(t + 10, conn)
            .closed_by_intermediary(t + every, conn, "lb", "max-duration", "")
            .ended(t + every, conn, StreamEnd::Truncated);
        t += every + S;
        conn += 1;
    }
    b
}

#[test]
fn a_client_reconnecting_every_second_fails_naming_the_window() {
    // Cut every 1 s, reconnected 1 s later: a reconnect every 2 s for 10 minutes.
    let t = cut_every(S, 600 * S).build();
    let o = evaluate(RECONNECTS_MAX_DEFAULT, WINDOW_DEFAULT, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "stream get was reconnected 7 times within 60s (00:00:03.000 → 00:00:15.000: conn#2 (stream get) at 00:00:03.000, conn#3 (stream get) at 00:00:05.000, conn#4 (stream get) at 00:00:07.000, … 3 more …, conn#8 (stream get) at 00:00:15.000), above reconnects-max 6; the connection before the last (conn#7 (stream get)) closed at 00:00:14.000 by lb (max-duration 1s)"
    );
    assert_eq!(o.at, Some(Duration::from_secs(15)));
}

#[test]
fn a_proxy_cutting_every_few_seconds_is_a_storm_whatever_the_backoff() {
    // Each connection got a byte, so a backoff that resets on bytes is satisfied.
    let t = cut_every(4 * S, 120 * S).build();
    let o = evaluate(RECONNECTS_MAX_DEFAULT, WINDOW_DEFAULT, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    // Exactly at the limit passes; the window is half-open.
    let o = evaluate(12, WINDOW_DEFAULT, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "23 reconnects; at most 12 of one stream within 60s (stream get, from 00:00:06.000), within reconnects-max 12"
    );
}

#[test]
fn empty_answers_to_resumed_gets_count() {
    // Every resume is answered 200 and ends at once without a byte.
    let mut b = TraceBuilder::new()
        .stream(1, "get", 0)
        .event_id(10, 1, "1", "{}")
        .ended(30 * S, 1, StreamEnd::Truncated);
    for i in 0..8u32 {
        let t = 33 * S + u64::from(i) * 3 * S;
        b = b
            .resume(2 + i, "get", t, "1")
            .ended(t + 4, 2 + i, StreamEnd::Complete);
    }
    let o = evaluate(RECONNECTS_MAX_DEFAULT, WINDOW_DEFAULT, &b.build(), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.ends_with(
            "the connection before the last (conn#7 (stream get)) ended at 00:00:48.004 by server (response complete) without a single body byte"
        ),
        "{}",
        o.message
    );
}

#[test]
fn polls_new_posts_and_reopens_after_a_client_close_are_not_reconnects() {
    let mut b = TraceBuilder::new()
        .stream(1, "get", 0)
        .ended(10 * S, 1, StreamEnd::Truncated);
    for i in 0..10u32 {
        b = b.poll(2 + i, "get", 12 * S + u64::from(i) * 2 * S);
    }
    for i in 0..10u32 {
        let t = 40 * S + u64::from(i) * S;
        b = b.post(20 + i, "call", t, "text/event-stream").ended(
            t + 500,
            20 + i,
            StreamEnd::Complete,
        );
    }
    for i in 0..10u32 {
        let t = 60 * S + u64::from(i) * S;
        b = b.stream(40 + i, "main", t).client_closed(t + 500, 40 + i);
    }
    let o = evaluate(RECONNECTS_MAX_DEFAULT, WINDOW_DEFAULT, &b.build(), END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    assert_eq!(o.message, "no stream was reconnected; nothing to judge");
}

#[test]
fn failed_connects_count() {
    let mut b = TraceBuilder::new()
        .stream(1, "get", 0)
        .ended(10 * S, 1, StreamEnd::Truncated);
    for i in 0..7u32 {
        b = b.failed(11 * S + u64::from(i) * S, None, "get", "connection refused");
    }
    let o = evaluate(RECONNECTS_MAX_DEFAULT, WINDOW_DEFAULT, &b.build(), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(o.message.contains("reconnected 7 times"), "{}", o.message);
}

#[test]
fn the_spec_dispatches_here() {
    let t = cut_every(S, 60 * S).build();
    let spec = crate::check::CheckSpec::ClientReconnectRate {
        reconnects_max: 3,
        window: WINDOW_DEFAULT,
    };
    assert_eq!(spec.evaluate(&t, END), evaluate(3, WINDOW_DEFAULT, &t, END));
    assert_eq!(spec.id(), ID);
}

#[test]
fn of_two_storming_streams_the_earliest_storm_is_reported_the_first_named_on_ties() {
    // Stream a: cut at 1 s, refused reconnects at 10 s and 20 s. Stream b: cut at 1 s,
    // refused reconnects at 5 s and at `b_second`. reconnects-max 1.
    let two = |b_second: u64| {
        TraceBuilder::new()
            .stream(1, "a", 0)
            .ended(S, 1, StreamEnd::Reset)
            .stream(4, "b", 0)
            .ended(S, 4, StreamEnd::Reset)
            .failed(10 * S, Some(2), "a", "connection refused")
            .failed(20 * S, Some(3), "a", "connection refused")
            .failed(5 * S, Some(5), "b", "connection refused")
            .failed(b_second, Some(6), "b", "connection refused")
            .build()
    };
    let o = evaluate(1, WINDOW_DEFAULT, &two(8 * S), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.starts_with("stream b was reconnected 2 times"),
        "{}",
        o.message
    );
    assert_eq!(o.at, Some(Duration::from_secs(8)));
    let o = evaluate(1, WINDOW_DEFAULT, &two(20 * S), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.starts_with("stream a was reconnected 2 times"),
        "{}",
        o.message
    );
    assert_eq!(o.at, Some(Duration::from_secs(20)));
}

#[test]
fn a_storm_of_refused_resumes_says_the_last_was_answered_with_its_status() {
    // The GET dies at 10 s; resumes every 2 s are answered 503.
    let mut b = TraceBuilder::new()
        .stream(1, "get", 0)
        .event_id(10, 1, "1", "{}")
        .ended(10 * S, 1, StreamEnd::Truncated);
    for i in 0..3u32 {
        let (t, c) = (11 * S + u64::from(i) * 2 * S, 2 + i);
        b = b
            .open(t, c, "get")
            .request_with(t, c, "GET", Some("1"))
            .response_typed(t + 3, c, 503, "text/plain")
            .ended(t + 4, c, StreamEnd::Complete);
    }
    let o = evaluate(2, WINDOW_DEFAULT, &b.build(), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.ends_with(
            "above reconnects-max 2; the connection before the last (conn#3 (stream get)) was answered 503"
        ),
        "{}",
        o.message
    );
}
