//! Keepalive timers: numbered per server host, each writing its frame every period from
//! when it was armed until its handle is cleared (`TimerArmed`, `TimerFired`, `TimerCleared`).

use super::*;

/// Numbers keepalive timers per server host: `timer#1`, `timer#2`, ...
#[derive(Clone, Default)]
pub(crate) struct TimerIds(Rc<Cell<u32>>);

impl TimerIds {
    /// The next timer id.
    pub(crate) fn next(&self) -> u32 {
        self.0.set(self.0.get() + 1);
        self.0.get()
    }
}

/// A handle on a keepalive timer: clearing it stops it, wherever it runs.
#[derive(Clone)]
pub(crate) struct TimerHandle {
    id: u32,
    cleared: Rc<Cell<bool>>,
    rec: Recorder,
    conn: Option<ConnId>,
}

impl TimerHandle {
    /// Clears the timer (`TimerCleared`, on the connection it writes to); a no-op when it is
    /// already cleared.
    pub(crate) fn clear(&self) {
        if !self.cleared.replace(true) {
            self.rec.record(
                "server",
                self.conn,
                EventKind::TimerCleared { timer: self.id },
            );
        }
    }

    /// True once cleared.
    pub(crate) fn is_cleared(&self) -> bool {
        self.cleared.get()
    }
}

/// The keepalive timer of one SSE stream: fires every `every` from when it was armed and
/// writes the configured keepalive frame, until its handle is cleared.
pub(crate) struct Keepalive {
    every: Duration,
    next: Duration,
    frame: KeepaliveFrame,
    handle: TimerHandle,
}

impl Keepalive {
    /// Arms timer `id` at `start` (`TimerArmed`) for the stream `out` writes.
    pub(crate) fn arm(
        id: u32,
        every: Duration,
        frame: KeepaliveFrame,
        out: &SseOut,
        start: Duration,
    ) -> Self {
        out.record(EventKind::TimerArmed { timer: id, every });
        Self {
            every,
            next: start + every,
            frame,
            handle: TimerHandle {
                id,
                cleared: Rc::new(Cell::new(false)),
                rec: out.rec.clone(),
                conn: out.conn,
            },
        }
    }

    /// When it fires next; `None` once cleared.
    pub(crate) fn due(&self) -> Option<Duration> {
        (!self.handle.is_cleared()).then_some(self.next)
    }

    /// Fires: the frame to write and the timer id; the next firing is one period later.
    pub(crate) fn fire(&mut self) -> (Frame, u32) {
        self.next += self.every;
        let frame = match &self.frame {
            KeepaliveFrame::Comment { text } => Frame::Comment { text: text.clone() },
            KeepaliveFrame::NamedEvent { name } => Frame::Event {
                name: Some(name.clone()),
                id: None,
                data: String::new(),
            },
        };
        (frame, self.handle.id)
    }

    /// The handle to clear this timer with.
    pub(crate) fn handle(&self) -> &TimerHandle {
        &self.handle
    }
}
