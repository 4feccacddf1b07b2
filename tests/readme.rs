//! The README's tables and commands stay true to the code.

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn presets_table_matches_the_code() {
    let table = middlebox::intermediary::preset::markdown_table();
    assert!(
        readme().contains(&table),
        "README presets table is stale; regenerate with `middlebox presets --markdown`:\n{table}"
    );
}

#[test]
fn every_check_and_target_is_documented() {
    let r = readme();
    for (id, _) in middlebox::check::CHECK_IDS {
        assert!(
            r.contains(&format!("| `{id}` |")),
            "check {id} missing from README"
        );
    }
    for t in middlebox::target::all() {
        assert!(
            r.contains(&format!("| `{}` |", t.name)),
            "target {} missing",
            t.name
        );
    }
}

#[test]
fn ci_runs_the_readme_commands() {
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    let r = readme();
    for cmd in ["cargo run --release -- run", "cargo test"] {
        assert!(r.contains(&format!("{cmd} ")), "README lacks `{cmd}`");
        assert!(
            ci.lines().any(|l| l.trim() == cmd),
            ".ci/run does not run `{cmd}`"
        );
    }
    for lint in [
        "cargo fmt --check",
        "cargo clippy --all-targets -- -D warnings",
    ] {
        assert!(
            ci.lines().any(|l| l.trim() == lint),
            ".ci/run lacks `{lint}`"
        );
    }
}
