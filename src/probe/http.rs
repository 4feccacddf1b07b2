//! A minimal HTTP/1.1 client over one blocking loopback-or-LAN TCP connection.
//!
//! ```text
//!  Endpoint::parse("http://host:port/path")
//!        │ connect ──▶ Connection ── write request ──▶ read head (httparse) ──▶ Head
//!        │                                                     │
//!        │                         Body::next(deadline) ◀──────┘  Content-Length, chunked
//!        ▼                           (decoded bytes, the instant they arrived)   or to EOF
//! ```
//!
//! Hand-written on purpose: the probe measures *when* each byte arrived, so it needs every
//! socket read as it happens (hyper's client pools, buffers and hides the reads), and it reads
//! one connection at a time, so blocking `std::net` with read timeouts is all it takes.
//! Only `http://` is spoken; TLS is not supported yet.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Where the probe connects: host, port and request path of an `http://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address, as written in the URL (brackets kept for IPv6).
    pub host: String,
    /// TCP port (80 when the URL gives none).
    pub port: u16,
    /// Path and query (`/` when the URL gives none).
    pub path: String,
}

impl Endpoint {
    /// Reads an `http://host[:port][/path]` URL, with an error that says what was expected.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = if let Some(r) = url.strip_prefix("http://") {
            r
        } else if url.starts_with("https://") {
            return Err(format!(
                "`{url}`: https:// is not supported yet; probe a plain http:// endpoint (for example the server behind the TLS terminator)"
            ));
        } else {
            return Err(format!(
                "`{url}`: expected an http:// URL, like http://127.0.0.1:8080/mcp"
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!(
                "`{url}`: expected a host after http://, like http://127.0.0.1:8080/mcp"
            ));
        }
        let (host, port) = match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => {
                let port = authority[i + 1..].parse::<u16>().map_err(|_| {
                    format!(
                        "`{url}`: the port `{}` is not a number from 0 to 65535",
                        &authority[i + 1..]
                    )
                })?;
                (authority[..i].to_string(), port)
            }
            _ => (authority.to_string(), 80),
        };
        Ok(Endpoint { host, port, path })
    }

    /// The `Host` header's value.
    fn host_header(&self) -> String {
        if self.port == 80 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Opens a connection, giving up at `deadline`.
    pub fn connect(&self, deadline: Instant) -> Result<Connection, String> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<_> = (host, self.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.host))?
            .collect();
        let mut last = format!("no address for {}", self.host);
        for addr in addrs {
            let left = remaining(deadline).max(Duration::from_millis(1));
            match TcpStream::connect_timeout(&addr, left) {
                Ok(sock) => {
                    let _ = sock.set_nodelay(true);
                    return Ok(Connection {
                        sock,
                        buf: Vec::new(),
                    });
                }
                Err(e) => last = format!("connect to {addr} failed: {e}"),
            }
        }
        Err(last)
    }
}

/// The time left until `deadline` (zero once it passed).
// The probe measures a real server: the wall clock is what it is about.
#[allow(clippy::disallowed_methods)]
pub fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// The current instant (the probe measures a real server on real time).
#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}

/// One open TCP connection and the bytes read from it but not consumed yet.
#[derive(Debug)]
pub struct Connection {
    sock: TcpStream,
    buf: Vec<u8>,
}

/// A response's status line and headers.
#[derive(Clone, Debug)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// The headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a read that waited for bytes found when it returned.
#[derive(Debug)]
pub enum Arrival {
    /// Bytes arrived (decoded body bytes for [`Body::next`]).
    Bytes(Vec<u8>),
    /// The deadline passed first.
    TimedOut,
    /// The peer ended the body or the connection cleanly (`clean`: at a body boundary).
    Ended {
        /// The body ended where its framing said (last chunk, Content-Length reached).
        clean: bool,
    },
    /// The connection was reset.
    Reset(String),
}

impl Connection {
    /// Sends a request: `method path`, the `Host` header, `headers` and `body`.
    pub fn send(
        &mut self,
        endpoint: &Endpoint,
        method: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<(), String> {
        let mut req = format!(
            "{method} {} HTTP/1.1\r\nHost: {}\r\n",
            endpoint.path,
            endpoint.host_header()
        );
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        if method == "POST" {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.sock
            .write_all(&bytes)
            .map_err(|e| format!("sending {method} failed: {e}"))
    }

    /// One socket read, waiting at most until `deadline`.
    fn read_more(&mut self, deadline: Instant) -> Arrival {
        let left = remaining(deadline);
        if left.is_zero() {
            return Arrival::TimedOut;
        }
        if let Err(e) = self.sock.set_read_timeout(Some(left)) {
            return Arrival::Reset(e.to_string());
        }
        let mut chunk = [0u8; 16 * 1024];
        match self.sock.read(&mut chunk) {
            Ok(0) => Arrival::Ended { clean: false },
            Ok(n) => Arrival::Bytes(chunk[..n].to_vec()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Arrival::TimedOut
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => self.read_more(deadline),
            Err(e) => Arrival::Reset(e.to_string()),
        }
    }

    /// Reads the response head, waiting at most until `deadline`.
    pub fn read_head(mut self, deadline: Instant) -> Result<(Head, Body), String> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let head = Head {
                        status: resp.code.unwrap_or(0),
                        headers: resp
                            .headers
                            .iter()
                            .map(|h| {
                                (
                                    h.name.to_ascii_lowercase(),
                                    String::from_utf8_lossy(h.value).into_owned(),
                                )
                            })
                            .collect(),
                    };
                    self.buf.drain(..len);
                    let framing = if head
                        .header("transfer-encoding")
                        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
                    {
                        Framing::Chunked {
                            left: 0,
                            crlf: false,
                        }
                    } else if let Some(n) = head.header("content-length") {
                        let n = n
                            .trim()
                            .parse()
                            .map_err(|_| format!("bad Content-Length `{n}`"))?;
                        Framing::Length(n)
                    } else if head.status == 204 || head.status == 304 || head.status < 200 {
                        Framing::Length(0)
                    } else {
                        Framing::Eof
                    };
                    return Ok((
                        head,
                        Body {
                            conn: self,
                            framing,
                            done: false,
                        },
                    ));
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err(format!("the response head is not HTTP/1.1: {e}")),
            }
            match self.read_more(deadline) {
                Arrival::Bytes(b) => self.buf.extend_from_slice(&b),
                Arrival::TimedOut => return Err("no response head before the deadline".into()),
                Arrival::Ended { .. } => {
                    return Err("the server closed the connection before answering".into())
                }
                Arrival::Reset(e) => return Err(format!("the connection was reset ({e})")),
            }
        }
    }
}

/// How a response body ends.
#[derive(Clone, Copy, Debug)]
enum Framing {
    /// This many bytes are left.
    Length(u64),
    /// Chunked: `left` bytes of the current chunk remain, then (`crlf`) its CRLF.
    Chunked { left: u64, crlf: bool },
    /// Until the connection closes.
    Eof,
}

/// A response body being read.
#[derive(Debug)]
pub struct Body {
    conn: Connection,
    framing: Framing,
    done: bool,
}

impl Body {
    /// Waits until `deadline` for body bytes; returns all the bytes one socket read made
    /// available (decoded), or how the body ended.
    pub fn next(&mut self, deadline: Instant) -> Arrival {
        loop {
            if self.done {
                return Arrival::Ended { clean: true };
            }
            let out = self.decode();
            if !out.is_empty() {
                return Arrival::Bytes(out);
            }
            if self.done {
                return Arrival::Ended { clean: true };
            }
            match self.conn.read_more(deadline) {
                Arrival::Bytes(b) => self.conn.buf.extend_from_slice(&b),
                Arrival::Ended { .. } => {
                    let clean = matches!(self.framing, Framing::Eof);
                    self.done = true;
                    return Arrival::Ended { clean };
                }
                other => return other,
            }
        }
    }

    /// Reads the whole body (up to `deadline`).
    pub fn read_all(&mut self, deadline: Instant) -> Result<Vec<u8>, String> {
        let mut all = Vec::new();
        loop {
            match self.next(deadline) {
                Arrival::Bytes(b) => all.extend_from_slice(&b),
                Arrival::Ended { .. } => return Ok(all),
                Arrival::TimedOut => return Err("the body did not end before the deadline".into()),
                Arrival::Reset(e) => return Err(format!("the connection was reset ({e})")),
            }
        }
    }

    /// Decodes what the buffer holds under the body's framing.
    fn decode(&mut self) -> Vec<u8> {
        let buf = &mut self.conn.buf;
        let mut out = Vec::new();
        match &mut self.framing {
            Framing::Eof => out.append(buf),
            Framing::Length(left) => {
                let n = (*left).min(buf.len() as u64) as usize;
                out.extend(buf.drain(..n));
                *left -= n as u64;
                if *left == 0 {
                    self.done = true;
                }
            }
            Framing::Chunked { left, crlf } => loop {
                if *left > 0 {
                    let n = (*left).min(buf.len() as u64) as usize;
                    if n == 0 {
                        break;
                    }
                    out.extend(buf.drain(..n));
                    *left -= n as u64;
                    if *left == 0 {
                        *crlf = true;
                    }
                    continue;
                }
                if *crlf {
                    if buf.len() < 2 {
                        break;
                    }
                    buf.drain(..2);
                    *crlf = false;
                }
                match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((len, 0))) => {
                        buf.drain(..len);
                        self.done = true;
                        break;
                    }
                    Ok(httparse::Status::Complete((len, size))) => {
                        buf.drain(..len);
                        *left = size;
                    }
                    Ok(httparse::Status::Partial) => break,
                    Err(_) => {
                        // A malformed chunk header: pass the rest through as it is.
                        self.framing = Framing::Eof;
                        out.append(buf);
                        break;
                    }
                }
            },
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Endpoint;

    #[test]
    fn reads_http_urls() {
        let e = Endpoint::parse("http://127.0.0.1:8080/mcp?x=1").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("127.0.0.1", 8080, "/mcp?x=1")
        );
        let e = Endpoint::parse("http://localhost").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("localhost", 80, "/")
        );
        let e = Endpoint::parse("http://[::1]:9/mcp").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("[::1]", 9));
    }

    #[test]
    fn refuses_what_it_cannot_speak() {
        assert!(Endpoint::parse("https://a/mcp")
            .unwrap_err()
            .contains("not supported yet"));
        assert!(Endpoint::parse("ftp://a")
            .unwrap_err()
            .contains("expected an http:// URL"));
        assert!(Endpoint::parse("http://a:99999/")
            .unwrap_err()
            .contains("port"));
        assert!(Endpoint::parse("http:///mcp")
            .unwrap_err()
            .contains("expected a host"));
    }
}
