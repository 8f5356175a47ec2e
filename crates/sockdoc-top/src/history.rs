//! The numbers behind the sparklines: one sample per census, the last ten minutes, and rates.

use std::collections::VecDeque;

use sockdoc_diag::State;

use crate::model::Snap;

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

    /// Change per second of one series between the last two samples.
    pub fn rate(&self, f: impl Fn(&Sample) -> u64) -> Option<f64> {
        let n = self.samples.len();
        if n < 2 {
            return None;
        }
        let (a, b) = (&self.samples[n - 2], &self.samples[n - 1]);
        let dt = b.t - a.t;
        (dt > 0.0).then(|| (f(b) as f64 - f(a) as f64) / dt)
    }

    /// The last `n` values of one series.
    pub fn series(&self, n: usize, f: impl Fn(&Sample) -> u64) -> Vec<u64> {
        let skip = self.samples.len().saturating_sub(n);
        self.samples.iter().skip(skip).map(f).collect()
    }
}
