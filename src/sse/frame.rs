//! What the parser yields: one classified frame of an event stream.

use serde::Serialize;
use std::fmt;

/// One frame of a `text/event-stream`, classified for the trace.
///
/// A *comment* (a line starting with `:`) dispatches nothing and is the only transparent
/// keepalive. An *event* is dispatched on a blank line when the data buffer is not empty;
/// `event: ping\ndata: \n\n` is an event (named, empty data), not a keepalive. A block that
/// only sets `id` yields [`Frame::IdOnly`]; a `retry` field with ASCII digits yields
/// [`Frame::Retry`] as soon as its line ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "frame", rename_all = "kebab-case")]
pub enum Frame {
    /// A comment line; `text` is everything after the colon (leading space kept).
    Comment { text: String },
    /// A dispatched event. `name` is `None` for the default `message` type.
    Event {
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        data: String,
    },
    /// A valid `retry` field: the reconnection time in milliseconds.
    Retry { ms: u64 },
    /// A block that set (or reset, when empty) the last event id and carried no data.
    IdOnly { id: String },
}

impl Frame {
    /// True for frames that dispatch something to the application (`onmessage` or a listener).
    pub fn dispatches(&self) -> bool {
        matches!(self, Frame::Event { .. })
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Frame::Comment { text } => write!(f, "comment {:?}", format!(":{text}")),
            Frame::Event { name, id, data } => {
                write!(f, "event")?;
                if let Some(n) = name {
                    write!(f, " {n:?}")?;
                }
                if let Some(i) = id {
                    write!(f, " id={i:?}")?;
                }
                write!(f, " data={data:?}")
            }
            Frame::Retry { ms } => write!(f, "retry {ms}ms"),
            Frame::IdOnly { id } => write!(f, "id-only {id:?}"),
        }
    }
}
