//! `middlebox proxy` on real sockets: an nginx with a 2 s read timeout in front of the SSE
//! fixture server, with and without keepalive.
//!
//! ```text
//!  TcpStream (this test) ──▶ middlebox proxy --preset nginx --idle-timeout 2s --listen :0
//!                              ──▶ python3 tests/fixtures/exec/sse_server.py (KEEPALIVE=0 | 0.5)
//!  silent server  ──▶ the client sees EOF at ~2 s; the proxy prints the idle-timeout cut
//!  keepalive 0.5s ──▶ the stream is still open after 4 s, keepalives arriving
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_middlebox");
const SSE_SERVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/exec/sse_server.py"
);

/// Kills the child when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the SSE fixture with `KEEPALIVE=keepalive` and waits until it listens.
fn sse_server(keepalive: &str) -> (Killed, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .arg(SSE_SERVER)
        .env("PORT", port.to_string())
        .env("KEEPALIVE", keepalive)
        .spawn()
        .expect("python3 runs the SSE fixture");
    let child = Killed(child);
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (child, port);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("the SSE fixture did not listen on port {port} within 5 s");
}

/// A running proxy: its address and a channel of its output lines after the first.
struct Running {
    child: Killed,
    addr: String,
    lines: mpsc::Receiver<String>,
}

fn proxy(upstream: u16, extra: &[&str]) -> Running {
    proxy_of("nginx", "2s", upstream, extra)
}

fn proxy_of(preset: &str, idle: &str, upstream: u16, extra: &[&str]) -> Running {
    let mut child = Command::new(BIN)
        .args(["proxy", "--preset", preset, "--idle-timeout", idle])
        .args(["--listen", "127.0.0.1:0"])
        .args(["--upstream", &format!("127.0.0.1:{upstream}")])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("middlebox proxy starts");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    // "listening on 127.0.0.1:PORT → upstream ..."
    let addr = first
        .strip_prefix("listening on ")
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("first line names the address: {first:?}"))
        .to_string();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Running {
        child: Killed(child),
        addr,
        lines,
    }
}

/// Opens a stream through the proxy; returns the socket and when the request went out.
fn open_stream(addr: &str) -> (TcpStream, Instant) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
        .unwrap();
    // The test measures the proxy's cut on the wall clock, as a client would.
    #[allow(clippy::disallowed_methods)]
    let sent = Instant::now();
    (s, sent)
}

fn trace_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("middlebox-proxy-{}-{name}", std::process::id()))
}

#[test]
fn silent_stream_is_cut_at_the_idle_timeout_with_the_presets_reason() {
    let (_server, port) = sse_server("0");
    let trace = trace_path("silent.json");
    let mut p = proxy(
        port,
        &["--for", "3500ms", "--trace", trace.to_str().unwrap()],
    );
    let (mut s, sent) = open_stream(&p.addr);
    s.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("the proxy ends the stream");
    let after = sent.elapsed();
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.0 200"), "{got}");
    assert!(got.contains("data: hello"), "{got}");
    assert!(
        after >= Duration::from_millis(1900) && after <= Duration::from_secs(3),
        "the stream ended after {after:?}; expected the 2 s idle timeout"
    );
    let cut = p
        .lines
        .recv_timeout(Duration::from_secs(3))
        .into_iter()
        .chain(std::iter::from_fn(|| {
            p.lines.recv_timeout(Duration::from_secs(1)).ok()
        }))
        .find(|l| l.contains("closed (fin)"))
        .expect("the proxy printed the cut");
    assert!(
        cut.contains("nginx") && cut.contains("idle-timeout 2s (upstream silent since"),
        "{cut}"
    );
    // `--for` ends the proxy, which writes the trace in `run --out`'s JSON format.
    let status = p.child.0.wait().unwrap();
    assert!(status.success(), "{status}");
    let json = std::fs::read_to_string(&trace).expect("the trace was written");
    let _ = std::fs::remove_file(&trace);
    let events: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let closed = events
        .iter()
        .find(|e| e["event"] == "intermediary-closed")
        .unwrap_or_else(|| panic!("no intermediary-closed event in {json}"));
    assert_eq!(closed["behavior"], "idle-timeout", "{closed}");
    assert_eq!(closed["conn"], 1, "{closed}");
}

#[test]
fn stream_with_keepalive_survives() {
    let (_server, port) = sse_server("0.5");
    let trace = trace_path("keepalive.txt");
    let mut p = proxy(port, &["--for", "5s", "--trace", trace.to_str().unwrap()]);
    let (mut s, sent) = open_stream(&p.addr);
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while sent.elapsed() < Duration::from_secs(4) {
        match s.read(&mut buf) {
            Ok(0) => panic!(
                "the stream ended after {:?}: {}",
                sent.elapsed(),
                String::from_utf8_lossy(&got)
            ),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("read failed after {:?}: {e}", sent.elapsed()),
        }
    }
    let got = String::from_utf8_lossy(&got);
    let keepalives = got.matches(": keepalive").count();
    assert!(keepalives >= 5, "{keepalives} keepalives in 4 s: {got}");
    drop(s);
    let status = p.child.0.wait().unwrap();
    assert!(status.success(), "{status}");
    let lines: Vec<String> = p.lines.try_iter().collect();
    assert!(
        lines.iter().all(|l| !l.contains("closed (")),
        "the proxy cut the stream: {lines:?}"
    );
    let text = std::fs::read_to_string(&trace).expect("the trace was written");
    let _ = std::fs::remove_file(&trace);
    assert!(text.contains("nginx   conn#1 forwarded"), "{text}");
    assert!(!text.contains("idle-timeout 2s (upstream silent"), "{text}");
}

#[test]
fn an_rst_preset_resets_the_client() {
    // Cloudflare ends an idle stream with a reset once headers went out.
    let (_server, port) = sse_server("0");
    let p = proxy_of("cloudflare", "1s", port, &["--for", "2500ms"]);
    let (mut s, sent) = open_stream(&p.addr);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let err = s
        .read_to_end(&mut got)
        .expect_err("a reset, not an orderly end");
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::ConnectionReset,
        "{err} after {:?}",
        sent.elapsed()
    );
    assert!(
        sent.elapsed() >= Duration::from_millis(900),
        "{:?}",
        sent.elapsed()
    );
    let cut = p
        .lines
        .iter()
        .find(|l| l.contains("closed ("))
        .expect("the proxy printed the cut");
    assert!(cut.contains("closed (rst): idle-timeout 1s"), "{cut}");
}

#[test]
fn sigint_ends_the_proxy_and_writes_the_trace() {
    let trace = trace_path("sigint.txt");
    // No server: the proxy only starts; the trace has its start line.
    let mut p = proxy(1, &["--trace", trace.to_str().unwrap()]);
    let kill = Command::new("kill")
        .args(["-INT", &p.child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = p.child.0.wait().unwrap();
    assert!(status.success(), "{status}");
    let text = std::fs::read_to_string(&trace).expect("the trace was written");
    let _ = std::fs::remove_file(&trace);
    assert!(
        text.starts_with("00:00:00.000  nginx   started (preset nginx: idle-timeout 2s"),
        "{text}"
    );
}

fn usage(args: &[&str]) -> String {
    let out = Command::new(BIN).arg("proxy").args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn unknown_preset_and_bad_override_exit_2_naming_the_option() {
    let base = ["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"];
    let e = usage(&[&["--preset", "nginix"][..], &base].concat());
    assert!(
        e.starts_with("error: --preset \"nginix\": unknown preset; expected one of: nginx, "),
        "{e}"
    );
    let e = usage(
        &[
            &["--preset", "nginx", "--idle-timeout", "2 fortnights"][..],
            &base,
        ]
        .concat(),
    );
    assert!(
        e.starts_with("error: --idle-timeout \"2 fortnights\": "),
        "{e}"
    );
    assert!(e.contains("expected"), "{e}");
}
