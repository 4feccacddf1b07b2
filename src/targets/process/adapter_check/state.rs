//! What a state reply must look like (`state.fields`), the rules judged on one reply alone
//! (`next_ms`, timer ids, the order and range of `fired`), and [`States`], which reads every
//! state reply of a run and judges the rules across replies (`state.cumulative`).

use super::session::{cut, Reply};
use super::Ledger;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The parts of a state reply the check judges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Seen {
    pub now_ms: u64,
    pub next_ms: Option<u64>,
    pub conns: Vec<Conn>,
    /// Live timers, in reply order.
    pub timers: Vec<Timer>,
    /// `(id, at_ms)` in reply order.
    pub fired: Vec<(u64, u64)>,
}

/// One entry of `conns`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Conn {
    pub conn: u64,
    pub read: u64,
    pub written: u64,
}

/// One entry of `timers`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Timer {
    pub id: u64,
    /// The connection whose request armed it.
    pub conn: Option<u64>,
    pub delay_ms: u64,
    pub repeat: bool,
}

/// Reads a state reply, or says which field is missing or of the wrong type (the path, what
/// it should be, what it is).
pub(super) fn parse(reply: &Reply) -> Result<Seen, String> {
    let top = Value::Object(reply.clone());
    let now_ms = uint(&top, "now_ms", "now_ms")?;
    let next_ms = match reply.get("next_ms") {
        None => return Err("`next_ms` is missing (it is null when no timer is live)".into()),
        Some(Value::Null) => None,
        Some(_) => Some(uint(&top, "next_ms", "next_ms")?),
    };
    let mut conns = Vec::new();
    for (i, c) in list(reply, "conns")?.iter().enumerate() {
        let at = |f: &str| format!("conns[{i}].{f}");
        let conn = uint(c, "conn", &at("conn"))?;
        if !(1..=65535).contains(&conn) {
            return Err(format!("`{}` is {conn}: expected a TCP port", at("conn")));
        }
        boolean(c, "ended", &at("ended"))?;
        boolean(c, "closed", &at("closed"))?;
        conns.push(Conn {
            conn,
            read: uint(c, "read", &at("read"))?,
            written: uint(c, "written", &at("written"))?,
        });
    }
    let mut timers = Vec::new();
    for (i, t) in list(reply, "timers")?.iter().enumerate() {
        let at = |f: &str| format!("timers[{i}].{f}");
        let id = uint(t, "id", &at("id"))?;
        let conn = match t.get("conn") {
            Some(Value::Null) => None,
            Some(_) => Some(uint(t, "conn", &at("conn"))?),
            None => {
                return Err(format!(
                    "`{}` is missing (null for a timer no request armed)",
                    at("conn")
                ))
            }
        };
        timers.push(Timer {
            id,
            conn,
            delay_ms: uint(t, "delay_ms", &at("delay_ms"))?,
            repeat: boolean(t, "repeat", &at("repeat"))?,
        });
    }
    let mut fired = Vec::new();
    for (i, f) in list(reply, "fired")?.iter().enumerate() {
        let at = |n: &str| format!("fired[{i}].{n}");
        fired.push((uint(f, "id", &at("id"))?, uint(f, "at_ms", &at("at_ms"))?));
    }
    Ok(Seen {
        now_ms,
        next_ms,
        conns,
        timers,
        fired,
    })
}

fn list<'a>(reply: &'a Reply, key: &str) -> Result<&'a Vec<Value>, String> {
    match reply.get(key) {
        Some(Value::Array(a)) => Ok(a),
        Some(v) => Err(format!("`{key}` is {v}: expected a list")),
        None => Err(format!(
            "`{key}` is missing (an empty list when there is none)"
        )),
    }
}

fn uint(obj: &Value, key: &str, path: &str) -> Result<u64, String> {
    match obj.get(key) {
        Some(v) => v.as_u64().ok_or_else(|| {
            format!("`{path}` is {v}: expected a non-negative integer (of ms, bytes or a port)")
        }),
        None => Err(format!("`{path}` is missing")),
    }
}

fn boolean(obj: &Value, key: &str, path: &str) -> Result<bool, String> {
    match obj.get(key) {
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(format!("`{path}` is {v}: expected true or false")),
        None => Err(format!("`{path}` is missing")),
    }
}

/// `state.next-ms` on one reply: null, or a deadline not before `now_ms`.
pub(super) fn next_ms(s: &Seen) -> Result<(), String> {
    match s.next_ms {
        Some(n) if n < s.now_ms => Err(format!(
            "`next_ms` {n} is before `now_ms` {}: a deadline the sync should have stepped",
            s.now_ms
        )),
        _ => Ok(()),
    }
}

/// `timers.ids` on one reply: ids from 1, each live timer once.
pub(super) fn timer_ids(s: &Seen) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for t in &s.timers {
        let id = t.id;
        if id == 0 {
            return Err("a timer with id 0 (ids are numbered from 1)".into());
        }
        if !seen.insert(id) {
            return Err(format!("timer id {id} twice in `timers`"));
        }
    }
    if let Some((id, _)) = s.fired.iter().find(|(id, _)| *id == 0) {
        return Err(format!(
            "`fired` names timer id {id} (ids are numbered from 1)"
        ));
    }
    Ok(())
}

/// `sync.deadlines` on the reply to a sync from `from_ms` to `to_ms`: every fired timer at a
/// deadline after `from_ms` (one due then fired in the sync that reached it) and not after
/// `to_ms`, in firing (time) order.
pub(super) fn deadlines(s: &Seen, from_ms: u64, to_ms: u64) -> Result<(), String> {
    let mut last = from_ms;
    for &(id, at) in &s.fired {
        if at > to_ms {
            return Err(format!(
                "timer {id} fired at {at} ms, after `to_ms` {to_ms} (fired: {})",
                show_fired(&s.fired)
            ));
        }
        if at <= from_ms {
            return Err(format!(
                "timer {id} fired at {at} ms, not after the clock's previous time {from_ms} ms (fired: {})",
                show_fired(&s.fired)
            ));
        }
        if at < last {
            return Err(format!(
                "`fired` is not in firing order: timer {id} at {at} ms is listed after one at {last} ms (fired: {})",
                show_fired(&s.fired)
            ));
        }
        last = at;
    }
    Ok(())
}

/// `fired` as `[id@at_ms, ...]`.
pub(super) fn show_fired(fired: &[(u64, u64)]) -> String {
    let items: Vec<String> = fired.iter().map(|(id, at)| format!("{id}@{at}")).collect();
    format!("[{}]", items.join(", "))
}

/// Reads every state reply of a run ([`States::read`]): a refusal breaks the rule of the
/// command, a malformed state `state.fields`; `state.next-ms`, `timers.ids` and (across
/// replies) `state.cumulative` are judged on the way.
#[derive(Debug, Default)]
pub(super) struct States {
    /// Per connection, the last (read, written) reported.
    counts: BTreeMap<u64, (u64, u64)>,
    /// The ids of the live timers of the last state read.
    pub(super) live: Vec<u64>,
}

impl States {
    pub(super) fn read(
        &mut self,
        ledger: &mut Ledger,
        rule: &'static str,
        what: &str,
        reply: Option<Reply>,
    ) -> Option<Seen> {
        let r = reply?;
        if r.get("ok") != Some(&json!(true)) {
            ledger.broke(
                rule,
                format!(
                    "`{what}` was refused: {}",
                    cut(&Value::Object(r).to_string())
                ),
            );
            return None;
        }
        let seen = match parse(&r) {
            Ok(s) => s,
            Err(e) => {
                ledger.broke(
                    "state.fields",
                    format!(
                        "in the reply to `{what}`: {e}; the reply: {}",
                        cut(&Value::Object(r).to_string())
                    ),
                );
                return None;
            }
        };
        ledger.held("state.fields");
        let n = next_ms(&seen);
        ledger.judge("state.next-ms", n.is_ok(), || {
            format!("in the reply to `{what}`: {}", n.unwrap_err())
        });
        let t = timer_ids(&seen);
        ledger.judge("timers.ids", t.is_ok(), || {
            format!("in the reply to `{what}`: {}", t.unwrap_err())
        });
        self.live = seen.timers.iter().map(|t| t.id).collect();
        for c in &seen.conns {
            if let Some(&(read, written)) = self.counts.get(&c.conn) {
                ledger.judge(
                    "state.cumulative",
                    c.read >= read && c.written >= written,
                    || {
                        format!(
                            "in the reply to `{what}`: conn {} went from read {read} / written {written} to read {} / written {}",
                            c.conn, c.read, c.written
                        )
                    },
                );
            }
            self.counts.insert(c.conn, (c.read, c.written));
        }
        Some(seen)
    }
}
