//! `runs/NAME.html`: one run's page: what the scenario says must hold (description, cites),
//! how to reproduce it, the simulation's error if any, every check with its verdict and
//! message, and the timeline (see `timeline.rs`) with its legend and notes.

use super::timeline::Timeline;
use super::{esc, head, href, page_name, verdict_key, verdict_words};
use crate::check::Verdict;
use crate::report::RunResult;
use std::fmt::Write;

/// The end of a run's timeline: where the harness stopped it, else the scenario's end.
fn end(r: &RunResult) -> std::time::Duration {
    r.trace.stopped_at().unwrap_or(r.duration)
}

/// A run's page.
pub fn render(r: &RunResult) -> String {
    let name = page_name(r);
    let mut o = head(&format!("{} × {}", r.scenario, r.target));
    o.push_str("<body data-ok=\"0\">\n");
    let _ = writeln!(
        o,
        "<p class=\"nav\"><a href=\"../index.html\">← all runs</a> · trace: <a href=\"../traces/{n}.txt\">text</a>, <a href=\"../traces/{n}.json\">JSON</a></p>",
        n = href(&name)
    );
    let k = verdict_key(r);
    let _ = writeln!(
        o,
        "<h1>{} × {} <span class=\"badge v-{k}\">{}</span></h1>",
        esc(&r.scenario),
        esc(&r.target),
        esc(&verdict_words(r))
    );
    if !r.description.is_empty() {
        let _ = writeln!(o, "<p class=\"desc\">{}</p>", esc(&r.description));
    }
    if let Some(c) = &r.cites {
        let _ = writeln!(o, "<p class=\"cites\">Cites: {}</p>", esc(c));
    }
    let _ = writeln!(
        o,
        "<p>seed {} · reproduce: <code>{}</code></p>",
        r.seed,
        esc(&r.reproduce())
    );
    if let Some(e) = &r.error {
        let _ = writeln!(o, "<div class=\"error\">simulation error: {}</div>", esc(e));
    }
    o.push_str("<h2>Checks</h2>\n<table class=\"checks\">\n<thead><tr><th>check</th><th>verdict</th><th>at</th><th>message</th></tr></thead>\n<tbody>\n");
    for c in &r.checks {
        let v = c.verdict.to_string();
        let mut words = v.clone();
        if c.expected_fail {
            words.push_str(" (expected to fail)");
        }
        if !c.as_expected() {
            words.push_str(" UNEXPECTED");
        }
        let _ = writeln!(
            o,
            "<tr class=\"c-{v}\" data-check=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"msg\">{}</td></tr>",
            esc(&c.id),
            esc(&c.id),
            esc(&words),
            esc(c.at.as_deref().unwrap_or("")),
            esc(&c.message)
        );
    }
    if r.checks.is_empty() {
        o.push_str("<tr><td colspan=\"4\" class=\"muted\">no check judged</td></tr>\n");
    }
    o.push_str("</tbody>\n</table>\n");
    let failed = r
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .count();
    let _ = writeln!(
        o,
        "<h2>Timeline</h2>\n<p class=\"muted\">{} events on virtual time; hover a mark for the event{}.</p>",
        r.trace.events.len(),
        if failed > 0 {
            "; dashed red lines: the failing checks' instants"
        } else {
            ""
        }
    );
    let t = Timeline::new(&r.trace, end(r), &r.checks);
    let (svg, dropped) = t.svg();
    o.push_str("<div class=\"legend\">");
    for kind in t.kinds() {
        let _ = write!(
            o,
            "<span><svg width=\"16\" height=\"16\" viewBox=\"0 0 16 16\">{}</svg> {}</span>",
            kind.shape(8.0, 8.0),
            kind.names().1
        );
    }
    o.push_str(
        "<span><svg width=\"28\" height=\"12\" viewBox=\"0 0 28 12\"><g class=\"span\"><rect x=\"0\" y=\"1\" width=\"13\" height=\"10\"/></g><g class=\"span reached\"><rect x=\"15\" y=\"1\" width=\"13\" height=\"10\"/></g></svg> intermediary limit (dark: deadline reached)</span>",
    );
    o.push_str(
        "<span><svg width=\"20\" height=\"14\" viewBox=\"0 0 20 14\"><rect class=\"brk\" x=\"0\" y=\"0\" width=\"20\" height=\"14\"/></svg> idle stretch drawn compressed (its length written)</span>",
    );
    o.push_str("</div>\n<div class=\"tl-wrap\">");
    o.push_str(&svg);
    o.push_str("</div>\n");
    let mut notes = t.notes.clone();
    if dropped > 0 {
        notes.push(format!(
            "{dropped} close and cut labels left out where they would overlap; their marks' tooltips say who closed and why."
        ));
    }
    if !notes.is_empty() {
        o.push_str("<ul class=\"notes\">");
        for n in &notes {
            let _ = write!(o, "<li>{}</li>", esc(n));
        }
        o.push_str("</ul>\n");
    }
    o.push_str("<script>document.body.setAttribute('data-ok', '1');</script>\n</body>\n</html>\n");
    o
}
