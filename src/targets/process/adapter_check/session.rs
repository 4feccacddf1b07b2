//! One run of the adapter under check: a command out, its reply back, judged line by line.
//!
//! Every wait is bounded by real time ([`super::Limits`]); what the adapter does instead of
//! replying (silence, exiting, a line that is not JSON, an extra line) breaks a rule in the
//! ledger and never panics or hangs the check.

use super::{Ledger, Setup};
use crate::targets::process::child::{Child, Line};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// A JSON object: a reply.
pub(super) type Reply = Map<String, Value>;

/// A running adapter.
pub(super) struct Session {
    child: Child,
}

impl Session {
    /// Starts the adapter, or says why it could not.
    pub(super) fn spawn(setup: &Setup) -> Result<Self, String> {
        let dir = std::env::current_dir().map_err(|e| format!("the current folder: {e}"))?;
        let child = Child::spawn(&setup.program, &setup.args, &dir)?;
        Ok(Self { child })
    }

    /// Sends `line` (the command `what`, for messages) and waits up to `limit` for its reply.
    /// `None` when there was none: then `rule` (the one the reply was to show) is broken
    /// with what happened instead. Lines that are not a JSON object break `lines.json` and
    /// are read past; a line already waiting before the command was sent breaks
    /// `lines.one-reply`.
    pub(super) fn ask(
        &mut self,
        ledger: &mut Ledger,
        rule: &'static str,
        what: &str,
        line: &str,
        limit: Duration,
    ) -> Option<Reply> {
        while let Line::Text(extra) = self.child.next_line(Duration::ZERO) {
            ledger.broke(
                "lines.one-reply",
                format!("a line no command asked for, before `{what}` was sent: {extra}"),
            );
        }
        if let Err(e) = self.child.send_line(line) {
            let status = self.exit_status();
            ledger.broke(
                rule,
                format!("{e} (sending `{what}`; the adapter {status})"),
            );
            return None;
        }
        self.reply(ledger, rule, what, limit)
    }

    /// Reads the reply to `what` (see [`Session::ask`]).
    fn reply(
        &mut self,
        ledger: &mut Ledger,
        rule: &'static str,
        what: &str,
        limit: Duration,
    ) -> Option<Reply> {
        // Lines that are not a reply are read past within the same limit.
        #[allow(clippy::disallowed_methods)] // real time bounds the wait only
        let until = std::time::Instant::now() + limit;
        loop {
            #[allow(clippy::disallowed_methods)]
            let left = until.saturating_duration_since(std::time::Instant::now());
            match self.child.next_line(left) {
                Line::Text(text) => match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(reply)) => {
                        if !ledger.is_broken("lines.json") {
                            ledger.held("lines.json");
                        }
                        return Some(reply);
                    }
                    _ => ledger.broke(
                        "lines.json",
                        format!("a line on stdout that is not a JSON object (while waiting for the reply to `{what}`): {}", cut(&text)),
                    ),
                },
                Line::Unreadable(e) => ledger.broke(
                    "lines.json",
                    format!("bytes on stdout that are not a line of text ({e}), while waiting for the reply to `{what}`"),
                ),
                Line::Silent => {
                    ledger.broke(
                        rule,
                        format!(
                            "no reply to `{what}` within {} s of real time (hung, or a wait that never completes)",
                            limit.as_secs_f64()
                        ),
                    );
                    return None;
                }
                Line::Closed => {
                    let status = self.exit_status();
                    ledger.broke(rule, format!("no reply to `{what}`: the adapter {status}"));
                    return None;
                }
            }
        }
    }

    /// How the process ended, for messages ("exited (exit status: 1)"), or that it closed
    /// its stdout and lives on.
    fn exit_status(&mut self) -> String {
        match self.child.wait_exit(Duration::from_millis(500)) {
            Some(s) => format!("exited ({s})"),
            None => "closed its stdout".into(),
        }
    }

    /// Closes the adapter's stdin.
    pub(super) fn close_stdin(&mut self) {
        self.child.close_control();
    }

    /// Waits up to `limit` for the adapter to exit.
    pub(super) fn exited_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.child.wait_exit(limit)
    }

    /// A line the adapter wrote on stdout that nothing asked for, waiting up to `wait` for
    /// one (no wait once the adapter has exited and its stdout is drained).
    pub(super) fn unasked_line(&mut self, wait: Duration) -> Option<String> {
        match self.child.next_line(wait) {
            Line::Text(l) => Some(l),
            _ => None,
        }
    }

    /// The adapter's last stderr lines.
    pub(super) fn tail(&self) -> Vec<String> {
        self.child.tail()
    }
}

/// `text` cut to a length a message can quote.
pub(super) fn cut(text: &str) -> String {
    const MAX: usize = 300;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A `sync` command: to `to_ms`, with `sent` as (conn, cumulative bytes, eof).
pub(super) fn sync_line(to_ms: u64, sent: &[(u16, u64, bool)]) -> String {
    let sent: Vec<Value> = sent
        .iter()
        .map(|&(conn, bytes, eof)| json!({"conn": conn, "bytes": bytes, "eof": eof}))
        .collect();
    json!({"op": "sync", "to_ms": to_ms, "sent": sent}).to_string()
}
