use super::*;
use crate::check::testing::TraceBuilder;

const END: Duration = Duration::from_secs(300);

/// GET stream g1 on conn 1 writes 1 (priming), 2; tool call p1 on conn 2 writes 3
/// (priming), 4, 5; both in s1. Conn 3 resumes after 2.
fn two_streams() -> TraceBuilder {
    TraceBuilder::new()
        .stream(1, "get", 0)
        .attached(2, 1, "g1", "get", "s1")
        .written(2, 1, "1", "")
        .written(1_000, 1, "2", "{\"method\":\"a\"}")
        .post(2, "call", 2_000, "text/event-stream")
        .attached(2_002, 2, "p1", "post", "s1")
        .written(2_002, 2, "3", "")
        .written(3_000, 2, "4", "{\"progress\":1}")
        .written(4_000, 2, "5", "{\"progress\":2}")
        .resume(3, "get", 10_000, "2")
        .attached(10_002, 3, "g1", "replay", "s1")
}

#[test]
fn replaying_the_own_stream_passes() {
    let t = two_streams()
        .replay_started(10_002, 3, "g1", "2", 1)
        .written(10_002, 3, "6", "{\"method\":\"b\"}")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
            o.message,
            "1 replay sent only events of the Last-Event-ID's own stream (1 event written after the replays started)"
        );
}

#[test]
fn replaying_the_own_streams_earlier_event_passes_while_other_streams_go_on() {
    // g1 wrote 7 on conn 1 at 5s (the client missed it); the resume after 2 replays it
    // and sends the new 8; meanwhile the tool call goes on writing 9 on conn 2.
    let t = two_streams()
        .written(5_000, 1, "7", "{\"method\":\"c\"}")
        .replay_started(10_002, 3, "g1", "2", 1)
        .written(10_002, 3, "7", "{\"method\":\"c\"}")
        .written(11_000, 3, "8", "{\"method\":\"d\"}")
        .written(12_000, 2, "9", "{\"progress\":3}")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
            o.message,
            "1 replay sent only events of the Last-Event-ID's own stream (2 events written after the replays started)"
        );
}

#[test]
fn replaying_another_streams_events_fails() {
    let t = two_streams()
        .replay_started(10_002, 3, "g1", "2", 2)
        .written(10_002, 3, "4", "{\"progress\":1}")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
            o.message,
            "conn#3 resumed after 2 (stream g1) and was sent event 4 at 00:00:10.002, an event of stream p1 (first written on conn#2 at 00:00:03.000)"
        );
    assert_eq!(o.at, Some(Duration::from_millis(10_002)));
}

#[test]
fn replaying_a_stream_other_than_the_ids_fails() {
    let t = two_streams()
        .replay_started(10_002, 3, "p1", "2", 2)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
            o.message.contains(
                "the server replays stream p1, but id 2 was written on stream g1 (conn#1) of session s1"
            ),
            "{}",
            o.message
        );
}

#[test]
fn no_replay_or_an_unknown_id_is_unobservable() {
    let o = evaluate(&two_streams().build(), END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    let t = two_streams()
        .replay_started(10_002, 3, "g1", "99", 0)
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    assert!(o.message.ends_with("conn#3 (after 99)"), "{}", o.message);
}

#[test]
fn the_spec_dispatches_here() {
    let t = two_streams().build();
    let spec = crate::check::CheckSpec::ReplaySameStream;
    assert_eq!(spec.evaluate(&t, END), evaluate(&t, END));
    assert_eq!(spec.id(), ID);
}
