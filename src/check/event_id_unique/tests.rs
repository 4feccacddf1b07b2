use super::*;
use crate::check::testing::TraceBuilder;

const END: Duration = Duration::from_secs(120);

/// A tool call (conn 2, stream p1) writing ids 1 (priming), 2, 3 and a GET stream
/// (conn 3, stream g1) writing 4, all in session s1.
fn session() -> TraceBuilder {
    TraceBuilder::new()
        .attached(1_000, 2, "p1", "post", "s1")
        .written(1_000, 2, "1", "")
        .written(2_000, 2, "2", "{\"progress\":1}")
        .written(3_000, 2, "3", "{\"progress\":2}")
        .attached(4_000, 3, "g1", "get", "s1")
        .written(5_000, 3, "4", "{\"note\":1}")
}

#[test]
fn replays_and_priming_events_repeating_an_id_pass() {
    let t = session()
        .attached(10_000, 4, "p1", "replay", "s1")
        .replay_started(10_000, 4, "p1", "2", 1)
        .written(10_000, 4, "2", "")
        .written(10_000, 4, "3", "{\"progress\":2}")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "4 event ids in 1 session each named one event (6 writes, replays included)"
    );
}

#[test]
fn an_id_used_on_two_streams_fails_naming_both_conns() {
    let t = session().written(6_000, 3, "3", "{\"note\":2}").build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#3 (server stream g1) reused event id 3 of session s1 at 00:00:06.000 for a different event (another stream and other data) than conn#2 (server stream p1) at 00:00:03.000"
    );
    assert_eq!(o.at, Some(Duration::from_secs(6)));
}

#[test]
fn a_priming_event_reusing_an_id_of_another_stream_fails() {
    let t = session()
        .attached(7_000, 5, "g2", "get", "s1")
        .written(7_000, 5, "4", "")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(
        o.message.contains("(another stream and other data)"),
        "{}",
        o.message
    );
}

#[test]
fn the_same_id_in_two_sessions_is_fine() {
    let t = session()
        .attached(7_000, 5, "g1", "get", "s2")
        .written(8_000, 5, "4", "{\"other\":true}")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(o.message.contains("in 2 sessions"), "{}", o.message);
}

#[test]
fn every_collision_is_named_with_its_stream_and_session() {
    let t = session()
        .written(6_000, 3, "3", "{\"note\":2}")
        .written(7_000, 3, "2", "{\"note\":3}")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "2 collisions: conn#3 (server stream g1) reused event id 3 of session s1 at 00:00:06.000 for a different event (another stream and other data) than conn#2 (server stream p1) at 00:00:03.000, conn#3 (server stream g1) reused event id 2 of session s1 at 00:00:07.000 for a different event (another stream and other data) than conn#2 (server stream p1) at 00:00:02.000"
    );
    assert_eq!(o.at, Some(Duration::from_secs(6)));
}

#[test]
fn a_connection_the_server_names_no_session_for_is_on_the_clients_session() {
    // An SDK behind an adapter: the GET (conn 3) says no session; the client held s1.
    let t = TraceBuilder::new()
        .post(1, "initialize", 0, "text/event-stream")
        .rpc_received(1, 1, "initialize", Some(1), None)
        .session_created(1, 1, "s1")
        .written(1, 1, "1", "")
        .written(1, 1, "2", "{\"id\":1}")
        .session(4, 1, "s1")
        .stream(3, "get", 1_000)
        .written(20_000, 3, "3", "{\"method\":\"a\"}")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "3 event ids in 1 session each named one event (3 writes, replays included)"
    );
    // The same id on that GET is a collision within s1 (with unknown sessions apart,
    // it was not seen).
    let t = TraceBuilder::new()
        .post(1, "initialize", 0, "text/event-stream")
        .rpc_received(1, 1, "initialize", Some(1), None)
        .session_created(1, 1, "s1")
        .written(1, 1, "2", "{\"id\":1}")
        .session(4, 1, "s1")
        .stream(3, "get", 1_000)
        .written(20_000, 3, "2", "{\"method\":\"a\"}")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert!(o.message.contains("of session s1"), "{}", o.message);
}

#[test]
fn gets_of_two_sessions_named_only_by_their_answers_may_share_an_id() {
    // A real implementation behind an adapter: no StreamAttached; a GET carries no
    // JSON-RPC message, only its answer's Mcp-Session-Id says the session.
    let get = |session: &str| EventKind::ResponseStarted {
        status: 200,
        content_type: Some("text/event-stream".into()),
        headers: vec![("mcp-session-id".into(), session.into())],
    };
    let t = TraceBuilder::new()
        .push(1_000, "server", Some(3), get("s1"))
        .written(10_000, 3, "3", "{\"method\":\"a\"}")
        .push(32_000, "server", Some(7), get("s2"))
        .written(40_000, 7, "3", "{\"method\":\"b\"}")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert!(o.message.contains("in 2 sessions"), "{}", o.message);
}

#[test]
fn no_ids_is_unobservable() {
    let t = TraceBuilder::new().stream(1, "get", 0).build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Unobservable);
}

#[test]
fn the_spec_dispatches_here() {
    let t = session().build();
    let spec = crate::check::CheckSpec::EventIdUnique;
    let o = spec.evaluate(&t, END);
    assert_eq!(o, evaluate(&t, END));
    assert_eq!(o.id, ID);
    assert_eq!(spec.id(), ID);
}

#[test]
fn a_replay_is_of_the_stream_it_replays_not_the_one_it_is_attached_as() {
    // A resume the server attaches as its standalone GET stream g2 but on which it replays
    // the tool call's stream p1: the ids it writes again are p1's, replays, not collisions.
    let t = session()
        .attached(10_000, 4, "g2", "replay", "s1")
        .replay_started(10_000, 4, "p1", "1", 2)
        .written(10_000, 4, "2", "{\"progress\":1}")
        .written(10_000, 4, "3", "{\"progress\":2}")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "4 event ids in 1 session each named one event (6 writes, replays included)"
    );
}

#[test]
fn the_same_data_under_one_id_on_another_stream_is_a_collision_of_streams() {
    let t = session().written(6_000, 3, "3", "{\"progress\":2}").build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
    assert_eq!(
        o.message,
        "conn#3 (server stream g1) reused event id 3 of session s1 at 00:00:06.000 for a different event (another stream) than conn#2 (server stream p1) at 00:00:03.000"
    );
}

#[test]
fn a_connection_is_on_the_session_held_when_its_request_was_sent_not_when_it_opened() {
    // An SDK behind an adapter (no StreamAttached): the client opens conn 3 at 30s while it
    // holds s1, establishes s2 at 31s and sends the GET on conn 3 at 32s, on s2. Its id 2 is
    // s2's, no collision with s1's id 2.
    let t = TraceBuilder::new()
        .post(1, "initialize", 0, "text/event-stream")
        .rpc_received(1, 1, "initialize", Some(1), None)
        .session_created(1, 1, "s1")
        .written(1, 1, "2", "{\"id\":1}")
        .session(4, 1, "s1")
        .open(30_000, 3, "get")
        .post(2, "initialize", 30_500, "application/json")
        .session(31_000, 2, "s2")
        .request(32_000, 3)
        .response(32_003, 3, 200)
        .written(40_000, 3, "2", "{\"method\":\"a\"}")
        .build();
    let o = evaluate(&t, END);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "2 event ids in 2 sessions each named one event (2 writes, replays included)"
    );
}
