//! Keys that could not take effect, and checks that could never be judged, are refused with
//! a located error: by kind of scenario (plain SSE or MCP), by the run's revision, by the
//! tick; and the new server keys and client step parse into their settings.

use super::*;

/// A plain SSE scenario with one stream, then `rest`.
fn plain(rest: &str) -> String {
    format!("{HEAD}{}{rest}", step("1s", "open-stream", ""))
}

/// An MCP scenario on `revision` with a GET stream (a tool call on 2026-07-28), then `rest`.
fn mcp(revision: &str, rest: &str) -> String {
    let stream = if revision == "2026-07-28" {
        step("1s", "call-tool", "tool-duration = \"1m\"\n")
    } else {
        step("1s", "open-get-stream", "")
    };
    format!(
        "protocol = [\"{revision}\"]\n{HEAD}{}{stream}{rest}",
        init()
    )
}

/// The error of `text`, asserting its key path and that its message contains `says`.
fn refused(text: &str, path: &str, says: &str) -> ScenarioError {
    let e = err(text);
    assert_eq!(e.key_path, path, "{e}");
    assert!(e.message.contains(says), "{e}");
    assert!(e.message.contains("expected"), "{e}");
    assert!(e.line > 0 && e.column > 0, "{e}");
    e
}

#[test]
fn mcp_keys_are_refused_in_a_plain_sse_scenario() {
    for (table, key) in [
        ("[server]\nevent-store = false\n", "server.event-store"),
        ("[server]\nretry = \"2s\"\n", "server.retry"),
        ("[server]\nresume = \"empty-200\"\n", "server.resume"),
        (
            "[server]\nsession-idle-timeout = \"5m\"\n",
            "server.session-idle-timeout",
        ),
        ("[client]\nreconnect = false\n", "client.reconnect"),
        (
            "[client]\nreconnect-initial = \"2s\"\n",
            "client.reconnect-initial",
        ),
        ("[client]\nreconnect-max = \"2m\"\n", "client.reconnect-max"),
        (
            "[client]\nreconnect-attempts = 2\n",
            "client.reconnect-attempts",
        ),
        (
            "[client]\nkeepalive-expected = \"30s\"\n",
            "client.keepalive-expected",
        ),
    ] {
        let e = refused(&plain(table), key, "applies only to MCP scenarios");
        assert_eq!(e.line, 7, "{e}");
        assert!(e.hint.is_some(), "{e}");
        // The same key is taken by an MCP scenario.
        parse_text(&mcp("2025-11-25", table)).unwrap_or_else(|e| panic!("{e}"));
    }
    refused(
        &plain("[[server.notification]]\nat = \"1m\"\nmethod = \"m\"\n"),
        "server.notification",
        "applies only to MCP scenarios",
    );
    refused(
        &format!("protocol = [\"2025-11-25\"]\n{}", plain("")),
        "protocol",
        "has no MCP client step",
    );
    refused(
        &plain("[server]\nend-after = { after = \"5s\", streams = [\"get\"] }\n"),
        "server.end-after.streams",
        "speaks plain SSE",
    );
    let s = parse_text(&plain("[server]\nend-after = { after = \"5s\" }\n")).unwrap();
    assert_eq!(s.server.end_after.map(|e| e.after), Some(secs(5)));
}

#[test]
fn server_events_are_refused_in_an_mcp_scenario() {
    let e = refused(
        &mcp(
            "2025-11-25",
            "[[server.event]]\nat = \"1m\"\ndata = \"x\"\n",
        ),
        "server.event[0]",
        "client speaks MCP",
    );
    assert!(e
        .hint
        .as_deref()
        .is_some_and(|h| h.contains("[[server.notification]]")));
}

#[test]
fn keys_the_revision_has_no_use_for_are_refused() {
    // retry goes with the priming event: 2025-11-25 only; "off" agrees with every revision.
    refused(
        &mcp("2025-06-18", "[server]\nretry = \"2s\"\n"),
        "server.retry",
        "only 2025-11-25 has",
    );
    parse_text(&mcp("2025-06-18", "[server]\nretry = \"off\"\n")).unwrap();
    // 2026-07-28: no sessions, no GET stream, no resumption.
    for (table, key) in [
        ("[server]\nevent-store = true\n", "server.event-store"),
        ("[server]\nresume = \"http-404\"\n", "server.resume"),
        (
            "[server]\nsession-idle-timeout = \"5m\"\n",
            "server.session-idle-timeout",
        ),
        (
            "[client]\nreconnect-initial = \"2s\"\n",
            "client.reconnect-initial",
        ),
        ("[client]\nreconnect = true\n", "client.reconnect"),
        (
            "[[server.notification]]\nat = \"1m\"\nmethod = \"m\"\n",
            "server.notification",
        ),
    ] {
        refused(
            &mcp("2026-07-28", table),
            key,
            "has no effect under 2026-07-28",
        );
    }
    for agrees in [
        "[server]\nevent-store = false\n",
        "[server]\nsession-idle-timeout = \"off\"\n",
        "[client]\nreconnect = false\n",
        "[server]\nend-after = { after = \"5s\", streams = [\"post\"] }\n",
    ] {
        parse_text(&mcp("2026-07-28", agrees)).unwrap_or_else(|e| panic!("{agrees}: {e}"));
    }
    refused(
        &mcp(
            "2026-07-28",
            "[server]\nend-after = { after = \"5s\", streams = [\"get\", \"post\"] }\n",
        ),
        "server.end-after.streams",
        "only \"post\" responses exist",
    );
}

#[test]
fn periods_shorter_than_the_tick_are_refused() {
    let ticked = |text: String| format!("tick = \"100ms\"\n{text}");
    let e = refused(
        &ticked(plain("[server]\nkeepalive = \"50ms\"\n")),
        "server.keepalive",
        "shorter than the tick (100ms)",
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("lengthen it, or set a smaller tick (tick = \"50ms\")")
    );
    parse_text(&ticked(plain("[server]\nkeepalive = \"100ms\"\n"))).unwrap();
    refused(
        &ticked(mcp(
            "2025-11-25",
            "[client]\nkeepalive-expected = \"10ms\"\n",
        )),
        "client.keepalive-expected",
        "shorter than the tick",
    );
    refused(
        &ticked(format!(
            "{HEAD}{}{}",
            init(),
            step(
                "1s",
                "call-tool",
                "tool-duration = \"1m\"\nprogress-every = \"10ms\"\n"
            )
        )),
        "client.step[1].progress-every",
        "shorter than the tick",
    );
}

#[test]
fn checks_that_can_never_be_judged_are_refused() {
    let expect = |steps: &str, body: &str| format!("{HEAD}{steps}[[expect]]\n{body}");
    // No client step opens a stream: nothing to survive (the run used to pass, unobservable).
    let e = refused(
        &expect(&init(), "check = \"stream.survives\"\n"),
        "expect[0].check",
        "no client step opens a stream",
    );
    assert!(
        e.message
            .starts_with("check `stream.survives` can never be judged here"),
        "{e}"
    );
    refused(
        &expect("", "check = \"keepalive.cadence\"\ngap-max = \"20s\"\n"),
        "expect[0].check",
        "no client step opens a stream",
    );
    // A POST-stream check without a tool call.
    refused(
        &expect(
            &format!("{}{}", init(), step("1s", "open-get-stream", "")),
            "check = \"keepalive.on-post\"\ngap-max = \"20s\"\n",
        ),
        "expect[0].check",
        "no client step calls a tool",
    );
    // A resumption check on a plain stream named explicitly, and in a plain scenario.
    refused(
        &expect(
            &step("1s", "open-stream", ""),
            "check = \"client.resumes\"\nstream = \"main\"\n",
        ),
        "expect[0].stream",
        "stream `main` is not one",
    );
    refused(
        &expect(
            &step("1s", "open-stream", ""),
            "check = \"delivery.exactly-once\"\n",
        ),
        "expect[0].check",
        "the client speaks plain SSE",
    );
    // Nothing is resumed under 2026-07-28.
    refused(
        &format!(
            "protocol = [\"2026-07-28\"]\n{}",
            expect(
                &step("1s", "call-tool", "tool-duration = \"1m\"\n"),
                "check = \"replay.complete\"\n"
            )
        ),
        "expect[0].check",
        "resumes nothing",
    );
    // The MCP streams' default names count as opened.
    let s = parse_text(&expect(
        &format!(
            "{}{}{}",
            init(),
            step("1s", "open-get-stream", ""),
            step("2s", "call-tool", "tool-duration = \"1m\"\n")
        ),
        "check = \"client.resumes\"\nstream = \"get\"\n[[expect]]\ncheck = \"keepalive.cadence\"\nstream = \"call\"\ngap-max = \"20s\"\n",
    ))
    .unwrap();
    assert_eq!(s.expects.len(), 2);
    // Parameter errors come first, whatever the order of the tables.
    let e = err(&expect(
        &init(),
        "check = \"stream.survives\"\n[[expect]]\ncheck = \"keepalive.cadence\"\n",
    ));
    assert!(e.message.contains("missing required key `gap-max`"), "{e}");
}

#[test]
fn end_after_takes_a_span_or_the_kinds_of_mcp_response() {
    let s = parse_text(&mcp("2025-11-25", "[server]\nend-after = \"5s\"\n")).unwrap();
    assert_eq!(
        s.server.end_after,
        Some(EndAfter {
            after: secs(5),
            streams: SseKind::ALL.to_vec()
        })
    );
    let s = parse_text(&mcp(
        "2025-11-25",
        "[server]\nend-after = { after = \"5s\", streams = [\"replay\", \"get\"] }\n",
    ))
    .unwrap();
    let e = s.server.end_after.unwrap();
    assert_eq!(e.streams, [SseKind::Get, SseKind::Replay]);
    assert_eq!(e.deadline(SseKind::Post, secs(1)), None);
    assert_eq!(e.deadline(SseKind::Replay, secs(1)), Some(secs(6)));
    refused(
        &mcp(
            "2025-11-25",
            "[server]\nend-after = { after = \"5s\", streams = [] }\n",
        ),
        "server.end-after.streams",
        "is empty",
    );
    refused(
        &mcp(
            "2025-11-25",
            "[server]\nend-after = { after = \"5s\", streams = [\"get\", \"get\"] }\n",
        ),
        "server.end-after.streams[1]",
        "listed twice",
    );
    refused(
        &mcp("2025-11-25", "[server]\nend-after = { after = \"0s\" }\n"),
        "server.end-after.after",
        "is 0s",
    );
    let e = err(&mcp(
        "2025-11-25",
        "[server]\nend-after = { after = \"5s\", streams = [\"poll\"] }\n",
    ));
    assert!(
        e.message.contains("expected one of: get, post, replay"),
        "{e}"
    );
    let e = err(&mcp(
        "2025-11-25",
        "[server]\nend-after = { later = \"5s\" }\n",
    ));
    assert!(e.message.contains("unknown key `later`"), "{e}");
}

#[test]
fn resume_and_session_idle_timeout_parse() {
    for answer in ResumeAnswer::ALL {
        let s = parse_text(&mcp(
            "2025-11-25",
            &format!("[server]\nresume = \"{}\"\n", answer.word()),
        ))
        .unwrap();
        assert_eq!(s.server.resume, answer);
    }
    let e = err(&mcp("2025-11-25", "[server]\nresume = \"http-503\"\n"));
    assert!(
        e.message
            .contains("expected one of: replay, empty-200, http-404, http-500"),
        "{e}"
    );
    let s = parse_text(&mcp(
        "2025-11-25",
        "[server]\nsession-idle-timeout = \"5m\"\n",
    ))
    .unwrap();
    assert_eq!(s.server.session_idle_timeout, Some(secs(300)));
    assert!(s.server.session_idle_timeout_set);
    let s = parse_text(&mcp(
        "2025-11-25",
        "[server]\nsession-idle-timeout = \"off\"\n",
    ))
    .unwrap();
    assert_eq!(s.server.session_idle_timeout, None);
    assert!(s.server.session_idle_timeout_set);
    assert!(
        !parse_text(&mcp("2025-11-25", ""))
            .unwrap()
            .server
            .session_idle_timeout_set
    );
    refused(
        &mcp("2025-11-25", "[server]\nsession-idle-timeout = \"0s\"\n"),
        "server.session-idle-timeout",
        "is 0s",
    );
}

#[test]
fn reconnect_stream_needs_an_open_get_stream_and_an_id() {
    let get = format!("{}{}", init(), step("1s", "open-get-stream", ""));
    let s = parse_text(&format!(
        "{HEAD}{get}{}",
        step("5s", "reconnect-stream", "last-event-id = \"2\"\n")
    ))
    .unwrap();
    assert_eq!(
        s.client.steps[2].action,
        ClientAction::ReconnectStream {
            stream: "get".into(),
            last_event_id: "2".into()
        }
    );
    assert!(s.sets("client.step.reconnect-stream").is_some());
    refused(
        &format!("{HEAD}{get}{}", step("5s", "reconnect-stream", "")),
        "client.step[2]",
        "missing required key `last-event-id`",
    );
    // A tool call's stream is not a GET stream; a closed GET stream is not open.
    refused(
        &format!(
            "{HEAD}{get}{}{}",
            step("2s", "call-tool", "tool-duration = \"1m\"\n"),
            step(
                "5s",
                "reconnect-stream",
                "stream = \"call\"\nlast-event-id = \"2\"\n"
            )
        ),
        "client.step[3].stream",
        "not a GET stream open at this time",
    );
    let e = refused(
        &format!(
            "{HEAD}{get}{}{}",
            step("2s", "close-stream", "stream = \"get\"\n"),
            step("5s", "reconnect-stream", "last-event-id = \"2\"\n")
        ),
        "client.step[3]",
        "no GET stream is open then",
    );
    assert_eq!(e.line, 13, "{e}");
    refused(
        &format!(
            "{HEAD}{get}{}",
            step("5s", "reconnect-stream", "last-event-id = \"a b\"\n")
        ),
        "client.step[2].last-event-id",
        "invalid last-event-id",
    );
    refused(
        &format!(
            "{HEAD}{get}{}",
            step("5s", "ping", "last-event-id = \"2\"\n")
        ),
        "client.step[2].last-event-id",
        "applies only to do = \"open-get-stream\" or \"reconnect-stream\"",
    );
}

#[test]
fn the_keys_a_file_sets_are_recorded_where_they_are() {
    let s = parse_text(&mcp(
        "2025-11-25",
        "[server]\nend-after = \"5s\"\nx-accel-buffering-no = false\n[[fault]]\nat = \"1m\"\ndo = \"crash\"\nhost = \"server\"\n",
    ))
    .unwrap();
    let set: Vec<(&str, &str, usize)> = s
        .set_keys
        .iter()
        .map(|k| (k.key, k.at.path.as_str(), k.at.line))
        .collect();
    assert_eq!(
        set,
        [
            ("client.step.initialize", "client.step[0].do", 6),
            ("client.step.open-get-stream", "client.step[1].do", 9),
            ("server.end-after", "server.end-after", 11),
            (
                "server.x-accel-buffering-no",
                "server.x-accel-buffering-no",
                12
            ),
            ("fault", "fault[0]", 13),
        ]
    );
    assert_eq!(s.sets("server.end-after").map(|k| k.at.column), Some(13));
    assert!(s.sets("server.keepalive").is_none());
}

#[test]
fn explain_shows_the_new_keys() {
    let s = parse_text(&format!(
        "{}{}",
        mcp(
            "2025-11-25",
            "[server]\nend-after = { after = \"5s\", streams = [\"get\", \"replay\"] }\nresume = \"http-404\"\nsession-idle-timeout = \"5m\"\n"
        ),
        step("5s", "reconnect-stream", "last-event-id = \"3\"\n")
    ))
    .unwrap();
    let shown = crate::scenario::explain(&s);
    for line in [
        "ends each get/replay SSE response after 5s",
        "MCP 2025-11-25: event store on, retry 3s, a GET with Last-Event-ID answered http-404, sessions forgotten after 5m without a request",
        "[[client.step]] at = \"5s\", do = \"reconnect-stream\", last-event-id = \"3\", stream = \"get\"",
    ] {
        assert!(shown.contains(line), "{line}\n{shown}");
    }
    let plain =
        crate::scenario::explain(&parse_text(&plain("[server]\nend-after = \"5s\"\n")).unwrap());
    assert!(plain.contains("ends each response after 5s"), "{plain}");
    assert!(!plain.contains("MCP"), "{plain}");
}
