//! `middlebox probe URL` against a real loopback MCP server
//! (`tests/fixtures/probe/mcp_server.py`, stdlib Python) on real time.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

/// The fixture server, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts the fixture with `env` (KEEPALIVE, KIND, CLOSE_AFTER) and reads its port.
    fn start(env: &[(&str, &str)]) -> Server {
        let mut child = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/probe/mcp_server.py"
            ))
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the fixture server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the fixture prints its port");
        Server { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn probe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_middlebox"))
        .arg("probe")
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `"1.001s"` → 1.001.
fn secs(v: &Value) -> f64 {
    v.as_str().unwrap().trim_end_matches('s').parse().unwrap()
}

fn finding<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no finding {id}: {report}"))
}

#[test]
fn comment_keepalive_every_second_passes_every_preset() {
    let server = Server::start(&[("KEEPALIVE", "1"), ("KIND", "comment")]);
    let out = probe(&[&server.url(), "--for", "3.5s", "--format", "json"]);
    let r = json(&out);
    assert_eq!(out.status.code(), Some(0), "{r}");
    let median = secs(&r["keepalive_median"]);
    assert!((0.9..1.3).contains(&median), "median {median}");
    let gap = secs(&r["gap_max"]);
    assert!((0.9..1.5).contains(&gap), "gap {gap}");
    assert_eq!(r["observation"]["tool_count"], 2);
    assert_eq!(r["observation"]["initialize_format"], "sse");
    assert_eq!(r["observation"]["end"]["by"], "still-open");
    for id in [
        "keepalive.cadence",
        "keepalive.format",
        "stream.buffering",
        "stream.survives",
    ] {
        assert_eq!(finding(&r, id)["verdict"], "pass", "{id}: {r}");
    }
    let presets = r["presets"].as_array().unwrap();
    assert!(presets.len() >= 10, "{r}");
    for p in presets {
        assert_eq!(p["verdict"], "pass", "{p}");
    }
    assert!(presets
        .iter()
        .any(|p| p["preset"] == "nginx" && p["idle_limit"] == "60s"));
}

#[test]
fn named_event_keepalive_fails_the_format_naming_it() {
    let server = Server::start(&[("KEEPALIVE", "0.5"), ("KIND", "ping")]);
    let url = server.url();
    let out = probe(&[&url, "--for", "2s"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("keepalive.format failed"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.starts_with(&format!("middlebox probe {url} --for 2s: ")),
        "{line}"
    );
    assert!(line.contains("`event: ping`"), "{line}");
    assert!(line.contains("dispatch"), "{line}");
}

#[test]
fn no_keepalive_in_a_short_span_is_unobservable_not_pass() {
    let server = Server::start(&[("KIND", "none")]);
    let out = probe(&[&server.url(), "--for", "2s", "--format", "json"]);
    let r = json(&out);
    assert_eq!(out.status.code(), Some(0), "{r}");
    assert_eq!(
        finding(&r, "keepalive.cadence")["verdict"],
        "unobservable",
        "{r}"
    );
    assert_eq!(
        finding(&r, "keepalive.format")["verdict"],
        "unobservable",
        "{r}"
    );
    assert_eq!(
        finding(&r, "stream.buffering")["verdict"],
        "unobservable",
        "{r}"
    );
    for p in r["presets"].as_array().unwrap() {
        assert_eq!(p["verdict"], "unobservable", "{p}");
        assert!(p["message"].as_str().unwrap().contains("--for"), "{p}");
    }
    assert!(r["observation"]["to_first_byte"].is_null(), "{r}");
}

#[test]
fn a_server_that_ends_the_stream_fails_survives() {
    let server = Server::start(&[("KEEPALIVE", "0.3"), ("CLOSE_AFTER", "1")]);
    let out = probe(&[&server.url(), "--for", "3s", "--format", "json"]);
    let r = json(&out);
    assert_eq!(out.status.code(), Some(1), "{r}");
    let f = finding(&r, "stream.survives");
    assert_eq!(f["verdict"], "fail", "{r}");
    assert!(f["message"].as_str().unwrap().contains("last chunk"), "{f}");
    assert!(secs(&r["observation"]["watched"]) < 2.5, "{r}");
}

#[test]
fn keepalives_bunched_into_one_read_fail_buffering() {
    let server = Server::start(&[("KEEPALIVE", "0.5"), ("KIND", "burst")]);
    let out = probe(&[&server.url(), "--for", "1.2s", "--format", "json"]);
    let r = json(&out);
    assert_eq!(out.status.code(), Some(1), "{r}");
    assert_eq!(finding(&r, "stream.buffering")["verdict"], "fail", "{r}");
}

#[test]
fn connection_refused_exits_2_with_the_reproduce_command() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/mcp");
    let out = probe(&[&url, "--for", "1s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(&format!(
            "middlebox probe {url} --for 1s: initialize: connect"
        )),
        "{err}"
    );
    assert!(err.to_lowercase().contains("refused"), "{err}");
}

#[test]
fn initialize_answered_4xx_exits_2_with_the_body_first_line() {
    let server = Server::start(&[]);
    let url = format!("http://127.0.0.1:{}/elsewhere", server.port);
    let out = probe(&[&url, "--for", "1s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("initialize was answered 404: no MCP endpoint here"),
        "{err}"
    );
}

#[test]
fn https_is_refused_as_not_supported_yet() {
    let out = probe(&["https://example.invalid/mcp", "--for", "1s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("https:// is not supported yet"), "{err}");
}
