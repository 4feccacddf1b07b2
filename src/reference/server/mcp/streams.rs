//! The server's streams: what it knows of each `(session, stream)`, the connection
//! carrying it, and the per-host state they live in.

use super::*;

/// A server stream: `(session, stream)`, e.g. `("s1", "g1")`.
pub(super) type StreamKey = (String, String);

pub(super) struct State {
    pub(super) sessions: SessionStore,
    /// 2026-07-28: event ids for the whole host (nothing is kept).
    pub(super) sessionless_events: EventStore,
    pub(super) sessionless_posts: u32,
    pub(super) streams: BTreeMap<StreamKey, ServerStream>,
    /// `shared_keepalive_timer` defect: the one timer slot of each session.
    pub(super) slots: BTreeMap<String, Slot>,
    /// `replay_crosses_sessions` defect: one event store for every session, its streams
    /// named `<session>/<stream>`.
    pub(super) shared_events: Option<EventStore>,
    pub(super) outlets: u64,
    /// `server.session-idle-timeout`: when each session last received a request.
    pub(super) last_request: BTreeMap<String, Duration>,
}

pub(super) type Slot = Rc<RefCell<Option<TimerHandle>>>;

/// What the server knows of one of its streams.
pub(super) struct ServerStream {
    /// The connection currently carrying the stream, if the server believes there is one.
    pub(super) outlet: Option<Outlet>,
    /// The stream is over (its result was sent, or its session was deleted).
    pub(super) ended: bool,
    /// The request behind a POST stream was cancelled.
    pub(super) cancelled: Rc<Cell<bool>>,
}

pub(super) struct Outlet {
    pub(super) serial: u64,
    pub(super) tx: mpsc::UnboundedSender<Outgoing>,
}

/// What a stream hands to the connection task carrying it.
pub(super) enum Outgoing {
    Frame(Frame),
    End,
}

impl State {
    pub(super) fn store(&mut self, session: &str) -> Option<&mut EventStore> {
        if session == NO_SESSION {
            return Some(&mut self.sessionless_events);
        }
        self.sessions.get(Some(session)).ok().map(|s| &mut s.events)
    }

    /// Creates a stream with a fresh connection attached; returns its receiving end.
    pub(super) fn open_stream(
        &mut self,
        key: &StreamKey,
    ) -> (u64, mpsc::UnboundedReceiver<Outgoing>) {
        self.streams.insert(
            key.clone(),
            ServerStream {
                outlet: None,
                ended: false,
                cancelled: Rc::new(Cell::new(false)),
            },
        );
        self.attach(key)
    }

    /// Attaches a new connection to a stream, replacing (not ending) the previous one.
    pub(super) fn attach(&mut self, key: &StreamKey) -> (u64, mpsc::UnboundedReceiver<Outgoing>) {
        self.outlets += 1;
        let serial = self.outlets;
        let (tx, rx) = mpsc::unbounded_channel();
        if let Some(s) = self.streams.get_mut(key) {
            s.outlet = Some(Outlet { serial, tx });
        }
        (serial, rx)
    }

    /// Sends a frame to the connection carrying `key`, if any.
    pub(super) fn push(&mut self, key: &StreamKey, out: Outgoing) {
        if let Some(s) = self.streams.get_mut(key) {
            if let Some(o) = &s.outlet {
                if o.tx.send(out).is_err() {
                    s.outlet = None;
                }
            }
        }
    }

    /// Issues an id for an event on `key`, keeps it, and sends it if a connection is attached.
    /// Returns the id and whether a connection took it.
    pub(super) fn emit(&mut self, key: &StreamKey, data: &str) -> Option<(u64, bool)> {
        self.store(&key.0)?; // the session is live
        let id = match &mut self.shared_events {
            Some(shared) if key.0 != NO_SESSION => shared.append(&shared_name(key), data),
            _ => self.store(&key.0)?.append(&key.1, data),
        };
        let frame = Frame::Event {
            name: None,
            id: Some(id.to_string()),
            data: data.to_string(),
        };
        let attached = self.streams.get(key).is_some_and(|s| s.outlet.is_some());
        self.push(key, Outgoing::Frame(frame));
        let taken = attached && self.streams.get(key).is_some_and(|s| s.outlet.is_some());
        Some((id, taken))
    }

    /// The stream is over: its connection (if any) ends its response.
    pub(super) fn end_stream(&mut self, key: &StreamKey) {
        if let Some(s) = self.streams.get_mut(key) {
            s.ended = true;
            if let Some(o) = s.outlet.take() {
                let _ = o.tx.send(Outgoing::End);
            }
        }
    }
}

/// A stream's name in the store shared by all sessions (`replay_crosses_sessions` defect).
pub(super) fn shared_name(key: &StreamKey) -> String {
    format!("{}/{}", key.0, key.1)
}
