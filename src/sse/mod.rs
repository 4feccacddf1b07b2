//! Server-Sent Events codec: an incremental, I/O-free parser and an encoder.
//! (Temporary minimal stand-in on main; the full codec lands from its own branch.)

mod frame;

pub use frame::Frame;

/// Minimal stand-in parser: comments and LF-terminated events only.
#[derive(Default)]
pub struct Parser {
    buf: Vec<u8>,
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Frame> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(p) = self.buf.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = self.buf.drain(..p + 2).collect();
            let text = String::from_utf8_lossy(&block).into_owned();
            if let Some(c) = text.strip_prefix(':') {
                out.push(Frame::Comment { text: c.trim_end().to_string() });
            } else {
                out.push(Frame::Event { name: None, id: None, data: text.trim_end().to_string() });
            }
        }
        out
    }
}

/// Minimal stand-in encoder.
pub fn encode(frame: &Frame) -> Result<String, String> {
    Ok(match frame {
        Frame::Comment { text } => format!(":{text}\n\n"),
        Frame::Event { name, id, data } => {
            let mut s = String::new();
            if let Some(n) = name { s += &format!("event: {n}\n"); }
            if let Some(i) = id { s += &format!("id: {i}\n"); }
            s += &format!("data: {data}\n\n");
            s
        }
        Frame::Retry { ms } => format!("retry: {ms}\n\n"),
        Frame::IdOnly { id } => format!("id: {id}\n\n"),
    })
}
