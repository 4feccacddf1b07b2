//! MCP protocol revisions: the dated versions of the specification, and what each changes
//! for a streaming transport.

/// An MCP protocol revision (a dated version of the specification).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Revision {
    /// `2025-03-26`: sessions, GET stream, resumption.
    V2025_03_26,
    /// `2025-06-18`: as 2025-03-26 (plus the `MCP-Protocol-Version` header).
    V2025_06_18,
    /// `2025-11-25`: adds priming events and `retry`.
    V2025_11_25,
    /// `2026-07-28`: no sessions, no GET stream, no resumption; closing a POST stream
    /// cancels its request.
    V2026_07_28,
}

impl Revision {
    /// Every revision, oldest first.
    pub const ALL: [Revision; 4] = [
        Revision::V2025_03_26,
        Revision::V2025_06_18,
        Revision::V2025_11_25,
        Revision::V2026_07_28,
    ];

    /// The revision named `s` (`2025-11-25`), if known.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The revision's date string.
    pub fn as_str(self) -> &'static str {
        match self {
            Revision::V2025_03_26 => "2025-03-26",
            Revision::V2025_06_18 => "2025-06-18",
            Revision::V2025_11_25 => "2025-11-25",
            Revision::V2026_07_28 => "2026-07-28",
        }
    }

    /// Sessions, the GET stream and `Last-Event-ID` resumption.
    pub fn has_sessions(self) -> bool {
        self < Revision::V2026_07_28
    }

    /// New SSE streams start with a priming event and `retry`.
    pub fn primes(self) -> bool {
        self == Revision::V2025_11_25
    }

    /// Losing a POST stream's connection cancels its request.
    pub fn cancels_on_close(self) -> bool {
        !self.has_sessions()
    }
}

impl Revision {
    /// The revision a run speaks when its scenario lists none.
    pub const DEFAULT: Revision = Revision::V2025_11_25;
}

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Revision {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
