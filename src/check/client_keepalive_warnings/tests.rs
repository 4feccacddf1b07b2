use super::*;
use crate::check::testing::TraceBuilder;
use crate::trace::StreamEnd;

const END: Duration = Duration::from_secs(300);
const TICK: Duration = Duration::from_millis(1);
const E: Duration = Duration::from_secs(30);
const S: u64 = 1_000;

fn missed(silent_ms: u64) -> ClientWarning {
    ClientWarning::MissedKeepalive {
        silent: Duration::from_millis(silent_ms),
        expected: E,
    }
}

/// initialize, then a GET (conn 2) answered at 1.003s, a byte at 10s, then silence until
/// nginx drops it at 120s.
fn silent_get() -> TraceBuilder {
    TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .session(3, 1, "s1")
        .ended(4, 1, StreamEnd::Complete)
        .stream(2, "get", S)
        .event_id(10 * S, 2, "1", "{}")
        .ended(120 * S, 2, StreamEnd::Truncated)
}

#[test]
fn warnings_at_45s_then_every_30s_pass() {
    let t = silent_get()
        .warned(55 * S, 2, "get", missed(45 * S))
        .warned(85 * S + 1, 2, "get", missed(75 * S))
        .warned(115 * S, 2, "get", missed(105 * S))
        .build();
    let o = evaluate(E, TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "the client warned of every missed keepalive (3 warnings, expected every 30s) and of nothing else"
    );
}

#[test]
fn a_missing_warning_fails() {
    let t = silent_get()
        .warned(55 * S, 2, "get", missed(45 * S))
        .warned(115 * S, 2, "get", missed(105 * S))
        .build();
    let o = evaluate(E, TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2 (stream get) was silent 75s from its last body byte at 00:00:10.000 to 00:01:25.000 (1.5 × expected 30s, then each 30s), but the client recorded no MissedKeepalive{silent 75s} warning on it by 00:01:25.002"
    );
    assert_eq!(o.at, Some(Duration::from_millis(85_002)));
}

#[test]
fn a_warning_not_due_fails() {
    let t = silent_get()
        .warned(40 * S, 2, "get", missed(30 * S))
        .warned(55 * S, 2, "get", missed(45 * S))
        .warned(85 * S, 2, "get", missed(75 * S))
        .warned(115 * S, 2, "get", missed(105 * S))
        .build();
    let o = evaluate(E, TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2 (stream get): the client warned MissedKeepalive{silent 30s, expected 30s} at 00:00:40.000, but no warning was due then: none is due before 45s of silence (1.5 × 30s)"
    );
}

#[test]
fn a_quiet_run_with_keepalives_passes_saying_so() {
    let mut b = TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .session(3, 1, "s1")
        .stream(2, "get", S);
    for k in 1..20 {
        b = b.comment(k * 15 * S, 2);
    }
    let t = b.client_closed(300 * S, 2).build();
    let o = evaluate(E, TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(
        o.message.starts_with("no connection was silent for 45s"),
        "{}",
        o.message
    );
}

#[test]
fn a_byte_at_the_due_instant_makes_the_warning_optional() {
    let t = TraceBuilder::new()
        .post(1, "initialize", 0, "application/json")
        .session(3, 1, "s1")
        .stream(2, "get", S)
        .comment(46 * S + 3, 2)
        .client_closed(60 * S, 2)
        .build();
    assert_eq!(evaluate(E, TICK, &t, END).verdict, Verdict::Pass);
}

#[test]
fn without_an_mcp_client_it_is_unobservable() {
    let t = TraceBuilder::new().stream(1, "main", 0).build();
    assert_eq!(evaluate(E, TICK, &t, END).verdict, Verdict::Unobservable);
}

#[test]
fn the_spec_dispatches_here() {
    let t = silent_get().build();
    let spec = crate::check::CheckSpec::ClientKeepaliveWarnings {
        expected: E,
        tick: TICK,
    };
    assert_eq!(spec.evaluate(&t, END), evaluate(E, TICK, &t, END));
    assert_eq!(spec.id(), ID);
}

// ── what resets the silence, what a warning must match, what its message names ─

#[test]
fn an_empty_chunk_does_not_break_the_silence() {
    // Headers at 1.003s, a zero-byte chunk at 20s, nothing else until nginx drops it at 60s:
    // silent since the headers, so a warning is due at 46.003s.
    let base = || {
        TraceBuilder::new()
            .post(1, "initialize", 0, "application/json")
            .session(3, 1, "s1")
            .ended(4, 1, StreamEnd::Complete)
            .stream(2, "get", S)
            .bytes(20 * S, 2, 0)
            .ended(60 * S, 2, StreamEnd::Truncated)
    };
    let t = base().warned(46 * S + 3, 2, "get", missed(45 * S)).build();
    let o = evaluate(E, TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    let o = evaluate(E, TICK, &base().build(), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(o.at, Some(Duration::from_millis(46_005)));
}

#[test]
fn a_warning_with_the_due_silence_at_another_instant_fails() {
    // Silent 45s is what the 55s warning says; said at 50s it was not due.
    let t = silent_get()
        .warned(50 * S, 2, "get", missed(45 * S))
        .warned(55 * S, 2, "get", missed(45 * S))
        .warned(85 * S, 2, "get", missed(75 * S))
        .warned(115 * S, 2, "get", missed(105 * S))
        .build();
    let o = evaluate(E, TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(o.at, Some(Duration::from_secs(50)));
    assert_eq!(
        o.message,
        "conn#2 (stream get): the client warned MissedKeepalive{silent 45s, expected 30s} at 00:00:50.000, but no warning was due then: none is due before 45s of silence (1.5 × 30s)"
    );
}

#[test]
fn a_warning_not_due_after_a_due_one_names_the_last_due() {
    // Between the 55s and the 85s warnings, a third at 70s.
    let t = silent_get()
        .warned(55 * S, 2, "get", missed(45 * S))
        .warned(70 * S, 2, "get", missed(60 * S))
        .warned(85 * S, 2, "get", missed(75 * S))
        .warned(115 * S, 2, "get", missed(105 * S))
        .build();
    let o = evaluate(E, TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2 (stream get): the client warned MissedKeepalive{silent 60s, expected 30s} at 00:01:10.000, but no warning was due then: the last one due was at 00:00:55.000 (silent 45s)"
    );
    // At the due instant itself, with the wrong silence.
    let t = silent_get()
        .warned(55 * S, 2, "get", missed(30 * S))
        .warned(55 * S, 2, "get", missed(45 * S))
        .warned(85 * S, 2, "get", missed(75 * S))
        .warned(115 * S, 2, "get", missed(105 * S))
        .build();
    let o = evaluate(E, TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2 (stream get): the client warned MissedKeepalive{silent 30s, expected 30s} at 00:00:55.000, but no warning was due then: the last one due was at 00:00:55.000 (silent 45s)"
    );
}

#[test]
fn a_warning_after_a_byte_broke_the_silence_names_the_new_silence() {
    // A byte at 60s after the 55s warning: the next is due at 105s; one at 80s was not.
    let t = silent_get()
        .event_id(60 * S, 2, "2", "{}")
        .warned(55 * S, 2, "get", missed(45 * S))
        .warned(80 * S, 2, "get", missed(20 * S))
        .warned(105 * S, 2, "get", missed(45 * S))
        .build();
    let o = evaluate(E, TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2 (stream get): the client warned MissedKeepalive{silent 20s, expected 30s} at 00:01:20.000, but no warning was due then: the connection had been silent 20s (since its last body byte at 00:01:00.000)"
    );
    assert_eq!(o.at, Some(Duration::from_secs(80)));
    // The byte at the very instant of the warning: silent 0.
    let t = silent_get()
        .event_id(70 * S, 2, "2", "{}")
        .warned(55 * S, 2, "get", missed(45 * S))
        .warned(70 * S, 2, "get", missed(60 * S))
        .warned(115 * S, 2, "get", missed(45 * S))
        .build();
    let o = evaluate(E, TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#2 (stream get): the client warned MissedKeepalive{silent 60s, expected 30s} at 00:01:10.000, but no warning was due then: the connection had been silent 0s (since its last body byte at 00:01:10.000)"
    );
    // An empty chunk after the 55s warning breaks nothing: the last one due is named.
    let t = silent_get()
        .bytes(60 * S, 2, 0)
        .warned(55 * S, 2, "get", missed(45 * S))
        .warned(70 * S, 2, "get", missed(60 * S))
        .warned(85 * S, 2, "get", missed(75 * S))
        .warned(115 * S, 2, "get", missed(105 * S))
        .build();
    let o = evaluate(E, TICK, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.ends_with(
            "but no warning was due then: the last one due was at 00:00:55.000 (silent 45s)"
        ),
        "{}",
        o.message
    );
}
