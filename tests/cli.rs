//! The `middlebox` binary end to end: exit codes, reproducible failures, determinism.

use std::path::Path;
use std::process::{Command, Output};

/// The binary, run from the crate's root with its folder first on `PATH` (as after
/// `cargo install`: reproduce lines say `middlebox`).
fn middlebox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_middlebox"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", path_with_binary())
        .output()
        .expect("the binary runs")
}

/// `PATH` with the binary's folder first.
fn path_with_binary() -> std::ffi::OsString {
    let bin = Path::new(env!("CARGO_BIN_EXE_middlebox")).parent().unwrap();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&rest)))
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `s` with its line breaks and indents as single spaces (notes are wrapped to 100 columns).
fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

const NGINX: &str = "scenarios/keepalive/nginx-30m.toml";

#[test]
fn nginx_with_keepalive_passes_and_without_fails_naming_nginx() {
    let out = middlebox(&[
        "run",
        NGINX,
        "--target",
        "reference",
        "--target",
        "bug/no-keepalive",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    let results = report["results"].as_array().expect("results");
    let reference = &results[0];
    assert_eq!(reference["target"], "reference");
    assert_eq!(reference["verdict"], "pass");
    let bug = &results[1];
    assert_eq!(bug["target"], "bug/no-keepalive");
    assert_eq!(bug["verdict"], "fail");
    assert_eq!(bug["expected_fail"], true);
    let survives = bug["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "stream.survives")
        .expect("stream.survives checked");
    assert_eq!(survives["verdict"], "fail");
    let msg = survives["message"].as_str().unwrap();
    assert!(msg.contains("nginx"), "{msg}");
    assert!(msg.contains("60s") || msg.contains("1m"), "{msg}");
    // nginx closes within one tick of the last upstream byte + 60 s (headers at ~00:00:01.00x).
    let at = survives["at"].as_str().unwrap();
    assert!(at.starts_with("00:01:01.0"), "closed at {at}");
}

#[test]
fn unexpected_failure_exits_1_and_starts_with_the_command() {
    // A scenario that declares no known failure for bug/no-keepalive: its failure is
    // unexpected, and the report must say how to reproduce it first.
    let dir = tempdir();
    let sc = dir.join("unexpected.toml");
    std::fs::write(&sc, USERS_SCENARIO).unwrap();
    let out = middlebox(&[
        "run",
        sc.to_str().unwrap(),
        "--target",
        "bug/no-keepalive",
        "--seed",
        "7",
    ]);
    assert_eq!(out.status.code(), Some(1), "stdout: {}", text(&out.stdout));
    let stdout = text(&out.stdout);
    let fail = stdout
        .lines()
        .position(|l| l.starts_with("FAIL "))
        .expect("a FAIL line");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[fail].contains("bug/no-keepalive") && lines[fail].contains("seed 7"));
    assert_eq!(
        lines[fail + 1].trim(),
        format!(
            "reproduce: middlebox run {} --target bug/no-keepalive --seed 7",
            sc.display()
        )
    );
}

#[test]
fn same_seed_gives_byte_identical_reports_and_traces() {
    let a = tempdir().join("a");
    let b = tempdir().join("b");
    for d in [&a, &b] {
        let out = middlebox(&[
            "run",
            "scenarios/chains",
            "--seed",
            "42",
            "--format",
            "json",
            "--out",
            d.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let files = |d: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(d.join("traces"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    };
    let (fa, fb) = (files(&a), files(&b));
    assert!(!fa.is_empty());
    assert_eq!(fa.len(), fb.len());
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!(
            std::fs::read(x).unwrap(),
            std::fs::read(y).unwrap(),
            "{x:?}"
        );
    }
    assert_eq!(
        std::fs::read(a.join("report.json")).unwrap(),
        std::fs::read(b.join("report.json")).unwrap()
    );
}

#[test]
fn usage_and_scenario_errors_exit_2() {
    let out = middlebox(&["run", "--target", "no-such-target"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown target"));
    // A tag or a range is no SDK version: the error lists the forms that are.
    for name in [
        "python-sdk-server@latest",
        "ts-server@^2.0",
        "ts-sdk-client@1.x",
    ] {
        let out = middlebox(&["run", "--target", name]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = text(&out.stderr);
        assert!(err.contains(&format!("unknown target {name:?}")), "{err}");
        assert!(err.contains("ts-server@VERSION, ts-sdk-client@VERSION, python-sdk-server@VERSION (the same forms)"), "{err}");
    }

    let out = middlebox(&["run", "does/not/exist"]);
    assert_eq!(out.status.code(), Some(2));

    let out = middlebox(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));

    let dir = tempdir();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "description = \"x\"\nduration = \"30m\"\ntick = 5\n").unwrap();
    let out = middlebox(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("bad.toml:3:"), "{err}");
    assert!(err.contains("tick"), "{err}");
}

#[test]
fn listing_commands_work() {
    let out = middlebox(&["targets"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("bug/no-keepalive"));
    let out = middlebox(&["presets"]);
    assert_eq!(out.status.code(), Some(0));
    let p = text(&out.stdout);
    for name in [
        "nginx",
        "cloudflare",
        "envoy",
        "aws-alb",
        "gcp-lb",
        "corporate-inspecting",
    ] {
        assert!(p.contains(name), "{name} missing from presets");
    }
    let out = middlebox(&["explain", NGINX]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("client → nginx → server"));
    assert!(
        text(&out.stdout).contains("[[expect]] check = \"keepalive.cadence\", gap-max = \"20s\"")
    );
    let out = middlebox(&["explain", "--json", NGINX]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["duration"], "30m");
    let out = middlebox(&["check", "scenarios"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

fn tempdir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "cli-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn both_engines_give_byte_identical_traces_and_a_disagreement_is_reported() {
    let files = [
        "scenarios/max-duration/gcp-30s.toml",
        "scenarios/replay/resume-after-cut.toml",
        "scenarios/cleanup/close-first-stream.toml",
    ];
    let mut args = vec!["run"];
    args.extend(files);
    args.extend([
        "--target",
        "reference",
        "--target",
        "bug/shared-keepalive-timer",
    ]);
    let with = |extra: &[&str]| -> Vec<String> {
        args.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let out = Command::new(env!("CARGO_BIN_EXE_middlebox"))
        .args(with(&["--engine", "both"]))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "stdout: {}", text(&out.stdout));
    assert!(!text(&out.stdout).contains("disagree"));

    // The same runs on each engine separately: byte-identical traces (text and JSON).
    let base = std::env::temp_dir().join(format!("middlebox-engines-{}", std::process::id()));
    for engine in ["network", "events"] {
        let dir = base.join(engine);
        let out = Command::new(env!("CARGO_BIN_EXE_middlebox"))
            .args(with(&["--engine", engine, "--out", dir.to_str().unwrap()]))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{engine}: {}",
            text(&out.stdout)
        );
    }
    let mut compared = 0;
    for e in std::fs::read_dir(base.join("network").join("traces")).unwrap() {
        let name = e.unwrap().file_name();
        let a = std::fs::read(base.join("network").join("traces").join(&name)).unwrap();
        let b = std::fs::read(base.join("events").join("traces").join(&name)).unwrap();
        assert!(a == b, "{name:?} differs between the engines");
        compared += 1;
    }
    // gcp-30s has no MCP step, so the MCP-scoped bug model does not run on it.
    assert_eq!(
        compared,
        2 * 5,
        "text + json per scenario × target pair run"
    );
    let _ = std::fs::remove_dir_all(&base);

    // The event engine refuses faults rather than ignoring them.
    let out = middlebox(&[
        "run",
        "scenarios/faults/partition.toml",
        "--engine",
        "events",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("the events engine cannot apply faults"));
}

#[test]
fn server_options_on_the_command_line_override_the_files_and_are_repeated_to_reproduce() {
    // The reference passes nginx-30m with the file's 15 s keepalive; switched off here, nginx
    // cuts it, and the reproduce line carries the option.
    let out = middlebox(&["run", NGINX, "--target", "reference", "--keepalive", "off"]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out.stdout);
    assert!(
        t.contains("reproduce: middlebox run scenarios/keepalive/nginx-30m.toml --target reference --seed 1 --keepalive off"),
        "{t}"
    );
    assert!(t.contains("by nginx (idle-timeout 60s"), "{t}");
    // 90 s is above nginx's limit too; 20 s is not.
    assert_eq!(
        middlebox(&["run", NGINX, "--target", "reference", "--keepalive", "90s"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        middlebox(&["run", NGINX, "--target", "reference", "--keepalive", "20s"])
            .status
            .code(),
        Some(0)
    );
    // Bad values are usage errors.
    let bad = middlebox(&["run", NGINX, "--keepalive", "0s"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("expected a span more than 0s"));
    let bad = middlebox(&["run", NGINX, "--event-store", "maybe"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// An MCP scenario whose server ends its GET responses after 3 s: no SDK server has that
/// setting.
const END_AFTER: &str = r#"description = "the server ends the GET stream's responses after 3 s"
protocol = ["2025-11-25"]
duration = "10s"

[server]
end-after = "3s"

[[client.step]]
at = "0s"
do = "initialize"

[[client.step]]
at = "1s"
do = "open-get-stream"

[[expect]]
check = "stream.recovers"
stream = "get"
"#;

#[test]
fn a_key_the_named_target_cannot_honour_is_a_located_error_and_a_default_target_is_left_out() {
    let dir = tempdir();
    let sc = dir.join("end-after.toml");
    std::fs::write(&sc, END_AFTER).unwrap();
    let path = sc.to_str().unwrap();
    // Named on the command line: exit 2, located at the key, saying why.
    let out = middlebox(&["run", path, "--target", "ts-sdk-server@1.32.2"]);
    assert_eq!(out.status.code(), Some(2), "stdout: {}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: {path}:6:13: server.end-after: ts-sdk-server@1.32.2 cannot honour this: the SDK has no setting to end its SSE responses after a span"
        )),
        "{err}"
    );
    assert!(
        err.contains("hint: run it without --target ts-sdk-server@1.32.2"),
        "{err}"
    );
    // Found in a directory, the pair is left out with a note: a target is run over a whole
    // suite without one file stopping it.
    let out = middlebox(&[
        "run",
        dir.to_str().unwrap(),
        "--target",
        "ts-sdk-server@1.32.2",
    ]);
    assert_eq!(out.status.code(), Some(2), "stdout: {}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        flat(&err).contains("note: 1 scenario × target pair not run: the target cannot honour a key the scenario sets"),
        "{err}"
    );
    assert!(err.contains("no scenario × target pair to run"), "{err}");
    // Without --target this file (outside the suite) runs on the reference, which honours it.
    let out = middlebox(&["run", path, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(!err.contains("cannot honour"), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ran: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["target"].as_str().unwrap())
        .collect();
    assert_eq!(ran, ["reference"]);
    // Named with targets that cannot honour it, found in a directory: those pairs are left
    // out with a note, the others run.
    let out = middlebox(&[
        "run",
        dir.to_str().unwrap(),
        "--target",
        "reference",
        "--target",
        "ts-sdk-server@1.32.2",
        "--target",
        "python-sdk-server@2.3.0",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(
        flat(&text(&out.stderr)).contains("note: 2 scenario × target pairs not run: the target cannot honour a key the scenario sets (e.g. ts-sdk-server@1.32.2 ×"),
        "{}",
        text(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ran: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["target"].as_str().unwrap())
        .collect();
    assert!(
        !ran.iter()
            .any(|t| t.starts_with("ts-sdk-server") || t.starts_with("python-sdk-server")),
        "{ran:?}"
    );
    // An [expect-fail] table for a pair that never runs is an error, located at the table.
    std::fs::write(
        &sc,
        format!("{END_AFTER}\n[expect-fail.\"python-sdk-server@2.3.0\"]\nchecks = [\"stream.recovers\"]\n"),
    )
    .unwrap();
    let out = middlebox(&["check", path]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!("error: {path}:20:1: expect-fail.\"python-sdk-server@2.3.0\": ")) && err.contains("python-sdk-server@2.3.0 never runs on this scenario: it cannot honour `server.end-after` (line 6)"),
        "{err}"
    );
}

#[test]
fn check_and_run_on_paths_without_scenarios_exit_2() {
    let dir = tempdir();
    std::fs::write(dir.join("notes.txt"), "not a scenario").unwrap();
    for cmd in ["check", "run"] {
        let out = middlebox(&[cmd, dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", text(&out.stdout));
        assert!(
            text(&out.stderr)
                .contains("no scenario files found (expected *.toml under the given paths)"),
            "{cmd}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn targets_lists_the_keys_each_cannot_honour() {
    let out = middlebox(&["targets"]);
    let listing = text(&out.stdout);
    // On the target's own line (CI reads the first word of each line as a target name).
    let line = listing
        .lines()
        .find(|l| l.starts_with("ts-sdk-server@1.29.0"))
        .expect("1.29.0 listed");
    assert!(line.contains("[cannot honour: "), "{line}");
    assert!(
        line.contains("server.keepalive") && line.contains("server.end-after"),
        "{line}"
    );
    assert!(
        !listing
            .lines()
            .any(|l| l.trim_start().starts_with("cannot")),
        "{listing}"
    );
}

#[test]
fn a_non_default_engine_is_repeated_to_reproduce() {
    let out = middlebox(&[
        "run",
        "scenarios/keepalive/nginx-30m.toml",
        "--target",
        "reference",
        "--keepalive",
        "off",
        "--engine",
        "events",
    ]);
    let t = text(&out.stdout);
    assert!(
        t.contains("reproduce: middlebox run scenarios/keepalive/nginx-30m.toml --target reference --seed 1 --keepalive off --engine events\n"),
        "{t}"
    );
}

/// Trace file names of a `--out` directory.
fn trace_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("traces"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
#[allow(clippy::disallowed_methods)] // the real time the check saves is what is measured
fn out_is_checked_before_the_run() {
    let dir = tempdir();
    let file = dir.join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    // A server that would keep the run waiting 30 s before it even starts.
    let started = std::time::Instant::now();
    let out = middlebox(&[
        "run",
        "tests/fixtures/exec/stream-4s.toml",
        "--target",
        "exec:sleep 60",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("--out"), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // A traces/ holding files middlebox did not write is not replaced.
    let foreign = dir.join("foreign");
    std::fs::create_dir_all(foreign.join("traces")).unwrap();
    std::fs::write(foreign.join("traces").join("notes.md"), b"mine").unwrap();
    let out = middlebox(&[
        "run",
        NGINX,
        "--target",
        "reference",
        "--out",
        foreign.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("did not write"),
        "{}",
        text(&out.stderr)
    );
    assert!(foreign.join("traces").join("notes.md").exists());
}

#[test]
fn out_trace_names_never_collide_and_an_earlier_run_is_replaced() {
    let dir = tempdir();
    let scenarios = dir.join("in");
    std::fs::create_dir_all(&scenarios).unwrap();
    let body = std::fs::read_to_string(NGINX).unwrap();
    std::fs::write(scenarios.join("a b.toml"), &body).unwrap();
    std::fs::write(scenarios.join("a_b.toml"), &body).unwrap();
    let out_dir = dir.join("out");
    let out = middlebox(&[
        "run",
        scenarios.to_str().unwrap(),
        "--target",
        "reference",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = trace_names(&out_dir);
    assert_eq!(first.len(), 4, "{first:?}");
    assert!(first.iter().all(|n| n.contains("@reference.")), "{first:?}");
    // The next run into the same directory: its traces only, and a whole report.json.
    let out = middlebox(&[
        "run",
        NGINX,
        "--target",
        "bug/no-keepalive",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        trace_names(&out_dir),
        [
            "scenarios_keepalive_nginx-30m.toml@bug_no-keepalive.json",
            "scenarios_keepalive_nginx-30m.toml@bug_no-keepalive.txt"
        ]
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["results"][0]["target"], "bug/no-keepalive");
    let mut left: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["index.html", "report.json", "runs", "traces"],
        "no temporary file is left"
    );
}

#[test]
fn printing_commands_exit_quietly_into_a_closed_pipe() {
    let commands: &[&[&str]] = &[
        &["explain", NGINX],
        &["targets"],
        &["presets"],
        &["presets", "--markdown"],
        &["check", "scenarios"],
        &["run", NGINX, "--target", "reference"],
    ];
    for args in commands {
        let mut child = Command::new(env!("CARGO_BIN_EXE_middlebox"))
            .args(*args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before anything is written
        let out = child.wait_with_output().unwrap();
        let err = text(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

/// A user's scenario: nginx in front, a stream expected to survive 3 minutes.
const USERS_SCENARIO: &str = r#"description = "a user's own scenario, with no [expect-fail] tables"
duration = "3m"
[[intermediary]]
preset = "nginx"
[[client.step]]
at = "1s"
do = "open-stream"
[[expect]]
check = "stream.survives"
"#;

#[test]
fn a_scenario_file_outside_the_suite_runs_against_the_reference_only_by_default() {
    let dir = tempdir();
    let sc = dir.join("mine.toml");
    std::fs::write(&sc, USERS_SCENARIO).unwrap();
    let out = middlebox(&["run", sc.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    // Every bug model would fail it "unexpectedly" for lack of [expect-fail] tables.
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.starts_with("1 run in 1 scenario file × 1 target\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\nreference "), "{stdout}");
    assert!(
        flat(&text(&out.stderr)).contains(
            "1 scenario file outside middlebox's own suite runs against `reference` only"
        ),
        "{}",
        text(&out.stderr)
    );
    // A file of the suite next to it still runs against every default target.
    let out = middlebox(&["run", sc.to_str().unwrap(), NGINX]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("bug/no-keepalive "), "{stdout}");
    let runs: usize = stdout.split(' ').next().unwrap().parse().unwrap();
    assert!(runs > 3, "{stdout}");
}

#[test]
fn reproduce_lines_run_as_printed_when_middlebox_is_not_on_path() {
    let dir = tempdir();
    let sc = dir.join("mine.toml");
    std::fs::write(&sc, USERS_SCENARIO).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_middlebox")).parent().unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::env::split_paths(&path).filter(|d| d != bin)).unwrap();
    let run = |cmd: &mut Command| {
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("PATH", &path)
            .output()
            .unwrap()
    };
    let out = run(Command::new(env!("CARGO_BIN_EXE_middlebox")).args([
        "run",
        sc.to_str().unwrap(),
        "--target",
        "bug/no-keepalive",
    ]));
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("  reproduce: "))
        .expect("a reproduce line")
        .to_string();
    assert!(!line.starts_with("middlebox "), "not on PATH: {line}");
    // The line, run by a shell as printed, reproduces the same failure.
    let again = run(Command::new("sh").args(["-c", &line]));
    assert_eq!(
        again.status.code(),
        Some(1),
        "{line}: {}",
        text(&again.stderr)
    );
    let fail = |s: &str| s.lines().find(|l| l.starts_with("FAIL ")).map(String::from);
    assert_eq!(fail(&text(&again.stdout)), fail(&stdout));
    assert!(fail(&stdout).is_some());
}

#[test]
fn the_default_output_fits_100_columns_and_names_every_unexpected_outcome() {
    let dir = tempdir();
    let sc = dir.join("mine.toml");
    std::fs::write(&sc, USERS_SCENARIO).unwrap();
    for extra in [&[][..], &["--matrix"][..]] {
        let mut args = vec![
            "run",
            "scenarios/chains",
            sc.to_str().unwrap(),
            "--target",
            "reference",
            "--target",
            "bug/no-keepalive",
            "--target",
            "bug/keepalive-90s",
        ];
        args.extend(extra);
        let out = middlebox(&args);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        for l in stdout.lines().filter(|l| !l.starts_with("  reproduce: ")) {
            assert!(
                l.chars().count() <= 100,
                "{} columns: {l}",
                l.chars().count()
            );
        }
        // mine.toml × the two bug models: unexpected, each named with its reproduce line.
        for t in ["bug/no-keepalive", "bug/keepalive-90s"] {
            assert!(
                stdout.contains(&format!(
                    "FAIL {} × {t}  (seed 1)\n  reproduce: middlebox run ",
                    sc.display()
                )),
                "{stdout}"
            );
        }
        assert_eq!(stdout.matches("\nFAIL ").count(), 2, "{stdout}");
        assert_eq!(
            extra.is_empty(),
            !stdout.contains("cells: . pass"),
            "{stdout}"
        );
    }
}

#[test]
fn a_baseline_declares_known_failures_and_a_stale_entry_fails_the_run_naming_it() {
    let dir = tempdir();
    let sc = dir.join("mine.toml");
    std::fs::write(&sc, USERS_SCENARIO).unwrap();
    let base = dir.join("baseline.toml");
    let write = |target: &str| {
        std::fs::write(
            &base,
            format!(
                "# what our server is known to fail\n[\"{target}\".\"{}\"]\n\"stream.survives\" = \"no keepalive yet\"\n",
                sc.display()
            ),
        )
        .unwrap();
    };
    let run = |target: &str| {
        middlebox(&[
            "run",
            sc.to_str().unwrap(),
            "--target",
            target,
            "--expect",
            base.to_str().unwrap(),
        ])
    };
    // Without the baseline the bug model's failure is unexpected; with it, expected.
    write("bug/no-keepalive");
    let out = run("bug/no-keepalive");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("1 run: 0 pass, 1 fail (1 as expected), 0 unexpected"));
    // The reference passes: the entry is stale, the run fails and names it.
    write("reference");
    let out = run("reference");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        flat(&stdout).contains(&format!(
            "stream.survives: stale baseline entry {}:3: expected to fail, but its verdict is pass",
            base.display()
        )),
        "{stdout}"
    );
    // A check the scenario does not judge is a located error.
    std::fs::write(
        &base,
        format!(
            "[\"reference\".\"{}\"]\n\"keepalive.cadence\" = \"why\"\n",
            sc.display()
        ),
    )
    .unwrap();
    let out = run("reference");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!("error: {}:1:", base.display()))
            && err.contains("`keepalive.cadence` is not a check of"),
        "{err}"
    );
}

#[test]
fn shards_split_a_run_and_merge_joins_their_reports_into_the_whole() {
    let dir = tempdir();
    let whole = middlebox(&["run", "scenarios/chains", "--format", "json"]);
    assert_eq!(whole.status.code(), Some(0));
    let whole: serde_json::Value = serde_json::from_slice(&whole.stdout).unwrap();
    let pairs = |v: &serde_json::Value| -> Vec<String> {
        let mut p: Vec<String> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{} {} {}", r["scenario"], r["target"], r["verdict"]))
            .collect();
        p.sort();
        p
    };
    let mut files = Vec::new();
    for k in ["1/2", "2/2"] {
        let out_dir = dir.join(k.replace('/', "of"));
        let out = middlebox(&[
            "run",
            "scenarios/chains",
            "--shard",
            k,
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(flat(&text(&out.stderr)).contains(&format!("note: shard {k}:")));
        files.push(out_dir.join("report.json"));
    }
    let files: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let merged = middlebox(&[&["merge", "--format", "json"][..], &files].concat());
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged.stderr));
    let merged: serde_json::Value = serde_json::from_slice(&merged.stdout).unwrap();
    assert_eq!(pairs(&merged), pairs(&whole));
    assert!(pairs(&whole).len() >= 4);
    // The same shard twice overlaps; a bad K/N is a usage error.
    let twice = middlebox(&["merge", files[0], files[0]]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(
        text(&twice.stderr).contains("in two reports"),
        "{}",
        text(&twice.stderr)
    );
    for bad in ["0/2", "3/2", "x"] {
        let out = middlebox(&["run", "scenarios/chains", "--shard", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
}
