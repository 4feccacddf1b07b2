//! MCP Streamable HTTP: the reference server's `/mcp` endpoint and the reference client's
//! MCP steps. Knows nothing of the simulation beyond the trace it writes.

pub mod event_store;
pub mod jsonrpc;
pub mod server;
pub mod session;
