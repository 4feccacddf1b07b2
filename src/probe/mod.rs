//! `middlebox probe URL`: checks a running MCP endpoint, through whatever sits in front of
//! it, on real time.
//!
//! ```text
//!  URL ──▶ http::Endpoint ──POST initialize──▶ session id, protocol version
//!                          ──POST notifications/initialized
//!                          ──POST tools/list──▶ tool count
//!                          ──GET stream, read for SPAN──▶ Observation
//!                                                         (headers, every read's instant,
//!                                                          its frames, who ended it)
//!                                                              │ judge
//!                                                              ▼
//!                                        Report: verdicts (pass / fail / unobservable),
//!                                        per preset: would its idle limit be crossed?
//! ```
//!
//! [`http`] is the client (one blocking connection at a time), [`observation`] what the GET
//! stream looked like, [`verdict`] the judgement and its rendering. Unlike the rest of the
//! crate this measures a real server on the wall clock: nothing here is deterministic, and
//! nothing here feeds a trace.

pub mod http;
pub mod observation;
pub mod verdict;

pub use observation::{Observation, StreamEnd};
pub use verdict::Report;

use crate::mcp::revision::Revision;
use crate::sse::{Frame, Parser};
use http::{now, Arrival, Endpoint};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long each POST of the handshake may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// The MCP revision the probe's `initialize` asks for.
pub const REVISION: Revision = Revision::V2025_06_18;

/// Runs the handshake and watches the GET stream for `span`. The error says which step
/// failed and how.
pub fn probe(url: &str, span: Duration) -> Result<Observation, String> {
    let endpoint = Endpoint::parse(url)?;

    // initialize
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": REVISION.as_str(),
        "capabilities": {},
        "clientInfo": {"name": "middlebox-probe", "version": env!("CARGO_PKG_VERSION")},
    }});
    let (head, answer) = post(&endpoint, None, None, &init, "initialize")?;
    let session_id = head.header("mcp-session-id").map(str::to_string);
    let answer = answer.ok_or("initialize: the answer held no JSON-RPC response with id 1")?;
    if let Some(err) = answer.get("error") {
        return Err(format!(
            "initialize: the server answered with an error: {err}"
        ));
    }
    let result = &answer["result"];
    let version = result["protocolVersion"]
        .as_str()
        .unwrap_or(REVISION.as_str())
        .to_string();
    let server = match (
        result["serverInfo"]["name"].as_str(),
        result["serverInfo"]["version"].as_str(),
    ) {
        (Some(n), Some(v)) => Some(format!("{n} {v}")),
        (Some(n), None) => Some(n.to_string()),
        _ => None,
    };
    let initialize_format = if head
        .header("content-type")
        .is_some_and(|c| c.contains("text/event-stream"))
    {
        "sse"
    } else {
        "json"
    };

    // notifications/initialized
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    post(
        &endpoint,
        session_id.as_deref(),
        Some(&version),
        &note,
        "notifications/initialized",
    )?;

    // tools/list
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
    let (_, answer) = post(
        &endpoint,
        session_id.as_deref(),
        Some(&version),
        &list,
        "tools/list",
    )?;
    let tool_count = answer
        .as_ref()
        .and_then(|a| a["result"]["tools"].as_array())
        .map(Vec::len);

    // The GET stream.
    let mut obs = watch(&endpoint, session_id.as_deref(), &version, span)?;
    obs.url = url.to_string();
    obs.server = server;
    obs.protocol_version = version;
    obs.session_id = session_id;
    obs.initialize_format = initialize_format.to_string();
    obs.tool_count = tool_count;
    Ok(obs)
}

/// The headers every MCP request after `initialize` carries.
fn mcp_headers(session: Option<&str>, version: Option<&str>) -> Vec<(&'static str, String)> {
    let mut h = Vec::new();
    if let Some(s) = session {
        h.push(("Mcp-Session-Id", s.to_string()));
    }
    if let Some(v) = version {
        h.push(("MCP-Protocol-Version", v.to_string()));
    }
    h
}

/// POSTs one JSON-RPC message; returns the head and, for a request, the response with its
/// id (from a JSON body or from the SSE events of an event-stream body).
fn post(
    endpoint: &Endpoint,
    session: Option<&str>,
    version: Option<&str>,
    message: &Value,
    what: &str,
) -> Result<(http::Head, Option<Value>), String> {
    let deadline = now() + POST_TIMEOUT;
    let mut conn = endpoint
        .connect(deadline)
        .map_err(|e| format!("{what}: {e}"))?;
    let mut headers = vec![
        ("Content-Type", "application/json".to_string()),
        ("Accept", "application/json, text/event-stream".to_string()),
        ("Connection", "close".to_string()),
    ];
    headers.extend(mcp_headers(session, version));
    conn.send(endpoint, "POST", &headers, message.to_string().as_bytes())
        .map_err(|e| format!("{what}: {e}"))?;
    let (head, mut body) = conn
        .read_head(deadline)
        .map_err(|e| format!("{what}: {e}"))?;
    if !(200..300).contains(&head.status) {
        let text = body.read_all(deadline).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let first = text.lines().next().unwrap_or("").trim();
        return Err(format!(
            "{what} was answered {}{}",
            head.status,
            if first.is_empty() {
                " with an empty body".to_string()
            } else {
                format!(": {first}")
            }
        ));
    }
    let Some(id) = message.get("id") else {
        return Ok((head, None));
    };
    let sse = head
        .header("content-type")
        .is_some_and(|c| c.contains("text/event-stream"));
    if !sse {
        let bytes = body
            .read_all(deadline)
            .map_err(|e| format!("{what}: {e}"))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "{what}: the answer is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes).lines().next().unwrap_or("")
            )
        })?;
        return Ok((head, Some(value)));
    }
    // An SSE answer: read events until the response with our id (the stream may stay open).
    let mut parser = Parser::new();
    loop {
        match body.next(deadline) {
            Arrival::Bytes(b) => {
                for frame in parser.feed(&b) {
                    if let Frame::Event { data, .. } = frame {
                        if let Ok(v) = serde_json::from_str::<Value>(&data) {
                            if v.get("id") == Some(id) {
                                return Ok((head, Some(v)));
                            }
                        }
                    }
                }
            }
            Arrival::Ended { .. } => return Ok((head, None)),
            Arrival::TimedOut => {
                return Err(format!(
                    "{what}: no response in the SSE answer within {}",
                    crate::time::span(POST_TIMEOUT)
                ))
            }
            Arrival::Reset(e) => return Err(format!("{what}: the connection was reset ({e})")),
        }
    }
}

/// Opens the GET stream and records it for `span`.
fn watch(
    endpoint: &Endpoint,
    session: Option<&str>,
    version: &str,
    span: Duration,
) -> Result<Observation, String> {
    let sent: Instant = now();
    let deadline = sent + span;
    let mut conn = endpoint
        .connect(deadline)
        .map_err(|e| format!("GET stream: {e}"))?;
    let mut headers = vec![
        ("Accept", "text/event-stream".to_string()),
        ("Cache-Control", "no-cache".to_string()),
    ];
    headers.extend(mcp_headers(session, Some(version)));
    conn.send(endpoint, "GET", &headers, b"")
        .map_err(|e| format!("GET stream: {e}"))?;
    let (head, mut body) = conn
        .read_head(deadline)
        .map_err(|e| format!("GET stream: {e}"))?;
    let headers_at = now();
    if head.status != 200 {
        let text = body.read_all(now() + POST_TIMEOUT).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let first = text.lines().next().unwrap_or("").trim();
        let hint = if head.status == 405 {
            " (the server offers no GET stream, so there is no stream to probe)"
        } else {
            ""
        };
        return Err(format!(
            "GET stream was answered {}{}{hint}",
            head.status,
            if first.is_empty() {
                String::new()
            } else {
                format!(": {first}")
            }
        ));
    }
    let mut obs = Observation::opened(span, &head, headers_at - sent);
    let mut parser = Parser::new();
    loop {
        match body.next(deadline) {
            Arrival::Bytes(b) => {
                let at = now() - headers_at;
                obs.arrived(at, b.len(), parser.feed(&b));
            }
            Arrival::TimedOut => {
                obs.ended(deadline - headers_at, StreamEnd::StillOpen);
                break;
            }
            Arrival::Ended { clean } => {
                obs.ended(now() - headers_at, StreamEnd::ServerClosed { clean });
                break;
            }
            Arrival::Reset(error) => {
                obs.ended(now() - headers_at, StreamEnd::Reset { error });
                break;
            }
        }
    }
    Ok(obs)
}
