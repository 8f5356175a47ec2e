//! Times as the recorder writes and people type them (with `jiff`): milliseconds since the epoch
//! inside, RFC 3339 UTC in files and JSON, `YYYYMMDDTHHMMSSZ` in file names, the local
//! `2026-11-01 14:03` on screens, and `--at` as RFC 3339, a local date and time, `HH:MM` today, or
//! `-2h` (a duration as sockdoc prints it, before now).

use jiff::civil::{DateTime, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> u64 {
    u64::try_from(Timestamp::now().as_millisecond()).unwrap_or(0)
}

fn ts(ms: u64) -> Timestamp {
    Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `2026-11-01T14:03:05.123Z`.
pub fn rfc3339(ms: u64) -> String {
    ts(ms).to_string()
}

/// `20261101T140305Z`: file names, sorting as time does.
pub fn stamp(ms: u64) -> String {
    ts(ms).strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// The time a [`stamp`] names (whole seconds).
pub fn parse_stamp(s: &str) -> Option<u64> {
    let dt = DateTime::strptime("%Y%m%dT%H%M%SZ", s).ok()?;
    let z = dt.to_zoned(TimeZone::UTC).ok()?;
    u64::try_from(z.timestamp().as_millisecond()).ok()
}

/// `2026-11-01 14:03`, in the host's time zone.
pub fn local_minute(ms: u64) -> String {
    ts(ms)
        .to_zoned(TimeZone::system())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// `2026-11-01 14:03:05`, in the host's time zone.
pub fn local_second(ms: u64) -> String {
    ts(ms)
        .to_zoned(TimeZone::system())
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The time `--at` names, `now_ms` being now; `None` when the words are none of the forms.
pub fn parse_at(text: &str, now_ms: u64) -> Option<u64> {
    let t = text.trim();
    if let Some(ago) = t.strip_prefix('-') {
        let d = sockdoc_core::units::parse_duration(ago)?;
        return now_ms.checked_sub(u64::try_from(d.as_millis()).ok()?);
    }
    if let Ok(x) = t.parse::<Timestamp>() {
        return u64::try_from(x.as_millisecond()).ok();
    }
    let tz = TimeZone::system();
    let local = |dt: DateTime| {
        dt.to_zoned(tz.clone())
            .ok()
            .and_then(|z| u64::try_from(z.timestamp().as_millisecond()).ok())
    };
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = DateTime::strptime(f, t) {
            return local(dt);
        }
    }
    for f in ["%H:%M:%S", "%H:%M"] {
        if let Ok(time) = Time::strptime(f, t) {
            let today = ts(now_ms).to_zoned(tz.clone()).date();
            return local(today.to_datetime(time));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_back_as_written() {
        let at = 1_793_541_785_000; // 2026-11-01T14:03:05Z
        assert_eq!(stamp(at), "20261101T140305Z");
        assert_eq!(parse_stamp("20261101T140305Z"), Some(at));
        assert_eq!(parse_stamp("2026110"), None);
        assert_eq!(rfc3339(at + 7), "2026-11-01T14:03:05.007Z");
        assert_eq!(parse_at("2026-11-01T14:03:05Z", 0), Some(at));
        assert_eq!(parse_at("2026-11-01T15:03:05+01:00", 0), Some(at));
        assert_eq!(parse_at("-2h", at), Some(at - 7_200_000));
        assert_eq!(
            parse_at("-5m12s", at),
            Some(at - 312_000),
            "as sockdoc prints durations"
        );
        assert_eq!(parse_at("-90s", at), Some(at - 90_000));
        // HH:MM is today's, in the host's zone: the local minute of it reads back.
        let today = parse_at("14:03", at).expect("HH:MM");
        assert!(
            local_minute(today).ends_with("14:03"),
            "{}",
            local_minute(today)
        );
        let full = parse_at(&local_second(at), 0).expect("local date and time");
        assert_eq!(full, at);
        assert_eq!(parse_at("yesterday", at), None);
        assert_eq!(parse_at("25:99", at), None);
    }
}
