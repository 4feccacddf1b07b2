use super::*;
use crate::check::testing::TraceBuilder;
use crate::trace::StreamEnd;

const END: Duration = Duration::from_secs(300);
const GAP_MAX: Duration = Duration::from_secs(20);

/// Keepalives on `conn` every 15 s from `from` (exclusive) while before `until`.
fn ticks(mut b: TraceBuilder, conn: u32, from: u64, until: u64) -> TraceBuilder {
    let mut t = from + 15_000;
    while t < until {
        b = b.comment(t, conn);
        t += 15_000;
    }
    b
}

/// A GET stream from 1s and a tool call from 10s that completes at 40s.
fn two_streams() -> TraceBuilder {
    let b = TraceBuilder::new()
        .intermediary("nginx", &[("idle-timeout", 60_000)])
        .post(1, "initialize", 0, "application/json")
        .ended(5, 1, StreamEnd::Complete)
        .stream(2, "get", 1_000)
        .post(3, "call", 10_000, "text/event-stream");
    let b = ticks(b, 3, 10_003, 40_000);
    b.event_id(40_000, 3, "3", "{\"result\":{}}")
        .ended(40_000, 3, StreamEnd::Complete)
}

#[test]
fn a_shared_timer_silencing_the_get_stream_fails_naming_both_streams() {
    // The GET stream ticks until the call ends at 40s, then goes silent until nginx
    // closes it 60 s after its last keepalive.
    let b = ticks(two_streams(), 2, 1_003, 40_000);
    let t = b
        .closed_by_intermediary(91_003, 2, "nginx", "idle-timeout", "upstream silent")
        .ended(91_003, 2, StreamEnd::Truncated)
        .build();
    let o = evaluate(GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "after conn#3 (stream call) ended at 00:00:40.000, conn#2 (stream get) went silent for 60s (00:00:31.003 → 00:01:31.003), above gap-max 20s; crosses nginx idle-timeout 60s"
    );
    assert_eq!(o.at, Some(Duration::from_millis(91_003)));
}

#[test]
fn the_stream_that_ended_inside_the_silence_is_blamed() {
    // A ping-like event stream ended harmlessly at 20s; the call ending at 40s is blamed.
    let b = two_streams()
        .post(4, "other", 15_000, "text/event-stream")
        .ended(20_000, 4, StreamEnd::Complete);
    let t = ticks(b, 2, 1_003, 40_000)
        .ended(100_000, 2, StreamEnd::Reset)
        .build();
    let o = evaluate(GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .starts_with("after conn#3 (stream call) ended at 00:00:40.000, conn#2"),
        "{}",
        o.message
    );
}

#[test]
fn independent_timers_pass() {
    let b = ticks(two_streams(), 2, 1_003, 300_000);
    let t = b.client_closed(300_000, 2).build();
    let o = evaluate(GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message
            .starts_with("conn#2 (stream get): largest gap 15s"),
        "{}",
        o.message
    );
    assert!(o
        .message
        .contains("after conn#3 (stream call) ended at 00:00:40.000"));
    assert_eq!(o.at, Some(END));
}

#[test]
fn a_gap_before_the_other_stream_ended_is_not_counted() {
    // The GET stream is silent for 30 s early on, then ticks fine around and after 40s.
    let b = two_streams().comment(31_000, 2).comment(46_000, 2);
    let b = ticks(b, 2, 46_000, 300_000);
    let t = b.client_closed(300_000, 2).build();
    let o = evaluate(GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
}

#[test]
fn streams_that_never_overlap_or_plain_exchanges_are_unobservable() {
    let b = TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .ended(5, 1, StreamEnd::Complete)
        .stream(2, "get", 1_000);
    let t = ticks(b, 2, 1_003, 300_000).build();
    let o = evaluate(GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    let t = TraceBuilder::new()
        .stream(1, "a", 0)
        .client_closed(10_000, 1)
        .stream(2, "b", 20_000)
        .build();
    let o = evaluate(GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
}

#[test]
fn the_spec_dispatches_here() {
    let t = two_streams().build();
    let spec = crate::check::CheckSpec::TimersIndependent { gap_max: GAP_MAX };
    let o = spec.evaluate(&t, END);
    assert_eq!(o, evaluate(GAP_MAX, &t, END));
    assert_eq!(o.id, ID);
    assert_eq!(spec.id(), ID);
}

#[test]
fn the_pass_names_the_widest_gap_and_how_many_streams_outlived_another() {
    let b = ticks(two_streams(), 2, 1_003, 300_000);
    let t = b.client_closed(300_000, 2).build();
    let o = evaluate(GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2 (stream get): largest gap 15s (00:00:31.003 → 00:00:46.003) after conn#3 (stream call) ended at 00:00:40.000 is within gap-max 20s (1 stream outlived another)"
    );
}

#[test]
fn a_gap_of_exactly_gap_max_after_another_stream_ended_passes() {
    // The GET ticks every 20 s.
    let mut b = two_streams();
    let mut t = 21_003;
    while t < 300_000 {
        b = b.comment(t, 2);
        t += 20_000;
    }
    let o = evaluate(GAP_MAX, &b.client_closed(300_000, 2).build(), END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message
            .starts_with("conn#2 (stream get): largest gap 20s"),
        "{}",
        o.message
    );
}

#[test]
fn of_two_silenced_streams_the_earliest_failure_is_reported_the_first_on_ties() {
    // Two GET streams (conns 2 and 4) both go silent when the call ends at 40s and are
    // reset at `get_end` and `get2_end`.
    let both = |get_end: u64, get2_end: u64| {
        let b = two_streams().stream(4, "get2", 2_000);
        let b = ticks(ticks(b, 2, 1_003, 40_000), 4, 2_003, 40_000);
        b.ended(get_end, 2, StreamEnd::Reset)
            .ended(get2_end, 4, StreamEnd::Reset)
            .build()
    };
    let o = evaluate(GAP_MAX, &both(100_000, 80_000), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .starts_with("after conn#3 (stream call) ended at 00:00:40.000, conn#4 (stream get2)"),
        "{}",
        o.message
    );
    assert_eq!(o.at, Some(Duration::from_secs(80)));
    let o = evaluate(GAP_MAX, &both(90_000, 90_000), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .starts_with("after conn#3 (stream call) ended at 00:00:40.000, conn#2 (stream get)"),
        "{}",
        o.message
    );
}

#[test]
fn of_several_passing_streams_the_widest_gap_is_named_the_first_on_ties() {
    // The GET (conn 2) ticks every 15 s; get2 and get3 (conns 4, 5) every 18 s.
    let mut b = ticks(two_streams(), 2, 1_003, 300_000)
        .stream(4, "get2", 2_000)
        .stream(5, "get3", 2_000);
    let mut t = 20_003;
    while t < 300_000 {
        b = b.comment(t, 4).comment(t, 5);
        t += 18_000;
    }
    let t = b
        .client_closed(300_000, 2)
        .client_closed(300_000, 4)
        .client_closed(300_000, 5)
        .build();
    let o = evaluate(GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#4 (stream get2): largest gap 18s (00:00:38.003 → 00:00:56.003) after conn#3 (stream call) ended at 00:00:40.000 is within gap-max 20s (3 streams outlived another)"
    );
}

#[test]
fn the_last_stream_ended_before_the_silence_is_blamed_not_one_ending_with_it() {
    // A ping stream ends at 20s and the call at 30s; the GET is silent from 31.003s until
    // its next byte at 60s, the instant call2 ends. The silence followed the call's end (the
    // last before it); call2 ended with it.
    let b = TraceBuilder::new()
        .stream(2, "get", 1_000)
        .post(5, "ping", 15_000, "text/event-stream")
        .ended(20_000, 5, StreamEnd::Complete)
        .post(3, "call", 10_000, "text/event-stream")
        .ended(30_000, 3, StreamEnd::Complete)
        .post(4, "call2", 20_000, "text/event-stream")
        .ended(60_000, 4, StreamEnd::Complete);
    let b = ticks(b, 2, 1_003, 31_004).comment(60_000, 2);
    let t = ticks(b, 2, 60_000, 300_000)
        .client_closed(300_000, 2)
        .build();
    let o = evaluate(GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "after conn#3 (stream call) ended at 00:00:30.000, conn#2 (stream get) went silent for 28s 997ms (00:00:31.003 → 00:01:00.000), above gap-max 20s"
    );
}
