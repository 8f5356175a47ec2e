//! Keepalive settings read from the environment.
//!
//! Pure parsing only: this module turns the values of the
//! `SOCKDOC_KEEPALIVE_*` variables into a [`Config`]. It must not touch
//! sockets, must not allocate on the parse path, and must never panic:
//! a missing, malformed or out-of-range value silently falls back to the
//! default (the debug line reports what was actually applied).

/// Environment variable: idle seconds before the first probe (`TCP_KEEPIDLE`).
pub const ENV_IDLE: &str = "SOCKDOC_KEEPALIVE_IDLE";
/// Environment variable: seconds between probes (`TCP_KEEPINTVL`).
pub const ENV_INTVL: &str = "SOCKDOC_KEEPALIVE_INTVL";
/// Environment variable: unanswered probes before the connection dies (`TCP_KEEPCNT`).
pub const ENV_CNT: &str = "SOCKDOC_KEEPALIVE_CNT";
/// Environment variable: optional `TCP_USER_TIMEOUT` in milliseconds.
pub const ENV_USER_TIMEOUT: &str = "SOCKDOC_KEEPALIVE_USER_TIMEOUT";
/// Environment variable: `1` prints one line per treated socket on stderr.
pub const ENV_DEBUG: &str = "SOCKDOC_KEEPALIVE_DEBUG";

/// Default `TCP_KEEPIDLE` (seconds).
pub const DEFAULT_IDLE: u32 = 300;
/// Default `TCP_KEEPINTVL` (seconds).
pub const DEFAULT_INTVL: u32 = 30;
/// Default `TCP_KEEPCNT`.
pub const DEFAULT_CNT: u32 = 5;

/// Kernel limit for `TCP_KEEPIDLE` / `TCP_KEEPINTVL` (`MAX_TCP_KEEPIDLE`).
pub const MAX_KEEP_SECS: u32 = 32767;
/// Kernel limit for `TCP_KEEPCNT` (`MAX_TCP_KEEPCNT`).
pub const MAX_KEEPCNT: u32 = 127;

/// Settings applied to every new TCP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// `TCP_KEEPIDLE`, seconds, 1..=32767.
    pub idle: u32,
    /// `TCP_KEEPINTVL`, seconds, 1..=32767.
    pub intvl: u32,
    /// `TCP_KEEPCNT`, 1..=127.
    pub cnt: u32,
    /// `TCP_USER_TIMEOUT`, milliseconds; `None` leaves the kernel default.
    pub user_timeout_ms: Option<u32>,
    /// Print one line per treated socket on stderr.
    pub debug: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            idle: DEFAULT_IDLE,
            intvl: DEFAULT_INTVL,
            cnt: DEFAULT_CNT,
            user_timeout_ms: None,
            debug: false,
        }
    }
}

impl Config {
    /// Build a config from a lookup function returning the raw bytes of an
    /// environment variable (or `None` when unset).
    pub fn from_lookup<'a, F>(lookup: F) -> Config
    where
        F: Fn(&str) -> Option<&'a [u8]>,
    {
        let d = Config::default();
        Config {
            idle: lookup(ENV_IDLE)
                .and_then(parse_u32)
                .filter(|v| (1..=MAX_KEEP_SECS).contains(v))
                .unwrap_or(d.idle),
            intvl: lookup(ENV_INTVL)
                .and_then(parse_u32)
                .filter(|v| (1..=MAX_KEEP_SECS).contains(v))
                .unwrap_or(d.intvl),
            cnt: lookup(ENV_CNT)
                .and_then(parse_u32)
                .filter(|v| (1..=MAX_KEEPCNT).contains(v))
                .unwrap_or(d.cnt),
            // TCP_USER_TIMEOUT takes an int; 0 means "kernel default".
            user_timeout_ms: lookup(ENV_USER_TIMEOUT)
                .and_then(parse_u32)
                .filter(|v| *v <= i32::MAX as u32),
            debug: lookup(ENV_DEBUG).is_some_and(|v| trim(v) == b"1"),
        }
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    v.get(start..end).unwrap_or(&[])
}

/// Parse a decimal `u32` (surrounding ASCII whitespace allowed) without
/// allocating; `None` on anything else, including overflow.
pub fn parse_u32(v: &[u8]) -> Option<u32> {
    let v = trim(v);
    if v.is_empty() {
        return None;
    }
    let mut n: u32 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &'static str)]) -> Config {
        Config::from_lookup(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.as_bytes())
        })
    }

    #[test]
    fn defaults_when_unset() {
        assert_eq!(cfg(&[]), Config::default());
        assert_eq!(Config::default().idle, 300);
        assert_eq!(Config::default().intvl, 30);
        assert_eq!(Config::default().cnt, 5);
    }

    #[test]
    fn reads_values() {
        let c = cfg(&[
            (ENV_IDLE, "77"),
            (ENV_INTVL, " 7 "),
            (ENV_CNT, "3"),
            (ENV_USER_TIMEOUT, "20000"),
            (ENV_DEBUG, "1"),
        ]);
        assert_eq!(
            c,
            Config {
                idle: 77,
                intvl: 7,
                cnt: 3,
                user_timeout_ms: Some(20000),
                debug: true
            }
        );
    }

    #[test]
    fn bad_values_fall_back() {
        let c = cfg(&[
            (ENV_IDLE, "abc"),
            (ENV_INTVL, "0"),
            (ENV_CNT, "128"),
            (ENV_USER_TIMEOUT, "-1"),
            (ENV_DEBUG, "yes"),
        ]);
        assert_eq!(c, Config::default());
        let c = cfg(&[(ENV_IDLE, "99999999999"), (ENV_USER_TIMEOUT, "4294967295")]);
        assert_eq!(c.idle, DEFAULT_IDLE);
        assert_eq!(c.user_timeout_ms, None);
    }

    #[test]
    fn parse_u32_edges() {
        assert_eq!(parse_u32(b"0"), Some(0));
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_u32(b""), None);
        assert_eq!(parse_u32(b"  "), None);
        assert_eq!(parse_u32(b"+5"), None);
        assert_eq!(parse_u32(b"5s"), None);
    }
}
