//! The numbers behind the sparklines: one sample per census, the last ten minutes, and rates.

use std::collections::VecDeque;

use sockdoc_diag::State;

use crate::model::Snap;

/// Seconds a rate is taken over.
pub const RATE_WINDOW: f64 = 10.0;

/// One census's numbers for the sparklines.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// Seconds since the first sample.
    pub t: f64,
    pub estab: u64,
    pub time_wait: u64,
    pub close_wait: u64,
    pub syn_recv: u64,
    /// conntrack fill, percent (0 when there is no conntrack).
    pub conntrack_pct: u64,
}

/// The last samples (one per census), oldest first.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub samples: VecDeque<Sample>,
    start: Option<std::time::Instant>,
}

/// Samples kept: 10 minutes at one census a second.
pub const HISTORY: usize = 600;

impl History {
    pub fn push(&mut self, snap: &Snap) {
        let start = *self.start.get_or_insert(snap.taken);
        let st = |s: State| snap.tcp.get(s);
        let pct = snap
            .conntrack
            .map_or(0, |(c, m)| (c * 100).checked_div(m).unwrap_or(0));
        if self.samples.len() == HISTORY {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            t: snap.taken.saturating_duration_since(start).as_secs_f64(),
            estab: st(State::Established),
            time_wait: st(State::TimeWait),
            close_wait: st(State::CloseWait),
            syn_recv: st(State::SynRecv),
            conntrack_pct: pct,
        });
    }

    /// Change per second of one series over the last [`RATE_WINDOW`] seconds (or what the
    /// history holds of them): one kill between two censuses a second apart is -0.1/s over ten
    /// seconds, not -1/s, and a steady trend reads the same either way.
    pub fn rate(&self, f: impl Fn(&Sample) -> u64) -> Option<f64> {
        let b = self.samples.back()?;
        let a = self
            .samples
            .iter()
            .find(|s| b.t - s.t <= RATE_WINDOW)
            .filter(|a| a.t < b.t)
            .or_else(|| self.samples.iter().rev().nth(1))?;
        let dt = b.t - a.t;
        (dt > 0.0).then(|| (f(b) as f64 - f(a) as f64) / dt)
    }

    /// The last `n` values of one series.
    pub fn series(&self, n: usize, f: impl Fn(&Sample) -> u64) -> Vec<u64> {
        let skip = self.samples.len().saturating_sub(n);
        self.samples.iter().skip(skip).map(f).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: f64, estab: u64) -> Sample {
        Sample {
            t,
            estab,
            ..Sample::default()
        }
    }

    #[test]
    fn a_rate_is_taken_over_the_last_ten_seconds() {
        let mut h = History::default();
        assert_eq!(h.rate(|s| s.estab), None);
        // 100 connections for 20 s, one killed in the last second.
        for t in 0..20 {
            h.samples.push_back(at(f64::from(t), 100));
        }
        h.samples.push_back(at(20.0, 99));
        let r = h.rate(|s| s.estab).expect("rate");
        assert!((r + 0.1).abs() < 1e-9, "{r}");
        // Two samples: their difference.
        let mut two = History::default();
        two.samples.push_back(at(0.0, 10));
        two.samples.push_back(at(0.5, 20));
        assert_eq!(two.rate(|s| s.estab), Some(20.0));
    }
}
