//! The test a maintainer adds to their own crate: run middlebox's keepalive scenarios (nginx,
//! Cloudflare, Envoy, AWS ALB) against the service, in-process, on virtual time.

use axum_keepalive::app;
use middlebox::{render_failure, tower, RunResult, Scenario};
use std::path::PathBuf;
use std::time::Duration;

/// middlebox's plain-SSE keepalive scenarios (this example lives inside the middlebox repo;
/// in your crate, point at a copy or at your own scenario files).
fn scenarios() -> Vec<Scenario> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/keepalive");
    [
        "nginx-30m.toml",
        "cloudflare.toml",
        "envoy.toml",
        "aws-alb.toml",
    ]
    .iter()
    .map(|f| middlebox::load(&dir.join(f)).expect("scenario loads"))
    .collect()
}

fn run(keepalive: Option<Duration>) -> Vec<RunResult> {
    scenarios()
        .iter()
        .map(|s| middlebox::run_server(s, "axum-keepalive", tower(move || app(keepalive)), None))
        .collect()
}

#[test]
fn the_sse_stream_survives_every_proxy_with_a_15s_keepalive() {
    for r in run(Some(Duration::from_secs(15))) {
        assert!(!r.unexpected, "{}", render_failure(&r));
    }
}

/// What the test above reports when the keepalive is removed: every scenario fails, and the
/// failure names the proxy that cut the stream.
#[test]
fn without_keepalive_every_proxy_cuts_the_stream() {
    for r in run(None) {
        assert!(r.unexpected, "{} passed without keepalive", r.scenario);
        let report = render_failure(&r);
        assert!(report.contains("stream.survives failed"), "{report}");
        assert!(report.contains("idle-timeout"), "{report}");
    }
}
