use super::*;
use crate::check::testing::TraceBuilder;
use crate::trace::StreamEnd;

const END: Duration = Duration::from_secs(120);
const GAP_MAX: Duration = Duration::from_secs(20);

fn nginx() -> TraceBuilder {
    TraceBuilder::new().intermediary("nginx", &[("idle-timeout", 60_000), ("buffering", 0)])
}

/// Keepalives every `every` ms from 1.003s until the client closes at `END`.
fn ticking(every: u64) -> TraceBuilder {
    let mut b = nginx().stream(1, "main", 1_000);
    let mut t = 1_003 + every;
    while t < 120_000 {
        b = b.comment(t, 1);
        t += every;
    }
    b.client_closed(120_000, 1)
}

#[test]
fn passes_with_a_steady_keepalive() {
    let o = evaluate(None, GAP_MAX, &ticking(15_000).build(), END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(o.message.starts_with("largest gap 15s"), "{}", o.message);
    assert_eq!(o.at, Some(END));
}

#[test]
fn a_gap_of_exactly_gap_max_passes() {
    let o = evaluate(None, GAP_MAX, &ticking(20_000).build(), END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    let o = evaluate(
        None,
        GAP_MAX - Duration::from_millis(1),
        &ticking(20_000).build(),
        END,
    );
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
}

#[test]
fn a_silent_stream_killed_by_a_proxy_fails_naming_the_limit() {
    let t = nginx()
        .stream(1, "main", 1_000)
        .closed_by_intermediary(61_003, 1, "nginx", "idle-timeout", "upstream silent")
        .ended(61_003, 1, StreamEnd::Truncated)
        .build();
    let o = evaluate(Some("main"), GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert_eq!(
        o.message,
        "conn#1 (stream main): largest gap 60s (00:00:01.003 → 00:01:01.003) exceeds gap-max 20s; crosses nginx idle-timeout 60s"
    );
    assert_eq!(o.at, Some(Duration::from_millis(61_003)));
}

#[test]
fn the_gap_to_the_client_close_counts() {
    let t = TraceBuilder::new()
        .stream(1, "main", 0)
        .comment(15_003, 1)
        .client_closed(50_000, 1)
        .build();
    let o = evaluate(None, GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(
        o.message.contains("(00:00:15.003 → 00:00:50.000)"),
        "{}",
        o.message
    );
    // With a 300s max-duration, it did not.
    assert!(!o.message.contains("crosses"), "{}", o.message);
}

#[test]
fn a_stream_still_open_is_measured_to_the_scenario_end() {
    let t = TraceBuilder::new()
        .stream(1, "main", 0)
        .comment(15_003, 1)
        .build();
    let o = evaluate(None, GAP_MAX, &t, Duration::from_secs(30));
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    let o = evaluate(None, GAP_MAX, &t, Duration::from_secs(40));
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
}

#[test]
fn only_limits_shorter_than_the_gap_and_on_the_route_are_named() {
    let t = TraceBuilder::new()
        .intermediary("nginx", &[("idle-timeout", 60_000)])
        .intermediary(
            "alb",
            &[("idle-timeout", 30_000), ("first-byte-timeout", 10_000)],
        )
        .stream(1, "main", 0)
        .comment(1_000, 1)
        .comment(46_000, 1)
        .client_closed(50_000, 1)
        .build();
    let o = evaluate(None, GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(
        o.message.ends_with("; crosses alb idle-timeout 30s"),
        "{}",
        o.message
    );
}

#[test]
fn a_stream_without_response_headers_fails() {
    let t = TraceBuilder::new()
        .open(0, 1, "main")
        .request(0, 1)
        .ended(60_000, 1, StreamEnd::Reset)
        .build();
    let o = evaluate(None, GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(o.message.contains("got no response"), "{}", o.message);
    assert_eq!(o.at, Some(Duration::from_secs(60)));
}

#[test]
fn a_reopened_stream_reports_the_failing_connection() {
    let t = nginx()
        .stream(1, "main", 0)
        .comment(15_000, 1)
        .client_closed(20_000, 1)
        .stream(2, "main", 20_000)
        .closed_by_intermediary(80_003, 2, "nginx", "idle-timeout", "upstream silent")
        .ended(80_003, 2, StreamEnd::Truncated)
        .build();
    let o = evaluate(Some("main"), GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(
        o.message
            .starts_with("conn#2 (stream main): largest gap 60s"),
        "{}",
        o.message
    );
}

#[test]
fn a_stream_answered_by_the_proxy_never_opened_and_fails() {
    // The GET answered 502 by nginx: 5us from head to end is no cadence at all.
    let t = nginx()
        .open(1_000, 1, "get")
        .request(1_000, 1)
        .responded(1_003, 1, "nginx", 502, "upstream", "upstream refused")
        .response(1_004, 1, 502)
        .ended(1_004, 1, StreamEnd::Complete)
        .build();
    for stream in [None, Some("get")] {
        let o = evaluate(stream, GAP_MAX, &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert_eq!(
            o.message,
            "stream get never carried an event stream, so no keepalive could reach the client: conn#1 (stream get) was answered 502 at 00:00:01.003 by nginx (upstream refused)"
        );
    }
    // Answered 200 as JSON: not an event stream either.
    let t = TraceBuilder::new()
        .open(0, 1, "main")
        .request(0, 1)
        .response_typed(4, 1, 200, "application/json")
        .ended(5, 1, StreamEnd::Complete)
        .build();
    let o = evaluate(Some("main"), GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .ends_with("got response 200 application/json at 00:00:00.004, not an event stream"),
        "{}",
        o.message
    );
}

#[test]
fn attempts_without_an_event_stream_are_not_judged_beside_working_ones() {
    let t = nginx()
        .stream(1, "get", 0)
        .comment(15_003, 1)
        .ended(20_000, 1, StreamEnd::Truncated)
        .open(21_000, 2, "get")
        .request(21_000, 2)
        .response(21_003, 2, 503)
        .ended(21_003, 2, StreamEnd::Complete)
        .stream(3, "get", 23_000)
        .comment(38_003, 3)
        .client_closed(50_000, 3)
        .build();
    let o = evaluate(Some("get"), GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message.ends_with(
            "; 1 connection without an event stream not judged (conn#2 (stream get) got response 503 at 00:00:21.003)"
        ),
        "{}",
        o.message
    );
}

#[test]
fn a_run_stopped_before_the_response_is_unobservable() {
    let t = TraceBuilder::new()
        .open(1_000, 1, "main")
        .request(1_000, 1)
        .stopped(1_004, "virtual time stood still")
        .build();
    let o = evaluate(None, GAP_MAX, &t, Duration::from_millis(1_004));
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    assert!(
        o.message.starts_with(
            "the run was stopped at 00:00:01.004 while conn#1 (stream main) still waited"
        ),
        "{}",
        o.message
    );
    // Without the stop, no response by the end is a failure.
    let t = TraceBuilder::new()
        .open(1_000, 1, "main")
        .request(1_000, 1)
        .client_closed(60_000, 1)
        .build();
    let o = evaluate(None, GAP_MAX, &t, Duration::from_secs(60));
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
}

#[test]
fn no_stream_is_unobservable_and_a_missing_name_fails() {
    let o = evaluate(None, GAP_MAX, &nginx().build(), END);
    assert_eq!(o.verdict, Verdict::Unobservable);
    let o = evaluate(Some("main"), GAP_MAX, &nginx().build(), END);
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(
        o.message.contains("stream main was never opened"),
        "{}",
        o.message
    );
}

#[test]
fn the_spec_dispatches_here() {
    let t = ticking(15_000).build();
    let spec = crate::check::CheckSpec::KeepaliveCadence {
        stream: None,
        gap_max: GAP_MAX,
    };
    let o = spec.evaluate(&t, END);
    assert_eq!(o, evaluate(None, GAP_MAX, &t, END));
    assert_eq!(o.id, spec.id());
}

#[test]
fn a_stream_open_to_the_end_without_a_response_never_opened() {
    // No harness stop: the request got no response headers by the scenario's end.
    let t = TraceBuilder::new()
        .open(1_000, 1, "main")
        .request(1_000, 1)
        .build();
    let o = evaluate(None, GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "stream main never carried an event stream, so no keepalive could reach the client: conn#1 (stream main) got no response (until 00:02:00.000)"
    );
    assert_eq!(o.at, Some(END));
}

#[test]
fn a_proxy_closing_before_the_headers_is_no_response_not_an_answer() {
    let t = TraceBuilder::new()
        .intermediary("alb", &[("first-byte-timeout", 30_000)])
        .open(1_000, 1, "main")
        .request(1_000, 1)
        .closed_by_intermediary(31_000, 1, "alb", "first-byte-timeout", "no first byte")
        .ended(31_000, 1, StreamEnd::Reset)
        .build();
    let o = evaluate(None, GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "stream main never carried an event stream, so no keepalive could reach the client: conn#1 (stream main) got no response (until 00:00:31.000)"
    );
}

#[test]
fn the_pass_names_the_widest_gap_of_all_connections_the_first_on_ties() {
    // Gaps: conn 1 10s, conn 2 15s, conn 3 15s.
    let t = TraceBuilder::new()
        .stream(1, "main", 0)
        .comment(10_003, 1)
        .client_closed(12_000, 1)
        .stream(2, "main", 20_000)
        .comment(35_003, 2)
        .client_closed(40_000, 2)
        .stream(3, "main", 50_000)
        .comment(65_003, 3)
        .client_closed(70_000, 3)
        .build();
    let o = evaluate(None, GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "largest gap 15s (00:00:20.003 → 00:00:35.003, conn#2 (stream main)) is within gap-max 20s"
    );
    assert_eq!(o.at, Some(Duration::from_secs(70)));
}

#[test]
fn equal_gaps_on_one_stream_name_the_earliest() {
    let o = evaluate(None, GAP_MAX, &ticking(15_000).build(), END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "largest gap 15s (00:00:01.003 → 00:00:16.003, conn#1 (stream main)) is within gap-max 20s"
    );
}

#[test]
fn an_empty_chunk_is_no_byte_and_does_not_break_a_gap() {
    let t = TraceBuilder::new()
        .stream(1, "main", 0)
        .bytes(15_000, 1, 0)
        .comment(30_003, 1)
        .client_closed(40_000, 1)
        .build();
    let o = evaluate(None, GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#1 (stream main): largest gap 30s (00:00:00.003 → 00:00:30.003) exceeds gap-max 20s"
    );
}

#[test]
fn largest_gap_after_an_instant_counts_only_gaps_ending_after_it() {
    // Gaps: 0.003 → 30.003 (30s), → 40.003 (10s), → 48 (7.997s).
    let t = TraceBuilder::new()
        .stream(1, "main", 0)
        .comment(30_003, 1)
        .comment(40_003, 1)
        .client_closed(48_000, 1)
        .build();
    let all = crate::check::client_stream::client_streams(&t, END);
    let gap = largest_gap(&all[0], Some(Duration::from_millis(30_003))).expect("a gap");
    assert_eq!(
        (gap.from, gap.to),
        (Duration::from_millis(30_003), Duration::from_millis(40_003))
    );
    let gap = largest_gap(&all[0], Some(Duration::from_millis(30_002))).expect("a gap");
    assert_eq!(gap.len(), Duration::from_secs(30));
    assert_eq!(largest_gap(&all[0], Some(Duration::from_secs(48))), None);
}

#[test]
fn a_first_byte_timeout_is_named_for_the_gap_from_the_headers_only() {
    let limits = || TraceBuilder::new().intermediary("alb", &[("first-byte-timeout", 10_000)]);
    // The first byte after 25s: the gap from the headers reached the 10s first-byte limit.
    let t = limits()
        .stream(1, "main", 0)
        .comment(25_003, 1)
        .client_closed(30_000, 1)
        .build();
    let o = evaluate(None, GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#1 (stream main): largest gap 25s (00:00:00.003 → 00:00:25.003) exceeds gap-max 20s; crosses alb first-byte-timeout 10s"
    );
    // A first byte at once, then 25s of silence: no first-byte limit reached.
    let t = limits()
        .stream(1, "main", 0)
        .comment(5, 1)
        .comment(25_005, 1)
        .client_closed(30_000, 1)
        .build();
    let o = evaluate(None, GAP_MAX, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#1 (stream main): largest gap 25s (00:00:00.005 → 00:00:25.005) exceeds gap-max 20s"
    );
}

#[test]
fn a_max_duration_is_named_only_when_the_stream_lived_that_long() {
    let silent = |max_ms: u64| {
        TraceBuilder::new()
            .intermediary("nginx", &[("max-duration", max_ms)])
            .stream(1, "main", 0)
            .ended(30_000, 1, StreamEnd::Reset)
            .build()
    };
    // Silent and reset at 30s: with a 30s max-duration on the route, the stream lived it.
    let o = evaluate(None, GAP_MAX, &silent(30_000), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#1 (stream main): largest gap 29s 997ms (00:00:00.003 → 00:00:30.000) exceeds gap-max 20s; crosses nginx max-duration 30s (the stream lived 30s)"
    );
    let o = evaluate(None, GAP_MAX, &silent(300_000), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    // With a 300s max-duration, it did not.
    assert!(!o.message.contains("crosses"), "{}", o.message);
}
