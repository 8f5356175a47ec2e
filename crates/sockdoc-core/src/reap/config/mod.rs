//! The reaper's configuration file (TOML) and its validation. Every error is one line naming the line
//! of the file and the key, so an operator can fix it without guessing:
//!
//! ```text
//! line 9: rule "ftp": idle_timeout = "5 minuets": bad duration (write it as 30s, 5m, 2h11m, 1.5s or "5 minutes")
//! ```
//!
//! A rule selects sockets with structured fields (`local_port`, `process`, `unit`, `container`,
//! `peer`, `state`) and/or a
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

pub mod file;
mod rule;

/// Limits of the kernel's keepalive options (`TCP_KEEPIDLE`, `TCP_KEEPINTVL`: 32767 s;
/// `TCP_KEEPCNT`: 127).
const MAX_KEEP_SECS: u32 = 32_767;
const MAX_KEEP_COUNT: u32 = 127;

/// Defaults.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_KILLS: usize = 1000;
pub const DEFAULT_METRICS: &str = "127.0.0.1:9718";

/// The reaper's configuration (`sockdoc reap --config FILE`), validated: its scan interval, kill rate
/// limit, never-kill list, metrics address, action log and rules. It configures `sockdoc reap` only;
/// nothing else in sockdoc reads it.
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
    unit: Option<Spanned<OneOrMany<String>>>,
    container: Option<Spanned<OneOrMany<String>>>,
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
        Ok(Config {
            interval: interval(&lines, &raw)?,
            dry_run,
            max_kills_per_interval: max_kills(&lines, &raw)?,
            never_kill: never_kill(&lines, &raw)?,
            metrics: metrics(&lines, &raw)?,
            log: log(&lines, &raw)?,
            rules: rules(&lines, &raw, dry_run)?,
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

    /// True when a scan needs the sockets' services to decide (a rule or never-kill entry by
    /// `unit`, `container` or `pod`): the cgroup tree is read, no /proc walk.
    pub fn needs_services(&self) -> bool {
        self.rules.iter().any(|r| r.selector.needs_services())
            || self.never_kill.iter().any(|(_, f)| f.needs_services())
    }
}

fn duration(lines: &Lines, key: &str, v: &Spanned<RawDuration>) -> Result<Duration, ConfigError> {
    let bad = |shown: String| {
        lines.err(
            v.span(),
            format!(
                "{key} = {shown}: bad duration (write it as 30s, 5m, 2h11m, 1.5s or \"5 minutes\")"
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

/// `interval`: at least 100ms.
fn interval(lines: &Lines, raw: &RawConfig) -> Result<Duration, ConfigError> {
    let Some(v) = &raw.interval else {
        return Ok(DEFAULT_INTERVAL);
    };
    let d = duration(lines, "interval", v)?;
    if d < Duration::from_millis(100) {
        return Err(lines.err(
            v.span(),
            "interval must be at least 100ms (every scan reads the whole socket table)",
        ));
    }
    Ok(d)
}

/// `max_kills_per_interval`: at least 1.
fn max_kills(lines: &Lines, raw: &RawConfig) -> Result<usize, ConfigError> {
    let Some(v) = &raw.max_kills_per_interval else {
        return Ok(DEFAULT_MAX_KILLS);
    };
    match usize::try_from(*v.get_ref()) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(lines.err(
            v.span(),
            format!(
                "max_kills_per_interval = {}: must be at least 1 (to kill nothing, set dry_run = true)",
                v.get_ref()
            ),
        )),
    }
}

/// `never_kill`: each entry a filter of its own, never empty (it would protect every socket).
fn never_kill(lines: &Lines, raw: &RawConfig) -> Result<Vec<(String, Filter)>, ConfigError> {
    let mut never_kill = Vec::new();
    for f in &raw.never_kill {
        let filter = Filter::parse(std::slice::from_ref(f.get_ref()))
            .map_err(|e| lines.err(f.span(), format!("never_kill entry {:?}: {e}", f.get_ref())))?;
        if filter.is_empty() {
            return Err(lines.err(
                f.span(),
                "never_kill entry \"\": an empty filter would protect every socket; remove it",
            ));
        }
        never_kill.push((f.get_ref().clone(), filter));
    }
    Ok(never_kill)
}

/// `metrics`: IP:PORT, the default when left out, `None` for "off" or blank.
fn metrics(lines: &Lines, raw: &RawConfig) -> Result<Option<String>, ConfigError> {
    match &raw.metrics {
        None => Ok(Some(DEFAULT_METRICS.to_string())),
        Some(m) if m.get_ref().trim().is_empty() || m.get_ref() == "off" => Ok(None),
        Some(m) => {
            let text = m.get_ref().trim();
            if text.parse::<std::net::SocketAddr>().is_err() {
                return Err(lines.err(
                    m.span(),
                    format!("metrics = {text:?}: expected IP:PORT (e.g. \"127.0.0.1:9718\"), or \"off\""),
                ));
            }
            Ok(Some(text.to_string()))
        }
    }
}

/// `log`: a file path, never blank; `None` = standard output.
fn log(lines: &Lines, raw: &RawConfig) -> Result<Option<String>, ConfigError> {
    match &raw.log {
        Some(l) if l.get_ref().trim().is_empty() => Err(lines.err(
            l.span(),
            "log = \"\": give a file path, or leave log out to write to standard output",
        )),
        Some(l) => Ok(Some(l.get_ref().clone())),
        None => Ok(None),
    }
}

/// The `[[rule]]`s, validated one by one; names unique; at least one.
fn rules(lines: &Lines, raw: &RawConfig, dry_run: bool) -> Result<Vec<Rule>, ConfigError> {
    let mut rules: Vec<Rule> = Vec::new();
    for (i, r) in raw.rule.iter().enumerate() {
        let rule = rule::rule(lines, i, r, dry_run)?;
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
            message: "no [[rule]]: add at least one rule (see sockdoc reap --help for an example)"
                .into(),
        });
    }
    Ok(rules)
}
