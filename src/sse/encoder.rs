//! The event-stream encoder: canonical, LF-terminated bytes for a server to send.
//!
//! Every [`Frame`] is encoded as a whole block ending in a blank line, so encodings can be
//! concatenated and [`super::Parser`] yields the frames back. Fields are written `name: value`
//! (the parser strips exactly one space, so values starting with a space survive) and as
//! `name:` when the value is empty.

use super::Frame;
use std::fmt;
use std::fmt::Write as _;

/// Why a frame cannot be written as an event stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// A comment's text contains CR or LF, which would end the comment line early.
    CommentLineBreak,
    /// An event name contains CR or LF.
    NameLineBreak,
    /// An event name is `Some("")`, which a receiver cannot tell from the default `message`
    /// (the parser yields `None`).
    EmptyName,
    /// An id contains CR or LF.
    IdLineBreak,
    /// An id contains NULL; a receiver ignores such an `id` field.
    IdNull,
    /// An event id is `Some("")`: an empty `id` resets the last event ID, which the parser
    /// reports as `None`. Encode `Frame::IdOnly { id: "" }` before the event instead.
    EmptyEventId,
    /// Event data contains CR, which a receiver reads as a line ending (LF is fine: the data
    /// is split into one `data` line per LF).
    DataCarriageReturn,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncodeError::CommentLineBreak => "comment text contains CR or LF",
            EncodeError::NameLineBreak => "event name contains CR or LF",
            EncodeError::EmptyName => "event name is empty (use None for `message`)",
            EncodeError::IdLineBreak => "id contains CR or LF",
            EncodeError::IdNull => "id contains NULL",
            EncodeError::EmptyEventId => "event id is empty (use IdOnly to reset the id)",
            EncodeError::DataCarriageReturn => "event data contains CR",
        })
    }
}

impl std::error::Error for EncodeError {}

/// Encodes one frame as a complete block, ending with a blank line:
///
/// - `Comment { text }` → `:{text}\n\n`, as servers send keepalives (see
///   [`encode_keepalive_comment`]); the blank line dispatches nothing because the data
///   buffer is empty.
/// - `Event { name, id, data }` → `event: {name}\n` if named, `id: {id}\n` if `id` is set,
///   one `data: {line}\n` per LF-separated line of `data` (an empty line is written
///   `data:`, so empty data is `data:\n`), then `\n`. Without an `id`, no `id` line is
///   written and the receiver reports the last event ID still in effect.
/// - `Retry { ms }` → `retry: {ms}\n\n`.
/// - `IdOnly { id }` → `id: {id}\n\n` (`id:\n\n` for an empty id, which resets it).
///
/// Frames the parser could not yield back are rejected with an [`EncodeError`].
pub fn encode(frame: &Frame) -> Result<String, EncodeError> {
    let mut out = String::new();
    match frame {
        Frame::Comment { text } => {
            check_comment(text)?;
            out.push(':');
            out.push_str(text);
            out.push('\n');
        }
        Frame::Event { name, id, data } => {
            if let Some(name) = name {
                if name.is_empty() {
                    return Err(EncodeError::EmptyName);
                }
                if has_line_break(name) {
                    return Err(EncodeError::NameLineBreak);
                }
                push_field(&mut out, "event", name);
            }
            if let Some(id) = id {
                if id.is_empty() {
                    return Err(EncodeError::EmptyEventId);
                }
                check_id(id)?;
                push_field(&mut out, "id", id);
            }
            if data.contains('\r') {
                return Err(EncodeError::DataCarriageReturn);
            }
            for line in data.split('\n') {
                push_field(&mut out, "data", line);
            }
        }
        Frame::Retry { ms } => {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "retry: {ms}");
        }
        Frame::IdOnly { id } => {
            check_id(id)?;
            push_field(&mut out, "id", id);
        }
    }
    out.push('\n');
    Ok(out)
}

/// A keepalive comment as servers send it: `:{text}\n\n`. Pass `" ping"` for `: ping`.
pub fn encode_keepalive_comment(text: &str) -> Result<String, EncodeError> {
    check_comment(text)?;
    Ok(format!(":{text}\n\n"))
}

/// Appends `name: value\n`, or `name:\n` for an empty value.
fn push_field(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push(':');
    if !value.is_empty() {
        out.push(' ');
        out.push_str(value);
    }
    out.push('\n');
}

fn has_line_break(s: &str) -> bool {
    s.contains(['\r', '\n'])
}

fn check_comment(text: &str) -> Result<(), EncodeError> {
    if has_line_break(text) {
        return Err(EncodeError::CommentLineBreak);
    }
    Ok(())
}

fn check_id(id: &str) -> Result<(), EncodeError> {
    if has_line_break(id) {
        return Err(EncodeError::IdLineBreak);
    }
    if id.contains('\0') {
        return Err(EncodeError::IdNull);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
