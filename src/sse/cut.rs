//! Long texts, kept short: what the parser and the trace keep of a frame's text when it is
//! longer than they hold.
//!
//! ```text
//!  text ≤ max bytes ──▶ kept as is
//!  text > max bytes ──▶ "<first max bytes>\r[cut: <len> bytes, sha256 <16 hex>]"
//!                        (" of whitespace" after "bytes" when the whole text is blank)
//! ```
//!
//! The marker starts with a CR, which no parsed text can hold (CR ends a line in an event
//! stream), so a cut text is recognized exactly and a stream cannot forge one. The rule that
//! keeps checks honest: two texts cut at the same `max` are equal exactly when the full texts
//! are (up to a 64-bit digest collision: the first 8 bytes of SHA-256 over the full text's
//! bytes), a cut text is never empty, and [`is_blank`] says whether the full text was only
//! whitespace. Cutting a cut text again to a smaller `max` keeps its length, digest and
//! blankness.
//!
//! The parser holds at most [`PARSE_TEXT_MAX`] of one line or one event's data (what the
//! application sees); the trace keeps at most [`TRACE_TEXT_MAX`] of each text
//! ([`crate::trace::Recorder`] cuts frames as it records them), so a target writing huge
//! events cannot grow the harness's memory with them.

use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fmt::Write;

/// What the trace keeps of one text (a comment, an event's name, id or data).
pub const TRACE_TEXT_MAX: usize = 4 * 1024;

/// What the parser keeps of one line or one event's data: the application (the MCP client)
/// sees texts up to this long whole.
pub const PARSE_TEXT_MAX: usize = 1024 * 1024;

/// What starts a cut text's marker.
const MARK: char = '\r';

/// A cut text, read back.
#[derive(Debug, PartialEq, Eq)]
pub struct CutText<'a> {
    /// The first bytes of the text.
    pub kept: &'a str,
    /// The full text's length in bytes.
    pub len: u64,
    /// The full text was only whitespace.
    pub blank: bool,
    /// 16 hex digits: the first 8 bytes of SHA-256 over the full text.
    pub digest: &'a str,
}

/// Reads a cut text: None for a text that was not cut.
pub fn parse(text: &str) -> Option<CutText<'_>> {
    let at = text.rfind(MARK)?;
    let marker = text[at + MARK.len_utf8()..]
        .strip_prefix("[cut: ")?
        .strip_suffix(']')?;
    let (len, rest) = marker.split_once(" bytes")?;
    let (blank, rest) = match rest.strip_prefix(" of whitespace") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let digest = rest.strip_prefix(", sha256 ")?;
    if digest.len() != 16 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(CutText {
        kept: &text[..at],
        len: len.parse().ok()?,
        blank,
        digest,
    })
}

/// The full length in bytes of `text` (cut or not).
pub fn full_len(text: &str) -> u64 {
    parse(text).map_or(text.len() as u64, |c| c.len)
}

/// Whether the full text of `text` (cut or not) is only whitespace (`str::trim` is empty).
pub fn is_blank(text: &str) -> bool {
    match parse(text) {
        Some(c) => c.blank,
        None => text.trim().is_empty(),
    }
}

/// `text` kept to at most `max` bytes (plus the marker): itself when it fits, else cut.
pub fn cut(text: &str, max: usize) -> Cow<'_, str> {
    if let Some(c) = parse(text) {
        if c.kept.len() <= max {
            return Cow::Borrowed(text);
        }
        let kept = &c.kept[..c.kept.floor_char_boundary(max)];
        return Cow::Owned(cut_form(kept, c.len, c.blank, c.digest));
    }
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let kept = &text[..text.floor_char_boundary(max)];
    let digest = hex16(Sha256::digest(text.as_bytes()).as_slice());
    Cow::Owned(cut_form(
        kept,
        text.len() as u64,
        text.trim().is_empty(),
        &digest,
    ))
}

fn cut_form(kept: &str, len: u64, blank: bool, digest: &str) -> String {
    let blank = if blank { " of whitespace" } else { "" };
    format!("{kept}{MARK}[cut: {len} bytes{blank}, sha256 {digest}]")
}

fn hex16(d: &[u8]) -> String {
    let mut s = String::with_capacity(16);
    for b in &d[..8] {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A text built from pieces that keeps at most `max` bytes: past that it only counts the
/// bytes, hashes them and follows whether they are all whitespace, and [`TextBuf::take`]
/// gives the cut form, equal to [`cut`] of the whole text. Raw bytes are decoded as UTF-8
/// with replacement (as `String::from_utf8_lossy` would decode them whole), so a character
/// split across pieces is decoded once it is complete.
#[derive(Clone, Debug)]
pub struct TextBuf {
    max: usize,
    kept: String,
    len: u64,
    /// SHA-256 of the text so far, once it is longer than `max`.
    hash: Option<Sha256>,
    /// Once longer than `max`: the text so far is only whitespace.
    blank: bool,
    /// Raw bytes of a character not complete yet.
    carry: Vec<u8>,
}

impl TextBuf {
    /// An empty text keeping at most `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            kept: String::new(),
            len: 0,
            hash: None,
            blank: true,
            carry: Vec::new(),
        }
    }

    /// Appends text.
    pub fn push_str(&mut self, s: &str) {
        self.flush_carry();
        self.append(s);
    }

    /// Appends raw bytes (a character may continue in the next piece).
    pub fn push_bytes(&mut self, bytes: &[u8]) {
        let joined;
        let mut rest = if self.carry.is_empty() {
            bytes
        } else {
            let mut b = std::mem::take(&mut self.carry);
            b.extend_from_slice(bytes);
            joined = b;
            &joined[..]
        };
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    self.append(s);
                    return;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    self.append(std::str::from_utf8(valid).expect("valid up to here"));
                    match e.error_len() {
                        Some(n) => {
                            self.append(REPLACEMENT);
                            rest = &after[n..];
                        }
                        None => {
                            self.carry = after.to_vec();
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Ends a piece of raw bytes: an incomplete character is replaced (as a line ending would
    /// end it).
    pub fn end_bytes(&mut self) {
        self.flush_carry();
    }

    fn flush_carry(&mut self) {
        if !self.carry.is_empty() {
            self.carry.clear();
            self.append(REPLACEMENT);
        }
    }

    fn append(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        self.len += s.len() as u64;
        if let Some(h) = &mut self.hash {
            h.update(s.as_bytes());
            self.blank = self.blank && s.chars().all(char::is_whitespace);
            return;
        }
        if self.kept.len() + s.len() <= self.max {
            self.kept.push_str(s);
            return;
        }
        // Longer than `max` for the first time: from now on hash, and keep only the prefix.
        let mut h = Sha256::new();
        h.update(self.kept.as_bytes());
        h.update(s.as_bytes());
        self.hash = Some(h);
        self.blank = self.kept.chars().chain(s.chars()).all(char::is_whitespace);
        let room = s.floor_char_boundary(self.max - self.kept.len());
        self.kept.push_str(&s[..room]);
    }

    /// The text (cut when it was longer than `max`), leaving this buffer empty.
    pub fn take(&mut self) -> String {
        self.flush_carry();
        let kept = std::mem::take(&mut self.kept);
        let len = std::mem::replace(&mut self.len, 0);
        let blank = std::mem::replace(&mut self.blank, true);
        match self.hash.take() {
            None => kept,
            Some(h) => cut_form(&kept, len, blank, &hex16(h.finalize().as_slice())),
        }
    }
}

const REPLACEMENT: &str = "\u{FFFD}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_stay_and_long_ones_keep_their_length_digest_and_blankness() {
        assert_eq!(cut("hello", 5), "hello");
        let c = cut("hello world", 5);
        let p = parse(&c).expect("cut");
        assert_eq!((p.kept, p.len, p.blank), ("hello", 11, false));
        assert_eq!(p.digest, "b94d27b9934d3e08", "sha256(hello world)");
        assert_eq!(full_len(&c), 11);
        assert!(!is_blank(&c) && !c.is_empty());
        let spaces = " ".repeat(10);
        let b = cut(&spaces, 4);
        assert!(is_blank(&b), "{b:?}");
        assert!(
            !b.trim().is_empty(),
            "the marker is not whitespace: use is_blank"
        );
        // Cut again, smaller: same length, digest and blankness.
        let again = cut(&c, 2);
        let q = parse(&again).unwrap();
        assert_eq!((q.kept, q.len, q.digest), ("he", 11, p.digest));
        assert_eq!(cut(&c, 5), c, "a cut text that fits stays");
    }

    #[test]
    fn equal_cut_texts_mean_equal_texts() {
        let a = format!("{}a", "x".repeat(100));
        let b = format!("{}b", "x".repeat(100));
        assert_ne!(cut(&a, 10), cut(&b, 10), "the same prefix, other tails");
        assert_eq!(cut(&a, 10), cut(&a.clone(), 10));
        // A text that fits never equals a cut one, whatever it holds (no CR in parsed text).
        let short = "x".repeat(10);
        assert_ne!(cut(&short, 10), cut(&a, 10));
    }

    #[test]
    fn characters_are_never_split() {
        let t = "ééééé"; // 10 bytes
        let c = cut(t, 3);
        assert_eq!(parse(&c).unwrap().kept, "é");
        let mut b = TextBuf::new(3);
        b.push_bytes(t.as_bytes());
        assert_eq!(b.take(), c, "the streamed cut equals the cut of the whole");
    }

    #[test]
    fn a_streamed_text_cuts_like_the_whole_text_whatever_the_pieces() {
        let text = "données: ".repeat(50) + "\u{3000}";
        for max in [0, 1, 7, 64, 1000] {
            for piece in [1, 2, 3, 5, 17, 1000] {
                let mut b = TextBuf::new(max);
                for p in text.as_bytes().chunks(piece) {
                    b.push_bytes(p);
                }
                assert_eq!(b.take(), cut(&text, max), "max {max} piece {piece}");
            }
        }
        // Blankness across split multi-byte whitespace (U+3000 is 3 bytes).
        let blank = "\u{3000} \t".repeat(40);
        let mut b = TextBuf::new(4);
        for p in blank.as_bytes().chunks(2) {
            b.push_bytes(p);
        }
        let t = b.take();
        assert!(is_blank(&t), "{t:?}");
        assert_eq!(t, cut(&blank, 4));
    }

    #[test]
    fn invalid_bytes_are_replaced_as_a_whole_decode_would() {
        let raw = b"ok \xE6\x97 then \xFF and \xE6\x97\xA5 end \xE6";
        let whole = String::from_utf8_lossy(raw).into_owned();
        for piece in 1..raw.len() {
            let mut b = TextBuf::new(1000);
            for p in raw.chunks(piece) {
                b.push_bytes(p);
            }
            assert_eq!(b.take(), whole, "piece {piece}");
        }
    }

    #[test]
    fn only_a_well_formed_marker_is_a_cut() {
        assert_eq!(parse("a\r[cut: x bytes, sha256 0011223344556677]"), None);
        assert_eq!(parse("a\r[cut: 5 bytes, sha256 00]"), None);
        assert_eq!(parse("no marker"), None);
    }
}
