//! Server-Sent Events codec: an incremental, I/O-free parser and an encoder.
//!
//! - [`Parser`] turns body chunks into [`Frame`]s following the WHATWG HTML event-stream
//!   interpretation rules (§9.2.6) exactly, whatever the chunking.
//! - [`encode`] writes a [`Frame`] as canonical LF-terminated bytes that parse back to it;
//!   [`encode_keepalive_comment`] writes the comment keepalive servers send.
//!
//! - [`cut`] keeps long texts short (their first bytes, full length and digest): the parser
//!   and the trace hold bounded texts whatever a stream carries.
//!
//! Neither knows anything of the simulation: bytes in, frames out.

pub mod cut;
mod encoder;
mod frame;
mod parser;

pub use cut::is_blank;
pub use encoder::{encode, encode_keepalive_comment, EncodeError};
pub use frame::Frame;
pub use parser::Parser;
