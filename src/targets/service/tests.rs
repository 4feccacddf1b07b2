use super::*;
use crate::check::Verdict;
use bytes::Bytes;
use http_body_util::channel::Channel;
use std::convert::Infallible;
use std::time::Duration;

/// A hand-written SSE server: one event, then a `: ping` comment every `keepalive`.
fn sse_server(keepalive: Option<Duration>) -> Rc<dyn ServerTarget> {
    ServiceTarget::new(move || {
        hyper::service::service_fn(move |_req| async move {
            let (mut tx, body) = Channel::<Bytes, Infallible>::new(8);
            tokio::task::spawn_local(async move {
                let _ = tx.send_data(Bytes::from_static(b"data: hello\n\n")).await;
                let Some(every) = keepalive else {
                    std::future::pending::<()>().await;
                    return;
                };
                loop {
                    tokio::time::sleep(every).await;
                    if tx
                        .send_data(Bytes::from_static(b": ping\n\n"))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            });
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .header("x-accel-buffering", "no")
                    .body(body)
                    .expect("valid head"),
            )
        })
    })
}

fn verdict(r: &crate::report::RunResult, id: &str) -> Verdict {
    r.checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("{id} checked"))
        .verdict
}

#[test]
fn a_service_with_keepalive_survives_nginx_and_without_it_is_cut_at_60s() {
    let s = crate::scenario::load(std::path::Path::new("scenarios/keepalive/nginx-30m.toml"))
        .expect("scenario loads");
    let ok = crate::suite::run_server(&s, "svc", sse_server(Some(Duration::from_secs(15))), None);
    assert!(!ok.unexpected, "{:?}", ok.checks);
    assert_eq!(verdict(&ok, "keepalive.format"), Verdict::Pass);
    // The server side is seen through the recording wrapper.
    let written = ok
        .trace
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::FrameWritten { .. }))
        .count();
    assert_eq!(
        written,
        1 + 119,
        "one event and a ping every 15 s for 29m59s"
    );

    let silent = crate::suite::run_server(&s, "svc", sse_server(None), None);
    assert!(silent.unexpected);
    assert_eq!(verdict(&silent, "stream.survives"), Verdict::Fail);
    let msg = &silent.checks[0].message;
    assert!(msg.contains("nginx (idle-timeout 60s"), "{msg}");
}

#[test]
fn a_list_of_files_runs_into_one_report() {
    let files = [
        std::path::PathBuf::from("scenarios/keepalive/nginx-30m.toml"),
        std::path::PathBuf::from("scenarios/keepalive/envoy.toml"),
    ];
    let ok = crate::suite::run_server_files(
        &files,
        "svc",
        sse_server(Some(Duration::from_secs(15))),
        None,
    )
    .unwrap();
    assert_eq!(ok.results.len(), 2);
    assert_eq!(ok.summary.unexpected, 0, "{:?}", ok.results);
    let silent = crate::suite::run_server_files(&files, "svc", sse_server(None), None).unwrap();
    assert_eq!(silent.summary.unexpected, 2);
    assert!(crate::suite::run_server_files(
        &[std::path::PathBuf::from("no/such/dir")],
        "svc",
        sse_server(None),
        None
    )
    .is_err());
}

/// A keepalive whose deadline comes from the real clock is always already due under
/// virtual time (as rmcp's through `sse-stream`): modelled here as a zero sleep.
#[test]
fn a_keepalive_that_never_lets_virtual_time_advance_is_stopped_and_diagnosed() {
    let flooding = ServiceTarget::new(|| {
        hyper::service::service_fn(|_req| async {
            let (mut tx, body) = Channel::<Bytes, Infallible>::new(8);
            tokio::task::spawn_local(async move {
                loop {
                    tokio::time::sleep(Duration::ZERO).await;
                    if tx.send_data(Bytes::from_static(b":\n\n")).await.is_err() {
                        break;
                    }
                }
            });
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(body)
                    .expect("valid head"),
            )
        })
    });
    let s = crate::scenario::load(std::path::Path::new("scenarios/keepalive/nginx-30m.toml"))
        .expect("scenario loads");
    let r = crate::suite::run_server(&s, "flood", flooding, None);
    assert!(r.unexpected);
    let e = r.error.expect("the run is stopped with a diagnosis");
    assert!(
        e.starts_with("virtual time stood still at 00:00:01.004"),
        "{e}"
    );
    assert!(e.contains("read the real clock"), "{e}");
    assert!(r.trace.events.len() as u64 <= crate::trace::STALL_LIMIT + 20);
    // The stop is in the trace, and the 30-minute liveness checks cannot pass on a run
    // stopped after 1 s: the stream was open and (over-)kept alive until then, no more.
    assert_eq!(r.trace.stopped_at(), Some(Duration::from_millis(1_004)));
    for id in ["stream.survives", "keepalive.cadence"] {
        let c = r.checks.iter().find(|c| c.id == id).expect("checked");
        assert_eq!(
            c.verdict,
            crate::check::Verdict::Unobservable,
            "{id}: {}",
            c.message
        );
        assert!(
            c.message.starts_with("the run was stopped at 00:00:01.004"),
            "{}",
            c.message
        );
    }
}

/// An MCP server whose GET stream carries an event id no HTTP header can hold (a control
/// character), then ends: the client reconnects without `Last-Event-ID` (it panicked
/// building the request).
#[test]
fn an_event_id_no_header_can_carry_is_not_sent_back() {
    use http_body_util::{BodyExt, Full};
    let server = ServiceTarget::new(|| {
        hyper::service::service_fn(|req: Request<Incoming>| async move {
            let get = req.method() == hyper::Method::GET;
            let body = req.into_body().collect().await.map(|b| b.to_bytes());
            let msg: serde_json::Value =
                serde_json::from_slice(&body.unwrap_or_default()).unwrap_or_default();
            let r = Response::builder().header("mcp-session-id", "s1");
            let r = if get {
                r.header("content-type", "text/event-stream").body(Full::new(
                        Bytes::from_static(b"id: a\x01b\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n"),
                    ))
            } else if msg["method"] == "initialize" {
                let answer = serde_json::json!({"jsonrpc": "2.0", "id": msg["id"], "result": {
                        "protocolVersion": "2025-11-25", "capabilities": {},
                        "serverInfo": {"name": "t", "version": "1"}}});
                r.header("content-type", "application/json")
                    .body(Full::new(Bytes::from(answer.to_string())))
            } else {
                r.status(202).body(Full::new(Bytes::new()))
            };
            Ok::<_, Infallible>(r.expect("valid response"))
        })
    });
    let s = crate::scenario::parse(
            "id.toml",
            "description = \"d\"\nduration = \"10s\"\n[[client.step]]\nat = \"0s\"\ndo = \"initialize\"\n[[client.step]]\nat = \"1s\"\ndo = \"open-get-stream\"\n",
        )
        .unwrap();
    let r = crate::suite::run_server(&s, "odd-id", server, None);
    assert_eq!(r.error, None);
    let gets: Vec<&Option<String>> = r
        .trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::RequestSent {
                method,
                last_event_id,
                ..
            } if method == "GET" => Some(last_event_id),
            _ => None,
        })
        .collect();
    assert!(gets.len() >= 2, "the stream was reopened: {gets:?}");
    assert!(gets.iter().all(|id| id.is_none()), "{gets:?}");
}

/// A server writing 65 KB data events as fast as it can, on virtual time: the socket's
/// window holds it back, the byte budget stops the run, and the trace keeps 4 KiB of each.
#[test]
fn a_data_flood_is_stopped_by_the_byte_budget_and_kept_cut() {
    let flooding = ServiceTarget::new(|| {
        hyper::service::service_fn(|_req| async {
            let (mut tx, body) = Channel::<Bytes, Infallible>::new(8);
            let event = Bytes::from(format!("data: {}\n\n", "x".repeat(65_000)));
            tokio::task::spawn_local(
                async move { while tx.send_data(event.clone()).await.is_ok() {} },
            );
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(body)
                    .expect("valid head"),
            )
        })
    });
    let s = crate::scenario::parse(
            "flood.toml",
            "description = \"d\"\nduration = \"1m\"\n[[client.step]]\nat = \"1s\"\ndo = \"open-stream\"\n[[expect]]\ncheck = \"stream.survives\"\n",
        )
        .unwrap();
    let r = crate::suite::run_server(&s, "flood", flooding, None);
    assert!(r.unexpected);
    assert_eq!(r.verdict, crate::report::ResultVerdict::Fail);
    let e = r.error.expect("the run is stopped with a diagnosis");
    assert!(e.starts_with("byte budget exhausted at 00:00:0"), "{e}");
    assert!(e.contains("over its budget of 65.1 MiB"), "{e}");
    let mut frames = 0;
    for ev in &r.trace.events {
        if let EventKind::FrameWritten {
            frame: crate::sse::Frame::Event { data, .. },
            ..
        } = &ev.kind
        {
            frames += 1;
            let c = crate::sse::cut::parse(data).expect("kept cut");
            assert_eq!((c.kept.len(), c.len), (4096, 65_000));
        }
    }
    assert!((400..2_000).contains(&frames), "{frames}");
}
