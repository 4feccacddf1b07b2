//! `exec:` targets that misbehave, end to end through the `middlebox` binary: a flood, a
//! slow start, a crash during the run, and middlebox itself killed by a signal. These run on
//! real time (a few seconds each).
// These tests wait on real processes: real time bounds the waits; nothing reaches a trace.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn middlebox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_middlebox"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `s` with line breaks and indents as single spaces (reports wrap at 100 columns).
fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn tempdir(name: &str) -> PathBuf {
    let d =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("exec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A server writing 65 KB events as fast as it can is stopped by the byte budget with a
/// failing verdict that names it, and middlebox's memory stays small.
#[test]
fn a_flooding_server_is_stopped_by_the_byte_budget_in_bounded_memory() {
    let started = Instant::now();
    let out = middlebox(&[
        "run",
        "tests/fixtures/exec/idle-3s.toml",
        "--target",
        "exec:python3 tests/fixtures/exec/flood_server.py",
        "--peak-rss",
    ]);
    let (stdout, stderr) = (flat(&text(&out.stdout)), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("byte budget exhausted at 00:00:0"),
        "{stdout}"
    );
    assert!(stdout.contains("over its budget of 65.0 MiB"), "{stdout}");
    assert!(stdout.contains("0 pass, 1 fail"), "{stdout}");
    let kib: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak RSS: "))
        .and_then(|l| l.strip_suffix(" KiB"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS line: {stderr}"));
    assert!(kib < 256 * 1024, "peak RSS {kib} KiB");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "stopped long before the scenario's 8 s"
    );
}

/// The scenario's clock starts when the server listens: a server that takes 2 s to start
/// serves the stream opened at 500 ms.
#[test]
fn a_server_slow_to_start_is_waited_for_before_the_clock_starts() {
    let out = middlebox(&[
        "run",
        "tests/fixtures/exec/stream-4s.toml",
        "--target",
        "exec:sleep 2; exec python3 tests/fixtures/exec/sse_server.py",
        "--format",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)));
    let r = &report["results"][0];
    assert_eq!(r["verdict"], "pass", "{r:#}");
    assert_eq!(out.status.code(), Some(0));
}

/// A server that exits during the run: its exit (code, output) is in the trace and the run's
/// error names it.
#[test]
fn a_server_exiting_during_the_run_is_recorded_and_named_in_the_verdict() {
    let dir = tempdir("exit");
    let out = middlebox(&[
        "run",
        "tests/fixtures/exec/stream-4s.toml",
        "--target",
        "exec:python3 tests/fixtures/exec/sse_server.py & sleep 1.5; echo boom >&2; exit 3",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let stdout = flat(&text(&out.stdout));
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("exited (exit status: 3) at 00:00:01."),
        "{stdout}"
    );
    assert!(stdout.contains("before the run ended"), "{stdout}");
    assert!(
        stdout.contains("the last lines of its output: boom"),
        "{stdout}"
    );
    let traces: Vec<PathBuf> = std::fs::read_dir(dir.join("traces"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    let trace = std::fs::read_to_string(&traces[0]).unwrap();
    assert!(
        trace.contains("server process exited (exit code 3); its last output: boom"),
        "{trace}"
    );
}

/// Whether process `pid` still runs (a zombie does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start())
                .unwrap_or("");
            !state.starts_with('Z') && !state.starts_with('X')
        })
        .unwrap_or(false)
}

/// Runs an exec: server with a family (tests/fixtures/exec/family.sh) in a middlebox started
/// in its own process group, sends `signal` to `whom` (the middlebox process, or its whole
/// group as a terminal's Ctrl-C does) once the family is up, and checks that no process of
/// the family survives.
fn killed_by(signal: &str, group: bool) {
    use std::os::unix::process::CommandExt;
    let dir = tempdir(&format!("signal-{signal}-{group}"));
    let pidfile = dir.join("pids");
    // A shell starts background jobs with SIGINT ignored, and an ignored signal stays ignored
    // across exec (CI scripts run so): the Ctrl-C this test is about would then never reach
    // middlebox. python3 (which the fixture servers need anyway) restores the default
    // disposition and execs middlebox in place, as a terminal's foreground job gets it.
    let mut mb = Command::new("python3")
        .args([
            "-c",
            "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])",
            env!("CARGO_BIN_EXE_middlebox"),
            "run",
            "tests/fixtures/exec/idle-3s.toml",
            "--target",
            "exec:sh tests/fixtures/exec/family.sh",
        ])
        .env("PIDFILE", &pidfile)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let pids: Vec<u32> = loop {
        if let Ok(s) = std::fs::read_to_string(&pidfile) {
            break s.split_whitespace().map(|p| p.parse().unwrap()).collect();
        }
        assert!(Instant::now() < deadline, "the family never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(pids.len(), 3);
    std::thread::sleep(Duration::from_millis(1500)); // the run is under way
    assert!(pids.iter().all(|&p| alive(p)), "{pids:?}");
    let target = if group {
        format!("-{}", mb.id())
    } else {
        mb.id().to_string()
    };
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), "--", &target])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = mb.wait().unwrap();
    assert!(!status.success(), "middlebox was killed: {status}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<u32> = pids.iter().copied().filter(|&p| alive(p)).collect();
    // Clean up before failing, so a failure leaves nothing behind either.
    for p in &left {
        let _ = Command::new("kill")
            .args(["-KILL", &p.to_string()])
            .status();
    }
    assert!(
        left.is_empty(),
        "SIG{signal}: processes {left:?} of the exec: command survived middlebox"
    );
}

#[test]
fn sigint_to_middlebox_leaves_no_exec_process_running() {
    killed_by("INT", false);
}

#[test]
fn ctrl_c_to_the_process_group_leaves_no_exec_process_running() {
    killed_by("INT", true);
}

#[test]
fn sigterm_to_middlebox_leaves_no_exec_process_running() {
    killed_by("TERM", false);
}

#[test]
fn sigkill_to_middlebox_leaves_no_exec_process_running() {
    killed_by("KILL", false);
}
