//! The timeline's x axis: virtual time → pixels, with long idle stretches compressed.
//!
//! ```text
//!  instants (events, check `at`s, 0, end)  ──sort──▶  gaps
//!     gap ≤ COMPRESS_AFTER  → linear, one scale for all of them
//!     gap >  COMPRESS_AFTER → a break of fixed width, its length written ("⋯ 8 min 59 s ⋯")
//! ```
//!
//! The mapping is continuous and monotonic: an instant inside a break (a limit's deadline)
//! still has a place, squeezed into the break.

use std::time::Duration;

/// Gaps between consecutive instants longer than this are drawn as breaks. Two minutes keeps
/// the common limits (60 s, 100 s, 120 s idle timeouts) and a 15 s keepalive cadence at scale.
pub const COMPRESS_AFTER: Duration = Duration::from_secs(120);

/// The width of one break, at most (less when many breaks must share the width).
const BREAK_PX: f64 = 96.0;

/// Tick labels closer than this are left out.
const TICK_PX: f64 = 80.0;

/// One stretch of the axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// Where the stretch starts.
    pub from: Duration,
    /// Where it ends.
    pub to: Duration,
    /// Its pixel range.
    pub x0: f64,
    /// Its pixel range's end.
    pub x1: f64,
    /// A break: idle time drawn shorter than the scale.
    pub compressed: bool,
}

/// Virtual time → x, over `[0, width]`.
#[derive(Clone, Debug)]
pub struct Axis {
    segments: Vec<Segment>,
    /// Pixels per second on the linear stretches.
    scale: f64,
}

impl Axis {
    /// The axis over `instants` (any order, repeats allowed) and `[0, end]`, `width` pixels wide.
    pub fn new(instants: &[Duration], end: Duration, width: f64) -> Self {
        let mut points: Vec<Duration> = instants.to_vec();
        points.push(Duration::ZERO);
        points.push(end);
        points.sort();
        points.dedup();
        let gaps: Vec<(Duration, Duration)> = points.windows(2).map(|w| (w[0], w[1])).collect();
        let breaks = gaps
            .iter()
            .filter(|(a, b)| *b - *a > COMPRESS_AFTER)
            .count();
        let linear: f64 = gaps
            .iter()
            .filter(|(a, b)| *b - *a <= COMPRESS_AFTER)
            .map(|(a, b)| (*b - *a).as_secs_f64())
            .sum();
        let (break_px, scale) = if linear > 0.0 {
            let bp = if breaks > 0 {
                BREAK_PX.min(width * 0.4 / breaks as f64)
            } else {
                0.0
            };
            (bp, (width - bp * breaks as f64) / linear)
        } else if breaks > 0 {
            (width / breaks as f64, 0.0)
        } else {
            (0.0, 0.0)
        };
        let mut segments: Vec<Segment> = Vec::new();
        let mut x = 0.0;
        for (a, b) in gaps {
            let compressed = b - a > COMPRESS_AFTER;
            let w = if compressed {
                break_px
            } else {
                (b - a).as_secs_f64() * scale
            };
            match segments.last_mut() {
                // Consecutive linear gaps are one stretch.
                Some(s) if !compressed && !s.compressed => {
                    s.to = b;
                    s.x1 = x + w;
                }
                _ => segments.push(Segment {
                    from: a,
                    to: b,
                    x0: x,
                    x1: x + w,
                    compressed,
                }),
            }
            x += w;
        }
        Self { segments, scale }
    }

    /// The x of instant `t` (clamped to the axis).
    pub fn x(&self, t: Duration) -> f64 {
        let i = self.segments.partition_point(|s| s.to < t);
        let Some(s) = self.segments.get(i) else {
            return self.segments.last().map_or(0.0, |s| s.x1);
        };
        if t <= s.from || s.to == s.from {
            return s.x0;
        }
        let f = (t - s.from).as_secs_f64() / (s.to - s.from).as_secs_f64();
        s.x0 + f * (s.x1 - s.x0)
    }

    /// The breaks (compressed idle stretches), in order.
    pub fn breaks(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter().filter(|s| s.compressed)
    }

    /// Labelled ticks on the linear stretches: a round step at least [`TICK_PX`] apart, and
    /// the start of each stretch after a break.
    pub fn ticks(&self) -> Vec<(Duration, f64)> {
        const STEPS: [u64; 17] = [
            1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400,
        ];
        let mut out: Vec<(Duration, f64)> = Vec::new();
        let step = STEPS
            .iter()
            .map(|s| Duration::from_secs(*s))
            .find(|s| s.as_secs_f64() * self.scale >= TICK_PX);
        let mut last_x = f64::NEG_INFINITY;
        for s in self.segments.iter().filter(|s| !s.compressed) {
            let mut push = |t: Duration, out: &mut Vec<(Duration, f64)>| {
                let x = self.x(t);
                if x - last_x >= TICK_PX {
                    out.push((t, x));
                    last_x = x;
                }
            };
            push(s.from, &mut out);
            if let Some(step) = step {
                let n0 = s.from.as_nanos().div_ceil(step.as_nanos());
                let mut t = Duration::from_nanos((n0 * step.as_nanos()) as u64);
                while t <= s.to {
                    push(t, &mut out);
                    t += step;
                }
            }
        }
        out
    }
}
