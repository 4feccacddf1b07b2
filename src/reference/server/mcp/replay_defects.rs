//! How the replay bug models get a resumption wrong: which stored events a `Last-Event-ID`
//! replays, and which stream the resumed connection is attached to.
//!
//! ```text
//!  GET + Last-Event-ID L ──▶ event store ──▶ (L's stream S, events to replay)
//!     reference               only S's events after L; the connection carries S
//!     replay_all_streams      every event of the session after L (any stream); carries S
//!     replay_standalone_lost  S a GET stream: no event; the connection carries ''
//!                             (nothing writes to '': S's later events are stored, unsent)
//! ```
//!
//! `replay_all_streams` is modelcontextprotocol/servers#4087 (the Everything server's
//! `InMemoryEventStore.replayEventsAfter` sends every later entry of its map; servers PR
//! #4099 filters by the id's stream). `replay_standalone_lost` is
//! modelcontextprotocol/typescript-sdk#943 and #2560: the example `InMemoryEventStore` names
//! event ids `<streamId>_<time>_<random>` and recovers the stream with `split('_')[0]`, which
//! is `''` for the standalone stream `_GET_stream`; `replayEventsAfter` then replays nothing
//! and returns `''`, and the transport maps the resumed response under `''`, where no
//! standalone notification is ever written (they go to `_GET_stream`, stored, unsent).

use super::{Inner, ServerStream, State, StreamKey};
use crate::mcp::event_store::{EventStore, Replay, ReplayError};
use std::cell::Cell;
use std::rc::Rc;

/// The stream a lost standalone resumption is attached to: the key `''` the example store
/// returned (shown quoted in the trace).
pub(super) const LOST_STREAM: &str = "''";

impl Inner {
    /// What `store` replays after `last`: that stream's later events (the reference), or
    /// every later event of the session (`replay_all_streams`).
    pub(super) fn replay_from(
        &self,
        store: &EventStore,
        last: &str,
    ) -> Result<Replay, ReplayError> {
        if self.cfg.defects.replay_all_streams {
            store.replay_all_after(last)
        } else {
            store.replay_after(last)
        }
    }

    /// The stream a resumption of `key` attaches to, and what it replays: `key` and `replay`
    /// for the reference; with `replay_standalone_lost`, a GET stream's resumption replays
    /// nothing and attaches to [`LOST_STREAM`] of its session.
    pub(super) fn attach_target(
        &self,
        st: &mut State,
        key: StreamKey,
        replay: Replay,
    ) -> (StreamKey, Replay) {
        if !self.cfg.defects.replay_standalone_lost || !key.1.starts_with('g') {
            return (key, replay);
        }
        let lost = (key.0, LOST_STREAM.to_string());
        st.streams
            .entry(lost.clone())
            .or_insert_with(|| ServerStream {
                outlet: None,
                ended: false,
                cancelled: Rc::new(Cell::new(false)),
            });
        let replay = Replay {
            stream: LOST_STREAM.to_string(),
            events: Vec::new(),
        };
        (lost, replay)
    }
}
