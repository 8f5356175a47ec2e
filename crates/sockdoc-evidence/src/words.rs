//! The words dumps use for states and timers, and the command lines that precede them (`$ ss
//! -tan state established`, `ip netns exec NS netstat -s`), read into hints: which tool ran, on
//! which namespace, with which options and state filter. Lines here are short: no care for speed.

use sockdoc_diag::{State, TimerKind};

/// A state as `ss` names it (`ESTAB`, `TIME-WAIT`, `UNCONN`).
pub(crate) fn ss_state(w: &[u8]) -> Option<State> {
    Some(match w {
        b"ESTAB" => State::Established,
        b"LISTEN" => State::Listen,
        b"TIME-WAIT" => State::TimeWait,
        b"CLOSE-WAIT" => State::CloseWait,
        b"UNCONN" | b"CLOSE" => State::Close,
        b"SYN-SENT" => State::SynSent,
        b"SYN-RECV" => State::SynRecv,
        b"FIN-WAIT-1" => State::FinWait1,
        b"FIN-WAIT-2" => State::FinWait2,
        b"LAST-ACK" => State::LastAck,
        b"CLOSING" => State::Closing,
        _ => return None,
    })
}

/// A state as `netstat` and the incident notes name it (`ESTABLISHED`, `TIME_WAIT`).
pub(crate) fn netstat_state(w: &[u8]) -> Option<State> {
    Some(match w {
        b"ESTABLISHED" => State::Established,
        b"LISTEN" | b"LISTENING" => State::Listen,
        b"TIME_WAIT" => State::TimeWait,
        b"CLOSE_WAIT" => State::CloseWait,
        b"CLOSE" => State::Close,
        b"SYN_SENT" => State::SynSent,
        b"SYN_RECV" => State::SynRecv,
        b"FIN_WAIT1" => State::FinWait1,
        b"FIN_WAIT2" => State::FinWait2,
        b"LAST_ACK" => State::LastAck,
        b"CLOSING" => State::Closing,
        _ => return None,
    })
}

/// A state as an `ss` filter names it (`state established`, `state time-wait`); groups of
/// states (`connected`, `synchronized`, `all`) give `None`.
fn filter_state(w: &str) -> Option<State> {
    Some(match w {
        "established" => State::Established,
        "listening" | "listen" => State::Listen,
        "time-wait" => State::TimeWait,
        "close-wait" => State::CloseWait,
        "syn-sent" => State::SynSent,
        "syn-recv" => State::SynRecv,
        "fin-wait-1" => State::FinWait1,
        "fin-wait-2" => State::FinWait2,
        "last-ack" => State::LastAck,
        "closing" => State::Closing,
        "closed" | "unconnected" => State::Close,
        _ => return None,
    })
}

/// A timer kind as `ss -o`, `netstat -o` name it.
pub(crate) fn timer_kind(w: &[u8]) -> Option<TimerKind> {
    Some(match w {
        b"keepalive" => TimerKind::Keepalive,
        b"on" => TimerKind::On,
        b"timewait" => TimerKind::TimeWait,
        b"persist" | b"probe" => TimerKind::Persist,
        b"off" => TimerKind::Off,
        _ => return None,
    })
}

/// Milliseconds of an `ss -o` time: `59sec`, `1min19sec`, `119min`, `5.123ms` (5 s 123 ms, as ss
/// prints seconds with milliseconds), `312ms`, `1hr51min`, `2d3h`; empty is 0.
pub(crate) fn ss_time_ms(t: &[u8]) -> Option<u64> {
    let mut total: u64 = 0;
    let mut i = 0;
    while i < t.len() {
        let start = i;
        while i < t.len() && t[i].is_ascii_digit() {
            i += 1;
        }
        let whole = crate::addr::dec(&t[start..i])?;
        let mut frac: Option<&[u8]> = None;
        if t.get(i) == Some(&b'.') {
            let f0 = i + 1;
            i = f0;
            while i < t.len() && t[i].is_ascii_digit() {
                i += 1;
            }
            frac = Some(&t[f0..i]);
        }
        let u0 = i;
        while i < t.len() && t[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit: u64 = match &t[u0..i] {
            b"ms" if frac.is_some() => 1000,
            b"ms" => 1,
            b"s" | b"sec" => 1000,
            b"m" | b"min" => 60_000,
            b"h" | b"hr" => 3_600_000,
            b"d" | b"day" | b"days" => 86_400_000,
            _ => return None,
        };
        total += whole * unit;
        if let Some(f) = frac {
            // `5.123ms`: the fraction is in thousandths of the unit.
            let mut v = 0u64;
            let mut scale = unit;
            for &d in f.iter().take(3) {
                scale /= 10;
                v += u64::from(d - b'0') * scale;
            }
            total += v;
        }
    }
    Some(total)
}

/// Which tool a command line ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tool {
    Ss,
    Netstat,
    /// `netstat -s`, `nstat -a`.
    NetstatS,
    /// `cat FILE`, `sysctl -a`, `ulimit -a`: the output says what it is.
    Other,
}

/// What a command line tells about the output after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Command {
    pub tool: Tool,
    /// `ip netns exec NAME ...`.
    pub netns: Option<String>,
    /// The options given, as single letters (`-tanoi` → `tanoi`).
    pub flags: String,
    /// The one state a `state` filter selects (ss prints no State column then).
    pub state: Option<State>,
    /// A `state` or `exclude` filter was given, or the output went through a pipe (not every
    /// socket is listed).
    pub filtered: bool,
    /// The text typed, for [`crate::SourceFile::format`].
    pub text: String,
}

impl Command {
    pub(crate) fn has(&self, flag: char) -> bool {
        self.flags.contains(flag)
    }
}

/// A command line, with or without a shell prompt before it (`$ `, `# `, `root@host:~# `,
/// `[root@host ~]# `), `sudo`, and `ip netns exec NAME`. `None` when the line runs none of the
/// tools whose output is read.
pub(crate) fn command(line: &str) -> Option<Command> {
    let mut rest = line.trim();
    if let Some(i) = prompt_end(rest) {
        rest = rest[i..].trim_start();
    }
    let text = rest;
    // What a pipe does to the output (`| grep ESTAB`) changes no column.
    let rest = rest.split('|').next().unwrap_or("");
    if !rest.is_ascii() {
        // Prose that starts with a tool's name (`netstat 命令不好使`), not a command.
        return None;
    }
    let mut words = rest.split_whitespace().peekable();
    let mut netns = None;
    loop {
        match words.peek().copied() {
            Some("sudo") => {
                words.next();
            }
            Some("ip") => {
                let mut probe = words.clone();
                probe.next();
                if probe.next() == Some("netns") && probe.next() == Some("exec") {
                    netns = probe.next().map(str::to_string);
                    words = probe;
                } else {
                    return None;
                }
            }
            _ => break,
        }
    }
    let tool_word = words.next()?;
    let args: Vec<&str> = words.collect();
    let tool = match tool_word {
        "ss" => Tool::Ss,
        "netstat"
            if args
                .iter()
                .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('s')) =>
        {
            Tool::NetstatS
        }
        "netstat" => Tool::Netstat,
        "nstat" => Tool::NetstatS,
        "cat" | "sysctl" | "ulimit" | "head" | "tail" => Tool::Other,
        _ => return None,
    };
    let mut flags = String::new();
    let mut state = None;
    let mut states = 0;
    // A pipe (`| grep ESTAB`) may have dropped any line.
    let mut filtered = text.contains('|');
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(f) = a.strip_prefix('-').filter(|f| !f.starts_with('-')) {
            flags.push_str(f);
        } else if *a == "state" || *a == "exclude" {
            filtered = true;
            if let Some(s) = it.next() {
                states += 1;
                state = if *a == "state" { filter_state(s) } else { None };
            }
        }
    }
    Some(Command {
        tool,
        netns,
        flags,
        state: if states == 1 { state } else { None },
        filtered,
        text: text.to_string(),
    })
}

/// Where a shell prompt ends: after a leading `$`/`#`, or after `...$ `/`...# ` when what comes
/// before has no space outside brackets (`root@host:~# `, `[root@host ~]# `).
fn prompt_end(line: &str) -> Option<usize> {
    if line.starts_with("$ ") || line.starts_with("# ") {
        return Some(2);
    }
    let mut depth = 0;
    for (i, c) in line.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ' ' if depth == 0 => return None,
            '$' | '#' if line[i + 1..].starts_with(' ') => return Some(i + 2),
            _ => {}
        }
    }
    None
}

/// A line opening a namespace's section: `netns: NAME` (`ip -all netns exec`), `== NAME ==`
/// (any number of `=`; sockdoc's own `== namespace NAME [net:…] ==` gives NAME), `--- NAME ---`.
pub(crate) fn section(line: &str) -> Option<String> {
    let t = line.trim();
    if let Some(name) = t.strip_prefix("netns:") {
        let name = name.trim();
        return (!name.is_empty() && !name.contains(' ')).then(|| name.to_string());
    }
    for mark in ['=', '-'] {
        if t.len() > 4 && t.starts_with(mark) && t.ends_with(mark) {
            let inner = t.trim_matches(mark).trim();
            let inner = inner.strip_prefix("namespace ").unwrap_or(inner);
            let inner = match inner.find(" [net:") {
                Some(i) => &inner[..i],
                None => inner,
            };
            let inner = inner.trim();
            if !inner.is_empty() && t.starts_with(&format!("{mark}{mark}")) {
                return Some(inner.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ss_times() {
        assert_eq!(ss_time_ms(b"59sec"), Some(59_000));
        assert_eq!(ss_time_ms(b"1min19sec"), Some(79_000));
        assert_eq!(ss_time_ms(b"119min"), Some(7_140_000));
        assert_eq!(ss_time_ms(b"5.123ms"), Some(5_123));
        assert_eq!(ss_time_ms(b"312ms"), Some(312));
        assert_eq!(ss_time_ms(b"1hr51min"), Some(6_660_000));
        assert_eq!(ss_time_ms(b""), Some(0));
        assert_eq!(ss_time_ms(b"3parsecs"), None);
    }

    #[test]
    fn command_lines() {
        let c = command("root@db1:~# ip netns exec blue ss -tan state established").unwrap();
        assert_eq!(c.tool, Tool::Ss);
        assert_eq!(c.netns.as_deref(), Some("blue"));
        assert_eq!(c.state, Some(State::Established));
        assert!(c.has('t') && c.has('a'));
        let c = command("ss -aoen|grep 192.168.12.32:21|grep ESTAB").unwrap();
        assert_eq!(c.flags, "aoen");
        assert_eq!(command("$ sudo netstat -s").unwrap().tool, Tool::NetstatS);
        assert_eq!(
            command("[root@h ~]# netstat -antp").unwrap().tool,
            Tool::Netstat
        );
        assert!(command("ssh root@host").is_none());
        assert!(command("常用的三个状态是").is_none());
        assert!(command("netstat 命令不好使,我们使用 ss 命令").is_none());
    }

    #[test]
    fn sections() {
        assert_eq!(section("netns: blue").as_deref(), Some("blue"));
        assert_eq!(section("==== red ====").as_deref(), Some("red"));
        assert_eq!(
            section("== namespace sdlab-1-0 [net:4026532177] ==").as_deref(),
            Some("sdlab-1-0")
        );
        assert_eq!(section("-------"), None);
        assert_eq!(section("== =="), None);
    }
}
