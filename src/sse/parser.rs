//! The incremental event-stream parser (WHATWG HTML §9.2.6, "Interpreting an event stream").
//!
//! Bytes go in through [`Parser::feed`] in chunks of any size; frames come out as soon as
//! the line that completes them has ended. The parser owns no I/O and no clock.

use super::cut::{TextBuf, PARSE_TEXT_MAX};
use super::Frame;
use std::mem;

/// The UTF-8 byte order mark, ignored once at the start of a stream.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Progress through the optional byte order mark at the start of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BomState {
    /// This many leading bytes of the stream matched the BOM so far (0 to 2).
    Matching(usize),
    /// The BOM was stripped or ruled out; all further bytes are stream content.
    Done,
}

/// An incremental, I/O-free `text/event-stream` parser.
///
/// It follows the WHATWG rules exactly: one leading BOM is ignored; lines end with CRLF, LF or
/// CR (a CR ending one chunk and an LF starting the next are one line ending); each complete
/// line is decoded as UTF-8 with replacement; comments, `event`, `data`, `id` and `retry`
/// fields are interpreted and a blank line dispatches. Beyond the spec, it reports comments,
/// valid `retry` fields and id-only blocks as [`Frame`]s so the trace can show them.
///
/// Memory is bounded whatever the stream holds: a line or an event's data longer than the
/// parser's limit ([`PARSE_TEXT_MAX`] unless [`Parser::with_max`] says) is kept cut (see
/// [`super::cut`]: its first bytes, its full length and digest), so an endless line without a
/// line ending costs at most the limit. Texts within the limit are exactly the spec's.
///
/// The last event ID and the reconnection time belong to the `EventSource`, not to one
/// response body, so [`Parser::finish`] keeps them: feed the next connection's body to the
/// same parser to model a browser that reconnects.
#[derive(Clone, Debug)]
pub struct Parser {
    /// Where we are in the optional leading BOM of the current stream.
    bom: BomState,
    /// The previous chunk ended with a CR, so an LF opening the next chunk ends nothing.
    after_cr: bool,
    /// Bytes of the current, not yet terminated line (at most `max`: a longer line goes on
    /// in `long`).
    line: Vec<u8>,
    /// The rest of a line longer than `max`, interpreted as it streams.
    long: Option<Long>,
    /// The first byte of the long line's value is a space to drop (`field: value`).
    long_skip_space: bool,
    /// The most a line, a text or the data buffer keeps.
    max: usize,
    /// The spec's data buffer: the `data` values of the block, joined with LF.
    data: TextBuf,
    /// The block had a `data` field (the spec's data buffer is not empty).
    has_data: bool,
    /// The spec's event type buffer (empty means `message`).
    event_type: String,
    /// The spec's last event ID buffer, set by `id` fields.
    id_buffer: String,
    /// True when the current block had a (non-ignored) `id` field.
    id_in_block: bool,
    /// The spec's last event ID string of the event source, updated at each dispatch.
    last_event_id: String,
    /// The reconnection time from the last valid `retry` field, in milliseconds.
    retry_ms: Option<u64>,
}

/// What the rest of a line longer than the parser's limit is, by its field.
#[derive(Clone, Debug)]
enum Long {
    /// A comment's text.
    Comment(TextBuf),
    /// An `event` field's value.
    Event(TextBuf),
    /// An `id` field's value, and whether it held a NULL (then it is ignored).
    Id(TextBuf, bool),
    /// A `data` field's value, streamed into the data buffer.
    Data,
    /// A `retry` field's value: its digits after leading zeros (at most 21 kept: more is
    /// beyond `u64`), and whether every byte so far was a digit.
    Retry { digits: String, valid: bool },
    /// Any other field.
    Ignored,
}

/// The smallest limit a parser takes: every field name fits.
const MIN_MAX: usize = 32;

impl Default for Parser {
    fn default() -> Self {
        Self::with_max(PARSE_TEXT_MAX)
    }
}

impl Parser {
    /// A parser at the start of a stream, with an empty last event ID and no reconnection time.
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser that keeps at most `max` bytes (at least 32) of a line or an event's data.
    pub fn with_max(max: usize) -> Self {
        let max = max.max(MIN_MAX);
        Parser {
            bom: BomState::Matching(0),
            after_cr: false,
            line: Vec::new(),
            long: None,
            long_skip_space: false,
            max,
            data: TextBuf::new(max),
            has_data: false,
            event_type: String::new(),
            id_buffer: String::new(),
            id_in_block: false,
            last_event_id: String::new(),
            retry_ms: None,
        }
    }

    /// Feed the next chunk of the body; returns the frames completed by it, in order.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Frame> {
        let mut frames = Vec::new();
        let mut rest = self.skip_bom(chunk);
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\r' || b == b'\n') {
            if self.line.is_empty() && self.long.is_none() && end <= self.max {
                self.process_line(&rest[..end], &mut frames);
            } else {
                self.extend_line(&rest[..end]);
                self.end_line(&mut frames);
            }
            let ended_by_cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if ended_by_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.extend_line(rest);
        frames
    }

    /// Adds bytes to the current line: kept while the line fits the limit, else interpreted
    /// as they come (a long line).
    fn extend_line(&mut self, bytes: &[u8]) {
        if self.long.is_some() {
            self.extend_long(bytes);
            return;
        }
        self.line.extend_from_slice(bytes);
        if self.line.len() <= self.max {
            return;
        }
        // The line outgrows the limit: its field is known by now (names are shorter than
        // MIN_MAX), and its value streams on.
        let line = mem::take(&mut self.line);
        let (long, value) = match line.iter().position(|&b| b == b':') {
            Some(0) => (Long::Comment(TextBuf::new(self.max)), 1),
            Some(k) => {
                let long = match &line[..k] {
                    b"data" => {
                        if self.has_data {
                            self.data.push_str("\n");
                        }
                        self.has_data = true;
                        Long::Data
                    }
                    b"event" => Long::Event(TextBuf::new(self.max)),
                    b"id" => Long::Id(TextBuf::new(self.max), false),
                    b"retry" => Long::Retry {
                        digits: String::new(),
                        valid: true,
                    },
                    _ => Long::Ignored,
                };
                self.long_skip_space = true;
                (long, k + 1)
            }
            None => (Long::Ignored, line.len()),
        };
        self.long = Some(long);
        self.extend_long(&line[value..]);
        self.line = line;
        self.line.clear();
        self.line.shrink_to(self.max);
    }

    /// Adds bytes to the value of a long line.
    fn extend_long(&mut self, mut bytes: &[u8]) {
        if self.long_skip_space && !bytes.is_empty() {
            self.long_skip_space = false;
            if bytes[0] == b' ' {
                bytes = &bytes[1..];
            }
        }
        match self.long.as_mut().expect("a long line") {
            Long::Comment(t) | Long::Event(t) => t.push_bytes(bytes),
            Long::Id(t, null) => {
                *null = *null || bytes.contains(&0);
                t.push_bytes(bytes);
            }
            Long::Data => self.data.push_bytes(bytes),
            Long::Retry { digits, valid } => {
                for &b in bytes {
                    *valid = *valid && b.is_ascii_digit();
                    if *valid && (b != b'0' || !digits.is_empty()) && digits.len() <= 20 {
                        digits.push(b as char);
                    }
                }
            }
            Long::Ignored => {}
        }
    }

    /// The current line ended.
    fn end_line(&mut self, frames: &mut Vec<Frame>) {
        match self.long.take() {
            None => {
                // Reuse the line buffer's allocation across lines.
                let line = mem::take(&mut self.line);
                self.process_line(&line, frames);
                self.line = line;
                self.line.clear();
            }
            Some(Long::Comment(mut t)) => frames.push(Frame::Comment { text: t.take() }),
            Some(Long::Event(mut t)) => self.event_type = t.take(),
            Some(Long::Id(mut t, null)) => {
                if !null {
                    self.id_buffer = t.take();
                    self.id_in_block = true;
                }
            }
            Some(Long::Data) => self.data.end_bytes(),
            Some(Long::Retry { digits, valid }) => {
                // As a short line: ASCII digits only, and a value beyond u64 is ignored.
                let digits = if digits.is_empty() { "0" } else { &digits };
                if let (true, Ok(ms)) = (valid, digits.parse::<u64>()) {
                    self.retry_ms = Some(ms);
                    frames.push(Frame::Retry { ms });
                }
            }
            Some(Long::Ignored) => {}
        }
        self.long_skip_space = false;
    }

    /// End of stream: discards the pending line and any undispatched block (the spec
    /// dispatches nothing at end of stream), so it always returns an empty list, and readies
    /// the parser for the next stream (a BOM is again ignored at its start).
    ///
    /// The last event ID string and the reconnection time survive, as they do on a browser's
    /// `EventSource` across reconnections. The next stream's last event ID buffer starts from
    /// the last event ID string, as Chromium does (the spec text would start it empty, so an
    /// id-less event after a reconnection would clear `lastEventId`).
    pub fn finish(&mut self) -> Vec<Frame> {
        self.bom = BomState::Matching(0);
        self.after_cr = false;
        self.line.clear();
        self.long = None;
        self.long_skip_space = false;
        self.data.take();
        self.has_data = false;
        self.event_type.clear();
        self.id_buffer.clone_from(&self.last_event_id);
        self.id_in_block = false;
        Vec::new()
    }

    /// The last event ID string (as the browser would send it in `Last-Event-ID`); empty when
    /// none was set or an empty `id` field reset it. It changes only when a block dispatches.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The reconnection time set by the last valid `retry` field, in milliseconds, if any.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// Strips the BOM from the start of a stream, even when it is split across chunks.
    fn skip_bom<'c>(&mut self, chunk: &'c [u8]) -> &'c [u8] {
        let BomState::Matching(mut matched) = self.bom else {
            return chunk;
        };
        for (i, &byte) in chunk.iter().enumerate() {
            if byte != BOM[matched] {
                // Not a BOM after all: the bytes held back are ordinary line content (they
                // cannot be line endings), and this chunk continues from `byte`.
                self.bom = BomState::Done;
                self.line.extend_from_slice(&BOM[..matched]);
                return &chunk[i..];
            }
            matched += 1;
            if matched == BOM.len() {
                self.bom = BomState::Done;
                return &chunk[i + 1..];
            }
        }
        self.bom = BomState::Matching(matched);
        &[]
    }

    /// Interprets one complete line (without its line ending).
    fn process_line(&mut self, bytes: &[u8], frames: &mut Vec<Frame>) {
        let line = String::from_utf8_lossy(bytes);
        if line.is_empty() {
            self.dispatch(frames);
            return;
        }
        if let Some(text) = line.strip_prefix(':') {
            frames.push(Frame::Comment {
                text: text.to_owned(),
            });
            return;
        }
        let (name, value) = match line.split_once(':') {
            Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        self.process_field(name, value, frames);
    }

    /// Applies one field to the buffers.
    fn process_field(&mut self, name: &str, value: &str, frames: &mut Vec<Frame>) {
        match name {
            "event" => value.clone_into(&mut self.event_type),
            "data" => {
                if self.has_data {
                    self.data.push_str("\n");
                }
                self.has_data = true;
                self.data.push_str(value);
            }
            // An id containing NULL is ignored.
            "id" if !value.contains('\0') => {
                value.clone_into(&mut self.id_buffer);
                self.id_in_block = true;
            }
            // "Consists of only ASCII digits": an empty value is not a base-ten integer, and a
            // value beyond u64 is ignored, as Chromium does. Otherwise the field is ignored.
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse::<u64>() {
                    self.retry_ms = Some(ms);
                    frames.push(Frame::Retry { ms });
                }
            }
            _ => {}
        }
    }

    /// The blank-line step: dispatch the event, or report an id-only block.
    fn dispatch(&mut self, frames: &mut Vec<Frame>) {
        self.last_event_id.clone_from(&self.id_buffer);
        let id_in_block = mem::take(&mut self.id_in_block);
        if !mem::take(&mut self.has_data) {
            self.event_type.clear();
            if id_in_block {
                frames.push(Frame::IdOnly {
                    id: self.last_event_id.clone(),
                });
            }
            return;
        }
        let data = self.data.take();
        let event_type = mem::take(&mut self.event_type);
        frames.push(Frame::Event {
            name: (!event_type.is_empty()).then_some(event_type),
            id: (!self.last_event_id.is_empty()).then(|| self.last_event_id.clone()),
            data,
        });
    }
}

#[cfg(test)]
mod tests {
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
}
