//! Numbers as people read them: compact durations, `ss -o` timers, counts with thousands separators,
//! and durations as people write them.

use std::time::Duration;

use sockdoc_diag::{Timer, TimerKind};

/// A duration as flags and config files write it: `500ms`, `30s`, `5m`, `2h`, `1d`, or bare seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3_600_000)
    } else if let Some(n) = t.strip_suffix('d') {
        (n, 86_400_000)
    } else {
        (t, 1000)
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .map(Duration::from_millis)
}

/// A compact duration: `850ms`, `12s`, `5m12s`, `2h05m`, `3d04h`.
pub fn duration_ms(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        _ if ms < 1000 => format!("{ms}ms"),
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// Time left on a timer the way `ss -o` writes it: `200ms`, `59sec`, `1min19sec`, `2hr3min`.
pub fn ss_time(ms: u32) -> String {
    let secs = ms / 1000;
    if secs == 0 {
        return format!("{ms}ms");
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}hr{m}min")
    } else if m > 0 {
        format!("{m}min{s}sec")
    } else {
        format!("{s}sec")
    }
}

/// `keepalive,1min19sec,0`, or `-` when no timer is pending.
pub fn timer(t: &Timer) -> String {
    if t.kind == TimerKind::Off {
        return "-".to_string();
    }
    format!("{},{},{}", t.kind.name(), ss_time(t.expires_ms), t.count)
}

/// 1234567 → `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration(" 30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_duration("42"), Some(Duration::from_secs(42)));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("99999999999999999d"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ms(5), "5ms");
        assert_eq!(duration_ms(12_400), "12s");
        assert_eq!(duration_ms(312_000), "5m12s");
        assert_eq!(duration_ms(7_500_000), "2h05m");
        assert_eq!(duration_ms(3 * 86_400_000 + 4 * 3_600_000), "3d04h");
    }
}
