//! MCP protocol pieces, free of the simulation: JSON-RPC messages, sessions, the event
//! store, protocol revisions, and the stdio keepalive.
//!
//! ```text
//!  jsonrpc.rs (messages) ─ session.rs (Mcp-Session-Id, one event store each)
//!                        └▶ event_store.rs (ids unique per session, replay of one stream
//!                           after an id)
//!  revision.rs (2025-03-26 … 2026-07-28: sessions, priming, cancel on close)
//!  stdio.rs: the `$/keepalive` notification of a stdio channel (library piece only)
//! ```
//!
//! The reference server and client that speak MCP over the simulated network are in
//! `crate::reference`.

pub mod event_store;
pub mod jsonrpc;
pub mod revision;
pub mod session;
pub mod stdio;

pub use revision::Revision;
