use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn buffering(mode: BufferingMode, honor: bool) -> Buffering {
    Buffering::new(BufferingConfig {
        mode,
        honor_x_accel_buffering: honor,
    })
}

fn head(headers: &[(&str, &str)]) -> Observation {
    Observation::ResponseHead {
        status: 200,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    }
}

fn body(len: usize) -> Observation {
    Observation::ResponseBody { len }
}

fn flush_why(d: Option<Decision>) -> String {
    match d {
        Some(Decision::Flush { why }) => why,
        other => panic!("expected a flush, got {other:?}"),
    }
}

#[test]
fn none_never_holds() {
    let mut b = buffering(BufferingMode::None, false);
    b.observe(ms(0), &head(&[]));
    assert!(!b.holds_response());
    assert_eq!(b.observe(ms(1), &body(10_000)), None);
    assert_eq!(b.observe(ms(2), &Observation::UpstreamEnded), None);
    assert_eq!(b.summary(), "buffering none");
}

#[test]
fn threshold_flushes_when_reached_and_restarts_counting() {
    let mut b = buffering(BufferingMode::Threshold { bytes: 4096 }, true);
    b.observe(ms(0), &head(&[("content-type", "text/event-stream")]));
    assert!(b.holds_response());
    assert_eq!(b.observe(ms(1), &body(4000)), None);
    assert_eq!(
        flush_why(b.observe(ms(2), &body(100))),
        "threshold 4096 bytes reached (4100 held)"
    );
    assert!(b.holds_response(), "still holding after a threshold flush");
    assert_eq!(b.observe(ms(3), &body(4000)), None, "count restarted");
    assert_eq!(
        flush_why(b.observe(ms(4), &Observation::UpstreamEnded)),
        "upstream ended"
    );
    assert!(!b.holds_response());
}

#[test]
fn x_accel_buffering_no_turns_it_off_when_honoured() {
    let mut b = buffering(BufferingMode::Threshold { bytes: 4096 }, true);
    b.observe(ms(0), &head(&[("x-accel-buffering", "No")]));
    assert!(!b.holds_response());
    assert_eq!(b.observe(ms(1), &body(10_000)), None);
    assert_eq!(b.observe(ms(2), &Observation::UpstreamEnded), None);
}

#[test]
fn x_accel_buffering_yes_keeps_it_on() {
    let mut b = buffering(BufferingMode::Full, true);
    b.observe(ms(0), &head(&[("x-accel-buffering", "yes")]));
    assert!(b.holds_response());
}

#[test]
fn x_accel_buffering_ignored_when_not_honoured() {
    let mut b = buffering(BufferingMode::Full, false);
    b.observe(ms(0), &head(&[("x-accel-buffering", "no")]));
    assert!(b.holds_response());
}

#[test]
fn full_flushes_only_at_the_end() {
    let mut b = buffering(BufferingMode::Full, false);
    b.observe(ms(0), &head(&[]));
    for i in 1..100 {
        assert_eq!(b.observe(ms(i), &body(100_000)), None);
    }
    assert_eq!(b.deadline(), None);
    assert_eq!(
        flush_why(b.observe(ms(100), &Observation::UpstreamEnded)),
        "upstream ended"
    );
    assert!(!b.holds_response());
    assert_eq!(b.observe(ms(101), &body(5)), None, "not counted once ended");
    assert_eq!(b.observe(ms(102), &Observation::UpstreamEnded), None);
}

#[test]
fn end_with_nothing_held_does_not_flush() {
    let mut b = buffering(BufferingMode::Full, false);
    b.observe(ms(0), &head(&[]));
    assert_eq!(b.observe(ms(1), &Observation::UpstreamEnded), None);
    assert!(!b.holds_response());
}

#[test]
fn flush_interval_counts_from_the_first_held_byte() {
    let mut b = buffering(BufferingMode::FlushInterval { every: ms(1000) }, false);
    b.observe(ms(0), &head(&[]));
    assert_eq!(b.deadline(), None, "nothing held yet");
    b.observe(ms(500), &body(10));
    b.observe(ms(900), &body(10));
    assert_eq!(b.deadline(), Some(ms(1500)));
    assert_eq!(b.on_deadline(ms(1499)), None, "too early");
    assert_eq!(flush_why(b.on_deadline(ms(1500))), "flush interval 1s");
    assert_eq!(b.deadline(), None);
    b.observe(ms(4000), &body(1));
    assert_eq!(b.deadline(), Some(ms(5000)));
}

#[test]
fn a_new_response_on_the_connection_holds_again() {
    let mut b = buffering(BufferingMode::Full, true);
    b.observe(ms(0), &head(&[("x-accel-buffering", "no")]));
    b.observe(ms(1), &Observation::UpstreamEnded);
    b.observe(ms(2), &head(&[]));
    assert!(b.holds_response());
}

#[test]
fn summaries_have_units() {
    assert_eq!(
        buffering(BufferingMode::Threshold { bytes: 4096 }, true).summary(),
        "buffering threshold 4096 bytes (honours X-Accel-Buffering: no)"
    );
    assert_eq!(
        buffering(BufferingMode::FlushInterval { every: ms(250) }, false).summary(),
        "buffering flush-interval 250ms"
    );
    assert_eq!(
        buffering(BufferingMode::Full, false).summary(),
        "buffering full (until the response ends)"
    );
    assert_eq!(buffering(BufferingMode::Full, false).limit(), None);
}
