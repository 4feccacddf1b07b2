use super::*;
use crate::check::testing::TraceBuilder;

const END: Duration = Duration::from_secs(300);

/// Session s1's GET on conn 1 writes 1 (priming), 2, 3; session s2's GET on conn 2 writes
/// 1 (priming), 2 with other data; conn 3 resumes s2's GET after 2.
fn two_sessions() -> TraceBuilder {
    TraceBuilder::new()
        .stream(1, "get", 0)
        .attached(2, 1, "g1", "get", "s1")
        .written(2, 1, "1", "")
        .written(1_000, 1, "2", "{\"progress\":1}")
        .written(2_000, 1, "3", "{\"secret\":true}")
        .stream(2, "get2", 3_000)
        .attached(3_002, 2, "g1", "get", "s2")
        .written(3_002, 2, "1", "")
        .written(4_000, 2, "2", "{\"mine\":true}")
        .resume(3, "get2", 10_000, "2")
        .attached(10_002, 3, "g1", "replay", "s2")
}

#[test]
fn a_replay_of_the_own_session_passes() {
    let t = two_sessions()
        .replay_started(10_002, 3, "g1", "2", 0)
        .written(20_000, 3, "3", "{\"mine\":2}")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "1 replay carried only their own session's events (1 event checked)"
    );
}

#[test]
fn a_replay_carrying_another_sessions_event_fails() {
    let t = two_sessions()
        .replay_started(10_002, 3, "g1", "2", 1)
        .written(10_002, 3, "3", "{\"secret\":true}")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
            o.message,
            "conn#3 of session s2 was sent event 3 at 00:00:10.002, an event of session s1 (written on conn#1 at 00:00:02.000)"
        );
}

#[test]
fn a_replay_after_a_guessed_foreign_id_fails() {
    let t = two_sessions()
        .written(5_000, 1, "7", "{\"x\":1}")
        .replay_started(10_002, 3, "g1", "7", 2)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
            o.message.starts_with(
                "conn#3 of session s2 resumed after id 7, which only session s1 wrote (conn#1 at 00:00:05.000)"
            ),
            "{}",
            o.message
        );
}

#[test]
fn a_replay_after_a_foreign_id_that_replays_nothing_passes() {
    // The server took the guessed id but replayed no event: nothing leaked.
    let t = two_sessions()
        .written(5_000, 1, "7", "{\"x\":1}")
        .replay_started(10_002, 3, "g1", "7", 0)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "1 replay carried only their own session's events (0 events checked)"
    );
}

#[test]
fn each_sessions_replay_is_judged_by_its_own_connection() {
    // s2 resumes on conn 3 (nothing to replay); later s1 resumes its GET after 2 on
    // conn 4 and gets its own event 3 again.
    let t = two_sessions()
        .replay_started(10_002, 3, "g1", "2", 0)
        .resume(4, "get", 20_000, "2")
        .attached(20_002, 4, "g1", "replay", "s1")
        .replay_started(20_002, 4, "g1", "2", 1)
        .written(20_002, 4, "3", "{\"secret\":true}")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "2 replays carried only their own session's events (1 event checked)"
    );
}

#[test]
fn the_same_id_with_other_data_in_two_sessions_is_fine() {
    // s2's own id 2 is replayed; s1 also has an id 2 with other data.
    let t = two_sessions()
        .replay_started(10_002, 3, "g1", "1", 1)
        .written(10_002, 3, "2", "{\"mine\":true}")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
}

#[test]
fn no_replay_is_unobservable() {
    let o = evaluate(&two_sessions().build(), END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
}

#[test]
fn the_spec_dispatches_here() {
    let t = two_sessions().build();
    let spec = crate::check::CheckSpec::ReplaySessionIsolated;
    assert_eq!(spec.evaluate(&t, END), evaluate(&t, END));
    assert_eq!(spec.id(), ID);
}
