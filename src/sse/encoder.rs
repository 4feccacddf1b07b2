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
mod tests {
    use super::*;
    use crate::sse::Parser;
    use proptest::prelude::*;

    fn event(name: Option<&str>, id: Option<&str>, data: &str) -> Frame {
        Frame::Event {
            name: name.map(str::to_owned),
            id: id.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn comment_is_a_line_then_a_blank_line() {
        let frame = Frame::Comment {
            text: " keepalive".into(),
        };
        assert_eq!(encode(&frame).unwrap(), ": keepalive\n\n");
        assert_eq!(encode_keepalive_comment(" ping").unwrap(), ": ping\n\n");
    }

    #[test]
    fn event_writes_name_id_and_one_data_line_per_line() {
        assert_eq!(
            encode(&event(Some("update"), Some("42"), "a\n\n b")).unwrap(),
            "event: update\nid: 42\ndata: a\ndata:\ndata:  b\n\n"
        );
        assert_eq!(encode(&event(None, None, "x")).unwrap(), "data: x\n\n");
    }

    #[test]
    fn empty_data_is_one_bare_data_line() {
        assert_eq!(
            encode(&event(Some("ping"), None, "")).unwrap(),
            "event: ping\ndata:\n\n"
        );
    }

    #[test]
    fn retry_and_id_only_blocks() {
        assert_eq!(
            encode(&Frame::Retry { ms: 3000 }).unwrap(),
            "retry: 3000\n\n"
        );
        assert_eq!(
            encode(&Frame::IdOnly { id: "7".into() }).unwrap(),
            "id: 7\n\n"
        );
        assert_eq!(encode(&Frame::IdOnly { id: "".into() }).unwrap(), "id:\n\n");
    }

    #[test]
    fn unrepresentable_frames_are_rejected() {
        let cases = [
            (
                Frame::Comment {
                    text: "a\nb".into(),
                },
                EncodeError::CommentLineBreak,
            ),
            (
                Frame::Comment { text: "a\r".into() },
                EncodeError::CommentLineBreak,
            ),
            (event(Some("a\rb"), None, "x"), EncodeError::NameLineBreak),
            (event(Some(""), None, "x"), EncodeError::EmptyName),
            (event(None, Some("1\n"), "x"), EncodeError::IdLineBreak),
            (event(None, Some("1\0"), "x"), EncodeError::IdNull),
            (event(None, Some(""), "x"), EncodeError::EmptyEventId),
            (event(None, None, "a\r\nb"), EncodeError::DataCarriageReturn),
            (Frame::IdOnly { id: "\0".into() }, EncodeError::IdNull),
            (Frame::IdOnly { id: "\r".into() }, EncodeError::IdLineBreak),
        ];
        for (frame, error) in cases {
            assert_eq!(encode(&frame), Err(error), "{frame}");
        }
        assert_eq!(
            encode_keepalive_comment("x\n"),
            Err(EncodeError::CommentLineBreak)
        );
    }

    /// Text without CR or LF; may start with spaces or colons and hold NULL and non-ASCII.
    fn arb_text() -> impl Strategy<Value = String> {
        "[ :a-z0-9\u{0}\u{e9}\u{FEFF}\u{1F600}]{0,8}"
    }

    fn arb_id() -> impl Strategy<Value = String> {
        arb_text().prop_filter("no NULL in ids", |s| !s.contains('\0'))
    }

    fn arb_frame() -> impl Strategy<Value = Frame> {
        prop_oneof![
            arb_text().prop_map(|text| Frame::Comment { text }),
            (
                prop::option::of(arb_text().prop_filter("non-empty", |s| !s.is_empty())),
                prop::option::of(arb_id().prop_filter("non-empty", |s| !s.is_empty())),
                prop::collection::vec(arb_text(), 1..4).prop_map(|lines| lines.join("\n")),
            )
                .prop_map(|(name, id, data)| Frame::Event { name, id, data }),
            any::<u64>().prop_map(|ms| Frame::Retry { ms }),
            arb_id().prop_map(|id| Frame::IdOnly { id }),
        ]
    }

    /// The frames a receiver yields for `sent`: an event without an id carries the last
    /// event ID still in effect (set by an earlier event or id-only block).
    fn as_received(sent: &[Frame]) -> Vec<Frame> {
        let mut last_id: Option<String> = None;
        sent.iter()
            .map(|frame| match frame {
                Frame::Event { name, id, data } => {
                    if id.is_some() {
                        last_id.clone_from(id);
                    }
                    Frame::Event {
                        name: name.clone(),
                        id: last_id.clone(),
                        data: data.clone(),
                    }
                }
                Frame::IdOnly { id } => {
                    last_id = (!id.is_empty()).then(|| id.clone());
                    frame.clone()
                }
                other => other.clone(),
            })
            .collect()
    }

    proptest! {
        #[test]
        fn encoded_frames_parse_back(sent in prop::collection::vec(arb_frame(), 0..12)) {
            let stream: String = sent.iter().map(|f| encode(f).unwrap()).collect();
            let mut parser = Parser::new();
            let received = parser.feed(stream.as_bytes());
            prop_assert_eq!(received, as_received(&sent));
            prop_assert_eq!(parser.finish(), vec![]);
        }
    }
}
