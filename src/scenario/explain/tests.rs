use super::*;
use crate::scenario::raw::{RawExpect, RawServerEvent, RawStep};

/// Every scenario of the suite, loaded.
fn suite() -> Vec<Scenario> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    crate::scenario::discover(&[root])
        .unwrap()
        .iter()
        .map(|f| crate::scenario::load(f).unwrap())
        .collect()
}

/// The `key = value` pairs after `prefix` on each line that starts with it, as a TOML table.
fn tables<'a>(text: &'a str, prefix: &'a str) -> impl Iterator<Item = String> + 'a {
    text.lines()
        .filter_map(move |l| l.trim_start().strip_prefix(prefix))
        .map(|pairs| format!("x = {{ {pairs} }}"))
}

/// A table holding one `x`: what a line is deserialized into.
#[derive(serde::Deserialize)]
struct One<T> {
    #[allow(dead_code)] // deserializing is the test
    x: T,
}

#[test]
fn steps_events_and_expects_are_printed_in_the_files_own_keys() {
    let (mut steps, mut expects, mut events) = (0, 0, 0);
    for s in suite() {
        let text = explain(&s);
        // No Rust Debug text, no JSON.
        for bad in ["Some(", "None", "{ text:", "\"gap_max\"", "_max ="] {
            assert!(!text.contains(bad), "{}: {bad} in\n{text}", s.path);
        }
        // Each line deserializes into the file format's raw type, which refuses unknown keys.
        for t in tables(&text, "[[client.step]] ") {
            toml::from_str::<One<RawStep>>(&t).unwrap_or_else(|e| panic!("{}: {t}: {e}", s.path));
            steps += 1;
        }
        for t in tables(&text, "[[expect]] ") {
            toml::from_str::<One<RawExpect>>(&t).unwrap_or_else(|e| panic!("{}: {t}: {e}", s.path));
            expects += 1;
        }
        for t in tables(&text, "[[server.event]] ") {
            toml::from_str::<One<RawServerEvent>>(&t)
                .unwrap_or_else(|e| panic!("{}: {t}: {e}", s.path));
            events += 1;
        }
        assert_eq!(
            text.matches("[[client.step]] ").count(),
            s.client.steps.len(),
            "{}",
            s.path
        );
    }
    // The suite has every kind of line, many times.
    assert!(
        steps > 100 && expects > 100 && events >= 5,
        "{steps} {expects} {events}"
    );
}

#[test]
fn a_keepalive_frame_is_printed_as_the_keys_that_set_it() {
    let s = crate::scenario::parse(
        "t.toml",
        "description = \"d\"\nduration = \"1m\"\n[server]\nkeepalive-frame = \"named-event\"\nkeepalive-event = \"hb\"\n[[client.step]]\nat = \"1s\"\ndo = \"open-stream\"\n",
    )
    .unwrap();
    let text = explain(&s);
    assert!(
        text.contains(
            "keepalive = \"15s\", keepalive-frame = \"named-event\", keepalive-event = \"hb\""
        ),
        "{text}"
    );
    assert!(explain_json(&s).contains("\"named-event\""));
}
