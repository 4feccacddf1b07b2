//! The reference implementation: the built-in server and client every run pairs a target
//! with, and the defects its bug models switch on.
//!
//! ```text
//!  server/      the reference server host
//!    mod.rs     routing, plain SSE on every path, SseOut (frames written, failed writes
//!               recorded), Keepalive timers (one per stream)
//!    mcp.rs     MCP Streamable HTTP on /mcp: sessions, JSON-RPC, SSE streams, replay
//!  client/      the reference client host
//!    mod.rs     the scenario's client timeline, one connection per stream
//!    mcp.rs     MCP steps: initialize, GET stream, tools/call, reconnect with
//!               Last-Event-ID and backoff, exactly-once delivery
//! ```
//!
//! Bug models are this implementation with one documented defect switched on
//! ([`crate::scenario::Defects`] for the server, [`client::mcp::ClientDefects`] for the
//! client); the registry in [`crate::targets`] names them.

pub mod client;
pub mod defects;
pub mod server;
