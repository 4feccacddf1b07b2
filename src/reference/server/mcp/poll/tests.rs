use super::*;
use crate::trace::Trace;

/// A relay that cuts every response after 2 s: the GET stream (2025-06-18, keepalive
/// off, no priming) never gets a byte, so the reference client switches to polling.
const CUT_GETS: &str = r#"
description = "polls"
protocol = ["2025-06-18"]
duration = "30s"

[[intermediary]]
name = "lb"
max-duration = { after = "2s", action = "fin" }

[server]
keepalive = "off"

[[server.notification]]
at = "13s"
method = "notifications/one"

[[server.notification]]
at = "21s"
method = "notifications/two"

[[client.step]]
at = "0s"
do = "initialize"

[[client.step]]
at = "1s"
do = "open-get-stream"
"#;

fn run() -> Trace {
    let s = crate::scenario::parse("mem.toml", CUT_GETS).expect("valid scenario");
    let server = crate::reference::server::build(&s.server);
    let out = crate::sim::run(&s, server, crate::reference::client::build(), 1);
    assert_eq!(out.error, None);
    out.trace
}

/// Server conns that received a poll, with when.
fn poll_conns(t: &Trace) -> Vec<(Duration, ConnId)> {
    t.events
        .iter()
        .filter(|e| {
            e.host == "server"
                && matches!(&e.kind, EventKind::RequestReceived { method, path }
                        if method == "GET" && path == "/mcp?poll=1")
        })
        .map(|e| (e.at, e.conn.expect("a conn")))
        .collect()
}

#[test]
fn a_poll_answers_the_get_streams_events_after_last_event_id_then_ends() {
    let t = run();
    let polls = poll_conns(&t);
    assert!(polls.len() >= 9, "polls every 2 s from ~10 s: {polls:?}");
    let on = |conn: ConnId| {
        t.events
            .iter()
            .filter(move |e| e.host == "server" && e.conn == Some(conn))
            .map(|e| &e.kind)
    };
    let mut written = Vec::new();
    for (at, conn) in &polls {
        let kinds: Vec<&EventKind> = on(*conn).collect();
        assert!(
                kinds.iter().any(|k| matches!(k, EventKind::ResponseStarted { status: 200, content_type: Some(ct), .. } if ct == "text/event-stream")),
                "poll at {at:?}: {kinds:?}"
            );
        assert!(kinds.iter().any(|k| matches!(k,
                EventKind::StreamAttached { stream, kind, session } if stream == "g3" && kind == "poll" && session == "s1")));
        assert!(matches!(kinds.last(), Some(EventKind::ResponseEnded)));
        assert!(!kinds
            .iter()
            .any(|k| matches!(k, EventKind::TimerArmed { .. })));
        for k in kinds {
            if let EventKind::FrameWritten {
                frame: Frame::Event {
                    id: Some(id), data, ..
                },
                ..
            } = k
            {
                written.push((*at, id.clone(), data.contains("notifications/one")));
            }
        }
    }
    // Each notification is written by exactly one poll: the first poll after it.
    assert_eq!(written.len(), 2, "{written:?}");
    assert!(written[0].2 && written[0].0 > Duration::from_secs(13));
    assert!(written[0].0 <= Duration::from_secs(15));
    assert!(!written[1].2 && written[1].0 > Duration::from_secs(21));
    let delivered: Vec<&str> = t
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MessageDelivered { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, ["notifications/one", "notifications/two"]);
}
