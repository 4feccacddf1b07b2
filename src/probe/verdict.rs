//! Judging an [`Observation`] with `run`'s verdict vocabulary, and rendering the report.
//!
//! ```text
//!  Observation ──▶ keepalive.cadence  largest gap vs the smallest preset idle limit
//!              ──▶ keepalive.format   comments pass; data-less named events fail
//!              ──▶ stream.buffering   keepalives bunched into one read fail
//!              ──▶ stream.survives    open at the span's end, or who ended it
//!              ──▶ per preset         largest gap vs its idle limit
//! ```
//!
//! A pass means it held over what was watched: a gap judged against a limit passes when the
//! stream was watched for at least that limit without such a gap, or when a steady keepalive
//! (at least [`CADENCE_MIN`] of them) kept every gap under it. Anything less is
//! `unobservable`, with the `--for` that would judge it.

use super::observation::{secs, Observation, Seen, StreamEnd};
use crate::check::Verdict;
use crate::intermediary::preset;
use crate::intermediary::{BehaviorConfig, Watch};
use crate::time::span;
use serde::Serialize;
use std::time::Duration;

/// Keepalives needed to call a cadence steady (two intervals).
pub const CADENCE_MIN: usize = 3;

/// One judged property.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// `keepalive.cadence`, `keepalive.format`, `stream.buffering`, `stream.survives`.
    pub id: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// Why.
    pub message: String,
}

/// One preset's idle limit against the observed largest gap.
#[derive(Clone, Debug, Serialize)]
pub struct PresetFinding {
    /// The preset's name.
    pub preset: &'static str,
    /// Its idle timeout on server bytes.
    #[serde(serialize_with = "ser_span")]
    pub idle_limit: Duration,
    /// Whether the observed gaps stay under it.
    pub verdict: Verdict,
    /// Why, and any max duration that cuts the stream whatever its cadence.
    pub message: String,
}

/// The probe's report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// How to run this probe again.
    pub reproduce: String,
    /// What was seen.
    pub observation: Observation,
    /// The largest gap without bytes.
    #[serde(serialize_with = "super::observation::ser_secs")]
    pub gap_max: Duration,
    /// The median interval between keepalives, when two or more arrived.
    #[serde(serialize_with = "super::observation::ser_opt_secs")]
    pub keepalive_median: Option<Duration>,
    /// The judged properties.
    pub findings: Vec<Finding>,
    /// Per preset with an idle timeout on server bytes.
    pub presets: Vec<PresetFinding>,
    /// Presets with no such idle timeout, and what else limits a stream behind them.
    pub presets_without_idle_limit: Vec<String>,
}

/// A preset's idle limit on server bytes and its max duration, if any.
fn limits(p: &preset::Preset) -> (Option<Duration>, Option<Duration>) {
    let mut idle = None;
    let mut max = None;
    for b in &p.behaviors {
        match b {
            BehaviorConfig::IdleTimeout(c) if matches!(c.watch, Watch::Upstream | Watch::Any) => {
                idle = Some(idle.map_or(c.after, |i: Duration| i.min(c.after)));
            }
            BehaviorConfig::MaxDuration(c) => max = Some(c.after),
            _ => {}
        }
    }
    (idle, max)
}

/// Judges `obs`; `reproduce` is the command line that runs this probe again.
pub fn judge(obs: Observation, reproduce: String) -> Report {
    let gap_max = obs.gap_max();
    let keepalives = obs.keepalives();
    let mut intervals: Vec<Duration> = keepalives.windows(2).map(|w| w[1].0 - w[0].0).collect();
    intervals.sort();
    let keepalive_median = (!intervals.is_empty()).then(|| intervals[intervals.len() / 2]);
    let steady = keepalives.len() >= CADENCE_MIN;
    let watched = obs.watched;

    // Gap against one limit.
    let against = |limit: Duration| -> (Verdict, String) {
        if gap_max >= limit {
            (
                Verdict::Fail,
                format!(
                    "the largest gap without bytes, {}, reaches the limit",
                    secs(gap_max)
                ),
            )
        } else if watched >= limit {
            (
                Verdict::Pass,
                format!(
                    "no gap reached it in {} watched (largest {})",
                    secs(watched),
                    secs(gap_max)
                ),
            )
        } else if steady {
            (
                Verdict::Pass,
                format!(
                    "a steady keepalive ({} seen) keeps every gap under it",
                    keepalives.len()
                ),
            )
        } else {
            (
                Verdict::Unobservable,
                format!(
                    "only {} watched and {} keepalive(s): probe with --for {} or more",
                    secs(watched),
                    keepalives.len(),
                    span(limit + Duration::from_secs(1))
                ),
            )
        }
    };

    let mut presets = Vec::new();
    let mut without = Vec::new();
    for p in preset::all() {
        let (idle, max) = limits(&p);
        let max_note = max.map(|m| {
            format!(
                "; its max duration {} cuts any stream whatever its cadence",
                span(m)
            )
        });
        match idle {
            Some(limit) => {
                let (verdict, message) = against(limit);
                presets.push(PresetFinding {
                    preset: p.name,
                    idle_limit: limit,
                    verdict,
                    message: message + max_note.as_deref().unwrap_or(""),
                });
            }
            None => without.push(match max {
                Some(m) => format!("{} (max duration {})", p.name, span(m)),
                None => p.name.to_string(),
            }),
        }
    }

    let mut findings = Vec::new();

    // keepalive.cadence: against the smallest idle limit of any preset.
    let smallest = presets.iter().min_by_key(|p| p.idle_limit);
    if let Some(s) = smallest {
        let (verdict, why) = against(s.idle_limit);
        let seen = match keepalive_median {
            Some(m) => format!(
                "{} keepalives, median interval {}",
                keepalives.len(),
                secs(m)
            ),
            None => format!("{} keepalive(s)", keepalives.len()),
        };
        findings.push(Finding {
            id: "keepalive.cadence",
            verdict,
            message: format!(
                "{seen}, largest gap {}; against the smallest preset idle limit, {} ({}): {why}",
                secs(gap_max),
                span(s.idle_limit),
                s.preset
            ),
        });
    }

    // keepalive.format
    let named: Vec<&str> = keepalives
        .iter()
        .filter_map(|(_, s)| match s {
            Seen::NamedKeepalive { name } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let comments = keepalives
        .iter()
        .filter(|(_, s)| **s == Seen::Comment)
        .count();
    findings.push(if let Some(first) = named.first() {
        Finding {
            id: "keepalive.format",
            verdict: Verdict::Fail,
            message: format!(
                "{} keepalive(s) were named events (`event: {first}` with empty data): clients dispatch them to listeners of `{first}`; send a comment line (`: keepalive`) instead",
                named.len()
            ),
        }
    } else if comments > 0 {
        Finding {
            id: "keepalive.format",
            verdict: Verdict::Pass,
            message: format!("{comments} comment keepalive(s), nothing dispatched"),
        }
    } else {
        Finding {
            id: "keepalive.format",
            verdict: Verdict::Unobservable,
            message: format!("no keepalive seen in {}", secs(watched)),
        }
    });

    // stream.buffering: keepalives written at different times arriving in one read.
    let bunched: Vec<(Duration, usize)> = obs
        .reads
        .iter()
        .map(|r| (r.at, r.frames.iter().filter(|f| f.is_keepalive()).count()))
        .filter(|(_, n)| *n >= 2)
        .collect();
    let keepalive_reads = obs
        .reads
        .iter()
        .filter(|r| r.frames.iter().any(Seen::is_keepalive))
        .count();
    findings.push(if let Some((at, n)) = bunched.first() {
        Finding {
            id: "stream.buffering",
            verdict: Verdict::Fail,
            message: format!(
                "{n} keepalives arrived in one read at {} ({} such read(s)): something between the server and here holds bytes back{}",
                secs(*at),
                bunched.len(),
                match obs.header("x-accel-buffering") {
                    Some(v) => format!(" (X-Accel-Buffering: {v})"),
                    None => " (no X-Accel-Buffering header)".to_string(),
                }
            ),
        }
    } else if keepalive_reads >= 2 {
        Finding {
            id: "stream.buffering",
            verdict: Verdict::Pass,
            message: format!("{keepalive_reads} keepalives each arrived on their own"),
        }
    } else {
        Finding {
            id: "stream.buffering",
            verdict: Verdict::Unobservable,
            message: "fewer than two keepalives: nothing shows whether bytes are held back".into(),
        }
    });

    // stream.survives
    findings.push(match &obs.end {
        StreamEnd::StillOpen => Finding {
            id: "stream.survives",
            verdict: Verdict::Pass,
            message: format!("open for the whole span, {}", secs(watched)),
        },
        StreamEnd::ServerClosed { clean } => Finding {
            id: "stream.survives",
            verdict: Verdict::Fail,
            message: format!(
                "the server side ended the stream after {} ({})",
                secs(watched),
                if *clean {
                    "the body ended: last chunk"
                } else {
                    "the connection closed mid-body"
                }
            ),
        },
        StreamEnd::Reset { error } => Finding {
            id: "stream.survives",
            verdict: Verdict::Fail,
            message: format!("the connection was reset after {} ({error})", secs(watched)),
        },
    });

    Report {
        reproduce,
        observation: obs,
        gap_max,
        keepalive_median,
        findings,
        presets,
        presets_without_idle_limit: without,
    }
}

impl Report {
    /// True when some finding or preset failed.
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.verdict == Verdict::Fail)
            || self.presets.iter().any(|p| p.verdict == Verdict::Fail)
    }

    /// The text report. Failures come last, each line starting with the reproduce command.
    pub fn render_text(&self) -> String {
        use std::fmt::Write;
        let o = &self.observation;
        let mut s = String::new();
        let _ = writeln!(s, "probe {} for {}", o.url, span(o.span));
        let _ = writeln!(
            s,
            "  server: {} (protocol {}, initialize answered as {}, session {})",
            o.server.as_deref().unwrap_or("unnamed"),
            o.protocol_version,
            o.initialize_format,
            o.session_id.as_deref().unwrap_or("none")
        );
        let _ = writeln!(
            s,
            "  tools/list: {}",
            o.tool_count
                .map_or("no tool list".to_string(), |n| format!("{n} tool(s)"))
        );
        let _ = writeln!(s, "  GET stream: {} after {}", o.status, secs(o.to_headers));
        for (n, v) in &o.headers {
            let _ = writeln!(s, "    {n}: {v}");
        }
        let _ = writeln!(
            s,
            "  first byte: {}",
            o.to_first_byte.map_or("none".to_string(), |d| format!(
                "{} after the headers",
                secs(d)
            ))
        );
        let keepalives = o.keepalives();
        let shape = |k: &Seen| match k {
            Seen::Comment => "comment".to_string(),
            Seen::NamedKeepalive { name } => format!("event: {name}"),
            _ => String::new(),
        };
        let mut shapes: Vec<String> = keepalives.iter().map(|(_, k)| shape(k)).collect();
        shapes.dedup();
        let _ = writeln!(
            s,
            "  keepalives: {} ({}), median interval {}, largest gap {}",
            keepalives.len(),
            if shapes.is_empty() {
                "none".to_string()
            } else {
                shapes.join(", ")
            },
            self.keepalive_median.map_or("-".to_string(), secs),
            secs(self.gap_max)
        );
        let messages: usize = o
            .reads
            .iter()
            .map(|r| r.frames.iter().filter(|f| **f == Seen::Message).count())
            .sum();
        let _ = writeln!(s, "  messages: {messages}, body reads: {}", o.reads.len());
        let end = match &o.end {
            StreamEnd::StillOpen => {
                "still open at the end of the span (the probe closed it)".to_string()
            }
            StreamEnd::ServerClosed { clean: true } => {
                "the server ended the body (last chunk)".to_string()
            }
            StreamEnd::ServerClosed { clean: false } => {
                "the connection closed mid-body".to_string()
            }
            StreamEnd::Reset { error } => format!("reset ({error})"),
        };
        let _ = writeln!(s, "  ended: {end}, after {}", secs(o.watched));
        let _ = writeln!(s);
        for f in &self.findings {
            let _ = writeln!(
                s,
                "  {:<13} {:<18} {}",
                f.verdict.to_string(),
                f.id,
                f.message
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "  idle limits of the presets (largest gap {}):",
            secs(self.gap_max)
        );
        for p in &self.presets {
            let _ = writeln!(
                s,
                "  {:<13} {:<24} {:>6}  {}",
                p.verdict.to_string(),
                p.preset,
                span(p.idle_limit),
                p.message
            );
        }
        if !self.presets_without_idle_limit.is_empty() {
            let _ = writeln!(
                s,
                "  no idle limit: {}",
                self.presets_without_idle_limit.join(", ")
            );
        }
        let failures: Vec<String> = self
            .findings
            .iter()
            .filter(|f| f.verdict == Verdict::Fail)
            .map(|f| format!("{}: {} failed: {}", self.reproduce, f.id, f.message))
            .chain(
                self.presets
                    .iter()
                    .filter(|p| p.verdict == Verdict::Fail)
                    .map(|p| {
                        format!(
                            "{}: the {} idle limit {} would be crossed: {}",
                            self.reproduce,
                            p.preset,
                            span(p.idle_limit),
                            p.message
                        )
                    }),
            )
            .collect();
        if !failures.is_empty() {
            let _ = writeln!(s);
            for f in failures {
                let _ = writeln!(s, "{f}");
            }
        }
        s
    }
}

fn ser_span<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&span(*d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::http::Head;
    use crate::sse::Frame;

    /// A stream with a comment keepalive at each of `at` (seconds), watched for `watched`.
    fn stream(at: &[u64], watched: u64) -> Observation {
        let head = Head {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
        };
        let mut o = Observation::opened(Duration::from_secs(watched), &head, Duration::ZERO);
        for &t in at {
            let frame = Frame::Comment {
                text: "keepalive".into(),
            };
            o.arrived(Duration::from_secs(t), 13, vec![frame]);
        }
        o.ended(Duration::from_secs(watched), StreamEnd::StillOpen);
        o
    }

    fn preset<'a>(r: &'a Report, name: &str) -> &'a PresetFinding {
        r.presets.iter().find(|p| p.preset == name).unwrap()
    }

    #[test]
    fn a_gap_reaching_a_limit_fails_that_preset_only() {
        // Keepalive every 25 s for 100 s: crosses azure-app-gateway's 20 s, not nginx's 60 s.
        let r = judge(stream(&[25, 50, 75, 100], 100), "repro".into());
        assert_eq!(r.gap_max, Duration::from_secs(25));
        assert_eq!(preset(&r, "azure-app-gateway").verdict, Verdict::Fail);
        assert_eq!(preset(&r, "nginx").verdict, Verdict::Pass);
        assert_eq!(r.findings[0].id, "keepalive.cadence");
        assert_eq!(r.findings[0].verdict, Verdict::Fail);
        assert!(r.failed());
        assert!(r.render_text().contains("repro: keepalive.cadence failed"));
    }

    #[test]
    fn watching_past_a_limit_without_keepalives_judges_it() {
        // One keepalive at 10 s, then silence to 70 s: a 60 s gap reaches nginx's limit.
        let r = judge(stream(&[10], 70), "repro".into());
        assert_eq!(r.gap_max, Duration::from_secs(60));
        assert_eq!(preset(&r, "nginx").verdict, Verdict::Fail);
        assert_eq!(preset(&r, "cloudflare").verdict, Verdict::Unobservable);
        // Two keepalives 15 s apart, watched for 45 s: not a steady cadence, so nginx's 60 s
        // is beyond what was watched; azure-front-door's 30 s was watched and not reached.
        let r = judge(stream(&[15, 30], 45), "repro".into());
        assert_eq!(preset(&r, "nginx").verdict, Verdict::Unobservable);
        assert_eq!(preset(&r, "azure-front-door").verdict, Verdict::Pass);
    }

    #[test]
    fn a_fifteen_second_cadence_stays_under_every_idle_limit() {
        // The reference server's cadence, watched for 50 s.
        let r = judge(stream(&[15, 30, 45], 50), "repro".into());
        assert_eq!(r.keepalive_median, Some(Duration::from_secs(15)));
        for p in &r.presets {
            assert_eq!(p.verdict, Verdict::Pass, "{}: {}", p.preset, p.message);
        }
        assert!(!r.failed());
    }
}
