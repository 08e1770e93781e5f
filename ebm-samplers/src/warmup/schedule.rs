//! Stan's windows: when warm-up re-estimates the mass matrix.

/// Stan's warm-up schedule: an initial fast interval (step size only), slow windows that double in
/// length and end with a mass-matrix update, and a final fast interval.
///
/// With Stan's values (75, 25, 50; [`Warmup`](crate::Warmup)'s default final interval is 150) and 1000 warm-up
/// steps the windows end at steps 100, 150, 250, 450 and 950. Warm-ups shorter than 150 steps are
/// scaled: 15% initial, 75% one window, 10% final, as Stan does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSchedule {
    /// The warm-up steps after which the mass matrix is re-estimated (ends of the slow windows).
    pub window_ends: Vec<usize>,
    /// The first step of each slow window.
    pub window_starts: Vec<usize>,
}

impl WindowSchedule {
    /// The schedule for `warmup` steps with an initial fast interval `init`, a first slow window
    /// `base` and a final fast interval `term`.
    pub fn new(warmup: usize, init: usize, base: usize, term: usize) -> Self {
        let (init, base, term) = if warmup < 20 {
            return Self {
                window_ends: Vec::new(),
                window_starts: Vec::new(),
            };
        } else if init + base + term > warmup {
            let init = warmup * 15 / 100;
            let term = warmup / 10;
            (init, warmup - init - term, term)
        } else {
            (init, base, term)
        };
        let last = warmup - term;
        let (mut starts, mut ends) = (Vec::new(), Vec::new());
        let (mut start, mut size) = (init, base.max(1));
        while start < last {
            let mut end = start + size;
            // A window that would leave less than the next one's length is stretched to the end.
            if end + 2 * size > last {
                end = last;
            }
            starts.push(start);
            ends.push(end);
            start = end;
            size *= 2;
        }
        Self {
            window_ends: ends,
            window_starts: starts,
        }
    }
}
