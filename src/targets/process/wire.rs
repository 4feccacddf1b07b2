//! What crosses the bridge, read as HTTP/1.1: request heads going to the implementation, and
//! the response coming back (head, body through its framing, end).
//!
//! ```text
//!  bytes to the adapter   ──▶ RequestHead::feed   ──▶ (method, path) once the head is complete
//!  bytes from the adapter ──▶ ResponseReader::feed ──▶ Started{status, headers}
//!                                                     Body(decoded bytes)   (chunked / length / close)
//!                                                     Ended                 (last chunk, length reached)
//! ```
//!
//! Heads are parsed with `httparse`, chunk sizes with `httparse::parse_chunk_size`; only the
//! state machine around them (which part of the message comes next) is written here.

/// Heads longer than this are not HTTP the harness will follow.
const MAX_HEAD: usize = 64 * 1024;

/// Request bodies longer than this are passed on but not read for a JSON-RPC message (no
/// MCP message comes near it), so a long body costs no memory here.
pub const MAX_BODY: usize = 1024 * 1024;

/// A chunk-size line longer than this is not HTTP (a size and its extensions fit easily).
const MAX_CHUNK_LINE: usize = 4 * 1024;

/// What a request did as its bytes passed.
#[derive(Debug, PartialEq, Eq)]
pub enum RequestSeen {
    /// The head is complete: method, path (without its query), `mcp-session-id`,
    /// `last-event-id`.
    Head {
        method: String,
        path: String,
        session: Option<String>,
        last_event_id: Option<String>,
    },
    /// The body (by `content-length`) is complete.
    Body(Vec<u8>),
}

/// Follows a request (head, then a `content-length` body) as its bytes pass.
#[derive(Default)]
pub struct RequestHead {
    buf: Vec<u8>,
    /// Body bytes still expected once the head is done; `None` while reading the head.
    body_left: Option<usize>,
    done: bool,
}

impl RequestHead {
    /// Feeds bytes sent to the implementation; returns what completed with them.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<RequestSeen> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.buf.extend_from_slice(bytes);
        if self.body_left.is_none() {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let find = |name: &str| {
                        req.headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case(name))
                            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
                    };
                    let length = find("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let path = req.path.unwrap_or("");
                    out.push(RequestSeen::Head {
                        method: req.method.unwrap_or("").to_string(),
                        path: path.split('?').next().unwrap_or("").to_string(),
                        session: find("mcp-session-id"),
                        last_event_id: find("last-event-id"),
                    });
                    self.buf.drain(..n);
                    self.body_left = Some(length);
                }
                Ok(httparse::Status::Partial) if self.buf.len() < MAX_HEAD => return out,
                _ => {
                    self.done = true;
                    self.buf = Vec::new();
                    return out;
                }
            }
        }
        if let Some(left) = self.body_left {
            if left > MAX_BODY {
                self.done = true;
                self.buf = Vec::new();
                return out;
            }
            if self.buf.len() >= left {
                self.done = true;
                if left > 0 {
                    let body = self.buf[..left].to_vec();
                    out.push(RequestSeen::Body(body));
                }
                self.buf = Vec::new();
            }
        }
        out
    }
}

/// One thing the response did.
#[derive(Debug, PartialEq, Eq)]
pub enum Observed {
    /// The head: status, `content-type`, every header (names lower-cased, in order).
    Started {
        status: u16,
        content_type: Option<String>,
        headers: Vec<(String, String)>,
    },
    /// Body bytes, framing removed.
    Body(Vec<u8>),
    /// The body ended by its framing (last chunk, or `content-length` reached).
    Ended,
    /// The bytes are not an HTTP/1.1 response the harness can follow.
    Garbled(String),
}

enum Part {
    Head(Vec<u8>),
    /// Chunked: reading a chunk-size line (bytes so far).
    ChunkSize(Vec<u8>),
    /// Chunked: this many data bytes of the current chunk left.
    ChunkData(u64),
    /// Chunked: the CRLF after a chunk's data (bytes of it still to skip).
    ChunkEnd(u8),
    /// Chunked: trailer section after the last chunk (bytes so far).
    Trailer(Vec<u8>),
    /// `content-length`: bytes left.
    Length(u64),
    /// Until the connection closes.
    UntilClose,
    Done,
}

/// Follows one HTTP/1.1 response as its bytes pass.
pub struct ResponseReader {
    part: Part,
}

impl Default for ResponseReader {
    fn default() -> Self {
        Self {
            part: Part::Head(Vec::new()),
        }
    }
}

impl ResponseReader {
    /// Feeds response bytes in order; returns what they did.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<Observed> {
        let mut out = Vec::new();
        let mut body = Vec::new();
        while !bytes.is_empty() {
            match &mut self.part {
                Part::Head(buf) => {
                    buf.extend_from_slice(bytes);
                    bytes = &[];
                    let buf = std::mem::take(buf);
                    let mut headers = [httparse::EMPTY_HEADER; 64];
                    let mut resp = httparse::Response::new(&mut headers);
                    match resp.parse(&buf) {
                        Ok(httparse::Status::Complete(n)) => {
                            let status = resp.code.unwrap_or(0);
                            let headers: Vec<(String, String)> = resp
                                .headers
                                .iter()
                                .map(|h| {
                                    (
                                        h.name.to_ascii_lowercase(),
                                        String::from_utf8_lossy(h.value).into_owned(),
                                    )
                                })
                                .collect();
                            let find = |name: &str| {
                                headers
                                    .iter()
                                    .find(|(k, _)| k == name)
                                    .map(|(_, v)| v.clone())
                            };
                            let chunked = find("transfer-encoding")
                                .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
                            let length = find("content-length").and_then(|v| v.trim().parse().ok());
                            // 1xx, 204 and 304 have no body.
                            let bodiless = status < 200 || status == 204 || status == 304;
                            self.part = if bodiless {
                                Part::Done
                            } else if chunked {
                                Part::ChunkSize(Vec::new())
                            } else if let Some(n) = length {
                                Part::Length(n)
                            } else {
                                Part::UntilClose
                            };
                            out.push(Observed::Started {
                                status,
                                content_type: find("content-type"),
                                headers,
                            });
                            if matches!(self.part, Part::Done)
                                || matches!(self.part, Part::Length(0))
                            {
                                self.part = Part::Done;
                                out.push(Observed::Ended);
                            }
                            out.extend(self.feed(&buf[n..]));
                            return out;
                        }
                        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {
                            self.part = Part::Head(buf);
                        }
                        Ok(httparse::Status::Partial) => {
                            self.part = Part::Done;
                            out.push(Observed::Garbled(format!(
                                "response head longer than {MAX_HEAD} bytes"
                            )));
                        }
                        Err(e) => {
                            self.part = Part::Done;
                            out.push(Observed::Garbled(format!("response head: {e}")));
                        }
                    }
                }
                Part::ChunkSize(line) => {
                    let Some(nl) = bytes.iter().position(|&b| b == b'\n') else {
                        line.extend_from_slice(bytes);
                        bytes = &[];
                        if line.len() > MAX_CHUNK_LINE {
                            self.part = Part::Done;
                            out.push(Observed::Garbled(format!(
                                "chunk size line longer than {MAX_CHUNK_LINE} bytes"
                            )));
                        }
                        continue;
                    };
                    line.extend_from_slice(&bytes[..=nl]);
                    bytes = &bytes[nl + 1..];
                    match httparse::parse_chunk_size(line) {
                        Ok(httparse::Status::Complete((_, 0))) => {
                            self.part = Part::Trailer(Vec::new());
                        }
                        Ok(httparse::Status::Complete((_, n))) => self.part = Part::ChunkData(n),
                        _ => {
                            self.part = Part::Done;
                            out.push(Observed::Garbled("bad chunk size line".into()));
                        }
                    }
                }
                Part::ChunkData(left) => {
                    let n = (*left).min(bytes.len() as u64) as usize;
                    body.extend_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    *left -= n as u64;
                    if *left == 0 {
                        self.part = Part::ChunkEnd(2);
                    }
                }
                Part::ChunkEnd(left) => {
                    // CRLF (a bare LF is tolerated, as by hyper).
                    if bytes[0] == b'\n' {
                        self.part = Part::ChunkSize(Vec::new());
                    } else {
                        *left = left.saturating_sub(1);
                    }
                    bytes = &bytes[1..];
                }
                Part::Trailer(buf) => {
                    buf.extend_from_slice(bytes);
                    bytes = &[];
                    // Ends at an empty line: right away (`\r\n`) or after trailer fields.
                    if buf.starts_with(b"\r\n")
                        || buf.starts_with(b"\n")
                        || buf.ends_with(b"\n\r\n")
                    {
                        if !body.is_empty() {
                            out.push(Observed::Body(std::mem::take(&mut body)));
                        }
                        self.part = Part::Done;
                        out.push(Observed::Ended);
                    } else if buf.len() > MAX_HEAD {
                        self.part = Part::Done;
                        out.push(Observed::Garbled(format!(
                            "trailer section longer than {MAX_HEAD} bytes"
                        )));
                    }
                }
                Part::Length(left) => {
                    let n = (*left).min(bytes.len() as u64) as usize;
                    body.extend_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    *left -= n as u64;
                    if *left == 0 {
                        out.push(Observed::Body(std::mem::take(&mut body)));
                        self.part = Part::Done;
                        out.push(Observed::Ended);
                    }
                }
                Part::UntilClose => {
                    body.extend_from_slice(bytes);
                    bytes = &[];
                }
                Part::Done => bytes = &[],
            }
        }
        if !body.is_empty() {
            out.push(Observed::Body(body));
        }
        out
    }

    /// The connection closed: a body delimited by the close ends here.
    pub fn closed(&mut self) -> Option<Observed> {
        match self.part {
            Part::UntilClose => {
                self.part = Part::Done;
                Some(Observed::Ended)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
