//! Small text formatters shared by the commands: durations, `ss -o` timers, counts.

pub use sockdoc_core::units::{count, duration_ms, timer};

#[cfg(test)]
mod tests {
    use super::*;
    use sockdoc_core::units::ss_time;
    use sockdoc_diag::{Timer, TimerKind};

    #[test]
    fn ss_times() {
        assert_eq!(ss_time(200), "200ms");
        assert_eq!(ss_time(59_000), "59sec");
        assert_eq!(ss_time(79_000), "1min19sec");
        assert_eq!(ss_time(7_380_000), "2hr3min");
        let t = Timer {
            kind: TimerKind::Keepalive,
            expires_ms: 79_000,
            count: 0,
        };
        assert_eq!(timer(&t), "keepalive,1min19sec,0");
    }

    #[test]
    fn counts() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
    }
}

/// Columns a string takes on a terminal: CJK and full-width characters count two.
pub fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6 => 2,
            _ => 1,
        })
        .sum()
}

/// `s` right-aligned in `width` terminal columns.
pub fn pad_left(s: &str, width: usize) -> String {
    let pad = width.saturating_sub(display_width(s));
    format!("{}{s}", " ".repeat(pad))
}

#[cfg(test)]
mod width_tests {
    use super::*;

    #[test]
    fn cjk_counts_double() {
        assert_eq!(display_width("COUNT"), 5);
        assert_eq!(display_width("数量"), 4);
        assert_eq!(pad_left("数量", 6), "  数量");
    }
}
