//! One adapter process: spawned with its control channel on stdin/stdout, its stderr kept as
//! a tail for failure messages, killed and reaped when dropped (after a run, a failure, a
//! panic), so no run leaves a process behind.
//!
//! ```text
//!  Child::spawn ──▶ program args (stdin, stdout piped; stderr → tail thread)
//!  request(cmd) ──▶ one JSON line ──▶ stdin
//!               ◀── one JSON line ◀── stdout (reader thread), or an error after `limit`
//!  drop         ──▶ kill, wait
//! ```
//!
//! `MIDDLEBOX_PROTOCOL_LOG=1` prints every command and reply on stderr (for debugging an
//! adapter). Reading happens on two small threads so a silent or hung adapter turns into an error
//! after a real-time limit (a watchdog) instead of blocking the simulation for ever. Real
//! time only bounds how long the harness waits; it never reaches a trace.

use super::protocol::{Command, State};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, Command as Process, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Lines of stderr kept for failure messages.
const TAIL_LINES: usize = 30;

/// Real time one adapter may live through a run (the per-scenario watchdog): a run whose
/// adapter takes longer fails, naming the limit, instead of holding CI up.
pub const RUN_LIMIT: Duration = Duration::from_secs(300);

/// A running adapter.
pub struct Child {
    process: std::process::Child,
    stdin: ChildStdin,
    replies: mpsc::Receiver<std::io::Result<String>>,
    tail: Arc<Mutex<VecDeque<String>>>,
    /// The command line, for messages.
    what: String,
    /// When it was started (real time, for the watchdog only; never reaches a trace).
    started: std::time::Instant,
}

impl Child {
    /// Starts `program args...` in `dir`.
    pub fn spawn(program: &Path, args: &[String], dir: &Path) -> Result<Self, String> {
        Self::spawn_with_env(program, args, dir, &[])
    }

    /// Starts `program args...` in `dir` with these environment variables added.
    pub fn spawn_with_env(
        program: &Path,
        args: &[String],
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<Self, String> {
        // Messages name the program relative to `dir` (never a checkout's absolute path).
        let shown = program.strip_prefix(dir).unwrap_or(program);
        let what = std::iter::once(shown.display().to_string())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let mut process = Process::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start `{what}`: {e}"))?;
        let stdin = process.stdin.take().expect("piped stdin");
        let stdout = process.stdout.take().expect("piped stdout");
        let stderr = process.stderr.take().expect("piped stderr");
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let keep = tail.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                let mut t = keep.lock().expect("stderr tail");
                if t.len() == TAIL_LINES {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
        // The watchdog's clock: real time bounds how long the harness waits, nothing more.
        #[allow(clippy::disallowed_methods)]
        let started = std::time::Instant::now();
        Ok(Self {
            process,
            stdin,
            replies,
            tail,
            what,
            started,
        })
    }

    /// Sends `cmd` and waits up to `limit` (real time) for its reply; a refusal
    /// (`"ok": false`) is an error naming the adapter's reason.
    pub fn request(&mut self, cmd: &Command, limit: Duration) -> Result<State, String> {
        let state = self.exchange(cmd, limit)?;
        if state.ok {
            Ok(state)
        } else {
            let why = state.error.unwrap_or_else(|| "no reason given".into());
            Err(self.failure(&format!("refused `{}`: {why}", op(cmd))))
        }
    }

    /// Sends an `act` command: `Ok(Err(reason))` when the adapter refused the step (the
    /// process is fine and goes on), `Err` when the exchange itself failed.
    pub fn act(&mut self, cmd: &Command, limit: Duration) -> Result<Result<State, String>, String> {
        let state = self.exchange(cmd, limit)?;
        Ok(if state.ok {
            Ok(state)
        } else {
            Err(state.error.unwrap_or_else(|| "no reason given".into()))
        })
    }

    /// One command, one reply line, parsed (whatever its `ok`).
    fn exchange(&mut self, cmd: &Command, limit: Duration) -> Result<State, String> {
        if self.started.elapsed() > RUN_LIMIT {
            return Err(self.failure(&format!(
                "ran past the per-run watchdog ({} s of real time)",
                RUN_LIMIT.as_secs()
            )));
        }
        let line = serde_json::to_string(cmd).expect("commands serialise");
        let log = std::env::var_os("MIDDLEBOX_PROTOCOL_LOG").is_some();
        if log {
            eprintln!("→ {line}");
        }
        if let Err(e) = writeln!(self.stdin, "{line}").and_then(|()| self.stdin.flush()) {
            return Err(self.failure(&format!("could not send a command: {e}")));
        }
        match self.replies.recv_timeout(limit) {
            Ok(Ok(reply)) => {
                if log {
                    eprintln!("← {reply}");
                }
                serde_json::from_str(&reply).map_err(|e| {
                    self.failure(&format!("sent a reply that is not protocol JSON ({e}): {reply}"))
                })
            }
            Ok(Err(e)) => Err(self.failure(&format!("control channel failed: {e}"))),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(self.failure(&format!(
                "did not answer `{}` within {} s of real time (hung, or a wait that never completes)",
                op(cmd),
                limit.as_secs()
            ))),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.process.wait().map(|s| s.to_string());
                Err(self.failure(&format!(
                    "exited ({}) before answering `{}`",
                    status.unwrap_or_else(|e| e.to_string()),
                    op(cmd)
                )))
            }
        }
    }

    /// The exit status, if the process has ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.process.try_wait().ok().flatten()
    }

    /// A failure message: what happened, the command line, the stderr tail.
    pub fn failure(&self, what: &str) -> String {
        // Give the stderr thread a moment to collect the last lines of a dying process.
        std::thread::sleep(Duration::from_millis(50));
        let tail = self.tail.lock().expect("stderr tail");
        let mut msg = format!("adapter `{}` {what}", self.what);
        if tail.is_empty() {
            msg.push_str("; its stderr was empty");
        } else {
            msg.push_str("; the last lines of its stderr:");
            for l in tail.iter() {
                msg.push_str("\n    ");
                msg.push_str(l);
            }
        }
        msg
    }
}

fn op(cmd: &Command) -> &'static str {
    match cmd {
        Command::Start { .. } => "start",
        Command::Sync { .. } => "sync",
        Command::Act { .. } => "act",
        Command::Shutdown => "shutdown",
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // A shell command's own children (`sh -c "python3 server.py"`) outlive a killed
        // shell: kill the whole tree, leaves first.
        let tree = descendants(self.process.id());
        if !tree.is_empty() {
            let _ = Process::new("kill")
                .arg("-KILL")
                .args(tree.iter().rev().map(u32::to_string))
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Every process below `pid`, parents before children (read from `/proc`; empty where there
/// is none).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces and ')'.
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|x| x.parse().ok()) {
                parent_of.push((p, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for &(c, pp) in &parent_of {
            if pp == p && !out.contains(&c) {
                out.push(c);
                frontier.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Child {
        Child::spawn(
            Path::new("/bin/sh"),
            &["-c".to_string(), script.to_string()],
            Path::new("."),
        )
        .expect("sh starts")
    }

    #[test]
    fn a_reply_line_is_parsed_and_an_error_reply_carries_the_reason_and_the_stderr_tail() {
        let mut c = sh(
            r#"read l; echo '{"ok":true,"now_ms":5,"port":4000}'; read l; echo boom >&2; echo '{"ok":false,"error":"unknown impl x"}'; read l"#,
        );
        let s = c
            .request(&Command::Shutdown, Duration::from_secs(5))
            .unwrap();
        assert_eq!((s.now_ms, s.port), (5, Some(4000)));
        let e = c
            .request(&Command::Shutdown, Duration::from_secs(5))
            .unwrap_err();
        assert!(e.contains("refused `shutdown`: unknown impl x"), "{e}");
        assert!(e.contains("\n    boom"), "{e}");
    }

    #[test]
    fn a_silent_adapter_is_a_timeout_and_a_dead_one_says_it_exited() {
        let mut c = sh("read l; sleep 30");
        let e = c
            .request(&Command::Shutdown, Duration::from_millis(300))
            .unwrap_err();
        assert!(e.contains("did not answer `shutdown` within 0 s"), "{e}");
        let mut d = sh("echo 'cannot find module' >&2; exit 3");
        let e = d
            .request(&Command::Shutdown, Duration::from_secs(5))
            .unwrap_err();
        assert!(
            e.contains("exited (exit status: 3)") || e.contains("could not send"),
            "{e}"
        );
        assert!(e.contains("cannot find module"), "{e}");
    }

    #[test]
    fn dropping_a_shell_kills_the_commands_it_started_too() {
        let c = sh("sleep 31 & sleep 32; wait");
        std::thread::sleep(Duration::from_millis(300));
        let tree = descendants(c.process.id());
        assert_eq!(tree.len(), 2, "{tree:?}");
        drop(c);
        std::thread::sleep(Duration::from_millis(100));
        for p in tree {
            let alive = std::fs::read_to_string(format!("/proc/{p}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false);
            assert!(!alive, "process {p} outlived its shell");
        }
    }

    #[test]
    fn dropping_the_child_kills_and_reaps_it() {
        let c = sh("sleep 30");
        let pid = c.process.id();
        drop(c);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} still exists"
        );
    }
}
