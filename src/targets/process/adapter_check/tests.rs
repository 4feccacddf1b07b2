use super::session::Reply;
use super::state::{self, Seen, Timer};
use super::*;
use serde_json::json;

fn reply(v: serde_json::Value) -> Reply {
    match v {
        serde_json::Value::Object(m) => m,
        _ => panic!("an object"),
    }
}

fn good() -> serde_json::Value {
    json!({"ok":true,"now_ms":1002,"next_ms":16002,
        "conns":[{"conn":52744,"read":62,"written":223,"ended":false,"closed":false}],
        "timers":[{"id":1,"conn":52744,"delay_ms":15000,"repeat":true}],
        "fired":[],"refused":[]})
}

#[test]
fn a_state_reply_of_the_documented_exchange_parses() {
    let s = state::parse(&reply(good())).unwrap();
    assert_eq!(s.now_ms, 1002);
    assert_eq!(s.next_ms, Some(16002));
    assert_eq!(s.conns[0].written, 223);
    assert_eq!(
        s.timers,
        vec![Timer {
            id: 1,
            conn: Some(52744),
            delay_ms: 15000,
            repeat: true
        }]
    );
    let mut null_next = good();
    null_next["next_ms"] = json!(null);
    assert_eq!(state::parse(&reply(null_next)).unwrap().next_ms, None);
}

#[test]
fn a_missing_or_mistyped_field_is_named_by_its_path() {
    let cases = [
        ("/next_ms", None, "`next_ms` is missing"),
        ("/fired", None, "`fired` is missing"),
        ("/conns/0/written", None, "`conns[0].written` is missing"),
        ("/timers/0/conn", None, "`timers[0].conn` is missing"),
        (
            "/timers/0/delay_ms",
            Some(json!("15s")),
            "`timers[0].delay_ms` is \"15s\"",
        ),
        (
            "/conns/0/ended",
            Some(json!(0)),
            "`conns[0].ended` is 0: expected true or false",
        ),
        ("/now_ms", Some(json!(-1)), "`now_ms` is -1"),
        (
            "/conns/0/conn",
            Some(json!(70000)),
            "`conns[0].conn` is 70000: expected a TCP port",
        ),
    ];
    for (path, value, want) in cases {
        let mut v = good();
        let (parent, key) = path.rsplit_once('/').unwrap();
        let obj = v.pointer_mut(parent).unwrap();
        let obj = match obj {
            serde_json::Value::Object(m) => m,
            serde_json::Value::Array(a) => match &mut a[key.parse::<usize>().unwrap()] {
                serde_json::Value::Object(m) => m,
                _ => unreachable!(),
            },
            _ => unreachable!(),
        };
        match value {
            Some(x) => {
                obj.insert(key.to_string(), x);
            }
            None => {
                obj.remove(key);
            }
        }
        let e = state::parse(&reply(v)).unwrap_err();
        assert!(e.contains(want), "{path}: {e}");
    }
}

#[test]
fn fired_timers_must_be_in_order_inside_the_synced_span() {
    let s = |fired: Vec<(u64, u64)>| Seen {
        fired,
        ..Seen::default()
    };
    assert!(state::deadlines(&s(vec![(1, 5000), (2, 9000), (3, 9000)]), 0, 20_000).is_ok());
    assert!(state::deadlines(&s(vec![]), 0, 0).is_ok());
    let e = state::deadlines(&s(vec![(2, 9000), (1, 5000)]), 0, 20_000).unwrap_err();
    assert!(e.contains("not in firing order"), "{e}");
    let e = state::deadlines(&s(vec![(1, 25_000)]), 0, 20_000).unwrap_err();
    assert!(e.contains("after `to_ms` 20000"), "{e}");
    let e = state::deadlines(&s(vec![(1, 1000)]), 1000, 1000).unwrap_err();
    assert!(e.contains("not after the clock's previous time"), "{e}");
}

fn timer(id: u64) -> Timer {
    Timer {
        id,
        ..Timer::default()
    }
}

#[test]
fn next_ms_and_timer_ids_are_judged_on_one_reply() {
    let s = Seen {
        now_ms: 20_000,
        next_ms: Some(5000),
        timers: vec![timer(1), timer(1)],
        ..Seen::default()
    };
    assert!(state::next_ms(&s)
        .unwrap_err()
        .contains("before `now_ms` 20000"));
    assert!(state::timer_ids(&s)
        .unwrap_err()
        .contains("timer id 1 twice"));
    let ok = Seen {
        now_ms: 20_000,
        next_ms: None,
        timers: vec![timer(1), timer(3)],
        ..Seen::default()
    };
    assert!(state::next_ms(&ok).is_ok() && state::timer_ids(&ok).is_ok());
    let zero = Seen {
        timers: vec![timer(0)],
        ..Seen::default()
    };
    assert!(state::timer_ids(&zero).is_err());
}

#[test]
fn a_rule_is_held_only_when_judged_and_never_broken_and_the_first_failure_is_kept() {
    let mut l = Ledger::default();
    l.held("lines.json");
    l.broke("sync.clock", "now_ms 3");
    l.held("sync.clock");
    l.broke("sync.clock", "now_ms 4");
    l.stop("the sequence stopped at `start`");
    let r = l.into_report(vec!["boom".into()]);
    assert_eq!(r.outcome("lines.json"), Some(&Outcome::Held));
    assert_eq!(
        r.outcome("sync.clock"),
        Some(&Outcome::Broken("now_ms 3".into()))
    );
    assert_eq!(
        r.outcome("exit.stdin-closed"),
        Some(&Outcome::NotReached(
            "the sequence stopped at `start`".into()
        ))
    );
    assert!(!r.passed());
    let text = r.render("middlebox adapter-check --impl x@1 -- ./x");
    assert!(
        text.starts_with(
            "adapter-check FAILED; reproduce with: middlebox adapter-check --impl x@1 -- ./x\n"
        ),
        "{text}"
    );
    assert!(text.contains("FAIL sync.clock"), "{text}");
    assert!(text.contains("seen: now_ms 3"), "{text}");
    assert!(text.contains("--   exit.stdin-closed"), "{text}");
    assert_eq!(
        text.matches("not reached: the sequence stopped at `start`")
            .count(),
        1,
        "the reason once, under the first rule not reached: {text}"
    );
    assert!(text.contains("    boom"), "the stderr tail: {text}");
}

#[test]
fn a_report_where_every_rule_held_says_so_without_a_reproduction() {
    let mut l = Ledger::default();
    for r in RULES {
        l.held(r.id);
    }
    let r = l.into_report(vec!["noise".into()]);
    assert!(r.passed());
    let text = r.render("unused");
    assert!(
        !text.contains("FAILED") && !text.contains("noise"),
        "{text}"
    );
    assert!(
        text.ends_with(&format!(
            "{} rules: {} held, 0 broken, 0 not reached\n",
            RULES.len(),
            RULES.len()
        )),
        "{text}"
    );
}

#[test]
fn every_rule_is_stated_in_the_protocol_document_with_its_id() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/harness/CLOCK-PROTOCOL.md"
    ))
    .unwrap();
    for r in RULES {
        let line = format!("| `{}` | {} |", r.id, r.statement.replace('|', "\\|"));
        assert!(
            doc.contains(&line),
            "CLOCK-PROTOCOL.md lacks the row {line}"
        );
        assert!(
            doc.matches(&format!("[{}]", r.id)).count() >= 1,
            "CLOCK-PROTOCOL.md's text does not tag where {} is described ([{}])",
            r.id,
            r.id
        );
    }
}

/// An adapter that is a shell one-liner: what the check makes of silence and of garbage.
fn setup(script: &str) -> Setup {
    Setup {
        program: "sh".into(),
        args: vec!["-c".into(), script.into()],
        implementation: "x".into(),
        version: "1".into(),
        options: json!({}),
        limits: Limits {
            start: Duration::from_millis(500),
            reply: Duration::from_millis(500),
            exit: Duration::from_millis(500),
            read: Duration::from_millis(500),
        },
    }
}

#[test]
fn a_silent_adapter_breaks_the_rule_of_the_reply_it_did_not_give_within_the_limit() {
    let r = check(&setup("exec sleep 30"));
    assert!(!r.passed());
    match r.outcome("refuse.unparseable") {
        Some(Outcome::Broken(seen)) => assert!(
            seen.contains("no reply to `an unparseable line` within 0.5 s"),
            "{seen}"
        ),
        o => panic!("{o:?}"),
    }
    match r.outcome("start.state") {
        Some(Outcome::Broken(seen)) => assert!(seen.contains("no reply to `start`"), "{seen}"),
        o => panic!("{o:?}"),
    }
    assert!(matches!(
        r.outcome("sync.clock"),
        Some(Outcome::NotReached(_))
    ));
}

#[test]
fn garbage_on_stdout_breaks_lines_json_without_a_panic() {
    let r = check(&setup(
        "printf 'hello\\n\\377\\376\\n{\"ok\":\\n[1,2]\\n'; read x; exit 3",
    ));
    match r.outcome("lines.json") {
        Some(Outcome::Broken(seen)) => assert!(
            seen.contains("not a JSON object") && seen.contains("hello"),
            "{seen}"
        ),
        o => panic!("{o:?}"),
    }
    match r.outcome("refuse.unparseable") {
        Some(Outcome::Broken(seen)) => assert!(seen.contains("exited (exit status: 3)"), "{seen}"),
        o => panic!("{o:?}"),
    }
}

#[test]
fn a_program_that_does_not_exist_reaches_no_rule() {
    let mut s = setup("");
    s.program = "/nonexistent/adapter".into();
    s.args.clear();
    let r = check(&s);
    assert!(!r.passed());
    match r.outcome("lines.json") {
        Some(Outcome::NotReached(why)) => assert!(
            why.contains("could not start `/nonexistent/adapter`"),
            "{why}"
        ),
        o => panic!("{o:?}"),
    }
}

#[test]
fn two_replies_to_one_command_break_lines_one_reply() {
    let r = check(&setup(
        r#"while read l; do echo '{"ok":false,"error":"no"}'; echo '{"ok":false,"error":"no"}'; done"#,
    ));
    match r.outcome("lines.one-reply") {
        Some(Outcome::Broken(seen)) => {
            assert!(seen.contains("a line no command asked for"), "{seen}")
        }
        o => panic!("{o:?}"),
    }
}
