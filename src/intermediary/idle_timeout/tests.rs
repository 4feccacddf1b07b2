use super::*;
use crate::intermediary::Side;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn nginx_like(watch: Watch) -> IdleTimeout {
    IdleTimeout::new(IdleTimeoutConfig {
        after: secs(60),
        watch,
        action: CloseAction::Respond(504),
        after_headers: CloseAction::Fin,
    })
}

fn bytes(from: Side) -> Observation {
    Observation::Bytes { from, len: 13 }
}

fn head() -> Observation {
    Observation::ResponseHead {
        status: 200,
        headers: vec![("content-type".into(), "text/event-stream".into())],
    }
}

#[test]
fn no_deadline_before_opened() {
    let t = nginx_like(Watch::Upstream);
    assert_eq!(t.deadline(), None);
}

#[test]
fn upstream_bytes_push_the_deadline() {
    let mut t = nginx_like(Watch::Upstream);
    t.observe(secs(0), &Observation::Opened);
    assert_eq!(t.deadline(), Some(secs(60)));
    t.observe(Duration::from_millis(1003), &bytes(Side::Upstream));
    assert_eq!(t.deadline(), Some(Duration::from_millis(61_003)));
}

#[test]
fn downstream_bytes_do_not_reset_an_upstream_timer() {
    let mut t = nginx_like(Watch::Upstream);
    t.observe(secs(0), &Observation::Opened);
    t.observe(secs(30), &bytes(Side::Downstream));
    assert_eq!(t.deadline(), Some(secs(60)));
}

#[test]
fn any_watch_is_reset_by_either_side() {
    let mut t = nginx_like(Watch::Any);
    t.observe(secs(0), &Observation::Opened);
    t.observe(secs(10), &bytes(Side::Downstream));
    assert_eq!(t.deadline(), Some(secs(70)));
    t.observe(secs(20), &bytes(Side::Upstream));
    assert_eq!(t.deadline(), Some(secs(80)));
}

#[test]
fn downstream_watch_ignores_upstream_bytes() {
    let mut t = nginx_like(Watch::Downstream);
    t.observe(secs(0), &Observation::Opened);
    t.observe(secs(10), &bytes(Side::Upstream));
    assert_eq!(t.deadline(), Some(secs(60)));
}

#[test]
fn fires_with_action_before_headers() {
    let mut t = nginx_like(Watch::Upstream);
    t.observe(secs(0), &Observation::Opened);
    let d = t.on_deadline(secs(60)).expect("fires at the deadline");
    assert_eq!(
        d,
        Decision::Close {
            action: CloseAction::Respond(504),
            reason: "idle-timeout 60s (upstream silent since 00:00:00.000)".into(),
        }
    );
}

#[test]
fn fires_with_after_headers_action_once_headers_were_seen() {
    let mut t = nginx_like(Watch::Upstream);
    t.observe(secs(0), &Observation::Opened);
    let at = Duration::from_millis(1003);
    t.observe(at, &bytes(Side::Upstream));
    t.observe(at, &head());
    let d = t.on_deadline(at + secs(60)).expect("fires");
    assert_eq!(
        d,
        Decision::Close {
            action: CloseAction::Fin,
            reason: "idle-timeout 60s (upstream silent since 00:00:01.003)".into(),
        }
    );
}

#[test]
fn respond_after_headers_falls_back_to_fin() {
    let mut t = IdleTimeout::new(IdleTimeoutConfig {
        after: secs(5),
        watch: Watch::Upstream,
        action: CloseAction::Respond(504),
        after_headers: CloseAction::Respond(504),
    });
    t.observe(secs(0), &Observation::Opened);
    t.observe(secs(0), &head());
    match t.on_deadline(secs(5)) {
        Some(Decision::Close { action, .. }) => assert_eq!(action, CloseAction::Fin),
        other => panic!("expected a close, got {other:?}"),
    }
}

#[test]
fn fires_once_then_has_no_deadline() {
    let mut t = nginx_like(Watch::Upstream);
    t.observe(secs(0), &Observation::Opened);
    assert!(t.on_deadline(secs(60)).is_some());
    assert_eq!(t.deadline(), None);
    assert_eq!(t.on_deadline(secs(120)), None);
    t.observe(secs(121), &bytes(Side::Upstream));
    assert_eq!(t.deadline(), None);
}

#[test]
fn early_call_does_not_fire() {
    let mut t = nginx_like(Watch::Upstream);
    t.observe(secs(0), &Observation::Opened);
    t.observe(secs(30), &bytes(Side::Upstream));
    assert_eq!(t.on_deadline(secs(60)), None);
    assert_eq!(t.deadline(), Some(secs(90)));
}

#[test]
fn upstream_end_stops_the_timer() {
    let mut t = nginx_like(Watch::Any);
    t.observe(secs(0), &Observation::Opened);
    t.observe(secs(1), &Observation::UpstreamEnded);
    assert_eq!(t.deadline(), None);
    assert_eq!(t.on_deadline(secs(61)), None);
}

#[test]
fn any_watch_reason_and_limit() {
    let mut t = nginx_like(Watch::Any);
    t.observe(secs(2), &Observation::Opened);
    match t.on_deadline(secs(62)) {
        Some(Decision::Close { reason, .. }) => assert_eq!(
            reason,
            "idle-timeout 60s (no bytes either way since 00:00:02.000)"
        ),
        other => panic!("expected a close, got {other:?}"),
    }
    let limit = t.limit().unwrap();
    assert_eq!(limit.behavior, "idle-timeout");
    assert_eq!(limit.after, secs(60));
    assert_eq!(limit.watches, "silence in both directions");
}

#[test]
fn summary_names_span_watch_and_actions() {
    assert_eq!(
        nginx_like(Watch::Upstream).summary(),
        "idle-timeout 60s (upstream) → http-504, after headers fin"
    );
    let t = IdleTimeout::new(IdleTimeoutConfig {
        after: secs(15 * 60),
        watch: Watch::Upstream,
        action: CloseAction::Fin,
        after_headers: CloseAction::Fin,
    });
    assert_eq!(t.summary(), "idle-timeout 15m (upstream) → fin");
}
