//! The record of when files completed: the server's count of stored bodies, sampled every
//! virtual second, and the figures drawn from it.
//!
//! `longest_stall_secs` is the longest stretch of virtual time, from the start of the run
//! to the moment the last file completed (or the end of the run, if some never did),
//! during which no file completed. "Completed" means the server stored the file's body
//! (ground truth, whatever the app was told and when). The one-second sampling makes it
//! exact to within a second.
//!
//! What it must never do: read the wall clock.

use super::ideal::{Span, measure};

/// Completed files over virtual time: `(secs, count)` at each change, from `(0, 0)`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    pub points: Vec<(f64, u64)>,
}

impl Timeline {
    /// Appends a sample; kept only when the count changed.
    pub fn sample(&mut self, secs: f64, count: u64) {
        match self.points.last() {
            Some((_, last)) if *last == count => {}
            _ => self.points.push((secs, count)),
        }
    }

    /// When the count first reached `total`.
    pub fn reached(&self, total: u64) -> Option<f64> {
        self.points
            .iter()
            .find(|(_, count)| *count >= total)
            .map(|(secs, _)| *secs)
    }

    /// The longest gap between completions, up to the last completion if all `total`
    /// completed, else up to `end_secs`.
    pub fn longest_stall(&self, total: u64, end_secs: f64) -> f64 {
        let end = self.reached(total).unwrap_or(end_secs);
        let mut longest: f64 = 0.0;
        let mut previous = 0.0;
        for (secs, _) in self.points.iter().filter(|(secs, _)| *secs <= end) {
            longest = longest.max(secs - previous);
            previous = *secs;
        }
        longest.max(end - previous)
    }

    /// As [`longest_stall`](Self::longest_stall), but counting only the seconds in `open`
    /// (the OS-bounded ideal's open time): the stall beyond the model's forced gaps.
    pub fn longest_open_stall(&self, total: u64, end_secs: f64, open: &[Span]) -> f64 {
        let end = self.reached(total).unwrap_or(end_secs);
        let mut longest: f64 = 0.0;
        let mut previous = 0.0;
        for (secs, _) in self.points.iter().filter(|(secs, _)| *secs <= end) {
            longest = longest.max(measure(open, previous, *secs));
            previous = *secs;
        }
        longest.max(measure(open, previous, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_stall_counts_from_the_start_to_the_last_completion() {
        let mut t = Timeline::default();
        for (s, c) in [
            (0.0, 0),
            (5.0, 1),
            (6.0, 1),
            (10.0, 2),
            (400.0, 3),
            (401.0, 4),
        ] {
            t.sample(s, c);
        }
        assert_eq!(t.points.len(), 5, "unchanged counts are not kept");
        assert_eq!(t.reached(4), Some(401.0));
        assert_eq!(t.longest_stall(4, 1000.0), 390.0);
        // Not all done: the tail up to the end of the run counts.
        assert_eq!(t.longest_stall(5, 1000.0), 599.0);
        // With 100-380 closed, the 390 s gap is 110 s of open time.
        let open = [(0.0, 100.0), (380.0, f64::INFINITY)];
        assert_eq!(t.longest_open_stall(4, 1000.0, &open), 110.0);
    }
}
