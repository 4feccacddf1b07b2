use super::*;

const NGINX: &str = "scenarios/keepalive/nginx-30m.toml";

fn nginx() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(NGINX);
    crate::scenario::load(&path).unwrap()
}

/// A baseline naming the suite's nginx scenario by its absolute path (the tests' working
/// directory is the crate's root, but a path from anywhere must match).
fn baseline(body: &str) -> Result<Baseline, ScenarioError> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(NGINX);
    Baseline::parse(
        "base.toml",
        &body.replace("NGINX", &path.display().to_string()),
    )
}

#[test]
fn an_entry_joins_the_scenarios_expectations_with_where_it_was_declared() {
    let b = baseline(
        "# known failures\n[\"exec:srv\".\"NGINX\"]\n\"keepalive.cadence\" = \"no keepalive yet\"\n",
    )
    .unwrap();
    assert_eq!(b.entries.len(), 1);
    let mut s = [nginx()];
    assert_eq!(b.apply(&mut s, &["exec:srv"]).unwrap(), 0);
    assert_eq!(s[0].expect_fail["exec:srv"], ["keepalive.cadence"]);
    assert_eq!(
        s[0].expected_by["exec:srv"]["keepalive.cadence"],
        "base.toml:3"
    );
    assert_eq!(s[0].expect_fail_reasons["exec:srv"], "no keepalive yet");
    // The file's own expectations stay.
    assert!(s[0].expect_fail.contains_key("bug/no-keepalive"));
}

#[test]
fn entries_outside_the_run_are_counted_not_judged() {
    let b = baseline("[\"exec:srv\".\"NGINX\"]\n\"keepalive.cadence\" = \"why\"\n").unwrap();
    let mut s = [nginx()];
    // Its target is not in the run.
    assert_eq!(b.apply(&mut s, &["reference"]).unwrap(), 1);
    assert!(!s[0].expect_fail.contains_key("exec:srv"));
    // Its scenario is not in the run.
    assert_eq!(b.apply(&mut [], &["exec:srv"]).unwrap(), 1);
}

#[test]
fn bad_entries_are_located_errors_saying_what_was_expected() {
    let e = baseline("[\"nope\".\"NGINX\"]\n\"keepalive.cadence\" = \"why\"\n").unwrap_err();
    assert_eq!((e.line, e.key_path.as_str()), (1, "nope"));
    assert!(e.message.contains("unknown target `nope`"), "{e}");

    let e = baseline("[\"reference\".\"NGINX\"]\n\"keepalive.cadence\" = \" \"\n").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.message.contains("empty reason"), "{e}");

    let e = baseline("[reference]\n\"x.toml\" = 3\n").unwrap_err();
    assert!(e.message.contains("expected tables"), "{e}");

    let b = baseline("[\"reference\".\"NGINX\"]\n\"keepalive.cadense\" = \"why\"\n").unwrap();
    let e = b.apply(&mut [nginx()], &["reference"]).unwrap_err();
    assert!(
        e.message.contains("`keepalive.cadense` is not a check of")
            && e.message.contains("keepalive.cadence"),
        "{e}"
    );

    let b = Baseline::parse(
        "base.toml",
        "[\"reference\".\"no/such.toml\"]\n\"stream.survives\" = \"why\"\n",
    )
    .unwrap();
    let e = b.apply(&mut [nginx()], &["reference"]).unwrap_err();
    assert_eq!(e.line, 1);
    assert!(e.message.contains("no scenario file `no/such.toml`"), "{e}");
}
