use super::*;
use crate::check::testing::TraceBuilder;

fn flood(n: usize, text: &str) -> Trace {
    let mut b = TraceBuilder::new().stream(1, "get", 1_000);
    for _ in 0..n {
        b = b.push(
            15_001,
            "server",
            Some(1),
            EventKind::FrameWritten {
                frame: Frame::Comment { text: text.into() },
                timer: None,
            },
        );
    }
    b.build()
}

#[test]
fn keepalives_at_their_cadence_pass() {
    let mut b = TraceBuilder::new().stream(1, "get", 1_000);
    for k in 1..=10 {
        b = b.keepalive_written(1_000 + 15_000 * k, 1, 1);
    }
    let o = evaluate(&b.build(), Duration::from_secs(300));
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
}

#[test]
fn the_pass_names_the_busiest_second_of_one_connection() {
    // Conn 1: opened, requested and answered within second 1 (3 events), then one
    // keepalive a second; a connect without a connection in second 1 is counted apart.
    let mut b = TraceBuilder::new().stream(1, "get", 1_000).failed(
        1_500,
        None,
        "other",
        "connection refused",
    );
    for k in 2..=10 {
        b = b.keepalive_written(1_000 * k, 1, 1);
    }
    let o = evaluate(&b.build(), Duration::from_secs(60));
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
            o.message,
            "no connection carried more than 8 comment frames at one virtual instant, and at most 3 events of one connection were recorded within one virtual second"
        );
    assert_eq!(o.at, Some(Duration::from_secs(10)));
}

#[test]
fn two_timers_on_one_connection_at_one_instant_pass() {
    let t = TraceBuilder::new()
        .stream(1, "get", 1_000)
        .keepalive_written(16_000, 1, 1)
        .keepalive_written(16_000, 1, 2)
        .build();
    assert_eq!(evaluate(&t, Duration::from_secs(60)).verdict, Verdict::Pass);
}

#[test]
fn a_burst_of_empty_comments_fails_naming_instant_conn_count_and_sse_stream() {
    let o = evaluate(&flood(40, ""), Duration::from_secs(60));
    assert_eq!(o.verdict, Verdict::Fail);
    assert_eq!(o.at, Some(Duration::from_millis(15_001)));
    assert!(
        o.message.starts_with(
            "server wrote 40 comment frames on conn#1 at the one virtual instant 00:00:15.001"
        ),
        "{}",
        o.message
    );
    assert!(o.message.contains("std::time::Instant"), "{}", o.message);
    assert!(
        o.message.contains("KeepAliveStream::reset"),
        "{}",
        o.message
    );
}

#[test]
fn a_burst_of_other_comments_names_the_real_clock_but_not_sse_stream() {
    let o = evaluate(&flood(BURST_MAX + 1, " ping"), Duration::from_secs(60));
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(o.message.contains("SystemTime"), "{}", o.message);
    assert!(!o.message.contains("sse-stream"), "{}", o.message);
    // At the bound, still a pass.
    let ok = evaluate(&flood(BURST_MAX, " ping"), Duration::from_secs(60));
    assert_eq!(ok.verdict, Verdict::Pass, "{}", ok.message);
}

#[test]
fn a_stall_sized_burst_of_one_connection_spread_over_ticks_fails_but_many_streams_do_not() {
    // RATE_LIMIT events within one second, 50 per millisecond: no comment burst at one
    // instant, but one connection's second holds a flood.
    let burst = |conns: u64| {
        let mut b = TraceBuilder::new();
        for i in 0..RATE_LIMIT {
            b = b.push(
                15_000 + (i % 1_000),
                "client",
                Some(1 + (i % conns) as u32),
                EventKind::Received {
                    bytes: 3,
                    frames: vec![],
                },
            );
        }
        evaluate(&b.build(), Duration::from_secs(60))
    };
    let o = burst(1);
    assert_eq!(o.verdict, Verdict::Fail);
    assert!(
        o.message.contains(
            "of conn#1 were recorded within the virtual second 00:00:15.000–00:00:16.000"
        ),
        "{}",
        o.message
    );
    // The same events spread over 50 connections (streams opening together): no flood.
    let ok = burst(50);
    assert_eq!(ok.verdict, Verdict::Pass, "{}", ok.message);
}
