//! The reaper's configuration file (TOML) and its validation. Every error is one line naming the line
//! of the file and the key, so an operator can fix it without guessing:
//!
//! ```text
//! line 9: rule "ftp": idle_timeout = "5 minutes": bad duration (use a number with ms, s, m, h or d, e.g. 30s, 5m)
//! ```
//!
//! A rule selects sockets with structured fields (`local_port`, `process`, `peer`, `state`) and/or a
//! `filter` in the `sockdoc list` language; all of them must match. Fields are read as values (a `peer`
//! is one address or prefix, never filter words) and `filter` is parsed alone; the selector is their
//! tree, never joined text, so no field reaches outside its rule. An empty or blank `filter`, like no
//! selector at all, is refused: a rule selects something explicitly. Its policies are `idle_timeout`,
//! `max_connections` (with `evict_idle_min`), `close_wait_max_age` and `keepalive`.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::filter::Filter;
use crate::units::parse_duration;

/// Limits of the kernel's keepalive options (`TCP_KEEPIDLE`, `TCP_KEEPINTVL`: 32767 s;
/// `TCP_KEEPCNT`: 127).
const MAX_KEEP_SECS: u32 = 32_767;
const MAX_KEEP_COUNT: u32 = 127;

/// Defaults.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_KILLS: usize = 1000;
pub const DEFAULT_METRICS: &str = "127.0.0.1:9718";

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Time between two scans.
    pub interval: Duration,
    /// Every rule only reports ("would kill").
    pub dry_run: bool,
    /// Kill rate limit: at most this many kills per scan; the rest wait for the next scan.
    pub max_kills_per_interval: usize,
    /// Sockets matching any of these filters are never killed (text as written, parsed filter).
    pub never_kill: Vec<(String, Filter)>,
    /// Where `/metrics` listens; `None` = off.
    pub metrics: Option<String>,
    /// Action log file; `None` = standard output.
    pub log: Option<String>,
    /// Rules, in file order: a socket belongs to the first rule whose selector matches it.
    pub rules: Vec<Rule>,
}

/// One rule: a selector and its policies.
#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    /// The selector's canonical text (for logs and `--check`); `selector` is what decides.
    pub selector_text: String,
    pub selector: Filter,
    /// Close ESTABLISHED connections idle (nothing sent, received or acknowledged) this long.
    pub idle_timeout: Option<Duration>,
    /// Keep at most this many connections (ESTABLISHED and CLOSE-WAIT); close the idlest first.
    pub max_connections: Option<usize>,
    /// Over the cap, close only connections idle at least this long (redsocks'
    /// `connpres_idle_timeout`); zero = any.
    pub evict_idle_min: Duration,
    /// Close CLOSE-WAIT sockets older than this (their process never closed them).
    pub close_wait_max_age: Option<Duration>,
    /// Turn keepalive on (through the owner's fd) for connections and listeners without it.
    pub keepalive: Option<KeepaliveSpec>,
    /// This rule only reports (also true when the whole configuration is a dry run).
    pub dry_run: bool,
}

/// Keepalive settings a rule enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeepaliveSpec {
    /// Seconds of silence before the first probe (`TCP_KEEPIDLE`).
    pub idle: u32,
    /// Seconds between probes (`TCP_KEEPINTVL`).
    pub intvl: u32,
    /// Unanswered probes before the kernel drops the connection (`TCP_KEEPCNT`).
    pub count: u32,
}

/// Why a configuration was refused: the line (1-based) when known, and what is wrong with which key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    interval: Option<Spanned<RawDuration>>,
    dry_run: Option<bool>,
    max_kills_per_interval: Option<Spanned<i64>>,
    #[serde(default)]
    never_kill: Vec<Spanned<String>>,
    metrics: Option<Spanned<String>>,
    log: Option<Spanned<String>>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<Spanned<String>>,
    filter: Option<Spanned<String>>,
    local_port: Option<Spanned<OneOrMany<u16>>>,
    process: Option<Spanned<String>>,
    peer: Option<Spanned<OneOrMany<String>>>,
    state: Option<Spanned<OneOrMany<String>>>,
    idle_timeout: Option<Spanned<RawDuration>>,
    max_connections: Option<Spanned<i64>>,
    evict_idle_min: Option<Spanned<RawDuration>>,
    close_wait_max_age: Option<Spanned<RawDuration>>,
    keepalive: Option<Spanned<RawKeepalive>>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeepalive {
    idle: Spanned<RawDuration>,
    intvl: Spanned<RawDuration>,
    count: Spanned<i64>,
}

/// A duration: seconds as a number, or a string with a unit (`500ms`, `30s`, `5m`, `2h`, `1d`).
#[derive(Deserialize, Clone, Debug)]
#[serde(untagged)]
enum RawDuration {
    Secs(i64),
    Text(String),
}

#[derive(Deserialize, Clone, Debug)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    fn to_vec(&self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// Line numbers from byte offsets.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn of(&self, span: Range<usize>) -> usize {
        let end = span.start.min(self.0.len());
        self.0.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn err(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            line: Some(self.of(span)),
            message: message.into(),
        }
    }
}

impl Config {
    /// Parse and validate a configuration file's text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let lines = Lines(text);
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().replace('\n', " ");
            match e.span() {
                Some(span) => lines.err(span, message),
                None => ConfigError {
                    line: None,
                    message,
                },
            }
        })?;
        let dry_run = raw.dry_run.unwrap_or(false);
        let interval = match &raw.interval {
            None => DEFAULT_INTERVAL,
            Some(v) => {
                let d = duration(&lines, "interval", v)?;
                if d < Duration::from_millis(100) {
                    return Err(lines.err(
                        v.span(),
                        "interval must be at least 100ms (every scan reads the whole socket table)",
                    ));
                }
                d
            }
        };
        let max_kills_per_interval = match &raw.max_kills_per_interval {
            None => DEFAULT_MAX_KILLS,
            Some(v) => match usize::try_from(*v.get_ref()) {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(lines.err(
                        v.span(),
                        format!(
                            "max_kills_per_interval = {}: must be at least 1 (to kill nothing, set dry_run = true)",
                            v.get_ref()
                        ),
                    ))
                }
            },
        };
        let mut never_kill = Vec::new();
        for f in &raw.never_kill {
            let filter = Filter::parse(std::slice::from_ref(f.get_ref())).map_err(|e| {
                lines.err(f.span(), format!("never_kill entry {:?}: {e}", f.get_ref()))
            })?;
            if filter.is_empty() {
                return Err(lines.err(
                    f.span(),
                    "never_kill entry \"\": an empty filter would protect every socket; remove it",
                ));
            }
            never_kill.push((f.get_ref().clone(), filter));
        }
        let metrics = match &raw.metrics {
            None => Some(DEFAULT_METRICS.to_string()),
            Some(m) if m.get_ref().trim().is_empty() || m.get_ref() == "off" => None,
            Some(m) => {
                let text = m.get_ref().trim();
                if text.parse::<std::net::SocketAddr>().is_err() {
                    return Err(lines.err(
                        m.span(),
                        format!("metrics = {text:?}: expected IP:PORT (e.g. \"127.0.0.1:9718\"), or \"off\""),
                    ));
                }
                Some(text.to_string())
            }
        };
        let log =
            match &raw.log {
                Some(l) if l.get_ref().trim().is_empty() => return Err(lines.err(
                    l.span(),
                    "log = \"\": give a file path, or leave log out to write to standard output",
                )),
                Some(l) => Some(l.get_ref().clone()),
                None => None,
            };
        let mut rules: Vec<Rule> = Vec::new();
        for (i, r) in raw.rule.iter().enumerate() {
            let rule = rule(&lines, i, r, dry_run)?;
            if rules.iter().any(|o| o.name == rule.name) {
                return Err(lines.err(
                    r.span(),
                    format!(
                        "rule \"{}\": another rule has this name; names must be unique",
                        rule.name
                    ),
                ));
            }
            rules.push(rule);
        }
        if rules.is_empty() {
            return Err(ConfigError {
                line: None,
                message:
                    "no [[rule]]: add at least one rule (see sockdoc reap --help for an example)"
                        .into(),
            });
        }
        Ok(Config {
            interval,
            dry_run,
            max_kills_per_interval,
            never_kill,
            metrics,
            log,
            rules,
        })
    }

    /// One filter matching every socket some rule selects (for the census): the rules' selectors as
    /// subtrees of one `or`.
    pub fn census_selector(&self) -> Filter {
        Filter::any_of(self.rules.iter().map(|r| r.selector.clone()).collect())
    }

    /// True when a scan needs process owners to decide (a `proc`/`pid` selector or never-kill entry).
    pub fn needs_processes(&self) -> bool {
        self.rules.iter().any(|r| r.selector.needs_processes())
            || self.never_kill.iter().any(|(_, f)| f.needs_processes())
    }
}

fn duration(lines: &Lines, key: &str, v: &Spanned<RawDuration>) -> Result<Duration, ConfigError> {
    let bad = |shown: String| {
        lines.err(
            v.span(),
            format!(
                "{key} = {shown}: bad duration (use a number with ms, s, m, h or d, e.g. 30s, 5m)"
            ),
        )
    };
    match v.get_ref() {
        RawDuration::Secs(n) => u64::try_from(*n)
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .map(Duration::from_millis)
            .ok_or_else(|| bad(n.to_string())),
        RawDuration::Text(t) => parse_duration(t).ok_or_else(|| bad(format!("{t:?}"))),
    }
}

fn rule(
    lines: &Lines,
    index: usize,
    r: &Spanned<RawRule>,
    global_dry_run: bool,
) -> Result<Rule, ConfigError> {
    let raw = r.get_ref();
    let name = match &raw.name {
        Some(n) if n.get_ref().trim().is_empty() => {
            return Err(lines.err(
                n.span(),
                "name = \"\": give the rule a name (or leave name out)",
            ))
        }
        Some(n) => n.get_ref().trim().to_string(),
        None => format!("rule-{}", index + 1),
    };
    let who = format!("rule \"{name}\"");
    // The selector: a tree of the parts, each read alone (values as values, the filter as a whole
    // filter), so an error names its key and no part can reach into another.
    let mut parts: Vec<Filter> = Vec::new();
    if let Some(p) = &raw.local_port {
        let ports = p.get_ref().to_vec();
        match Filter::local_port_any(&ports) {
            Some(f) if !ports.contains(&0) => parts.push(f),
            _ => {
                return Err(lines.err(
                    p.span(),
                    format!("{who}: local_port: give a port from 1 to 65535, or a list of them"),
                ))
            }
        }
    }
    if let Some(p) = &raw.process {
        let name = p.get_ref().trim();
        let f = Filter::process_named(name).map_err(|_| {
            lines.err(
                p.span(),
                format!("{who}: process = {:?}: give a process name (as in /proc/PID/comm; * is a wildcard)", p.get_ref()),
            )
        })?;
        parts.push(f);
    }
    if let Some(p) = &raw.peer {
        let peers = p.get_ref().to_vec();
        let f = Filter::peer_any(&peers)
            .map_err(|e| lines.err(p.span(), format!("{who}: peer {e} (one address or prefix per entry, e.g. \"192.168.0.0/16\"; list several as [\"a\", \"b\"])")))?
            .ok_or_else(|| lines.err(
                p.span(),
                format!("{who}: peer: give an address or prefix (e.g. \"192.168.0.0/16\"), or a list of them"),
            ))?;
        parts.push(f);
    }
    if let Some(s) = &raw.state {
        let states = s.get_ref().to_vec();
        let f = Filter::state_any(&states)
            .map_err(|e| lines.err(s.span(), format!("{who}: state {e}")))?
            .ok_or_else(|| {
                lines.err(
                    s.span(),
                    format!("{who}: state: give a state (e.g. \"established\") or a list of them"),
                )
            })?;
        parts.push(f);
    }
    if let Some(f) = &raw.filter {
        let blank = || {
            lines.err(
                f.span(),
                format!("{who}: filter = {:?} selects every socket: write a filter (e.g. \"sport = :21\") or leave filter out", f.get_ref()),
            )
        };
        if f.get_ref().trim().is_empty() {
            return Err(blank());
        }
        // Parsed alone: a stray ')' is an error here, not a way out of the rule.
        let parsed = Filter::parse(std::slice::from_ref(f.get_ref()))
            .map_err(|e| lines.err(f.span(), format!("{who}: filter: {e}")))?;
        if parsed.is_empty() {
            return Err(blank());
        }
        parts.push(parsed);
    }
    if parts.is_empty() {
        return Err(lines.err(
            r.span(),
            format!("{who} selects every socket: give local_port, process, peer, state or filter"),
        ));
    }
    let selector = Filter::all_of(parts);
    let selector_text = selector.to_string();
    let positive = |key: &str, v: &Spanned<RawDuration>| -> Result<Duration, ConfigError> {
        let d = duration(lines, &format!("{who}: {key}"), v)?;
        if d.is_zero() {
            return Err(lines.err(v.span(), format!("{who}: {key} must be more than 0")));
        }
        Ok(d)
    };
    let idle_timeout = raw
        .idle_timeout
        .as_ref()
        .map(|v| positive("idle_timeout", v))
        .transpose()?;
    let close_wait_max_age = raw
        .close_wait_max_age
        .as_ref()
        .map(|v| positive("close_wait_max_age", v))
        .transpose()?;
    let max_connections = match &raw.max_connections {
        None => None,
        Some(v) => match usize::try_from(*v.get_ref()) {
            Ok(n) => Some(n),
            Err(_) => {
                return Err(lines.err(
                    v.span(),
                    format!(
                        "{who}: max_connections = {}: must be 0 or more",
                        v.get_ref()
                    ),
                ))
            }
        },
    };
    let evict_idle_min = match &raw.evict_idle_min {
        None => Duration::ZERO,
        Some(v) => {
            if max_connections.is_none() {
                return Err(lines.err(
                    v.span(),
                    format!("{who}: evict_idle_min only applies with max_connections"),
                ));
            }
            duration(lines, &format!("{who}: evict_idle_min"), v)?
        }
    };
    let keepalive = match &raw.keepalive {
        None => None,
        Some(k) => {
            let k = k.get_ref();
            let secs = |key: &str, v: &Spanned<RawDuration>| -> Result<u32, ConfigError> {
                let d = duration(lines, &format!("{who}: keepalive.{key}"), v)?;
                let s = d.as_secs();
                if d.subsec_millis() != 0 || s == 0 || s > u64::from(MAX_KEEP_SECS) {
                    return Err(lines.err(
                        v.span(),
                        format!("{who}: keepalive.{key} must be whole seconds from 1 to {MAX_KEEP_SECS}"),
                    ));
                }
                Ok(s as u32)
            };
            let idle = secs("idle", &k.idle)?;
            let intvl = secs("intvl", &k.intvl)?;
            let count = match u32::try_from(*k.count.get_ref()) {
                Ok(n) if (1..=MAX_KEEP_COUNT).contains(&n) => n,
                _ => {
                    return Err(lines.err(
                        k.count.span(),
                        format!(
                            "{who}: keepalive.count = {}: must be from 1 to {MAX_KEEP_COUNT}",
                            k.count.get_ref()
                        ),
                    ))
                }
            };
            Some(KeepaliveSpec { idle, intvl, count })
        }
    };
    if idle_timeout.is_none()
        && max_connections.is_none()
        && close_wait_max_age.is_none()
        && keepalive.is_none()
    {
        return Err(lines.err(
            r.span(),
            format!("{who} has no policy: set idle_timeout, max_connections, close_wait_max_age or [rule.keepalive]"),
        ));
    }
    Ok(Rule {
        name,
        selector_text,
        selector,
        idle_timeout,
        max_connections,
        evict_idle_min,
        close_wait_max_age,
        keepalive,
        dry_run: global_dry_run || raw.dry_run.unwrap_or(false),
    })
}
