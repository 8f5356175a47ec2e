//! Numbers as people read them: compact durations, `ss -o` timers, counts with thousands separators,
//! and durations as people write them.

use std::time::Duration;

use sockdoc_diag::{Timer, TimerKind};

/// A duration as people and sockdoc write it: everything sockdoc prints (`850ms`, `5m12s`,
/// `2h11m`, `3d04h`) and `ss -o` prints (`1min19sec`, `2hr3min`), fractions (`1.5s`), spaces and
/// long units (`1h 30m`, `2 minutes`), ISO 8601 (`PT5M`); a bare number is seconds. A day is 24
/// hours; months, years and negative durations are refused (`None`). jiff's "friendly" format
/// does the parsing.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let span: jiff::Span = t.parse().ok()?;
    let d = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .ok()?;
    Duration::try_from(d).ok()
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
        assert_eq!(parse_duration("2h11m"), Some(Duration::from_secs(7860)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2min"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h 30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1min19sec"), Some(Duration::from_secs(79)));
        assert_eq!(
            parse_duration("3d04h"),
            Some(Duration::from_secs(76 * 3600))
        );
        assert_eq!(parse_duration("1 month"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn what_sockdoc_and_ss_print_is_taken_back() {
        // Every scale, with the precision the printed form keeps.
        let mut ms = 1u64;
        while ms < 40 * 86_400_000 {
            let shown = duration_ms(ms);
            let back = parse_duration(&shown).unwrap_or_else(|| panic!("{shown} refused"));
            assert_eq!(duration_ms(back.as_millis() as u64), shown, "{ms} ms");
            if let Ok(ms32) = u32::try_from(ms) {
                let ss = ss_time(ms32);
                let back = parse_duration(&ss).unwrap_or_else(|| panic!("{ss} refused"));
                assert_eq!(ss_time(back.as_millis() as u32), ss, "{ms} ms");
            }
            ms = ms * 7 / 5 + 1;
        }
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
