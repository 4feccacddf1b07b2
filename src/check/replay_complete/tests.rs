use super::*;
use crate::check::testing::TraceBuilder;
use crate::trace::StreamEnd;

const END: Duration = Duration::from_secs(300);

/// A tool call on conn 2 (server stream p1): the server writes priming 1, progress 2..5;
/// the client receives 1..3 before nginx cuts the stream at 30s.
fn dropped_call() -> TraceBuilder {
    let mut b = TraceBuilder::new()
        .post(2, "call", 1_000, "text/event-stream")
        .attached(1_002, 2, "p1", "post", "s1")
        .written(1_002, 2, "1", "")
        .event_id(1_004, 2, "1", "");
    for (i, t) in [(2, 10_000), (3, 20_000)] {
        let data = format!("{{\"progress\":{i}}}");
        b = b
            .written(t, 2, &i.to_string(), &data)
            .event_id(t + 2, 2, &i.to_string(), &data);
    }
    b.closed_by_intermediary(30_000, 2, "nginx", "max-duration", "")
        .ended(30_000, 2, StreamEnd::Truncated)
        .written(30_001, 2, "4", "{\"progress\":4}")
        .written(35_000, 2, "5", "{\"progress\":5}")
        .write_failed(35_000, 2, None)
}

/// The resume on conn 3 at 40s from id 3, server side.
fn resume() -> TraceBuilder {
    dropped_call()
        .resume(3, "call", 40_000, "3")
        .attached(40_002, 3, "p1", "replay", "s1")
        .replay_started(40_002, 3, "p1", "3", 2)
        .written(40_002, 3, "3", "")
        .event_id(40_004, 3, "3", "")
}

#[test]
fn a_complete_replay_then_new_events_passes() {
    let t = resume()
        .event_id(40_005, 3, "4", "{\"progress\":4}")
        .event_id(40_006, 3, "5", "{\"progress\":5}")
        .event_id(50_000, 3, "6", "{\"result\":{}}")
        .ended(50_000, 3, StreamEnd::Complete)
        .build();
    let o = evaluate(Some("call"), &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#3 (stream call) resumed after 3 and received the 2 events written after it (4, 5); 1 resume checked"
    );
}

#[test]
fn an_event_held_back_while_no_connection_carried_the_stream_is_expected() {
    // Progress 6 was held back at 38s (no connection carried p1); the resume at 40s
    // replays 4 and 5 only.
    let t = dropped_call()
        .held(38_000, "s1", "p1", "6", "{\"progress\":6}", true)
        .resume(3, "call", 40_000, "3")
        .attached(40_002, 3, "p1", "replay", "s1")
        .replay_started(40_002, 3, "p1", "3", 2)
        .event_id(40_005, 3, "4", "{\"progress\":4}")
        .event_id(40_006, 3, "5", "{\"progress\":5}")
        .ended(50_000, 3, StreamEnd::Complete)
        .build();
    let o = evaluate(None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#3 (stream call) resumed after 3 at 00:00:40.000 and expected 4, 5, 6 first: missing 6"
    );
    // Held back on another stream or session: not this replay's.
    let t = dropped_call()
        .held(38_000, "s1", "g1", "6", "{\"progress\":6}", true)
        .held(38_000, "s2", "p1", "7", "{\"progress\":7}", true)
        .resume(3, "call", 40_000, "3")
        .attached(40_002, 3, "p1", "replay", "s1")
        .event_id(40_005, 3, "4", "{\"progress\":4}")
        .event_id(40_006, 3, "5", "{\"progress\":5}")
        .ended(50_000, 3, StreamEnd::Complete)
        .build();
    let o = evaluate(None, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
}

#[test]
fn a_replay_that_skips_an_event_fails() {
    let t = resume()
        .event_id(40_005, 3, "5", "{\"progress\":5}")
        .event_id(50_000, 3, "6", "{\"result\":{}}")
        .ended(50_000, 3, StreamEnd::Complete)
        .build();
    let o = evaluate(None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#3 (stream call) resumed after 3 at 00:00:40.000 and expected 4, 5 first: missing 4"
    );
    assert_eq!(o.at, Some(Duration::from_millis(40_005)));
}

#[test]
fn a_replay_that_resends_the_last_id_and_reorders_fails() {
    let t = resume()
        .event_id(40_005, 3, "3", "{\"progress\":3}")
        .event_id(40_006, 3, "5", "{\"progress\":5}")
        .event_id(40_007, 3, "4", "{\"progress\":4}")
        .ended(50_000, 3, StreamEnd::Complete)
        .build();
    let o = evaluate(None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .ends_with("duplicated 3; out of order (received 5, 4 first)"),
        "{}",
        o.message
    );
    assert_eq!(o.at, Some(Duration::from_millis(40_005)));
}

#[test]
fn another_streams_event_in_the_replay_fails_naming_where_it_was_written() {
    // Event 9 went out on another stream (conn 4) at 15s; the replay of `call` sends it
    // among 4 and 5.
    let t = resume()
        .post(4, "other", 2_000, "text/event-stream")
        .attached(2_002, 4, "p2", "post", "s1")
        .written(15_000, 4, "9", "{\"progress\":9}")
        .event_id(15_002, 4, "9", "{\"progress\":9}")
        .written(40_003, 3, "9", "{\"progress\":9}")
        .event_id(40_005, 3, "9", "{\"progress\":9}")
        .event_id(40_006, 3, "4", "{\"progress\":4}")
        .event_id(40_007, 3, "5", "{\"progress\":5}")
        .ended(50_000, 3, StreamEnd::Complete)
        .build();
    let o = evaluate(Some("call"), &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#3 (stream call) resumed after 3 at 00:00:40.000 and expected 4, 5 first: received 9 (the server wrote it on conn#4) among them, not written after 3 on this stream"
    );
    assert_eq!(o.at, Some(Duration::from_millis(40_005)));
}

#[test]
fn a_refused_resume_loses_the_events() {
    let t = dropped_call()
        .open(40_000, 3, "call")
        .request_with(40_000, 3, "GET", Some("3"))
        .response_typed(40_003, 3, 400, "application/json")
        .ended(40_004, 3, StreamEnd::Complete)
        .build();
    let o = evaluate(None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .contains(", response 400 and expected 4, 5 first: missing 4, 5"),
        "{}",
        o.message
    );
}

#[test]
fn a_replay_cut_short_after_the_server_wrote_it_is_left_to_the_next_resume() {
    let t = resume()
        .written(40_003, 3, "4", "{\"progress\":4}")
        .written(40_003, 3, "5", "{\"progress\":5}")
        .event_id(40_005, 3, "4", "{\"progress\":4}")
        .closed_by_intermediary(40_005, 3, "nginx", "max-duration", "")
        .ended(40_005, 3, StreamEnd::Truncated)
        .resume(4, "call", 41_000, "4")
        .event_id(41_005, 4, "5", "{\"progress\":5}")
        .ended(42_000, 4, StreamEnd::Complete)
        .build();
    let o = evaluate(None, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(o.message.ends_with("; 2 resumes checked"), "{}", o.message);
}

#[test]
fn ids_follow_the_write_order_and_a_priming_id_resumes_from_the_start() {
    let t = TraceBuilder::new()
        .stream(1, "get", 0)
        .attached(2, 1, "g1", "get", "s1")
        .written(2, 1, "9", "")
        .event_id(4, 1, "9", "")
        .ended(1_000, 1, StreamEnd::Reset)
        .written(2_000, 1, "10", "{\"n\":10}")
        .written(3_000, 1, "11", "{\"n\":11}")
        .write_failed(3_000, 1, None)
        .resume(2, "get", 5_000, "9")
        .event_id(5_005, 2, "10", "{\"n\":10}")
        .build();
    let o = evaluate(None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.ends_with("expected 10, 11 first: missing 11"),
        "{}",
        o.message
    );
}

#[test]
fn no_resume_is_unobservable() {
    let t = dropped_call().build();
    let o = evaluate(None, &t, END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    // Without server writes in the trace the expected events are unknown.
    let t = TraceBuilder::new()
        .stream(1, "get", 0)
        .event_id(1_000, 1, "7", "{}")
        .ended(2_000, 1, StreamEnd::Reset)
        .resume(2, "get", 3_000, "7")
        .build();
    let o = evaluate(None, &t, END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    assert!(
        o.message.contains("conn#2 (stream get) (after 7)"),
        "{}",
        o.message
    );
}

#[test]
fn the_spec_dispatches_here() {
    let t = resume().build();
    let spec = crate::check::CheckSpec::ReplayComplete { stream: None };
    let o = spec.evaluate(&t, END);
    assert_eq!(o, evaluate(None, &t, END));
    assert_eq!(o.id, ID);
    assert_eq!(spec.id(), ID);
}

/// `{"progress":i}`.
fn progress(i: u32) -> String {
    format!("{{\"progress\":{i}}}")
}

#[test]
fn what_the_old_connection_got_after_the_reconnect_was_sent_is_not_expected() {
    // nginx blackholes conn 2 at 20s: the server goes on writing into it (3 at 25s, 4 at 45s).
    // The client resumes after 2 at 40s: the replay owes it 3, written before it asked; 4
    // came after.
    let t = TraceBuilder::new()
        .post(2, "call", 1_000, "text/event-stream")
        .attached(1_002, 2, "p1", "post", "s1")
        .written(10_000, 2, "2", &progress(2))
        .event_id(10_002, 2, "2", &progress(2))
        .blackholed(20_000, 2, "nginx", "blackhole", "")
        .written(25_000, 2, "3", &progress(3))
        .resume(3, "call", 40_000, "2")
        .attached(40_002, 3, "p1", "replay", "s1")
        .replay_started(40_002, 3, "p1", "2", 1)
        .written(40_002, 3, "3", &progress(3))
        .event_id(40_004, 3, "3", &progress(3))
        .written(45_000, 2, "4", &progress(4))
        .ended(50_000, 3, StreamEnd::Complete)
        .build();
    let o = evaluate(None, &t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#3 (stream call) resumed after 2 and received the 1 event written after it (3); 1 resume checked"
    );
}

#[test]
fn the_last_event_id_is_looked_up_on_the_stream_that_wrote_it() {
    // The client's GET stream on session s1 (server stream g1, conn 2) got event 1 and died;
    // on session s2 its GET (g2, conn 3) got 5 and 6, and 7 died with it. The resume after
    // 6 owes 7, a stream g2 event; it gets only the new 8.
    let t = TraceBuilder::new()
        .stream(2, "get", 1_000)
        .attached(1_002, 2, "g1", "get", "s1")
        .written(2_000, 2, "1", &progress(1))
        .event_id(2_002, 2, "1", &progress(1))
        .ended(10_000, 2, StreamEnd::Reset)
        .stream(3, "get", 20_000)
        .attached(20_002, 3, "g2", "get", "s2")
        .written(21_000, 3, "5", &progress(5))
        .event_id(21_002, 3, "5", &progress(5))
        .written(22_000, 3, "6", &progress(6))
        .event_id(22_002, 3, "6", &progress(6))
        .written(23_000, 3, "7", &progress(7))
        .ended(23_000, 3, StreamEnd::Reset)
        .resume(4, "get", 30_000, "6")
        .attached(30_002, 4, "g2", "replay", "s2")
        .replay_started(30_002, 4, "g2", "6", 0)
        .written(35_000, 4, "8", &progress(8))
        .event_id(35_002, 4, "8", &progress(8))
        .ended(50_000, 4, StreamEnd::Complete)
        .build();
    let o = evaluate(None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#4 (stream get) resumed after 6 at 00:00:30.000 and expected 7 first: missing 7"
    );
    assert_eq!(o.at, Some(Duration::from_millis(35_002)));
}

#[test]
fn of_two_failed_resumes_the_earliest_failure_is_reported_and_the_first_of_a_tie() {
    // The call's resume (conn 3, after 3) owes 4 and 5 but gets the new 6 at `wrong`; the
    // GET's resume (conn 6 at 50s, after 21) owes 22 but gets the new 23 at 50.005s.
    let two = |wrong: u64| {
        resume()
            .event_id(wrong, 3, "6", &progress(6))
            .ended(100_000, 3, StreamEnd::Complete)
            .stream(5, "get", 2_000)
            .attached(2_002, 5, "g1", "get", "s1")
            .written(3_000, 5, "21", &progress(21))
            .event_id(3_002, 5, "21", &progress(21))
            .written(4_000, 5, "22", &progress(22))
            .ended(4_000, 5, StreamEnd::Reset)
            .resume(6, "get", 50_000, "21")
            .attached(50_002, 6, "g1", "replay", "s1")
            .written(50_003, 6, "23", &progress(23))
            .event_id(50_005, 6, "23", &progress(23))
            .ended(60_000, 6, StreamEnd::Complete)
            .build()
    };
    let o = evaluate(None, &two(70_000), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .starts_with("conn#6 (stream get) resumed after 21"),
        "{}",
        o.message
    );
    assert_eq!(o.at, Some(Duration::from_millis(50_005)));
    let o = evaluate(None, &two(50_005), END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message
            .starts_with("conn#3 (stream call) resumed after 3"),
        "{}",
        o.message
    );
    assert_eq!(o.at, Some(Duration::from_millis(50_005)));
}

#[test]
fn a_resume_that_dies_before_the_server_wrote_the_replay_on_it_fails() {
    // Only the priming event was written on conn 3 before it was reset: 4 and 5 were never
    // sent, not lost in transit.
    let t = resume().ended(41_000, 3, StreamEnd::Reset).build();
    let o = evaluate(None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#3 (stream call) resumed after 3 at 00:00:40.000 and expected 4, 5 first: missing 4, 5"
    );
    assert_eq!(o.at, Some(Duration::from_secs(41)));
}

#[test]
fn a_duplicate_after_a_complete_replay_fails_when_it_arrives() {
    let t = resume()
        .event_id(40_005, 3, "4", &progress(4))
        .event_id(40_006, 3, "5", &progress(5))
        .event_id(45_000, 3, "6", &progress(6))
        .event_id(46_000, 3, "5", &progress(5))
        .ended(50_000, 3, StreamEnd::Complete)
        .build();
    let o = evaluate(None, &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#3 (stream call) resumed after 3 at 00:00:40.000 and expected 4, 5 first: duplicated 5"
    );
    assert_eq!(o.at, Some(Duration::from_secs(46)));
}

#[test]
fn an_event_another_stream_got_only_after_the_resume_is_out_of_order_not_foreign() {
    // Event 9 goes out on stream `other` (conn 4) at 40.001s, after the resume was sent at
    // 40s, and on conn 3 ahead of the replay: not an event of before the resume, but it
    // comes before 4.
    let t = resume()
        .post(4, "other", 2_000, "text/event-stream")
        .attached(2_002, 4, "p2", "post", "s1")
        .written(40_001, 4, "9", &progress(9))
        .written(40_003, 3, "9", &progress(9))
        .event_id(40_005, 3, "9", &progress(9))
        .event_id(40_006, 3, "4", &progress(4))
        .event_id(40_007, 3, "5", &progress(5))
        .ended(50_000, 3, StreamEnd::Complete)
        .build();
    let o = evaluate(Some("call"), &t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#3 (stream call) resumed after 3 at 00:00:40.000 and expected 4, 5 first: out of order (received 9, 4 first)"
    );
    assert_eq!(o.at, Some(Duration::from_millis(40_005)));
}

#[test]
fn six_foreign_events_are_all_named_without_a_count() {
    // `call` (conn 2, p1) got 1, then 2..7 were written and lost with it; `other` (conn 4,
    // p2) got 11..16. The resume of `call` after 1 gets 11..16 first, then 2..7.
    let mut b = TraceBuilder::new()
        .post(2, "call", 500, "text/event-stream")
        .attached(502, 2, "p1", "post", "s1")
        .written(1_000, 2, "1", &progress(1))
        .event_id(1_002, 2, "1", &progress(1))
        .post(4, "other", 600, "text/event-stream")
        .attached(602, 4, "p2", "post", "s1");
    for i in 2..=7u32 {
        let t = u64::from(i) * 1_000;
        b = b
            .written(t, 2, &i.to_string(), &progress(i))
            .written(t, 4, &(i + 9).to_string(), &progress(i + 9))
            .event_id(t + 2, 4, &(i + 9).to_string(), &progress(i + 9));
    }
    b = b
        .ended(10_000, 2, StreamEnd::Reset)
        .resume(3, "call", 20_000, "1")
        .attached(20_002, 3, "p1", "replay", "s1");
    for i in (11..=16u32).chain(2..=7) {
        b = b.event_id(20_005, 3, &i.to_string(), &progress(i));
    }
    let o = evaluate(
        Some("call"),
        &b.ended(30_000, 3, StreamEnd::Complete).build(),
        END,
    );
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#3 (stream call) resumed after 1 at 00:00:20.000 and expected 2, 3, 4, 5, 6, 7 first: received 11 (the server wrote it on conn#4), 12 (the server wrote it on conn#4), 13 (the server wrote it on conn#4), 14 (the server wrote it on conn#4), 15 (the server wrote it on conn#4), 16 (the server wrote it on conn#4) among them, not written after 1 on this stream"
    );
}
