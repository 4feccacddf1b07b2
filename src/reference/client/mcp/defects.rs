//! Deliberate defects of client bug-model targets, switched on in the reference MCP client.
//!
//! Each is explicit, documented target behaviour (never a special case in a check), and each
//! cites the public report it reproduces. The reference client runs with
//! `ClientDefects::default()`: no defect.

/// Client defects a bug-model target switches on (never set from a scenario file).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientDefects {
    /// A reconnecting stream keeps sending the `Last-Event-ID` of its first reconnect, never
    /// updating it with the ids received since (FIELD-BUGS 14: ~30 s idle proxies cause
    /// reconnect storms, each re-sending a stale `Last-Event-ID`). Default false.
    pub stale_last_event_id: bool,
    /// Give a dropped stream up after this many consecutive failed reconnects, whatever
    /// `[client.reconnect] attempts` says (modelcontextprotocol/typescript-sdk#2098, FIELD-BUGS
    /// 11: `maxRetries` defaults to 2 and the server-to-client channel silently dies).
    /// `None` (default): the scenario's policy decides.
    pub reconnect_attempts: Option<u32>,
    /// A stream whose connection the server ended cleanly (the response complete, not a
    /// call's stream after its answer) is reconnected after the `retry` received on that
    /// very connection, or at once when it carried none: never after the backoff
    /// (vercel-labs/fx#301, fixed by PR #302: its reader returns `retry_ms = 0` at a clean
    /// `EndOfStream` unless that response carried a `retry:` line, and the only wait is
    /// behind `retry_ms > 0`; "14598 reconnects / 3s"). The reconnect is announced with the
    /// wait it really has. Drops and refusals reconnect as the reference does. Default false.
    pub no_wait_on_clean_close: bool,
}
