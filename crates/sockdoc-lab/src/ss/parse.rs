//! Parser for the one-line-per-socket output of `ss -tuanoeipHO` (iproute2 6.1).
//!
//! Column order: `Netid State Recv-Q Send-Q Local Peer`, then `users:((...))` (`-p`),
//! `timer:(...)` (`-o`), `uid:N ino:N sk:HEX cgroup:... <->` (`-e`, uid only when non-zero), then
//! the `-i` TCP_INFO words (`ts sack cubic wscale:7,7 rto:204 rtt:0.1/0.05 ...`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};

use super::model::{ParseError, SsEndpoint, SsSocket, SsUser};
use super::timer::parse_timer;
use crate::state::{Proto, SockState};

/// Parses every non-empty line of ss output.
pub fn parse_output(text: &str) -> Result<Vec<SsSocket>, ParseError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_line)
        .collect()
}

/// Parses one socket line that has a State column.
pub fn parse_line(line: &str) -> Result<SsSocket, ParseError> {
    parse_line_in_state(line, None)
}

/// Parses one socket line. ss leaves out the State column when its filter selects exactly one
/// state (`state established`); such lines get `implied` as their state.
pub fn parse_line_in_state(line: &str, implied: Option<SockState>) -> Result<SsSocket, ParseError> {
    let err = |reason: &str| ParseError {
        reason: reason.to_string(),
        line: line.to_string(),
    };
    let mut tokens = tokenize(line);
    let has_state_column = tokens.get(1).is_some_and(|t| t.parse::<u64>().is_err());
    let state = if has_state_column {
        SockState::from_ss_name(tokens.remove(1)).ok_or_else(|| err("unknown State"))?
    } else {
        implied.ok_or_else(|| err("no State column and no single state in the filter"))?
    };
    if tokens.len() < 5 {
        return Err(err("too few columns"));
    }
    let proto = Proto::from_name(tokens[0]).ok_or_else(|| err("unknown Netid"))?;
    let recv_q = tokens[1].parse().map_err(|_| err("bad Recv-Q"))?;
    let send_q = tokens[2].parse().map_err(|_| err("bad Send-Q"))?;
    let local = parse_endpoint(tokens[3]).ok_or_else(|| err("bad local address"))?;
    let peer = parse_endpoint(tokens[4]).ok_or_else(|| err("bad peer address"))?;

    let mut sock = SsSocket {
        proto,
        state,
        recv_q,
        send_q,
        local,
        peer,
        users: Vec::new(),
        timer: None,
        uid: 0,
        ino: 0,
        cookie: None,
        shutdown: None,
        details: BTreeMap::new(),
        flags: Vec::new(),
        line: line.to_string(),
    };

    let rest = &tokens[5..];
    let mut i = 0;
    while i < rest.len() {
        let tok = rest[i];
        i += 1;
        if let Some(inner) = strip_group(tok, "users:") {
            sock.users = parse_users(inner).ok_or_else(|| err("bad users:(...)"))?;
        } else if let Some(inner) = strip_group(tok, "timer:") {
            sock.timer = Some(parse_timer(inner).ok_or_else(|| err("bad timer:(...)"))?);
        } else if matches!(tok, "<->" | "-->" | "<--" | "---") {
            sock.shutdown = Some(tok.to_string());
        } else if let Some((key, value)) = tok.split_once(':') {
            match key {
                "uid" => sock.uid = value.parse().map_err(|_| err("bad uid"))?,
                "ino" => sock.ino = value.parse().map_err(|_| err("bad ino"))?,
                "sk" => {
                    let cookie = u64::from_str_radix(value, 16).map_err(|_| err("bad sk"))?;
                    sock.cookie = Some(cookie);
                }
                _ => {
                    sock.details.insert(key.to_string(), value.to_string());
                }
            }
        } else if let Some(value) = rest.get(i).filter(|v| is_bare_value(v)) {
            // `send 10bps`, `pacing_rate 20bps`, `delivery_rate 5bps`.
            sock.details.insert(tok.to_string(), value.to_string());
            i += 1;
        } else {
            sock.flags.push(tok.to_string());
        }
    }
    Ok(sock)
}

/// The one state an ss filter selects, if its `state` words name exactly one (`state
/// established`, `state listening`); ss prints no State column then.
pub fn implied_state(filter: &[&str]) -> Option<SockState> {
    let text = filter.join(" ");
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut named = Vec::new();
    for pair in words.windows(2) {
        if pair[0] == "state" {
            let state = SockState::from_ss_filter_name(pair[1]);
            // A group (`connected`, `synchronized`, ...) selects several states.
            named.push(state?);
        }
    }
    named.dedup();
    match named.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// A value token that follows a bare key: starts with a digit and has no `:`.
fn is_bare_value(tok: &str) -> bool {
    tok.starts_with(|c: char| c.is_ascii_digit()) && !tok.contains(':')
}

/// `users:(...)` → the text between the outer parentheses.
fn strip_group<'a>(tok: &'a str, key: &str) -> Option<&'a str> {
    tok.strip_prefix(key)?.strip_prefix('(')?.strip_suffix(')')
}

/// Splits on whitespace, but keeps parenthesised groups and quoted strings (process names may
/// contain spaces and parentheses) inside one token.
fn tokenize(line: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let mut start: Option<usize> = None;
    let mut depth = 0usize;
    let mut quoted = false;
    let bytes = line.as_bytes();
    for (i, c) in line.char_indices() {
        if quoted {
            // A name ends at a quote followed by `,` or `)`; other quotes belong to the name.
            if c == '"' && matches!(bytes.get(i + 1), Some(b',') | Some(b')')) {
                quoted = false;
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                start.get_or_insert(i);
            }
            '(' => {
                depth += 1;
                start.get_or_insert(i);
            }
            ')' => depth = depth.saturating_sub(1),
            c if c.is_whitespace() && depth == 0 => {
                if let Some(s) = start.take() {
                    tokens.push(&line[s..i]);
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(s) = start {
        tokens.push(&line[s..]);
    }
    tokens
}

/// Parses `127.0.0.1:80`, `[::1]:80`, `*:*`, `0.0.0.0:*`, `[::1]%lo:53`, `127.0.0.1%lo:53`.
pub fn parse_endpoint(tok: &str) -> Option<SsEndpoint> {
    let (addr, port) = tok.rsplit_once(':')?;
    let port = if port == "*" { 0 } else { port.parse().ok()? };
    let (addr, iface) = match addr.strip_prefix('[') {
        Some(v6) => {
            let (ip, after) = v6.split_once(']')?;
            let iface = match after {
                "" => None,
                s => Some(s.strip_prefix('%')?.to_string()),
            };
            (ip, iface)
        }
        None => match addr.split_once('%') {
            Some((ip, iface)) => (ip, Some(iface.to_string())),
            None => (addr, None),
        },
    };
    let ip = if addr == "*" {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        addr.parse().ok()?
    };
    Some(SsEndpoint { ip, port, iface })
}

/// Parses the inside of `users:(...)`: `("nginx",pid=1,fd=6),("nginx",pid=2,fd=6)`.
fn parse_users(inner: &str) -> Option<Vec<SsUser>> {
    let mut users = Vec::new();
    let mut rest = inner;
    while !rest.is_empty() {
        rest = rest.strip_prefix("(\"")?;
        let end = rest.find("\",pid=")?;
        let name = rest[..end].to_string();
        rest = &rest[end + "\",pid=".len()..];
        let (pid, after) = rest.split_once(",fd=")?;
        let close = after.find(')')?;
        let fd = after[..close].parse().ok()?;
        users.push(SsUser {
            name,
            pid: pid.parse().ok()?,
            fd,
        });
        rest = &after[close + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    Some(users)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Family;

    const ESTAB: &str = "tcp ESTAB  88064  155171  127.0.0.1:8080  127.0.0.1:43708 \
        users:((\"socat\",pid=3900,fd=6)) timer:(on,004ms,0) ino:7728 sk:2 \
        cgroup:unreachable:1 <-> ts sack bbr wscale:10,10 rto:204 rtt:0.163/0.104 ato:40 \
        mss:65483 bytes_acked:145986842 bytes_received:146279229 send 51422233129bps \
        pacing_rate 24696444240bps unacked:3 retrans:0/7 app_limited   ";

    #[test]
    fn established_line() {
        let s = parse_line(ESTAB).expect("parse");
        assert_eq!(s.proto, Proto::Tcp);
        assert_eq!(s.state, SockState::Established);
        assert_eq!((s.recv_q, s.send_q), (88064, 155171));
        assert_eq!(s.local.to_string(), "127.0.0.1:8080");
        assert_eq!(s.peer.port, 43708);
        assert_eq!(
            s.users,
            vec![SsUser {
                name: "socat".into(),
                pid: 3900,
                fd: 6
            }]
        );
        let t = s.timer.as_ref().expect("timer");
        assert_eq!((t.kind.as_str(), t.remaining_ms, t.count), ("on", 4, 0));
        assert_eq!((s.uid, s.ino, s.cookie), (0, 7728, Some(2)));
        assert_eq!(s.shutdown.as_deref(), Some("<->"));
        assert_eq!(s.detail("cgroup"), Some("unreachable:1"));
        assert_eq!(s.detail("send"), Some("51422233129bps"));
        assert_eq!(s.detail_u64("bytes_acked"), Some(145986842));
        assert_eq!(s.detail_u64("unacked"), Some(3));
        assert_eq!(s.rtt_us(), Some(163));
        assert_eq!(s.retrans(), Some((0, 7)));
        assert!(s.has_tcp_info());
        assert!(s.flags.contains(&"app_limited".to_string()));
        assert!(s.flags.contains(&"bbr".to_string()));
    }

    #[test]
    fn ipv6_with_interface_and_wildcards() {
        let line = "udp UNCONN 0 0 [::1]%lo:43681 [::]:* users:((\"python3\",pid=4719,fd=16)) \
                    uid:65534 ino:8844 sk:5 cgroup:unreachable:1 v6only:1 <->";
        let s = parse_line(line).expect("parse");
        assert_eq!(s.proto, Proto::Udp);
        assert_eq!(s.state, SockState::Unconn);
        assert_eq!(s.local.ip.to_string(), "::1");
        assert_eq!(s.local.iface.as_deref(), Some("lo"));
        assert_eq!(s.local.port, 43681);
        assert_eq!((s.peer.ip.to_string().as_str(), s.peer.port), ("::", 0));
        assert_eq!(s.uid, 65534);
        assert_eq!(s.family(), Family::V6);
        assert_eq!(s.timer, None);

        let star = parse_endpoint("*:*").expect("star");
        assert_eq!((star.ip.to_string().as_str(), star.port), ("::", 0));
        let v4dev = parse_endpoint("127.0.0.1%lo:53").expect("v4 dev");
        assert_eq!(v4dev.iface.as_deref(), Some("lo"));
        let mapped = parse_endpoint("[::ffff:127.0.0.1]:80").expect("mapped");
        assert_eq!(mapped.ip.to_string(), "::ffff:127.0.0.1");
        assert_eq!(parse_endpoint("[::1:80"), None);
    }

    #[test]
    fn time_wait_and_syn_recv() {
        let tw = parse_line(
            "tcp TIME-WAIT 0 0 127.0.0.1:55746 127.0.0.1:40355 timer:(timewait,58sec,0) ino:0 sk:c",
        )
        .expect("tw");
        assert_eq!(tw.state, SockState::TimeWait);
        assert_eq!(tw.timer.as_ref().map(|t| t.remaining_ms), Some(58_000));
        assert_eq!((tw.ino, tw.cookie, tw.users.len()), (0, Some(12), 0));
        assert!(!tw.has_tcp_info());

        let sr =
            parse_line("tcp SYN-RECV 0 0 [::1]:5555 [::1]:45632 timer:(on,1.504ms,1) ino:0 sk:b")
                .expect("sr");
        assert_eq!(sr.state, SockState::SynRecv);
        assert_eq!(
            sr.timer.as_ref().map(|t| (t.remaining_ms, t.count)),
            Some((1504, 1))
        );
    }

    #[test]
    fn process_names_with_spaces_and_parentheses() {
        let line = "tcp LISTEN 0 5 0.0.0.0:80 0.0.0.0:* \
                    users:((\"my (odd) name\",pid=1,fd=3),(\"b\\\"q\",pid=22,fd=44)) ino:1 sk:1";
        let s = parse_line(line).expect("parse");
        assert_eq!(s.users.len(), 2);
        assert_eq!(s.users[0].name, "my (odd) name");
        assert_eq!(s.users[1].name, "b\\\"q");
        assert_eq!((s.users[1].pid, s.users[1].fd), (22, 44));
    }

    #[test]
    fn single_state_filters_drop_the_state_column() {
        let line = "tcp 0 0 127.0.0.1:48800 127.0.0.1:38491 timer:(timewait,20sec,0) ino:0 sk:1";
        assert!(parse_line(line).is_err());
        let s = parse_line_in_state(line, Some(SockState::TimeWait)).expect("parse");
        assert_eq!(
            (s.state, s.local.port, s.recv_q),
            (SockState::TimeWait, 48800, 0)
        );
        assert_eq!(s.timer.map(|t| t.remaining_ms), Some(20_000));

        assert_eq!(
            implied_state(&["state", "time-wait"]),
            Some(SockState::TimeWait)
        );
        assert_eq!(
            implied_state(&["state established", "( sport = :80 )"]),
            Some(SockState::Established)
        );
        assert_eq!(
            implied_state(&["state", "listening"]),
            Some(SockState::Listen)
        );
        assert_eq!(
            implied_state(&["state", "listen", "state", "established"]),
            None
        );
        assert_eq!(implied_state(&["state", "connected"]), None);
        assert_eq!(implied_state(&["dst", "127.0.0.0/8"]), None);
    }

    #[test]
    fn errors_name_the_problem() {
        let e = parse_line("tcp BOGUS 0 0 1.2.3.4:1 1.2.3.4:2").expect_err("bad state");
        assert!(e.to_string().contains("unknown State"));
        assert!(parse_line("tcp ESTAB 0").is_err());
        assert!(parse_line("tcp ESTAB x 0 1.2.3.4:1 1.2.3.4:2").is_err());
        assert!(parse_line("tcp ESTAB 0 0 1.2.3.4:1 1.2.3.4:2 timer:(on,xx,1)").is_err());
        assert_eq!(parse_output("\n  \n").expect("empty"), vec![]);
    }
}
