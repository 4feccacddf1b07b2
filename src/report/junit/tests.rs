use super::super::tests::{run, Story};
use super::*;

/// A small well-formedness check: tags nest and close, attribute values are quoted, and
/// `<` never appears and `&` only starts a known entity outside markup.
fn assert_well_formed(xml: &str) {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .expect("XML declaration first");
    let mut open: Vec<&str> = Vec::new();
    let mut rest = body;
    let entities = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"];
    let check_text = |t: &str| {
        for (i, _) in t.match_indices('&') {
            assert!(
                entities.iter().any(|e| t[i..].starts_with(e)),
                "bare & in {t:?}"
            );
        }
    };
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt]);
        let gt = rest[lt..].find('>').expect("tag closes") + lt;
        let tag = &rest[lt + 1..gt];
        assert!(!tag.contains('<'), "< inside a tag: {tag:?}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop(), Some(name), "closing tag matches");
        } else {
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name = tag.split_whitespace().next().expect("tag name");
            // Attributes: name="value" pairs, values free of quotes.
            let attrs = tag[name.len()..].trim();
            let mut a = attrs;
            while !a.is_empty() {
                let eq = a.find("=\"").expect("attribute with a quoted value");
                let close = a[eq + 2..].find('"').expect("value closes") + eq + 2;
                check_text(&a[eq + 2..close]);
                a = a[close + 1..].trim_start();
            }
            if !self_closing {
                open.push(name);
            }
        }
        rest = &rest[gt + 1..];
    }
    check_text(rest);
    assert!(open.is_empty(), "unclosed tags {open:?}");
}

fn report() -> Report {
    let mut odd = run("reference", Story::CutByNginx, None);
    odd.scenario = "a<b>&c\"d'e.toml".into();
    odd.error = Some("bell \u{7} rang".into());
    Report::new(
        Some(42),
        vec![
            run("reference", Story::Keepalives, None),
            run("bug/no-keepalive", Story::CutByNginx, None),
            odd,
        ],
    )
}

#[test]
fn one_testcase_per_result_and_a_failure_only_for_unexpected() {
    let xml = render_junit(&report());
    assert_well_formed(&xml);
    assert_eq!(xml.matches("<testcase ").count(), 3);
    // The odd run has a simulation error: it could not complete, an <error>.
    assert_eq!(xml.matches("<failure ").count(), 0);
    assert_eq!(xml.matches("<error ").count(), 1);
    assert!(xml.contains("<testsuites name=\"middlebox\" tests=\"3\" failures=\"0\" errors=\"1\">"));
    assert!(xml.contains("<testsuite name=\"middlebox\" tests=\"3\" failures=\"0\" errors=\"1\">"));
    assert!(
        xml.contains("<testcase classname=\"scenarios/mem\" name=\"reference\"/>"),
        "{xml}"
    );
    assert!(
        xml.contains("<testcase classname=\"scenarios/mem\" name=\"bug/no-keepalive\"/>"),
        "expected failure is not a JUnit failure: {xml}"
    );
}

#[test]
fn special_characters_are_escaped_and_control_characters_dropped() {
    let xml = render_junit(&report());
    assert_well_formed(&xml);
    assert!(
        xml.contains("classname=\"a&lt;b&gt;&amp;c&quot;d&apos;e\""),
        "{xml}"
    );
    assert!(!xml.contains("a<b>"), "{xml}");
    assert!(!xml.contains('\u{7}'), "{xml}");
    assert!(xml.contains("simulation error: bell  rang"), "{xml}");
    assert!(
        xml.contains(
            // The path is shell-quoted in the reproduce line (it holds < > & " '), then
            // escaped for XML.
            "reproduce: middlebox run &apos;a&lt;b&gt;&amp;c&quot;d&apos;\\&apos;&apos;e.toml&apos; --target reference --seed 42\n"
        ),
        "{xml}"
    );
}

#[test]
fn a_failure_message_is_the_failing_checks_and_their_messages() {
    let cut = run("reference", Story::CutByNginx, None);
    let stale = run("bug/no-keepalive", Story::Keepalives, None);
    let xml = render_junit(&Report::new(Some(42), vec![cut, stale]));
    assert_well_formed(&xml);
    assert!(xml.contains("failures=\"2\" errors=\"0\">"), "{xml}");
    let messages: Vec<&str> = xml
        .match_indices("<failure message=\"")
        .map(|(i, m)| {
            let rest = &xml[i + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(messages.len(), 2, "{xml}");
    assert!(
        messages[0].starts_with("stream.survives: conn#1 (stream main) closed at 00:01:01.003"),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].starts_with(
            "stream.survives: expected to fail, but its verdict is pass (a stale expectation)"
        ),
        "{}",
        messages[1]
    );
    // The element's text still starts with how to reproduce it.
    assert!(
        xml.contains("\">FAIL scenarios/mem.toml × reference  (seed 42)\n  reproduce: "),
        "{xml}"
    );
}

#[test]
fn the_checker_rejects_broken_xml() {
    let broken = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a name=\"x<y\"></a>\n";
    assert!(std::panic::catch_unwind(|| assert_well_formed(broken)).is_err());
    let bare = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a>x & y</a>\n";
    assert!(std::panic::catch_unwind(|| assert_well_formed(bare)).is_err());
    let unclosed = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a><b></a>\n";
    assert!(std::panic::catch_unwind(|| assert_well_formed(unclosed)).is_err());
}
