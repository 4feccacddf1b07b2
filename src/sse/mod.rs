//! Server-Sent Events codec: an incremental, I/O-free parser and an encoder. (Stub.)

mod frame;

pub use frame::Frame;
