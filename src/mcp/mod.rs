//! MCP Streamable HTTP: the reference server's `/mcp` endpoint and the reference client's
//! MCP steps. Knows nothing of the simulation beyond the trace it writes.
//!
//! ```text
//!  client step ──▶ client.rs (McpClient: initialize, GET stream, tools/call, reconnect
//!                  with Last-Event-ID and backoff, exactly-once delivery)
//!        │  HTTP/1.1 over turmoil, through the intermediaries
//!        ▼
//!  server.rs (McpServer on /mcp) ──▶ jsonrpc.rs (messages) ─ session.rs (Mcp-Session-Id)
//!                                 └▶ event_store.rs (ids unique per session, replay of
//!                                    one stream after an id)
//!  stdio.rs: the `$/keepalive` notification of a stdio channel (library piece only)
//! ```

pub mod client;
pub mod event_store;
pub mod jsonrpc;
pub mod server;
pub mod session;
pub mod stdio;
