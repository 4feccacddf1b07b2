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
    for id in middlebox::check::CheckKind::ALL.iter().map(|k| k.id()) {
        assert!(
            r.contains(&format!("| `{id}` |")),
            "check {id} missing from README"
        );
    }
    for t in middlebox::targets::all() {
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

/// The `fails in` cell of a check's row in the README's checks table: `SCENARIO × TARGET`.
fn fails_in(readme: &str, id: &str) -> Result<(String, String), String> {
    let header = "| id | parameters | holds when | fails in |";
    let table = readme
        .split_once(header)
        .ok_or("the README's checks table has no `fails in` column")?
        .1;
    let row = table
        .lines()
        .skip(1) // the rest of the header line
        .take_while(|l| l.starts_with('|'))
        .find(|l| l.starts_with(&format!("| `{id}` |")))
        .ok_or(format!("no row for {id} in the checks table"))?;
    let cell = row
        .trim_end()
        .strip_suffix('|')
        .and_then(|r| r.rsplit_once('|'))
        .map(|(_, c)| c.trim())
        .unwrap_or_default();
    let pair = cell
        .strip_prefix('`')
        .and_then(|c| c.strip_suffix('`'))
        .and_then(|c| c.split_once(" × "))
        .ok_or(format!(
            "{id}: `fails in` is {cell:?}; expected `SCENARIO × TARGET`, e.g. `keepalive/nginx-30m × bug/no-keepalive`"
        ))?;
    Ok((pair.0.to_string(), pair.1.to_string()))
}

/// Whether the snapshot of `scenario` × `target` shows check `id` failing; for a target
/// without snapshots (rmcp), whether the scenario declares the failure.
fn shows_failing(scenario: &str, target: &str, id: &str) -> Result<(), String> {
    let root = env!("CARGO_MANIFEST_DIR");
    let file = format!("{root}/scenarios/{scenario}.toml");
    if middlebox::targets::get(target).is_none() {
        return Err(format!("{id}: {target} is no target"));
    }
    if middlebox::targets::NOT_REPRODUCIBLE.contains(&target) {
        let s = middlebox::scenario::load(file.as_ref()).map_err(|e| e.to_string())?;
        return match s.expect_fail.get(target) {
            Some(checks) if checks.iter().any(|c| c == id) => Ok(()),
            _ => Err(format!(
                "{id}: {file} declares no [expect-fail.\"{target}\"] listing it"
            )),
        };
    }
    let snap = format!(
        "{root}/snapshots/{}@{}.snap",
        scenario.replace('/', "__"),
        target.replace('/', "-")
    );
    let text = std::fs::read_to_string(&snap).map_err(|e| format!("{id}: {snap}: {e}"))?;
    let checks = text
        .split_once("# checks\n")
        .and_then(|(_, rest)| rest.split_once("# trace\n"))
        .map(|(checks, _)| checks)
        .ok_or(format!("{id}: {snap} has no checks section"))?;
    if checks
        .lines()
        .any(|l| l.starts_with(&format!("{id}: fail")))
    {
        Ok(())
    } else {
        Err(format!("{id}: {snap} does not show it failing"))
    }
}

#[test]
fn every_check_names_a_pair_of_the_suite_that_fails_it() {
    let r = readme();
    let wrong: Vec<String> = middlebox::check::CheckKind::ALL
        .iter()
        .map(|k| k.id())
        .filter_map(|id| {
            fails_in(&r, id)
                .and_then(|(scenario, target)| shows_failing(&scenario, &target, id))
                .err()
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "README checks table, `fails in`:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn a_fails_in_cell_that_names_no_failing_pair_is_caught() {
    let r = readme();
    // A pair whose snapshot shows the check passing.
    assert!(
        shows_failing("keepalive/nginx-30m", "reference", "stream.survives")
            .unwrap_err()
            .contains("does not show it failing")
    );
    // rmcp: only a declared failure counts.
    assert!(shows_failing("keepalive/mcp-get-nginx", "rmcp", "replay.complete").is_err());
    assert!(shows_failing("keepalive/mcp-get-nginx", "rmcp", "determinism.wall-clock").is_ok());
    assert!(shows_failing("keepalive/nginx-30m", "bug/nope", "stream.survives").is_err());
    // A row without a pair.
    let blank = r.replace("| `keepalive/nginx-30m × bug/no-keepalive` |", "| — |");
    assert!(fails_in(&blank, "stream.survives").is_err());
}
