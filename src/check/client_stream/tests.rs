use super::*;
use crate::check::testing::TraceBuilder;

#[test]
fn explain_rewrites_a_behavior_reason_and_fills_in_the_limit() {
    let t = TraceBuilder::new()
        .intermediary("nginx", &[("idle-timeout", 60_000)])
        .build();
    assert_eq!(
        explain(
            &t,
            "nginx",
            "idle-timeout",
            "idle-timeout 60s (upstream silent since 00:00:01.003)"
        ),
        "idle-timeout 60s, upstream silent since 00:00:01.003"
    );
    assert_eq!(
        explain(
            &t,
            "nginx",
            "idle-timeout",
            "upstream silent since 00:00:01.003"
        ),
        "idle-timeout 60s, upstream silent since 00:00:01.003"
    );
    assert_eq!(explain(&t, "nginx", "max-duration", ""), "max-duration");
}

#[test]
fn fate_prefers_the_intermediary_decision_over_the_client_end() {
    let t = TraceBuilder::new()
        .intermediary("nginx", &[("idle-timeout", 60_000)])
        .stream(1, "main", 1_000)
        .closed_by_intermediary(61_003, 1, "nginx", "idle-timeout", "upstream silent")
        .ended(61_004, 1, StreamEnd::Truncated)
        .build();
    let s = select("x", &t, None, Duration::from_secs(600)).unwrap();
    match s[0].fate() {
        Fate::Died(d) => {
            assert_eq!(d.intermediary(), Some("nginx"));
            assert_eq!(d.at, Duration::from_millis(61_003));
            assert_eq!(d.why, "idle-timeout 60s, upstream silent");
        }
        f => panic!("unexpected fate {f:?}"),
    }
    assert_eq!(s[0].span_end(), Duration::from_millis(61_004));
}

#[test]
fn a_stream_end_learns_its_closer_from_a_later_close() {
    let t = TraceBuilder::new()
        .stream(1, "main", 0)
        .ended(5_000, 1, StreamEnd::Reset)
        .conn_closed(5_000, 1, Closer::Fault, "partition")
        .build();
    let s = select("x", &t, Some("main"), Duration::from_secs(60)).unwrap();
    let Fate::Died(d) = s[0].fate() else {
        panic!("expected a death")
    };
    assert_eq!(d.by.as_deref(), Some("fault"));
    assert_eq!(
        d.sentence(),
        "ended at 00:00:05.000 by fault (connection reset; partition)"
    );
}

#[test]
fn plain_exchanges_are_not_streams_unless_named() {
    let t = TraceBuilder::new()
        .open(0, 1, "initialize")
        .request(0, 1)
        .response_typed(4, 1, 200, "application/json")
        .ended(5, 1, StreamEnd::Complete)
        .build();
    let err = select("x", &t, None, Duration::from_secs(60)).unwrap_err();
    assert_eq!(err.verdict, Verdict::Unobservable);
    assert!(
        err.message.contains("conn#1 (stream initialize)"),
        "{}",
        err.message
    );
    assert_eq!(
        select("x", &t, Some("initialize"), Duration::from_secs(60))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_post_answered_over_sse_is_an_exchange_unless_named() {
    // An SDK answers initialize over SSE and ends the response: no stream to judge.
    let t = TraceBuilder::new()
        .post(1, "initialize", 0, "text/event-stream")
        .rpc_answered(4, 1, 1, "ok")
        .ended(5, 1, StreamEnd::Complete)
        .stream(2, "get", 1_000)
        .build();
    let s = select("x", &t, None, Duration::from_secs(60)).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].name, "get");
    assert_eq!(
        select("x", &t, Some("initialize"), Duration::from_secs(60))
            .unwrap()
            .len(),
        1
    );
    // Unanswered when it ended: still a stream (it died).
    let t = TraceBuilder::new()
        .post(1, "call", 0, "text/event-stream")
        .ended(5, 1, StreamEnd::Truncated)
        .build();
    assert_eq!(
        select("x", &t, None, Duration::from_secs(60))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_failed_connect_without_an_id_is_still_a_stream() {
    let t = TraceBuilder::new()
        .failed(0, None, "main", "connection refused")
        .build();
    let s = select("x", &t, Some("main"), Duration::from_secs(60)).unwrap();
    assert_eq!(s[0].label(), "stream main");
    assert!(matches!(
        s[0].fate(),
        Fate::Failed {
            error: "connection refused",
            ..
        }
    ));
}

#[test]
fn a_hop_that_saw_its_downstream_go_is_not_the_client_closing() {
    // client → cloudflare → ingress-nginx → server, cloudflare crashes: ingress-nginx sees
    // its downstream side close (it records that as `closed by client`) at the instant the
    // client sees the stream cut, and before the client records it (as a run traced it).
    let t = TraceBuilder::new()
        .intermediary("cloudflare", &[("idle-timeout", 120_000)])
        .intermediary("ingress-nginx", &[("idle-timeout", 60_000)])
        .stream(1, "main", 1_001)
        .comment(16_009, 1)
        .push(
            30_000,
            "fault",
            None,
            EventKind::FaultApplied {
                fault: "crash cloudflare".into(),
            },
        )
        .push(
            30_000,
            "ingress-nginx",
            Some(1),
            EventKind::ConnClosed {
                by: Closer::Client,
                reason: "downstream closed; closing upstream".into(),
            },
        )
        .ended(30_000, 1, StreamEnd::Truncated)
        .build();
    let s = select("x", &t, Some("main"), Duration::from_secs(180)).unwrap();
    let Fate::Died(d) = s[0].fate() else {
        panic!("expected a death, got {:?}", s[0].fate())
    };
    assert_eq!(d.event.host, "client");
    assert_eq!(d.by, None);
    assert_eq!(
        d.sentence(),
        "ended at 00:00:30.000 (no response terminator)"
    );
}

#[test]
fn a_stream_end_is_not_blamed_on_the_client_hanging_up_after_it() {
    // The client's read failed (a garbled chunk) while the server kept the connection: the
    // client drops it, and nginx records the client side closing after the stream ended
    // (as a run against a real server traced it).
    let t = TraceBuilder::new()
        .intermediary("ingress-nginx", &[("idle-timeout", 60_000)])
        .stream(1, "main", 104)
        .event(115, 1, None, "hi")
        .ended(
            417,
            1,
            StreamEnd::Error("error reading a body from connection".into()),
        )
        .push(
            423,
            "ingress-nginx",
            Some(1),
            EventKind::ConnClosed {
                by: Closer::Client,
                reason: "downstream closed; closing upstream".into(),
            },
        )
        .build();
    let s = select("x", &t, Some("main"), Duration::from_secs(3)).unwrap();
    let Fate::Died(d) = s[0].fate() else {
        panic!("expected a death, got {:?}", s[0].fate())
    };
    assert_eq!(d.by, None);
    assert_eq!(
        d.sentence(),
        "ended at 00:00:00.417 (transport error: error reading a body from connection)"
    );
}

#[test]
fn summarise_lists_up_to_five_labels_and_elides_beyond() {
    let labels = |n: usize| (1..=n).map(|i| format!("conn#{i}")).collect::<Vec<_>>();
    assert_eq!(
        summarise(labels(5)),
        "conn#1, conn#2, conn#3, conn#4, conn#5"
    );
    assert_eq!(
        summarise(labels(6)),
        "conn#1, conn#2, conn#3, … 2 more …, conn#6"
    );
}

#[test]
fn a_named_stream_never_opened_fails_saying_what_the_client_opened() {
    let end = Duration::from_secs(60);
    let err = select("x", &TraceBuilder::new().build(), Some("main"), end).unwrap_err();
    assert_eq!(err.verdict, Verdict::Fail);
    assert_eq!(err.at, Some(end));
    assert_eq!(
        err.message,
        "stream main was never opened (the client opened no stream)"
    );
    let t = TraceBuilder::new().stream(1, "get", 0).build();
    let err = select("x", &t, Some("main"), end).unwrap_err();
    assert_eq!(err.verdict, Verdict::Fail);
    assert_eq!(
        err.message,
        "stream main was never opened (the client opened: get)"
    );
}
