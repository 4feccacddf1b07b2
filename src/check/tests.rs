use super::*;

fn pass(id: &str) -> CheckOutcome {
    CheckOutcome {
        id: id.into(),
        verdict: Verdict::Pass,
        at: Some(Duration::from_secs(60)),
        message: "held".into(),
    }
}

#[test]
fn a_stopped_run_keeps_failures_and_passes_within_the_horizon_only() {
    let stop = Duration::from_secs(75);
    let end = Duration::from_secs(600);
    let survives = |until: Option<u64>| CheckSpec::StreamSurvives {
        stream: None,
        until: until.map(Duration::from_secs),
    };
    // The span judged ends before the stop: the pass stands.
    let o = judge_stopped(&survives(Some(60)), pass("stream.survives"), stop, end);
    assert_eq!(o.verdict, Verdict::Pass);
    assert_eq!(o.message, "held");
    // It ends after the stop: unobservable, at the stop.
    let o = judge_stopped(&survives(None), pass("stream.survives"), stop, end);
    assert_eq!(o.verdict, Verdict::Unobservable);
    assert_eq!(o.at, Some(stop));
    assert!(o.message.ends_with("until the stop: held"), "{}", o.message);
    // A failure seen before the stop stays a failure.
    let failed = CheckOutcome {
        verdict: Verdict::Fail,
        ..pass("keepalive.cadence")
    };
    let cadence = CheckSpec::KeepaliveCadence {
        stream: None,
        gap_max: Duration::from_secs(20),
    };
    assert_eq!(judge_stopped(&cadence, failed.clone(), stop, end), failed);
    // Liveness over the whole run: a pass before the stop says nothing of the rest.
    for spec in [
        cadence,
        CheckSpec::StreamRecovers {
            stream: None,
            within: Duration::from_secs(60),
            across_sessions: false,
        },
    ] {
        let o = judge_stopped(&spec, pass(spec.id()), stop, end);
        assert_eq!(o.verdict, Verdict::Unobservable, "{}", spec.id());
    }
    // stream.closed judges a window: passed within it before the stop, it stands.
    let closed = CheckSpec::StreamClosed {
        stream: None,
        by: "nginx".into(),
        at: Duration::from_secs(61),
        tolerance: Duration::from_secs(1),
    };
    assert_eq!(
        judge_stopped(&closed, pass("stream.closed"), stop, end).verdict,
        Verdict::Pass
    );
}

#[test]
fn a_stream_closed_window_ends_at_at_plus_tolerance() {
    let end = Duration::from_secs(600);
    let closed = CheckSpec::StreamClosed {
        stream: None,
        by: "nginx".into(),
        at: Duration::from_secs(61),
        tolerance: Duration::from_secs(1),
    };
    assert_eq!(closed.horizon(end), Duration::from_secs(62));
    // Stopped inside the window: a close could still have come later in it.
    let o = judge_stopped(&closed, pass("stream.closed"), Duration::from_secs(61), end);
    assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    // Stopped exactly at its end: the whole window was seen.
    let o = judge_stopped(&closed, pass("stream.closed"), Duration::from_secs(62), end);
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
}

#[test]
fn verdicts_print_as_their_report_names() {
    for (v, name) in [
        (Verdict::Pass, "pass"),
        (Verdict::Fail, "fail"),
        (Verdict::Unobservable, "unobservable"),
    ] {
        assert_eq!(v.to_string(), name);
        // The same word the JSON report uses.
        assert_eq!(serde_json::to_value(v).unwrap(), name);
    }
}

#[test]
fn every_run_is_judged_by_the_implicit_checks() {
    let calls = vec![(Duration::from_secs(5), Duration::from_secs(2))];
    let specs = implicit(calls.clone());
    let ids: Vec<&str> = specs.iter().map(CheckSpec::id).collect();
    assert_eq!(
        ids,
        [
            "determinism.wall-clock",
            "rpc.answered",
            "client.reconnect-rate"
        ]
    );
    assert_eq!(specs[1], CheckSpec::RpcAnswered { calls });
    assert_eq!(
        specs[2],
        CheckSpec::ClientReconnectRate {
            reconnects_max: 6,
            window: Duration::from_secs(60),
        }
    );
}
