use super::*;

fn body_of(obs: &[Observed]) -> Vec<u8> {
    obs.iter()
        .filter_map(|o| match o {
            Observed::Body(b) => Some(b.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

const SSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nMcp-Session-Id: s1\r\nTransfer-Encoding: chunked\r\n\r\n\
        d\r\n: keepalive\n\n\r\n\
        15\r\nid: 1\ndata: {\"a\":1}\n\n\r\n\
        0\r\n\r\n";

#[test]
fn a_chunked_sse_response_yields_its_head_its_body_without_framing_and_its_end() {
    let obs = ResponseReader::default().feed(SSE);
    assert_eq!(
        obs[0],
        Observed::Started {
            status: 200,
            content_type: Some("text/event-stream".into()),
            headers: vec![
                ("content-type".into(), "text/event-stream".into()),
                ("mcp-session-id".into(), "s1".into()),
                ("transfer-encoding".into(), "chunked".into()),
            ],
        }
    );
    assert_eq!(body_of(&obs), b": keepalive\n\nid: 1\ndata: {\"a\":1}\n\n");
    assert_eq!(obs.last(), Some(&Observed::Ended));
}

#[test]
fn any_split_of_the_bytes_gives_the_same_body_and_one_end() {
    for cut in 1..SSE.len() {
        let mut r = ResponseReader::default();
        let mut obs = r.feed(&SSE[..cut]);
        obs.extend(r.feed(&SSE[cut..]));
        assert_eq!(
            body_of(&obs),
            b": keepalive\n\nid: 1\ndata: {\"a\":1}\n\n",
            "cut {cut}"
        );
        let ends = obs.iter().filter(|o| **o == Observed::Ended).count();
        let starts = obs
            .iter()
            .filter(|o| matches!(o, Observed::Started { .. }))
            .count();
        assert_eq!((starts, ends), (1, 1), "cut {cut}: {obs:?}");
    }
}

#[test]
fn content_length_bodies_end_when_complete_and_202_without_a_body_ends_at_once() {
    let mut r = ResponseReader::default();
    let obs = r.feed(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n{}");
    assert_eq!(obs.last(), Some(&Observed::Body(b"{}".to_vec())));
    assert_eq!(
        r.feed(b"\r\n"),
        vec![Observed::Body(b"\r\n".to_vec()), Observed::Ended]
    );
    let obs = ResponseReader::default().feed(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n");
    assert_eq!(obs.last(), Some(&Observed::Ended));
    let mut r = ResponseReader::default();
    r.feed(b"HTTP/1.1 200 OK\r\n\r\ndata: x\n\n");
    assert_eq!(r.closed(), Some(Observed::Ended));
}

#[test]
fn garbage_is_reported_not_followed() {
    let obs = ResponseReader::default().feed(b"SSH-2.0-OpenSSH\r\n\r\n");
    assert!(matches!(obs[0], Observed::Garbled(_)), "{obs:?}");
}

#[test]
fn endless_chunk_sizes_trailers_and_bodies_cost_bounded_memory() {
    let mut r = ResponseReader::default();
    r.feed(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
    let mut garbled = Vec::new();
    for _ in 0..100 {
        garbled.extend(r.feed(&[b'f'; 1024]));
    }
    assert_eq!(
        garbled,
        vec![Observed::Garbled(
            "chunk size line longer than 4096 bytes".into()
        )]
    );
    assert!(matches!(r.part, Part::Done));
    let mut t = ResponseReader::default();
    t.feed(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n");
    let mut obs = Vec::new();
    for _ in 0..100 {
        obs.extend(t.feed(&[b'x'; 1024]));
    }
    assert!(matches!(obs[..], [Observed::Garbled(_)]), "{obs:?}");
    let mut q = RequestHead::default();
    let head = format!(
        "POST /mcp HTTP/1.1\r\ncontent-length: {}\r\n\r\n",
        1u64 << 40
    );
    assert_eq!(q.feed(head.as_bytes()).len(), 1, "the head is seen");
    for _ in 0..100 {
        assert_eq!(q.feed(&[b'x'; 64 * 1024]), vec![]);
    }
    assert!(q.buf.capacity() < 64 * 1024, "{}", q.buf.capacity());
}

#[test]
fn requests_give_their_head_once_then_their_body() {
    let mut h = RequestHead::default();
    assert_eq!(
        h.feed(b"GET /mcp?poll=1 HTTP/1.1\r\nHost: server\r\n"),
        vec![]
    );
    assert_eq!(
        h.feed(b"Mcp-Session-Id: s1\r\n\r\n"),
        vec![RequestSeen::Head {
            method: "GET".into(),
            path: "/mcp".into(),
            session: Some("s1".into()),
            last_event_id: None,
        }]
    );
    assert_eq!(h.feed(b"more"), vec![]);
    let mut p = RequestHead::default();
    let seen = p.feed(b"POST /mcp HTTP/1.1\r\ncontent-length: 7\r\n\r\n{\"a\"");
    assert_eq!(seen.len(), 1);
    assert_eq!(
        p.feed(b":1}"),
        vec![RequestSeen::Body(b"{\"a\":1}".to_vec())]
    );
    assert_eq!(p.feed(b"x"), vec![]);
}
