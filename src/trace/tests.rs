use super::*;

fn received() -> EventKind {
    EventKind::Received {
        bytes: 3,
        frames: vec![],
    }
}

#[test]
fn the_rate_guard_counts_per_connection_and_records_when_it_stopped() {
    // 100,000 events in one virtual second over 10 connections: streams, not a flood.
    let r = Recorder::new();
    for i in 0..100_000u64 {
        let at = Duration::from_millis(15_000 + i % 1_000);
        r.record_at(at, "client", Some(ConnId((i % 10) as u32)), received());
    }
    assert_eq!(r.stall(), None);
    assert_eq!(r.stopped_at(), None);
    // One connection past RATE_LIMIT within one second, spread over ticks: stopped.
    let f = Recorder::new();
    for i in 0..=RATE_LIMIT {
        let at = Duration::from_millis(15_000 + i % 1_000);
        f.record_at(at, "server", Some(ConnId(3)), received());
    }
    let d = f.stall().expect("stopped");
    assert!(d.starts_with("virtual time crawled at 00:00:15."), "{d}");
    assert!(f.stopped_at().is_some_and(|t| t.as_secs() == 15));
    // The stop is the trace's last event, and nothing is recorded after it.
    f.record_at(
        Duration::from_secs(16),
        "server",
        Some(ConnId(3)),
        received(),
    );
    let t = f.finish();
    assert_eq!(t.events.len() as u64, RATE_LIMIT + 1);
    let last = t.events.last().expect("events");
    assert_eq!(last.host, HARNESS);
    assert!(
        matches!(&last.kind, EventKind::RunStopped { guard: StopGuard::Stall, reason } if reason == &d),
        "{last:?}"
    );
    assert_eq!(t.stopped_at(), f.stopped_at());
}

/// A burst at one instant by `host` on conn#3, with the guard told `clock`.
fn burst(clock: TargetClock) -> String {
    let r = Recorder::new();
    r.set_guard(clock, Duration::from_millis(1), Budget::default());
    for _ in 0..=RATE_LIMIT {
        r.record_at(
            Duration::from_secs(2),
            "server",
            Some(ConnId(3)),
            received(),
        );
    }
    r.stall().expect("stopped")
}

#[test]
fn a_stall_says_what_was_seen_and_names_only_the_cause_that_fits_the_targets() {
    let tokio = burst(TargetClock::Tokio);
    assert!(tokio.starts_with("virtual time stood still at 00:00:02.000: 50001 events were recorded at that instant, the last by server on conn#3: received 3 bytes."), "{tokio}");
    assert!(tokio.contains("read the real clock"), "{tokio}");
    let real = burst(TargetClock::Real);
    assert!(real.starts_with("events flooded at 00:00:02.000: 50001 events were recorded at that instant, the last by server on conn#3"), "{real}");
    assert!(
        !real.contains("real clock") && !real.contains("virtual time"),
        "{real}"
    );
    assert!(real.contains("without pause (a flood)"), "{real}");
    let shim = burst(TargetClock::Shim);
    assert!(!shim.contains("real clock"), "{shim}");
    assert!(shim.contains("without waiting on a timer"), "{shim}");
    // Spread over ticks on the network engine, an in-process timer: real clock, or a
    // timer far faster than the tick.
    let r = Recorder::new();
    r.set_guard(
        TargetClock::Tokio,
        Duration::from_millis(1),
        Budget::default(),
    );
    for i in 0..=RATE_LIMIT {
        let at = Duration::from_millis(7_000 + i % 1_000);
        r.record_at(at, "client", Some(ConnId(1)), received());
    }
    let d = r.stall().expect("stopped");
    assert!(d.contains("50000 events of conn#1 were recorded within the virtual second 00:00:07.000–00:00:08.000, the last by client on conn#1"), "{d}");
    assert!(d.contains("faster than the tick (1ms)"), "{d}");
}

#[test]
fn the_byte_budget_stops_a_run_naming_itself_and_the_connection_that_spent_it() {
    let r = Recorder::new();
    r.set_guard(
        TargetClock::Real,
        Duration::from_millis(1),
        Budget::for_run(1, Duration::from_secs(5)),
    );
    let data = "x".repeat(65_000);
    let mut n = 0u64;
    while r.stall().is_none() {
        n += 1;
        let at = Duration::from_millis(500 + n);
        let frame = Frame::Event {
            name: None,
            id: None,
            data: data.clone(),
        };
        r.record_at(
            at,
            "server",
            Some(ConnId(1)),
            EventKind::FrameWritten {
                frame: frame.clone(),
                timer: None,
            },
        );
        r.record_at(
            at,
            "client",
            Some(ConnId(1)),
            EventKind::Received {
                bytes: 65_008,
                frames: vec![frame],
            },
        );
        assert!(n < 1_000, "never stopped");
    }
    let d = r.stall().unwrap();
    assert!(d.starts_with("byte budget exhausted at 00:00:00."), "{d}");
    assert!(d.contains("over its budget of 65.0 MiB (64 MiB, +1 MiB per client step (1), +4 MiB per virtual hour (5s))"), "{d}");
    assert!(d.contains("(100% of it on conn#1;"), "{d}");
    assert!(d.contains("without pause (a flood)"), "{d}");
    assert!(r.stopped_at().is_some());
    let (spent, budget) = r.spent();
    assert!(spent > budget);
    // What the trace keeps of each 65,000-byte event: 4 KiB and its length and digest.
    let t = r.finish();
    let kept: usize = t
        .events
        .iter()
        .map(|e| match &e.kind {
            EventKind::FrameWritten {
                frame: Frame::Event { data, .. },
                ..
            } => data.len(),
            EventKind::Received { frames, .. } => frames
                .iter()
                .map(|f| match f {
                    Frame::Event { data, .. } => data.len(),
                    _ => 0,
                })
                .sum(),
            _ => 0,
        })
        .sum();
    assert!(kept < t.events.len() * 4_200, "{kept}");
    assert!(render_text(&t).contains("data=\"xxxx"), "rendered");
    assert!(
        render_text(&t).contains("…(65000 bytes, sha256 "),
        "rendered"
    );
}
