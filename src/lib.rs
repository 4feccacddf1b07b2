//! middlebox: a deterministic simulation and conformance harness for long-lived HTTP
//! streaming transports (MCP Streamable HTTP, Server-Sent Events).
//!
//! ```text
//! scenario file ──parse+validate──▶ Scenario ──build──▶ turmoil Sim
//!                                              │  client host ─▶ intermediary hosts ─▶ server host
//!                                              │        (targets plug in at either end)
//!                                              ▼
//!                                  trace (virtual-time events) ──▶ checks ──▶ verdicts ──▶ report
//!                                              └──────────────▶ snapshot (insta, snapshots/)
//! ```
//!
//! Modules: [`scenario`] (files → validated [`scenario::Scenario`]), [`intermediary`]
//! (behaviors and presets), [`sse`] (codec), [`sim`] (turmoil world, relays, runner),
//! [`targets`] (implementations under test), [`trace`], [`check`], [`report`].

pub mod bench;
pub mod check;
pub mod cli;
pub mod intermediary;
pub mod mcp;
pub mod reference;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod sse;
pub mod suite;
pub mod targets;
pub mod time;
pub mod trace;
