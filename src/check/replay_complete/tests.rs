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
