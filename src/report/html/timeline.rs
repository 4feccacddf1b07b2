//! One run's trace as an SVG timeline.
//!
//! ```text
//!  x: virtual time (axis.rs: idle stretches over 2 min drawn as breaks, length written)
//!        ┆ ✗ stream.survives                       (failing checks' `at`, run stops)
//!  client ──▲──●──|──|──|──────────────✕ closed by…
//!  nginx  ──▲──●──|──|──|────✂ cut: idle-timeout…   ▭▭▭ idle-timeout 60s (limit span)
//!  server ──▲──●──|──|──|──────────────
//! ```
//!
//! One lane per hop of the route (client, each intermediary in route order, server); every
//! connection's events sit on the lane of the host that recorded them (the tooltip names the
//! connection). Marks by kind: request, response head, SSE event, keepalive (a comment, or a
//! frame a keepalive timer wrote), other bytes, held bytes, close, an intermediary's cut,
//! error. An intermediary's forwarded bytes take the kind of the frames the server wrote on
//! that connection since the bytes it forwarded before. Limits are drawn per connection as
//! spans: an idle timeout from the connection's last byte through the host, a first-byte
//! timeout from the request to the response head, any other limit from the connection's
//! first event there; a span that reaches its deadline is drawn dark.
//!
//! The size is bounded: marks of one kind on one lane closer than a few pixels merge into one
//! (its tooltip counts them), widening until at most [`MARK_CAP`] marks remain; labels that
//! would overlap are left to the tooltips; each left-out thing is said in [`Timeline::notes`].

use super::axis::Axis;
use super::esc;
use crate::check::Verdict;
use crate::report::CheckResult;
use crate::sse::Frame;
use crate::time::{span, stamp};
use crate::trace::{describe, Closer, ConnId, Direction, Event, EventKind, Limit, Trace};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// The most marks one timeline draws.
pub const MARK_CAP: usize = 3000;
/// The most limit spans drawn per intermediary and limit.
const SPAN_CAP: usize = 40;
/// The most labels per lane.
const LABEL_CAP: usize = 12;

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 140.0;
const RIGHT: f64 = 24.0;
const LANE_H: f64 = 66.0;
const ROW_H: f64 = 14.0;
/// Estimated width of one character of an 11 px label.
const CHAR_PX: f64 = 6.3;

/// What a mark shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A connection opened.
    Opened,
    /// A request (head or bytes upstream).
    Request,
    /// A response head.
    Head,
    /// An SSE event.
    Event,
    /// A keepalive: a comment, or a frame a keepalive timer wrote.
    Keepalive,
    /// Other body bytes.
    Bytes,
    /// Bytes held back by buffering.
    Held,
    /// A close or a stream end.
    Close,
    /// An intermediary closed or blackholed the connection.
    Cut,
    /// Something failed (a write, a connect, a refused step).
    Error,
    /// Anything else (RPC bookkeeping, timers, sessions).
    Other,
}

impl Kind {
    /// Every kind, in legend order.
    pub const ALL: [Kind; 11] = [
        Kind::Opened,
        Kind::Request,
        Kind::Head,
        Kind::Event,
        Kind::Keepalive,
        Kind::Bytes,
        Kind::Held,
        Kind::Close,
        Kind::Cut,
        Kind::Error,
        Kind::Other,
    ];

    /// The CSS class (`k-…`) and the legend's words.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Kind::Opened => ("opened", "connection opened"),
            Kind::Request => ("request", "request"),
            Kind::Head => ("head", "response head"),
            Kind::Event => ("event", "SSE event"),
            Kind::Keepalive => ("keepalive", "keepalive"),
            Kind::Bytes => ("bytes", "other bytes"),
            Kind::Held => ("held", "held by buffering"),
            Kind::Close => ("close", "close / stream end"),
            Kind::Cut => ("cut", "cut by an intermediary"),
            Kind::Error => ("error", "error"),
            Kind::Other => ("other", "other event"),
        }
    }

    /// The mark's shape centred on (x, y), as SVG.
    pub fn shape(self, x: f64, y: f64) -> String {
        let c = self.names().0;
        match self {
            Kind::Event => {
                format!("<circle class=\"k-{c}\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4.5\"/>")
            }
            Kind::Keepalive => format!(
                "<rect class=\"k-{c}\" x=\"{:.1}\" y=\"{:.1}\" width=\"2.4\" height=\"12\"/>",
                x - 1.2,
                y - 6.0
            ),
            Kind::Bytes | Kind::Held => format!(
                "<rect class=\"k-{c}\" x=\"{:.1}\" y=\"{:.1}\" width=\"6\" height=\"6\"/>",
                x - 3.0,
                y - 3.0
            ),
            Kind::Head => format!(
                "<path class=\"k-{c}\" d=\"M{:.1} {:.1}L{x:.1} {:.1}L{:.1} {:.1}Z\"/>",
                x - 5.0,
                y + 5.0,
                y - 6.0,
                x + 5.0,
                y + 5.0
            ),
            Kind::Request => format!(
                "<path class=\"k-{c}\" d=\"M{:.1} {:.1}L{:.1} {y:.1}L{:.1} {:.1}Z\"/>",
                x - 4.0,
                y - 5.0,
                x + 5.0,
                x - 4.0,
                y + 5.0
            ),
            Kind::Opened => {
                format!("<circle class=\"k-{c}\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\"/>")
            }
            Kind::Close | Kind::Cut => {
                let r = if self == Kind::Cut { 7.0 } else { 4.0 };
                format!(
                    "<path class=\"k-{c}\" d=\"M{:.1} {:.1}L{:.1} {:.1}M{:.1} {:.1}L{:.1} {:.1}\"/>",
                    x - r,
                    y - r,
                    x + r,
                    y + r,
                    x - r,
                    y + r,
                    x + r,
                    y - r
                )
            }
            Kind::Error => format!("<circle class=\"k-{c}\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"5\"/>"),
            Kind::Other => format!("<circle class=\"k-{c}\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2\"/>"),
        }
    }
}

/// One mark (or several merged).
#[derive(Clone, Debug)]
struct Mark {
    lane: usize,
    at: Duration,
    last: Duration,
    kind: Kind,
    title: String,
    last_title: String,
    count: usize,
    label: Option<String>,
    conn: Option<ConnId>,
}

/// A limit drawn as a span on an intermediary's lane.
#[derive(Clone, Debug)]
struct Span {
    lane: usize,
    from: Duration,
    to: Duration,
    reached: bool,
    label: String,
    title: String,
}

/// A vertical marker across the lanes: a failing check's `at`, or where the run stopped.
#[derive(Clone, Debug)]
struct Marker {
    at: Duration,
    class: &'static str,
    label: String,
    title: String,
}

/// One run's timeline, laid out; [`Timeline::svg`] draws it.
#[derive(Clone, Debug)]
pub struct Timeline {
    lanes: Vec<String>,
    lane_limits: Vec<Vec<Limit>>,
    marks: Vec<Mark>,
    spans: Vec<Span>,
    markers: Vec<Marker>,
    axis: Axis,
    /// What was merged or left out, in words (shown under the timeline).
    pub notes: Vec<String>,
}

/// `HH:MM:SS.mmm` back to a duration.
pub fn parse_stamp(s: &str) -> Option<Duration> {
    let (hms, ms) = s.split_once('.')?;
    let mut p = hms.split(':');
    let (h, m, sec) = (p.next()?, p.next()?, p.next()?);
    if p.next().is_some() || ms.len() != 3 {
        return None;
    }
    let n = |x: &str| x.parse::<u64>().ok();
    Some(Duration::from_millis(
        ((n(h)? * 60 + n(m)?) * 60 + n(sec)?) * 1000 + n(ms)?,
    ))
}

fn cut_text(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut o: String = s.chars().take(max).collect();
        o.push('…');
        o
    }
}

/// A length for a break's label, to the second: `58 s`, `8 min 59 s`, `2 h 5 min`.
pub fn rough(d: Duration) -> String {
    let s = d.as_secs() + u64::from(d.subsec_millis() >= 500);
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// The shortest length: its largest unit only (`9m`, `2h`).
fn compact(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.0}s")
    } else if s < 3600.0 {
        format!("{:.0}m", s / 60.0)
    } else {
        format!("{:.0}h", s / 3600.0)
    }
}

fn who(by: &Closer) -> String {
    match by {
        Closer::Client => "client".into(),
        Closer::Server => "server".into(),
        Closer::Intermediary(n) => n.clone(),
        Closer::Fault => "fault".into(),
    }
}

/// The kind of an SSE frame written or received.
fn frame_kind<'a>(frames: impl IntoIterator<Item = &'a Frame>, by_timer: bool) -> Kind {
    let mut kind = None;
    for f in frames {
        let k = match f {
            Frame::Event { .. } if by_timer => Kind::Keepalive,
            Frame::Event { .. } => Kind::Event,
            Frame::Comment { .. } => Kind::Keepalive,
            _ => Kind::Bytes,
        };
        kind = Some(match (kind, k) {
            (Some(Kind::Event), _) | (_, Kind::Event) => Kind::Event,
            (Some(Kind::Keepalive), _) | (_, Kind::Keepalive) => Kind::Keepalive,
            _ => Kind::Bytes,
        });
    }
    kind.unwrap_or(Kind::Bytes)
}

/// The hosts as lanes: client, the route's hops in order, any other host, server.
fn lanes(trace: &Trace) -> Vec<String> {
    let mut hops: Vec<String> = Vec::new();
    let add = |h: &str, hops: &mut Vec<String>| {
        if !hops.iter().any(|x| x == h) && h != "server" && h != crate::trace::HARNESS {
            hops.push(h.to_string());
        }
    };
    if trace.events.iter().any(|e| e.host == "client") {
        add("client", &mut hops);
    }
    for e in &trace.events {
        if let EventKind::ConnOpened { route, .. } = &e.kind {
            for h in route {
                add(h, &mut hops);
            }
        }
    }
    for e in &trace.events {
        add(&e.host, &mut hops);
    }
    if trace.events.iter().any(|e| e.host == "server") {
        hops.push("server".into());
    }
    hops
}

impl Timeline {
    /// Lays out `trace` over `[0, end]`, with a marker at each failing check's `at`.
    pub fn new(trace: &Trace, end: Duration, checks: &[CheckResult]) -> Self {
        let lanes = lanes(trace);
        let lane_of = |h: &str| lanes.iter().position(|l| l == h);
        let limits = trace.limits();
        let lane_limits: Vec<Vec<Limit>> = lanes
            .iter()
            .map(|h| {
                limits
                    .iter()
                    .filter(|(lh, _)| lh == h)
                    .map(|(_, l)| l.clone())
                    .collect()
            })
            .collect();
        let mut marks = Vec::new();
        let mut markers = Vec::new();
        // What the server wrote on each connection since an intermediary last forwarded.
        let mut written: BTreeMap<ConnId, (Kind, bool)> = BTreeMap::new();
        for e in &trace.events {
            if let EventKind::RunStopped { reason, .. } = &e.kind {
                markers.push(Marker {
                    at: e.at,
                    class: "stopped",
                    label: format!("run stopped {}", stamp(e.at)),
                    title: cut_text(reason, 600),
                });
                continue;
            }
            let Some(lane) = lane_of(&e.host) else {
                continue;
            };
            let Some((kind, label)) = classify(e, &mut written) else {
                continue;
            };
            let title = cut_text(
                &format!(
                    "{}  {}{}  {}",
                    stamp(e.at),
                    e.host,
                    e.conn.map(|c| format!(" {c}")).unwrap_or_default(),
                    describe(e)
                ),
                400,
            );
            marks.push(Mark {
                lane,
                at: e.at,
                last: e.at,
                kind,
                last_title: title.clone(),
                title,
                count: 1,
                label,
                conn: e.conn,
            });
        }
        for c in checks.iter().filter(|c| c.verdict == Verdict::Fail) {
            if let Some(at) = c.at.as_deref().and_then(parse_stamp) {
                markers.push(Marker {
                    at,
                    class: "failed",
                    label: format!("✗ {} {}", c.id, stamp(at)),
                    title: format!("{} failed at {}: {}", c.id, stamp(at), c.message),
                });
            }
        }
        let end = trace
            .events
            .iter()
            .map(|e| e.at)
            .chain(markers.iter().map(|m| m.at))
            .fold(end, Duration::max);
        let instants: Vec<Duration> = trace
            .events
            .iter()
            .map(|e| e.at)
            .chain(markers.iter().map(|m| m.at))
            .collect();
        let axis = Axis::new(&instants, end, WIDTH - LEFT - RIGHT);
        let mut notes = Vec::new();
        let spans = spans(trace, &lanes, &mut notes);
        let mut t = Self {
            lanes,
            lane_limits,
            marks,
            spans,
            markers,
            axis,
            notes,
        };
        t.merge();
        t
    }

    /// Merges marks of one kind on one lane that sit within a few pixels of each other,
    /// widening the distance until at most [`MARK_CAP`] remain.
    fn merge(&mut self) {
        let events = self.marks.len();
        let mut px = 3.0;
        loop {
            let mut merged: Vec<Mark> = Vec::new();
            let mut at: BTreeMap<(usize, Kind, i64), usize> = BTreeMap::new();
            for m in &self.marks {
                let bucket = (self.axis.x(m.at) / px).floor() as i64;
                match at.get(&(m.lane, m.kind, bucket)) {
                    Some(&i) => {
                        let g = &mut merged[i];
                        g.count += m.count;
                        g.last = m.last;
                        g.last_title = m.last_title.clone();
                        g.label = g.label.take().or_else(|| m.label.clone());
                    }
                    None => {
                        at.insert((m.lane, m.kind, bucket), merged.len());
                        merged.push(m.clone());
                    }
                }
            }
            if merged.len() <= MARK_CAP || px > WIDTH {
                if merged.len() < events {
                    self.notes.push(format!(
                        "{events} events drawn as {} marks: marks of one kind on one lane within {px} px are merged (the tooltip counts them).",
                        merged.len()
                    ));
                }
                self.marks = merged;
                return;
            }
            px *= 2.0;
        }
    }

    /// The timeline as an `<svg>` element, and how many close and cut labels it leaves to
    /// the tooltips (they would overlap, or the lane has 12 labels already).
    pub fn svg(&self) -> (String, usize) {
        let plot_w = WIDTH - LEFT - RIGHT;
        let x = |t: Duration| LEFT + self.axis.x(t);
        // Marker labels: greedy rows at the top.
        let mut rows: Vec<f64> = Vec::new();
        let mut marker_rows = Vec::new();
        let mut sorted: Vec<&Marker> = self.markers.iter().collect();
        sorted.sort_by_key(|m| m.at);
        for m in &sorted {
            let w = m.label.chars().count() as f64 * CHAR_PX;
            let x0 = x(m.at);
            let (a, b) = if x0 + w > WIDTH {
                (x0 - w, x0)
            } else {
                (x0, x0 + w)
            };
            let row = match rows.iter().position(|end| *end + 6.0 < a) {
                Some(r) => r,
                None => {
                    rows.push(f64::NEG_INFINITY);
                    rows.len() - 1
                }
            };
            rows[row] = b;
            marker_rows.push((m, row, x0 + w > WIDTH));
        }
        let axis_y = rows.len() as f64 * ROW_H + 16.0;
        let lanes_y = axis_y + 10.0;
        let height = lanes_y + self.lanes.len() as f64 * LANE_H + 6.0;
        let mut o = String::new();
        let _ = write!(
            o,
            "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height:.0}\" width=\"{WIDTH}\" height=\"{height:.0}\" role=\"img\" aria-label=\"timeline\">"
        );
        // Lanes.
        for (i, h) in self.lanes.iter().enumerate() {
            let y = lanes_y + i as f64 * LANE_H;
            let _ = write!(
                o,
                "<g class=\"lane\" data-host=\"{}\"><rect class=\"lane-bg{}\" x=\"0\" y=\"{y:.1}\" width=\"{WIDTH}\" height=\"{LANE_H}\"/><line class=\"lane-axis\" x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/><text class=\"lane-name\" x=\"8\" y=\"{:.1}\">{}</text>",
                esc(h),
                if i % 2 == 1 { " odd" } else { "" },
                y + 40.0,
                LEFT + plot_w,
                y + 40.0,
                y + 36.0,
                esc(&cut_text(h, 18))
            );
            let lim = &self.lane_limits[i];
            if !lim.is_empty() {
                let all: Vec<String> = lim
                    .iter()
                    .map(|l| format!("{} {} ({})", l.behavior, span(l.after), l.watches))
                    .collect();
                let short: Vec<String> = lim
                    .iter()
                    .map(|l| format!("{} {}", l.behavior, span(l.after)))
                    .collect();
                let _ = write!(
                    o,
                    "<text class=\"lane-limits\" x=\"8\" y=\"{:.1}\"><title>{}</title>{}</text>",
                    y + 50.0,
                    esc(&all.join("; ")),
                    esc(&cut_text(&short.join("; "), 24))
                );
            }
            o.push_str("</g>");
        }
        // Breaks.
        for b in self.axis.breaks() {
            let (x0, x1) = (LEFT + b.x0, LEFT + b.x1);
            let len = rough(b.to - b.from);
            let _ = write!(
                o,
                "<g class=\"break\"><title>idle {} → {} ({len}), drawn compressed</title><rect class=\"brk\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
                stamp(b.from),
                stamp(b.to),
                axis_y - 12.0,
                x1 - x0,
                height - axis_y + 6.0
            );
            // The length written, as long as the break has room for it.
            if let Some(label) = [format!("⋯ {len} ⋯"), len.clone(), compact(b.to - b.from)]
                .into_iter()
                .find(|l| l.chars().count() as f64 * CHAR_PX <= x1 - x0 + 4.0)
            {
                let _ = write!(
                    o,
                    "<text class=\"brk-label\" x=\"{:.1}\" y=\"{axis_y:.1}\" text-anchor=\"middle\">{}</text>",
                    (x0 + x1) / 2.0,
                    esc(&label)
                );
            }
            o.push_str("</g>");
        }
        // Ticks.
        for (t, tx) in self.axis.ticks() {
            // A label that would not fit, or would run into a break's label, is left out.
            if tx + 50.0 > plot_w + RIGHT
                || self.axis.breaks().any(|b| b.x0 < tx + 50.0 && tx < b.x1)
            {
                continue;
            }
            let s = stamp(t);
            let s = s.strip_suffix(".000").unwrap_or(&s);
            let _ = write!(
                o,
                "<line class=\"tick\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/><text class=\"tick-label\" x=\"{:.1}\" y=\"{axis_y:.1}\">{s}</text>",
                LEFT + tx,
                axis_y + 4.0,
                LEFT + tx,
                height - 6.0,
                LEFT + tx + 2.0
            );
        }
        // Limit spans.
        for s in &self.spans {
            let y = lanes_y + s.lane as f64 * LANE_H + 52.0;
            let (x0, x1) = (x(s.from), x(s.to));
            let w = (x1 - x0).max(1.0);
            let _ = write!(
                o,
                "<g class=\"span{}\"><title>{}</title><rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"11\"/>",
                if s.reached { " reached" } else { "" },
                esc(&s.title)
            );
            if s.label.chars().count() as f64 * 5.4 + 6.0 < w {
                let _ = write!(
                    o,
                    "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                    x0 + 3.0,
                    y + 9.0,
                    esc(&s.label)
                );
            }
            o.push_str("</g>");
        }
        // Marks, then their labels (greedy rows per lane, overlapping ones left out).
        let mut label_rows: Vec<[f64; 2]> = vec![[f64::NEG_INFINITY; 2]; self.lanes.len()];
        let mut labels_per_lane = vec![0usize; self.lanes.len()];
        let mut dropped = 0;
        for m in &self.marks {
            let cx = x(m.at);
            let cy = lanes_y + m.lane as f64 * LANE_H + 40.0;
            let title = if m.count > 1 {
                format!(
                    "{} marks ({}), {} → {}; first: {}; last: {}",
                    m.count,
                    m.kind.names().1,
                    stamp(m.at),
                    stamp(m.last),
                    m.title,
                    m.last_title
                )
            } else {
                m.title.clone()
            };
            let _ = write!(
                o,
                "<g class=\"mark k-{}\" data-at=\"{}\"{}><title>{}</title>{}</g>",
                m.kind.names().0,
                stamp(m.at),
                m.conn
                    .map(|c| format!(" data-conn=\"{c}\""))
                    .unwrap_or_default(),
                esc(&title),
                m.kind.shape(cx, cy)
            );
            if let Some(label) = &m.label {
                let w = label.chars().count() as f64 * CHAR_PX;
                let right = cx + 8.0 + w <= WIDTH;
                let (a, b) = if right {
                    (cx - 4.0, cx + 8.0 + w)
                } else {
                    (cx - 8.0 - w, cx + 4.0)
                };
                let rows = &mut label_rows[m.lane];
                let row = rows.iter().position(|end| *end + 6.0 < a);
                match row {
                    Some(r) if labels_per_lane[m.lane] < LABEL_CAP => {
                        rows[r] = b;
                        labels_per_lane[m.lane] += 1;
                        let ly = lanes_y + m.lane as f64 * LANE_H + 14.0 + r as f64 * 12.0;
                        let _ = write!(
                            o,
                            "<g class=\"label {}\"><line x1=\"{cx:.1}\" y1=\"{:.1}\" x2=\"{cx:.1}\" y2=\"{:.1}\"/><text x=\"{:.1}\" y=\"{ly:.1}\"{}>{}</text></g>",
                            m.kind.names().0,
                            ly + 2.0,
                            cy - 6.0,
                            if right { cx + 4.0 } else { cx - 4.0 },
                            if right { "" } else { " text-anchor=\"end\"" },
                            esc(label)
                        );
                    }
                    _ => dropped += 1,
                }
            }
        }
        // Markers across the lanes.
        for (m, row, left) in marker_rows {
            let mx = x(m.at);
            let ty = 12.0 + row as f64 * ROW_H;
            let _ = write!(
                o,
                "<g class=\"marker {}\" data-at=\"{}\"><title>{}</title><line x1=\"{mx:.1}\" y1=\"{:.1}\" x2=\"{mx:.1}\" y2=\"{:.1}\"/><text x=\"{:.1}\" y=\"{ty:.1}\"{}>{}</text></g>",
                m.class,
                stamp(m.at),
                esc(&m.title),
                ty + 3.0,
                height - 4.0,
                if left { mx - 3.0 } else { mx + 3.0 },
                if left { " text-anchor=\"end\"" } else { "" },
                esc(&m.label)
            );
        }
        o.push_str("</svg>");
        (o, dropped)
    }

    /// The mark kinds this timeline draws, in legend order.
    pub fn kinds(&self) -> Vec<Kind> {
        Kind::ALL
            .into_iter()
            .filter(|k| self.marks.iter().any(|m| m.kind == *k))
            .collect()
    }
}

/// The mark of one event, and its label, if it gets one.
fn classify(
    e: &Event,
    written: &mut BTreeMap<ConnId, (Kind, bool)>,
) -> Option<(Kind, Option<String>)> {
    let k = match &e.kind {
        EventKind::IntermediaryStarted { .. } | EventKind::RunStopped { .. } => return None,
        EventKind::ConnOpened { .. } => Kind::Opened,
        EventKind::RequestSent { .. } | EventKind::RequestReceived { .. } => Kind::Request,
        EventKind::ResponseReceived { .. } | EventKind::ResponseStarted { .. } => Kind::Head,
        EventKind::IntermediaryResponded { status, .. } => {
            return Some((
                Kind::Head,
                Some(format!("answered {status} · {}", stamp(e.at))),
            ))
        }
        EventKind::Received { frames, .. } => frame_kind(frames, false),
        EventKind::FrameWritten { frame, timer } => {
            let k = frame_kind([frame], timer.is_some());
            if let Some(c) = e.conn {
                let w = written.entry(c).or_insert((k, false));
                if w.1 {
                    *w = (k, false);
                } else if k == Kind::Event || w.0 == Kind::Bytes {
                    w.0 = k;
                }
            }
            k
        }
        EventKind::Forwarded {
            direction, note, ..
        } => match direction {
            Direction::Upstream => Kind::Request,
            Direction::Downstream
                if note.as_deref().is_some_and(|n| n.contains("response head")) =>
            {
                Kind::Head
            }
            Direction::Downstream => match e.conn.and_then(|c| written.get_mut(&c)) {
                Some(w) => {
                    w.1 = true;
                    w.0
                }
                None => Kind::Bytes,
            },
        },
        EventKind::Buffered { .. } => Kind::Held,
        EventKind::Flushed { .. } => Kind::Bytes,
        EventKind::StreamEnded { .. } => Kind::Close,
        EventKind::ConnClosed { by, .. } => {
            return Some((
                Kind::Close,
                Some(format!("closed by {} · {}", who(by), stamp(e.at))),
            ))
        }
        EventKind::IntermediaryClosed {
            behavior, action, ..
        } => {
            return Some((
                Kind::Cut,
                Some(format!("cut ({behavior}, {action}) · {}", stamp(e.at))),
            ))
        }
        EventKind::IntermediaryBlackholed { behavior, .. } => {
            return Some((
                Kind::Cut,
                Some(format!("blackholed ({behavior}) · {}", stamp(e.at))),
            ))
        }
        EventKind::ConnFailed { .. }
        | EventKind::WriteFailed { .. }
        | EventKind::ServerExited { .. }
        | EventKind::NotificationRefused { .. }
        | EventKind::StepRefused { .. }
        | EventKind::GaveUp { .. }
        | EventKind::FaultApplied { .. } => Kind::Error,
        _ => Kind::Other,
    };
    Some((k, None))
}

/// The intermediaries' limits as spans, per connection through them.
fn spans(trace: &Trace, lanes: &[String], notes: &mut Vec<String>) -> Vec<Span> {
    // Each connection's last event on any host: where it ended (or the trace did).
    let mut conn_end: BTreeMap<ConnId, Duration> = BTreeMap::new();
    for e in &trace.events {
        if let Some(c) = e.conn {
            conn_end.insert(c, e.at);
        }
    }
    let mut out = Vec::new();
    for (host, limit) in trace.limits() {
        let Some(lane) = lanes.iter().position(|l| *l == host) else {
            continue;
        };
        // Per connection at this host: first event, last byte moved, first response byte.
        let mut seen: BTreeMap<ConnId, (Duration, Option<Duration>, Option<Duration>)> =
            BTreeMap::new();
        for e in trace.events.iter().filter(|e| e.host == host) {
            let Some(c) = e.conn else { continue };
            let s = seen.entry(c).or_insert((e.at, None, None));
            match &e.kind {
                EventKind::Forwarded { direction, .. } => {
                    s.1 = Some(e.at);
                    if *direction == Direction::Downstream && s.2.is_none() {
                        s.2 = Some(e.at);
                    }
                }
                EventKind::Buffered { .. } | EventKind::Flushed { .. } => s.1 = Some(e.at),
                _ => {}
            }
        }
        let mut all: Vec<Span> = Vec::new();
        for (c, (first, last_byte, first_down)) in seen {
            let end = conn_end.get(&c).copied().unwrap_or(first);
            let (from, since, until) = if limit.behavior.contains("idle") {
                let from = last_byte.unwrap_or(first);
                (from, "its last byte through", end)
            } else if limit.behavior.contains("first-byte") {
                (
                    first,
                    "its first event at",
                    first_down.unwrap_or(end).min(end),
                )
            } else {
                (first, "its first event at", end)
            };
            let deadline = from + limit.after;
            let reached = deadline <= until;
            let to = deadline.min(until).max(from);
            all.push(Span {
                lane,
                from,
                to,
                reached,
                label: format!("{} {}", limit.behavior, span(limit.after)),
                title: format!(
                    "{host} {} {} ({}) on {c}: from {} ({since} {host}), deadline {}: {}",
                    limit.behavior,
                    span(limit.after),
                    limit.watches,
                    stamp(from),
                    stamp(deadline),
                    if reached {
                        "reached".to_string()
                    } else {
                        format!("not reached (the connection's last event {})", stamp(until))
                    }
                ),
            });
        }
        let n = all.len();
        if n > SPAN_CAP {
            // The spans that reached their deadline first, then the earliest.
            all.sort_by_key(|s| (!s.reached, s.from));
            all.truncate(SPAN_CAP);
            all.sort_by_key(|s| s.from);
            notes.push(format!(
                "{host} {} {}: spans drawn for {SPAN_CAP} of {n} connections (those that reached the deadline first).",
                limit.behavior,
                span(limit.after)
            ));
        }
        out.extend(all);
    }
    out
}
