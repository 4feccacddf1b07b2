use super::*;
use proptest::prelude::*;

/// Parses a whole stream fed as one chunk.
fn parse(stream: &[u8]) -> Vec<Frame> {
    Parser::new().feed(stream)
}

/// Parses a stream fed as the given chunks, in order.
fn parse_chunks(chunks: &[&[u8]]) -> Vec<Frame> {
    let mut parser = Parser::new();
    chunks.iter().flat_map(|c| parser.feed(c)).collect()
}

fn event(name: Option<&str>, id: Option<&str>, data: &str) -> Frame {
    Frame::Event {
        name: name.map(str::to_owned),
        id: id.map(str::to_owned),
        data: data.to_owned(),
    }
}

fn message(data: &str) -> Frame {
    event(None, None, data)
}

#[test]
fn data_line_then_blank_line_dispatches_a_message() {
    assert_eq!(parse(b"data: hello\n\n"), vec![message("hello")]);
}

#[test]
fn named_event_with_empty_data_is_dispatched() {
    let frames = parse(b"event: ping\ndata: \n\n");
    assert_eq!(frames, vec![event(Some("ping"), None, "")]);
    assert!(frames[0].dispatches());
}

#[test]
fn spec_example_multi_line_data_is_joined_with_lf() {
    assert_eq!(
        parse(b"data: YHOO\ndata: +2\ndata: 10\n\n"),
        vec![message("YHOO\n+2\n10")]
    );
}

#[test]
fn spec_example_field_without_colon_appends_an_empty_line() {
    // From the HTML standard: the first block is one empty event, the second is "\n",
    // and the last `data:` never dispatches (no blank line before end of stream).
    assert_eq!(
        parse(b"data\n\ndata\ndata\n\ndata:"),
        vec![message(""), message("\n")]
    );
}

#[test]
fn exactly_one_leading_space_is_stripped() {
    assert_eq!(
        parse(b"data:test\n\ndata: test\n\ndata:  test\n\n"),
        vec![message("test"), message("test"), message(" test")]
    );
}

#[test]
fn value_keeps_colons_after_the_first() {
    assert_eq!(parse(b"data: a:b: c\n\n"), vec![message("a:b: c")]);
}

#[test]
fn comment_yields_text_after_colon_with_leading_space() {
    assert_eq!(
        parse(b": keepalive\n::x\n:\n"),
        vec![
            Frame::Comment {
                text: " keepalive".into()
            },
            Frame::Comment { text: ":x".into() },
            Frame::Comment { text: "".into() },
        ]
    );
}

#[test]
fn comment_inside_a_block_does_not_dispatch_or_break_it() {
    assert_eq!(
        parse(b"data: a\n: ping\ndata: b\n\n"),
        vec![
            Frame::Comment {
                text: " ping".into()
            },
            message("a\nb"),
        ]
    );
}

#[test]
fn blank_line_without_data_dispatches_nothing() {
    assert_eq!(parse(b"\n\n\nevent: x\n\n"), vec![]);
}

#[test]
fn event_type_resets_after_each_blank_line() {
    assert_eq!(
        parse(b"event: a\ndata: 1\n\ndata: 2\n\nevent: b\n\ndata: 3\n\n"),
        vec![event(Some("a"), None, "1"), message("2"), message("3")]
    );
}

#[test]
fn empty_event_field_means_message() {
    assert_eq!(parse(b"event:\ndata: x\n\n"), vec![message("x")]);
}

#[test]
fn only_one_trailing_lf_of_data_is_removed() {
    assert_eq!(parse(b"data: a\ndata:\n\n"), vec![message("a\n")]);
}

#[test]
fn unknown_and_wrong_case_fields_are_ignored() {
    assert_eq!(
        parse(b"foo: bar\nData: no\nevent : no\ndata: x\n\n"),
        vec![message("x")]
    );
}

#[test]
fn lf_crlf_and_cr_line_endings_are_equivalent() {
    let expected = vec![event(Some("e"), None, "a\nb")];
    assert_eq!(parse(b"event: e\ndata: a\ndata: b\n\n"), expected);
    assert_eq!(parse(b"event: e\r\ndata: a\r\ndata: b\r\n\r\n"), expected);
    assert_eq!(parse(b"event: e\rdata: a\rdata: b\r\r"), expected);
    assert_eq!(parse(b"event: e\rdata: a\r\ndata: b\n\r"), expected);
}

#[test]
fn cr_only_stream_in_many_chunks() {
    assert_eq!(
        parse_chunks(&[b"data: a\r", b"data: b\r", b"\r", b"data: c\r\r"]),
        vec![message("a\nb"), message("c")]
    );
}

#[test]
fn crlf_split_across_chunks_is_one_line_ending() {
    // Were the split CR and LF two endings, "a" and "b" would be two events.
    assert_eq!(
        parse_chunks(&[b"data: a\r", b"\ndata: b\r\n\r\n"]),
        vec![message("a\nb")]
    );
}

#[test]
fn crlf_split_by_an_empty_chunk_is_one_line_ending() {
    assert_eq!(
        parse_chunks(&[b"data: a\r", b"", b"\ndata: b\r", b"\n", b"\r", b"\n"]),
        vec![message("a\nb")]
    );
}

#[test]
fn cr_at_chunk_end_followed_by_other_byte_ends_the_line() {
    assert_eq!(
        parse_chunks(&[b"data: a\r", b"data: b\r", b"\r"]),
        vec![message("a\nb")]
    );
}

#[test]
fn lf_after_a_finished_cr_line_is_a_blank_line() {
    // CR, then a new line's content, then LF: the LF ends that new (non-blank) line.
    assert_eq!(parse(b"data: a\r\n\n"), vec![message("a")]);
    assert_eq!(parse(b"data: a\r\r\n"), vec![message("a")]);
    assert_eq!(parse(b"data: a\n\r"), vec![message("a")]);
}

#[test]
fn bom_is_stripped_at_stream_start() {
    assert_eq!(parse(b"\xEF\xBB\xBFdata: x\n\n"), vec![message("x")]);
}

#[test]
fn bom_split_across_chunks_is_stripped() {
    assert_eq!(
        parse_chunks(&[b"\xEF", b"", b"\xBB", b"\xBFdata", b": x\n\n"]),
        vec![message("x")]
    );
}

#[test]
fn only_one_bom_is_stripped() {
    // The second BOM becomes part of the field name, which is then unknown.
    assert_eq!(
        parse(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n"),
        vec![message("y")]
    );
}

#[test]
fn partial_bom_bytes_are_kept_as_line_content() {
    let mut parser = Parser::new();
    assert_eq!(parser.feed(b"\xEF\xBB"), vec![]);
    assert_eq!(parser.feed(b"x"), vec![]);
    assert_eq!(parser.line, b"\xEF\xBBx");
    // The line decodes with replacement to "\u{FFFD}x": an unknown field.
    assert_eq!(parser.feed(b"\ndata: y\n\n"), vec![message("y")]);
}

#[test]
fn bom_bytes_after_stream_start_are_content() {
    assert_eq!(
        parse_chunks(&[b"data: ", b"\xEF\xBB\xBF", b"\n\n"]),
        vec![message("\u{FEFF}")]
    );
}

#[test]
fn utf8_split_across_chunks_is_decoded_per_line() {
    let stream = "data: é日\u{1F600}\n\n".as_bytes();
    let expected = vec![message("é日\u{1F600}")];
    for split in 0..stream.len() {
        let (a, b) = stream.split_at(split);
        assert_eq!(parse_chunks(&[a, b]), expected, "split at {split}");
    }
}

#[test]
fn invalid_utf8_is_replaced() {
    assert_eq!(
        parse(b"data: a\xFFb\xE2\x82\n\n"),
        vec![message("a\u{FFFD}b\u{FFFD}")]
    );
}

#[test]
fn id_is_attached_and_persists_across_events() {
    let mut parser = Parser::new();
    assert_eq!(
        parser.feed(b"id: 1\ndata: a\n\ndata: b\n\n"),
        vec![event(None, Some("1"), "a"), event(None, Some("1"), "b")]
    );
    assert_eq!(parser.last_event_id(), "1");
}

#[test]
fn id_with_null_is_ignored() {
    let mut parser = Parser::new();
    assert_eq!(
        parser.feed(b"id: 1\n\nid: a\0b\ndata: x\n\nid: \0\n\n"),
        vec![
            Frame::IdOnly { id: "1".into() },
            event(None, Some("1"), "x")
        ]
    );
    assert_eq!(parser.last_event_id(), "1");
}

#[test]
fn empty_id_resets_the_last_event_id() {
    let mut parser = Parser::new();
    assert_eq!(
        parser.feed(b"id: 1\ndata: a\n\nid\ndata: b\n\nid: 2\n\nid:\n\n"),
        vec![
            event(None, Some("1"), "a"),
            message("b"),
            Frame::IdOnly { id: "2".into() },
            Frame::IdOnly { id: "".into() },
        ]
    );
    assert_eq!(parser.last_event_id(), "");
}

#[test]
fn last_event_id_updates_at_dispatch_even_without_data() {
    let mut parser = Parser::new();
    assert_eq!(parser.feed(b"id: 7\n"), vec![]);
    assert_eq!(parser.last_event_id(), "", "not before the blank line");
    assert_eq!(parser.feed(b"\n"), vec![Frame::IdOnly { id: "7".into() }]);
    assert_eq!(parser.last_event_id(), "7");
    assert_eq!(
        parser.feed(b"data: x\n\n"),
        vec![event(None, Some("7"), "x")]
    );
}

#[test]
fn last_id_field_of_a_block_wins() {
    assert_eq!(
        parse(b"id: 1\nid: 2\ndata: x\n\n"),
        vec![event(None, Some("2"), "x")]
    );
}

#[test]
fn retry_with_digits_yields_a_frame_when_its_line_ends() {
    let mut parser = Parser::new();
    assert_eq!(parser.feed(b"retry: 3000"), vec![]);
    assert_eq!(parser.retry_ms(), None);
    assert_eq!(parser.feed(b"\n"), vec![Frame::Retry { ms: 3000 }]);
    assert_eq!(parser.retry_ms(), Some(3000));
    assert_eq!(parser.feed(b"retry:0\n\n"), vec![Frame::Retry { ms: 0 }]);
    assert_eq!(parser.retry_ms(), Some(0));
}

#[test]
fn retry_with_non_digits_is_ignored() {
    let mut parser = Parser::new();
    parser.feed(b"retry: 500\n");
    for bad in [
        &b"retry: 30s\n"[..],
        b"retry: -1\n",
        b"retry: +1\n",
        b"retry: 1 0\n",
        b"retry:  100\n",
        b"retry: 1.5\n",
        b"retry:\n",
        b"retry\n",
        "retry: \u{0661}\n".as_bytes(), // ARABIC-INDIC DIGIT ONE is not ASCII
        b"retry: 99999999999999999999999\n",
    ] {
        assert_eq!(
            parser.feed(bad),
            vec![],
            "{:?}",
            String::from_utf8_lossy(bad)
        );
        assert_eq!(parser.retry_ms(), Some(500));
    }
}

#[test]
fn fields_in_a_block_yield_frames_in_stream_order() {
    assert_eq!(
        parse(b": c\nretry: 5\ndata: d\n\n"),
        vec![
            Frame::Comment { text: " c".into() },
            Frame::Retry { ms: 5 },
            message("d"),
        ]
    );
}

#[test]
fn nothing_dispatches_at_end_of_stream() {
    let mut parser = Parser::new();
    assert_eq!(parser.feed(b"id: 3\nevent: e\ndata: x\n"), vec![]);
    assert_eq!(parser.finish(), vec![]);
    assert_eq!(parser.last_event_id(), "", "the undispatched id is lost");
    // Pending data, event type and id do not leak into the next stream.
    assert_eq!(parser.feed(b"data: y\n\n"), vec![message("y")]);
}

#[test]
fn unterminated_line_is_discarded_at_end_of_stream() {
    let mut parser = Parser::new();
    assert_eq!(parser.feed(b"data: x\n\ndata: y\n"), vec![message("x")]);
    assert_eq!(parser.feed(b"data: partial"), vec![]);
    assert_eq!(parser.finish(), vec![]);
    // Neither the pending line nor the pending data survives into the next stream.
    assert_eq!(parser.feed(b"\n"), vec![]);
    assert_eq!(parser.feed(b"data: z\n\n"), vec![message("z")]);
}

#[test]
fn finish_keeps_last_event_id_and_retry_and_rearms_bom() {
    let mut parser = Parser::new();
    parser.feed(b"retry: 100\nid: 9\ndata: a\n\ndata: b\r");
    assert_eq!(parser.finish(), vec![]);
    assert_eq!(parser.last_event_id(), "9");
    assert_eq!(parser.retry_ms(), Some(100));
    // Next stream: a BOM is stripped again, a leading LF is a blank line (the CR that
    // ended the previous stream is forgotten), and the last event ID carries over.
    assert_eq!(
        parser.feed(b"\xEF\xBB\xBFdata: c\n\n"),
        vec![event(None, Some("9"), "c")]
    );
}

#[test]
fn line_buffer_is_reused_across_chunks() {
    let mut parser = Parser::new();
    assert_eq!(parser.feed(b"da"), vec![]);
    assert_eq!(parser.feed(b"ta: "), vec![]);
    assert_eq!(parser.feed(b"x\n\nda"), vec![message("x")]);
    assert_eq!(parser.line, b"da");
    assert_eq!(parser.feed(b"ta: y\n\n"), vec![message("y")]);
    assert!(parser.line.is_empty());
}

#[test]
fn an_endless_line_costs_at_most_the_limit_and_is_kept_cut() {
    let mut parser = Parser::with_max(64);
    assert_eq!(parser.feed(b"data: "), vec![]);
    for _ in 0..1_000 {
        assert_eq!(parser.feed(&[b'x'; 1024]), vec![]);
        assert!(
            parser.line.capacity() <= 64 + 1024,
            "{}",
            parser.line.capacity()
        );
    }
    let frames = parser.feed(b"\n\n");
    let [Frame::Event { data, .. }] = &frames[..] else {
        panic!("{frames:?}")
    };
    let c = crate::sse::cut::parse(data).expect("cut");
    assert_eq!((c.kept.len(), c.len), (64, 1_024_000));
    assert_eq!(*data, crate::sse::cut::cut(&"x".repeat(1_024_000), 64));
}

/// Lines a stream is built from: fields, comments, blanks, odd UTF-8 and raw bytes.
fn arb_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::sample::select(vec![
            &b"data: x"[..],
            b"data",
            b"data:",
            b"data:  sp",
            b"event: e",
            b"event:",
            b"id: 1",
            b"id: 2",
            b"id",
            b"id: a\0",
            b"retry: 10",
            b"retry: 1x",
            b": keepalive",
            b":",
            b"",
            b"",
            b"unknown: v",
            b"\xEF\xBB\xBF",
        ])
        .prop_map(<[u8]>::to_vec),
        1 => "(data|event|id|:)?[: a\u{e9}\u{65e5}\u{1F600}]{0,6}"
            .prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..6),
    ]
}

fn arb_ending() -> impl Strategy<Value = &'static [u8]> {
    prop::sample::select(vec![&b"\n"[..], b"\r", b"\r\n"])
}

/// A byte stream: an optional (maybe partial) BOM, then lines with mixed endings, with
/// possibly an unterminated tail.
fn arb_stream() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![&b""[..], b"\xEF\xBB\xBF", b"\xEF\xBB", b"\xEF"]),
        prop::collection::vec((arb_line(), arb_ending()), 0..24),
        arb_line(),
    )
        .prop_map(|(bom, lines, tail)| {
            let mut stream = bom.to_vec();
            for (line, ending) in lines {
                stream.extend_from_slice(&line);
                stream.extend_from_slice(ending);
            }
            stream.extend_from_slice(&tail);
            stream
        })
}

/// Everything observable after a stream: its frames, last event ID and retry.
fn observe(parser: &mut Parser, chunks: &[&[u8]]) -> (Vec<Frame>, String, Option<u64>) {
    let mut frames: Vec<Frame> = chunks.iter().flat_map(|c| parser.feed(c)).collect();
    frames.extend(parser.finish());
    (frames, parser.last_event_id().to_owned(), parser.retry_ms())
}

/// A frame with every text cut to `max` (what a parser with that limit must yield).
fn cut_frame(f: &Frame, max: usize) -> Frame {
    let c = |t: &String| crate::sse::cut::cut(t, max).into_owned();
    match f {
        Frame::Comment { text } => Frame::Comment { text: c(text) },
        Frame::Event { name, id, data } => Frame::Event {
            name: name.as_ref().map(c),
            id: id.as_ref().map(c),
            data: c(data),
        },
        Frame::Retry { ms } => Frame::Retry { ms: *ms },
        Frame::IdOnly { id } => Frame::IdOnly { id: c(id) },
    }
}

/// Long lines and long data: fields with values of any length.
fn arb_long_stream() -> impl Strategy<Value = Vec<u8>> {
    let line = (
        prop::sample::select(vec![
            &b"data:"[..],
            b"data: ",
            b":",
            b"event: ",
            b"id:",
            b"retry: ",
            b"retry: 000000000000000000000000000",
            b"x: ",
        ]),
        "[a \u{e9}\u{3000}\u{1F600}0-9]{0,90}",
        prop::sample::select(vec![&b"\n"[..], b"\r\n", b"\n\n", b"\r"]),
    )
        .prop_map(|(f, v, e)| [f, v.as_bytes(), e].concat());
    prop::collection::vec(line, 0..16).prop_map(|l| l.concat())
}

proptest! {
    #[test]
    fn a_limited_parser_yields_the_frames_cut(
        stream in arb_long_stream(),
        piece in 1usize..80,
    ) {
        let mut whole = Parser::new();
        let expected: Vec<Frame> =
            whole.feed(&stream).iter().map(|f| cut_frame(f, 32)).collect();
        let mut limited = Parser::with_max(32);
        let got: Vec<Frame> = stream.chunks(piece).flat_map(|c| limited.feed(c)).collect();
        prop_assert_eq!(got, expected);
        let id = crate::sse::cut::cut(whole.last_event_id(), 32).into_owned();
        prop_assert_eq!(limited.last_event_id(), id.as_str());
    }
}

proptest! {
    #[test]
    fn any_chunking_yields_the_same_frames(
        stream in arb_stream(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let whole = observe(&mut Parser::new(), &[&stream]);

        let mut cut_at: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        cut_at.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for &cut in &cut_at {
            chunks.push(&stream[start..cut]);
            start = cut;
        }
        chunks.push(&stream[start..]);
        prop_assert_eq!(&observe(&mut Parser::new(), &chunks), &whole);

        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        prop_assert_eq!(&observe(&mut Parser::new(), &bytes), &whole);
    }
}
