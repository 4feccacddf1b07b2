//! `middlebox adapter-check` end to end: our Node and Python adapters pass, a minimal
//! standard-library adapter passes, and the same adapter broken on purpose fails naming the
//! rule it breaks (the acceptance of issue 12's adapter kit).
//!
//! ```text
//!  middlebox adapter-check --impl IMPL@VERSION -- CMD...
//!     node harness/node/server.mjs            ──▶ exit 0, every rule ok
//!     python harness/python/server.py         ──▶ exit 0
//!     python3 tests/fixtures/adapter/minimal.py [--defect D] ──▶ 0, or 1 with FAIL <rule>
//! ```

use std::process::Command;

/// Runs `middlebox adapter-check ARGS` from the repository root: (exit code, stdout, stderr).
fn adapter_check(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_middlebox"))
        .arg("adapter-check")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", path_with_binary())
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `PATH` with the binary's folder first (reproduce lines then say `middlebox`).
fn path_with_binary() -> std::ffi::OsString {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_middlebox"))
        .parent()
        .unwrap();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&rest)))
        .unwrap()
}

/// The number of rules the check judges (every line of a passing report but the count).
fn rule_lines(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| l.starts_with("ok ") || l.starts_with("FAIL ") || l.starts_with("-- "))
        .collect()
}

fn assert_passes(args: &[&str]) {
    let (code, out, err) = adapter_check(args);
    assert_eq!(code, 0, "adapter-check {args:?}:\n{out}\n{err}");
    let lines = rule_lines(&out);
    assert!(lines.len() >= 20, "{out}");
    assert!(lines.iter().all(|l| l.starts_with("ok ")), "{out}");
    assert!(
        out.ends_with(&format!(
            "{n} rules: {n} held, 0 broken, 0 not reached\n",
            n = lines.len()
        )),
        "{out}"
    );
}

#[test]
fn our_node_server_adapter_passes() {
    let root = env!("CARGO_MANIFEST_DIR");
    assert!(
        std::path::Path::new(&format!("{root}/harness/node/node_modules")).is_dir(),
        "the Node adapter is not installed (run `harness/setup` before these tests)"
    );
    assert_passes(&[
        "--impl",
        "ts-sdk-server@1.32.2",
        "--",
        "node",
        "harness/node/server.mjs",
    ]);
}

#[test]
fn our_python_server_adapter_passes() {
    let root = env!("CARGO_MANIFEST_DIR");
    assert!(
        std::path::Path::new(&format!("{root}/harness/python/.venv/bin/python")).is_file(),
        "the Python adapter is not installed (run `harness/setup` before these tests)"
    );
    assert_passes(&[
        "--impl",
        "python-sdk-server@2.3.0",
        "--",
        "harness/python/.venv/bin/python",
        "harness/python/server.py",
    ]);
}

#[test]
fn an_implementation_without_a_keepalive_leaves_the_repeating_timer_rules_not_reached_and_fails() {
    let root = env!("CARGO_MANIFEST_DIR");
    assert!(
        std::path::Path::new(&format!("{root}/harness/node/node_modules")).is_dir(),
        "the Node adapter is not installed (run `harness/setup` before these tests)"
    );
    let (code, out, err) = adapter_check(&[
        "--impl",
        "ts-sdk-server@1.29.0",
        "--",
        "node",
        "harness/node/server.mjs",
    ]);
    assert_eq!(code, 1, "nothing to judge is not a pass:\n{out}\n{err}");
    assert!(out.contains("\n--   timers.conn "), "{out}");
    assert!(out.contains("\n--   timers.repeat "), "{out}");
    assert!(
        out.contains("not reached: no timer was armed while the session's GET stream was handled"),
        "{out}"
    );
    assert!(!out.contains("\nFAIL "), "{out}");
}

const MINIMAL: &str = "tests/fixtures/adapter/minimal.py";

#[test]
fn a_minimal_standard_library_adapter_passes() {
    assert_passes(&["--impl", "minimal@1", "--", "python3", MINIMAL]);
}

/// Checks the minimal adapter with `defect`: exit 1, the reproduction first, `rule` FAIL
/// with its statement and `seen` in what was seen, every other rule not broken.
fn assert_breaks(defect: &str, rule: &str, statement: &str, seen: &str) {
    let (code, out, err) = adapter_check(&[
        "--impl",
        "minimal@1",
        "--",
        "python3",
        MINIMAL,
        "--defect",
        defect,
    ]);
    assert_eq!(code, 1, "{defect}:\n{out}\n{err}");
    assert!(
        out.starts_with(&format!(
            "adapter-check FAILED; reproduce with: middlebox adapter-check --impl minimal@1 -- python3 {MINIMAL} --defect {defect}\n"
        )),
        "{defect}: {out}"
    );
    let line = out
        .lines()
        .position(|l| l.starts_with(&format!("FAIL {rule} ")))
        .unwrap_or_else(|| panic!("{defect}: no FAIL {rule}:\n{out}"));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[line].ends_with(statement),
        "{defect}: {}",
        lines[line]
    );
    assert!(
        lines[line + 1].trim_start().starts_with("seen: ") && lines[line + 1].contains(seen),
        "{defect}: {}",
        lines[line + 1]
    );
}

#[test]
fn an_adapter_replying_before_its_timers_fire_fails_naming_the_notification_rule() {
    assert_breaks(
        "timers-after-reply",
        "mcp.notifications",
        "Each of `mcp.notifications` is due at its `at_ms`: a timer of the adapter fires then.",
        "after `sync to 20000 ms`, `fired` has no timer at 5000 and 9000 ms",
    );
    assert_breaks(
        "timers-after-reply",
        "state.next-ms",
        "`next_ms` is the earliest deadline of a live timer (never before `now_ms`), or null.",
        "`next_ms` 5000 is before `now_ms` 20000",
    );
}

#[test]
fn an_adapter_listing_fired_timers_out_of_order_fails_sync_deadlines() {
    assert_breaks(
        "fired-reversed",
        "sync.deadlines",
        "in firing order, none after `to_ms`.",
        "`fired` is not in firing order: timer 1 at 5000 ms is listed after one at 9000 ms",
    );
}

#[test]
fn an_adapter_omitting_next_ms_fails_state_fields() {
    assert_breaks(
        "no-next-ms",
        "state.fields",
        "each with its documented fields.",
        "in the reply to `start`: `next_ms` is missing",
    );
}

#[test]
fn an_adapter_printing_on_stdout_fails_lines_json_and_the_rest_is_still_judged() {
    assert_breaks(
        "print-to-stdout",
        "lines.json",
        "Each reply is one JSON object on one line; stdout carries nothing else.",
        "a line on stdout that is not a JSON object (while waiting for the reply to `start`): listening on",
    );
    let (_, out, _) = adapter_check(&[
        "--impl",
        "minimal@1",
        "--",
        "python3",
        MINIMAL,
        "--defect",
        "print-to-stdout",
    ]);
    assert_eq!(
        rule_lines(&out)
            .iter()
            .filter(|l| l.starts_with("FAIL "))
            .count(),
        1,
        "read past the line, judged the rest: {out}"
    );
}

#[test]
fn an_adapter_under_reporting_written_fails_flush_written() {
    assert_breaks(
        "written-short",
        "flush.written",
        "the harness reads that many at once, and no more come.",
        "more bytes came without a sync",
    );
}

#[test]
fn an_adapter_outliving_its_stdin_fails_exit_stdin_closed() {
    assert_breaks(
        "no-exit-on-eof",
        "exit.stdin-closed",
        "When stdin closes, the adapter exits at once, without replying.",
        "the adapter still runs 5 s after its stdin closed",
    );
}

#[test]
fn an_adapter_not_naming_a_timers_connection_fails_timers_conn() {
    assert_breaks(
        "timers-no-conn",
        "timers.conn",
        "A timer armed while a request was handled names that request's connection in `conn`.",
        "but none names it: timer 3 conn null",
    );
}

#[test]
fn an_adapter_firing_an_interval_twice_at_one_instant_fails_timers_repeat() {
    assert_breaks(
        "interval-catch-up",
        "timers.repeat",
        "fires once per period, never twice at one instant to catch up.",
        "repeating timer 3 (every 15000 ms, armed at 20000 ms) fired at [57500, 57500], expected [35000, 50000]",
    );
}

#[test]
fn usage_errors_exit_2_saying_what_is_expected() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["--impl", "minimal", "--", "python3", MINIMAL],
            "expected IMPL@VERSION",
        ),
        (
            &[
                "--impl",
                "minimal@1",
                "--options",
                "[1]",
                "--",
                "python3",
                MINIMAL,
            ],
            "expected a JSON object",
        ),
        (
            &[
                "--role",
                "client",
                "--impl",
                "minimal@1",
                "--",
                "python3",
                MINIMAL,
            ],
            "server adapters only",
        ),
        (&["--impl", "minimal@1"], "CMD"),
    ];
    for (args, want) in cases {
        let (code, out, err) = adapter_check(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let (code, out, _) = adapter_check(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("harness/CLOCK-PROTOCOL.md"), "{out}");
    assert!(out.contains("node harness/node/server.mjs"), "{out}");
}
