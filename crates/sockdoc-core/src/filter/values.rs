//! Arguments of filter words: state names, ports and service names, addresses, durations, numbers and
//! interfaces. Each parser returns the value or a one-line message; the parser attaches the position.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;

use sockdoc_diag::{Addr, Family, Proto, State, TimerKind};

use super::ast::{HostPattern, Net, StateSet};

/// Every state name and group the `state` word accepts, for error messages.
pub const STATE_NAMES: &str = "established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait, \
     close-wait, last-ack, listening, closing, closed (unconn); groups: all, connected, synchronized, \
     bucket, big";

/// A state name or group: ss's filter names, its display names (`ESTAB`, `UNCONN`), case-insensitively.
pub fn state_set(word: &str) -> Result<StateSet, String> {
    let name = word.to_ascii_lowercase().replace('_', "-");
    let one = |s: State| Ok(StateSet::of(&[s]));
    match name.as_str() {
        "established" | "estab" => one(State::Established),
        "syn-sent" => one(State::SynSent),
        "syn-recv" | "syn-rcvd" => one(State::SynRecv),
        "fin-wait-1" => one(State::FinWait1),
        "fin-wait-2" => one(State::FinWait2),
        "time-wait" => one(State::TimeWait),
        "closed" | "close" | "unconn" => one(State::Close),
        "close-wait" => one(State::CloseWait),
        "last-ack" => one(State::LastAck),
        "listening" | "listen" => one(State::Listen),
        "closing" => one(State::Closing),
        "all" => Ok(StateSet::ALL),
        "connected" => Ok(StateSet::ALL.minus(StateSet::of(&[State::Listen, State::Close]))),
        "synchronized" => {
            Ok(StateSet::ALL.minus(StateSet::of(&[State::Listen, State::Close, State::SynSent])))
        }
        "bucket" => Ok(StateSet::of(&[State::SynRecv, State::TimeWait])),
        "big" => Ok(StateSet::ALL.minus(StateSet::of(&[State::SynRecv, State::TimeWait]))),
        _ => Err(format!("unknown state; expected one of: {STATE_NAMES}")),
    }
}

/// `tcp` or `udp`.
pub fn protocol(word: &str) -> Result<Proto, String> {
    match word.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        _ => Err("unknown protocol; expected tcp or udp".into()),
    }
}

/// A process name or `*` pattern; not empty.
pub fn process_name(word: &str) -> Result<String, String> {
    if word.is_empty() {
        return Err("empty process name".into());
    }
    Ok(word.to_string())
}

/// A unit or container name (`what` says which, for the message); not empty, no slash.
pub fn name(word: &str, what: &str) -> Result<String, String> {
    if word.is_empty() {
        return Err(format!("empty {}", what.trim_start_matches("a ")));
    }
    if word.contains('/') {
        return Err(format!(
            "expected {what}, not a path (for a path use cgroup PATH)"
        ));
    }
    Ok(word.to_string())
}

/// A pod as `namespace/name` or its uid.
pub fn pod(word: &str) -> Result<String, String> {
    match word.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(word.to_string())
        }
        None if !word.is_empty() => Ok(word.to_string()),
        _ => Err("expected a pod as NAMESPACE/NAME or its uid".into()),
    }
}

/// A cgroup path as ss takes it (from the cgroup2 root; the leading `/` optional) and the id of
/// that cgroup, read from the tree now: `/system.slice/nginx.service`.
pub fn cgroup(word: &str) -> Result<(String, u64), String> {
    let rel = word.trim_matches('/');
    if rel
        .split('/')
        .any(|c| c == ".." || c == "." || (c.is_empty() && !rel.is_empty()))
    {
        return Err("expected a cgroup path such as /system.slice/nginx.service".into());
    }
    let path = format!("/{rel}");
    let fs = sockdoc_proc::CgroupFs::find().map_err(|e| e.to_string())?;
    // The path as typed, escaped: the error is one line whatever it holds.
    let shown = crate::echo::quoted(&path);
    match fs.id_of(&path) {
        Ok(id) => Ok((path, id)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "no cgroup {shown} under {} (paths as ss -e shows them after cgroup:)",
            fs.describe()
        )),
        Err(e) => Err(format!("cannot read cgroup {shown}: {e}")),
    }
}

/// A timer kind as `ss -o` prints it.
pub fn timer_kind(word: &str) -> Result<TimerKind, String> {
    Ok(match word.to_ascii_lowercase().as_str() {
        "on" => TimerKind::On,
        "keepalive" => TimerKind::Keepalive,
        "timewait" | "time-wait" => TimerKind::TimeWait,
        "persist" => TimerKind::Persist,
        "off" => TimerKind::Off,
        _ => {
            return Err(
                "unknown timer; expected one of: on, keepalive, timewait, persist, off".into(),
            )
        }
    })
}

/// An unsigned decimal number.
pub fn number<T: TryFrom<u64>>(word: &str, what: &str) -> Result<T, String> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("expected {what} (a decimal number)"));
    }
    word.parse::<u64>()
        .ok()
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("{what} is too large"))
}

/// A port: `21`, `:21`, `ssh`, `:ssh`.
pub fn port(word: &str) -> Result<u16, String> {
    let name = word.strip_prefix(':').unwrap_or(word);
    if name.is_empty() {
        return Err("expected a port number or service name after ':'".into());
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return match name.parse::<u32>() {
            Ok(n) if n <= 65535 => Ok(n as u16),
            _ => Err("port out of range; expected 0-65535".into()),
        };
    }
    service_port(name).ok_or_else(|| {
        "unknown port or service name; expected a number (0-65535) or a name from /etc/services"
            .into()
    })
}

/// Well-known services, for systems without /etc/services.
const BUILTIN_SERVICES: &[(&str, u16)] = &[
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("dns", 53),
    ("http", 80),
    ("pop3", 110),
    ("imap", 143),
    ("https", 443),
    ("imaps", 993),
    ("pop3s", 995),
    ("mysql", 3306),
    ("postgresql", 5432),
    ("postgres", 5432),
    ("redis", 6379),
];

/// Look a service name up in /etc/services (tcp or udp entries, names and aliases), then in the
/// built-in table.
fn service_port(name: &str) -> Option<u16> {
    static SERVICES: OnceLock<HashMap<String, u16>> = OnceLock::new();
    let table = SERVICES.get_or_init(|| {
        std::fs::read_to_string("/etc/services")
            .map(|text| parse_services(&text))
            .unwrap_or_default()
    });
    table.get(name).copied().or_else(|| {
        let lower = name.to_ascii_lowercase();
        BUILTIN_SERVICES
            .iter()
            .find(|(n, _)| *n == lower)
            .map(|&(_, p)| p)
    })
}

/// Parse the services(5) format: `name port/proto [aliases...] [# comment]`; the first entry wins.
fn parse_services(text: &str) -> HashMap<String, u16> {
    let mut table = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let (Some(name), Some(spec)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some((port, proto)) = spec.split_once('/') else {
            continue;
        };
        if proto != "tcp" && proto != "udp" {
            continue;
        }
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        for n in std::iter::once(name).chain(fields) {
            table.entry(n.to_string()).or_insert(port);
        }
    }
    table
}

/// A duration as [`crate::units::parse_duration`] takes it (`500ms`, `5m12s`, `2h11m`, `1.5s`, bare
/// seconds), in milliseconds.
pub fn duration_ms(word: &str) -> Result<u64, String> {
    let d = crate::units::parse_duration(word).ok_or_else(|| {
        "bad duration; write it as sockdoc prints it: 850ms, 30s, 5m12s, 2h11m, 1.5s, or seconds"
            .to_string()
    })?;
    u64::try_from(d.as_millis()).map_err(|_| "duration is too large".into())
}

/// A `src`/`dst` argument: `*`, `:80`, `*:80`, `10.0.0.0/8`, `10.1.2.3:80`, `10.0.0.0/8:80`, `::1`,
/// `2001:db8::/32`, `[::1]:80`, `[2001:db8::/32]:80`, `[2001:db8::]/32`.
pub fn host_pattern(word: &str) -> Result<HostPattern, String> {
    if word == "*" {
        return Ok(HostPattern {
            net: None,
            port: None,
        });
    }
    if let Some(rest) = word.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| "missing ']' after an IPv6 address".to_string())?;
        let (after_prefix, port_text) = match after.split_once(':') {
            Some((before, port)) => (before, Some(port)),
            None => (after, None),
        };
        let net_text = match after_prefix {
            "" => inside.to_string(),
            p if p.starts_with('/') && !inside.contains('/') => format!("{inside}{p}"),
            _ => return Err("unexpected text after ']'; expected :PORT".into()),
        };
        let net = if net_text == "*" {
            None
        } else {
            Some(net(&net_text)?)
        };
        return Ok(HostPattern {
            net,
            port: host_port(port_text)?,
        });
    }
    match word.matches(':').count() {
        0 => Ok(HostPattern {
            net: Some(net(word)?),
            port: None,
        }),
        1 => {
            let (addr, port_text) = word.split_once(':').unwrap_or((word, ""));
            let net = match addr {
                "" | "*" => None,
                a => Some(net(a)?),
            };
            Ok(HostPattern {
                net,
                port: host_port(Some(port_text))?,
            })
        }
        _ => Ok(HostPattern {
            net: Some(net(word)?),
            port: None,
        }),
    }
}

/// The port part of a host pattern; `*` is any port.
fn host_port(text: Option<&str>) -> Result<Option<u16>, String> {
    match text {
        None | Some("*") => Ok(None),
        Some(p) => port(p).map(Some),
    }
}

/// `ADDR` or `ADDR/LEN`.
fn net(text: &str) -> Result<Net, String> {
    let (addr_text, len_text) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let ip: IpAddr = addr_text.parse().map_err(|_| {
        format!(
            "{} is not an IP address; expected e.g. 10.0.0.0/8, 10.1.2.3:80, [::1]:80, :80 or *",
            crate::echo::quoted(addr_text)
        )
    })?;
    let (family, max) = match ip {
        IpAddr::V4(_) => (Family::V4, 32u8),
        IpAddr::V6(_) => (Family::V6, 128u8),
    };
    let prefix_len = match len_text {
        None => max,
        Some(l) => {
            let n: u32 = number(l, "a prefix length").map_err(|_| {
                format!(
                    "bad prefix length {}; expected 0-{max}",
                    crate::echo::quoted(l)
                )
            })?;
            if n > u32::from(max) {
                return Err(format!(
                    "prefix length {n} is too long for an {} address (max {max})",
                    if max == 32 { "IPv4" } else { "IPv6" }
                ));
            }
            n as u8
        }
    };
    Ok(Net {
        family,
        addr: Addr::from_ip(ip),
        prefix_len,
    })
}

/// An interface: an index, or a name resolved now with `if_nametoindex`.
pub fn interface(word: &str) -> Result<u32, String> {
    if word.bytes().all(|b| b.is_ascii_digit()) {
        return number(word, "an interface index");
    }
    let name = std::ffi::CString::new(word).map_err(|_| "bad interface name".to_string())?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err("no such network interface".into());
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_file_format() {
        let t = parse_services(
            "# comment\nssh 22/tcp # SSH\nfoo 1234/udp bar baz\nddp 2/ddp\nbad\nhttp 80/tcp www\nhttp 81/tcp\n",
        );
        assert_eq!(t.get("ssh"), Some(&22));
        assert_eq!(t.get("bar"), Some(&1234));
        assert_eq!(t.get("www"), Some(&80));
        assert_eq!(t.get("http"), Some(&80));
        assert_eq!(t.get("ddp"), None);
    }

    #[test]
    fn builtin_services() {
        for (name, p) in BUILTIN_SERVICES {
            // /etc/services may disagree only on aliases we add (dns, postgres); numbers match IANA.
            assert_eq!(service_port(name), Some(*p), "{name}");
        }
        assert_eq!(port(":ssh"), Ok(22));
        assert_eq!(port("https"), Ok(443));
        assert!(port("no-such-service-xyz").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ms("500ms"), Ok(500));
        assert_eq!(duration_ms("30"), Ok(30_000));
        assert_eq!(duration_ms("30s"), Ok(30_000));
        assert_eq!(duration_ms("5m"), Ok(300_000));
        assert_eq!(duration_ms("2h"), Ok(7_200_000));
        assert_eq!(duration_ms("1d"), Ok(86_400_000));
        assert_eq!(duration_ms("4m37s"), Ok(277_000));
        assert_eq!(duration_ms("1.5s"), Ok(1_500));
        assert!(duration_ms("5x").is_err());
        assert!(duration_ms("m").is_err());
        assert!(duration_ms("").is_err());
        assert!(duration_ms("99999999999999999999d").is_err());
        assert!(duration_ms("999999999999999999d").is_err());
    }

    #[test]
    fn hosts() {
        let v4 = |s: &str| Addr::from_ip(s.parse().expect("test value parses"));
        assert_eq!(
            host_pattern("*"),
            Ok(HostPattern {
                net: None,
                port: None
            })
        );
        assert_eq!(
            host_pattern(":80"),
            Ok(HostPattern {
                net: None,
                port: Some(80)
            })
        );
        assert_eq!(
            host_pattern("*:80"),
            Ok(HostPattern {
                net: None,
                port: Some(80)
            })
        );
        assert_eq!(
            host_pattern(":http"),
            Ok(HostPattern {
                net: None,
                port: Some(80)
            })
        );
        let p = host_pattern("10.0.0.0/8").expect("test value parses");
        assert_eq!(
            p.net,
            Some(Net {
                family: Family::V4,
                addr: v4("10.0.0.0"),
                prefix_len: 8
            })
        );
        let p = host_pattern("10.1.2.3:80").expect("test value parses");
        assert_eq!(p.net.expect("test value parses").prefix_len, 32);
        assert_eq!(p.port, Some(80));
        let p = host_pattern("10.0.0.0/8:80").expect("test value parses");
        assert_eq!(
            (p.net.expect("test value parses").prefix_len, p.port),
            (8, Some(80))
        );
        let p = host_pattern("10.1.2.3:*").expect("test value parses");
        assert_eq!(p.port, None);
        let p = host_pattern("::1").expect("test value parses");
        assert_eq!(
            p.net,
            Some(Net {
                family: Family::V6,
                addr: v4("::1"),
                prefix_len: 128
            })
        );
        let p = host_pattern("[::1]:80").expect("test value parses");
        assert_eq!(
            (p.net.expect("test value parses").family, p.port),
            (Family::V6, Some(80))
        );
        let p = host_pattern("2001:db8::/32").expect("test value parses");
        assert_eq!(p.net.expect("test value parses").prefix_len, 32);
        assert_eq!(
            host_pattern("[2001:db8::]/32"),
            host_pattern("2001:db8::/32")
        );
        assert_eq!(
            host_pattern("[2001:db8::/32]:443")
                .expect("test value parses")
                .port,
            Some(443)
        );
        assert_eq!(
            host_pattern("[*]:22"),
            Ok(HostPattern {
                net: None,
                port: Some(22)
            })
        );
        assert!(host_pattern("10.0.0.0/33").is_err());
        assert!(host_pattern("::/129").is_err());
        assert!(host_pattern("10.0.0.0/x").is_err());
        assert!(host_pattern("example.com").is_err());
        assert!(host_pattern("[::1").is_err());
        assert!(host_pattern("[::1]x").is_err());
        assert!(host_pattern("10.0.0.1:99999").is_err());
        assert!(host_pattern("10.0.0.1:").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(number::<u32>("42", "a pid"), Ok(42));
        assert!(number::<u32>("4294967296", "a pid").is_err());
        assert!(number::<u32>("+1", "a pid").is_err());
        assert!(number::<u32>("-1", "a pid").is_err());
        assert!(number::<u64>("", "a count").is_err());
    }

    #[test]
    fn interfaces() {
        assert_eq!(interface("3"), Ok(3));
        assert!(interface("no-such-if0").is_err());
        assert!(interface("a\0b").is_err());
        if let Ok(lo) = interface("lo") {
            assert!(lo > 0);
        }
    }
}
