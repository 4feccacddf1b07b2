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
