//! `middlebox proxy`: runs a preset's behaviors as a real HTTP proxy (see
//! `middlebox::proxy`), printing each decision as it happens and writing the trace on exit.

use middlebox::proxy::overrides::{self, Overrides};
use middlebox::proxy::Proxy;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example: an nginx with a 2 s read timeout in front of a server on port 8080:\n  \
middlebox proxy --preset nginx --idle-timeout 2s --listen 127.0.0.1:9000 --upstream 127.0.0.1:8080\n\
Chain intermediaries by running several, each one's --upstream the next one's --listen.\n\n\
Exit codes: 0 served until --for or a signal, 2 usage errors or the address cannot be bound."
)]
pub struct ProxyArgs {
    /// The intermediary to model (`middlebox presets` lists them).
    #[arg(long, value_name = "NAME")]
    pub preset: String,
    /// Where to listen, ADDR:PORT; port 0 picks a free one. The first line of the output
    /// says the address.
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// The server to forward to, HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    pub upstream: String,
    /// Override the preset's idle timeout: a span (`5s`) or `off`, as the scenario key
    /// `idle-timeout.after`.
    #[arg(long, value_name = "SPAN|off")]
    pub idle_timeout: Option<String>,
    /// Override the preset's first-byte timeout: a span or `off`.
    #[arg(long, value_name = "SPAN|off")]
    pub first_byte_timeout: Option<String>,
    /// Override the preset's maximum connection duration: a span or `off`.
    #[arg(long, value_name = "SPAN|off")]
    pub max_duration: Option<String>,
    /// Override the preset's buffering: `off`, `full`, or a byte threshold (`4096`).
    #[arg(long, value_name = "off|full|BYTES")]
    pub buffering: Option<String>,
    /// Stop after this span of real time (e.g. `30s`); default: until SIGINT or SIGTERM.
    #[arg(long = "for", value_name = "SPAN", value_parser = middlebox::time::parse_span)]
    pub run_for: Option<Duration>,
    /// Write the trace here on exit: text, or JSON when the name ends in `.json` (the
    /// formats of `middlebox run --out`).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

pub fn cmd_proxy(a: ProxyArgs) -> ExitCode {
    let o = Overrides {
        idle_timeout: a.idle_timeout,
        first_byte_timeout: a.first_byte_timeout,
        max_duration: a.max_duration,
        buffering: a.buffering,
    };
    let cfg = match overrides::resolve(&a.preset, &o) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let proxy = match Proxy::bind(cfg, &a.listen, &a.upstream) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: --listen {}: cannot listen: {e}; expected a free local ADDR:PORT, like 127.0.0.1:9000", a.listen);
            return ExitCode::from(2);
        }
    };
    let trace = match proxy.run(a.run_for, Box::new(std::io::stdout())) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: the proxy stopped: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(path) = a.trace {
        let json = path.extension().is_some_and(|x| x == "json");
        let text = if json {
            trace.to_json()
        } else {
            middlebox::trace::render_text(&trace)
        };
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: --trace {}: cannot write: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}
