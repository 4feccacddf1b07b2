use super::super::tests::{run, Story};
use super::axis::Axis;
use super::timeline::{rough, MARK_CAP};
use super::*;
use crate::sse::Frame;
use crate::trace::{Closer, ConnId, Direction, Event, EventKind, Limit, Trace};
use std::time::Duration;

fn event(ms: u64, host: &str, kind: EventKind) -> Event {
    Event {
        at: Duration::from_millis(ms),
        host: host.into(),
        conn: Some(ConnId(1)),
        kind,
    }
}

/// mem × reference pass, mem × bug/no-keepalive fail (expected: nginx cuts at 00:01:01.003).
fn report() -> Report {
    Report::new(
        Some(42),
        vec![
            run("reference", Story::Keepalives, None),
            run("bug/no-keepalive", Story::CutByNginx, None),
        ],
    )
}

fn page<'a>(files: &'a [HtmlFile], path: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| {
            panic!(
                "no {path} in {:?}",
                files.iter().map(|f| &f.path).collect::<Vec<_>>()
            )
        })
        .text
}

/// The number in attribute `attr` of the first element after `anchor` in `text`.
fn attr_after(text: &str, anchor: &str, attr: &str) -> f64 {
    let at = text.find(anchor).unwrap_or_else(|| panic!("no {anchor}"));
    let rest = &text[at..];
    let a = rest.find(&format!("{attr}=\"")).expect("attribute") + attr.len() + 2;
    rest[a..a + rest[a..].find('"').unwrap()]
        .parse()
        .expect("a number")
}

/// A run page's timeline (after the legend, which draws the same shapes).
fn timeline_of(page: &str) -> &str {
    &page[page.find("<svg class=\"timeline\"").expect("a timeline")..]
}

#[test]
fn index_links_every_run_and_each_run_page_has_one_timeline() {
    let files = render_html(&report());
    assert_eq!(files.len(), 3, "index + 2 run pages");
    let index = page(&files, "index.html");
    for f in &files[1..] {
        let href = format!("href=\"{}\"", f.path.replace('%', "%25"));
        assert!(index.contains(&href), "index lacks {href}");
        assert_eq!(
            f.text.matches("<svg class=\"timeline\"").count(),
            1,
            "{}",
            f.path
        );
        assert!(f.text.contains("</svg></div>"), "the timeline closes");
    }
    assert!(files[2].path == "runs/scenarios_mem.toml@bug_no-keepalive.html");
    assert!(
        index.contains("class=\"v-expected-fail\""),
        "the bug's cell is an expected fail"
    );
    assert!(index.contains("class=\"v-pass\""));
    assert!(
        index.contains("<option value=\"scenarios\">scenarios</option>"),
        "folder filter"
    );
    assert!(index.contains("setAttribute('data-ok', '1')"));
}

#[test]
fn the_cut_is_marked_at_its_time_with_the_failing_check() {
    let files = render_html(&report());
    let bug = page(&files, "runs/scenarios_mem.toml@bug_no-keepalive.html");
    assert!(
        bug.contains("<g class=\"mark k-cut\" data-at=\"00:01:01.003\""),
        "cut mark at 00:01:01.003:\n{bug}"
    );
    assert!(
        bug.contains(">cut (idle-timeout, fin) · 00:01:01.003</text>"),
        "cut label"
    );
    assert!(
        bug.contains("idle-timeout 60s (upstream silent since 00:00:01.003)"),
        "the tooltip says why"
    );
    // The failing check's marker stands where the cut is.
    let marker = "<g class=\"marker failed\" data-at=\"00:01:01.003\"";
    assert!(bug.contains(marker), "marker of stream.survives");
    assert!(bug.contains("✗ stream.survives 00:01:01.003"));
    let mx = attr_after(bug, marker, "x1");
    let cut_d = {
        let svg = timeline_of(bug);
        let at =
            svg.find("<path class=\"k-cut\" d=\"M").unwrap() + "<path class=\"k-cut\" d=\"M".len();
        let n: f64 = svg[at..].split(' ').next().unwrap().parse().unwrap();
        n + 7.0 // the cross is drawn from x - 7
    };
    assert!((mx - cut_d).abs() < 0.2, "marker x {mx} vs cut x {cut_d}");
    // The passing run has no marker and no cut.
    let reference = page(&files, "runs/scenarios_mem.toml@reference.html");
    assert!(!reference.contains("class=\"mark k-cut\""));
    assert!(!reference.contains("marker failed"));
}

#[test]
fn text_from_traces_and_names_is_escaped() {
    let mut r = run("reference", Story::Keepalives, None);
    r.target = "<b>t</b>".into();
    r.description = "a \"quoted\" <i>description</i>".into();
    r.trace.events.push(event(
        5_000,
        "client",
        EventKind::Received {
            bytes: 40,
            frames: vec![Frame::Event {
                name: None,
                id: None,
                data: "<script>alert(1)</script>".into(),
            }],
        },
    ));
    let files = render_html(&Report::new(None, vec![r]));
    for f in &files {
        assert!(!f.text.contains("<script>alert"), "{} leaks markup", f.path);
        assert!(!f.text.contains("<b>t</b>"), "{} leaks the target", f.path);
    }
    let run_page = &files[1].text;
    assert!(
        run_page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "shown as text"
    );
    assert!(run_page.contains("a &quot;quoted&quot; &lt;i&gt;description&lt;/i&gt;"));
    assert!(files[0].text.contains("&lt;b&gt;t&lt;/b&gt;"));
    // One script per page, ours.
    assert_eq!(run_page.matches("<script>").count(), 1);
}

#[test]
fn long_idle_stretches_are_compressed_with_their_length_written() {
    // Silent: head at 00:00:01.003, the client closes at 00:10:00.000.
    let silent = render_html(&Report::new(
        None,
        vec![run("reference", Story::Silent, None)],
    ));
    assert!(
        silent[1].text.contains(">⋯ 9 min 59 s ⋯</text>"),
        "{}",
        silent[1].text
    );
    // Keepalives every 15 s: no stretch to compress (the last one, 586 s → 600 s, is short).
    let busy = render_html(&Report::new(
        None,
        vec![run("reference", Story::Keepalives, None)],
    ));
    assert!(!busy[1].text.contains("class=\"break\""));
    assert_eq!(rough(Duration::from_millis(598_997)), "9 min 59 s");
    assert_eq!(rough(Duration::from_secs(58)), "58 s");
    assert_eq!(rough(Duration::from_secs(3 * 3600 + 120)), "3 h 2 min");
}

#[test]
fn the_axis_is_continuous_and_compresses_only_long_gaps() {
    let s = Duration::from_secs;
    let axis = Axis::new(&[s(1), s(61), s(600)], s(1800), 1000.0);
    let b: Vec<_> = axis.breaks().collect();
    assert_eq!(b.len(), 2, "61 → 600 and 600 → 1800");
    assert_eq!((b[0].from, b[0].to), (s(61), s(600)));
    assert_eq!(axis.x(s(0)), 0.0);
    assert!((axis.x(s(1800)) - 1000.0).abs() < 1e-6);
    // Linear up to 61 s: 1 s and 61 s are 60/61 of that stretch apart.
    let lin = axis.x(s(61));
    assert!((axis.x(s(31)) - lin * 31.0 / 61.0).abs() < 1e-6);
    let mut last = -1.0;
    for t in (0..1800).step_by(7) {
        let x = axis.x(s(t));
        assert!(x >= last, "monotonic at {t}");
        last = x;
    }
    assert!(axis.ticks().windows(2).all(|w| w[1].1 - w[0].1 >= 80.0));
}

#[test]
fn keepalives_and_events_are_distinct_marks_on_every_hop() {
    let ka = Frame::Comment {
        text: " keepalive".into(),
    };
    let ev = Frame::Event {
        name: None,
        id: Some("1".into()),
        data: "x".into(),
    };
    let mut events = vec![event(
        0,
        "client",
        EventKind::ConnOpened {
            stream: "main".into(),
            route: vec!["nginx".into(), "server".into()],
        },
    )];
    for (i, f) in [ka.clone(), ev.clone(), ka].into_iter().enumerate() {
        let t = 15_000 * (i as u64 + 1);
        events.push(event(
            t,
            "server",
            EventKind::FrameWritten {
                frame: f.clone(),
                timer: None,
            },
        ));
        events.push(event(
            t + 1,
            "nginx",
            EventKind::Forwarded {
                direction: Direction::Downstream,
                bytes: 13,
                note: None,
            },
        ));
        events.push(event(
            t + 2,
            "client",
            EventKind::Received {
                bytes: 13,
                frames: vec![f],
            },
        ));
    }
    let t = timeline::Timeline::new(&Trace { events }, Duration::from_secs(60), &[]);
    let (svg, _) = t.svg();
    for at in ["00:00:15.00", "00:00:45.00"] {
        for ms in 0..3 {
            let m = format!("<g class=\"mark k-keepalive\" data-at=\"{at}{ms}\"");
            assert!(svg.contains(&m), "{m}");
        }
    }
    for ms in 0..3 {
        let m = format!("<g class=\"mark k-event\" data-at=\"00:00:30.00{ms}\"");
        assert!(svg.contains(&m), "{m}");
    }
}

#[test]
fn a_limit_is_a_span_that_reaches_its_deadline_at_the_cut() {
    let mut r = run("bug/no-keepalive", Story::CutByNginx, None);
    r.trace.events.insert(
        0,
        Event {
            conn: None,
            ..event(
                0,
                "nginx",
                EventKind::IntermediaryStarted {
                    preset: Some("nginx".into()),
                    behaviors: vec![],
                    limits: vec![Limit {
                        behavior: "idle-timeout".into(),
                        after: Duration::from_secs(60),
                        watches: "upstream silence".into(),
                    }],
                },
            )
        },
    );
    r.trace.events.insert(
        3,
        event(
            1_003,
            "nginx",
            EventKind::Forwarded {
                direction: Direction::Downstream,
                bytes: 184,
                note: Some("response head, status 200".into()),
            },
        ),
    );
    let files = render_html(&Report::new(None, vec![r]));
    let p = &files[1].text;
    assert!(
        p.contains("<g class=\"span reached\"><title>nginx idle-timeout 60s (upstream silence) on conn#1: from 00:00:01.003"),
        "{p}"
    );
    // The span ends where the cut is.
    let span_x = attr_after(timeline_of(p), "<g class=\"span reached\">", "x");
    let span_w = attr_after(timeline_of(p), "<g class=\"span reached\">", "width");
    let cut_x = attr_after(
        p,
        "<g class=\"marker failed\" data-at=\"00:01:01.003\"",
        "x1",
    );
    assert!(
        (span_x + span_w - cut_x).abs() < 0.2,
        "{span_x} + {span_w} vs {cut_x}"
    );
    assert!(
        p.contains(">idle-timeout 60s</text>"),
        "the lane names its limit"
    );
}

#[test]
fn a_long_run_stays_bounded_and_says_what_it_merged() {
    // 24 hours of keepalives every second on three hops: 259,200 events.
    let mut events = Vec::new();
    for s in 0..86_400u64 {
        for (h, d) in [("server", 0), ("nginx", 1), ("client", 2)] {
            events.push(event(
                s * 1000 + d,
                h,
                EventKind::Received {
                    bytes: 13,
                    frames: vec![Frame::Comment {
                        text: String::new(),
                    }],
                },
            ));
        }
    }
    events.push(event(
        86_400_000,
        "client",
        EventKind::ConnClosed {
            by: Closer::Client,
            reason: "scenario ended".into(),
        },
    ));
    let t = timeline::Timeline::new(&Trace { events }, Duration::from_secs(86_400), &[]);
    let (svg, _) = t.svg();
    let marks = svg.matches("<g class=\"mark ").count();
    assert!(marks <= MARK_CAP, "{marks} marks");
    assert!(svg.len() < 2_000_000, "{} bytes", svg.len());
    assert!(
        t.notes
            .iter()
            .any(|n| n.starts_with("259201 events drawn as ")),
        "{:?}",
        t.notes
    );
    assert!(
        svg.contains(" marks (keepalive), "),
        "a merged mark counts its events"
    );
}

#[test]
fn the_same_report_renders_the_same_bytes() {
    assert_eq!(render_html(&report()), render_html(&report()));
}
