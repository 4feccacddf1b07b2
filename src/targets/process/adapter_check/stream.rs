//! The MCP session step: `initialize`, then the session's GET stream, whose keepalive is the
//! repeating timer `timers.conn` and `timers.repeat` are judged on.
//!
//! ```text
//!  POST /mcp initialize ──sync──▶ 200 + Mcp-Session-Id
//!  GET /mcp (session)   ──sync──▶ 200 text/event-stream; a timer armed, conn = the GET's
//!  sync to now + 2.5 periods ───▶ that timer fired at now + d and now + 2d, repeat true
//! ```
//!
//! An implementation without a keepalive arms no timer for the stream: the two rules are then
//! not reached (a keepalive can be asked for with `--options`), never held.

use super::session::{sync_line, Session};
use super::state::{self, Seen, States};
use super::{Ledger, Setup};
use std::io::{Read, Write};
use std::net::TcpStream;

/// The longest keepalive period the step waits two periods of.
const PERIOD_MAX_MS: u64 = 120_000;

/// The two rules of this step.
const RULES: [&str; 2] = ["timers.conn", "timers.repeat"];

/// Runs the step at `now` (virtual ms); the sockets stay open until the adapter shuts down.
pub(super) fn stream_exchange(
    setup: &Setup,
    s: &mut Session,
    ledger: &mut Ledger,
    states: &mut States,
    port: u16,
    now: u64,
) {
    let skip = |ledger: &mut Ledger, why: &str| {
        for r in RULES {
            ledger.skip(r, why.to_string());
        }
    };
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "middlebox-adapter-check", "version": "1"}},
    })
    .to_string();
    let initialize = format!(
        "POST /mcp HTTP/1.1\r\nHost: server\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let Some((_init, _, _, response)) = deliver(
        setup,
        s,
        ledger,
        states,
        port,
        now,
        &initialize,
        "POST initialize",
    ) else {
        skip(
            ledger,
            "the MCP `initialize` request got no response (see the rules above)",
        );
        return;
    };
    let Some(session) = header(&response, "mcp-session-id") else {
        skip(
            ledger,
            &format!(
                "the answer to an MCP `initialize` has no Mcp-Session-Id header (these rules use an MCP session's GET stream); its head: {:?}",
                head(&response)
            ),
        );
        return;
    };
    let get = format!(
        "GET /mcp HTTP/1.1\r\nHost: server\r\nAccept: text/event-stream\r\nMcp-Session-Id: {session}\r\nMcp-Protocol-Version: 2025-11-25\r\n\r\n"
    );
    let before = states.live.clone();
    let Some((_stream, local, seen, _)) =
        deliver(setup, s, ledger, states, port, now, &get, "GET stream")
    else {
        skip(
            ledger,
            "the session's GET stream got no response (see the rules above)",
        );
        return;
    };
    let armed: Vec<state::Timer> = seen
        .timers
        .iter()
        .filter(|t| !before.contains(&t.id))
        .copied()
        .collect();
    if armed.is_empty() {
        skip(
            ledger,
            "no timer was armed while the session's GET stream was handled (an implementation without a keepalive? ask for one with --options)",
        );
        return;
    }
    let Some(timer) = armed
        .iter()
        .find(|t| t.conn == Some(u64::from(local)))
        .copied()
    else {
        let named: Vec<String> = armed
            .iter()
            .map(|t| {
                format!(
                    "timer {} conn {}",
                    t.id,
                    t.conn.map_or("null".into(), |c| c.to_string())
                )
            })
            .collect();
        ledger.broke(
            "timers.conn",
            format!(
                "timers were armed while the GET stream on conn {local} was handled, but none names it: {}",
                named.join(", ")
            ),
        );
        ledger.skip(
            "timers.repeat",
            "no timer named the GET stream's connection",
        );
        return;
    };
    ledger.held("timers.conn");
    let d = timer.delay_ms;
    if d == 0 || d > PERIOD_MAX_MS {
        ledger.skip(
            "timers.repeat",
            format!("the stream's timer {} has delay_ms {d} (the check waits two periods of at most {PERIOD_MAX_MS} ms)", timer.id),
        );
        return;
    }
    let to_ms = now + 2 * d + d / 2;
    let what = format!(
        "sync to {to_ms} ms (two and a half periods of timer {})",
        timer.id
    );
    let r = s.ask(
        ledger,
        "sync.clock",
        &what,
        &sync_line(to_ms, &[]),
        setup.limits.reply,
    );
    let Some(after) = states.read(ledger, "sync.clock", &what, r) else {
        ledger.skip("timers.repeat", format!("no state after `{what}`"));
        return;
    };
    ledger.judge("sync.clock", after.now_ms == to_ms, || {
        format!("`now_ms` is {} after `{what}`", after.now_ms)
    });
    let dl = state::deadlines(&after, now, to_ms);
    ledger.judge("sync.deadlines", dl.is_ok(), || {
        format!("after `{what}`: {}", dl.unwrap_err())
    });
    repeat(ledger, &after, timer, now, &what);
}

/// `timers.repeat` on the state after the span: `timer` (armed at `armed_ms`) fired once per
/// period and is reported repeating; or, if it is not reported repeating, nothing to judge.
fn repeat(ledger: &mut Ledger, after: &Seen, timer: state::Timer, armed_ms: u64, what: &str) {
    let d = timer.delay_ms;
    let firings: Vec<u64> = after
        .fired
        .iter()
        .filter(|(id, _)| *id == timer.id)
        .map(|&(_, at)| at)
        .collect();
    let now_live = after.timers.iter().find(|t| t.id == timer.id);
    let repeating = timer.repeat || now_live.is_some_and(|t| t.repeat);
    if !repeating {
        ledger.skip(
            "timers.repeat",
            format!(
                "the stream's timer {} is not reported as repeating (fired at {firings:?}): no interval to judge",
                timer.id
            ),
        );
        return;
    }
    let want = vec![armed_ms + d, armed_ms + 2 * d];
    ledger.judge("timers.repeat", firings == want && now_live.is_some(), || {
        if firings != want {
            format!(
                "after `{what}`, repeating timer {} (every {d} ms, armed at {armed_ms} ms) fired at {firings:?}, expected {want:?}; fired: {}",
                timer.id,
                state::show_fired(&after.fired)
            )
        } else {
            format!("after `{what}`, repeating timer {} is no longer live though its stream is open", timer.id)
        }
    });
}

/// Connects to the adapter's port, writes `request`, delivers it with a sync at `now`, and
/// reads back the `written` bytes: (socket, its local port, the state, the response so
/// far). `None` when any of it failed (judged on the way where a rule covers it).
#[allow(clippy::too_many_arguments)]
fn deliver(
    setup: &Setup,
    s: &mut Session,
    ledger: &mut Ledger,
    states: &mut States,
    port: u16,
    now: u64,
    request: &str,
    name: &str,
) -> Option<(TcpStream, u16, Seen, Vec<u8>)> {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let local = sock.local_addr().ok()?.port();
    sock.write_all(request.as_bytes()).ok()?;
    let bytes = request.len() as u64;
    let what = format!("sync at {now} ms delivering a {bytes}-byte {name} on conn {local}");
    let r = s.ask(
        ledger,
        "sync.reads-sent",
        &what,
        &sync_line(now, &[(local, bytes, false)]),
        setup.limits.reply,
    );
    let seen = states.read(ledger, "sync.reads-sent", &what, r)?;
    let conn = seen.conns.iter().find(|c| c.conn == u64::from(local))?;
    ledger.judge("sync.reads-sent", conn.read == bytes, || {
        format!(
            "after `{what}`, conn {local} has `read` {} (the check sent {bytes})",
            conn.read
        )
    });
    let _ = sock.set_read_timeout(Some(setup.limits.read));
    let mut response = vec![0u8; conn.written.min(1 << 20) as usize];
    if let Err(e) = sock.read_exact(&mut response) {
        ledger.broke(
            "flush.written",
            format!("after `{what}`, `written` is {} on conn {local}, but reading that many bytes failed: {e}", conn.written),
        );
        return None;
    }
    Some((sock, local, seen, response))
}

/// The response head (up to the blank line), as text.
fn head(response: &[u8]) -> String {
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len().min(300));
    String::from_utf8_lossy(&response[..end]).into_owned()
}

/// The value of header `name` (lower case) in the response head.
fn header(response: &[u8], name: &str) -> Option<String> {
    head(response).lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
            .filter(|v| !v.is_empty())
    })
}
