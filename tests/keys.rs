//! Every scenario key the README documents, in every kind of scenario and for every kind of
//! target: it takes effect (an assertion on the run's trace), or it is refused with a located
//! error, by validation (the key can have no effect in that kind of scenario) or by the target
//! (`TargetInfo::refusal`: its implementation has no such setting).
//!
//! ```text
//!  README "Scenario files" table ──▶ every documented key must be a row below (and back)
//!  row: key ──▶ cases: a scenario setting it ──▶ validation error, or, for every target in
//!               scope (the registry's, an exec: server; bug models as `bug/*`):
//!               Shows/Lacks/Holds (run it, look at the trace) · Refused (located) · Honoured
//! ```
//!
//! Needs `harness/setup` (the SDK targets run here).

use middlebox::report::RunResult;
use middlebox::scenario::{self, Scenario};
use middlebox::suite;
use middlebox::targets::{self, TargetInfo};
use middlebox::trace::{render_text, EventKind};

/// What must happen when a target runs a scenario setting the key.
#[derive(Clone, Copy)]
enum Outcome {
    /// The run's trace has a line containing every one of these strings.
    Shows(&'static [&'static str]),
    /// The run's trace has no line containing every one of these strings.
    Lacks(&'static [&'static str]),
    /// Any other assertion on the run.
    Holds(fn(&RunResult) -> Result<(), String>),
    /// The target cannot honour the key: the pair is refused, located at this key path.
    Refused(&'static str),
    /// The target runs the scenario (it honours the key); bug models, whose effect is the
    /// reference's with their declared defect on top.
    Honoured,
}

use Outcome::*;

/// One scenario setting the key.
struct Case {
    /// What it shows, in words (failure messages start with it).
    what: &'static str,
    /// The whole scenario file.
    scenario: String,
    /// `Err((key path, message part))`: validation refuses the file. `Ok`: per target name
    /// (`bug/*` for every bug model, `exec:` for an exec target), what happens.
    outcomes: Result<Vec<(&'static str, Outcome)>, (&'static str, &'static str)>,
}

/// One documented key.
struct Row {
    /// The first column of the README's scenario keys table, without backticks.
    readme: &'static str,
    cases: Vec<Case>,
}

const HEAD: &str = "description = \"one key\"\nduration = \"20s\"\n";

/// A plain SSE scenario: one stream `main` at 1 s, then `extra`.
fn plain(extra: &str) -> String {
    format!("{HEAD}[[client.step]]\nat = \"1s\"\ndo = \"open-stream\"\n{extra}")
}

/// An MCP scenario on `revision`: initialize at 0 s, the GET stream at 1 s, then `extra`.
fn mcp(revision: &str, extra: &str) -> String {
    format!(
        "protocol = [\"{revision}\"]\n{HEAD}[[client.step]]\nat = \"0s\"\ndo = \"initialize\"\n[[client.step]]\nat = \"1s\"\ndo = \"open-get-stream\"\n{extra}"
    )
}

fn valid(what: &'static str, scenario: String, outcomes: Vec<(&'static str, Outcome)>) -> Case {
    Case {
        what,
        scenario,
        outcomes: Ok(outcomes),
    }
}

fn invalid(what: &'static str, scenario: String, path: &'static str, says: &'static str) -> Case {
    Case {
        what,
        scenario,
        outcomes: Err((path, says)),
    }
}

/// The simulation applies the key, whatever the target: the reference shows `effect`, and
/// every other target runs the scenario.
fn everyone(effect: Outcome) -> Vec<(&'static str, Outcome)> {
    let mut out = vec![
        ("reference", effect),
        ("bug/*", Honoured),
        ("exec:", Honoured),
    ];
    for t in targets::all() {
        if t.name != "reference" && !t.bug_model {
            out.push((t.name, Honoured));
        }
    }
    out
}

/// The SDK server targets.
const SDK_SERVERS: [&str; 4] = [
    "ts-sdk-server@1.32.2",
    "ts-sdk-server@1.29.0",
    "ts-server@2.4.0",
    "python-sdk-server@2.3.0",
];

/// An MCP server key no SDK server, rmcp or exec: can honour; the reference shows `effect`.
/// The SDK client runs against the reference server: `[server]` keys reach that server, whose
/// effect the reference row shows.
fn reference_server_only(effect: Outcome, path: &'static str) -> Vec<(&'static str, Outcome)> {
    let mut out = vec![
        ("reference", effect),
        ("bug/*", Honoured),
        ("ts-sdk-client@1.32.2", Honoured),
        ("rmcp", Refused(path)),
        ("exec:", Refused(path)),
    ];
    out.extend(SDK_SERVERS.map(|t| (t, Refused(path))));
    out
}

/// A trace line with every needle.
fn line_with<'a>(text: &'a str, needles: &[&str]) -> Option<&'a str> {
    text.lines().find(|l| needles.iter().all(|n| l.contains(n)))
}

/// The response headers the server sent on its first SSE response.
fn first_sse_headers(r: &RunResult) -> Vec<(String, String)> {
    r.trace
        .events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::ResponseStarted {
                content_type: Some(ct),
                headers,
                ..
            } if e.host == "server" && ct.starts_with("text/event-stream") => Some(headers.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn has_x_accel(r: &RunResult) -> bool {
    first_sse_headers(r)
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("x-accel-buffering") && v == "no")
}

fn table() -> Vec<Row> {
    vec![
        Row {
            readme: "description",
            cases: vec![valid(
                "the description is the scenario's and the report's",
                plain("[[expect]]\ncheck = \"stream.survives\"\n"),
                everyone(Holds(|r| {
                    let s = scenario::parse("keys.toml", &plain("")).map_err(|e| e.to_string())?;
                    let shown = scenario::explain(&s);
                    (shown.contains("one key") && r.scenario == "keys.toml")
                        .then_some(())
                        .ok_or(shown)
                })),
            )],
        },
        Row {
            readme: "cites",
            cases: vec![valid(
                "explain shows the citation",
                format!("cites = \"issue #1\"\n{}", plain("")),
                everyone(Holds(|_| {
                    let text = format!("cites = \"issue #1\"\n{}", plain(""));
                    let s = scenario::parse("keys.toml", &text).map_err(|e| e.to_string())?;
                    scenario::explain(&s)
                        .contains("cites: issue #1")
                        .then_some(())
                        .ok_or_else(|| "explain lacks the citation".to_string())
                })),
            )],
        },
        Row {
            readme: "protocol",
            cases: vec![
                valid(
                    "2025-06-18: the server writes no priming event on the GET stream",
                    mcp("2025-06-18", ""),
                    everyone_mcp(Lacks(&["server  conn#3 sse event id=\"1\" data=\"\""])),
                ),
                valid(
                    "2025-11-25: the GET stream starts with a priming event",
                    mcp("2025-11-25", ""),
                    everyone_mcp(Shows(&["server  conn#3 sse event id=\"1\" data=\"\""])),
                ),
                invalid(
                    "a plain SSE scenario speaks no revision",
                    format!("protocol = [\"2025-11-25\"]\n{}", plain("")),
                    "protocol",
                    "has no MCP client step",
                ),
            ],
        },
        Row {
            readme: "seed",
            cases: vec![valid(
                "the run takes the file's seed",
                format!("seed = 42\n{}", plain("")),
                everyone(Holds(|r| {
                    (r.seed == 42)
                        .then_some(())
                        .ok_or(format!("seed {}", r.seed))
                })),
            )],
        },
        Row {
            readme: "duration",
            cases: vec![valid(
                "the client closes its streams at the end",
                plain(""),
                everyone(Shows(&["00:00:20.000  client  conn#1 closed by client  (scenario ended)"])),
            )],
        },
        Row {
            readme: "tick",
            cases: vec![valid(
                "every hop takes one tick",
                format!("tick = \"100ms\"\n{}", plain("")),
                everyone(Shows(&["00:00:01.200  server  conn#1 GET /sse received"])),
            )],
        },
        Row {
            readme: "[[intermediary]]",
            cases: vec![valid(
                "an intermediary relays the stream",
                plain("[[intermediary]]\n"),
                everyone(Shows(&["proxy1", "forwarded", "upstream"])),
            )],
        },
        Row {
            readme: "intermediary.preset",
            cases: vec![valid(
                "the preset's behaviors",
                plain("[[intermediary]]\npreset = \"nginx\"\n"),
                everyone(Shows(&["nginx   started (preset nginx: idle-timeout 60s"])),
            )],
        },
        Row {
            readme: "intermediary.name",
            cases: vec![valid(
                "the intermediary's host name",
                plain("[[intermediary]]\nname = \"edge\"\n"),
                everyone(Shows(&["→ edge → server"])),
            )],
        },
        Row {
            readme: "intermediary.idle-timeout",
            cases: vec![valid(
                "a silent upstream is cut",
                plain("[server]\nkeepalive = \"off\"\n[[intermediary]]\nidle-timeout = { after = \"5s\" }\n"),
                sim_plain(Shows(&["proxy1", "closed (fin): idle-timeout 5s"])),
            )],
        },
        Row {
            readme: "intermediary.first-byte-timeout",
            cases: vec![valid(
                "late response headers are answered by the intermediary",
                plain("[server]\nfirst-byte-delay = \"10s\"\n[[intermediary]]\nfirst-byte-timeout = { after = \"2s\", status = 503 }\n"),
                first_byte_delay_outcomes(Shows(&["proxy1", "answered 503"])),
            )],
        },
        Row {
            readme: "intermediary.max-duration",
            cases: vec![valid(
                "the connection is closed after its lifetime",
                plain("[[intermediary]]\nmax-duration = { after = \"5s\" }\n"),
                everyone(Shows(&["proxy1", "max-duration 5s"])),
            )],
        },
        Row {
            readme: "intermediary.buffering",
            cases: vec![valid(
                "response bytes are held",
                plain("[[intermediary]]\nbuffering = { mode = \"full\" }\n"),
                everyone(Shows(&["proxy1", "buffered"])),
            )],
        },
        Row {
            readme: "intermediary.latency",
            cases: vec![valid(
                "every chunk is delayed",
                plain("[[intermediary]]\nlatency = { fixed = \"50ms\" }\n"),
                everyone(Shows(&["00:00:01.05", "server  conn#1 GET /sse received"])),
            )],
        },
        Row {
            readme: "[server]",
            cases: vec![valid(
                "a table of the keys below; empty, it changes nothing",
                plain("[server]\n"),
                everyone(Shows(&["server  conn#1 keepalive timer#1 armed, every 15s"])),
            )],
        },
        Row {
            readme: "server.keepalive",
            cases: vec![
                valid(
                    "plain SSE: a comment every 5 s",
                    plain("[server]\nkeepalive = \"5s\"\n"),
                    vec![
                        ("reference", Shows(&["00:00:06.0", "server  conn#1 sse comment \": keepalive\""])),
                        ("bug/*", Honoured),
                        ("axum-sse", Shows(&["00:00:06.0", "server  conn#1 sse comment \":\""])),
                        ("exec:", Refused("server.keepalive")),
                    ],
                ),
                valid(
                    "MCP: the GET stream's keepalive every 5 s",
                    mcp("2025-11-25", "[server]\nkeepalive = \"5s\"\n"),
                    vec![
                        ("reference", Shows(&["server  conn#3 sse comment \": keepalive\"  (timer#1)", "00:00:06.0"])),
                        ("bug/*", Honoured),
                        ("ts-sdk-client@1.32.2", Honoured),
                        ("ts-sdk-server@1.32.2", Shows(&["00:00:06.00", "sse comment \": keepalive\""])),
                        ("ts-server@2.4.0", Shows(&["00:00:06.00", "sse comment \": keepalive\""])),
                        ("python-sdk-server@2.3.0", Shows(&["00:00:06.00", "sse comment \": ping - "])),
                        ("ts-sdk-server@1.29.0", Refused("server.keepalive")),
                        ("rmcp", Shows(&["00:00:05.00", "sse comment \":\""])),
                        ("exec:", Refused("server.keepalive")),
                    ],
                ),
                valid(
                    "MCP: off, the GET stream stays silent",
                    mcp("2025-11-25", "[server]\nkeepalive = \"off\"\n"),
                    vec![
                        ("reference", Lacks(&["sse comment"])),
                        ("bug/*", Honoured),
                        ("ts-sdk-client@1.32.2", Honoured),
                        ("ts-sdk-server@1.32.2", Lacks(&["sse comment"])),
                        ("ts-server@2.4.0", Lacks(&["sse comment"])),
                        ("python-sdk-server@2.3.0", Lacks(&["sse comment"])),
                        ("ts-sdk-server@1.29.0", Lacks(&["sse comment"])),
                        ("rmcp", Lacks(&["sse comment"])),
                        ("exec:", Refused("server.keepalive")),
                    ],
                ),
            ],
        },
        Row {
            readme: "server.keepalive-frame",
            cases: vec![
                valid(
                    "plain SSE: the named event `ping`",
                    plain("[server]\nkeepalive = \"5s\"\nkeepalive-frame = \"named-event\"\n"),
                    vec![
                        ("reference", Shows(&["00:00:06.0", "server  conn#1 sse event \"ping\" data=\"\""])),
                        ("bug/*", Honoured),
                        ("axum-sse", Refused("server.keepalive-frame")),
                        ("exec:", Refused("server.keepalive")),
                    ],
                ),
                valid(
                    "MCP: the named event `ping` on the GET stream",
                    mcp("2025-11-25", "[server]\nkeepalive-frame = \"named-event\"\n"),
                    sdk_frame_outcomes(Shows(&["server  conn#3 sse event \"ping\" data=\"\"  (timer#1)"]), "server.keepalive-frame"),
                ),
            ],
        },
        Row {
            readme: "server.keepalive-comment",
            cases: vec![
                valid(
                    "plain SSE: the comment `: hi`",
                    plain("[server]\nkeepalive = \"5s\"\nkeepalive-comment = \" hi\"\n"),
                    vec![
                        ("reference", Shows(&["00:00:06.0", "server  conn#1 sse comment \": hi\""])),
                        ("bug/*", Honoured),
                        ("axum-sse", Shows(&["00:00:06.0", "server  conn#1 sse comment \": hi\""])),
                        ("exec:", Refused("server.keepalive")),
                    ],
                ),
                valid(
                    "plain SSE: `:hi` (no space), which axum cannot write",
                    plain("[server]\nkeepalive-comment = \"hi\"\n"),
                    vec![
                        ("reference", Shows(&["server  conn#1 sse comment \":hi\""])),
                        ("bug/*", Honoured),
                        ("axum-sse", Refused("server.keepalive-comment")),
                        ("exec:", Refused("server.keepalive-comment")),
                    ],
                ),
                valid(
                    "MCP: the comment `: hi` on the GET stream",
                    mcp("2025-11-25", "[server]\nkeepalive-comment = \" hi\"\n"),
                    sdk_frame_outcomes(Shows(&["server  conn#3 sse comment \": hi\"  (timer#1)"]), "server.keepalive-comment"),
                ),
            ],
        },
        Row {
            readme: "server.keepalive-event",
            cases: vec![
                valid(
                    "plain SSE: the named event `beat`",
                    plain("[server]\nkeepalive = \"5s\"\nkeepalive-frame = \"named-event\"\nkeepalive-event = \"beat\"\n"),
                    vec![
                        ("reference", Shows(&["00:00:06.0", "server  conn#1 sse event \"beat\" data=\"\""])),
                        ("bug/*", Honoured),
                        ("axum-sse", Refused("server.keepalive-frame")),
                        ("exec:", Refused("server.keepalive")),
                    ],
                ),
                valid(
                    "MCP: the named event `beat` on the GET stream",
                    mcp("2025-11-25", "[server]\nkeepalive-frame = \"named-event\"\nkeepalive-event = \"beat\"\n"),
                    sdk_frame_outcomes(Shows(&["server  conn#3 sse event \"beat\" data=\"\"  (timer#1)"]), "server.keepalive-frame"),
                ),
            ],
        },
        Row {
            readme: "server.x-accel-buffering-no",
            cases: vec![
                valid(
                    "plain SSE: false, no `X-Accel-Buffering` header",
                    plain("[server]\nx-accel-buffering-no = false\n"),
                    vec![
                        ("reference", Holds(|r| (!has_x_accel(r)).then_some(()).ok_or_else(|| format!("{:?}", first_sse_headers(r))))),
                        ("bug/*", Honoured),
                        ("axum-sse", Holds(|r| (!has_x_accel(r)).then_some(()).ok_or_else(|| format!("{:?}", first_sse_headers(r))))),
                        ("exec:", Refused("server.x-accel-buffering-no")),
                    ],
                ),
                valid(
                    "MCP: false, no header; rmcp and the SDKs send it anyway, but 1.29.0",
                    mcp("2025-11-25", "[server]\nx-accel-buffering-no = false\nkeepalive = \"off\"\n"),
                    {
                        let mut o = vec![
                            ("reference", Holds(no_x_accel as fn(&RunResult) -> Result<(), String>)),
                            ("bug/*", Honoured),
                            ("ts-sdk-client@1.32.2", Honoured),
                            ("rmcp", Refused("server.x-accel-buffering-no")),
                            ("ts-sdk-server@1.29.0", Holds(no_x_accel)),
                            ("exec:", Refused("server.x-accel-buffering-no")),
                        ];
                        o.extend(
                            SDK_SERVERS
                                .into_iter()
                                .filter(|t| *t != "ts-sdk-server@1.29.0")
                                .map(|t| (t, Refused("server.x-accel-buffering-no"))),
                        );
                        o
                    },
                ),
                valid(
                    "MCP: true, the header on SSE responses",
                    mcp("2025-11-25", "[server]\nx-accel-buffering-no = true\nkeepalive = \"off\"\n"),
                    {
                        let mut o = vec![
                            ("reference", Holds(x_accel as fn(&RunResult) -> Result<(), String>)),
                            ("bug/*", Honoured),
                            ("ts-sdk-client@1.32.2", Honoured),
                            ("rmcp", Holds(x_accel)),
                            ("ts-sdk-server@1.29.0", Refused("server.x-accel-buffering-no")),
                            ("exec:", Refused("server.x-accel-buffering-no")),
                        ];
                        o.extend(
                            SDK_SERVERS
                                .into_iter()
                                .filter(|t| *t != "ts-sdk-server@1.29.0")
                                .map(|t| (t, Holds(x_accel))),
                        );
                        o
                    },
                ),
            ],
        },
        Row {
            readme: "server.first-byte-delay",
            cases: vec![
                valid(
                    "plain SSE: headers 3 s after the request",
                    plain("[server]\nfirst-byte-delay = \"3s\"\n"),
                    first_byte_delay_outcomes(Shows(&["00:00:04.0", "server  conn#1 200 text/event-stream"])),
                ),
                valid(
                    "MCP: the initialize answer 3 s after the request",
                    mcp("2025-11-25", "[server]\nfirst-byte-delay = \"3s\"\n"),
                    reference_server_only(Shows(&["00:00:03.00", "server  conn#1 200 application/json"]), "server.first-byte-delay"),
                ),
            ],
        },
        Row {
            readme: "server.end-after",
            cases: vec![
                valid(
                    "plain SSE: the response ends 3 s after it started",
                    plain("[server]\nend-after = \"3s\"\n"),
                    vec![
                        ("reference", Shows(&["00:00:04.0", "server  conn#1 response ended by server"])),
                        ("bug/*", Honoured),
                        ("axum-sse", Shows(&["00:00:04.00", "client  conn#1 stream ended (response complete)"])),
                        ("exec:", Refused("server.end-after")),
                    ],
                ),
                valid(
                    "MCP: the GET response ends 3 s after it started (it stayed open for the run before)",
                    mcp("2025-11-25", "[server]\nend-after = \"3s\"\n"),
                    reference_server_only(Shows(&["00:00:04.00", "server  conn#3 response ended by server"]), "server.end-after"),
                ),
                valid(
                    "MCP: only the tool call's SSE answer ends, the GET stream stays",
                    mcp("2025-11-25", "[server]\nend-after = { after = \"3s\", streams = [\"post\"] }\n[[client.step]]\nat = \"2s\"\ndo = \"call-tool\"\ntool-duration = \"10s\"\n"),
                    reference_server_only(
                        Holds(|r| {
                            let t = render_text(&r.trace);
                            let post = line_with(&t, &["server  conn#4 response ended by server", "00:00:05.00"]);
                            let get = line_with(&t, &["server  conn#3 response ended by server"]);
                            (post.is_some() && get.is_none()).then_some(()).ok_or(t)
                        }),
                        "server.end-after",
                    ),
                ),
                invalid(
                    "plain SSE streams have no kinds to pick",
                    plain("[server]\nend-after = { after = \"3s\", streams = [\"get\"] }\n"),
                    "server.end-after.streams",
                    "speaks plain SSE",
                ),
            ],
        },
        Row {
            readme: "[[server.event]]",
            cases: vec![
                valid(
                    "plain SSE: the event at its time",
                    plain("[[server.event]]\nat = \"5s\"\nevent = \"update\"\ndata = \"x\"\n"),
                    vec![
                        ("reference", Shows(&["00:00:05.000  server  conn#1 sse event \"update\" data=\"x\""])),
                        ("bug/*", Honoured),
                        ("axum-sse", Shows(&["00:00:05.000  server  conn#1 sse event \"update\" data=\"x\""])),
                        ("exec:", Refused("server.event[0]")),
                    ],
                ),
                invalid(
                    "MCP streams carry JSON-RPC messages",
                    mcp("2025-11-25", "[[server.event]]\nat = \"5s\"\ndata = \"x\"\n"),
                    "server.event[0]",
                    "client speaks MCP",
                ),
            ],
        },
        Row {
            readme: "[[client.step]]",
            cases: vec![valid(
                "open-stream and close-stream",
                plain("[[client.step]]\nat = \"5s\"\ndo = \"close-stream\"\n"),
                everyone(Shows(&["00:00:05.000  client  conn#1 closed by client  (close-stream step)"])),
            )],
        },
        Row {
            readme: "[[client.step]] (MCP)",
            cases: vec![
                valid(
                    "initialize, open-get-stream, call-tool, ping, delete-session",
                    mcp("2025-11-25", "[[client.step]]\nat = \"2s\"\ndo = \"call-tool\"\ntool-duration = \"3s\"\nprogress-every = \"1s\"\n[[client.step]]\nat = \"6s\"\ndo = \"ping\"\n[[client.step]]\nat = \"7s\"\ndo = \"delete-session\"\n"),
                    mcp_steps(),
                ),
            ],
        },
        Row {
            readme: "[[client.step]] do = reconnect-stream",
            cases: vec![
                valid(
                    "the GET stream's connection is dropped and reopened with the chosen id",
                    mcp("2025-11-25", "[[client.step]]\nat = \"5s\"\ndo = \"reconnect-stream\"\nlast-event-id = \"1\"\n"),
                    {
                        // A step of the reference client: every server runs it (how each
                        // answers the resumption is its own; see `server.resume`).
                        let mut o = vec![
                            ("reference", Holds(|r| {
                                let t = render_text(&r.trace);
                                let closed = line_with(&t, &["00:00:05.000  client  conn#3 closed by client  (reconnect-stream step)"]);
                                let reopened = line_with(&t, &["00:00:05.0", "client  conn#4 GET /mcp  Last-Event-ID=\"1\""]);
                                (closed.is_some() && reopened.is_some()).then_some(()).ok_or(t)
                            })),
                            ("bug/*", Honoured),
                            ("ts-sdk-client@1.32.2", Refused("client.step[2].do")),
                            ("rmcp", Honoured),
                            ("exec:", Honoured),
                        ];
                        o.extend(SDK_SERVERS.map(|t| (t, Honoured)));
                        o
                    },
                ),
                invalid(
                    "only an open GET stream can be reconnected",
                    mcp("2025-11-25", "[[client.step]]\nat = \"5s\"\ndo = \"reconnect-stream\"\nstream = \"other\"\nlast-event-id = \"1\"\n"),
                    "client.step[2].stream",
                    "not a GET stream open at this time",
                ),
            ],
        },
        Row {
            readme: "[client]",
            cases: vec![
                valid(
                    "reconnect = false: a GET stream the server ends is not reopened",
                    mcp("2025-11-25", "[server]\nend-after = { after = \"3s\", streams = [\"get\"] }\n[client]\nreconnect = false\n"),
                    python_refuses(client_policy(Lacks(&["reconnecting"])), "client.reconnect"),
                ),
                valid(
                    "reconnect-initial: the first delay when the server sent no retry",
                    mcp("2025-11-25", "[server]\nend-after = { after = \"3s\", streams = [\"get\"] }\nretry = \"off\"\n[client]\nreconnect-initial = \"2s\"\n"),
                    python_refuses(
                        client_policy(Shows(&["client  conn#3 stream=get reconnecting in 2s (attempt 1"])),
                        "client.reconnect-initial",
                    ),
                ),
                valid(
                    "reconnect-max, reconnect-attempts: doubling up to 4 s, given up after 2 failures",
                    mcp("2025-11-25", "[server]\nend-after = { after = \"3s\", streams = [\"get\"] }\nresume = \"http-500\"\nretry = \"off\"\n[client]\nreconnect-initial = \"2s\"\nreconnect-max = \"3s\"\nreconnect-attempts = 2\n"),
                    python_refuses(client_policy(Holds(|r| {
                        let t = render_text(&r.trace);
                        let capped = line_with(&t, &["reconnecting in 3s (attempt 2"]);
                        let gave_up = line_with(&t, &["given up after 2 failed reconnections"]);
                        (capped.is_some() && gave_up.is_some()).then_some(()).ok_or(t)
                    })), "client.reconnect-initial"),
                ),
                invalid(
                    "a plain SSE client does not reconnect",
                    plain("[client]\nreconnect = false\n"),
                    "client.reconnect",
                    "applies only to MCP scenarios",
                ),
                invalid(
                    "nothing is reconnected under 2026-07-28",
                    format!("protocol = [\"2026-07-28\"]\n{HEAD}[[client.step]]\nat = \"1s\"\ndo = \"call-tool\"\ntool-duration = \"5s\"\n[client]\nreconnect-initial = \"2s\"\n"),
                    "client.reconnect-initial",
                    "has no effect under 2026-07-28",
                ),
            ],
        },
        Row {
            readme: "client.keepalive-expected",
            cases: vec![
                valid(
                    "a missed-keepalive warning after 1.5 × 2 s of silence",
                    mcp("2025-11-25", "[server]\nkeepalive = \"off\"\n[client]\nkeepalive-expected = \"2s\"\n"),
                    {
                        let mut o = reference_server_only(Shows(&["00:00:04.00", "client  conn#3 warning", "missed keepalive"]), "server.keepalive");
                        o.retain(|(t, _)| !SDK_SERVERS.contains(t) && *t != "rmcp" && *t != "ts-sdk-client@1.32.2");
                        o.push(("ts-sdk-client@1.32.2", Refused("client.keepalive-expected")));
                        // A key of the reference client: every server runs it.
                        o.extend(SDK_SERVERS.map(|t| (t, Honoured)));
                        o.push(("rmcp", Honoured));
                        o
                    },
                ),
                invalid(
                    "a plain SSE client has no keepalive expectation",
                    plain("[client]\nkeepalive-expected = \"2s\"\n"),
                    "client.keepalive-expected",
                    "applies only to MCP scenarios",
                ),
            ],
        },
        Row {
            readme: "server.event-store",
            cases: vec![
                valid(
                    "false: a resumed GET starts afresh, nothing is replayed",
                    mcp("2025-11-25", "[server]\nend-after = { after = \"3s\", streams = [\"get\"] }\nevent-store = false\n"),
                    reference_server_only(Shows(&["server  conn#4 carries get stream g2"]), "server.end-after"),
                ),
                valid(
                    "false: the notification sent while the GET stream was cut is lost",
                    event_store_sdk(false),
                    sdk_event_store(false),
                ),
                valid(
                    "true: the notification sent while the GET stream was cut is replayed",
                    event_store_sdk(true),
                    sdk_event_store(true),
                ),
                invalid(
                    "a plain SSE server keeps no events",
                    plain("[server]\nevent-store = true\n"),
                    "server.event-store",
                    "applies only to MCP scenarios",
                ),
            ],
        },
        Row {
            readme: "server.retry",
            cases: vec![
                valid(
                    "the priming event carries retry: 2000",
                    mcp("2025-11-25", "[server]\nretry = \"2s\"\nkeepalive = \"off\"\n"),
                    {
                        let effect = Shows(&["client  conn#", "retry 2000ms"]);
                        let mut o = vec![
                            ("reference", effect),
                            ("bug/*", Honoured),
                            ("ts-sdk-client@1.32.2", Honoured),
                            ("rmcp", effect),
                            ("exec:", Refused("server.retry")),
                        ];
                        o.extend(SDK_SERVERS.map(|t| (t, effect)));
                        o
                    },
                ),
                invalid(
                    "2025-06-18 has no priming event",
                    mcp("2025-06-18", "[server]\nretry = \"2s\"\n"),
                    "server.retry",
                    "only 2025-11-25 has",
                ),
            ],
        },
        Row {
            readme: "[[server.notification]]",
            cases: vec![valid(
                "the notification reaches the client's GET stream",
                mcp("2025-11-25", "[server]\nkeepalive = \"off\"\n[[server.notification]]\nat = \"5s\"\nmethod = \"notifications/tools/list_changed\"\n"),
                {
                    let effect = Shows(&["client  conn#3 delivered notifications/tools/list_changed"]);
                    let mut o = vec![
                        ("reference", effect),
                        ("bug/*", Honoured),
                        ("ts-sdk-client@1.32.2", Honoured),
                        ("rmcp", Shows(&["client  conn#3 received", "notifications/tools/list_changed"])),
                        ("exec:", Refused("server.keepalive")),
                    ];
                    o.extend(SDK_SERVERS.map(|t| (t, effect)));
                    o
                },
            )],
        },
        Row {
            readme: "server.resume",
            cases: vec![
                valid(
                    "empty-200: the resumed GET gets an empty 200 that ends at once",
                    mcp("2025-11-25", "[server]\nend-after = { after = \"3s\", streams = [\"get\"] }\nresume = \"empty-200\"\n"),
                    reference_server_only(Shows(&["server  conn#4 response ended by server"]), "server.end-after"),
                ),
                valid(
                    "http-404: the resumed GET is answered 404",
                    mcp("2025-11-25", "[server]\nend-after = { after = \"3s\", streams = [\"get\"] }\nresume = \"http-404\"\n"),
                    reference_server_only(Shows(&["server  conn#4 404 application/json"]), "server.end-after"),
                ),
                valid(
                    "http-500: the resumed GET is answered 500",
                    mcp("2025-11-25", "[server]\nend-after = { after = \"3s\", streams = [\"get\"] }\nresume = \"http-500\"\n"),
                    reference_server_only(Shows(&["server  conn#4 500 application/json"]), "server.end-after"),
                ),
                valid(
                    "replay (the default), set: SDK servers replay from their event store",
                    mcp("2025-11-25", "[server]\nresume = \"replay\"\n[[client.step]]\nat = \"5s\"\ndo = \"reconnect-stream\"\nlast-event-id = \"1\"\n"),
                    {
                        let mut o = vec![
                            ("reference", Shows(&["server  conn#4 replaying"])),
                            ("bug/*", Honoured),
                            ("ts-sdk-client@1.32.2", Refused("client.step[2].do")),
                            ("rmcp", Shows(&["client  conn#4 response 200"])),
                            ("exec:", Refused("server.resume")),
                        ];
                        o.extend(SDK_SERVERS.map(|t| (t, Shows(&["client  conn#4 response 200"]))));
                        o
                    },
                ),
                valid(
                    "empty-200 cannot be set on a real SDK",
                    mcp("2025-11-25", "[server]\nresume = \"empty-200\"\n"),
                    {
                        let mut o = reference_server_only(Honoured, "server.resume");
                        o.retain(|(t, _)| *t != "reference" && *t != "ts-sdk-client@1.32.2");
                        o.extend([("reference", Honoured), ("ts-sdk-client@1.32.2", Honoured)]);
                        o
                    },
                ),
                invalid(
                    "nothing is resumed under 2026-07-28",
                    format!("protocol = [\"2026-07-28\"]\n{HEAD}[[client.step]]\nat = \"1s\"\ndo = \"call-tool\"\ntool-duration = \"5s\"\n[server]\nresume = \"http-404\"\n"),
                    "server.resume",
                    "has no effect under 2026-07-28",
                ),
            ],
        },
        Row {
            readme: "server.session-idle-timeout",
            cases: vec![
                valid(
                    "a session without a request for 5 s is forgotten: a ping at 10 s gets 404",
                    format!("protocol = [\"2025-11-25\"]\n{HEAD}[[client.step]]\nat = \"0s\"\ndo = \"initialize\"\n[[client.step]]\nat = \"10s\"\ndo = \"ping\"\n[server]\nsession-idle-timeout = \"5s\"\nkeepalive = \"off\"\n"),
                    {
                        let effect = Shows(&["client  conn#3 rpc #2 answered: http 404"]);
                        let mut o = vec![
                            ("reference", effect),
                            ("bug/*", Honoured),
                            ("ts-sdk-client@1.32.2", Honoured),
                            ("python-sdk-server@2.3.0", effect),
                            ("rmcp", effect),
                            ("ts-sdk-server@1.32.2", Refused("server.session-idle-timeout")),
                            ("ts-sdk-server@1.29.0", Refused("server.session-idle-timeout")),
                            ("ts-server@2.4.0", Refused("server.session-idle-timeout")),
                            ("exec:", Refused("server.session-idle-timeout")),
                        ];
                        o.sort_by_key(|(t, _)| *t);
                        o
                    },
                ),
                valid(
                    "the reference forgets a listening session too (its open GET stream ends)",
                    mcp("2025-11-25", "[server]\nsession-idle-timeout = \"5s\"\n"),
                    {
                        let mut o = reference_server_only(Shows(&["00:00:06.0", "server  session s1 expired: no request for 5s"]), "server.session-idle-timeout");
                        o.retain(|(t, _)| !["ts-sdk-client@1.32.2", "rmcp", "python-sdk-server@2.3.0"].contains(t));
                        o.extend([
                            ("ts-sdk-client@1.32.2", Honoured),
                            // rmcp's session keep_alive: no request or message for 5 s ends it.
                            ("rmcp", Shows(&["00:00:06.0", "server  conn#3 response ended by server"])),
                            // Python's own rule: a request in flight (the open GET) keeps it.
                            ("python-sdk-server@2.3.0", Lacks(&["client  conn#3 stream ended"])),
                        ]);
                        o
                    },
                ),
                invalid(
                    "2026-07-28 has no sessions",
                    format!("protocol = [\"2026-07-28\"]\n{HEAD}[[client.step]]\nat = \"1s\"\ndo = \"call-tool\"\ntool-duration = \"5s\"\n[server]\nsession-idle-timeout = \"5m\"\n"),
                    "server.session-idle-timeout",
                    "has no effect under 2026-07-28",
                ),
            ],
        },
        Row {
            readme: "[[fault]]",
            cases: vec![valid(
                "a partition applied on the network engine",
                plain("[[intermediary]]\nname = \"edge\"\n[[fault]]\nat = \"5s\"\ndo = \"partition\"\na = \"client\"\nb = \"edge\"\n"),
                vec![
                    ("reference", Shows(&["00:00:05.000", "fault: partition client ↔ edge"])),
                    ("bug/*", Honoured),
                    ("axum-sse", Shows(&["00:00:05.000", "fault: partition client ↔ edge"])),
                    ("exec:", Refused("fault[0]")),
                ],
            )],
        },
        Row {
            readme: "[[expect]]",
            cases: vec![valid(
                "the check is judged",
                plain("[[expect]]\ncheck = \"stream.survives\"\n"),
                everyone(Holds(|r| {
                    r.checks
                        .iter()
                        .any(|c| c.id == "stream.survives")
                        .then_some(())
                        .ok_or_else(|| "stream.survives not judged".into())
                })),
            )],
        },
        Row {
            readme: "[expect-fail.\"TARGET\"]",
            cases: vec![valid(
                "the target's failure is expected",
                plain("[server]\nkeepalive = \"off\"\n[[intermediary]]\nidle-timeout = { after = \"5s\" }\n[[expect]]\ncheck = \"stream.survives\"\n[expect-fail.\"reference\"]\nchecks = [\"stream.survives\"]\n"),
                vec![
                    ("reference", Holds(|r| (r.expected_fail && !r.unexpected).then_some(()).ok_or_else(|| format!("{:?}", r.checks)))),
                    ("bug/*", Honoured),
                    ("axum-sse", Honoured),
                    ("exec:", Refused("server.keepalive")),
                ],
            )],
        },
    ]
}

fn no_x_accel(r: &RunResult) -> Result<(), String> {
    (!has_x_accel(r))
        .then_some(())
        .ok_or_else(|| format!("{:?}", first_sse_headers(r)))
}

fn x_accel(r: &RunResult) -> Result<(), String> {
    has_x_accel(r)
        .then_some(())
        .ok_or_else(|| format!("{:?}", first_sse_headers(r)))
}

/// A simulation key in an MCP scenario: every target in scope runs it, the reference shows
/// `effect` (the SDK client runs against the reference server: the same effect).
fn everyone_mcp(effect: Outcome) -> Vec<(&'static str, Outcome)> {
    let mut out = everyone(Honoured);
    for (t, o) in out.iter_mut() {
        if *t == "reference" || *t == "ts-sdk-client@1.32.2" {
            *o = effect;
        }
    }
    out
}

/// A simulation key in a plain SSE scenario that sets `keepalive = "off"` (which exec:
/// cannot honour).
fn sim_plain(effect: Outcome) -> Vec<(&'static str, Outcome)> {
    vec![
        ("reference", effect),
        ("bug/*", Honoured),
        ("axum-sse", effect),
        ("exec:", Refused("server.keepalive")),
    ]
}

/// `first-byte-delay` in a plain SSE scenario.
fn first_byte_delay_outcomes(effect: Outcome) -> Vec<(&'static str, Outcome)> {
    vec![
        ("reference", effect),
        ("bug/*", Honoured),
        ("axum-sse", effect),
        ("exec:", Refused("server.first-byte-delay")),
    ]
}

/// A keepalive frame key in an MCP scenario: the reference writes it; no SDK, rmcp or exec:
/// has the setting.
fn sdk_frame_outcomes(effect: Outcome, path: &'static str) -> Vec<(&'static str, Outcome)> {
    reference_server_only(effect, path)
}

/// The MCP steps, run by the reference client against every server, and by the SDK client.
fn mcp_steps() -> Vec<(&'static str, Outcome)> {
    let effect = Holds(|r| {
        let t = render_text(&r.trace);
        for needles in [
            &["client", "rpc → initialize"][..],
            &["client", "GET /mcp"],
            &["client", "rpc → tools/call"],
            &["client", "delivered notifications/progress"],
            &["client", "rpc → ping"],
            &["client", "DELETE /mcp"],
        ] {
            if line_with(&t, needles).is_none() {
                return Err(format!("no line with {needles:?}:\n{t}"));
            }
        }
        Ok(())
    });
    // Steps of the reference client: every server runs them (the effect on the server side
    // is each implementation's own; the SDK client takes the same steps).
    let mut o = vec![
        ("reference", effect),
        ("bug/*", Honoured),
        ("ts-sdk-client@1.32.2", effect),
        ("rmcp", Honoured),
        ("exec:", Honoured),
    ];
    o.extend(SDK_SERVERS.map(|t| (t, Honoured)));
    // The Python SDK client has no call that ends the session alone (step 4, delete-session).
    o.push(("python-sdk-client@2.3.0", Refused("client.step[4].do")));
    o
}

/// `outcomes` with the Python SDK client refusing at `path`: its transport has no
/// reconnection settings.
fn python_refuses(
    mut outcomes: Vec<(&'static str, Outcome)>,
    path: &'static str,
) -> Vec<(&'static str, Outcome)> {
    outcomes.push(("python-sdk-client@2.3.0", Refused(path)));
    outcomes
}

/// The `[client]` reconnection policy: the reference client and the SDK client (which gets
/// it as its transport's reconnection options) show `effect` against the reference server.
fn client_policy(effect: Outcome) -> Vec<(&'static str, Outcome)> {
    let mut o = reference_server_only(effect, "server.end-after");
    o.retain(|(t, _)| *t != "ts-sdk-client@1.32.2");
    o.push(("ts-sdk-client@1.32.2", effect));
    o
}

/// A GET stream that receives a notification at 2 s (so the client holds an event id), is
/// cut by an intermediary 4 s after it opened, misses the notification of 6 s, and is
/// resumed after the server's retry (3 s) with the id it holds.
fn event_store_sdk(store: bool) -> String {
    mcp(
        "2025-11-25",
        &format!(
            "[server]\nevent-store = {store}\nkeepalive = \"off\"\n[[intermediary]]\nname = \"edge\"\nmax-duration = {{ after = \"4s\" }}\n[[server.notification]]\nat = \"2s\"\nmethod = \"notifications/tools/list_changed\"\n[[server.notification]]\nat = \"6s\"\nmethod = \"notifications/tools/list_changed\"\n"
        ),
    )
}

/// How many notifications reached the client's application.
fn delivered(r: &RunResult) -> usize {
    render_text(&r.trace)
        .lines()
        .filter(|l| {
            l.contains("client") && l.contains("delivered notifications/tools/list_changed")
        })
        .count()
}

fn sdk_event_store(store: bool) -> Vec<(&'static str, Outcome)> {
    let delivered = if store {
        Holds(|r| {
            (delivered(r) == 2)
                .then_some(())
                .ok_or(format!("{} delivered", delivered(r)))
        })
    } else {
        Holds(|r| {
            (delivered(r) == 1)
                .then_some(())
                .ok_or(format!("{} delivered", delivered(r)))
        })
    };
    let mut o = vec![
        ("reference", delivered),
        ("bug/*", Honoured),
        ("ts-sdk-client@1.32.2", Honoured),
        ("exec:", Refused("server.event-store")),
    ];
    o.push(if store {
        // rmcp numbers its standalone stream's events from 0, as it numbered the initialize
        // answer: the client takes them for duplicates; the replay is on the wire.
        (
            "rmcp",
            Shows(&[
                "client  conn#4 received",
                "notifications/tools/list_changed",
            ]),
        )
    } else {
        ("rmcp", Refused("server.event-store"))
    });
    o.extend(SDK_SERVERS.map(|t| (t, delivered)));
    o
}

/// The README's scenario keys table: the first column of every row.
fn readme_keys() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme
        .find("## Scenario files")
        .expect("a Scenario files section");
    let section = &readme[start..];
    let table = section
        .lines()
        .skip_while(|l| !l.starts_with("| key |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'));
    table
        .map(|l| {
            let first = l
                .trim_start_matches('|')
                .split(" | ")
                .next()
                .unwrap_or("")
                .trim();
            first.replace('`', "")
        })
        .collect()
}

/// The targets a case is decided for: the registry's and an exec: server.
fn targets() -> Vec<TargetInfo> {
    let mut all = targets::all();
    all.push(targets::get("exec:true").expect("an exec target"));
    all
}

/// The outcome the case declares for target `t`, if any.
fn declared(outcomes: &[(&'static str, Outcome)], t: &TargetInfo) -> Option<Outcome> {
    let key = if t.bug_model {
        "bug/*"
    } else if t.name.starts_with("exec:") {
        "exec:"
    } else {
        t.name
    };
    let found = |key: &str| outcomes.iter().find(|(n, _)| *n == key).map(|(_, o)| *o);
    found(key).or_else(|| match key {
        // The 2.x TypeScript client keeps 1.x's transport and unhonoured keys (its trace is
        // 1.32.2's but for the timeout's error code): 1.32.2's outcome unless a case says.
        // The Python SDK client runs against the reference server as 1.32.2 does, so a
        // server or simulation key has the same outcome; the client keys where it differs
        // are declared in their cases.
        "ts-client@2.4.0" | "python-sdk-client@2.3.0" => found("ts-sdk-client@1.32.2"),
        _ => None,
    })
}

fn judge(case: &Case, s: &Scenario, t: &TargetInfo, outcome: Outcome) -> Result<(), String> {
    let refusal = t.refusal(s);
    let run = |s: &Scenario| {
        if let Some(e) = &refusal {
            return Err(format!("refused: {e}"));
        }
        if !t.applies_to(s) {
            return Err("does not run on it".to_string());
        }
        let r = suite::run_one(s, t, None);
        match &r.error {
            Some(e) if e.contains("is not installed") => {
                Err(format!("{e}\n(run `harness/setup` before these tests)"))
            }
            _ => Ok(r),
        }
    };
    match outcome {
        Honoured => match (&refusal, t.applies_to(s)) {
            (None, true) => Ok(()),
            _ => Err(format!("expected it to run; refusal {refusal:?}")),
        },
        Refused(path) => match &refusal {
            Some(e)
                if e.key_path == path
                    && e.message
                        .starts_with(&format!("{} cannot honour this: ", t.name))
                    && e.line > 0
                    && !t.applies_to(s) =>
            {
                Ok(())
            }
            _ => Err(format!("expected a refusal at {path}, got {refusal:?}")),
        },
        Shows(needles) => {
            let r = run(s)?;
            let text = render_text(&r.trace);
            line_with(&text, needles).map(|_| ()).ok_or(format!(
                "no trace line with {needles:?} ({}):\n{text}",
                r.error.unwrap_or_default()
            ))
        }
        Lacks(needles) => {
            let r = run(s)?;
            let text = render_text(&r.trace);
            match line_with(&text, needles) {
                None if r.error.is_none() => Ok(()),
                None => Err(format!("the run failed: {:?}", r.error)),
                Some(l) => Err(format!("trace line {l:?} has {needles:?}")),
            }
        }
        Holds(f) => {
            let r = run(s)?;
            f(&r).map_err(|e| format!("{e}\n{}", render_text(&r.trace)))
        }
    }
    .map_err(|e| format!("{}: {e}", case.what))
}

#[test]
fn every_documented_key_takes_effect_or_is_refused_for_every_target() {
    let rows = table();
    // The README's table and this one name the same keys.
    let documented = readme_keys();
    assert!(documented.len() >= 30, "{documented:?}");
    for key in &documented {
        assert!(
            rows.iter().any(|r| r.readme == key),
            "README documents `{key}`, which this test's table lacks: add a row deciding, for every target, whether it takes effect or is refused"
        );
    }
    for r in &rows {
        assert!(
            documented.iter().any(|k| k == r.readme),
            "row `{}` is not in the README's scenario keys table",
            r.readme
        );
    }
    let targets = targets();
    let mut failures = Vec::new();
    // (row, case, scenario, target, outcome): judged on two threads (process targets start a
    // child each).
    let mut jobs: Vec<(&Row, &Case, Scenario, &TargetInfo, Outcome)> = Vec::new();
    for row in &rows {
        assert!(!row.cases.is_empty(), "{}", row.readme);
        for case in &row.cases {
            let parsed = scenario::parse("keys.toml", &case.scenario);
            let (outcomes, s) = match (&case.outcomes, parsed) {
                (Err((path, says)), Err(e)) => {
                    if e.key_path != *path || !e.message.contains(says) || e.line == 0 {
                        failures.push(format!(
                            "{} / {}: expected {path}: …{says}…, got {e}",
                            row.readme, case.what
                        ));
                    }
                    continue;
                }
                (Err((path, _)), Ok(_)) => {
                    failures.push(format!(
                        "{} / {}: loaded; expected an error at {path}",
                        row.readme, case.what
                    ));
                    continue;
                }
                (Ok(_), Err(e)) => {
                    failures.push(format!("{} / {}: {e}", row.readme, case.what));
                    continue;
                }
                (Ok(o), Ok(s)) => (o, s),
            };
            for t in targets.iter().filter(|t| t.in_scope(&s)) {
                match declared(outcomes, t) {
                    Some(outcome) => jobs.push((row, case, s.clone(), t, outcome)),
                    None => failures.push(format!(
                        "{} / {}: no outcome for target {} (decide: takes effect, or refused)",
                        row.readme, case.what, t.name
                    )),
                }
            }
        }
    }
    let judged = suite::parallel(jobs.len(), 2, |i| {
        let (row, case, s, t, outcome) = &jobs[i];
        judge(case, s, t, *outcome).map_err(|e| format!("{} × {}: {e}", row.readme, t.name))
    });
    failures.extend(judged.into_iter().filter_map(Result::err));
    assert!(
        failures.is_empty(),
        "{} failures:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn bug_models_honour_every_key() {
    // Bug models are the reference with one declared defect: every key reaches them, and the
    // defect is the point (bug/no-keepalive removes the keepalive the file sets).
    for t in targets::all().iter().filter(|t| t.bug_model) {
        assert!(
            t.unhonoured.is_empty(),
            "{} declares unhonoured keys",
            t.name
        );
    }
}
