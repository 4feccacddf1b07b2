//! What the parser yields: one classified frame of an event stream.

use serde::Serialize;
use std::fmt;

/// One frame of a `text/event-stream`, classified for the trace.
///
/// A *comment* (a line starting with `:`) dispatches nothing and is the only transparent
/// keepalive. An *event* is dispatched on a blank line when the data buffer is not empty;
/// `event: ping\ndata: \n\n` is an event (named, empty data), not a keepalive. A block that
/// only sets `id` yields [`Frame::IdOnly`]; a `retry` field with ASCII digits yields
/// [`Frame::Retry`] as soon as its line ends. A text may be cut (see [`super::cut`]): compare
/// texts as they are, and ask [`super::is_blank`], not `trim`, whether data is only whitespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "frame", rename_all = "kebab-case")]
pub enum Frame {
    /// A comment line; `text` is everything after the colon (leading space kept).
    Comment {
        /// The line after the `:`, leading space kept.
        text: String,
    },
    /// A dispatched event. `name` is `None` for the default `message` type.
    Event {
        /// The event type from the block's `event` field; `None` when the block set none or
        /// an empty one (type `message`).
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The last event ID when the event was dispatched: set by this block's `id` field or
        /// by an earlier block's; `None` while it is empty. The encoder writes it as the
        /// block's `id` line.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The block's `data` values joined with LF (one `data` line each).
        data: String,
    },
    /// A valid `retry` field: the reconnection time in milliseconds.
    Retry {
        /// The reconnection time. Unit: milliseconds.
        ms: u64,
    },
    /// A block that set (or reset, when empty) the last event id and carried no data.
    IdOnly {
        /// The last event ID the block set; empty when it reset it.
        id: String,
    },
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
            Frame::Comment { text } => write!(f, "comment {}", Quoted(":", text)),
            Frame::Event { name, id, data } => {
                write!(f, "event")?;
                if let Some(n) = name {
                    write!(f, " {}", Quoted("", n))?;
                }
                if let Some(i) = id {
                    write!(f, " id={}", Quoted("", i))?;
                }
                write!(f, " data={}", Quoted("", data))
            }
            Frame::Retry { ms } => write!(f, "retry {ms}ms"),
            Frame::IdOnly { id } => write!(f, "id-only {}", Quoted("", id)),
        }
    }
}

/// A text quoted (after `prefix`); a cut text (see [`super::cut`]) as its kept part, quoted,
/// then its full length and digest: `"xxxx"…(65000 bytes, sha256 0123456789abcdef)`.
struct Quoted<'a>(&'a str, &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Quoted(prefix, text) = *self;
        match super::cut::parse(text) {
            None => write!(f, "{:?}", format!("{prefix}{text}")),
            Some(c) => write!(
                f,
                "{:?}…({} bytes{}, sha256 {})",
                format!("{prefix}{}", c.kept),
                c.len,
                if c.blank { " of whitespace" } else { "" },
                c.digest
            ),
        }
    }
}
