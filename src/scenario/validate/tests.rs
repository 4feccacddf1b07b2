use super::*;

/// A scenario naming `id` with its required parameters given.
fn with_check(id: &str, params: &[crate::check::Param]) -> String {
    let mut text = format!(
            "description = \"d\"\nduration = \"1m\"\n[[intermediary]]\nname = \"edge\"\n[[expect]]\ncheck = \"{id}\"\n"
        );
    for crate::check::Param { name, required } in params {
        let value = match *name {
            "by" => "\"edge\"",
            _ => "\"5s\"",
        };
        if *required {
            text.push_str(&format!("{name} = {value}\n"));
        }
    }
    text
}

#[test]
fn rpc_answered_knows_the_timelines_calls_and_may_be_expected_to_fail_unlisted() {
    let text = "description = \"d\"\nduration = \"8m\"\n\
            [[client.step]]\nat = \"0s\"\ndo = \"initialize\"\n\
            [[client.step]]\nat = \"1s\"\ndo = \"call-tool\"\ntool-duration = \"6m\"\n";
    let listed = format!("{text}[[expect]]\ncheck = \"rpc.answered\"\n");
    let s = crate::scenario::parse_with_presets("t.toml", &listed, &[]).unwrap();
    assert_eq!(
        s.expects,
        vec![CheckSpec::RpcAnswered {
            calls: vec![(Duration::from_secs(1), Duration::from_secs(360))]
        }]
    );
    // Like determinism.wall-clock, it runs on every scenario: an [expect-fail] may name
    // it without an [[expect]] table.
    let unlisted = format!(
        "{text}[[expect]]\ncheck = \"client.polling-fallback\"\n\
             [expect-fail.\"x\"]\nchecks = [\"rpc.answered\"]\n"
    );
    let s = crate::scenario::parse_with_presets("t.toml", &unlisted, &[]).unwrap();
    assert_eq!(s.expect_fail["x"], vec!["rpc.answered".to_string()]);
}

#[test]
fn check_params_cover_every_check_and_build_the_named_spec() {
    let mut ids = BTreeSet::new();
    for kind in CheckKind::ALL {
        let crate::check::CheckInfo { id, params, .. } = kind.info();
        assert!(ids.insert(id), "{id} listed twice");
        assert_eq!(CheckKind::from_id(id), Some(*kind));
        let mut text = with_check(id, params);
        if id == "first-event.delay" {
            text.push_str("max = \"5s\"\n"); // one of max/min is required
        }
        // What every check needs to have something to judge: a GET stream, a tool call.
        text.push_str("[[client.step]]\nat = \"0s\"\ndo = \"initialize\"\n[[client.step]]\nat = \"1s\"\ndo = \"open-get-stream\"\n[[client.step]]\nat = \"1s\"\ndo = \"call-tool\"\ntool-duration = \"5s\"\n");
        let s = crate::scenario::parse_with_presets("t.toml", &text, &[])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.expects[0].kind(), *kind);
        // The serialized spec (report.json) names it by the same id.
        let json = serde_json::to_value(&s.expects[0]).expect("serializable");
        assert_eq!(json["check"], id, "{json}");
    }
    // Every CheckSpec variant is reachable: 24 ids, 24 variants.
    assert_eq!(ids.len(), 24);
}
