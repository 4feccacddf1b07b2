//! The fixed sequence of exchanges `adapter-check` drives an adapter through, and which rule
//! each one judges. Two runs of the adapter: the main one, and a short one for what cannot
//! follow a successful `start` (an unknown option refused, stdin closing). The MCP session
//! step (`timers.conn`, `timers.repeat`) is `stream.rs`.

use super::session::{cut, sync_line, Reply, Session};
use super::state::{self, States};
use super::{Ledger, Setup};
use crate::targets::process::protocol::VERSION;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// The scheduled notifications' times (`mcp.notifications`).
const NOTIFY_AT_MS: [u64; 2] = [5_000, 9_000];
/// The time of the long sync (past every scheduled notification).
const LATER_MS: u64 = 20_000;
/// The request delivered on the adapter's port: a GET of `/mcp` without a session, which an
/// MCP server refuses at once with a complete response (an error status).
const REQUEST: &[u8] = b"GET /mcp HTTP/1.1\r\nHost: server\r\nAccept: text/event-stream\r\n\r\n";
/// Real time the check waits for bytes beyond what `written` said (`flush.written`).
const EXTRA_BYTES_WAIT: Duration = Duration::from_millis(200);
/// Real time the check waits for a line nothing asked for, where the exchanges end.
const LATE_LINE_WAIT: Duration = Duration::from_millis(200);
/// An option no adapter knows (`start.unknown-option`).
const UNKNOWN_OPTION: &str = "adapter_check_unknown_option";

/// Runs both runs into `ledger`; the stderr tail of the run a rule broke in (else the first).
pub(super) fn run(setup: &Setup, ledger: &mut Ledger) -> Vec<String> {
    let mut main = match Session::spawn(setup) {
        Ok(s) => s,
        Err(e) => {
            ledger.stop(format!("the adapter did not start: {e}"));
            return Vec::new();
        }
    };
    let completed = main_run(setup, &mut main, ledger);
    if !completed {
        // A second reply to the command the run stopped at is still a second reply.
        if let Some(extra) = main.unasked_line(LATE_LINE_WAIT) {
            ledger.broke(
                "lines.one-reply",
                format!("a line no command asked for: {}", cut(&extra)),
            );
        }
    }
    let tail = main.tail();
    drop(main);
    if !completed {
        return tail;
    }
    match Session::spawn(setup) {
        Ok(mut second) => {
            second_run(setup, &mut second, ledger);
            let second_broke = ["start.unknown-option", "exit.stdin-closed"]
                .iter()
                .any(|r| ledger.is_broken(r));
            if tail.is_empty() || second_broke {
                return second.tail();
            }
        }
        Err(e) => ledger.stop(format!("the adapter did not start a second time: {e}")),
    }
    tail
}

/// The `start` command, with `v` and `options` as given.
fn start_line(setup: &Setup, v: u32, options: &Value) -> String {
    json!({
        "op": "start",
        "v": v,
        "impl": setup.implementation,
        "version": setup.version,
        "seed": 1,
        "epoch_ms": crate::time::EPOCH_SECS * 1000,
        "options": options,
        "mcp": {
            "revision": "2025-11-25",
            "retry_ms": null,
            "notifications": NOTIFY_AT_MS.iter().map(|at| json!({
                "at_ms": at,
                "method": "notifications/tools/list_changed",
                "params": {},
            })).collect::<Vec<_>>(),
        },
    })
    .to_string()
}

/// Judges a reply that must refuse the command (`rule`).
fn refused(ledger: &mut Ledger, rule: &'static str, reply: Option<Reply>) {
    let Some(r) = reply else { return };
    let error_ok = r
        .get("error")
        .and_then(Value::as_str)
        .is_some_and(|e| !e.trim().is_empty());
    ledger.judge(rule, r.get("ok") == Some(&json!(false)) && error_ok, || {
        format!(
            "{} (expected {{\"ok\":false,\"error\":\"<why, in one sentence>\"}})",
            cut(&Value::Object(r.clone()).to_string())
        )
    });
}

/// Run 1. Returns whether it went to the end (the adapter shut down as asked).
fn main_run(setup: &Setup, s: &mut Session, ledger: &mut Ledger) -> bool {
    let limits = setup.limits;
    let mut states = States::default();

    // Refusals before start.
    let r = s.ask(
        ledger,
        "refuse.unparseable",
        "an unparseable line",
        "adapter-check: this line is not JSON",
        limits.reply,
    );
    refused(ledger, "refuse.unparseable", r);
    let r = s.ask(
        ledger,
        "start.first",
        "sync before start",
        &sync_line(0, &[]),
        limits.reply,
    );
    refused(ledger, "start.first", r);
    let r = s.ask(
        ledger,
        "start.version",
        "start with v 2",
        &start_line(setup, VERSION + 1, &setup.options),
        limits.start,
    );
    refused(ledger, "start.version", r);

    // start.
    let r = s.ask(
        ledger,
        "start.state",
        "start",
        &start_line(setup, VERSION, &setup.options),
        limits.start,
    );
    let port = r.as_ref().map(|r| r.get("port").cloned());
    let Some(seen) = states.read(ledger, "start.state", "start", r) else {
        ledger.stop("the sequence stopped at `start` (see start.state or state.fields)");
        return false;
    };
    let port = match port.flatten().and_then(|p| p.as_u64()) {
        Some(p @ 1..=65535) => Some(p as u16),
        Some(p) => {
            ledger.broke("start.state", format!("`port` is {p}: expected a TCP port"));
            None
        }
        None => {
            ledger.broke(
                "start.state",
                "the reply to `start` has no `port` (an integer)",
            );
            None
        }
    };
    ledger.judge("start.state", seen.now_ms == 0, || {
        format!("`now_ms` is {} in the reply to `start`", seen.now_ms)
    });
    let first = NOTIFY_AT_MS[0];
    ledger.judge(
        "mcp.notifications",
        seen.next_ms.is_some_and(|n| n <= first),
        || {
            format!(
                "`next_ms` is {} after `start` though a notification is scheduled at {first} ms (a timer due then)",
                seen.next_ms.map_or("null".into(), |n| n.to_string())
            )
        },
    );

    // Syncs: to the current time, then past both notifications.
    let mut now = 0;
    for to_ms in [0, LATER_MS] {
        let what = format!("sync to {to_ms} ms");
        let r = s.ask(
            ledger,
            "sync.clock",
            &what,
            &sync_line(to_ms, &[]),
            limits.reply,
        );
        let Some(seen) = states.read(ledger, "sync.clock", &what, r) else {
            ledger.stop(format!("the sequence stopped at `{what}`"));
            return false;
        };
        ledger.judge("sync.clock", seen.now_ms == to_ms, || {
            format!("`now_ms` is {} after `{what}`", seen.now_ms)
        });
        let d = state::deadlines(&seen, now, to_ms);
        ledger.judge("sync.deadlines", d.is_ok(), || {
            format!("after `{what}`: {}", d.unwrap_err())
        });
        if to_ms == LATER_MS {
            let missing: Vec<u64> = NOTIFY_AT_MS
                .iter()
                .copied()
                .filter(|at| !seen.fired.iter().any(|&(_, f)| f == *at))
                .collect();
            ledger.judge("mcp.notifications", missing.is_empty(), || {
                format!(
                    "after `{what}`, `fired` has no timer at {} ms (notifications are scheduled at {} ms); fired: {}",
                    missing.iter().map(u64::to_string).collect::<Vec<_>>().join(" and "),
                    NOTIFY_AT_MS.map(|a| a.to_string()).join(" and "),
                    state::show_fired(&seen.fired)
                )
            });
        }
        now = to_ms;
    }

    // One HTTP request on the adapter's port, delivered by a sync at the current time.
    // Then an MCP session's GET stream, and the timer its keepalive arms.
    if let Some(port) = port {
        http_exchange(setup, s, ledger, &mut states, port, now);
        super::stream::stream_exchange(setup, s, ledger, &mut states, port, now);
    } else {
        ledger.stop("the reply to `start` had no usable `port`");
    }

    // shutdown.
    let r = s.ask(
        ledger,
        "shutdown.exit",
        "shutdown",
        r#"{"op":"shutdown"}"#,
        limits.reply,
    );
    let Some(r) = r else {
        ledger.stop("the adapter did not answer `shutdown`");
        return false;
    };
    ledger.judge("shutdown.exit", r.get("ok") == Some(&json!(true)), || {
        format!(
            "the reply to `shutdown` is {}",
            cut(&Value::Object(r.clone()).to_string())
        )
    });
    match s.exited_within(limits.exit) {
        Some(_) => ledger.held("shutdown.exit"),
        None => ledger.broke(
            "shutdown.exit",
            format!(
                "the adapter still runs {} s after replying to `shutdown`",
                limits.exit.as_secs_f64()
            ),
        ),
    }
    if let Some(extra) = s.unasked_line(LATE_LINE_WAIT) {
        ledger.broke(
            "lines.one-reply",
            format!("a line after the reply to `shutdown`: {}", cut(&extra)),
        );
    } else if !ledger.is_broken("lines.one-reply") {
        ledger.held("lines.one-reply");
    }
    true
}

/// Connects to the adapter's port, delivers [`REQUEST`] with a sync at `now`, reads back
/// exactly what the reply says was written, then delivers the end.
fn http_exchange(
    setup: &Setup,
    s: &mut Session,
    ledger: &mut Ledger,
    states: &mut States,
    port: u16,
    now: u64,
) {
    let limits = setup.limits;
    let mut sock = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(sock) => sock,
        Err(e) => {
            ledger.broke(
                "start.port",
                format!("connecting to 127.0.0.1:{port} failed: {e}"),
            );
            ledger.stop(format!("nothing listens on the `port` of `start` ({port})"));
            return;
        }
    };
    let local = match sock.local_addr() {
        Ok(a) => a.port(),
        Err(e) => {
            ledger.stop(format!("the check's own socket: {e}"));
            return;
        }
    };
    if let Err(e) = sock.write_all(REQUEST) {
        ledger.broke(
            "start.port",
            format!("writing a request to 127.0.0.1:{port} failed: {e}"),
        );
        ledger.stop("the adapter's port took no request");
        return;
    }
    let bytes = REQUEST.len() as u64;
    let what = format!("sync at {now} ms delivering a {bytes}-byte GET on conn {local}");
    let r = s.ask(
        ledger,
        "sync.reads-sent",
        &what,
        &sync_line(now, &[(local, bytes, false)]),
        limits.reply,
    );
    let Some(seen) = states.read(ledger, "sync.reads-sent", &what, r) else {
        ledger.stop(format!("the sequence stopped at `{what}`"));
        return;
    };
    ledger.judge("sync.clock", seen.now_ms == now, || {
        format!("`now_ms` is {} after `{what}`", seen.now_ms)
    });
    let d = state::deadlines(&seen, now, now);
    ledger.judge("sync.deadlines", d.is_ok(), || {
        format!("after `{what}`: {}", d.unwrap_err())
    });
    let Some(conn) = seen
        .conns
        .iter()
        .find(|c| c.conn == u64::from(local))
        .copied()
    else {
        let listed: Vec<String> = seen.conns.iter().map(|c| c.conn.to_string()).collect();
        ledger.broke(
            "conn.named",
            format!(
                "after `{what}`, `conns` has no conn {local} (the check's local port); conns: [{}]",
                listed.join(", ")
            ),
        );
        ledger.stop(format!("the adapter did not report conn {local}"));
        return;
    };
    ledger.held("conn.named");
    ledger.judge("sync.reads-sent", conn.read == bytes, || {
        format!(
            "after `{what}`, conn {local} has `read` {} (the check sent {bytes})",
            conn.read
        )
    });
    ledger.judge("quiet.before-reply", conn.written > 0, || {
        format!("after `{what}`, conn {local} has `written` 0: the response to the GET was not written before the reply")
    });

    // Exactly `written` bytes are there to read, and no more come.
    let _ = sock.set_read_timeout(Some(limits.read));
    let mut response = vec![0u8; conn.written.min(1 << 20) as usize];
    if let Err(e) = sock.read_exact(&mut response) {
        ledger.broke(
            "flush.written",
            format!(
                "`written` is {} on conn {local}, but reading that many bytes failed within {} s: {e}",
                conn.written,
                limits.read.as_secs_f64()
            ),
        );
    } else {
        let _ = sock.set_read_timeout(Some(EXTRA_BYTES_WAIT));
        let mut more = [0u8; 4096];
        match sock.read(&mut more) {
            Ok(n) if n > 0 => ledger.broke(
                "flush.written",
                format!(
                    "`written` is {} on conn {local}, but {n} more bytes came without a sync: {:?}",
                    conn.written,
                    String::from_utf8_lossy(&more[..n])
                ),
            ),
            _ => ledger.held("flush.written"),
        }
        let http = response.starts_with(b"HTTP/1.1 ") || response.starts_with(b"HTTP/1.0 ");
        ledger.judge("start.port", http, || {
            format!(
                "the answer to a GET on 127.0.0.1:{port} is not an HTTP response: {:?}",
                String::from_utf8_lossy(&response[..response.len().min(80)])
            )
        });
    }

    // The end of the request side, delivered without moving the clock.
    let _ = sock.shutdown(Shutdown::Write);
    let what = format!("sync at {now} ms with eof on conn {local}");
    let r = s.ask(
        ledger,
        "sync.reads-sent",
        &what,
        &sync_line(now, &[(local, bytes, true)]),
        limits.reply,
    );
    if let Some(seen) = states.read(ledger, "sync.reads-sent", &what, r) {
        ledger.judge("sync.clock", seen.now_ms == now, || {
            format!("`now_ms` is {} after `{what}`", seen.now_ms)
        });
    }
}

/// Run 2: a `start` with an unknown option, then stdin closed.
fn second_run(setup: &Setup, s: &mut Session, ledger: &mut Ledger) {
    let mut options = match &setup.options {
        Value::Object(o) => o.clone(),
        _ => serde_json::Map::new(),
    };
    options.insert(UNKNOWN_OPTION.into(), json!(true));
    let r = s.ask(
        ledger,
        "start.unknown-option",
        &format!("start with option {UNKNOWN_OPTION}"),
        &start_line(setup, VERSION, &Value::Object(options)),
        setup.limits.start,
    );
    refused(ledger, "start.unknown-option", r);
    s.close_stdin();
    match s.exited_within(setup.limits.exit) {
        Some(_) => match s.unasked_line(LATE_LINE_WAIT) {
            Some(l) => ledger.broke(
                "exit.stdin-closed",
                format!("a line on stdout after stdin closed: {}", cut(&l)),
            ),
            None => ledger.held("exit.stdin-closed"),
        },
        None => ledger.broke(
            "exit.stdin-closed",
            format!(
                "the adapter still runs {} s after its stdin closed",
                setup.limits.exit.as_secs_f64()
            ),
        ),
    }
}
