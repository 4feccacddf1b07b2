//! The rules of the clock-control protocol that `adapter-check` judges: each has a stable id
//! and the one-line statement `harness/CLOCK-PROTOCOL.md` gives it (its "Rules" section lists
//! them in this order; a test keeps the two the same).

/// One rule of the protocol.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    /// The stable id (`group.name`), as the protocol document tags it.
    pub id: &'static str,
    /// The rule in one line, as the document states it.
    pub statement: &'static str,
}

/// Every rule `adapter-check` judges, in the order it reports them.
pub const RULES: &[Rule] = &[
    Rule {
        id: "lines.json",
        statement: "Each reply is one JSON object on one line; stdout carries nothing else.",
    },
    Rule {
        id: "lines.one-reply",
        statement: "Exactly one reply per command, in the order of the commands.",
    },
    Rule {
        id: "refuse.unparseable",
        statement: "An unparseable line is refused with {\"ok\":false,\"error\":\"...\"}, and the adapter goes on.",
    },
    Rule {
        id: "start.first",
        statement: "A command before `start` is refused.",
    },
    Rule {
        id: "start.version",
        statement: "A `start` whose `v` is not 1 is refused.",
    },
    Rule {
        id: "start.unknown-option",
        statement: "An unknown key in `options` is refused.",
    },
    Rule {
        id: "start.state",
        statement: "`start` is answered within 60 s with the state plus `port`; `now_ms` is 0.",
    },
    Rule {
        id: "start.port",
        statement: "The implementation serves HTTP on 127.0.0.1 at `port`.",
    },
    Rule {
        id: "state.fields",
        statement: "A state reply has `ok`, `now_ms`, `next_ms` (or null), `conns`, `timers` and `fired`, each with its documented fields.",
    },
    Rule {
        id: "state.next-ms",
        statement: "`next_ms` is the earliest deadline of a live timer (never before `now_ms`), or null.",
    },
    Rule {
        id: "state.cumulative",
        statement: "A connection's `read` and `written` are cumulative: they never go down.",
    },
    Rule {
        id: "timers.ids",
        statement: "Timer ids are integers from 1, one per live timer.",
    },
    Rule {
        id: "timers.conn",
        statement: "A timer armed while a request was handled names that request's connection in `conn`.",
    },
    Rule {
        id: "timers.repeat",
        statement: "A repeating timer has `repeat` true and fires once per period, never twice at one instant to catch up.",
    },
    Rule {
        id: "mcp.notifications",
        statement: "Each of `mcp.notifications` is due at its `at_ms`: a timer of the adapter fires then.",
    },
    Rule {
        id: "sync.clock",
        statement: "The reply to `sync` has `now_ms` equal to `to_ms`.",
    },
    Rule {
        id: "sync.deadlines",
        statement: "`sync` steps timers deadline by deadline: `fired` lists each as {id, at_ms} at its deadline, in firing order, none after `to_ms`.",
    },
    Rule {
        id: "sync.reads-sent",
        statement: "Before replying to `sync`, the adapter has read every byte `sent` promises and seen each `eof`.",
    },
    Rule {
        id: "conn.named",
        statement: "A connection's `conn` is the harness's local port (the socket's remote port as the adapter sees it).",
    },
    Rule {
        id: "quiet.before-reply",
        statement: "What the implementation does at one instant (a request parsed, its response written) happens before the reply.",
    },
    Rule {
        id: "flush.written",
        statement: "`written` counts exactly the bytes handed to the kernel: the harness reads that many at once, and no more come.",
    },
    Rule {
        id: "shutdown.exit",
        statement: "`shutdown` is answered {\"ok\":true}; then the adapter exits.",
    },
    Rule {
        id: "exit.stdin-closed",
        statement: "When stdin closes, the adapter exits at once, without replying.",
    },
];

/// The rule with this id (ids are the constants above; an unknown one is a bug here).
pub fn rule(id: &str) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("adapter_check names an unknown rule {id}"))
}
