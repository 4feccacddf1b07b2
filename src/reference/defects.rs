//! The bug models: the reference implementation with one documented defect switched on,
//! each citing the public report it reproduces. The registry ([`crate::targets::all`]) runs
//! them by default next to the reference, expected to fail.
//!
//! ```text
//!  BugModel { name, summary, cites, defect }
//!    Defect::Server(f) ──▶ f(&mut ServerConfig) ──▶ reference server (ServerConfig::defects,
//!                                                   or a setting the bug gets wrong)
//!    Defect::Client(f) ──▶ f(&mut ClientDefects) ──▶ reference client
//! ```
//!
//! Adding a bug model: the defect's switch in [`crate::scenario::Defects`] or
//! [`ClientDefects`] (honoured where the reference implements the behaviour), one entry
//! below, and a scenario that fails it (`[expect-fail."bug/NAME"]`).

use super::client::mcp::ClientDefects;
use crate::scenario::{GetGuard, ServerConfig};
use std::time::Duration;

/// One bug model.
#[derive(Clone, Copy)]
pub struct BugModel {
    /// Its target name (`bug/no-keepalive`).
    pub name: &'static str,
    /// One line: what it gets wrong.
    pub summary: &'static str,
    /// The public report it reproduces.
    pub cites: &'static str,
    /// Whether it runs on MCP scenarios only (its defect is in the MCP path).
    pub mcp_only: bool,
    /// What it changes in the reference.
    pub defect: Defect,
}

/// How a bug model changes the reference implementation.
#[derive(Clone, Copy)]
pub enum Defect {
    /// The reference server, with its settings changed by the function.
    Server(fn(&mut ServerConfig)),
    /// The reference client, with its defects switched on by the function.
    Client(fn(&mut ClientDefects)),
}

const fn server(
    name: &'static str,
    mcp_only: bool,
    summary: &'static str,
    cites: &'static str,
    f: fn(&mut ServerConfig),
) -> BugModel {
    BugModel {
        name,
        summary,
        cites,
        mcp_only,
        defect: Defect::Server(f),
    }
}

const fn client(
    name: &'static str,
    summary: &'static str,
    cites: &'static str,
    f: fn(&mut ClientDefects),
) -> BugModel {
    BugModel {
        name,
        summary,
        cites,
        mcp_only: true,
        defect: Defect::Client(f),
    }
}

/// Every bug model, in a stable order.
pub const ALL: &[BugModel] = &[
    server(
        "bug/no-keepalive",
        false,
        "the reference server with its keepalive removed: the stream is silent between events",
        "modelcontextprotocol/typescript-sdk#28, #876",
        |c| c.keepalive = None,
    ),
    server(
        "bug/replay-without-keepalive",
        true,
        "the reference server whose Last-Event-ID replay connections arm no keepalive timer",
        "modelcontextprotocol/typescript-sdk PR #1726, review round 1",
        |c| c.defects.replay_without_keepalive = true,
    ),
    server(
        "bug/shared-keepalive-timer",
        true,
        "the reference server with one keepalive timer slot per MCP session: a new stream overwrites it, closing any stream clears whatever is in it",
        "modelcontextprotocol/typescript-sdk PR #1726, later review rounds",
        |c| c.defects.shared_keepalive_timer = true,
    ),
    // Slows a keepalive the scenario has; a scenario with keepalive off stays off.
    server(
        "bug/keepalive-90s",
        false,
        "the reference server with keepalive = 90s: cadence above nginx's 60 s limit, fine behind Cloudflare's 100–120 s",
        "FIELD-BUGS 5: keepalive cadence above the intermediary's limit",
        |c| {
            if c.keepalive.is_some() {
                c.keepalive = Some(Duration::from_secs(90));
            }
        },
    ),
    // A fixed implementation: the scenario's keepalive setting does not change it.
    server(
        "bug/cf-agents-0.12.4",
        true,
        "the reference server as cloudflare/agents 0.12.4 on Workers: GET and POST streams arm no keepalive; a transport keepalive writes the named event `ping` every 30 s and is cancelled by the runtime 30 s after the response started (outside ctx.waitUntil)",
        "cloudflare/agents#1583",
        |c| {
            c.defects.no_stream_keepalive = true;
            c.defects.transport_keepalive = Some(Duration::from_secs(30));
            c.defects.background_cancel_after = Some(Duration::from_secs(30));
        },
    ),
    client(
        "bug/client-stale-last-event-id",
        "the reference MCP client that keeps re-sending the Last-Event-ID of its first reconnect, never updating it",
        "FIELD-BUGS 14: ~30 s idle proxies, reconnect storms re-sending a stale Last-Event-ID",
        |d| d.stale_last_event_id = true,
    ),
    client(
        "bug/client-gives-up-after-2",
        "the reference MCP client that gives a dropped stream up after 2 failed reconnects, whatever [client.reconnect] attempts says",
        "modelcontextprotocol/typescript-sdk#2098",
        |d| d.reconnect_attempts = Some(2),
    ),
    server(
        "bug/get-guard-never-released",
        true,
        "the reference server with a one-GET-per-session guard released only when the session ends: every GET after the first on a session gets 400, for ever",
        "modelcontextprotocol/csharp-sdk#1239",
        |c| c.defects.get_guard = Some(GetGuard::NeverReleased),
    ),
    server(
        "bug/get-409-until-noticed",
        true,
        "the reference server answering a second GET on a session with 409 while it still believes the first GET is open (until a write to it fails or its stream ends)",
        "render-oss/render-mcp-server#26",
        |c| c.defects.get_guard = Some(GetGuard::UntilNoticed),
    ),
    server(
        "bug/2026-post-without-keepalive",
        true,
        "the reference server whose 2026-07-28 POST SSE streams arm no keepalive (other revisions unchanged)",
        "modelcontextprotocol/python-sdk PR #3001 review (FIELD-BUGS 13)",
        |c| c.defects.post_without_keepalive_2026 = true,
    ),
    server(
        "bug/replay-crosses-sessions",
        true,
        "the reference server looking Last-Event-ID up in one event store shared by all sessions, without checking the session: a guessed id replays another session's stream",
        "GHSA-84j6-jc92-77jm (FIELD-BUGS 15)",
        |c| c.defects.replay_crosses_sessions = true,
    ),
    server(
        "bug/replay-all-streams",
        true,
        "the reference server whose replay after Last-Event-ID sends every stored event of the session after it, whatever stream it belongs to (the id's own stream is still the one resumed)",
        "modelcontextprotocol/servers#4087 (fixed by servers PR #4099)",
        |c| c.defects.replay_all_streams = true,
    ),
    server(
        "bug/replay-standalone-lost",
        true,
        "the reference server whose resumption of the standalone GET stream replays nothing and attaches the connection to the stream '', which nothing writes to: later notifications are stored, never sent, while keepalives flow",
        "modelcontextprotocol/typescript-sdk#943, #2560",
        |c| c.defects.replay_standalone_lost = true,
    ),
    client(
        "bug/client-no-wait-on-clean-close",
        "the reference MCP client that reconnects a stream the server ended cleanly at once (after only a retry received on that very connection), never after its backoff",
        "vercel-labs/fx#301 (fixed by fx PR #302)",
        |d| d.no_wait_on_clean_close = true,
    ),
];
