//! The `middlebox` command: runs scenario files against targets, lists what it has, and
//! benchmarks the engines (see `middlebox --help`).

mod bench;
mod cli;
mod proxy;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    cli::main_with(cli)
}
