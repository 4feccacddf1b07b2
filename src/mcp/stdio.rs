//! The stdio keepalive of an MCP peer (MP-301g module 3): over stdio there is no SSE comment,
//! so a JSON-RPC notification on its own line keeps the channel visibly alive.
//!
//! ```text
//!  every `every` ──▶ {"jsonrpc":"2.0","method":"$/keepalive"}\n ──▶ any AsyncWrite
//!                     (first write error ──▶ stop, returning the error)
//! ```
//!
//! The simulation has no stdio transport; this is the library piece, timed with
//! `tokio::time` so it runs on virtual time under a paused runtime.

use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The keepalive notification, one line of newline-delimited JSON-RPC.
pub const KEEPALIVE_LINE: &[u8] = b"{\"jsonrpc\":\"2.0\",\"method\":\"$/keepalive\"}\n";

/// The interval the operations guidance asks for.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(30);

/// Writes a `$/keepalive` notification to one stdio channel every `every`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StdioKeepalive {
    /// Time between two notifications; the first goes out one interval after the start.
    /// Default 30s.
    pub every: Duration,
}

impl Default for StdioKeepalive {
    fn default() -> Self {
        Self {
            every: DEFAULT_EVERY,
        }
    }
}

impl StdioKeepalive {
    /// A keepalive every `every` (more than zero).
    pub fn new(every: Duration) -> Self {
        assert!(!every.is_zero(), "a keepalive interval must be more than 0");
        Self { every }
    }

    /// Writes (and flushes) a notification every interval until a write fails; returns that
    /// error. Runs for ever on a healthy writer: drop the future to stop it. Intervals are
    /// measured from the start, so a slow write does not shift later ones.
    pub async fn run<W: AsyncWrite + Unpin>(self, mut out: W) -> std::io::Error {
        let start = tokio::time::Instant::now();
        for k in 1u32.. {
            tokio::time::sleep_until(start + self.every * k).await;
            let sent = async {
                out.write_all(KEEPALIVE_LINE).await?;
                out.flush().await
            };
            if let Err(e) = sent.await {
                return e;
            }
        }
        std::io::Error::other("keepalive counter overflowed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[tokio::test(start_paused = true)]
    async fn writes_one_notification_line_every_interval() {
        let (writer, mut reader) = tokio::io::duplex(4096);
        let start = tokio::time::Instant::now();
        let task = tokio::spawn(StdioKeepalive::default().run(writer));
        let mut at = Vec::new();
        let mut buf = vec![0u8; KEEPALIVE_LINE.len()];
        for _ in 0..3 {
            reader.read_exact(&mut buf).await.unwrap();
            assert_eq!(buf, KEEPALIVE_LINE);
            at.push(start.elapsed());
        }
        assert_eq!(at, vec![secs(30), secs(60), secs(90)]);
        let line: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(
            line,
            serde_json::json!({"jsonrpc": "2.0", "method": "$/keepalive"})
        );
        assert!(!task.is_finished());
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn the_interval_is_configurable_and_nothing_is_written_before_it() {
        let (writer, mut reader) = tokio::io::duplex(4096);
        let task = tokio::spawn(StdioKeepalive::new(secs(5)).run(writer));
        tokio::time::sleep(Duration::from_millis(4999)).await;
        let mut buf = [0u8; 1];
        let early = tokio::time::timeout(Duration::ZERO, reader.read(&mut buf)).await;
        assert!(early.is_err(), "nothing before the first interval");
        tokio::time::sleep(Duration::from_millis(1)).await;
        let mut line = vec![0u8; KEEPALIVE_LINE.len()];
        reader.read_exact(&mut line).await.unwrap();
        assert_eq!(line, KEEPALIVE_LINE);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_the_first_write_error() {
        let (writer, mut reader) = tokio::io::duplex(4096);
        let start = tokio::time::Instant::now();
        let task = tokio::spawn(StdioKeepalive::new(secs(30)).run(writer));
        let mut line = vec![0u8; KEEPALIVE_LINE.len()];
        reader.read_exact(&mut line).await.unwrap();
        drop(reader); // the peer went away
        let err = task.await.unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        assert_eq!(
            start.elapsed(),
            secs(60),
            "the second write found the peer gone"
        );
    }
}
