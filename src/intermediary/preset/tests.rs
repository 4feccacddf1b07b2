use super::*;
use crate::intermediary::{Behavior, Decision, Observation, Side};

#[test]
fn every_preset_builds_and_has_a_source() {
    let presets = all();
    assert!(presets.len() >= 14);
    for p in presets {
        assert!(!p.source.trim().is_empty(), "{} has no source", p.name);
        assert!(!p.summary.trim().is_empty(), "{} has no summary", p.name);
        assert!(!p.behaviors.is_empty(), "{} has no behaviors", p.name);
        for b in &p.behaviors {
            let built = b.build(7);
            assert_eq!(built.kind(), b.kind(), "{}", p.name);
            assert!(!built.summary().is_empty());
        }
    }
}

#[test]
fn names_are_unique_kebab_case_and_found() {
    let names = names();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "duplicate preset names");
    for name in &names {
        let kebab = !name.is_empty()
            && !name.starts_with('-')
            && !name.ends_with('-')
            && !name.contains("--")
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        assert!(kebab, "{name} is not kebab-case");
        assert_eq!(get(name).map(|p| p.name), Some(*name));
    }
    for wanted in [
        "nginx",
        "ingress-nginx",
        "haproxy",
        "envoy",
        "aws-alb",
        "gcp-lb",
        "cloudflare",
        "cloudflare-workers-edge",
        "heroku",
        "squid",
        "corporate-inspecting",
        "azure-app-gateway",
        "caddy",
        "azure-front-door",
    ] {
        assert!(names.contains(&wanted), "missing preset {wanted}");
    }
    assert!(get("no-such-proxy").is_none());
}

#[test]
fn unverified_facts_say_so() {
    for name in ["envoy", "azure-app-gateway"] {
        assert!(get(name).unwrap().source.contains("unverified"), "{name}");
    }
}

#[test]
fn nginx_idle_timeout_is_60s_upstream() {
    let nginx = get("nginx").unwrap();
    assert!(nginx
        .behaviors
        .contains(&BehaviorConfig::IdleTimeout(IdleTimeoutConfig {
            after: secs(60),
            watch: Watch::Upstream,
            action: CloseAction::Respond(504),
            after_headers: CloseAction::Fin,
        })));
    let summaries: Vec<String> = nginx
        .behaviors
        .iter()
        .map(|b| b.build(0).summary())
        .collect();
    assert_eq!(
        summaries,
        [
            "idle-timeout 60s (upstream) → http-504, after headers fin",
            "buffering threshold 4096 bytes (honours X-Accel-Buffering: no)",
        ]
    );
}

#[test]
fn timeouts_announce_their_limits() {
    let heroku: Vec<_> = get("heroku")
        .unwrap()
        .behaviors
        .iter()
        .filter_map(|b| b.build(0).limit())
        .map(|l| (l.behavior, l.after, l.watches))
        .collect();
    assert_eq!(
        heroku,
        [
            (
                "first-byte-timeout".to_string(),
                secs(30),
                "time to response headers".to_string()
            ),
            (
                "idle-timeout".to_string(),
                secs(55),
                "silence in both directions".to_string()
            ),
        ]
    );
}

/// What a relay would do with a behavior stack, minus the bytes: deliver each observation
/// at its time, and before it fire every deadline that falls due, earliest first. Stops at
/// the first `Close`. Returns every decision with its virtual time.
fn drive(
    stack: &mut [Box<dyn Behavior>],
    events: &[(Duration, Observation)],
    until: Duration,
) -> Vec<(Duration, Decision)> {
    let mut out = Vec::new();
    let mut events = events.iter().peekable();
    loop {
        let next_event = events.peek().map(|(t, _)| *t).filter(|t| *t <= until);
        let due = stack
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.deadline().map(|d| (d, i)))
            .filter(|(d, _)| *d <= next_event.unwrap_or(until))
            .min();
        let decisions: Vec<(Duration, Decision)> = if let Some((at, i)) = due {
            stack[i]
                .on_deadline(at)
                .map(|d| (at, d))
                .into_iter()
                .collect()
        } else if let Some(at) = next_event {
            let (_, obs) = events.next().unwrap();
            stack
                .iter_mut()
                .filter_map(|b| b.observe(at, obs))
                .map(|d| (at, d))
                .collect()
        } else {
            return out;
        };
        for (at, d) in decisions {
            let close = matches!(d, Decision::Close { .. });
            out.push((at, d));
            if close {
                return out;
            }
        }
    }
}

fn nginx_stack() -> Vec<Box<dyn Behavior>> {
    get("nginx")
        .unwrap()
        .behaviors
        .iter()
        .map(|b| b.build(1))
        .collect()
}

/// Opened at 0, a GET, response head at 1.003 s, then a 13-byte SSE comment every 15 s
/// until `last_keepalive`.
fn sse_stream(
    headers: Vec<(String, String)>,
    last_keepalive: Duration,
) -> Vec<(Duration, Observation)> {
    let head_at = Duration::from_millis(1003);
    let mut events = vec![
        (Duration::ZERO, Observation::Opened),
        (
            Duration::ZERO,
            Observation::Bytes {
                from: Side::Downstream,
                len: 40,
            },
        ),
        (
            Duration::ZERO,
            Observation::RequestHead {
                method: "GET".into(),
                path: "/mcp".into(),
            },
        ),
        (
            head_at,
            Observation::Bytes {
                from: Side::Upstream,
                len: 80,
            },
        ),
        (
            head_at,
            Observation::ResponseHead {
                status: 200,
                headers,
            },
        ),
    ];
    let mut t = head_at + secs(15);
    while t <= last_keepalive {
        events.push((
            t,
            Observation::Bytes {
                from: Side::Upstream,
                len: 13,
            },
        ));
        events.push((t, Observation::ResponseBody { len: 13 }));
        t += secs(15);
    }
    events
}

fn closes(decisions: &[(Duration, Decision)]) -> Vec<(Duration, CloseAction, String)> {
    decisions
        .iter()
        .filter_map(|(t, d)| match d {
            Decision::Close { action, reason } => Some((*t, *action, reason.clone())),
            Decision::Flush { .. } => None,
        })
        .collect()
}

fn event_stream(no_buffering: bool) -> Vec<(String, String)> {
    let mut h = vec![("content-type".to_string(), "text/event-stream".to_string())];
    if no_buffering {
        h.push(("x-accel-buffering".to_string(), "no".to_string()));
    }
    h
}

#[test]
fn nginx_keeps_a_stream_with_15s_keepalives_open_for_30_minutes() {
    for no_buffering in [false, true] {
        let half_hour = secs(30 * 60);
        let mut stack = nginx_stack();
        let d = drive(
            &mut stack,
            &sse_stream(event_stream(no_buffering), half_hour),
            half_hour,
        );
        assert_eq!(closes(&d), [], "x-accel-buffering: no = {no_buffering}");
        // 13-byte keepalives for 30 minutes stay below nginx's one-page buffer.
        assert!(d.is_empty(), "no flush either: {d:?}");
        assert_eq!(stack[1].holds_response(), !no_buffering);
    }
}

#[test]
fn nginx_closes_a_silent_stream_60s_after_the_last_upstream_byte() {
    for no_buffering in [false, true] {
        let last = Duration::from_millis(1003) + secs(15 * 4);
        let mut stack = nginx_stack();
        let d = drive(
            &mut stack,
            &sse_stream(event_stream(no_buffering), last),
            secs(30 * 60),
        );
        assert_eq!(
            closes(&d),
            [(
                last + secs(60),
                CloseAction::Fin,
                "idle-timeout 60s (upstream silent since 00:01:01.003)".to_string()
            )],
            "x-accel-buffering: no = {no_buffering}"
        );
    }
}

#[test]
fn nginx_answers_504_when_the_upstream_never_answers() {
    let mut stack = nginx_stack();
    let events = [(Duration::ZERO, Observation::Opened)];
    let d = drive(&mut stack, &events, secs(600));
    assert_eq!(
        closes(&d),
        [(
            secs(60),
            CloseAction::Respond(504),
            "idle-timeout 60s (upstream silent since 00:00:00.000)".to_string()
        )]
    );
}

#[test]
fn nginx_buffer_releases_a_page_at_a_time() {
    let mut stack = nginx_stack();
    let mut events = sse_stream(event_stream(false), Duration::ZERO);
    for i in 1..=5u64 {
        let at = secs(1) + Duration::from_millis(100 * i);
        events.push((
            at,
            Observation::Bytes {
                from: Side::Upstream,
                len: 1000,
            },
        ));
        events.push((at, Observation::ResponseBody { len: 1000 }));
    }
    let d = drive(&mut stack, &events, secs(3));
    assert_eq!(
        d,
        [(
            Duration::from_millis(1500),
            Decision::Flush {
                why: "threshold 4096 bytes reached (5000 held)".into()
            }
        )]
    );
}

#[test]
fn gcp_cuts_a_busy_stream_at_30s() {
    let mut stack: Vec<_> = get("gcp-lb")
        .unwrap()
        .behaviors
        .iter()
        .map(|b| b.build(0))
        .collect();
    let d = drive(
        &mut stack,
        &sse_stream(event_stream(false), secs(600)),
        secs(600),
    );
    assert_eq!(
        closes(&d),
        [(
            secs(30),
            CloseAction::Fin,
            "max-duration 30s (connection opened at 00:00:00.000)".to_string()
        )]
    );
}

#[test]
fn heroku_answers_503_without_a_first_byte() {
    let mut stack: Vec<_> = get("heroku")
        .unwrap()
        .behaviors
        .iter()
        .map(|b| b.build(0))
        .collect();
    let events = [
        (Duration::ZERO, Observation::Opened),
        (
            secs(1),
            Observation::RequestHead {
                method: "POST".into(),
                path: "/mcp".into(),
            },
        ),
    ];
    let d = drive(&mut stack, &events, secs(600));
    assert_eq!(
        closes(&d),
        [(
            secs(31),
            CloseAction::Respond(503),
            "first-byte-timeout 30s (no response headers since 00:00:01.000)".to_string()
        )]
    );
}
