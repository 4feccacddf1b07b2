//! `middlebox bench`: fixed workloads, timed side by side with plain turmoil stepping of the
//! same topology.
//!
//! ```text
//!  middlebox bench ──spawns──▶ middlebox bench --only W --side middlebox   (one process each,
//!                  └─spawns──▶ middlebox bench --only W --side baseline     so peak memory is
//!                                 │                                         the workload's own)
//!                                 └─▶ one JSON line: wall time, virtual time, peak RSS
//!  parent ──▶ table (text) or JSON lines: virtual s per wall s, ratio to the baseline
//! ```
//!
//! The baseline is what a bare turmoil simulation costs for the same hosts, tick and virtual
//! duration when every host sits idle: the cost of stepping alone. A ratio above 1 means
//! middlebox spends more wall time than bare stepping (it does real work on top); the goal
//! (issue "Speed") is for cost to follow events, which would push the ratio far below 1.
//!
//! Wall-clock time is read here, and only here: it measures the harness and never reaches a
//! trace.

use middlebox::scenario::{self, Scenario};
use middlebox::sim::Engine;
use middlebox::suite;
use middlebox::targets::{self, TargetInfo};
use middlebox::time::EPOCH_SECS;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

/// One benchmark workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// (a) One idle SSE stream, 15 s keepalive, through two intermediaries, 24 virtual hours
    /// (short mode: 1 hour).
    IdleStream,
    /// (b) 1,000 concurrent streams for 1 virtual hour (short mode: 100 streams, 5 minutes).
    ManyStreams,
    /// (c) The full default suite: every scenario under `scenarios/` × its default targets
    /// (short mode: the `keepalive/` scenarios).
    Suite,
    /// (d) A 30-virtual-minute scenario against a Node target (needs the Node adapter).
    Node,
    /// (e) Scale: 10,000 concurrent streams for 10 virtual minutes, for peak memory (goal:
    /// within 1 GiB) (short mode: 1,000 streams, 1 minute).
    Scale,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 5] = [
        Workload::IdleStream,
        Workload::ManyStreams,
        Workload::Suite,
        Workload::Node,
        Workload::Scale,
    ];

    /// Stable id used in output.
    pub fn id(self) -> &'static str {
        match self {
            Workload::IdleStream => "idle-stream",
            Workload::ManyStreams => "many-streams",
            Workload::Suite => "suite",
            Workload::Node => "node",
            Workload::Scale => "scale",
        }
    }
}

/// Which side of the comparison a child process measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// middlebox running the workload on its default engine (`auto`).
    Middlebox,
    /// middlebox running the workload on the network engine (turmoil, stepped every tick).
    Network,
    /// Bare turmoil stepping of the same topology for the same virtual time.
    Baseline,
}

/// What one side of one workload measured.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct SideResult {
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// Virtual seconds simulated (summed over runs).
    pub virtual_s: f64,
    /// Simulations run.
    pub runs: usize,
    /// Peak resident memory of the measuring process, MiB (Linux `VmHWM`; None elsewhere).
    pub peak_rss_mib: Option<f64>,
    /// Runs whose outcome was not the expected one (middlebox side only).
    pub unexpected: usize,
}

/// One workload's row: both sides and their ratio.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub workload: &'static str,
    pub description: String,
    /// `ok`, `unavailable` (cannot run here, see `note`) or `failed`.
    pub status: &'static str,
    pub note: Option<String>,
    pub middlebox: Option<SideResult>,
    /// middlebox forced onto the network engine.
    pub network: Option<SideResult>,
    pub baseline: Option<SideResult>,
    /// Virtual seconds per wall second, middlebox side.
    pub virtual_per_wall: Option<f64>,
    /// Virtual seconds per wall second, baseline side.
    pub baseline_virtual_per_wall: Option<f64>,
    /// middlebox wall time ÷ baseline wall time.
    pub ratio_to_baseline: Option<f64>,
    /// network-engine wall time ÷ baseline wall time.
    pub network_ratio_to_baseline: Option<f64>,
}

/// The scenarios a workload runs, with the targets for each.
pub fn plan(w: Workload, short: bool) -> Result<Vec<(Scenario, TargetInfo)>, String> {
    let reference = || targets::get("reference").expect("the reference target exists");
    match w {
        Workload::IdleStream => {
            let duration = if short { "1h" } else { "24h" };
            let text = format!(
                r#"description = "bench (a): one idle SSE stream, 15 s keepalive, two intermediaries"
duration = "{duration}"
[[intermediary]]
preset = "cloudflare"
[[intermediary]]
preset = "ingress-nginx"
[server]
keepalive = "15s"
[[client.step]]
at = "1s"
do = "open-stream"
[[expect]]
check = "stream.survives"
[[expect]]
check = "keepalive.cadence"
gap-max = "20s"
"#
            );
            let s = scenario::parse("bench/idle-stream.toml", &text).map_err(|e| e.to_string())?;
            Ok(vec![(s, reference())])
        }
        Workload::ManyStreams | Workload::Scale => {
            let (n, duration) = match (w, short) {
                (Workload::ManyStreams, true) => (100, "5m"),
                (Workload::ManyStreams, false) => (1000, "1h"),
                (_, true) => (1000, "1m"),
                (_, false) => (10_000, "10m"),
            };
            let mut text = format!(
                "description = \"bench {}: {n} concurrent SSE streams, 15 s keepalive, one intermediary\"\nduration = \"{duration}\"\n[[intermediary]]\npreset = \"ingress-nginx\"\n[server]\nkeepalive = \"15s\"\n",
                w.id()
            );
            for i in 0..n {
                // Spread the opens over the first second so the streams do not tick in step.
                text.push_str(&format!(
                    "[[client.step]]\nat = \"{}ms\"\ndo = \"open-stream\"\nstream = \"s{i}\"\n",
                    1000 + i % 1000
                ));
            }
            text.push_str("[[expect]]\ncheck = \"stream.survives\"\n");
            let s = scenario::parse(&format!("bench/{}.toml", w.id()), &text)
                .map_err(|e| e.to_string())?;
            Ok(vec![(s, reference())])
        }
        Workload::Suite => {
            let dir = if short {
                "scenarios/keepalive"
            } else {
                "scenarios"
            };
            let files = scenario::discover(&[PathBuf::from(dir)]).map_err(|e| e.to_string())?;
            let mut scenarios = Vec::new();
            for f in files {
                scenarios.push(scenario::load(&f).map_err(|e| e.to_string())?);
            }
            let targets: Vec<TargetInfo> = targets::default_names()
                .into_iter()
                .map(|n| targets::get(n).expect("default target exists"))
                .collect();
            Ok(suite::pairs(&scenarios, &targets)
                .into_iter()
                .map(|(s, t)| (scenarios[s].clone(), targets[t].clone()))
                .collect())
        }
        Workload::Node => {
            // The same 30 virtual minutes in the short mode: the point is the wall time of
            // one such scenario against the real SDK.
            let name = "ts-sdk-server@1.32.2";
            let t = targets::get(name).expect("the Node target is registered");
            middlebox::targets::process::launch(
                middlebox::targets::process::IMPLEMENTATIONS
                    .iter()
                    .find(|i| i.target == name)
                    .expect("registered"),
                &middlebox::scenario::ServerConfig::default(),
            )?;
            let text = "description = \"bench node: an MCP GET stream behind nginx for 30 minutes, the SDK's own 15 s keepalive\"\nprotocol = [\"2025-11-25\"]\nduration = \"30m\"\n[[intermediary]]\npreset = \"nginx\"\n[[client.step]]\nat = \"0s\"\ndo = \"initialize\"\n[[client.step]]\nat = \"1s\"\ndo = \"open-get-stream\"\n[[expect]]\ncheck = \"stream.survives\"\nstream = \"get\"\n";
            let s = scenario::parse("bench/node.toml", text).map_err(|e| e.to_string())?;
            Ok(vec![(s, t)])
        }
    }
}

/// One line describing a workload.
pub fn describe(w: Workload, short: bool) -> String {
    match (w, short) {
        (Workload::IdleStream, false) => "(a) 1 idle stream, 2 intermediaries, 24 h".into(),
        (Workload::IdleStream, true) => "(a) 1 idle stream, 2 intermediaries, 1 h (short)".into(),
        (Workload::ManyStreams, false) => "(b) 1,000 concurrent streams, 1 h".into(),
        (Workload::ManyStreams, true) => "(b) 100 concurrent streams, 5 min (short)".into(),
        (Workload::Suite, false) => "(c) full default suite".into(),
        (Workload::Suite, true) => "(c) keepalive/ scenarios × default targets (short)".into(),
        (Workload::Node, _) => "(d) 30 min against a Node target".into(),
        (Workload::Scale, false) => "(e) 10,000 concurrent streams, 10 min".into(),
        (Workload::Scale, true) => "(e) 1,000 concurrent streams, 1 min (short)".into(),
    }
}

/// Measures one side of one workload in this process (the child's job).
pub fn measure(w: Workload, side: Side, short: bool, jobs: usize) -> Result<SideResult, String> {
    let plan = plan(w, short)?;
    let virtual_s: f64 = plan.iter().map(|(s, _)| s.duration.as_secs_f64()).sum();
    let runs = plan.len();
    // The one wall-clock read in the crate: it times the harness from outside the simulation
    // (after planning, before running) and only reaches the benchmark table, never a trace.
    #[allow(clippy::disallowed_methods)]
    let start = std::time::Instant::now();
    let unexpected = match side {
        Side::Middlebox | Side::Network => {
            let engine = match side {
                Side::Network => Engine::Network,
                _ => Engine::default(),
            };
            let (scenarios, targets): (Vec<Scenario>, Vec<TargetInfo>) = plan.into_iter().unzip();
            let results = run_pairs(&scenarios, &targets, jobs, engine);
            results.iter().filter(|u| **u).count()
        }
        Side::Baseline => {
            let scenarios: Vec<Scenario> = plan.into_iter().map(|(s, _)| s).collect();
            suite::parallel(scenarios.len(), jobs, |i| plain_stepping(&scenarios[i]));
            0
        }
    };
    let wall_s = start.elapsed().as_secs_f64();
    Ok(SideResult {
        wall_s,
        virtual_s,
        runs,
        peak_rss_mib: peak_rss_mib(),
        unexpected,
    })
}

/// Runs pair `i` = (scenarios[i], targets[i]) for every i; true where the outcome was
/// unexpected.
fn run_pairs(
    scenarios: &[Scenario],
    targets: &[TargetInfo],
    jobs: usize,
    engine: Engine,
) -> Vec<bool> {
    suite::parallel(scenarios.len(), jobs, |i| {
        suite::run_one_on(engine, &scenarios[i], &targets[i], None).unexpected
    })
}

/// Bare turmoil stepping of `scenario`'s topology (client, its intermediaries, server) with
/// its tick for its duration, every host idle: what stepping alone costs.
pub fn plain_stepping(scenario: &Scenario) {
    let mut sim = turmoil::Builder::new()
        .rng_seed(1)
        .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
        .tick_duration(scenario.tick)
        .simulation_duration(scenario.duration + Duration::from_secs(60))
        .min_message_latency(Duration::ZERO)
        .max_message_latency(Duration::ZERO)
        .build();
    let idle = || async {
        std::future::pending::<()>().await;
        Ok(())
    };
    sim.host("server", idle);
    for i in &scenario.intermediaries {
        sim.host(i.name.clone(), idle);
    }
    let d = scenario.duration;
    sim.client("client", async move {
        tokio::time::sleep(d).await;
        Ok(())
    });
    sim.run().expect("bare stepping finishes");
}

/// Peak resident set size of this process in MiB (Linux only).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Builds a row from both sides' results.
pub fn row(
    w: Workload,
    short: bool,
    mb: Result<SideResult, String>,
    net: Result<SideResult, String>,
    base: Result<SideResult, String>,
) -> Row {
    let description = describe(w, short);
    let network_ratio_to_baseline = match (&net, &base) {
        (Ok(n), Ok(b)) => Some(n.wall_s / b.wall_s.max(1e-9)),
        _ => None,
    };
    let network = net.ok();
    match (mb, base) {
        (Ok(m), Ok(b)) => Row {
            network,
            network_ratio_to_baseline,
            workload: w.id(),
            description,
            status: if m.unexpected == 0 { "ok" } else { "failed" },
            note: (m.unexpected > 0)
                .then(|| format!("{} runs had an unexpected outcome", m.unexpected)),
            virtual_per_wall: Some(m.virtual_s / m.wall_s.max(1e-9)),
            baseline_virtual_per_wall: Some(b.virtual_s / b.wall_s.max(1e-9)),
            ratio_to_baseline: Some(m.wall_s / b.wall_s.max(1e-9)),
            middlebox: Some(m),
            baseline: Some(b),
        },
        (m, b) => {
            let note = [m.as_ref().err(), b.as_ref().err()]
                .into_iter()
                .flatten()
                .next()
                .cloned();
            let unavailable = matches!(w, Workload::Node);
            Row {
                network,
                network_ratio_to_baseline,
                workload: w.id(),
                description,
                status: if unavailable { "unavailable" } else { "failed" },
                note,
                virtual_per_wall: None,
                baseline_virtual_per_wall: None,
                ratio_to_baseline: None,
                middlebox: m.ok(),
                baseline: b.ok(),
            }
        }
    }
}

/// The human table.
pub fn render_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| workload | runs | virtual | middlebox wall | virtual s / wall s | peak RSS | network engine wall | plain stepping wall | its virtual s / wall s | ratio middlebox ÷ stepping | ratio network engine ÷ stepping |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let f1 = |x: Option<f64>, unit: &str| x.map(|v| format!("{v:.1}{unit}")).unwrap_or("—".into());
    for r in rows {
        match (&r.middlebox, &r.baseline) {
            (Some(m), Some(b)) => out.push_str(&format!(
                "| {} | {} | {} | {:.3} s | {:.0} | {} | {} | {:.2} s | {:.0} | {:.4} | {} |\n",
                r.description,
                m.runs,
                middlebox::time::span(Duration::from_secs_f64(m.virtual_s.round())),
                m.wall_s,
                r.virtual_per_wall.unwrap_or(0.0),
                f1(m.peak_rss_mib, " MiB"),
                r.network
                    .as_ref()
                    .map(|n| format!("{:.2} s", n.wall_s))
                    .unwrap_or("—".into()),
                b.wall_s,
                r.baseline_virtual_per_wall.unwrap_or(0.0),
                r.ratio_to_baseline.unwrap_or(0.0),
                r.network_ratio_to_baseline
                    .map(|x| format!("{x:.2}"))
                    .unwrap_or("—".into()),
            )),
            _ => out.push_str(&format!(
                "| {} | — | — | {} | — | — | — | — | — | — | — |\n",
                r.description,
                r.note.as_deref().unwrap_or(r.status)
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_plans_are_small_and_valid() {
        let a = plan(Workload::IdleStream, true).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].0.duration, Duration::from_secs(3600));
        assert_eq!(a[0].0.intermediaries.len(), 2);
        let b = plan(Workload::ManyStreams, true).unwrap();
        assert_eq!(b[0].0.client.steps.len(), 100);
        let scale = plan(Workload::Scale, false).unwrap();
        assert_eq!(scale[0].0.client.steps.len(), 10_000);
        assert_eq!(scale[0].0.duration, Duration::from_secs(600));
        let full = plan(Workload::ManyStreams, false).unwrap();
        assert_eq!(full[0].0.client.steps.len(), 1000);
        assert_eq!(full[0].0.duration, Duration::from_secs(3600));
        // Against the real TypeScript SDK when the Node adapter is installed; otherwise
        // the plan says how to install it.
        match plan(Workload::Node, true) {
            Err(e) => assert!(e.contains("harness/setup"), "{e}"),
            Ok(p) => {
                assert_eq!(p.len(), 1);
                assert_eq!(p[0].1.name, "ts-sdk-server@1.32.2");
                assert_eq!(p[0].0.duration, Duration::from_secs(1800));
            }
        }
    }

    #[test]
    fn a_measured_side_reports_virtual_time_and_runs() {
        let mut s = plan(Workload::IdleStream, true).unwrap().remove(0).0;
        s.duration = Duration::from_secs(2);
        plain_stepping(&s); // finishes (a client that sleeps 2 s)
        let m = SideResult {
            wall_s: 2.0,
            virtual_s: 100.0,
            runs: 1,
            peak_rss_mib: None,
            unexpected: 0,
        };
        let b = SideResult {
            wall_s: 4.0,
            ..m.clone()
        };
        let n = SideResult {
            wall_s: 8.0,
            ..m.clone()
        };
        let r = row(Workload::IdleStream, true, Ok(m), Ok(n), Ok(b));
        assert_eq!(r.status, "ok");
        assert_eq!(r.ratio_to_baseline, Some(0.5));
        assert_eq!(r.network_ratio_to_baseline, Some(2.0));
        assert_eq!(r.virtual_per_wall, Some(50.0));
        let t = render_table(&[r]);
        assert!(t.contains("| 0.5000 | 2.00 |"), "{t}");
        let u = row(
            Workload::Node,
            true,
            Err("no Node target yet".into()),
            Err("no Node target yet".into()),
            Err("no Node target yet".into()),
        );
        assert_eq!(u.status, "unavailable");
        assert!(render_table(&[u]).contains("no Node target yet"));
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_mib().unwrap() > 1.0);
        }
    }
}
