//! The reference MCP client against a small scripted MCP server (`FakeServer`): sessions,
//! an event store with ids `1, 2, 3...` per server, GET connections that can be cut after N
//! events or refused, replay after `Last-Event-ID`, and the `sleep` tool over SSE.

use super::*;
use crate::scenario::{ClientAction, ClientStep, Scenario};
use crate::sim::{HostFuture, ServerEnv, ServerTarget};
use crate::trace::{Event, Trace};
use http_body_util::channel::{Channel, Sender};
use http_body_util::Either;
use hyper::{Request, Response};
use std::collections::BTreeMap;
use std::convert::Infallible;
use tokio::sync::Notify;
use turmoil::net::TcpListener;

/// What one GET request gets from the fake server.
#[derive(Clone, Debug)]
enum Plan {
    /// A 200 SSE stream; `cut_after`: abort the connection once that many events were
    /// written; `comment_first`: write a comment before anything else.
    Serve {
        cut_after: Option<usize>,
        comment_first: bool,
    },
    /// Answer this status with an empty body.
    Refuse(u16),
    /// A 200 SSE stream the server ends cleanly (the body's terminator) once that many
    /// events were written.
    End(usize),
}

/// How the fake server stops writing a stream after some events.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// Aborts the connection (no terminator).
    Cut,
    /// Ends the response cleanly.
    End,
}

const SERVE: Plan = Plan::Serve {
    cut_after: None,
    comment_first: false,
};

fn cut_after(n: usize) -> Plan {
    Plan::Serve {
        cut_after: Some(n),
        comment_first: false,
    }
}

#[derive(Clone, Debug)]
struct FakeConfig {
    /// Answer `initialize` with `Mcp-Session-Id: s1`.
    sessions: bool,
    /// Store a `notifications/message` for the GET stream this often after `initialize`.
    notify_every: Option<Duration>,
    /// The k-th GET request's plan; later ones are served without a cut.
    get_plans: Vec<Plan>,
    /// Cut the `tools/call` POST stream after this many events.
    call_cut_after: Option<usize>,
    /// Start every new SSE stream (not a resumption) with a priming event (`id`, empty
    /// data), with this `retry`.
    priming: Option<Option<u64>>,
    /// Replay from `Last-Event-ID - overlap` (a server re-sending events already sent).
    replay_overlap: u64,
    /// Write a `: k` comment on SSE streams after this much time without a write.
    keepalive: Option<Duration>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            sessions: true,
            notify_every: None,
            get_plans: Vec::new(),
            call_cut_after: None,
            priming: None,
            replay_overlap: 0,
            keepalive: None,
        }
    }
}

/// A request as the fake server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    /// Path and query.
    path: String,
    headers: BTreeMap<String, String>,
    body: Option<Value>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn rpc(&self) -> Option<&str> {
        self.body.as_ref()?.get("method")?.as_str()
    }
}

/// One stored event of a server stream (`g` for the GET stream, `p1` for the call).
struct Stored {
    id: u64,
    stream: String,
    data: String,
}

#[derive(Default)]
struct FakeState {
    seen: Vec<Seen>,
    last_id: u64,
    log: Vec<Stored>,
    /// Priming event ids, with their stream.
    primes: BTreeMap<u64, String>,
    /// Streams whose last event was stored (the call's result).
    done: BTreeSet<String>,
    gets: usize,
    /// `initialize` requests answered: the n-th gets session `s<n>`.
    inits: usize,
}

impl FakeState {
    fn alloc(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    fn store(&mut self, stream: &str, data: String) {
        let id = self.alloc();
        self.log.push(Stored {
            id,
            stream: stream.into(),
            data,
        });
    }

    fn stream_of(&self, id: u64) -> Option<String> {
        self.log
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.stream.clone())
            .or_else(|| self.primes.get(&id).cloned())
    }
}

#[derive(Clone)]
struct FakeServer {
    cfg: Rc<FakeConfig>,
    state: Rc<RefCell<FakeState>>,
    news: Rc<Notify>,
}

impl FakeServer {
    fn new(cfg: FakeConfig) -> Self {
        FakeServer {
            cfg: Rc::new(cfg),
            state: Rc::default(),
            news: Rc::new(Notify::new()),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.borrow().seen.clone()
    }

    fn store(&self, stream: &str, data: String) {
        self.state.borrow_mut().store(stream, data);
        self.news.notify_waiters();
    }
}

type Body = Either<Full<Bytes>, Channel<Bytes, std::io::Error>>;

fn plain(status: u16, body: &str, headers: &[(&str, &str)]) -> Response<Body> {
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(Either::Left(Full::new(Bytes::from(body.to_string()))))
        .expect("valid response")
}

impl ServerTarget for FakeServer {
    fn serve(&self, env: ServerEnv) -> HostFuture {
        let fake = self.clone();
        Box::pin(async move {
            let listener = TcpListener::bind(("0.0.0.0", env.port)).await?;
            loop {
                let (stream, _) = listener.accept().await?;
                let fake = fake.clone();
                tokio::task::spawn_local(async move {
                    let svc = hyper::service::service_fn(move |req| fake.clone().handle(req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        })
    }
}

impl FakeServer {
    async fn handle(self, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        let method = req.method().to_string();
        let path = req.uri().to_string();
        let headers: BTreeMap<String, String> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let bytes = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body = serde_json::from_slice::<Value>(&bytes).ok();
        let seen = Seen {
            method,
            path,
            headers,
            body,
        };
        self.state.borrow_mut().seen.push(seen.clone());
        let json = [("content-type", "application/json")];
        match seen.method.as_str() {
            "DELETE" => Ok(plain(200, "", &[])),
            "GET" if seen.path.ends_with("?poll=1") => Ok(self.poll(&seen)),
            "GET" => Ok(self.get(&seen)),
            _ => {
                let id = seen.body.as_ref().and_then(|b| b.get("id")).cloned();
                match seen.rpc() {
                    Some("initialize") => {
                        if let Some(every) = self.cfg.notify_every {
                            tokio::task::spawn_local(self.clone().notifier(every));
                        }
                        let answer = json!({"jsonrpc": "2.0", "id": id, "result": {}}).to_string();
                        let sid = {
                            let mut st = self.state.borrow_mut();
                            st.inits += 1;
                            format!("s{}", st.inits)
                        };
                        let mut h = vec![json[0]];
                        if self.cfg.sessions {
                            h.push(("mcp-session-id", sid.as_str()));
                        }
                        Ok(plain(200, &answer, &h))
                    }
                    Some("notifications/initialized") => Ok(plain(202, "", &[])),
                    Some("ping") => Ok(plain(
                        200,
                        &json!({"jsonrpc": "2.0", "id": id, "result": {}}).to_string(),
                        &json,
                    )),
                    Some("tools/call") => Ok(self.call(&seen)),
                    _ => Ok(plain(400, "", &[])),
                }
            }
        }
    }

    /// Stores a GET-stream notification every `every`, forever.
    async fn notifier(self, every: Duration) {
        for n in 1u64.. {
            tokio::time::sleep(every).await;
            let data = json!({"jsonrpc": "2.0", "method": "notifications/message",
                              "params": {"n": n}});
            self.store("g", data.to_string());
        }
    }

    /// `tools/call` of `sleep`: the tool runs on its own task (it outlives a cut stream),
    /// storing progress and its result on stream `p1`, answered over SSE.
    fn call(&self, seen: &Seen) -> Response<Body> {
        let body = seen.body.clone().unwrap_or_default();
        let id = body["id"].as_u64().unwrap_or(0);
        let args = &body["params"]["arguments"];
        let duration = Duration::from_millis(args["duration_ms"].as_u64().unwrap_or(0));
        let every = args["progress_every_ms"]
            .as_u64()
            .map(Duration::from_millis);
        let cursor = self.state.borrow().last_id;
        let fake = self.clone();
        tokio::task::spawn_local(async move {
            let start = crate::sim::now();
            let mut k = 1u32;
            while let Some(at) = every.map(|e| e * k).filter(|at| *at < duration) {
                sleep_until(start + at).await;
                let data = json!({"jsonrpc": "2.0", "method": "notifications/progress",
                                  "params": {"progressToken": id, "progress": k}});
                fake.store("p1", data.to_string());
                k += 1;
            }
            sleep_until(start + duration).await;
            let result = json!({"jsonrpc": "2.0", "id": id, "result": {"content": [
                {"type": "text", "text": format!("slept {} ms", duration.as_millis())}]}});
            fake.state.borrow_mut().done.insert("p1".into());
            fake.store("p1", result.to_string());
        });
        let stop = self.cfg.call_cut_after.map(|n| (n, Stop::Cut));
        self.sse("p1", cursor, stop, false, true)
    }

    /// A poll: the GET stream's stored events after `Last-Event-ID` (all without it), then
    /// the end of the response.
    fn poll(&self, seen: &Seen) -> Response<Body> {
        let after = seen
            .header("last-event-id")
            .and_then(|l| l.parse::<u64>().ok())
            .unwrap_or(0);
        let body: String = self
            .state
            .borrow()
            .log
            .iter()
            .filter(|e| e.stream == "g" && e.id > after)
            .map(|e| format!("id: {}\ndata: {}\n\n", e.id, e.data))
            .collect();
        plain(200, &body, &[("content-type", "text/event-stream")])
    }

    fn get(&self, seen: &Seen) -> Response<Body> {
        let k = {
            let mut st = self.state.borrow_mut();
            st.gets += 1;
            st.gets - 1
        };
        let plan = self.cfg.get_plans.get(k).cloned().unwrap_or(SERVE);
        let (stop, comment_first) = match plan {
            Plan::Refuse(status) => return plain(status, "", &[]),
            Plan::Serve {
                cut_after,
                comment_first,
            } => (cut_after.map(|n| (n, Stop::Cut)), comment_first),
            Plan::End(n) => (Some((n, Stop::End)), false),
        };
        let st = self.state.borrow();
        let (stream, cursor) = match seen.header("last-event-id") {
            Some(l) => {
                let Some((id, stream)) = l
                    .parse::<u64>()
                    .ok()
                    .and_then(|id| Some((id, st.stream_of(id)?)))
                else {
                    return plain(400, "", &[]);
                };
                (stream, id.saturating_sub(self.cfg.replay_overlap))
            }
            None => ("g".to_string(), st.last_id),
        };
        drop(st);
        let primed = seen.header("last-event-id").is_none();
        self.sse(&stream, cursor, stop, comment_first, primed)
    }

    fn sse(
        &self,
        stream: &str,
        cursor: u64,
        stop: Option<(usize, Stop)>,
        comment_first: bool,
        primed: bool,
    ) -> Response<Body> {
        let (tx, body) = Channel::new(64);
        tokio::task::spawn_local(self.clone().writer(
            tx,
            stream.to_string(),
            cursor,
            stop,
            comment_first,
            primed,
        ));
        Response::builder()
            .status(200)
            .header("content-type", "text/event-stream")
            .body(Either::Right(body))
            .expect("valid response")
    }

    /// Writes stream `stream`'s stored events after `cursor`, then new ones as they come;
    /// ends after the stream's last event, or stops as `stop` says after that many events.
    async fn writer(
        self,
        mut tx: Sender<Bytes, std::io::Error>,
        stream: String,
        mut cursor: u64,
        stop: Option<(usize, Stop)>,
        comment_first: bool,
        primed: bool,
    ) {
        if let Some(retry) = self.cfg.priming.filter(|_| primed) {
            let id = {
                let mut st = self.state.borrow_mut();
                let id = st.alloc();
                st.primes.insert(id, stream.clone());
                id
            };
            let retry = retry.map(|ms| format!("retry: {ms}\n")).unwrap_or_default();
            if tx
                .send_data(Bytes::from(format!("id: {id}\n{retry}data:\n\n")))
                .await
                .is_err()
            {
                return;
            }
        }
        if comment_first && tx.send_data(Bytes::from(": hi\n\n")).await.is_err() {
            return;
        }
        let mut written = 0;
        loop {
            match stop {
                Some((n, Stop::Cut)) if n == written => {
                    // Let the written bytes leave before the connection is aborted.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    tx.abort(std::io::Error::other("cut by the fake server"));
                    return;
                }
                Some((n, Stop::End)) if n == written => return,
                _ => {}
            }
            let next = {
                let st = self.state.borrow();
                st.log
                    .iter()
                    .find(|s| s.stream == stream && s.id > cursor)
                    .map(|s| (s.id, s.data.clone()))
            };
            match next {
                Some((id, data)) => {
                    let frame = format!("id: {id}\ndata: {data}\n\n");
                    if tx.send_data(Bytes::from(frame)).await.is_err() {
                        return;
                    }
                    cursor = id;
                    written += 1;
                }
                None if self.state.borrow().done.contains(&stream) => return,
                None => match self.cfg.keepalive {
                    Some(every) => {
                        tokio::select! {
                            biased;
                            () = self.news.notified() => {}
                            () = tokio::time::sleep(every) => {
                                if tx.send_data(Bytes::from(": k\n\n")).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    None => self.news.notified().await,
                },
            }
        }
    }
}

/// Sleeps until virtual time `at` (from the simulation start).
async fn sleep_until(at: Duration) {
    tokio::time::sleep(at.saturating_sub(crate::sim::now())).await;
}

// ── scenarios and trace helpers ──────────────────────────────────────────────

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn scenario(revision: &str, duration_ms: u64, steps: Vec<(u64, ClientAction)>) -> Scenario {
    let mut s = crate::scenario::parse(
        "mem.toml",
        &format!("description = \"mcp client\"\nduration = \"{duration_ms}ms\"\n"),
    )
    .expect("minimal scenario parses");
    s.protocol = vec![crate::mcp::Revision::parse(revision).expect("a known revision")];
    s.client.steps = steps
        .into_iter()
        .map(|(at, action)| ClientStep { at: ms(at), action })
        .collect();
    s
}

fn get_stream(name: &str) -> ClientAction {
    ClientAction::OpenGetStream {
        stream: name.into(),
        last_event_id: None,
    }
}

fn run(s: &Scenario, fake: &FakeServer) -> Trace {
    let out = crate::sim::run(
        s,
        Rc::new(fake.clone()),
        crate::reference::client::build(),
        1,
    );
    assert_eq!(out.error, None, "simulation failed");
    out.trace
}

fn client(trace: &Trace) -> impl Iterator<Item = &Event> {
    trace.events.iter().filter(|e| e.host == "client")
}

/// `(attempt, after, last_event_id)` of every `Reconnecting` of `stream`.
fn reconnects(trace: &Trace, stream: &str) -> Vec<(u32, Duration, Option<String>)> {
    client(trace)
        .filter_map(|e| match &e.kind {
            EventKind::Reconnecting {
                stream: s,
                attempt,
                after,
                last_event_id,
            } if s == stream => Some((*attempt, *after, last_event_id.clone())),
            _ => None,
        })
        .collect()
}

/// `(event id, message)` of every `MessageDelivered`.
fn delivered(trace: &Trace) -> Vec<(Option<String>, String)> {
    client(trace)
        .filter_map(|e| match &e.kind {
            EventKind::MessageDelivered { event_id, message } => {
                Some((event_id.clone(), message.clone()))
            }
            _ => None,
        })
        .collect()
}

fn delivered_ids(trace: &Trace) -> Vec<String> {
    delivered(trace)
        .into_iter()
        .filter_map(|(id, _)| id)
        .collect()
}

/// The `Last-Event-ID` of every GET the server saw.
fn get_ids(fake: &FakeServer) -> Vec<Option<String>> {
    fake.seen()
        .iter()
        .filter(|s| s.method == "GET")
        .map(|s| s.header("last-event-id").map(str::to_string))
        .collect()
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn some(id: &str) -> Option<String> {
    Some(id.to_string())
}

// ── tests ────────────────────────────────────────────────────────────────────

#[test]
fn initialize_establishes_the_session_then_notifies_initialized_and_pings() {
    let fake = FakeServer::new(FakeConfig::default());
    let s = scenario(
        "2025-11-25",
        2000,
        vec![(0, ClientAction::Initialize), (1000, ClientAction::Ping)],
    );
    let trace = run(&s, &fake);
    let story: Vec<String> = client(&trace)
        .filter_map(|e| match &e.kind {
            EventKind::RequestSent { method, .. } => Some(method.clone()),
            EventKind::RpcSent { method, id } => Some(format!("rpc {method} {id:?}")),
            EventKind::ResponseReceived { status, .. } => Some(status.to_string()),
            EventKind::SessionEstablished { session } => Some(format!("session {session}")),
            EventKind::RpcAnswered { id, outcome } => Some(format!("answer {id} {outcome}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        story,
        [
            "POST",
            "rpc initialize Some(1)",
            "200",
            "session s1",
            "answer 1 ok",
            "POST",
            "rpc notifications/initialized None",
            "202",
            "POST",
            "rpc ping Some(2)",
            "200",
            "answer 2 ok",
        ]
    );
    let seen = fake.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].header("mcp-session-id"), None);
    assert_eq!(seen[0].header("mcp-protocol-version"), None);
    assert_eq!(
        seen[0].body.as_ref().unwrap()["params"]["protocolVersion"],
        "2025-11-25"
    );
    for r in &seen {
        assert_eq!(r.header("host"), Some("server"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(
            r.header("accept"),
            Some("application/json, text/event-stream")
        );
    }
    for r in &seen[1..] {
        assert_eq!(r.header("mcp-session-id"), Some("s1"));
        assert_eq!(r.header("mcp-protocol-version"), Some("2025-11-25"));
    }
}

#[test]
fn a_dropped_get_stream_resumes_with_the_last_event_id() {
    let fake = FakeServer::new(FakeConfig {
        notify_every: Some(ms(1000)),
        get_plans: vec![cut_after(3)],
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-06-18",
        7500,
        vec![(0, ClientAction::Initialize), (500, get_stream("get"))],
    );
    let trace = run(&s, &fake);
    assert_eq!(reconnects(&trace, "get"), vec![(1, ms(1000), some("3"))]);
    assert_eq!(get_ids(&fake), vec![None, some("3")]);
    let resumed = client(&trace).any(|e| {
        matches!(&e.kind, EventKind::RequestSent { method, last_event_id, .. }
            if method == "GET" && last_event_id.as_deref() == Some("3"))
    });
    assert!(
        resumed,
        "the reconnection's RequestSent carries Last-Event-ID 3"
    );
    // Event 4 was stored while the client waited: replayed, then the live ones.
    assert_eq!(
        delivered_ids(&trace),
        ids(&["1", "2", "3", "4", "5", "6", "7"])
    );
    assert!(delivered(&trace)
        .iter()
        .all(|(_, m)| m == "notifications/message"));
    let last = client(&trace).last().expect("client events");
    assert!(
        matches!(&last.kind, EventKind::ConnClosed { by: Closer::Client, reason }
        if reason == "scenario ended")
    );
    assert_eq!(last.at, ms(7500));
}

#[test]
fn a_second_drop_without_new_events_resends_the_same_id() {
    let fake = FakeServer::new(FakeConfig {
        notify_every: Some(ms(1000)),
        get_plans: vec![
            cut_after(2),
            // A byte (a comment), then cut: a successful reconnection that drops again.
            Plan::Serve {
                cut_after: Some(0),
                comment_first: true,
            },
            // No byte at all: a failed attempt.
            cut_after(0),
        ],
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-06-18",
        9000,
        vec![(0, ClientAction::Initialize), (500, get_stream("get"))],
    );
    let trace = run(&s, &fake);
    assert_eq!(
        reconnects(&trace, "get"),
        vec![
            (1, ms(1000), some("2")),
            (1, ms(1000), some("2")),
            (2, ms(2000), some("2")),
        ]
    );
    assert_eq!(get_ids(&fake), vec![None, some("2"), some("2"), some("2")]);
    let got = delivered_ids(&trace);
    assert_eq!(got[..3], ids(&["1", "2", "3"]));
    assert!(got
        .windows(2)
        .all(|w| w[0].parse::<u64>().unwrap() + 1 == w[1].parse::<u64>().unwrap()));
}

#[test]
fn backoff_doubles_up_to_max_then_gives_up() {
    // A call stream (the polling fallback is for the GET stream only).
    let fake = FakeServer::new(FakeConfig {
        call_cut_after: Some(1),
        get_plans: vec![Plan::Refuse(503); 10],
        ..FakeConfig::default()
    });
    let mut s = scenario(
        "2025-06-18",
        30_000,
        vec![(0, ClientAction::Initialize), (500, call(25_000, 1000))],
    );
    s.client.reconnect = ReconnectPolicy {
        enabled: true,
        initial: ms(1000),
        max: ms(3000),
        attempts: 4,
    };
    let trace = run(&s, &fake);
    assert_eq!(
        reconnects(&trace, "call"),
        vec![
            (1, ms(1000), some("1")),
            (2, ms(2000), some("1")),
            (3, ms(3000), some("1")),
            (4, ms(3000), some("1")),
        ]
    );
    let gave_up: Vec<_> = client(&trace)
        .filter_map(|e| match &e.kind {
            EventKind::GaveUp { stream, attempts } => Some((stream.clone(), *attempts)),
            _ => None,
        })
        .collect();
    assert_eq!(gave_up, vec![("call".to_string(), 4)]);
    assert_eq!(get_ids(&fake).len(), 4, "four reconnections");
    assert!(switches(&trace).is_empty(), "a call stream never polls");
    // Each reconnection opens its connection when its delay is over.
    let events: Vec<&Event> = client(&trace).collect();
    for (i, e) in events.iter().enumerate() {
        if let EventKind::Reconnecting { after, .. } = &e.kind {
            let opened = events[i..]
                .iter()
                .find(|n| matches!(n.kind, EventKind::ConnOpened { .. }))
                .expect("a connection follows");
            let waited = opened.at - e.at;
            assert!(
                waited >= *after && waited <= *after + ms(20),
                "waited {waited:?}, expected {after:?}"
            );
        }
    }
    assert!(
        !client(&trace).any(|e| matches!(e.kind, EventKind::ConnClosed { .. })),
        "nothing is open to close at the end"
    );
}

#[test]
fn the_server_retry_sets_the_delay_and_a_priming_id_counts() {
    let fake = FakeServer::new(FakeConfig {
        priming: Some(Some(2500)),
        get_plans: vec![cut_after(0), Plan::Refuse(503)],
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-11-25",
        12_000,
        vec![(0, ClientAction::Initialize), (500, get_stream("get"))],
    );
    let trace = run(&s, &fake);
    assert_eq!(
        reconnects(&trace, "get"),
        vec![(1, ms(2500), some("1")), (2, ms(5000), some("1"))]
    );
    assert_eq!(get_ids(&fake), vec![None, some("1"), some("1")]);
    assert!(
        delivered(&trace).is_empty(),
        "priming events carry no message"
    );
}

#[test]
fn a_replayed_duplicate_is_delivered_once() {
    let fake = FakeServer::new(FakeConfig {
        notify_every: Some(ms(1000)),
        get_plans: vec![cut_after(2)],
        replay_overlap: 1,
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-06-18",
        5500,
        vec![(0, ClientAction::Initialize), (500, get_stream("get"))],
    );
    let trace = run(&s, &fake);
    let received: Vec<String> = client(&trace)
        .filter_map(|e| match &e.kind {
            EventKind::Received { frames, .. } => Some(frames.clone()),
            _ => None,
        })
        .flatten()
        .filter_map(|f| match f {
            Frame::Event { id, .. } => id,
            _ => None,
        })
        .collect();
    assert_eq!(received, ids(&["1", "2", "2", "3", "4", "5"]));
    assert_eq!(delivered_ids(&trace), ids(&["1", "2", "3", "4", "5"]));
}

fn call(duration_ms: u64, every_ms: u64) -> ClientAction {
    ClientAction::CallTool {
        stream: "call".into(),
        duration: ms(duration_ms),
        progress_every: Some(ms(every_ms)),
    }
}

fn answers(trace: &Trace) -> Vec<(u64, String)> {
    client(trace)
        .filter_map(|e| match &e.kind {
            EventKind::RpcAnswered { id, outcome } => Some((*id, outcome.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_tool_call_delivers_progress_and_result_once() {
    let fake = FakeServer::new(FakeConfig {
        priming: Some(Some(3000)),
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-11-25",
        6000,
        vec![(0, ClientAction::Initialize), (1000, call(3000, 1000))],
    );
    let trace = run(&s, &fake);
    let seen = fake.seen();
    let req = seen
        .iter()
        .find(|r| r.rpc() == Some("tools/call"))
        .and_then(|r| r.body.clone())
        .expect("tools/call sent");
    assert_eq!(req["id"], 2);
    assert_eq!(req["params"]["name"], "sleep");
    assert_eq!(
        req["params"]["arguments"],
        json!({"duration_ms": 3000, "progress_every_ms": 1000})
    );
    assert_eq!(req["params"]["_meta"]["progressToken"], 2);
    assert_eq!(
        delivered(&trace),
        vec![
            (some("2"), "notifications/progress".to_string()),
            (some("3"), "notifications/progress".to_string()),
            (some("4"), "response 2".to_string()),
        ]
    );
    assert_eq!(answers(&trace), vec![(1, "ok".into()), (2, "ok".into())]);
    assert!(reconnects(&trace, "call").is_empty());
    assert!(client(&trace).any(|e| matches!(&e.kind,
        EventKind::ConnOpened { stream, .. } if stream == "call")));
    assert!(
        !client(&trace).any(|e| matches!(e.kind, EventKind::ConnClosed { .. })),
        "the answered call ended by itself"
    );
}

#[test]
fn a_dropped_tool_call_resumes_on_get_and_is_answered_once() {
    let fake = FakeServer::new(FakeConfig {
        priming: Some(Some(500)),
        call_cut_after: Some(1),
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-11-25",
        8000,
        vec![(0, ClientAction::Initialize), (1000, call(4000, 1000))],
    );
    let trace = run(&s, &fake);
    // Priming id 1, progress id 2, then the cut.
    assert_eq!(reconnects(&trace, "call"), vec![(1, ms(500), some("2"))]);
    assert_eq!(get_ids(&fake), vec![some("2")]);
    let messages: Vec<String> = delivered(&trace).into_iter().map(|(_, m)| m).collect();
    assert_eq!(
        messages,
        [
            "notifications/progress",
            "notifications/progress",
            "notifications/progress",
            "response 2"
        ]
    );
    assert_eq!(answers(&trace), vec![(1, "ok".into()), (2, "ok".into())]);
    let call_conns = client(&trace)
        .filter(|e| matches!(&e.kind, EventKind::ConnOpened { stream, .. } if stream == "call"))
        .count();
    assert_eq!(call_conns, 2, "the POST and the GET that resumes it");
}

#[test]
fn the_stateless_revision_keeps_no_session_and_resumes_nothing() {
    let fake = FakeServer::new(FakeConfig {
        sessions: false,
        call_cut_after: Some(1),
        ..FakeConfig::default()
    });
    let s = scenario(
        "2026-07-28",
        8000,
        vec![(0, ClientAction::Initialize), (1000, call(4000, 1000))],
    );
    let trace = run(&s, &fake);
    assert!(!client(&trace).any(|e| matches!(
        e.kind,
        EventKind::SessionEstablished { .. } | EventKind::Reconnecting { .. }
    )));
    assert_eq!(
        answers(&trace),
        vec![(1, "ok".into())],
        "the cut call is lost"
    );
    assert_eq!(delivered(&trace).len(), 1, "one progress before the cut");
    let seen = fake.seen();
    assert!(seen.iter().all(|r| r.header("mcp-session-id").is_none()));
    assert!(!seen.iter().any(|r| r.method == "GET"));
    assert_eq!(
        seen.last().unwrap().header("mcp-protocol-version"),
        Some("2026-07-28")
    );
}

#[test]
fn close_stream_and_the_scenario_end_close_mcp_streams_and_delete_ends_the_session() {
    let fake = FakeServer::new(FakeConfig {
        notify_every: Some(ms(1000)),
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-06-18",
        4000,
        vec![
            (0, ClientAction::Initialize),
            (500, get_stream("get")),
            (
                2000,
                ClientAction::CloseStream {
                    stream: "get".into(),
                },
            ),
            (2500, get_stream("other")),
            (3000, ClientAction::DeleteSession),
        ],
    );
    let trace = run(&s, &fake);
    let closed: Vec<(Duration, String)> = client(&trace)
        .filter_map(|e| match &e.kind {
            EventKind::ConnClosed {
                by: Closer::Client,
                reason,
            } => Some((e.at, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        closed,
        vec![
            (ms(2000), "close-stream step".to_string()),
            (ms(4000), "scenario ended".to_string())
        ]
    );
    assert!(reconnects(&trace, "get").is_empty());
    let delete = fake
        .seen()
        .into_iter()
        .find(|r| r.method == "DELETE")
        .expect("DELETE sent");
    assert_eq!(delete.header("mcp-session-id"), Some("s1"));
}

#[test]
fn backoff_never_exceeds_max_even_after_many_failures() {
    let policy = ReconnectPolicy::default();
    assert_eq!(backoff(&policy, None, 0), ms(1000));
    assert_eq!(backoff(&policy, Some(3000), 1), ms(6000));
    assert_eq!(backoff(&policy, None, 40), policy.max);
    assert_eq!(backoff(&policy, Some(u64::MAX), 3), policy.max);
}

mod defects;
// ── operational behaviours (MP-301g module 3) ────────────────────────────────

/// `(at, stream, warning)` of every `ClientWarned`.
fn warnings(trace: &Trace) -> Vec<(Duration, String, ClientWarning)> {
    client(trace)
        .filter_map(|e| match &e.kind {
            EventKind::ClientWarned { stream, warning } => {
                Some((e.at, stream.clone(), warning.clone()))
            }
            _ => None,
        })
        .collect()
}

/// `(at, stream, failures)` of every `ModeSwitched`.
fn switches(trace: &Trace) -> Vec<(Duration, String, u32)> {
    client(trace)
        .filter_map(|e| match &e.kind {
            EventKind::ModeSwitched {
                stream,
                to: StreamMode::LongPolling,
                failures,
            } => Some((e.at, stream.clone(), *failures)),
            _ => None,
        })
        .collect()
}

/// When the first response head of stream `name` arrived.
fn first_response_at(trace: &Trace, name: &str) -> Duration {
    let conn = client(trace)
        .find_map(|e| match &e.kind {
            EventKind::ConnOpened { stream, .. } if stream == name => e.conn,
            _ => None,
        })
        .expect("the stream opened a connection");
    client(trace)
        .find(|e| e.conn == Some(conn) && matches!(e.kind, EventKind::ResponseReceived { .. }))
        .expect("a response head")
        .at
}

fn missed(silent_s: u64, expected_s: u64) -> ClientWarning {
    ClientWarning::MissedKeepalive {
        silent: ms(silent_s * 1000),
        expected: ms(expected_s * 1000),
    }
}

#[test]
fn a_silent_stream_warns_at_one_and_a_half_intervals_then_every_interval() {
    let fake = FakeServer::new(FakeConfig::default());
    let s = scenario(
        "2025-06-18",
        120_000,
        vec![(0, ClientAction::Initialize), (500, get_stream("get"))],
    );
    let trace = run(&s, &fake);
    let head = first_response_at(&trace, "get");
    let expected: Vec<_> = [45, 75, 105]
        .into_iter()
        .map(|silent| {
            (
                head + ms(silent * 1000),
                "get".to_string(),
                missed(silent, 30),
            )
        })
        .collect();
    assert_eq!(warnings(&trace), expected);
}

#[test]
fn keepalives_within_the_expected_interval_raise_no_warning() {
    // A keepalive every 44 s stays under 1.5 × 30 s; the stream runs 5 minutes.
    let fake = FakeServer::new(FakeConfig {
        keepalive: Some(ms(44_000)),
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-06-18",
        300_000,
        vec![(0, ClientAction::Initialize), (500, get_stream("get"))],
    );
    let trace = run(&s, &fake);
    let comments = client(&trace)
        .filter(|e| {
            matches!(&e.kind, EventKind::Received { frames, .. }
            if frames.iter().any(|f| matches!(f, Frame::Comment { .. })))
        })
        .count();
    assert!(comments >= 6, "keepalives arrived ({comments})");
    assert_eq!(warnings(&trace), vec![]);
}

#[test]
fn a_silence_after_the_last_byte_is_measured_from_that_byte_and_off_disables_it() {
    // Notifications every 50 s: each silence passes 45 s once, measured from the last byte.
    let fake = FakeServer::new(FakeConfig {
        notify_every: Some(ms(50_000)),
        ..FakeConfig::default()
    });
    let mut s = scenario(
        "2025-06-18",
        146_000,
        vec![(0, ClientAction::Initialize), (500, get_stream("get"))],
    );
    let trace = run(&s, &fake);
    let received: Vec<Duration> = client(&trace)
        .filter(|e| matches!(e.kind, EventKind::Received { .. }) && e.at > ms(1000))
        .map(|e| e.at)
        .collect();
    assert_eq!(received.len(), 2, "notifications at 50 s and 100 s");
    let head = first_response_at(&trace, "get");
    let got: Vec<(Duration, ClientWarning)> = warnings(&trace)
        .into_iter()
        .map(|(at, _, w)| (at, w))
        .collect();
    assert_eq!(
        got,
        vec![
            (head + ms(45_000), missed(45, 30)),
            (received[0] + ms(45_000), missed(45, 30)),
            (received[1] + ms(45_000), missed(45, 30)),
        ]
    );

    s.client.keepalive_expected = None;
    let fake = FakeServer::new(FakeConfig {
        notify_every: Some(ms(50_000)),
        ..FakeConfig::default()
    });
    assert_eq!(
        warnings(&run(&s, &fake)),
        vec![],
        "keepalive-expected = off"
    );
}

#[test]
fn a_connection_dropped_within_60s_warns_and_a_later_drop_or_a_client_close_does_not() {
    let fake = FakeServer::new(FakeConfig {
        notify_every: Some(ms(1000)),
        get_plans: vec![cut_after(2), cut_after(70)],
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-06-18",
        100_000,
        vec![
            (0, ClientAction::Initialize),
            (500, get_stream("get")),
            (
                90_000,
                ClientAction::CloseStream {
                    stream: "get".into(),
                },
            ),
        ],
    );
    let trace = run(&s, &fake);
    let opened: Vec<(Duration, ConnId)> = client(&trace)
        .filter(|e| matches!(e.kind, EventKind::ConnOpened { .. }))
        .map(|e| (e.at, e.conn.unwrap()))
        .collect();
    let ended: Vec<(Duration, ConnId)> = client(&trace)
        .filter(|e| matches!(e.kind, EventKind::StreamEnded { .. }))
        .map(|e| (e.at, e.conn.unwrap()))
        .collect();
    // Connections: initialize, initialized, GET cut after 2 events, GET cut after 70 s,
    // GET closed by the client at 90 s.
    assert_eq!(opened.len(), 5);
    let first_get = opened[2];
    let cut = ended.iter().find(|(_, c)| *c == first_get.1).unwrap().0;
    let got: Vec<(Duration, ConnId, ClientWarning)> = client(&trace)
        .filter_map(|e| match &e.kind {
            EventKind::ClientWarned { warning, .. } => {
                Some((e.at, e.conn.unwrap(), warning.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        vec![(
            cut,
            first_get.1,
            ClientWarning::DroppedEarly {
                after: cut - first_get.0
            }
        )]
    );
    assert!(cut - first_get.0 < ms(5000));
    let second = ended.iter().find(|(_, c)| *c == opened[3].1).unwrap().0;
    assert!(
        second - opened[3].0 > ms(60_000),
        "the second GET lasted over 60 s"
    );
}

#[test]
fn an_answered_call_stream_that_ends_is_no_early_drop_but_an_unanswered_one_is() {
    let fake = FakeServer::new(FakeConfig {
        priming: Some(Some(500)),
        call_cut_after: Some(1),
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-11-25",
        8000,
        vec![(0, ClientAction::Initialize), (1000, call(4000, 1000))],
    );
    let trace = run(&s, &fake);
    // The POST stream is cut after its first progress: an early drop. The GET resuming it
    // ends after the result: not one.
    let got: Vec<ClientWarning> = warnings(&trace).into_iter().map(|(_, _, w)| w).collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(matches!(got[0], ClientWarning::DroppedEarly { .. }));
    assert_eq!(answers(&trace), vec![(1, "ok".into()), (2, "ok".into())]);
}

#[test]
fn no_first_byte_within_5s_warns_only_where_the_server_writes_first() {
    // A server that does not prime a POST's SSE stream on 2025-11-25 looks like a buffering
    // proxy: the tool call's first progress comes 10 s after the open.
    let fake = FakeServer::new(FakeConfig::default());
    let s = scenario(
        "2025-11-25",
        20_000,
        vec![(0, ClientAction::Initialize), (500, call(15_000, 10_000))],
    );
    let trace = run(&s, &fake);
    let opened = client(&trace)
        .filter(|e| matches!(&e.kind, EventKind::ConnOpened { stream, .. } if stream == "call"))
        .map(|e| e.at)
        .next()
        .unwrap();
    assert_eq!(
        warnings(&trace),
        vec![(
            opened + ms(5000),
            "call".to_string(),
            ClientWarning::SlowFirstData { after: ms(5000) }
        )]
    );

    // Primed: the first byte comes at once.
    let fake = FakeServer::new(FakeConfig {
        priming: Some(Some(3000)),
        ..FakeConfig::default()
    });
    assert_eq!(warnings(&run(&s, &fake)), vec![]);

    // GET streams are not primed by the SDKs (the spec's SHOULD is for POST answers): a
    // silent GET start is no sign, whatever the revision.
    let fake = FakeServer::new(FakeConfig::default());
    let get = scenario(
        "2025-11-25",
        20_000,
        vec![(0, ClientAction::Initialize), (500, get_stream("get"))],
    );
    assert_eq!(warnings(&run(&get, &fake)), vec![]);

    // 2025-06-18 servers do not write first: silence is no sign.
    let s = scenario(
        "2025-06-18",
        20_000,
        vec![(0, ClientAction::Initialize), (500, call(15_000, 10_000))],
    );
    assert_eq!(warnings(&run(&s, &fake)), vec![]);
}

/// `(at, Last-Event-ID)` of every poll request the client sent.
fn polls(trace: &Trace) -> Vec<(Duration, Option<String>)> {
    client(trace)
        .filter_map(|e| match &e.kind {
            EventKind::RequestSent {
                method,
                path,
                last_event_id,
            } if method == "GET" && path == "/mcp?poll=1" => Some((e.at, last_event_id.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn three_failed_sse_attempts_switch_the_get_stream_to_polling_every_2s() {
    let fake = FakeServer::new(FakeConfig {
        notify_every: Some(ms(3000)),
        get_plans: vec![cut_after(0), Plan::Refuse(503), Plan::Refuse(502)],
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-06-18",
        20_000,
        vec![(0, ClientAction::Initialize), (500, get_stream("get"))],
    );
    let trace = run(&s, &fake);
    let sw = switches(&trace);
    assert_eq!(sw.len(), 1, "{sw:?}");
    let (at, stream, failures) = sw[0].clone();
    assert_eq!((stream.as_str(), failures), ("get", 3));
    // Two reconnections (after the first and the second failure), then the switch.
    assert_eq!(reconnects(&trace, "get").len(), 2);
    assert!(client(&trace).filter(|e| e.at > at).all(|e| !matches!(
        e.kind,
        EventKind::Reconnecting { .. } | EventKind::GaveUp { .. }
    )));
    // The 503 of the third attempt is the switch's instant; no SSE GET after it.
    assert_eq!(get_ids(&fake).len(), 3 + polls(&trace).len());
    let p = polls(&trace);
    assert!(p[0].0 - at <= ms(1), "first poll at once: {p:?}");
    for w in p.windows(2) {
        assert_eq!(w[1].0 - w[0].0, ms(2000), "{p:?}");
    }
    assert!(
        p.last().unwrap().0 > ms(17_000),
        "polling until the end: {p:?}"
    );
    // Each poll carries the last id seen before it; every notification (3 s ... 18 s)
    // arrives exactly once.
    let seen: Vec<(Duration, String)> = client(&trace)
        .filter_map(|e| match &e.kind {
            EventKind::MessageDelivered {
                event_id: Some(id), ..
            } => Some((e.at, id.clone())),
            _ => None,
        })
        .collect();
    for (at, last) in &p {
        let before = seen.iter().rev().find(|(t, _)| t < at).map(|(_, id)| id);
        assert_eq!(last.as_ref(), before, "poll at {at:?}");
    }
    assert_eq!(delivered_ids(&trace), ids(&["1", "2", "3", "4", "5", "6"]));
}

#[test]
fn two_failures_do_not_switch_and_a_good_connection_resets_the_count() {
    // fail, fail, good (a byte, then cut), fail, fail, good: never 3 in a row.
    let fake = FakeServer::new(FakeConfig {
        notify_every: Some(ms(1000)),
        get_plans: vec![
            Plan::Refuse(503),
            Plan::Refuse(503),
            cut_after(1),
            Plan::Refuse(503),
            cut_after(0),
        ],
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-06-18",
        40_000,
        vec![(0, ClientAction::Initialize), (500, get_stream("get"))],
    );
    let trace = run(&s, &fake);
    assert_eq!(switches(&trace), vec![]);
    assert_eq!(polls(&trace), vec![]);
    assert_eq!(get_ids(&fake).len(), 6, "six SSE GETs, the last one kept");
    assert!(!delivered_ids(&trace).is_empty());
}

#[test]
fn a_200_that_is_not_an_event_stream_counts_as_a_failed_sse_attempt() {
    let a = Attempt::Ended {
        conn: ConnId(1),
        bytes: true,
        sse: false,
        complete: true,
        retry_ms: None,
    };
    assert!(a.sse_failed());
    assert!(!a.failed(), "bytes came through: no backoff failure");
    let ok = Attempt::Ended {
        conn: ConnId(1),
        bytes: true,
        sse: true,
        complete: true,
        retry_ms: None,
    };
    assert!(!ok.sse_failed());
    assert!(Attempt::Ended {
        conn: ConnId(1),
        bytes: false,
        sse: true,
        complete: true,
        retry_ms: None,
    }
    .sse_failed());
    assert!(Attempt::NoResponse { conn: ConnId(1) }.sse_failed());
}

#[test]
fn a_silent_resumption_is_no_slow_first_data_the_server_does_not_write_first() {
    // The primed GET gets a byte, then is cut; its resumption (Last-Event-ID 1) is silent.
    let fake = FakeServer::new(FakeConfig {
        priming: Some(Some(500)),
        get_plans: vec![cut_after(0)],
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-11-25",
        20_000,
        vec![(0, ClientAction::Initialize), (500, get_stream("get"))],
    );
    let trace = run(&s, &fake);
    assert_eq!(get_ids(&fake), vec![None, some("1")]);
    let got: Vec<ClientWarning> = warnings(&trace).into_iter().map(|(_, _, w)| w).collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(matches!(got[0], ClientWarning::DroppedEarly { .. }));
}

/// `(method or rpc, session header, Last-Event-ID)` of every request the server saw.
fn requests(fake: &FakeServer) -> Vec<(String, Option<String>, Option<String>)> {
    fake.seen()
        .iter()
        .map(|s| {
            (
                s.rpc().unwrap_or(&s.method).to_string(),
                s.header("mcp-session-id").map(str::to_string),
                s.header("last-event-id").map(str::to_string),
            )
        })
        .collect()
}

fn gave_up(trace: &Trace) -> Vec<Duration> {
    client(trace)
        .filter(|e| matches!(e.kind, EventKind::GaveUp { .. }))
        .map(|e| e.at)
        .collect()
}

#[test]
fn a_404_on_the_session_re_initialises_and_reopens_the_get_stream_fresh() {
    let fake = FakeServer::new(FakeConfig {
        notify_every: Some(ms(1000)),
        get_plans: vec![cut_after(1), Plan::Refuse(404)],
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-06-18",
        5000,
        vec![(0, ClientAction::Initialize), (500, get_stream("get"))],
    );
    let trace = run(&s, &fake);
    let s1 = some("s1");
    let s2 = some("s2");
    assert_eq!(
        requests(&fake),
        vec![
            ("initialize".into(), None, None),
            ("notifications/initialized".into(), s1.clone(), None),
            ("GET".into(), s1.clone(), None),
            ("GET".into(), s1.clone(), some("1")),
            ("initialize".into(), None, None),
            ("notifications/initialized".into(), s2.clone(), None),
            ("GET".into(), s2, None),
        ],
        "after the 404: a new session, then its GET without Last-Event-ID"
    );
    assert!(gave_up(&trace).is_empty());
    // The new session's events are delivered although their ids repeat the old ones'.
    assert!(delivered_ids(&trace).iter().filter(|i| *i == "1").count() >= 1);
}

#[test]
fn a_404_on_the_new_sessions_get_gives_the_stream_up_without_a_loop() {
    let fake = FakeServer::new(FakeConfig {
        notify_every: Some(ms(1000)),
        get_plans: vec![cut_after(1), Plan::Refuse(404), Plan::Refuse(404)],
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-06-18",
        20_000,
        vec![(0, ClientAction::Initialize), (500, get_stream("get"))],
    );
    let trace = run(&s, &fake);
    let reqs = requests(&fake);
    let inits = reqs.iter().filter(|r| r.0 == "initialize").count();
    assert_eq!(inits, 2, "one re-initialisation: {reqs:?}");
    assert_eq!(reqs.iter().filter(|r| r.0 == "GET").count(), 3, "{reqs:?}");
    assert_eq!(gave_up(&trace).len(), 1);
}

#[test]
fn a_stream_keeps_its_session_after_a_later_initialize() {
    let fake = FakeServer::new(FakeConfig {
        notify_every: Some(ms(1000)),
        get_plans: vec![cut_after(1)],
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-06-18",
        4000,
        vec![
            (0, ClientAction::Initialize),
            (100, get_stream("get")),
            (200, ClientAction::Initialize),
            (300, ClientAction::Ping),
        ],
    );
    run(&s, &fake);
    let reqs = requests(&fake);
    let gets: Vec<_> = reqs.iter().filter(|r| r.0 == "GET").cloned().collect();
    assert_eq!(
        gets,
        vec![
            ("GET".into(), some("s1"), None),
            ("GET".into(), some("s1"), some("1")),
        ],
        "the reconnection stays on s1"
    );
    assert!(
        reqs.contains(&("ping".into(), some("s2"), None)),
        "{reqs:?}"
    );
}

#[test]
fn open_get_stream_with_a_last_event_id_sends_it_first() {
    let fake = FakeServer::new(FakeConfig::default());
    let s = scenario(
        "2025-06-18",
        3000,
        vec![
            (0, ClientAction::Initialize),
            (
                100,
                ClientAction::OpenGetStream {
                    stream: "get".into(),
                    last_event_id: Some("42".into()),
                },
            ),
        ],
    );
    run(&s, &fake);
    let ids = get_ids(&fake);
    assert_eq!(ids[0], some("42"), "the guessed id first: {ids:?}");
    assert_eq!(ids[1], None, "refused (400): a fresh GET after that");
}
