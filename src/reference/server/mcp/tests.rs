use super::*;
use crate::scenario::{Scenario, ServerNotification};
use crate::sim::{ClientEnv, ClientTarget, HostFuture};
use crate::sse::Parser;
use crate::trace::{Closer, Event, StreamEnd, Trace};
use hyper::body::Incoming;
use std::future::Future;
use std::pin::Pin;
use tokio::task::JoinHandle;
use turmoil::net::TcpStream;

type Script = fn(ClientEnv) -> Pin<Box<dyn Future<Output = ()>>>;

struct ScriptClient(Script);

impl ClientTarget for ScriptClient {
    fn run(&self, env: ClientEnv) -> HostFuture {
        let end = env.scenario.duration;
        let script = (self.0)(env);
        Box::pin(async move {
            script.await;
            until(end).await;
            Ok(())
        })
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

async fn until(at: Duration) {
    tokio::time::sleep(at.saturating_sub(now())).await;
}

/// One request on its own connection, answered.
struct Exchange {
    conn: ConnId,
    resp: Response<Incoming>,
    _sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    driver: JoinHandle<Result<(), hyper::Error>>,
}

async fn send(
    env: &ClientEnv,
    method: &str,
    session: Option<&str>,
    last_event_id: Option<&str>,
    body: Option<Value>,
) -> Exchange {
    let conn = env.host.conns.allocate();
    let tcp = TcpStream::connect((env.first_hop.as_str(), env.port))
        .await
        .expect("connect");
    env.host
        .conns
        .register(tcp.local_addr().expect("addr"), conn);
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .expect("handshake");
    let driver = tokio::task::spawn_local(connection);
    let mut b = hyper::Request::builder()
        .method(method)
        .uri("/mcp")
        .header("host", env.first_hop.as_str())
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json");
    if let Some(s) = session {
        b = b
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", env.scenario.revision().as_str());
    }
    if let Some(l) = last_event_id {
        b = b.header("last-event-id", l);
    }
    let body = body.map(|v| v.to_string()).unwrap_or_default();
    let req = b.body(Full::new(Bytes::from(body))).expect("request");
    let resp = sender.send_request(req).await.expect("response");
    Exchange {
        conn,
        resp,
        _sender: sender,
        driver,
    }
}

/// POST one JSON-RPC message; the answer's status, session header and body.
async fn post(env: &ClientEnv, session: Option<&str>, msg: Value) -> (u16, Option<String>, String) {
    let x = send(env, "POST", session, None, Some(msg)).await;
    let status = x.resp.status().as_u16();
    let sid = x
        .resp
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_string());
    let body = x.resp.into_body().collect().await.expect("body").to_bytes();
    x.driver.abort();
    (status, sid, String::from_utf8_lossy(&body).into_owned())
}

/// initialize + notifications/initialized; the session id (if any).
async fn initialize(env: &ClientEnv) -> Option<String> {
    let (status, sid, _) = post(
        env,
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = post(
        env,
        sid.as_deref(),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(status, 202);
    sid
}

fn call(id: u64, duration_ms: u64, every_ms: Option<u64>) -> Value {
    let mut args = json!({"duration_ms": duration_ms});
    if let Some(m) = every_ms {
        args["progress_every_ms"] = json!(m);
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "sleep", "arguments": args, "_meta": {"progressToken": id}}})
}

/// Reads an SSE body (recording `Received` at the client) until it ends or `close_at`,
/// then closes the connection.
async fn read(env: &ClientEnv, x: Exchange, close_at: Option<Duration>) {
    let rec = env.host.recorder.clone();
    let conn = Some(x.conn);
    let mut body = x.resp.into_body();
    let mut parser = Parser::new();
    let deadline = close_at.unwrap_or(Duration::MAX);
    loop {
        tokio::select! {
            biased; // fixed branch order: tokio picks a random one otherwise, and ties happen on virtual time
            f = body.frame() => match f {
                Some(Ok(f)) => {
                    if let Some(d) = f.data_ref() {
                        let frames = parser.feed(d);
                        rec.record("client", conn, EventKind::Received { bytes: d.len(), frames });
                    }
                }
                Some(Err(_)) => break,
                None => {
                    rec.record("client", conn, EventKind::StreamEnded { how: StreamEnd::Complete });
                    break;
                }
            },
            _ = until(deadline) => {
                rec.record("client", conn, EventKind::ConnClosed { by: Closer::Client, reason: "test".into() });
                break;
            }
        }
    }
    drop(body);
    x.driver.abort();
}

fn scenario(revision: &str, duration: &str) -> Scenario {
    let text = format!(
            "description = \"mcp server test\"\nprotocol = [\"{revision}\"]\nduration = \"{duration}\"\n[[client.step]]\nat = \"0s\"\ndo = \"initialize\"\n"
        );
    crate::scenario::parse("mem.toml", &text).expect("valid scenario")
}

fn notify_at(s: &mut Scenario, at: &[u64]) {
    s.server.notifications = at
        .iter()
        .map(|t| ServerNotification {
            at: secs(*t),
            method: "notifications/tools/list_changed".into(),
        })
        .collect();
}

fn run(s: &Scenario, script: Script) -> Trace {
    let server = crate::reference::server::build(&s.server);
    let out = crate::sim::run(s, server, Rc::new(ScriptClient(script)), 1);
    assert_eq!(out.error, None);
    out.trace
}

fn on(t: &Trace, host: &str, conn: u32) -> Vec<Event> {
    t.events
        .iter()
        .filter(|e| e.host == host && e.conn == Some(ConnId(conn)))
        .cloned()
        .collect()
}

/// Frames the server wrote on a connection: (time, frame, timer).
fn written(t: &Trace, conn: u32) -> Vec<(Duration, Frame, Option<u32>)> {
    on(t, "server", conn)
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::FrameWritten { frame, timer } => Some((e.at, frame, timer)),
            _ => None,
        })
        .collect()
}

/// Event ids and data of the events the client received on a connection.
fn received_events(t: &Trace, conn: u32) -> Vec<(String, String)> {
    on(t, "client", conn)
        .into_iter()
        .flat_map(|e| match e.kind {
            EventKind::Received { frames, .. } => frames,
            _ => Vec::new(),
        })
        .filter_map(|f| match f {
            Frame::Event { id, data, .. } => Some((id.unwrap_or_default(), data)),
            _ => None,
        })
        .collect()
}

fn kinds(t: &Trace, conn: u32) -> Vec<EventKind> {
    on(t, "server", conn).into_iter().map(|e| e.kind).collect()
}

fn status(t: &Trace, conn: u32) -> u16 {
    kinds(t, conn)
        .into_iter()
        .find_map(|k| match k {
            EventKind::ResponseStarted { status, .. } => Some(status),
            _ => None,
        })
        .expect("a response")
}

/// When the server started its response on a connection.
fn started_at(t: &Trace, conn: u32) -> Duration {
    on(t, "server", conn)
        .iter()
        .find(|e| matches!(e.kind, EventKind::ResponseStarted { .. }))
        .expect("a response")
        .at
}

fn event(id: &str, data: &str) -> Frame {
    Frame::Event {
        name: None,
        id: Some(id.into()),
        data: data.into(),
    }
}

fn keepalive_times(t: &Trace, conn: u32) -> Vec<Duration> {
    written(t, conn)
        .into_iter()
        .filter(|(_, f, timer)| matches!(f, Frame::Comment { .. }) && timer.is_some())
        .map(|(at, _, _)| at)
        .collect()
}

#[test]
fn revisions_parse_and_say_what_they_have() {
    for r in Revision::ALL {
        assert_eq!(Revision::parse(r.as_str()), Some(r));
    }
    assert_eq!(Revision::parse("2024-11-05"), None);
    assert!(Revision::V2025_03_26.has_sessions() && !Revision::V2025_03_26.primes());
    assert!(Revision::V2025_11_25.primes());
    let r = Revision::V2026_07_28;
    assert!(!r.has_sessions() && !r.primes() && r.cancels_on_close());
}

#[test]
fn accept_ranges_are_matched_by_type() {
    let parts = |accept: &str| {
        hyper::Request::get("/mcp")
            .header("accept", accept)
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let both = parts("application/json, text/event-stream");
    assert!(accepts(&both, "application/json") && accepts(&both, "text/event-stream"));
    assert!(accepts(&parts("*/*"), "text/event-stream"));
    assert!(accepts(&parts("text/*;q=0.5"), "text/event-stream"));
    assert!(!accepts(&parts("text/event-stream"), "application/json"));
    let none = hyper::Request::get("/mcp").body(()).unwrap().into_parts().0;
    assert!(!accepts(&none, "text/event-stream"));
}

#[test]
fn sleep_calls_are_validated() {
    let ok = SleepCall::from_params(&json!({"name": "sleep",
            "arguments": {"duration_ms": 5, "progress_every_ms": 2}, "_meta": {"progressToken": 9}}))
        .unwrap();
    assert_eq!(
        ok,
        SleepCall {
            duration_ms: 5,
            progress_every_ms: Some(2),
            progress_token: Some(json!(9))
        }
    );
    for bad in [
        json!({"name": "nap", "arguments": {"duration_ms": 5}}),
        json!({"arguments": {"duration_ms": 5}}),
        json!({"name": "sleep", "arguments": {}}),
        json!({"name": "sleep", "arguments": {"duration_ms": -1}}),
        json!({"name": "sleep", "arguments": {"duration_ms": 5, "progress_every_ms": 0}}),
    ] {
        let e = SleepCall::from_params(&bad).unwrap_err();
        assert_eq!(e.code, jsonrpc::INVALID_PARAMS, "{bad}");
    }
}

const NOTIFICATION: &str = r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#;

#[test]
fn initialize_then_a_primed_get_stream_with_keepalives_and_a_notification() {
    let mut s = scenario("2025-11-25", "90s");
    notify_at(&mut s, &[10]);
    let t = run(&s, |env| {
        Box::pin(async move {
            let sid = initialize(&env).await.expect("a session");
            assert_eq!(sid, "s1");
            until(secs(1)).await;
            let x = send(&env, "GET", Some(&sid), None, None).await;
            read(&env, x, Some(secs(50))).await;
        })
    });
    // conn#1: initialize → JSON with the session header.
    let k1 = kinds(&t, 1);
    assert!(k1.contains(&EventKind::RpcReceived {
        method: "initialize".into(),
        id: Some(1),
        session: None
    }));
    assert!(t.events.iter().any(|e| e.kind
        == EventKind::SessionCreated {
            session: "s1".into()
        }));
    assert!(k1.iter().any(
        |k| matches!(k, EventKind::ResponseStarted { status: 200, content_type: Some(c), headers }
            if c == "application/json" && headers.contains(&("mcp-session-id".into(), "s1".into())))
    ));
    // conn#2: notifications/initialized → 202.
    assert!(kinds(&t, 2).contains(&EventKind::RpcReceived {
        method: "notifications/initialized".into(),
        id: None,
        session: Some("s1".into())
    }));
    assert_eq!(status(&t, 2), 202);
    // conn#3: the GET stream.
    let k3 = kinds(&t, 3);
    assert!(k3.contains(&EventKind::StreamAttached {
        stream: "g1".into(),
        kind: "get".into(),
        session: "s1".into()
    }));
    assert!(k3.contains(&EventKind::TimerArmed {
        timer: 1,
        every: secs(15)
    }));
    let w = written(&t, 3);
    assert_eq!(w[0].1, event("1", ""), "priming event first");
    assert_eq!(w[1].1, Frame::Retry { ms: 3000 });
    assert_eq!(w[2], (secs(10), event("2", NOTIFICATION), None));
    let ka = keepalive_times(&t, 3);
    assert!(ka.len() >= 3, "{ka:?}");
    assert_eq!(ka[0], started_at(&t, 3) + secs(15));
    assert!(ka.windows(2).all(|p| p[1] - p[0] == secs(15)), "{ka:?}");
    assert_eq!(
        w.iter()
            .find(|(_, f, _)| matches!(f, Frame::Comment { .. }))
            .map(|(_, f, timer)| (f.clone(), *timer)),
        Some((
            Frame::Comment {
                text: " keepalive".into()
            },
            Some(1)
        ))
    );
    // The notification reached the client with its id.
    assert!(received_events(&t, 3).contains(&("2".into(), NOTIFICATION.into())));
    // After the client left, the first failing write clears the timer; nothing follows.
    let fail = k3
        .iter()
        .position(|k| matches!(k, EventKind::WriteFailed { timer: Some(1), .. }))
        .expect("a failed keepalive write");
    assert_eq!(k3[fail + 1], EventKind::TimerCleared { timer: 1 });
    assert_eq!(k3.len(), fail + 2, "nothing after the timer is cleared");
}

#[test]
fn a_tool_call_is_answered_over_sse_with_progress_then_the_result() {
    let s = scenario("2025-11-25", "40s");
    let t = run(&s, |env| {
        Box::pin(async move {
            let sid = initialize(&env).await.expect("a session");
            until(secs(1)).await;
            let x = send(
                &env,
                "POST",
                Some(&sid),
                None,
                Some(call(2, 20_000, Some(8_000))),
            )
            .await;
            assert_eq!(x.resp.headers()["content-type"], "text/event-stream");
            read(&env, x, None).await;
        })
    });
    let k = kinds(&t, 3);
    assert!(k.contains(&EventKind::StreamAttached {
        stream: "p1".into(),
        kind: "post".into(),
        session: "s1".into()
    }));
    let t0 = started_at(&t, 3);
    let w: Vec<(Duration, Frame)> = written(&t, 3)
        .into_iter()
        .map(|(a, f, _)| (a - t0, f))
        .collect();
    let progress = |id: &str, p: u64| {
        event(
            id,
            &format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progress":{p},"progressToken":2,"total":20000}}}}"#
            ),
        )
    };
    assert_eq!(
        w,
        vec![
            (secs(0), event("1", "")),
            (secs(0), Frame::Retry { ms: 3000 }),
            (secs(8), progress("2", 8000)),
            (
                secs(15),
                Frame::Comment {
                    text: " keepalive".into()
                }
            ),
            (secs(16), progress("3", 16000)),
            (
                secs(20),
                event(
                    "4",
                    r#"{"id":2,"jsonrpc":"2.0","result":{"content":[{"text":"slept 20000 ms","type":"text"}]}}"#
                )
            ),
        ]
    );
    let tail: Vec<&EventKind> = k.iter().rev().take(2).collect();
    assert_eq!(
        tail,
        [
            &EventKind::TimerCleared { timer: 1 },
            &EventKind::ResponseEnded
        ]
    );
    assert!(on(&t, "client", 3).iter().any(|e| e.kind
        == EventKind::StreamEnded {
            how: StreamEnd::Complete
        }));
}

/// GET at 1s, dropped by the client at 15s, resumed at 40s with the last id it saw.
fn resume_script(env: ClientEnv) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let sid = initialize(&env).await.expect("a session");
        until(secs(1)).await;
        let x = send(&env, "GET", Some(&sid), None, None).await;
        read(&env, x, Some(secs(15))).await;
        until(secs(40)).await;
        let x = send(&env, "GET", Some(&sid), Some("2"), None).await;
        read(&env, x, Some(secs(58))).await;
    })
}

fn resume_scenario() -> Scenario {
    let mut s = scenario("2025-11-25", "70s");
    notify_at(&mut s, &[10, 20, 30, 45]);
    s
}

#[test]
fn a_get_with_last_event_id_replays_exactly_the_missed_events_then_goes_live() {
    let t = run(&resume_scenario(), resume_script);
    // conn#3 saw priming (1) and the notification at 10s (2).
    let first: Vec<String> = received_events(&t, 3).into_iter().map(|e| e.0).collect();
    assert_eq!(first, ["1", "2"]);
    let k = kinds(&t, 4);
    assert!(k.contains(&EventKind::StreamAttached {
        stream: "g1".into(),
        kind: "replay".into(),
        session: "s1".into()
    }));
    assert!(k.contains(&EventKind::ReplayStarted {
        stream: "g1".into(),
        after: "2".into(),
        events: 2
    }));
    assert!(k.iter().any(|k| matches!(k, EventKind::TimerArmed { .. })));
    let events: Vec<(Duration, Frame)> = written(&t, 4)
        .into_iter()
        .filter(|(_, f, _)| matches!(f, Frame::Event { .. }))
        .map(|(a, f, _)| (a, f))
        .collect();
    assert_eq!(
        events,
        vec![
            (started_at(&t, 4), event("3", NOTIFICATION)),
            (started_at(&t, 4), event("4", NOTIFICATION)),
            (secs(45), event("5", NOTIFICATION)),
        ],
        "replayed 3 and 4 (no priming again), then 5 live"
    );
    let got: Vec<String> = received_events(&t, 4).into_iter().map(|e| e.0).collect();
    assert_eq!(got, ["3", "4", "5"]);
    assert!(
        keepalive_times(&t, 4).contains(&(started_at(&t, 4) + secs(15))),
        "the replay connection keeps its own keepalive"
    );
}

#[test]
fn one_seed_gives_one_trace() {
    let s = resume_scenario();
    assert_eq!(run(&s, resume_script), run(&s, resume_script));
}

#[test]
fn replay_without_keepalive_defect_arms_no_timer_on_the_replay_connection() {
    let mut s = resume_scenario();
    s.server.defects.replay_without_keepalive = true;
    let t = run(&s, resume_script);
    let k = kinds(&t, 4);
    assert!(k
        .iter()
        .any(|k| matches!(k, EventKind::ReplayStarted { events: 2, .. })));
    assert!(!k.iter().any(|k| matches!(k, EventKind::TimerArmed { .. })));
    assert!(keepalive_times(&t, 4).is_empty());
    // Fresh streams still get theirs.
    assert!(kinds(&t, 3).contains(&EventKind::TimerArmed {
        timer: 1,
        every: secs(15)
    }));
}

/// A GET stream (conn#3, closed by the client at 30s) and a 100 s tool call (conn#4).
fn two_streams(env: ClientEnv) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let sid = initialize(&env).await.expect("a session");
        until(secs(1)).await;
        let get = send(&env, "GET", Some(&sid), None, None).await;
        let get = tokio::task::spawn_local({
            let env = env.clone();
            async move { read(&env, get, Some(secs(30))).await }
        });
        until(secs(2)).await;
        let x = send(&env, "POST", Some(&sid), None, Some(call(2, 100_000, None))).await;
        read(&env, x, None).await;
        let _ = get.await;
    })
}

fn cleared(t: &Trace) -> Vec<(Duration, Option<ConnId>, u32)> {
    t.events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::TimerCleared { timer } => Some((e.at, e.conn, timer)),
            _ => None,
        })
        .collect()
}

#[test]
fn every_stream_owns_its_timer() {
    let t = run(&scenario("2025-11-25", "130s"), two_streams);
    let c = cleared(&t);
    assert_eq!(c.len(), 2, "{c:?}");
    assert_eq!((c[0].1, c[0].2), (Some(ConnId(3)), 1), "GET's own timer");
    assert_eq!(
        (c[1].1, c[1].2),
        (Some(ConnId(4)), 2),
        "the call's, at its end"
    );
    let t0 = started_at(&t, 4);
    assert_eq!(c[1].0, t0 + secs(100));
    let ka = keepalive_times(&t, 4);
    let expected: Vec<Duration> = (1..=6).map(|k| t0 + secs(15 * k)).collect();
    assert_eq!(ka, expected, "cadence intact after GET closed");
}

#[test]
fn shared_keepalive_timer_defect_stops_the_other_streams_keepalive_and_leaks_its_own() {
    let mut s = scenario("2025-11-25", "130s");
    s.server.defects.shared_keepalive_timer = true;
    let t = run(&s, two_streams);
    let c = cleared(&t);
    // The GET stream's failure cleared the timer in the slot: the call's (timer#2).
    assert_eq!(c.len(), 1, "{c:?}");
    let (at, conn, timer) = c[0];
    assert_eq!((conn, timer), (Some(ConnId(4)), 2));
    assert!(at < secs(102), "cleared while the call still runs");
    let ka = keepalive_times(&t, 4);
    assert!(
        ka.iter().all(|k| *k < at),
        "no keepalive on the call after {at:?}: {ka:?}"
    );
    // timer#1 is never cleared: it keeps failing on the gone GET connection.
    let fails = kinds(&t, 3)
        .into_iter()
        .filter(|k| matches!(k, EventKind::WriteFailed { timer: Some(1), .. }))
        .count();
    assert!(fails >= 5, "{fails} failed writes by the leaked timer");
}

/// The defects of `bug/cf-agents-0.12.4` (cloudflare/agents#1583).
fn cf_agents(duration: &str) -> Scenario {
    let mut s = scenario("2025-11-25", duration);
    s.server.defects.no_stream_keepalive = true;
    s.server.defects.transport_keepalive = Some(secs(30));
    s.server.defects.background_cancel_after = Some(secs(30));
    s
}

/// (time, timer) pairs.
type TimerLog = Vec<(Duration, u32)>;

/// (time, timer) of every `TimerArmed` / `TimerCleared` on a connection.
fn timer_events(t: &Trace, conn: u32) -> (TimerLog, TimerLog) {
    let (mut armed, mut cleared) = (Vec::new(), Vec::new());
    for e in on(t, "server", conn) {
        match e.kind {
            EventKind::TimerArmed { timer, .. } => armed.push((e.at, timer)),
            EventKind::TimerCleared { timer } => cleared.push((e.at, timer)),
            _ => {}
        }
    }
    (armed, cleared)
}

#[test]
fn cf_agents_defect_pings_with_a_named_event_until_the_runtime_cancels_it() {
    let t = run(&cf_agents("150s"), |env| {
        Box::pin(async move {
            let sid = initialize(&env).await.expect("a session");
            until(secs(1)).await;
            let x = send(&env, "GET", Some(&sid), None, None).await;
            read(&env, x, Some(secs(140))).await;
        })
    });
    let t0 = started_at(&t, 3);
    let (armed, cleared) = timer_events(&t, 3);
    assert_eq!(
        armed,
        [(t0, 1)],
        "one timer (the transport's), no per-stream timer"
    );
    assert!(kinds(&t, 3).contains(&EventKind::TimerArmed {
        timer: 1,
        every: secs(30)
    }));
    assert_eq!(
        cleared,
        [(t0 + secs(30), 1)],
        "cancelled 30 s after the start"
    );
    let w: Vec<(Duration, Frame, Option<u32>)> = written(&t, 3)
        .into_iter()
        .map(|(a, f, timer)| (a - t0, f, timer))
        .collect();
    let ping = Frame::Event {
        name: Some("ping".into()),
        id: None,
        data: String::new(),
    };
    assert_eq!(
        w,
        vec![
            (secs(0), event("1", ""), None),
            (secs(0), Frame::Retry { ms: 3000 }, None),
            (secs(30), ping, Some(1)),
        ],
        "the ping due at the cancellation instant runs; nothing after it"
    );
    // The ping is written before the clear at the same instant.
    let k = kinds(&t, 3);
    let ping_at = k
        .iter()
        .position(|k| matches!(k, EventKind::FrameWritten { timer: Some(1), .. }))
        .expect("a ping");
    assert_eq!(k[ping_at + 1], EventKind::TimerCleared { timer: 1 });
    assert!(keepalive_times(&t, 3).is_empty(), "no comment keepalive");
}

#[test]
fn cf_agents_defect_keeps_the_transport_keepalive_after_a_failed_write() {
    let mut s = cf_agents("60s");
    notify_at(&mut s, &[20]);
    let t = run(&s, |env| {
        Box::pin(async move {
            let sid = initialize(&env).await.expect("a session");
            until(secs(1)).await;
            let x = send(&env, "GET", Some(&sid), None, None).await;
            read(&env, x, Some(secs(10))).await;
        })
    });
    let t0 = started_at(&t, 3);
    let events = on(&t, "server", 3);
    let failed: Vec<(Duration, Option<u32>)> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::WriteFailed { timer, .. } => Some((e.at, timer)),
            _ => None,
        })
        .collect();
    assert_eq!(
        failed,
        [(secs(20), None), (t0 + secs(30), Some(1))],
        "the notification fails, the timer still fires and fails at 30 s"
    );
    let (_, cleared) = timer_events(&t, 3);
    assert_eq!(
        cleared,
        [(t0 + secs(30), 1)],
        "only the runtime's cancellation clears it"
    );
}

#[test]
fn events_no_connection_takes_are_recorded_as_held_back() {
    // The call's POST stream is read for 3 s only; its connection is gone by the time
    // the later progress events come, which are kept for a replay.
    let t = run(&scenario("2025-11-25", "60s"), |env| {
        Box::pin(async move {
            let sid = initialize(&env).await.expect("a session");
            until(secs(1)).await;
            let x = send(
                &env,
                "POST",
                Some(&sid),
                None,
                Some(call(2, 20_000, Some(5_000))),
            )
            .await;
            read(&env, x, Some(secs(3))).await;
        })
    });
    let held: Vec<(String, String, bool)> = t
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::EventHeldBack {
                stream, id, kept, ..
            } if e.host == "server" && e.conn.is_none() => {
                Some((stream.clone(), id.clone(), *kept))
            }
            _ => None,
        })
        .collect();
    assert!(!held.is_empty(), "{held:?}");
    assert!(
        held.iter().all(|(stream, _, kept)| stream == "p1" && *kept),
        "{held:?}"
    );
}

#[test]
fn a_dropped_post_stream_is_resumed_with_its_remaining_events_and_ends_after_its_result() {
    let t = run(&scenario("2025-11-25", "60s"), |env| {
        Box::pin(async move {
            let sid = initialize(&env).await.expect("a session");
            until(secs(1)).await;
            let x = send(
                &env,
                "POST",
                Some(&sid),
                None,
                Some(call(2, 20_000, Some(5_000))),
            )
            .await;
            read(&env, x, Some(secs(3))).await;
            until(secs(30)).await;
            let x = send(&env, "GET", Some(&sid), Some("1"), None).await;
            read(&env, x, None).await;
        })
    });
    assert!(kinds(&t, 4).contains(&EventKind::ReplayStarted {
        stream: "p1".into(),
        after: "1".into(),
        events: 4
    }));
    let got: Vec<String> = received_events(&t, 4).into_iter().map(|e| e.0).collect();
    assert_eq!(
        got,
        ["2", "3", "4", "5"],
        "three progress events and the result"
    );
    assert!(received_events(&t, 4)[3].1.contains("slept 20000 ms"));
    assert!(kinds(&t, 4).contains(&EventKind::ResponseEnded));
}

#[test]
fn refusals_sessions_and_termination() {
    let t = run(&scenario("2025-06-18", "30s"), |env| {
        Box::pin(async move {
            let sid = initialize(&env).await.expect("a session"); // conn#1, #2
            let ping = json!({"jsonrpc": "2.0", "id": 5, "method": "ping"});
            assert_eq!(post(&env, None, ping.clone()).await.0, 400); // conn#3
            assert_eq!(post(&env, Some("s9"), ping.clone()).await.0, 404); // conn#4
            let (st, _, body) = post(&env, Some(&sid), ping.clone()).await; // conn#5
            assert_eq!(
                (st, body.as_str()),
                (200, r#"{"id":5,"jsonrpc":"2.0","result":{}}"#)
            );
            let (_, _, body) = post(
                &env,
                Some(&sid),
                json!({"jsonrpc": "2.0", "id": 6, "method": "nope"}),
            )
            .await; // conn#6
            assert!(body.contains("-32601"), "{body}");
            let (_, _, body) = post(
                &env,
                Some(&sid),
                json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}),
            )
            .await; // conn#7
            assert!(body.contains(r#""name":"sleep""#), "{body}");
            let x = send(&env, "GET", Some(&sid), Some("7"), None).await; // conn#8
            assert_eq!(x.resp.status().as_u16(), 400, "unknown event id");
            let x = send(&env, "GET", Some(&sid), None, None).await; // conn#9
            let reader = tokio::task::spawn_local({
                let env = env.clone();
                async move { read(&env, x, None).await }
            });
            until(secs(5)).await;
            let x = send(&env, "DELETE", Some(&sid), None, None).await; // conn#10
            assert_eq!(x.resp.status().as_u16(), 200);
            let _ = reader.await;
            assert_eq!(post(&env, Some(&sid), ping).await.0, 404); // conn#11
                                                                   // Another session cannot resume s1's ids.
            let other = initialize(&env).await.expect("a second session"); // conn#12, #13
            assert_eq!(other, "s2");
            let x = send(&env, "GET", Some(&other), Some("1"), None).await; // conn#14
            assert_eq!(x.resp.status().as_u16(), 400, "s2 has no event 1");
        })
    });
    assert_eq!(status(&t, 3), 400);
    assert_eq!(status(&t, 4), 404);
    assert_eq!(status(&t, 8), 400);
    // 2025-06-18: no priming; the GET stream starts silent and gets keepalives.
    assert!(written(&t, 9)
        .iter()
        .all(|(_, f, timer)| matches!(f, Frame::Comment { .. }) && timer.is_some()));
    assert!(t.events.iter().any(|e| e.kind
        == EventKind::SessionTerminated {
            session: "s1".into()
        }));
    let k9 = kinds(&t, 9);
    let end = k9
        .iter()
        .position(|k| *k == EventKind::ResponseEnded)
        .expect("DELETE ends the GET stream");
    assert_eq!(k9[end + 1], EventKind::TimerCleared { timer: 1 });
    assert_eq!(status(&t, 11), 404);
    assert_eq!(status(&t, 14), 400);
}

#[test]
fn revision_2026_has_no_sessions_no_get_and_cancels_a_closed_call() {
    let t = run(&scenario("2026-07-28", "60s"), |env| {
        Box::pin(async move {
            assert_eq!(initialize(&env).await, None); // conn#1, #2
            let x = send(&env, "GET", None, None, None).await; // conn#3
            assert_eq!(x.resp.status().as_u16(), 405);
            let x = send(
                &env,
                "POST",
                None,
                None,
                Some(call(2, 40_000, Some(10_000))),
            )
            .await; // conn#4
            read(&env, x, Some(secs(3))).await;
        })
    });
    assert!(!t
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::SessionCreated { .. })));
    assert_eq!(status(&t, 3), 405);
    let k = kinds(&t, 4);
    assert!(k.contains(&EventKind::StreamAttached {
        stream: "p1".into(),
        kind: "post".into(),
        session: NO_SESSION.into()
    }));
    // No priming; the first write after the client left fails, which cancels the call:
    // nothing of the tool is attempted afterwards and no result is ever produced.
    let fail = k
        .iter()
        .position(|k| matches!(k, EventKind::WriteFailed { .. }))
        .unwrap_or_else(|| panic!("a failed write: {}", crate::trace::render_text(&t)));
    assert!(
        k[fail + 1..]
            .iter()
            .all(|k| matches!(k, EventKind::TimerCleared { .. })),
        "{k:?}"
    );
    assert!(!t.events.iter().any(|e| matches!(&e.kind,
            EventKind::FrameWritten { frame: Frame::Event { data, .. }, .. } if data.contains("slept"))));
    assert!(written(&t, 4)
        .iter()
        .all(|(_, f, _)| !matches!(f, Frame::Event { data, .. } if data.is_empty())));
}

/// A GET (conn#3) the client keeps reading until 60s, as a connection cut somewhere
/// the server cannot see; a second GET at 10s (conn#4) with `last` as Last-Event-ID.
fn second_get(last: Option<&'static str>) -> Script {
    fn with(env: ClientEnv, last: Option<&'static str>) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(async move {
            let sid = initialize(&env).await.expect("a session");
            until(secs(1)).await;
            let x = send(&env, "GET", Some(&sid), None, None).await;
            let first = tokio::task::spawn_local({
                let env = env.clone();
                async move { read(&env, x, Some(secs(60))).await }
            });
            until(secs(10)).await;
            let x = send(&env, "GET", Some(&sid), last, None).await;
            read(&env, x, Some(secs(60))).await;
            let _ = first.await;
        })
    }
    match last {
        None => |env| with(env, None),
        Some(_) => |env| with(env, Some("1")),
    }
}

fn at_of(t: &Trace, conn: u32, kind: &EventKind) -> Option<Duration> {
    on(t, "server", conn)
        .into_iter()
        .find(|e| &e.kind == kind)
        .map(|e| e.at)
}

#[test]
fn a_second_standalone_get_supersedes_the_first() {
    let mut s = scenario("2025-11-25", "70s");
    notify_at(&mut s, &[20]);
    let t = run(&s, second_get(None));
    assert_eq!(status(&t, 4), 200, "never a 409");
    let t4 = Some(started_at(&t, 4));
    assert_eq!(at_of(&t, 3, &EventKind::ResponseEnded), t4);
    assert_eq!(
        at_of(&t, 3, &EventKind::TimerCleared { timer: 1 }),
        t4,
        "the old response's keepalive ends with it"
    );
    assert!(kinds(&t, 4).contains(&EventKind::StreamAttached {
        stream: "g2".into(),
        kind: "get".into(),
        session: "s1".into()
    }));
    // The notification at 20s goes to the new GET only.
    assert!(written(&t, 4).contains(&(secs(20), event("3", NOTIFICATION), None)));
    assert!(written(&t, 3).iter().all(|(at, _, _)| Some(*at) <= t4));
}

#[test]
fn a_resumption_of_the_get_stream_supersedes_its_older_connection() {
    let mut s = scenario("2025-11-25", "70s");
    notify_at(&mut s, &[5, 20]);
    let t = run(&s, second_get(Some("1")));
    assert_eq!(status(&t, 4), 200);
    assert!(kinds(&t, 4).contains(&EventKind::ReplayStarted {
        stream: "g1".into(),
        after: "1".into(),
        events: 1
    }));
    let t4 = Some(started_at(&t, 4));
    assert_eq!(at_of(&t, 3, &EventKind::ResponseEnded), t4);
    assert_eq!(at_of(&t, 3, &EventKind::TimerCleared { timer: 1 }), t4);
    assert!(written(&t, 4).contains(&(secs(20), event("3", NOTIFICATION), None)));
    let k3 = kinds(&t, 3);
    assert!(
        !k3.iter()
            .any(|k| matches!(k, EventKind::WriteFailed { .. })),
        "nothing is written to the superseded connection: {k3:?}"
    );
}

/// GET (conn#3) closed by the client at 5s; a notification at 8s makes the server
/// notice; GETs at 6s (conn#4), 10s (conn#5, Last-Event-ID 1) and 12s (conn#6, none).
fn reopen_script(env: ClientEnv) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let sid = initialize(&env).await.expect("a session");
        until(secs(1)).await;
        let x = send(&env, "GET", Some(&sid), None, None).await;
        read(&env, x, Some(secs(5))).await;
        until(secs(6)).await;
        let x = send(&env, "GET", Some(&sid), None, None).await;
        read(&env, x, Some(secs(7))).await;
        until(secs(10)).await;
        let x = send(&env, "GET", Some(&sid), Some("1"), None).await;
        read(&env, x, Some(secs(11))).await;
        until(secs(12)).await;
        let x = send(&env, "GET", Some(&sid), None, None).await;
        read(&env, x, Some(secs(13))).await;
    })
}

fn reopen_scenario(guard: Option<GetGuard>) -> Trace {
    let mut s = scenario("2025-11-25", "20s");
    notify_at(&mut s, &[8]);
    s.server.defects.get_guard = guard;
    run(&s, reopen_script)
}

#[test]
fn the_reference_lets_every_reopened_get_through() {
    let t = reopen_scenario(None);
    assert_eq!([4, 5, 6].map(|c| status(&t, c)), [200; 3]);
}

#[test]
fn get_guard_never_released_refuses_every_later_get_with_400() {
    let t = reopen_scenario(Some(GetGuard::NeverReleased));
    assert_eq!(status(&t, 3), 200);
    assert_eq!(
        [4, 5, 6].map(|c| status(&t, c)),
        [400; 3],
        "even after the server noticed the first GET was gone"
    );
    assert!(
        t.events.iter().any(|e| e.conn == Some(ConnId(3))
            && e.at == secs(8)
            && matches!(e.kind, EventKind::WriteFailed { .. })),
        "the server noticed at 8s"
    );
}

#[test]
fn get_guard_until_noticed_answers_409_until_a_write_to_the_old_get_fails() {
    let t = reopen_scenario(Some(GetGuard::UntilNoticed));
    assert_eq!(
        status(&t, 4),
        409,
        "6s: the server still believes conn#3 is open"
    );
    assert_eq!(
        status(&t, 5),
        200,
        "10s: the failed write at 8s released it"
    );
    assert!(kinds(&t, 5)
        .iter()
        .any(|k| matches!(k, EventKind::ReplayStarted { .. })));
    assert_eq!(
        status(&t, 6),
        409,
        "12s: conn#5's stream is believed open again (its keepalive has not failed yet)"
    );
}

fn long_call_2026(defect: bool) -> Trace {
    let mut s = scenario("2026-07-28", "60s");
    s.server.defects.post_without_keepalive_2026 = defect;
    run(&s, |env| {
        Box::pin(async move {
            initialize(&env).await; // conn#1, #2
            let x = send(&env, "POST", None, None, Some(call(2, 40_000, None))).await;
            read(&env, x, None).await; // conn#3
        })
    })
}

#[test]
fn post_without_keepalive_2026_defect_leaves_the_call_silent() {
    let fixed = long_call_2026(false);
    assert_eq!(keepalive_times(&fixed, 3).len(), 2, "15s and 30s");
    let t = long_call_2026(true);
    assert!(!kinds(&t, 3)
        .iter()
        .any(|k| matches!(k, EventKind::TimerArmed { .. })));
    assert!(keepalive_times(&t, 3).is_empty());
    assert!(received_events(&t, 3)[0].1.contains("slept 40000 ms"));
    // Other revisions keep their POST keepalive.
    let mut s = scenario("2025-11-25", "30s");
    s.server.defects.post_without_keepalive_2026 = true;
    let t = run(&s, |env| {
        Box::pin(async move {
            let sid = initialize(&env).await;
            let x = send(
                &env,
                "POST",
                sid.as_deref(),
                None,
                Some(call(2, 20_000, None)),
            )
            .await;
            read(&env, x, None).await;
        })
    });
    assert_eq!(keepalive_times(&t, 3).len(), 1);
}

/// Session s1 reads its GET (conn#3, ids 1..); session s2 (conn#4, #5) sends a GET with
/// a guessed `Last-Event-ID: 2` at 12s (conn#6).
fn guessed_id(defect: bool) -> Trace {
    let mut s = scenario("2025-11-25", "40s");
    notify_at(&mut s, &[5, 10, 20]);
    s.server.defects.replay_crosses_sessions = defect;
    run(&s, |env| {
        Box::pin(async move {
            let s1 = initialize(&env).await.expect("s1");
            let x = send(&env, "GET", Some(&s1), None, None).await;
            let first = tokio::task::spawn_local({
                let env = env.clone();
                async move { read(&env, x, Some(secs(30))).await }
            });
            until(secs(11)).await;
            let s2 = initialize(&env).await.expect("s2");
            until(secs(12)).await;
            let x = send(&env, "GET", Some(&s2), Some("2"), None).await;
            read(&env, x, Some(secs(30))).await;
            let _ = first.await;
        })
    })
}

#[test]
fn the_reference_refuses_an_id_of_another_session() {
    let t = guessed_id(false);
    assert_eq!(status(&t, 6), 400);
    let got: Vec<String> = received_events(&t, 3).into_iter().map(|e| e.0).collect();
    assert_eq!(got, ["1", "2", "3", "4"], "s1 keeps its stream");
}

#[test]
fn replay_crosses_sessions_defect_replays_and_takes_another_sessions_stream() {
    let t = guessed_id(true);
    assert_eq!(status(&t, 6), 200);
    let k = kinds(&t, 6);
    assert!(k.contains(&EventKind::StreamAttached {
        stream: "g1".into(),
        kind: "replay".into(),
        session: "s2".into()
    }));
    assert!(k.contains(&EventKind::ReplayStarted {
        stream: "g1".into(),
        after: "2".into(),
        events: 1
    }));
    let got: Vec<String> = received_events(&t, 6).into_iter().map(|e| e.0).collect();
    assert_eq!(got, ["3", "4"], "s1's notification of 10s, then of 20s");
    assert!(received_events(&t, 6)[0].1.contains("list_changed"));
    let got: Vec<String> = received_events(&t, 3).into_iter().map(|e| e.0).collect();
    assert_eq!(got, ["1", "2", "3"], "s1 lost its notification of 20s");
}

/// A GET (conn#3, closed by the client at 20s) and a 30 s tool call with progress every
/// 5 s (conn#4) interleave their ids: 1 g1 priming, 2 p1 priming, 3 progress (7s), 4
/// notification (10s), 5, 6, 7 progress (12s, 17s, 22s), 8 notification (23s). At 25s
/// the GET stream is resumed after 4 (conn#5).
fn interleaved(all_streams: bool) -> Trace {
    let mut s = scenario("2025-11-25", "40s");
    notify_at(&mut s, &[10, 23]);
    s.server.defects.replay_all_streams = all_streams;
    run(&s, |env| {
        Box::pin(async move {
            let sid = initialize(&env).await.expect("a session");
            until(secs(1)).await;
            let get = send(&env, "GET", Some(&sid), None, None).await;
            let get = tokio::task::spawn_local({
                let env = env.clone();
                async move { read(&env, get, Some(secs(20))).await }
            });
            until(secs(2)).await;
            let x = send(
                &env,
                "POST",
                Some(&sid),
                None,
                Some(call(2, 30_000, Some(5_000))),
            )
            .await;
            let post = tokio::task::spawn_local({
                let env = env.clone();
                async move { read(&env, x, None).await }
            });
            until(secs(25)).await;
            let x = send(&env, "GET", Some(&sid), Some("4"), None).await;
            read(&env, x, Some(secs(38))).await;
            let _ = (get.await, post.await);
        })
    })
}

fn ids_on(t: &Trace, conn: u32) -> Vec<String> {
    received_events(t, conn).into_iter().map(|e| e.0).collect()
}

#[test]
fn the_reference_replays_only_the_resumed_streams_events() {
    let t = interleaved(false);
    assert!(kinds(&t, 5).contains(&EventKind::ReplayStarted {
        stream: "g1".into(),
        after: "4".into(),
        events: 1
    }));
    assert_eq!(ids_on(&t, 5), ["8"]);
}

#[test]
fn replay_all_streams_defect_replays_the_tool_calls_events_on_the_get_stream() {
    let t = interleaved(true);
    let k = kinds(&t, 5);
    assert!(k.contains(&EventKind::StreamAttached {
        stream: "g1".into(),
        kind: "replay".into(),
        session: "s1".into()
    }));
    assert!(k.contains(&EventKind::ReplayStarted {
        stream: "g1".into(),
        after: "4".into(),
        events: 4
    }));
    assert_eq!(
        ids_on(&t, 5),
        ["5", "6", "7", "8"],
        "p1's progress 5, 6, 7 too"
    );
    assert!(received_events(&t, 5)[0]
        .1
        .contains("notifications/progress"));
    // Live events still go to their own stream only: p1's progress of 27s and result.
    assert_eq!(
        ids_on(&t, 4),
        ["2", "3", "5", "6", "7", "9", "10"],
        "the call's own connection is unchanged"
    );
}

#[test]
fn replay_standalone_lost_defect_replays_nothing_and_sends_no_later_notification() {
    let mut s = resume_scenario();
    s.server.defects.replay_standalone_lost = true;
    let t = run(&s, resume_script);
    let k = kinds(&t, 4);
    assert!(k.contains(&EventKind::StreamAttached {
        stream: "''".into(),
        kind: "replay".into(),
        session: "s1".into()
    }));
    assert!(k.contains(&EventKind::ReplayStarted {
        stream: "''".into(),
        after: "2".into(),
        events: 0
    }));
    assert!(
        !written(&t, 4)
            .iter()
            .any(|(_, f, _)| matches!(f, Frame::Event { .. })),
        "neither the missed notifications 3, 4 nor the live one of 45s"
    );
    assert!(ids_on(&t, 4).is_empty());
    assert!(
        keepalive_times(&t, 4).contains(&(started_at(&t, 4) + secs(15))),
        "the lost connection looks healthy: its keepalive flows"
    );
    // The notification of 45s was issued an id (5) and kept, but written nowhere.
    assert!(!t
        .events
        .iter()
        .any(|e| e.at == secs(45) && matches!(e.kind, EventKind::FrameWritten { .. })));
}

#[test]
fn replay_standalone_lost_defect_still_resumes_a_post_stream() {
    let mut s = scenario("2025-11-25", "60s");
    s.server.defects.replay_standalone_lost = true;
    let t = run(&s, |env| {
        Box::pin(async move {
            let sid = initialize(&env).await.expect("a session");
            until(secs(1)).await;
            let x = send(
                &env,
                "POST",
                Some(&sid),
                None,
                Some(call(2, 20_000, Some(5_000))),
            )
            .await;
            read(&env, x, Some(secs(3))).await;
            until(secs(30)).await;
            let x = send(&env, "GET", Some(&sid), Some("1"), None).await;
            read(&env, x, None).await;
        })
    });
    assert!(kinds(&t, 4).contains(&EventKind::ReplayStarted {
        stream: "p1".into(),
        after: "1".into(),
        events: 4
    }));
    assert_eq!(ids_on(&t, 4), ["2", "3", "4", "5"]);
}
