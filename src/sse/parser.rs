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
mod tests;
