//! What the probe saw of one GET stream: its head, every socket read with the frames it
//! completed, and how the stream ended. Times are since the response headers arrived.

use super::http::Head;
use crate::sse::Frame;
use serde::Serialize;
use std::time::Duration;

/// A frame as the probe classifies it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Seen {
    /// A comment line (`: keepalive`): a transparent keepalive.
    Comment,
    /// A named event with empty data (`event: ping`): a keepalive clients dispatch.
    NamedKeepalive {
        /// The event's name.
        name: String,
    },
    /// An event with data (a message).
    Message,
    /// A `retry` field or an id-only block.
    Other,
}

impl Seen {
    /// Classifies a parsed frame.
    pub fn of(frame: &Frame) -> Self {
        match frame {
            Frame::Comment { .. } => Seen::Comment,
            Frame::Event { name, data, .. } => match name {
                Some(n) if data.is_empty() && n != "message" => {
                    Seen::NamedKeepalive { name: n.clone() }
                }
                _ => Seen::Message,
            },
            Frame::Retry { .. } | Frame::IdOnly { .. } => Seen::Other,
        }
    }

    /// A keepalive of either shape.
    pub fn is_keepalive(&self) -> bool {
        matches!(self, Seen::Comment | Seen::NamedKeepalive { .. })
    }
}

/// One socket read of the body: when it returned, how many body bytes, which frames it
/// completed.
#[derive(Clone, Debug, Serialize)]
pub struct Read {
    /// Since the response headers.
    #[serde(serialize_with = "ser_secs")]
    pub at: Duration,
    /// Decoded body bytes.
    pub bytes: usize,
    /// The frames this read completed, in order.
    pub frames: Vec<Seen>,
}

/// Who ended the stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum StreamEnd {
    /// Nobody: it was still open when the span ended (the probe closed it).
    StillOpen,
    /// The server (or something in front of it) ended it: `clean` when at the body's end
    /// (the last chunk), else the connection closed mid-body.
    ServerClosed {
        /// The body's framing said it ended.
        clean: bool,
    },
    /// The connection was reset.
    Reset {
        /// The socket error.
        error: String,
    },
}

/// The GET stream as the probe saw it.
#[derive(Clone, Debug, Serialize)]
pub struct Observation {
    /// The URL probed.
    pub url: String,
    /// The span asked for.
    #[serde(serialize_with = "ser_secs")]
    pub span: Duration,
    /// `serverInfo` from `initialize`.
    pub server: Option<String>,
    /// The protocol version `initialize` settled on.
    pub protocol_version: String,
    /// The session id `initialize` gave, if any.
    pub session_id: Option<String>,
    /// How `initialize` was answered: `json` or `sse`.
    pub initialize_format: String,
    /// How many tools `tools/list` listed.
    pub tool_count: Option<usize>,
    /// The GET stream's status.
    pub status: u16,
    /// `Content-Type`, `Cache-Control`, `X-Accel-Buffering`, `Transfer-Encoding` of the GET
    /// stream, when present.
    pub headers: Vec<(String, String)>,
    /// From sending the GET to its response headers.
    #[serde(serialize_with = "ser_secs")]
    pub to_headers: Duration,
    /// From the response headers to the first body byte, if any came.
    #[serde(serialize_with = "ser_opt_secs")]
    pub to_first_byte: Option<Duration>,
    /// Every body read.
    pub reads: Vec<Read>,
    /// How long the stream was watched (headers to its end or the span's end).
    #[serde(serialize_with = "ser_secs")]
    pub watched: Duration,
    /// Who ended it.
    pub end: StreamEnd,
}

/// The GET stream's headers the report shows.
const SHOWN_HEADERS: [&str; 4] = [
    "content-type",
    "cache-control",
    "x-accel-buffering",
    "transfer-encoding",
];

impl Observation {
    /// A stream whose headers just arrived, `to_headers` after the GET was sent.
    pub fn opened(span: Duration, head: &Head, to_headers: Duration) -> Self {
        Observation {
            url: String::new(),
            span,
            server: None,
            protocol_version: String::new(),
            session_id: None,
            initialize_format: String::new(),
            tool_count: None,
            status: head.status,
            headers: SHOWN_HEADERS
                .iter()
                .filter_map(|n| head.header(n).map(|v| (n.to_string(), v.to_string())))
                .collect(),
            to_headers,
            to_first_byte: None,
            reads: Vec::new(),
            watched: Duration::ZERO,
            end: StreamEnd::StillOpen,
        }
    }

    /// A read returned `bytes` at `at`, completing `frames`.
    pub fn arrived(&mut self, at: Duration, bytes: usize, frames: Vec<Frame>) {
        if self.to_first_byte.is_none() && bytes > 0 {
            self.to_first_byte = Some(at);
        }
        self.reads.push(Read {
            at,
            bytes,
            frames: frames.iter().map(Seen::of).collect(),
        });
    }

    /// The stream ended (or the span did) at `at`.
    pub fn ended(&mut self, at: Duration, end: StreamEnd) {
        self.watched = at;
        self.end = end;
    }

    /// A response header's value (lowercase name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The largest span without body bytes: headers to the first read, between reads, and the
    /// last read to the stream's end.
    pub fn gap_max(&self) -> Duration {
        let mut last = Duration::ZERO;
        let mut max = Duration::ZERO;
        for r in &self.reads {
            max = max.max(r.at.saturating_sub(last));
            last = r.at;
        }
        max.max(self.watched.saturating_sub(last))
    }

    /// When each keepalive arrived (the read's instant), with its shape.
    pub fn keepalives(&self) -> Vec<(Duration, &Seen)> {
        self.reads
            .iter()
            .flat_map(|r| {
                r.frames
                    .iter()
                    .filter(|f| f.is_keepalive())
                    .map(|f| (r.at, f))
            })
            .collect()
    }
}

/// A measured span in seconds with millisecond precision (`1.001s`).
pub fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

pub(super) fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&secs(*d))
}

pub(super) fn ser_opt_secs<S: serde::Serializer>(
    d: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_secs(d, s),
        None => s.serialize_none(),
    }
}
