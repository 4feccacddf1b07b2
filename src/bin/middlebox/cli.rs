//! The `middlebox` command line.
//!
//! ```text
//!  middlebox run [PATH...] [--target NAME]... [--seed N] [--format text|json|junit] [--out DIR]
//!  middlebox targets | presets | check PATH... | explain PATH
//!  middlebox bench [--short] [--workload W]... [--format text|json]
//!  middlebox adapter-check --impl IMPL@VERSION [--options JSON] CMD...
//!  middlebox proxy --preset NAME --listen ADDR --upstream ADDR [--idle-timeout SPAN|off]... [--for SPAN]
//!  middlebox probe URL [--for SPAN] [--format text|json]
//! ```
//! Exit codes: 0 every outcome as expected, 1 an unexpected outcome, 2 usage or
//! scenario-file errors.

use clap::{Parser, Subcommand, ValueEnum};
use middlebox::report::{render_junit, render_matrix, render_text, Report, RunResult, WIDTH};
use middlebox::scenario::{self, Scenario};
use middlebox::targets::{self, TargetInfo};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Deterministic simulation and conformance harness for long-lived HTTP streaming
/// (SSE, MCP Streamable HTTP) behind simulated proxies, load balancers and CDNs.
#[derive(Parser, Debug)]
#[command(name = "middlebox", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run scenarios against targets and report verdicts.
    Run(RunArgs),
    /// List the targets (implementations under test).
    Targets,
    /// List the intermediary presets and their sources.
    Presets {
        /// Print a Markdown table (as in the README).
        #[arg(long)]
        markdown: bool,
    },
    /// Validate scenario files without running them.
    Check {
        /// Scenario files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print a scenario as resolved, in the file's own keys: presets merged, defaults
    /// filled in.
    Explain {
        /// One scenario file.
        path: PathBuf,
        /// Print every resolved setting as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Time fixed workloads against bare turmoil stepping of the same topology.
    Bench(BenchArgs),
    /// Join the report.json files of the shards of one run (`run --shard K/N --out DIR`)
    /// into one report; exit 1 when an outcome in any of them was unexpected.
    Merge(MergeArgs),
    /// Drive an adapter through the clock-control protocol and report, rule by rule, where
    /// it deviates (the protocol: harness/CLOCK-PROTOCOL.md).
    #[command(
        long_about = "Drive an adapter (the program that runs an implementation in another language on \
virtual time) through a fixed sequence of clock-control protocol exchanges and report, rule by rule, \
where it deviates. The protocol, every rule's id and an example exchange: harness/CLOCK-PROTOCOL.md.\n\n\
Exit codes: 0 every rule held, 1 a rule was broken or not reached, 2 usage errors.",
        after_help = "Examples (from the repository root, after harness/setup):\n  \
middlebox adapter-check --impl ts-sdk-server@1.32.2 -- node harness/node/server.mjs\n  \
middlebox adapter-check --impl python-sdk-server@2.3.0 -- harness/python/.venv/bin/python harness/python/server.py"
    )]
    AdapterCheck(AdapterCheckArgs),
    /// Run a preset's behaviors as a real HTTP proxy on real time, printing each decision as
    /// it happens and writing the trace on exit.
    Proxy(crate::proxy::ProxyArgs),
    /// Check a running MCP endpoint on real time, through whatever sits in front of it:
    /// initialize, tools/list, then watch the GET stream's keepalives for a span.
    #[command(
        long_about = "Check a running MCP Streamable HTTP endpoint on real time, through whatever sits in \
front of it: POST initialize, notifications/initialized and tools/list, then open the GET stream and \
watch it for --for SPAN: time to headers and to first byte, every keepalive's arrival and shape, \
keepalives bunched into one read (buffering), and who ended the stream. The report judges \
keepalive.cadence, keepalive.format, stream.buffering and stream.survives, and for each preset \
whether the observed largest gap stays under its idle limit (pass / fail / unobservable, as in `run`).\n\n\
Only plain http:// is supported; https:// is not supported yet.\n\n\
Exit codes: 0 nothing failed, 1 something failed, 2 usage or connection errors.",
        after_help = "Example:\n  middlebox probe http://127.0.0.1:8080/mcp --for 2m"
    )]
    Probe(ProbeArgs),
}

#[derive(clap::Args, Debug)]
pub struct ProbeArgs {
    /// The MCP endpoint, http:// only (e.g. http://127.0.0.1:8080/mcp).
    pub url: String,
    /// How long to watch the GET stream (a span: 60s, 2m, 1500ms). To judge a preset's idle
    /// limit without a steady keepalive, watch longer than the limit.
    #[arg(long = "for", value_name = "SPAN", default_value = "60s", value_parser = middlebox::time::parse_span)]
    pub span: std::time::Duration,
    /// Output format on stdout: text or json.
    #[arg(long, value_enum, default_value_t = ProbeFormat::Text)]
    pub format: ProbeFormat,
}

/// `probe`'s output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProbeFormat {
    Text,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct AdapterCheckArgs {
    /// The adapter's role. Only server adapters are checked so far.
    #[arg(long, value_enum, default_value_t = Role::Server)]
    pub role: Role,
    /// What `start` asks the adapter to build: its `impl` and `version`, in the adapter's own
    /// names (e.g. ts-sdk-server@1.32.2).
    #[arg(long = "impl", value_name = "IMPL@VERSION")]
    pub implementation: String,
    /// The `options` object of `start`, as JSON (default: {}).
    #[arg(long, value_name = "JSON")]
    pub options: Option<String>,
    /// The adapter's command line: a program and its arguments, run as they are in the
    /// current folder (no shell: use `sh -c '...'` for a shell line). Put `--` before it.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub cmd: Vec<String>,
}

/// An adapter's role in the clock-control protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Role {
    Server,
    Client,
}

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The shards' report.json files.
    #[arg(required = true, value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Text: also the full scenarios × targets grid.
    #[arg(long)]
    pub matrix: bool,
}

/// `K/N` with 1 ≤ K ≤ N.
fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{s}`: expected K/N with 1 ≤ K ≤ N, like 2/4");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Small versions of the workloads (seconds, for CI) instead of the full ones.
    #[arg(long)]
    pub short: bool,
    /// Workload to run (repeatable). Default: all.
    #[arg(long = "workload", short = 'w', value_enum)]
    pub workloads: Vec<crate::bench::Workload>,
    /// Output: a Markdown table (text) or one JSON object per workload (json).
    #[arg(long, value_enum, default_value_t = BenchFormat::Text)]
    pub format: BenchFormat,
    /// Parallel simulations for the suite workload (default: the number of cores).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Skip timing middlebox on the network engine (the slow column).
    #[arg(long)]
    pub no_network: bool,
    /// Internal: measure one side of one workload in this process and print one JSON line.
    #[arg(long, hide = true, value_enum, requires = "side")]
    pub only: Option<crate::bench::Workload>,
    /// Internal: which side `--only` measures.
    #[arg(long, hide = true, value_enum)]
    pub side: Option<crate::bench::Side>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BenchFormat {
    Text,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Scenario files or directories (searched for *.toml).
    #[arg(default_value = "scenarios")]
    pub paths: Vec<PathBuf>,
    /// Target to run (repeatable). Default: for the files of middlebox's own scenarios/,
    /// every built-in target but rmcp (its traces are not reproducible; see `middlebox
    /// targets`); for any other scenario file, the reference only (the bug models belong to
    /// the suite). `exec:CMD` runs any HTTP server (started by CMD with PORT set) on real
    /// time; `node:PATH` your own Node program and `python:MODULE:APP` your own ASGI app on
    /// virtual time.
    #[arg(long = "target", short = 't', value_name = "NAME")]
    pub targets: Vec<String>,
    /// Seed for every scenario (overrides the files' `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The Python that runs `python:MODULE:APP` targets (one with your app's dependencies,
    /// e.g. `.venv/bin/python`). Default: `$MIDDLEBOX_PYTHON`, else the active virtualenv's,
    /// else `python3`. Repeated in reproduce lines.
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Known failures declared outside the scenario files (repeatable): a TOML baseline of
    /// `["TARGET"."SCENARIO"]` tables of `"CHECK" = "REASON"`. An entry that no longer
    /// fails is reported as stale and fails the run.
    #[arg(long = "expect", value_name = "FILE")]
    pub expect: Vec<PathBuf>,
    /// Run only shard K of N (`2/4`): every N-th scenario × target pair, starting at the
    /// K-th, so N CI machines split one run; `middlebox merge` joins their report.json files.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Also print the full scenarios × targets matrix (one character per cell, targets
    /// numbered, split into pages that fit 100 columns) before the summary.
    #[arg(long)]
    pub matrix: bool,
    /// Also write report.json, every trace (text and JSON) and the HTML report (index.html,
    /// runs/) under this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Parallel simulations (default: the number of cores).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Server keepalive for every scenario (a span like `15s`, or `off`): overrides the
    /// files' `[server] keepalive`, for the reference server and real implementations alike.
    #[arg(long, value_name = "SPAN|off")]
    pub keepalive: Option<String>,
    /// Give the server an event store (resumability) or not: overrides the files'
    /// `[server] event-store`.
    #[arg(long, value_name = "on|off")]
    pub event_store: Option<OnOff>,
    /// Simulation engine: `events` (cost follows events; no faults), `network` (turmoil,
    /// stepped every tick; every fault), or `auto` (events unless the scenario has faults).
    #[arg(long, value_enum, default_value_t = middlebox::sim::Engine::default())]
    pub engine: middlebox::sim::Engine,
    /// Internal: print this process's peak resident memory (VmHWM) on stderr at exit.
    #[arg(long, hide = true)]
    pub peak_rss: bool,
}

/// A switch on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Junit,
}

/// Entry point used by `main`.
pub fn main_with(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Run(a) => cmd_run(a),
        Command::Targets => cmd_targets(),
        Command::Presets { markdown } => cmd_presets(markdown),
        Command::Check { paths } => cmd_check(&paths),
        Command::Explain { path, json } => cmd_explain(&path, json),
        Command::Bench(a) => cmd_bench(a),
        Command::Merge(a) => cmd_merge(a),
        Command::AdapterCheck(a) => cmd_adapter_check(a),
        Command::Proxy(a) => crate::proxy::cmd_proxy(a),
        Command::Probe(a) => cmd_probe(a),
    }
}

fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn cmd_bench(a: BenchArgs) -> ExitCode {
    use crate::bench::{self, Workload};
    let jobs = a.jobs.unwrap_or_else(default_jobs);
    if let (Some(w), Some(side)) = (a.only, a.side) {
        return match bench::measure(w, side, a.short, jobs) {
            Ok(r) => {
                emit(&format!(
                    "{}\n",
                    serde_json::to_string(&r).expect("serializable")
                ));
                ExitCode::SUCCESS
            }
            Err(e) => usage_error(&e),
        };
    }
    let workloads = if a.workloads.is_empty() {
        Workload::ALL.to_vec()
    } else {
        a.workloads.clone()
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return usage_error(&format!("cannot find this program to re-run it: {e}")),
    };
    // Each side runs in its own process, one after the other, so that its peak memory is
    // its own and the two never compete for cores.
    let child = |w: Workload, side: bench::Side| -> Result<bench::SideResult, String> {
        bench::plan(w, a.short)?;
        let side_name = match side {
            bench::Side::Middlebox => "middlebox",
            bench::Side::Network => "network",
            bench::Side::Baseline => "baseline",
        };
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["bench", "--only", w.id(), "--side", side_name, "--jobs"])
            .arg(jobs.to_string());
        if a.short {
            cmd.arg("--short");
        }
        let out = cmd
            .output()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} side of {} failed: {}",
                side_name,
                w.id(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("unreadable child output: {e}"))
    };
    let mut rows = Vec::new();
    for w in workloads {
        if a.format == BenchFormat::Text {
            eprintln!("bench: {} …", bench::describe(w, a.short));
        }
        let m = child(w, bench::Side::Middlebox);
        let n = if a.no_network {
            Err("skipped (--no-network)".to_string())
        } else if w == Workload::Scale && !a.short {
            // 10,000 sockets stepped every millisecond for 10 minutes: not worth the wait.
            Err("not measured on the network engine".to_string())
        } else {
            child(w, bench::Side::Network)
        };
        let b = child(w, bench::Side::Baseline);
        let row = bench::row(w, a.short, m, n, b);
        if a.format == BenchFormat::Json {
            emit(&format!(
                "{}\n",
                serde_json::to_string(&row).expect("serializable")
            ));
        }
        rows.push(row);
    }
    if a.format == BenchFormat::Text {
        emit(&format!(
            "{}\nmachine: {} cores; tick 1 ms; middlebox = default engine (auto: events unless the scenario has faults); network engine = turmoil stepped every tick; plain stepping = bare turmoil, same hosts, idle software\n",
            bench::render_table(&rows),
            default_jobs()
        ));
    }
    if rows.iter().any(|r| r.status == "failed") {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// A note on stderr, wrapped to the report's width.
fn note(text: &str) {
    let opts = textwrap::Options::new(WIDTH)
        .subsequent_indent("  ")
        .break_words(false)
        .word_splitter(textwrap::WordSplitter::NoHyphenation);
    for line in textwrap::wrap(&format!("note: {text}"), opts) {
        eprintln!("{line}");
    }
}

/// `1 scenario × target pair`, `3 scenario × target pairs`.
fn pairs_word(n: usize) -> String {
    middlebox::report::count(n, "scenario × target pair")
}

/// The folder of middlebox's own scenario suite (`scenarios/` next to this crate's
/// manifest), when it exists on this machine.
fn own_suite() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .canonicalize()
        .ok()
}

/// Whether the scenario's file is under `dir` (a canonical path).
fn in_dir(s: &Scenario, dir: &Path) -> bool {
    Path::new(&s.path)
        .canonicalize()
        .is_ok_and(|p| p.starts_with(dir))
}

/// How a reproduce line invokes this program so that it runs as printed: `middlebox` when
/// that name on `PATH` is this program; else this program's path, relative to the working
/// directory when it is under it (`target/release/middlebox` after `cargo run --release`).
fn program_name() -> String {
    let Some(exe) = std::env::current_exe()
        .ok()
        .and_then(|e| e.canonicalize().ok())
    else {
        return "middlebox".to_string();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p)
            .any(|d| d.join("middlebox").canonicalize().ok().as_ref() == Some(&exe))
    });
    if on_path {
        return "middlebox".to_string();
    }
    let cwd = std::env::current_dir()
        .ok()
        .and_then(|d| d.canonicalize().ok());
    let shown = match cwd.and_then(|d| exe.strip_prefix(d).ok().map(Path::to_path_buf)) {
        Some(rel) => rel.display().to_string(),
        None => exe.display().to_string(),
    };
    middlebox::report::shell_word(&shown)
}

/// The progress bar on stderr: drawn only when stdout and stderr are a terminal, and only
/// once the run has taken more than two seconds (a short run prints nothing extra).
struct Progress {
    bar: indicatif::ProgressBar,
    // Wall time is read for this display only; nothing of it reaches a trace or a report.
    #[allow(clippy::disallowed_methods)]
    started: std::time::Instant,
    shown: std::sync::atomic::AtomicBool,
    tty: bool,
}

impl Progress {
    #[allow(clippy::disallowed_methods)]
    fn new(total: usize) -> Self {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total as u64),
            indicatif::ProgressDrawTarget::hidden(),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} runs  {wide_msg}")
                .expect("a valid template")
                .progress_chars("█▌ "),
        );
        Self {
            bar,
            started: std::time::Instant::now(),
            shown: std::sync::atomic::AtomicBool::new(false),
            // Only when both go to a terminal: `middlebox run > report.txt` draws nothing.
            tty: std::io::stderr().is_terminal() && std::io::stdout().is_terminal(),
        }
    }

    fn ran(&self, r: &RunResult) {
        use std::sync::atomic::Ordering;
        if self.tty
            && self.started.elapsed() > std::time::Duration::from_secs(2)
            && !self.shown.swap(true, Ordering::SeqCst)
        {
            self.bar
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        self.bar
            .set_message(format!("{} × {}", r.scenario, r.target));
        self.bar.inc(1);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// Loads every scenario under `paths`; prints every error and returns None if any.
pub fn load_all(paths: &[PathBuf]) -> Option<Vec<Scenario>> {
    let files = match scenario::discover(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return None;
        }
    };
    let mut ok = Vec::new();
    let mut failed = false;
    for f in files {
        match scenario::load(&f) {
            Ok(s) => match check_targets(&s) {
                Ok(()) => ok.push(s),
                Err(msg) => {
                    eprintln!("{msg}");
                    failed = true;
                }
            },
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        None
    } else {
        Some(ok)
    }
}

/// Every `[expect-fail."NAME"]` must name a known target that runs on the scenario.
fn check_targets(s: &Scenario) -> Result<(), String> {
    for name in s.expect_fail.keys() {
        match targets::get(name) {
            None => {
                let known: Vec<_> = targets::all().iter().map(|t| t.name).collect();
                return Err(format!(
                    "error: {}: expect-fail.\"{name}\": unknown target; expected one of: {}\n  hint: `middlebox targets` lists them",
                    s.path,
                    known.join(", ")
                ));
            }
            Some(t) if t.in_scope(s) && t.cannot_honour(s).is_some() => {
                let (key, why) = t.cannot_honour(s).expect("checked just above");
                let place = s.expect_fail_at.get(name).cloned().unwrap_or_default();
                return Err(middlebox::scenario::ScenarioError {
                    file: s.path.clone(),
                    line: place.line,
                    column: place.column,
                    key_path: place.path,
                    message: format!(
                        "{name} never runs on this scenario: it cannot honour `{}` (line {}): {why}; expected no [expect-fail] table for it",
                        key.at.path, key.at.line
                    ),
                    hint: Some("remove the table".into()),
                }
                .to_string());
            }
            Some(t) if !t.applies_to(s) => {
                return Err(format!(
                    "error: {}: expect-fail.\"{name}\": this target does not run on this scenario ({})\n  hint: remove the table",
                    s.path,
                    if s.uses_mcp() {
                        "it has no MCP endpoint and the scenario speaks MCP"
                    } else {
                        "it only runs on scenarios whose client speaks MCP, and this one has no MCP step"
                    }
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The options of `run` that change a run, applied to every scenario and recorded in its
/// `cli_options` so that reproduce lines repeat them: `--keepalive`, `--event-store`, and
/// `--engine` when it is not `auto` (an `exec:` target runs on real time whatever it says, so
/// its reproduce line needs no `--engine`; one given is repeated).
fn apply_run_options(scenarios: &mut [Scenario], a: &RunArgs) -> Result<(), String> {
    apply_server_options(scenarios, a.keepalive.as_deref(), a.event_store)?;
    // A baseline changes what is expected, so a reproduce line repeats it.
    for f in &a.expect {
        for s in scenarios.iter_mut() {
            s.cli_options
                .extend(["--expect".to_string(), f.display().to_string()]);
        }
    }
    if let Some(p) = &a.python {
        for s in scenarios.iter_mut() {
            s.cli_options
                .extend(["--python".to_string(), p.display().to_string()]);
        }
    }
    if a.engine != middlebox::sim::Engine::Auto {
        let name = a
            .engine
            .to_possible_value()
            .expect("every engine has a name")
            .get_name()
            .to_string();
        for s in scenarios {
            s.cli_options.extend(["--engine".to_string(), name.clone()]);
        }
    }
    Ok(())
}

/// `--keepalive` and `--event-store`: every scenario's `[server]` settings, overridden.
fn apply_server_options(
    scenarios: &mut [middlebox::scenario::Scenario],
    keepalive: Option<&str>,
    event_store: Option<OnOff>,
) -> Result<(), String> {
    let keepalive = match keepalive {
        None => None,
        Some(k) if k.trim() == "off" => Some(None),
        Some(k) => {
            let d = middlebox::time::parse_span(k)
                .map_err(|e| format!("--keepalive {k:?}: {e}; expected a span like 15s, or off"))?;
            if d.is_zero() {
                return Err(format!(
                    "--keepalive {k:?} is 0s; expected a span more than 0s, or off"
                ));
            }
            Some(Some(d))
        }
    };
    for s in scenarios {
        if let Some(k) = keepalive {
            s.server.keepalive = k;
            s.server.keepalive_set = true;
            let shown = k.map_or_else(|| "off".to_string(), middlebox::time::span);
            s.cli_options.extend(["--keepalive".to_string(), shown]);
        }
        if let Some(e) = event_store {
            s.server.event_store = e == OnOff::On;
            let shown = if e == OnOff::On { "on" } else { "off" };
            s.cli_options
                .extend(["--event-store".to_string(), shown.to_string()]);
        }
    }
    Ok(())
}

fn resolve_targets(names: &[String]) -> Result<Vec<TargetInfo>, String> {
    let names: Vec<String> = if names.is_empty() {
        targets::default_names()
            .into_iter()
            .map(String::from)
            .collect()
    } else {
        names.to_vec()
    };
    let mut out: Vec<TargetInfo> = Vec::new();
    for n in names {
        match targets::get(&n) {
            Some(t) if !out.iter().any(|o| o.name == t.name) => out.push(t),
            Some(_) => {}
            None => {
                let mut known: Vec<_> = targets::all().iter().map(|t| t.name).collect();
                known.push("ts-sdk-server@VERSION (an exact version, or file:DIR)");
                known.push("ts-server@VERSION, ts-sdk-client@VERSION, python-sdk-server@VERSION (the same forms)");
                known.push("node:PATH");
                known.push("python:MODULE:APP");
                known.push("exec:CMD");
                return Err(format!(
                    "unknown target {n:?}; expected one of: {}\n  hint: `middlebox targets` lists them",
                    known.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

/// The file name of a result's traces and run page (moved to the library, where the HTML
/// report needs it too).
pub use middlebox::report::trace_file_name;
#[cfg(test)]
use middlebox::report::NAME_MAX;

/// `--out DIR`, checked before the run: the directory can be created and written, and a
/// `traces/` in it is one middlebox wrote (only `NAME@TARGET.txt|json` files), and so is a
/// `runs/` (only `NAME@TARGET.html`), since the run replaces them.
fn prepare_out(dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    std::fs::create_dir_all(dir).map_err(|e| format!("--out {shown}: cannot create it: {e}"))?;
    let probe = dir.join(format!(".middlebox-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| format!("--out {shown}: cannot write in it: {e}"))?;
    let _ = std::fs::remove_file(&probe);
    let traces = dir.join("traces");
    if traces.exists() {
        let ours = std::fs::read_dir(&traces)
            .map_err(|e| format!("--out {shown}: cannot read traces/: {e}"))?
            .all(|e| {
                e.ok().is_some_and(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    e.file_type().is_ok_and(|t| t.is_file())
                        && n.contains('@')
                        && (n.ends_with(".txt") || n.ends_with(".json"))
                })
            });
        if !ours {
            return Err(format!(
                "--out {shown}: {} holds files middlebox did not write, and a run replaces it\n  hint: choose another --out directory, or move them",
                traces.display()
            ));
        }
    }
    let runs = dir.join("runs");
    if runs.exists() {
        let ours = std::fs::read_dir(&runs)
            .map_err(|e| format!("--out {shown}: cannot read runs/: {e}"))?
            .all(|e| {
                e.ok().is_some_and(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    e.file_type().is_ok_and(|t| t.is_file())
                        && n.contains('@')
                        && n.ends_with(".html")
                })
            });
        if !ours {
            return Err(format!(
                "--out {shown}: {} holds files middlebox did not write, and a run replaces it\n  hint: choose another --out directory, or move them",
                runs.display()
            ));
        }
    }
    Ok(())
}

/// Writes `report.json`, `traces/` and the HTML report (`index.html`, `runs/`) under `dir`.
/// The traces go to a fresh directory that then replaces `traces/` (so traces of an earlier
/// run never mix with these), and the report to a temporary file renamed over `report.json`
/// (a reader never sees half of it).
fn write_out(dir: &Path, report: &Report) -> std::io::Result<()> {
    let pid = std::process::id();
    let fresh = dir.join(format!(".traces-new-{pid}"));
    let old = dir.join(format!(".traces-old-{pid}"));
    let _ = std::fs::remove_dir_all(&fresh);
    std::fs::create_dir_all(&fresh)?;
    let written = (|| {
        for r in &report.results {
            let base = trace_file_name(&r.scenario, &r.target);
            std::fs::write(
                fresh.join(format!("{base}.txt")),
                middlebox::trace::render_text(&r.trace),
            )?;
            std::fs::write(fresh.join(format!("{base}.json")), r.trace.to_json())?;
        }
        let traces = dir.join("traces");
        if traces.exists() {
            std::fs::rename(&traces, &old)?;
        }
        std::fs::rename(&fresh, &traces)?;
        let _ = std::fs::remove_dir_all(&old);
        let tmp = dir.join(format!(".report.json.{pid}"));
        std::fs::write(&tmp, report.to_json())?;
        std::fs::rename(&tmp, dir.join("report.json"))?;
        write_html(dir, report)
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&fresh);
    }
    written
}

/// Writes the HTML report under `dir`: the run pages to a fresh directory that then replaces
/// `runs/` (a page of an earlier run never lingers), then `index.html` through a temporary
/// file.
fn write_html(dir: &Path, report: &Report) -> std::io::Result<()> {
    let pid = std::process::id();
    let fresh = dir.join(format!(".runs-new-{pid}"));
    let old = dir.join(format!(".runs-old-{pid}"));
    let _ = std::fs::remove_dir_all(&fresh);
    std::fs::create_dir_all(&fresh)?;
    let written = (|| {
        // The run pages are rendered and written on every core.
        let chunk = report.results.len().div_ceil(default_jobs()).max(1);
        std::thread::scope(|s| {
            let writers: Vec<_> = report
                .results
                .chunks(chunk)
                .map(|rs| {
                    let fresh = &fresh;
                    s.spawn(move || -> std::io::Result<()> {
                        for r in rs {
                            let f = middlebox::report::render_run_page(r);
                            let name = f.path.rsplit('/').next().unwrap_or(&f.path);
                            std::fs::write(fresh.join(name), f.text)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            writers
                .into_iter()
                .try_for_each(|w| w.join().expect("a page writer panicked"))
        })?;
        let runs = dir.join("runs");
        if runs.exists() {
            std::fs::rename(&runs, &old)?;
        }
        std::fs::rename(&fresh, &runs)?;
        let _ = std::fs::remove_dir_all(&old);
        let tmp = dir.join(format!(".index.html.{pid}"));
        std::fs::write(&tmp, middlebox::report::render_index(report).text)?;
        std::fs::rename(&tmp, dir.join("index.html"))
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&fresh);
    }
    written
}

/// Writes `text` to stdout. A reader that went away (`middlebox explain F | head`) ends the
/// output quietly: Rust ignores SIGPIPE, so `println!` would panic there. Any other error is
/// said on stderr; the exit code stays the command's.
fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write to stdout: {e}");
        }
    }
}

fn cmd_run(a: RunArgs) -> ExitCode {
    if let Some(p) = &a.python {
        if !p.is_file() {
            return usage_error(&format!(
                "--python {}: no such file; expected the path of a Python interpreter (e.g. .venv/bin/python)",
                p.display()
            ));
        }
        // Read by the adapters' launcher (src/targets/process). Set before any thread starts.
        std::env::set_var("MIDDLEBOX_PYTHON", p);
    }
    let targets = match resolve_targets(&a.targets) {
        Ok(t) => t,
        Err(e) => return usage_error(&e),
    };
    let Some(mut scenarios) = load_all(&a.paths) else {
        return ExitCode::from(2);
    };
    if let Err(e) = apply_run_options(&mut scenarios, &a) {
        return usage_error(&e);
    }
    let names: Vec<&str> = targets.iter().map(|t| t.name).collect();
    for file in &a.expect {
        let applied =
            middlebox::baseline::Baseline::load(file).and_then(|b| b.apply(&mut scenarios, &names));
        match applied {
            Ok(0) => {}
            Ok(n) => note(&format!(
                "{} of {} not judged: its target or scenario is not in this run",
                if n == 1 {
                    "1 entry".to_string()
                } else {
                    format!("{n} entries")
                },
                file.display()
            )),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    if scenarios.is_empty() {
        return usage_error("no scenario files found (expected *.toml under the given paths)");
    }
    // A target named on the command line must honour every key of a scenario file named on
    // the command line; otherwise (a default target, or a file found in a directory) the
    // pair is left out, with a note.
    let named: Vec<PathBuf> = a
        .paths
        .iter()
        .filter(|p| p.is_file())
        .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
        .collect();
    let is_named = |s: &Scenario| {
        let p = Path::new(&s.path);
        named.contains(&p.canonicalize().unwrap_or_else(|_| p.to_path_buf()))
    };
    // Without --target, a scenario file of middlebox's own suite runs against every default
    // target (the bug models are expected to fail it as the file declares); any other file
    // runs against the reference only: bug models belong to the suite.
    let suite = own_suite();
    let selected = |s: &Scenario, t: &TargetInfo| {
        !a.targets.is_empty()
            || t.name == "reference"
            || suite.as_deref().is_some_and(|d| in_dir(s, d))
    };
    let outside = scenarios
        .iter()
        .filter(|s| a.targets.is_empty() && !suite.as_deref().is_some_and(|d| in_dir(s, d)))
        .count();
    if outside > 0 {
        note(&format!(
            "{} outside middlebox's own suite {} against `reference` only; name targets with --target (e.g. --target exec:CMD for your own server)",
            middlebox::report::count(outside, "scenario file"),
            if outside == 1 { "runs" } else { "run" }
        ));
    }
    let mut refused = false;
    let mut unhonoured = Vec::new();
    for s in &scenarios {
        for t in targets.iter().filter(|t| t.in_scope(s) && selected(s, t)) {
            match t.refusal(s) {
                Some(e) if !a.targets.is_empty() && is_named(s) => {
                    eprintln!("{e}");
                    refused = true;
                }
                Some(e) => unhonoured.push((t.name, &s.path, e.key_path)),
                None => {}
            }
        }
    }
    if refused {
        return ExitCode::from(2);
    }
    if let Some((t, path, key)) = unhonoured.first() {
        note(&format!(
            "{} not run: the target cannot honour a key the scenario sets (e.g. {t} × {path}: {key}; `--target {t}` says why)",
            pairs_word(unhonoured.len())
        ));
    }
    if let Some(dir) = &a.out {
        if let Err(e) = prepare_out(dir) {
            return usage_error(&e);
        }
    }
    let jobs = a.jobs.unwrap_or_else(default_jobs);
    let mut pairs: Vec<(usize, usize)> = middlebox::suite::pairs(&scenarios, &targets)
        .into_iter()
        .filter(|&(s, t)| selected(&scenarios[s], &targets[t]))
        .collect();
    let total = pairs.len();
    let skipped = scenarios.len() * targets.len() - total - unhonoured.len();
    if skipped > 0 && !a.targets.is_empty() {
        note(&format!(
            "{} not run: those targets only run on MCP scenarios, or only on plain SSE ones (see `middlebox targets`)",
            pairs_word(skipped)
        ));
    }
    if total == 0 {
        // Nothing would run: that is no pass.
        return usage_error(
            "no scenario × target pair to run: every pair was left out (see the notes above)",
        );
    }
    if let Some((k, n)) = a.shard {
        pairs = pairs
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % n == k - 1)
            .map(|(_, p)| p)
            .collect();
        note(&format!(
            "shard {k}/{n}: {} of {total}; `middlebox merge` joins the shards' report.json",
            middlebox::report::count(pairs.len(), "run")
        ));
        if pairs.is_empty() {
            return usage_error(&format!("shard {k}/{n} has no run: {total} runs in all"));
        }
    }
    let bar = Progress::new(pairs.len());
    let progress = |r: &RunResult| bar.ran(r);
    let mut results = middlebox::suite::run_pairs(
        &scenarios, &targets, &pairs, a.seed, jobs, a.engine, &progress,
    );
    bar.finish();
    let program = program_name();
    for r in &mut results {
        r.program = program.clone();
    }
    let report = Report::new(a.seed, results);
    let code = finish_run(&report, a.format, a.out.as_deref(), a.matrix);
    if a.peak_rss {
        if let Some(mib) = crate::bench::peak_rss_mib() {
            eprintln!("peak RSS: {:.0} KiB", mib * 1024.0);
        }
    }
    code
}

/// Writes `--out` (a failure is said on stderr), prints the results, and returns the
/// outcome's exit code: 1 when an outcome was unexpected, else 0, whatever `--out` did.
fn finish_run(report: &Report, format: Format, out: Option<&Path>, matrix: bool) -> ExitCode {
    if let Some(dir) = out {
        if let Err(e) = write_out(dir, report) {
            eprintln!(
                "error: --out {}: cannot write the report and traces: {e}; the results follow",
                dir.display()
            );
        }
    }
    let text = match format {
        Format::Text if matrix => {
            format!("{}\n{}", render_matrix(report, WIDTH), render_text(report))
        }
        Format::Text => render_text(report),
        Format::Json => report.to_json() + "\n",
        Format::Junit => render_junit(report),
    };
    emit(&text);
    if report.summary.unexpected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The target forms named on the command line, with what each runs (`middlebox targets`).
const NAMED_FORMS: &[(&str, &str)] = &[
    ("exec:CMD", "any HTTP server in any language, started by the shell command CMD with PORT set, on real time"),
    ("node:PATH", "your own Node program (it listens on PORT, or exports a node:http Server or a (req, res) handler) on virtual time"),
    ("python:MODULE:APP", "your own ASGI app (Starlette, FastAPI, the MCP SDK's app) on virtual time, with the Python of $MIDDLEBOX_PYTHON, else the active virtualenv, else python3"),
    ("ts-sdk-server@VERSION", "the TypeScript SDK 1.x server at any published VERSION (installed on first use into the cache), or @file:DIR for a checkout"),
    ("ts-server@VERSION", "the TypeScript SDK 2.x server (@modelcontextprotocol/server) the same way, or @file:DIR"),
    ("python-sdk-server@VERSION", "the Python SDK's server (mcp, 2.2.0 and later) the same way, into its own virtualenv, or @file:DIR"),
];

/// The client forms named on the command line.
const NAMED_CLIENT_FORMS: &[(&str, &str)] = &[(
    "ts-sdk-client@VERSION",
    "the TypeScript SDK 1.x client at any published VERSION, or @file:DIR",
)];

fn cmd_merge(a: MergeArgs) -> ExitCode {
    let mut reports = Vec::new();
    for p in &a.reports {
        let read = std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| Report::from_json(&t));
        match read {
            Ok(r) => reports.push(r),
            Err(e) => return usage_error(&format!("{}: {e}", p.display())),
        }
    }
    match Report::merge(reports) {
        Ok(report) => finish_run(&report, a.format, None, a.matrix),
        Err(e) => usage_error(&e),
    }
}

fn cmd_targets() -> ExitCode {
    use std::fmt::Write as _;
    let all = targets::all();
    let w = all.iter().map(|t| t.name.len()).max().unwrap_or(4);
    let mut out = String::new();
    for t in all {
        let role = format!("{:?}", t.role).to_lowercase();
        let default = if targets::default_names().contains(&t.name) {
            " (default)"
        } else {
            ""
        };
        let scope = match t.scope {
            targets::Scope::Any => "",
            targets::Scope::Mcp => " [runs on MCP scenarios only]",
            targets::Scope::Plain => " [runs on plain SSE scenarios only]",
        };
        // On the target's own line: scripts read the first word of each line as a name.
        let unhonoured = if t.unhonoured.is_empty() {
            String::new()
        } else {
            let keys: Vec<&str> = t.unhonoured.iter().map(|u| u.key).collect();
            format!(" [cannot honour: {}]", keys.join(", "))
        };
        let _ = writeln!(
            out,
            "{:<w$}  {:<6}  {}{default}{scope}{unhonoured}",
            t.name, role, t.summary
        );
        if let Some(c) = t.cites {
            let _ = writeln!(out, "{:<w$}          reproduces: {c}", "");
        }
    }
    let _ = writeln!(out, "\nYour own implementation, named with --target:");
    for (form, what) in NAMED_FORMS {
        let _ = writeln!(out, "{form:<w$}  server  {what}");
    }
    for (form, what) in NAMED_CLIENT_FORMS {
        let _ = writeln!(out, "{form:<w$}  client  {what}");
    }
    emit(&out);
    ExitCode::SUCCESS
}

fn cmd_presets(markdown: bool) -> ExitCode {
    use std::fmt::Write as _;
    if markdown {
        emit(&middlebox::intermediary::preset::markdown_table());
        return ExitCode::SUCCESS;
    }
    let all = middlebox::intermediary::preset::all();
    let w = all.iter().map(|p| p.name.len()).max().unwrap_or(4);
    let mut out = String::new();
    for p in all {
        let _ = writeln!(out, "{:<w$}  {}", p.name, p.summary);
        for b in &p.behaviors {
            let _ = writeln!(out, "{:<w$}    - {}", "", b.build(0).summary());
        }
        let _ = writeln!(out, "{:<w$}    source: {}", "", p.source);
    }
    emit(&out);
    ExitCode::SUCCESS
}

fn cmd_check(paths: &[PathBuf]) -> ExitCode {
    match load_all(paths) {
        Some(all) if all.is_empty() => {
            usage_error("no scenario files found (expected *.toml under the given paths)")
        }
        Some(all) => {
            let mut out: String = all.iter().map(|s| format!("ok  {}\n", s.path)).collect();
            out.push_str(&format!(
                "{} valid\n",
                middlebox::report::count(all.len(), "scenario file")
            ));
            emit(&out);
            ExitCode::SUCCESS
        }
        None => ExitCode::from(2),
    }
}

fn cmd_explain(path: &Path, json: bool) -> ExitCode {
    let s = match scenario::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let text = if json {
        middlebox::scenario::explain_json(&s)
    } else {
        middlebox::scenario::explain(&s)
    };
    emit(&format!("{text}\n"));
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests;

fn cmd_adapter_check(a: AdapterCheckArgs) -> ExitCode {
    use middlebox::targets::process::adapter_check::{check, Limits, Setup};
    if a.role == Role::Client {
        return usage_error(
            "adapter-check drives server adapters only so far (--role server); a client adapter's `act` steps are not checked yet",
        );
    }
    let Some((implementation, version)) = a
        .implementation
        .split_once('@')
        .filter(|(i, v)| !i.is_empty() && !v.is_empty())
    else {
        return usage_error(&format!(
            "--impl {}: expected IMPL@VERSION, the adapter's own names for what `start` builds (e.g. --impl ts-sdk-server@1.32.2)",
            a.implementation
        ));
    };
    let options = match a.options.as_deref().map(serde_json::from_str::<serde_json::Value>) {
        None => serde_json::json!({}),
        Some(Ok(o @ serde_json::Value::Object(_))) => o,
        Some(Ok(other)) => {
            return usage_error(&format!(
                "--options {other}: expected a JSON object (e.g. --options '{{\"keepalive_ms\":15000}}')"
            ))
        }
        Some(Err(e)) => {
            return usage_error(&format!(
                "--options: not JSON ({e}); expected a JSON object (e.g. --options '{{\"keepalive_ms\":15000}}')"
            ))
        }
    };
    let mut reproduce = vec![
        "adapter-check".to_string(),
        "--impl".into(),
        a.implementation.clone(),
    ];
    if let Some(o) = &a.options {
        reproduce.extend(["--options".to_string(), o.clone()]);
    }
    reproduce.push("--".into());
    reproduce.extend(a.cmd.iter().cloned());
    // The program as it can be run from here (program_name quotes it already).
    let reproduce: Vec<String> = std::iter::once(program_name())
        .chain(reproduce.iter().map(|w| shell_word(w)))
        .collect();
    let setup = Setup {
        program: PathBuf::from(&a.cmd[0]),
        args: a.cmd[1..].to_vec(),
        implementation: implementation.to_string(),
        version: version.to_string(),
        options,
        limits: Limits::default(),
    };
    let report = check(&setup);
    emit(&report.render(&reproduce.join(" ")));
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `w` as one word of a POSIX shell line: as is when it has only safe characters, else in
/// single quotes (a quote inside closed, escaped, reopened). Hand-written: a few lines, for
/// the reproduction line of a message.
fn shell_word(w: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./@:=+,%".contains(c);
    if !w.is_empty() && w.chars().all(safe) {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

fn cmd_probe(a: ProbeArgs) -> ExitCode {
    let span = middlebox::time::span(a.span);
    let span = if span.contains(' ') {
        format!("'{span}'")
    } else {
        span
    };
    let reproduce = format!("middlebox probe {} --for {span}", a.url);
    match middlebox::probe::probe(&a.url, a.span) {
        Err(e) => {
            eprintln!("{reproduce}: {e}");
            ExitCode::from(2)
        }
        Ok(obs) => {
            let report = middlebox::probe::verdict::judge(obs, reproduce);
            match a.format {
                ProbeFormat::Text => print!("{}", report.render_text()),
                ProbeFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                ),
            }
            ExitCode::from(u8::from(report.failed()))
        }
    }
}
