use super::*;
use clap::CommandFactory;

/// Every option of `run`, by whether it changes the run (then its reproduce line must
/// repeat it; with a value to try) or not. A new option must be added to one list.
const CHANGES_THE_RUN: &[(&str, &str)] = &[
    ("keepalive", "15s"),
    ("event_store", "off"),
    ("engine", "realtime"),
    ("engine", "network"),
    ("engine", "events"),
    ("engine", "both"),
    ("python", "/bin/sh"),
    ("expect", "tests/fixtures/baseline.toml"),
];
/// Scenario and target and seed are in every reproduce line; the rest only say where and
/// how results are shown, or how many run at once.
const LEAVES_THE_RUN: &[&str] = &[
    "paths", "targets", "seed", "format", "out", "jobs", "peak_rss", "help",
    // a single pair's reproduce line needs no shard; the matrix is a way of showing
    "shard", "matrix",
];

#[test]
fn every_option_that_changes_a_run_is_in_its_reproduce_line() {
    let cmd = Cli::command();
    let run = cmd.find_subcommand("run").expect("run");
    for arg in run.get_arguments() {
        let id = arg.get_id().as_str();
        assert!(
            CHANGES_THE_RUN.iter().any(|(c, _)| *c == id) || LEAVES_THE_RUN.contains(&id),
            "classify the new option `{id}` in CHANGES_THE_RUN or LEAVES_THE_RUN"
        );
    }
    for (id, value) in CHANGES_THE_RUN {
        let long = run
            .get_arguments()
            .find(|a| a.get_id().as_str() == *id)
            .and_then(|a| a.get_long())
            .expect("a long option");
        let cli = Cli::try_parse_from(["middlebox", "run", "x.toml", &format!("--{long}"), value])
            .expect("parses");
        let Command::Run(a) = cli.command else {
            panic!("run")
        };
        let mut s =
            vec![
                middlebox::scenario::parse("x.toml", "description = \"t\"\nduration = \"10s\"\n")
                    .unwrap(),
            ];
        apply_run_options(&mut s, &a).unwrap();
        let r = middlebox::report::evaluate(&s[0], "reference", 1, Default::default());
        let line = r.reproduce();
        assert!(
            line.ends_with(&format!(" --{long} {value}")),
            "`--{long} {value}` missing: {line}"
        );
    }
    // The default engine is not repeated.
    let cli = Cli::try_parse_from(["middlebox", "run", "x.toml", "--engine", "auto"]).unwrap();
    let Command::Run(a) = cli.command else {
        panic!("run")
    };
    let mut s =
        vec![
            middlebox::scenario::parse("x.toml", "description = \"t\"\nduration = \"10s\"\n")
                .unwrap(),
        ];
    apply_run_options(&mut s, &a).unwrap();
    assert!(s[0].cli_options.is_empty(), "{:?}", s[0].cli_options);
}

#[test]
fn trace_file_names_never_collide_and_stay_short() {
    let a = trace_file_name("x/a b.toml", "reference");
    let b = trace_file_name("x/a_b.toml", "reference");
    assert_ne!(a, b);
    assert_eq!(a, "x_a%20b.toml@reference");
    assert_eq!(b, "x_a%5Fb.toml@reference");
    assert_ne!(
        trace_file_name("a@b", "c"),
        trace_file_name("a", "b@c"),
        "the separator is escaped inside names"
    );
    assert_eq!(
        trace_file_name("scenarios/keepalive/nginx-30m.toml", "bug/no-keepalive"),
        "scenarios_keepalive_nginx-30m.toml@bug_no-keepalive"
    );
    let long = "d/".repeat(150) + "s.toml";
    let (x, y) = (
        trace_file_name(&long, "exec:python3 server.py --flag 1"),
        trace_file_name(&long, "exec:python3 server.py --flag 2"),
    );
    assert_ne!(x, y, "shortened names keep a digest of the whole");
    assert!(
        x.len() + ".json".len() <= 255 && x.len() <= NAME_MAX,
        "{}",
        x.len()
    );
    let wide = "é".repeat(120);
    assert!(trace_file_name(&wide, &wide).len() <= NAME_MAX);
}

#[test]
fn a_failed_out_write_still_gives_the_outcome_exit_code() {
    let dir = std::env::temp_dir().join(format!("middlebox-out-file-{}", std::process::id()));
    std::fs::write(&dir, b"a file, not a directory").unwrap();
    let report = Report::new(None, Vec::new());
    let code = finish_run(&report, Format::Json, Some(&dir), false);
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(prepare_out(&dir).is_err(), "checked before a run");
    let _ = std::fs::remove_file(&dir);
}

fn scenario(steps: &str, target: &str) -> middlebox::scenario::Scenario {
    let text = format!(
            "description = \"t\"\nduration = \"10s\"\n{steps}\n[[expect]]\ncheck = \"stream.survives\"\n[expect-fail.\"{target}\"]\nchecks = [\"stream.survives\"]\n"
        );
    middlebox::scenario::parse("t.toml", &text).expect("valid")
}

#[test]
fn expect_fail_must_name_a_target_that_runs_on_the_scenario() {
    let plain = "[[client.step]]\nat = \"1s\"\ndo = \"open-stream\"";
    let mcp = "[[client.step]]\nat = \"0s\"\ndo = \"initialize\"\n[[client.step]]\nat = \"1s\"\ndo = \"open-get-stream\"";
    let e = check_targets(&scenario(plain, "bug/shared-keepalive-timer")).unwrap_err();
    assert!(
        e.contains("only runs on scenarios whose client speaks MCP"),
        "{e}"
    );
    assert!(e.starts_with("error: t.toml: expect-fail.\"bug/shared-keepalive-timer\""));
    assert!(check_targets(&scenario(mcp, "bug/shared-keepalive-timer")).is_ok());
    assert!(check_targets(&scenario(plain, "bug/no-keepalive")).is_ok());
    let e = check_targets(&scenario(plain, "bug/nope")).unwrap_err();
    assert!(e.contains("unknown target"), "{e}");
}
