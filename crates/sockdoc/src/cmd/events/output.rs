//! One connection end as `events` writes it: a text line (English or Chinese, words from the catalog)
//! or a JSON object; which one is chosen once ([`Format`]).

use std::io::Write;
use std::time::Duration;

use serde::Serialize;
use sockdoc_core::i18n::{text, Lang, Msg};
use sockdoc_core::lifetimes::{Ended, Lifetime};
use sockdoc_diag::{Socket, State};

use crate::cli::Global;
use crate::json::{JSocket, SCHEMA};
use crate::treat::now_rfc3339;

#[derive(Serialize)]
pub(super) struct JEvent<'a> {
    schema: u32,
    command: &'static str,
    time: String,
    /// The state the last scan saw (null when no scan saw the socket).
    last_state: Option<&'static str>,
    lifetime: JLifetime,
    /// The owner the scans saw (with -p).
    process: Option<JOwner<'a>>,
    socket: JSocket<'a>,
}

#[derive(Serialize)]
pub(super) struct JLifetime {
    /// between | at_least | under | unknown
    kind: &'static str,
    min_s: Option<f64>,
    max_s: Option<f64>,
}

#[derive(Serialize)]
pub(super) struct JOwner<'a> {
    pid: u32,
    name: Option<&'a str>,
}

impl JLifetime {
    pub(super) fn new(l: Lifetime) -> JLifetime {
        let s = |d: Duration| Some((d.as_secs_f64() * 1000.0).round() / 1000.0);
        match l {
            Lifetime::Between { min, max } => JLifetime {
                kind: "between",
                min_s: s(min),
                max_s: s(max),
            },
            Lifetime::AtLeast(d) => JLifetime {
                kind: "at_least",
                min_s: s(d),
                max_s: None,
            },
            Lifetime::Under(d) => JLifetime {
                kind: "under",
                min_s: None,
                max_s: s(d),
            },
            Lifetime::Unknown => JLifetime {
                kind: "unknown",
                min_s: None,
                max_s: None,
            },
        }
    }
}

/// How ends are written, chosen once from `--json` and the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    Json,
    Text(Lang),
}

impl Format {
    pub(super) fn of(g: &Global) -> Format {
        if g.json {
            Format::Json
        } else {
            Format::Text(g.lang())
        }
    }
}

pub(super) fn lifetime_text(lang: Lang, l: Lifetime) -> String {
    // Tenths of a second while they matter: a bound rounded down to whole seconds would be wrong.
    let f = |d: Duration| {
        if d < Duration::from_secs(10) {
            format!("{:.1}s", d.as_secs_f64())
        } else {
            sockdoc_core::units::duration_ms(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        }
    };
    match l {
        Lifetime::Between { min, max } => text(lang, Msg::LivedBetween, &[&f(min), &f(max)]),
        Lifetime::AtLeast(d) => text(lang, Msg::LivedAtLeast, &[&f(d)]),
        Lifetime::Under(d) => text(lang, Msg::LivedUnder, &[&f(d)]),
        Lifetime::Unknown => String::new(),
    }
}

/// One end, as `format` says.
pub(super) fn write_event(
    out: &mut dyn Write,
    format: Format,
    s: &Socket,
    ended: &Ended,
    name: Option<&str>,
) -> std::io::Result<()> {
    match format {
        Format::Json => write_json(out, s, ended, name),
        Format::Text(lang) => write_text(out, lang, s, ended, name),
    }
}

fn write_json(
    out: &mut dyn Write,
    s: &Socket,
    ended: &Ended,
    name: Option<&str>,
) -> std::io::Result<()> {
    let ev = JEvent {
        schema: SCHEMA,
        command: "events",
        time: now_rfc3339(),
        last_state: ended.last_state.map(State::key),
        lifetime: JLifetime::new(ended.lifetime),
        process: ended.pid.map(|pid| JOwner { pid, name }),
        socket: JSocket::new(s, None),
    };
    serde_json::to_writer(&mut *out, &ev)?;
    writeln!(out)
}

/// `TIME tcp from STATE LOCAL -> REMOTE  lived A-B  NAME/PID  acked .. B, received .. B, retransmitted ..`
fn write_text(
    out: &mut dyn Write,
    lang: Lang,
    s: &Socket,
    ended: &Ended,
    name: Option<&str>,
) -> std::io::Result<()> {
    let bytes = s.tcp.map_or(String::new(), |t| {
        let n = [
            { t.bytes_acked }.to_string(),
            { t.bytes_received }.to_string(),
            t.total_retrans.to_string(),
        ];
        format!("  {}", text(lang, Msg::EventBytes, &[&n[0], &n[1], &n[2]]))
    });
    let from = match ended.last_state {
        Some(st) => text(lang, Msg::EventFrom, &[st.ss_name()]),
        None => text(lang, Msg::EventEnded, &[]),
    };
    let who = match (ended.pid, name) {
        (Some(pid), Some(n)) => format!("  {n}/{pid}"),
        (Some(pid), None) => format!("  {}", text(lang, Msg::EventPid, &[&pid.to_string()])),
        _ => String::new(),
    };
    let life = lifetime_text(lang, ended.lifetime);
    writeln!(
        out,
        "{} {} {:<16} {} -> {}{}{}{}",
        now_rfc3339(),
        s.proto.name(),
        from,
        s.local_addr(),
        s.remote_addr(),
        if life.is_empty() {
            String::new()
        } else {
            format!("  {life}")
        },
        who,
        bytes
    )
}
