//! middlebox: a deterministic simulation and conformance harness for long-lived HTTP
//! streaming transports (MCP Streamable HTTP, Server-Sent Events).
//!
//! A scenario file describes a run: the intermediaries between client and server (nginx's
//! 60 s idle timeout, a buffering corporate proxy, ...), the server's settings, the client's
//! timeline, and the checks that must hold. middlebox runs it on virtual time, records a
//! trace, and judges the checks over the trace: a 30-minute scenario takes milliseconds,
//! and the same seed gives the same trace, byte for byte.
//!
//! ```text
//!  scenario file ──parse──▶ Scenario ──run──▶ simulated network, on virtual time:
//!                                     client ─▶ intermediaries ─▶ server
//!                                     (targets plug in at either end)
//!                                              │
//!                                              ▼
//!                            Trace ──▶ checks ──▶ RunResult
//! ```
//!
//! # Testing your own server
//!
//! Wrap a hyper or tower service in a [`ServiceTarget`], load or parse a [`Scenario`], and
//! run it with the reference client; [`render_failure`] says what went wrong, starting with
//! how to reproduce it:
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use std::convert::Infallible;
//!
//! // A server that answers every request with one SSE event, then ends the response.
//! let server = middlebox::ServiceTarget::new(|| {
//!     hyper::service::service_fn(|_req| async {
//!         Ok::<_, Infallible>(
//!             hyper::Response::builder()
//!                 .header("content-type", "text/event-stream")
//!                 .body(Full::new(Bytes::from_static(b"data: hello\n\n")))
//!                 .unwrap(),
//!         )
//!     })
//! });
//! let scenario = middlebox::parse(
//!     "behind-nginx.toml",
//!     "description = \"a stream survives 5 minutes behind nginx\"\nduration = \"5m\"\n\
//!      [[intermediary]]\npreset = \"nginx\"\n\
//!      [[client.step]]\nat = \"1s\"\ndo = \"open-stream\"\n\
//!      [[expect]]\ncheck = \"stream.survives\"\n",
//! )
//! .unwrap();
//! let result = middlebox::run_server(&scenario, "my-server", server, None);
//! assert_eq!(result.checks[0].verdict, middlebox::Verdict::Fail);
//! assert!(middlebox::render_failure(&result).contains("stream.survives"));
//! ```
//!
//! An SSE client is tested the same way: [`StreamClientTarget`] and [`run_client`]. Any
//! other implementation implements [`ServerTarget`] or [`ClientTarget`] itself; the
//! built-in ones (the reference, its bug models, the MCP SDKs through their adapters) are
//! in the registry, [`targets::all`].
//!
//! # Modules
//!
//! [`scenario`] (files → validated [`Scenario`]), [`intermediary`] (behaviors and
//! presets), [`sim`] (the simulated network, the roles a host plays), [`targets`] (the
//! registry and the ways to wrap an implementation), [`trace`] (what happened), [`check`]
//! (what must hold), [`report`] (verdicts, rendered), [`baseline`] (known failures declared
//! outside the scenario files), [`suite`] (many runs), [`proxy`] (the relay on real sockets,
//! real time), [`probe`] (a deployed MCP endpoint, measured), [`sse`] (the
//! SSE codec), [`mcp`] (MCP protocol pieces), [`time`] (virtual time).
#![warn(missing_docs)]

pub mod baseline;
pub mod check;
pub mod intermediary;
pub mod mcp;
pub mod probe;
pub mod proxy;
pub(crate) mod reference;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod sse;
pub mod suite;
pub mod targets;
pub mod time;
pub mod trace;

pub use check::{CheckOutcome, Verdict};
pub use report::{render_failure, RunResult};
pub use scenario::{load, parse, Scenario, ScenarioError};
pub use sim::{ClientEnv, ClientTarget, HostFuture, ServerEnv, ServerTarget};
pub use suite::{run_client, run_server};
pub use targets::service::{tower, ServiceTarget};
pub use targets::stream_client::{RecordedIo, StreamClient, StreamClientTarget};
pub use trace::{Event, EventKind, Trace};
