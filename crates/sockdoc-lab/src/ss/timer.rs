//! Parsing of ss's timer column `timer:(kind,time,count)` and its odd time format.
//!
//! ss (`print_ms_timer` in iproute2) renders milliseconds as
//! `[<min>min][<sec>sec | <sec>.][<ms>ms]` with these truncations:
//! * under 10 s: full precision, `004ms`, `504ms`, `1.504ms` (= 1 s 504 ms), `5sec` when the ms
//!   part is exactly 0;
//! * 10 s to 60 s: whole seconds, `58sec`;
//! * 1 to 10 min: whole seconds, `9min58sec`, `1min` (seconds exactly 0);
//! * 10 min and more: whole minutes, `116min`;
//! * 0 ms (timer due): the empty string, `timer:(on,,0)`.
//!
//! Decimal seconds such as `2.5sec` are not produced by ss but accepted.

use super::model::SsTimer;

/// Parses the inside of `timer:(...)`, e.g. `on,1.504ms,1`.
pub fn parse_timer(inner: &str) -> Option<SsTimer> {
    let mut parts = inner.splitn(3, ',');
    let kind = parts.next()?.to_string();
    let (remaining_ms, resolution_ms) = parse_duration(parts.next()?)?;
    let count = parts.next()?.trim().parse().ok()?;
    if kind.is_empty() {
        return None;
    }
    Some(SsTimer {
        kind,
        remaining_ms,
        resolution_ms,
        count,
    })
}

/// Parses one of ss's time renderings into `(milliseconds, resolution in milliseconds)`.
pub fn parse_duration(s: &str) -> Option<(u64, u64)> {
    let mut rest = s.trim();
    let mut total: u64 = 0;
    let mut resolution: u64 = 1;
    while !rest.is_empty() {
        let (n, after) = take_digits(rest)?;
        rest = after;
        if let Some(after) = rest.strip_prefix("min") {
            total += n.checked_mul(60_000)?;
            resolution = if n > 9 { 60_000 } else { 1_000 };
            rest = after;
        } else if let Some(after) = rest.strip_prefix("sec") {
            total += n.checked_mul(1_000)?;
            resolution = 1_000;
            rest = after;
        } else if let Some(after) = rest.strip_prefix("ms") {
            total += n;
            resolution = 1;
            rest = after;
        } else if let Some(after) = rest.strip_prefix('.') {
            let (frac_digits, after) = split_digits(after)?;
            let frac: u64 = frac_digits.parse().ok()?;
            total += n.checked_mul(1_000)?;
            if let Some(after) = after.strip_prefix("ms") {
                // `1.504ms`: seconds, then a zero-padded millisecond count.
                total += frac;
                resolution = 1;
                rest = after;
            } else if let Some(after) = after.strip_prefix("sec") {
                // `2.5sec`: decimal seconds.
                let digits = u32::try_from(frac_digits.len()).ok()?;
                if digits > 3 {
                    return None;
                }
                total += frac * 10u64.pow(3 - digits);
                resolution = 10u64.pow(3 - digits);
                rest = after;
            } else {
                return None;
            }
        } else {
            return None;
        }
    }
    Some((total, resolution))
}

fn split_digits(s: &str) -> Option<(&str, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    Some(s.split_at(end))
}

fn take_digits(s: &str) -> Option<(u64, &str)> {
    let (digits, rest) = split_digits(s)?;
    Some((digits.parse().ok()?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_ss_prints_them() {
        assert_eq!(parse_duration(""), Some((0, 1)));
        assert_eq!(parse_duration("004ms"), Some((4, 1)));
        assert_eq!(parse_duration("200ms"), Some((200, 1)));
        assert_eq!(parse_duration("1.504ms"), Some((1504, 1)));
        assert_eq!(parse_duration("1.004ms"), Some((1004, 1)));
        assert_eq!(parse_duration("5sec"), Some((5000, 1000)));
        assert_eq!(parse_duration("59sec"), Some((59_000, 1000)));
        assert_eq!(parse_duration("1min19sec"), Some((79_000, 1000)));
        assert_eq!(parse_duration("9min58sec"), Some((598_000, 1000)));
        assert_eq!(parse_duration("1min"), Some((60_000, 1000)));
        assert_eq!(parse_duration("116min"), Some((6_960_000, 60_000)));
        assert_eq!(parse_duration("2.5sec"), Some((2500, 100)));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_duration("abc"), None);
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5hours"), None);
        assert_eq!(parse_duration("1."), None);
    }

    #[test]
    fn timers() {
        let t = parse_timer("on,1.504ms,1").expect("timer");
        assert_eq!((t.kind.as_str(), t.remaining_ms, t.count), ("on", 1504, 1));
        let t = parse_timer("timewait,58sec,0").expect("timer");
        assert_eq!(
            (t.kind.as_str(), t.remaining_ms, t.resolution_ms),
            ("timewait", 58_000, 1000)
        );
        let t = parse_timer("on,,3").expect("timer");
        assert_eq!((t.remaining_ms, t.count), (0, 3));
        assert_eq!(parse_timer("keepalive,9min"), None);
    }
}
