//! `index.html`: the scenario × target matrix, each cell linking to its run's page, with
//! filters by target, scenario folder and verdict (a small inline script; without it every
//! run shows; the URL's fragment presets them: `#verdict=unexpected`).

use super::{esc, head, href, page_name, verdict_key, verdict_words, RUNS_DIR};
use crate::report::Report;
use std::fmt::Write;

/// The filters: hide the other targets' columns, the other folders' rows, and dim cells of
/// another verdict (a row with no cell left is hidden). The URL's fragment holds them
/// (`index.html#target=reference&verdict=unexpected`), so a filtered view can be linked.
/// Marks `<body data-ok="1">` at the end.
const SCRIPT: &str = r#"
(function () {
  var ft = document.getElementById('f-target');
  var fd = document.getElementById('f-folder');
  var fv = document.getElementById('f-verdict');
  function apply() {
    var t = ft.value, d = fd.value, v = fv.value, shown = 0;
    var cols = document.querySelectorAll('#matrix [data-target]');
    for (var i = 0; i < cols.length; i++) {
      cols[i].hidden = t !== '' && cols[i].getAttribute('data-target') !== t;
    }
    var rows = document.querySelectorAll('#matrix tbody tr');
    for (var j = 0; j < rows.length; j++) {
      var row = rows[j], n = 0, tds = row.querySelectorAll('td');
      for (var k = 0; k < tds.length; k++) {
        var c = tds[k], cv = c.getAttribute('data-verdict');
        var match = !c.hidden && cv !== '' && (v === '' || cv === v);
        c.classList.toggle('dim', !match);
        if (match) { n++; }
      }
      row.hidden = n === 0 || (d !== '' && row.getAttribute('data-folder') !== d);
      if (!row.hidden) { shown += n; }
    }
    document.getElementById('shown').textContent = shown + ' runs shown';
  }
  var by = { target: ft, folder: fd, verdict: fv };
  var said = location.hash.replace(/^#/, '').split('&');
  for (var i = 0; i < said.length; i++) {
    var kv = said[i].split('=');
    if (kv.length === 2 && by.hasOwnProperty(kv[0])) { by[kv[0]].value = decodeURIComponent(kv[1]); }
  }
  function changed() {
    apply();
    var q = [];
    for (var key in by) {
      if (by[key].value !== '') { q.push(key + '=' + encodeURIComponent(by[key].value)); }
    }
    try { history.replaceState(null, '', '#' + q.join('&')); } catch (e) { /* some file: URLs */ }
  }
  ft.addEventListener('change', changed);
  fd.addEventListener('change', changed);
  fv.addEventListener('change', changed);
  apply();
  document.body.setAttribute('data-ok', '1');
})();
"#;

/// A scenario's folder: its path up to the last `/` (empty for a file in the working
/// directory).
fn folder(scenario: &str) -> &str {
    scenario.rsplit_once('/').map_or("", |(d, _)| d)
}

/// The index page.
pub fn render(report: &Report) -> String {
    let (targets, scenarios) = report.axes();
    let mut folders: Vec<&str> = Vec::new();
    for s in &scenarios {
        if !folders.contains(&folder(s)) {
            folders.push(folder(s));
        }
    }
    let mut o = head("middlebox report");
    o.push_str("<body data-ok=\"0\">\n<h1>middlebox report</h1>\n");
    let s = &report.summary;
    let expected_fail = report.expected_failures();
    let _ = writeln!(
        o,
        "<p class=\"summary\">{} runs: {} pass, {} fail ({} as expected), <b>{} unexpected</b>{}</p>",
        report.results.len(),
        s.pass,
        s.fail,
        expected_fail,
        s.unexpected,
        report
            .seed
            .map(|s| format!(" · --seed {s}"))
            .unwrap_or_default()
    );
    let option =
        |v: &str, words: &str| format!("<option value=\"{}\">{}</option>", esc(v), esc(words));
    o.push_str(
        "<form id=\"filters\" onsubmit=\"return false\">\n<label>target <select id=\"f-target\">",
    );
    o.push_str(&option("", "all"));
    for t in &targets {
        o.push_str(&option(t, t));
    }
    o.push_str("</select></label>\n<label>scenario folder <select id=\"f-folder\">");
    o.push_str(&option("", "all"));
    for f in &folders {
        o.push_str(&option(f, if f.is_empty() { "." } else { f }));
    }
    o.push_str("</select></label>\n<label>verdict <select id=\"f-verdict\">");
    for (v, w) in [
        ("", "all"),
        ("pass", "pass"),
        ("expected-fail", "fail (expected)"),
        ("unexpected", "unexpected"),
    ] {
        o.push_str(&option(v, w));
    }
    let _ = writeln!(
        o,
        "</select></label>\n<span id=\"shown\" class=\"muted\">{} runs</span>\n</form>",
        report.results.len()
    );
    o.push_str("<table id=\"matrix\">\n<thead><tr><th>scenario</th>");
    for t in &targets {
        let _ = write!(o, "<th data-target=\"{}\">{}</th>", esc(t), esc(t));
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    for sc in &scenarios {
        let f = folder(sc);
        let name = sc.strip_prefix(f).unwrap_or(sc);
        let _ = write!(
            o,
            "<tr data-folder=\"{}\"><th><span class=\"folder\">{}</span>{}</th>",
            esc(f),
            esc(&sc[..sc.len() - name.len()]),
            esc(name)
        );
        for t in &targets {
            match report
                .results
                .iter()
                .find(|r| r.scenario == *sc && r.target == *t)
            {
                Some(r) => {
                    let k = verdict_key(r);
                    let _ = write!(
                        o,
                        "<td data-target=\"{}\" data-verdict=\"{k}\" class=\"v-{k}\"><a href=\"{RUNS_DIR}/{}.html\" title=\"{} × {}\">{}</a></td>",
                        esc(t),
                        href(&page_name(r)),
                        esc(sc),
                        esc(t),
                        esc(&verdict_words(r))
                    );
                }
                None => {
                    let _ = write!(
                        o,
                        "<td data-target=\"{}\" data-verdict=\"\" class=\"v-none\">–</td>",
                        esc(t)
                    );
                }
            }
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody>\n</table>\n");
    let _ = write!(o, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    o
}
