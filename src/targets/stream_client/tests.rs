use super::*;
use http_body_util::BodyExt;

/// A hyper SSE client that reads for `for_s` seconds (for ever when `None`).
struct Hyper {
    for_s: Option<u64>,
}

impl StreamClient for Hyper {
    fn stream(
        &self,
        io: RecordedIo,
        host: String,
        path: String,
    ) -> Pin<Box<dyn Future<Output = ()>>> {
        let for_s = self.for_s;
        Box::pin(async move {
            let io = hyper_util::rt::TokioIo::new(io);
            let Ok((mut send, conn)) = hyper::client::conn::http1::handshake(io).await else {
                return;
            };
            tokio::task::spawn_local(conn);
            let req = hyper::Request::get(path)
                .header("host", host)
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap();
            let Ok(resp) = send.send_request(req).await else {
                return;
            };
            let mut body = resp.into_body();
            let read = async { while let Some(Ok(_)) = body.frame().await {} };
            match for_s {
                Some(s) => {
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(s), read).await;
                }
                None => read.await,
            }
        })
    }
}

fn nginx() -> crate::scenario::Scenario {
    crate::scenario::load(std::path::Path::new("scenarios/keepalive/nginx-30m.toml")).unwrap()
}

#[test]
fn a_client_that_reads_on_survives_and_one_that_lets_go_is_seen_closing_its_stream() {
    let ok = crate::suite::run_client(
        &nginx(),
        "hyper",
        StreamClientTarget::new(Hyper { for_s: None }),
        None,
    );
    assert!(!ok.unexpected, "{:?} {:?}", ok.error, ok.checks);
    let sent = ok
        .trace
        .events
        .iter()
        .find(|e| matches!(e.kind, EventKind::RequestSent { .. }))
        .expect("the request head was seen going out");
    assert_eq!(sent.host, "client");

    let quits = crate::suite::run_client(
        &nginx(),
        "hyper",
        StreamClientTarget::new(Hyper { for_s: Some(20) }),
        None,
    );
    // The client let go after 20 s of reading: the trace says so, at that time, and the
    // check sees the client (not a proxy) ending the stream.
    let closed = quits
        .trace
        .events
        .iter()
        .find(|e| {
            matches!(
                &e.kind,
                EventKind::ConnClosed { by: Closer::Client, reason }
                    if reason == "the client dropped the connection"
            )
        })
        .expect("the drop is recorded");
    assert_eq!(closed.at.as_secs(), 21, "{}", crate::time::stamp(closed.at));
    let c = quits
        .checks
        .iter()
        .find(|c| c.id == "stream.survives")
        .unwrap();
    assert!(
        c.message.contains("only the client closed"),
        "{}",
        c.message
    );
}

#[test]
fn mcp_scenarios_are_refused_with_a_reason() {
    let s = crate::scenario::load(std::path::Path::new(
        "scenarios/keepalive/mcp-get-nginx.toml",
    ))
    .unwrap();
    let r = crate::suite::run_client(
        &s,
        "hyper",
        StreamClientTarget::new(Hyper { for_s: None }),
        None,
    );
    let e = r.error.expect("refused");
    assert!(e.contains("plain SSE scenarios"), "{e}");
}
