//! `--out DIR`'s HTML report in a real headless browser (Debian's `chromium`): the pages load,
//! their scripts run without throwing, every run is listed, and the failing run's timeline
//! shows nginx's cut at its time. Skipped, saying so, where chromium is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

const NGINX: &str = "scenarios/keepalive/nginx-30m.toml";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The browser, if one is installed: `$CHROMIUM`, else `chromium` or `chromium-browser`.
fn chromium() -> Option<PathBuf> {
    let names: Vec<String> = std::env::var("CHROMIUM")
        .into_iter()
        .chain(["chromium".to_string(), "chromium-browser".to_string()])
        .collect();
    names.into_iter().map(PathBuf::from).find(|n| {
        Command::new(n)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// The DOM of `page` after its scripts ran, as chromium dumps it.
fn dump_dom(browser: &Path, page: &Path, profile: &Path) -> String {
    let url = format!("file://{}", page.display()).replace('%', "%25");
    let out = Command::new(browser)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--allow-file-access-from-files",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium --dump-dom {url} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn the_html_report_loads_in_chromium_and_shows_the_cut() {
    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED the_html_report_loads_in_chromium_and_shows_the_cut: no chromium found \
             (install Debian's `chromium` package, or set CHROMIUM to a browser binary)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("middlebox-html-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_middlebox"))
        .args([
            "run",
            NGINX,
            "--target",
            "reference",
            "--target",
            "bug/no-keepalive",
            "--out",
        ])
        .arg(&dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let profile = dir.join(".chromium-profile");

    let index = dump_dom(&browser, &dir.join("index.html"), &profile);
    assert!(
        index.contains("data-ok=\"1\""),
        "the index's script threw:\n{index}"
    );
    assert!(
        index.contains("2 runs shown"),
        "the filters ran over both runs:\n{index}"
    );
    for page in [
        "runs/scenarios_keepalive_nginx-30m.toml@reference.html",
        "runs/scenarios_keepalive_nginx-30m.toml@bug_no-keepalive.html",
    ] {
        assert!(dir.join(page).is_file(), "{page} written");
        assert!(
            index.contains(&format!("href=\"{page}\"")),
            "the index links {page}"
        );
    }

    // The fragment presets the filters: only the expected failure is left.
    let filtered = dump_dom(
        &browser,
        &dir.join("index.html#verdict=expected-fail"),
        &profile,
    );
    assert!(filtered.contains("data-ok=\"1\""), "{filtered}");
    assert!(filtered.contains("1 runs shown"), "{filtered}");
    assert!(
        filtered
            .contains("<td data-target=\"reference\" data-verdict=\"pass\" class=\"v-pass dim\">"),
        "the passing cell is dimmed:\n{filtered}"
    );

    let bug = dump_dom(
        &browser,
        &dir.join("runs/scenarios_keepalive_nginx-30m.toml@bug_no-keepalive.html"),
        &profile,
    );
    assert!(
        bug.contains("data-ok=\"1\""),
        "the run page's script threw:\n{bug}"
    );
    assert_eq!(
        bug.matches("<svg class=\"timeline\"").count(),
        1,
        "one timeline"
    );
    // nginx's idle timeout cuts the silent stream 60 s after its last byte.
    assert!(
        bug.contains("<g class=\"mark k-cut\" data-at=\"00:01:01.005\""),
        "the cut mark at 00:01:01.005:\n{bug}"
    );
    assert!(
        bug.contains(">cut (idle-timeout, fin) · 00:01:01.005</text>"),
        "its label"
    );
    assert!(
        bug.contains("✗ stream.survives 00:01:01.005"),
        "the failing check's marker"
    );
    assert!(bug.contains("<g class=\"span reached\"><title>nginx idle-timeout 60s"));
    assert!(
        bug.contains("⋯ 8 min 59 s ⋯"),
        "1:01 → 10:00 drawn compressed"
    );

    let reference = dump_dom(
        &browser,
        &dir.join("runs/scenarios_keepalive_nginx-30m.toml@reference.html"),
        &profile,
    );
    assert!(reference.contains("data-ok=\"1\""));
    assert_eq!(reference.matches("<svg class=\"timeline\"").count(), 1);
    assert_eq!(
        reference.matches("<g class=\"mark k-keepalive\"").count(),
        3 * 119,
        "119 keepalives on each of the three hops"
    );
    assert!(!reference.contains("class=\"mark k-cut\""));
    let _ = std::fs::remove_dir_all(&dir);
}

fn run_out(dir: &Path, targets: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_middlebox"));
    cmd.args(["run", NGINX]);
    for t in targets {
        cmd.args(["--target", t]);
    }
    cmd.arg("--out")
        .arg(dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("readable")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_later_run_replaces_the_run_pages_and_foreign_files_are_refused() {
    let dir = std::env::temp_dir().join(format!("middlebox-html-stale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = run_out(&dir, &["reference", "bug/no-keepalive"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(listing(&dir.join("runs")).len(), 2);
    let out = run_out(&dir, &["reference"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(
        listing(&dir.join("runs")),
        ["scenarios_keepalive_nginx-30m.toml@reference.html"],
        "the earlier run's page is gone"
    );
    let index = std::fs::read_to_string(dir.join("index.html")).expect("index.html");
    assert!(
        !index.contains("bug_no-keepalive"),
        "the index lists only this run"
    );
    assert_eq!(
        listing(&dir),
        ["index.html", "report.json", "runs", "traces"],
        "no temporary file left"
    );
    // runs/ is replaced by every run: a file middlebox did not write there is refused first.
    std::fs::write(dir.join("runs/notes.txt"), "mine").expect("writable");
    let out = run_out(&dir, &["reference"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("runs") && err.contains("holds files middlebox did not write"),
        "{err}"
    );
    assert!(dir.join("runs/notes.txt").exists(), "left alone");
    let _ = std::fs::remove_dir_all(&dir);
}
