//! The server side of one SSE response body: every frame written and every failed write
//! recorded.

use super::*;

/// Why a frame was not written (already recorded as `WriteFailed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteError {
    /// The frame cannot be encoded; the stream is still usable.
    Encode,
    /// The body is closed: the client is gone, or the server already ended the response.
    Closed,
}

/// The server side of one SSE response body: writes frames and records every write.
pub(crate) struct SseOut {
    tx: Option<Sender<Bytes>>,
    pub(super) rec: Recorder,
    pub(super) conn: Option<ConnId>,
}

impl SseOut {
    /// Writes into `tx`, recording as host `server` on `conn`.
    pub(crate) fn new(tx: Sender<Bytes>, rec: Recorder, conn: Option<ConnId>) -> Self {
        Self {
            tx: Some(tx),
            rec,
            conn,
        }
    }

    /// Records an event of this response's connection.
    pub(crate) fn record(&self, kind: EventKind) {
        self.rec.record("server", self.conn, kind);
    }

    /// Writes one frame: `FrameWritten` on success, else `WriteFailed` (`timer` = the
    /// keepalive timer writing it, if any).
    pub(crate) async fn write(
        &mut self,
        frame: Frame,
        timer: Option<u32>,
    ) -> Result<(), WriteError> {
        let bytes = match encode(&frame) {
            Ok(s) => Bytes::from(s),
            Err(e) => {
                self.record(EventKind::WriteFailed {
                    timer,
                    error: format!("cannot encode {frame}: {e}"),
                });
                return Err(WriteError::Encode);
            }
        };
        let Some(tx) = self.tx.as_mut() else {
            self.record(EventKind::WriteFailed {
                timer,
                error: "response already ended by the server".into(),
            });
            return Err(WriteError::Closed);
        };
        if tx.send_data(bytes).await.is_err() {
            self.record(EventKind::WriteFailed {
                timer,
                error: "response body closed (client gone)".into(),
            });
            return Err(WriteError::Closed);
        }
        self.record(EventKind::FrameWritten { frame, timer });
        Ok(())
    }

    /// Ends the response body on purpose (`ResponseEnded`); later writes fail.
    pub(crate) fn end(&mut self) {
        self.record(EventKind::ResponseEnded);
        self.tx = None;
    }
}
