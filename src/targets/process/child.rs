//! One adapter process: spawned with its control channel on stdin/stdout, its stderr kept as
//! a tail for failure messages, killed and reaped when dropped (after a run, a failure, a
//! panic), so no run leaves a process behind.
//!
//! ```text
//!  Child::spawn ──▶ program args (stdin, stdout piped; stderr → tail thread)
//!  request(cmd) ──▶ one JSON line ──▶ stdin
//!               ◀── one JSON line ◀── stdout (reader thread), or an error after `limit`
//!  drop         ──▶ kill, wait
//!
//!  Child::spawn_exec ──▶ sh -c CMD in its own process group (stdout and stderr → tail)
//!                   └──▶ a watcher: sh that waits for its stdin (a pipe from middlebox) to
//!                        close, then kills that group: middlebox dying by any signal,
//!                        SIGKILL included, closes the pipe
//! ```
//!
//! Adapters exit by themselves when their stdin closes; an `exec:` server knows nothing of
//! middlebox, hence the watcher. Tail lines are kept to [`TAIL_LINE_MAX`] bytes each, so a
//! process writing an endless line costs a bounded amount.
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

/// Bytes kept of one tail line (the rest of a longer line is dropped, marked `…`).
pub const TAIL_LINE_MAX: usize = 500;

/// Real time one adapter may live through a run (the per-scenario watchdog): a run whose
/// adapter takes longer fails, naming the limit, instead of holding CI up.
pub const RUN_LIMIT: Duration = Duration::from_secs(300);

/// A running adapter.
pub struct Child {
    process: std::process::Child,
    /// The control channel (None for an `exec:` server: it has none).
    stdin: Option<ChildStdin>,
    replies: mpsc::Receiver<std::io::Result<String>>,
    tail: Arc<Mutex<VecDeque<String>>>,
    /// What it is and its command line, for messages: ``adapter `node server.mjs` ``.
    what: String,
    /// An `exec:` server's watcher, and the pipe whose closing tells it to kill the group.
    watcher: Option<(std::process::Child, ChildStdin)>,
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
        let line = std::iter::once(shown.display().to_string())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let what = format!("adapter `{line}`");
        let mut process = Process::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start `{line}`: {e}"))?;
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
        keep_tail(stderr, tail.clone());
        Ok(Self::new(process, Some(stdin), replies, tail, what, None))
    }

    /// Starts `sh -c cmd` (an `exec:` server) with these environment variables added, in its
    /// own process group, its output (stdout and stderr) kept as the tail, and a watcher that
    /// kills the group when middlebox goes away however it ends.
    pub fn spawn_exec(cmd: &str, env: &[(&str, String)]) -> Result<Self, String> {
        use std::os::unix::process::CommandExt;
        let what = format!("exec: server `{cmd}`");
        let mut process = Process::new("sh")
            .args(["-c", cmd])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start `sh -c {cmd}`: {e}"))?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        keep_tail(process.stdout.take().expect("piped stdout"), tail.clone());
        keep_tail(process.stderr.take().expect("piped stderr"), tail.clone());
        // The watcher ignores the signals a terminal or a supervisor sends a process group,
        // and lives in a group of its own, so only the pipe's closing moves it.
        let group = process.id();
        let watcher = Process::new("sh")
            .args([
                "-c",
                &format!("trap '' INT TERM HUP; read line; kill -KILL -{group} 2>/dev/null"),
            ])
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let watcher = match watcher {
            Ok(mut w) => {
                let pipe = w.stdin.take().expect("piped stdin");
                Some((w, pipe))
            }
            Err(e) => {
                let _ = process.kill();
                let _ = process.wait();
                return Err(format!("could not start the watcher of `{cmd}`: {e}"));
            }
        };
        let (_, replies) = mpsc::channel();
        Ok(Self::new(process, None, replies, tail, what, watcher))
    }

    fn new(
        process: std::process::Child,
        stdin: Option<ChildStdin>,
        replies: mpsc::Receiver<std::io::Result<String>>,
        tail: Arc<Mutex<VecDeque<String>>>,
        what: String,
        watcher: Option<(std::process::Child, ChildStdin)>,
    ) -> Self {
        // The watchdog's clock: real time bounds how long the harness waits, nothing more.
        #[allow(clippy::disallowed_methods)]
        let started = std::time::Instant::now();
        Self {
            process,
            stdin,
            replies,
            tail,
            what,
            watcher,
            started,
        }
    }

    /// The last lines the process wrote to its tail (stderr; for `exec:`, stdout too).
    pub fn tail(&self) -> Vec<String> {
        self.tail
            .lock()
            .expect("stderr tail")
            .iter()
            .cloned()
            .collect()
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
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(self.failure("has no control channel"));
        };
        if let Err(e) = writeln!(stdin, "{line}").and_then(|()| stdin.flush()) {
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

    /// Sends one raw line on the control channel (for `adapter_check`, which judges the
    /// adapter's answers itself instead of parsing them as a [`State`]).
    pub fn send_line(&mut self, line: &str) -> Result<(), String> {
        if std::env::var_os("MIDDLEBOX_PROTOCOL_LOG").is_some() {
            eprintln!("→ {line}");
        }
        let Some(stdin) = self.stdin.as_mut() else {
            return Err("the control channel is closed".into());
        };
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("could not send a command: {e}"))
    }

    /// The next raw line of the process's stdout, waiting up to `limit` (real time).
    pub fn next_line(&mut self, limit: Duration) -> Line {
        let line = match self.replies.recv_timeout(limit) {
            Ok(Ok(l)) => Line::Text(l),
            Ok(Err(e)) => Line::Unreadable(e.to_string()),
            Err(mpsc::RecvTimeoutError::Timeout) => Line::Silent,
            Err(mpsc::RecvTimeoutError::Disconnected) => Line::Closed,
        };
        if let (Line::Text(l), true) = (&line, std::env::var_os("MIDDLEBOX_PROTOCOL_LOG").is_some())
        {
            eprintln!("← {l}");
        }
        line
    }

    /// Closes the control channel (the adapter sees its stdin end).
    pub fn close_control(&mut self) {
        self.stdin = None;
    }

    /// Waits up to `limit` (real time) for the process to end; its status, if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        // Real time bounds the wait only; nothing here reaches a trace.
        #[allow(clippy::disallowed_methods)]
        let until = std::time::Instant::now() + limit;
        loop {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            #[allow(clippy::disallowed_methods)]
            if std::time::Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
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
        let mut msg = format!("{} {what}", self.what);
        let stream = if self.watcher.is_some() {
            "output"
        } else {
            "stderr"
        };
        if tail.is_empty() {
            msg.push_str(&format!("; its {stream} was empty"));
        } else {
            msg.push_str(&format!("; the last lines of its {stream}:"));
            for l in tail.iter() {
                msg.push_str("\n    ");
                msg.push_str(l);
            }
        }
        msg
    }
}

/// One read of a process's stdout ([`Child::next_line`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line (without its newline).
    Text(String),
    /// Bytes that are not a line of text (not UTF-8).
    Unreadable(String),
    /// Nothing within the limit.
    Silent,
    /// Stdout closed (the process ended or closed it).
    Closed,
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
        // shell: kill the whole tree, leaves first (and an exec: server's whole group).
        let mut kill: Vec<String> = descendants(self.process.id())
            .iter()
            .rev()
            .map(u32::to_string)
            .collect();
        if self.watcher.is_some() {
            kill.push(format!("-{}", self.process.id()));
        }
        if !kill.is_empty() {
            let _ = Process::new("kill")
                .args(["-KILL", "--"])
                .args(&kill)
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
        if let Some((mut w, pipe)) = self.watcher.take() {
            drop(pipe); // it kills the (gone) group and exits
            let _ = w.wait();
        }
    }
}

/// Keeps the last [`TAIL_LINES`] lines `from` writes in `tail`, each cut to
/// [`TAIL_LINE_MAX`] bytes (a longer line costs no more), on a thread of its own.
fn keep_tail(from: impl std::io::Read + Send + 'static, tail: Arc<Mutex<VecDeque<String>>>) {
    std::thread::spawn(move || {
        let mut from = BufReader::new(from);
        let mut line: Vec<u8> = Vec::new();
        let mut cut = false;
        let push = |line: &mut Vec<u8>, cut: &mut bool| {
            let mut text = String::from_utf8_lossy(line).into_owned();
            if std::mem::take(cut) {
                text.push('…');
            }
            line.clear();
            let mut t = tail.lock().expect("stderr tail");
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(text);
        };
        loop {
            let buf = match from.fill_buf() {
                Ok([]) | Err(_) => break,
                Ok(b) => b,
            };
            let (piece, end) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            let room = TAIL_LINE_MAX.saturating_sub(line.len());
            cut |= piece.len() > room;
            line.extend_from_slice(&piece[..piece.len().min(room)]);
            let used = end.unwrap_or(buf.len());
            from.consume(used);
            if end.is_some() {
                push(&mut line, &mut cut);
            }
        }
        if !line.is_empty() || cut {
            push(&mut line, &mut cut);
        }
    });
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
mod tests;
