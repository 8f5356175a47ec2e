//! One `[[rule]]` validated: its name, its selector (a tree of the structured fields and the filter,
//! each read alone) and its policies. Every error names the line, the rule and the key.

use std::time::Duration;

use toml::Spanned;

use super::{
    duration, ConfigError, KeepaliveSpec, Lines, RawDuration, RawRule, Rule, MAX_KEEP_COUNT,
    MAX_KEEP_SECS,
};
use crate::filter::Filter;

/// A selector built from a list of names.
type Builder = fn(&[String]) -> Result<Option<Filter>, String>;

/// Validate rule number `index` (0-based) of the file.
pub(super) fn rule(
    lines: &Lines,
    index: usize,
    r: &Spanned<RawRule>,
    global_dry_run: bool,
) -> Result<Rule, ConfigError> {
    let raw = r.get_ref();
    let name = name(lines, index, raw)?;
    let at = At {
        lines,
        who: format!("rule \"{name}\""),
    };
    let selector = at.selector(r)?;
    let selector_text = selector.to_string();
    let p = at.policies(raw)?;
    if p.idle_timeout.is_none()
        && p.max_connections.is_none()
        && p.close_wait_max_age.is_none()
        && p.keepalive.is_none()
    {
        return Err(lines.err(
            r.span(),
            format!("{} has no policy: set idle_timeout, max_connections, close_wait_max_age or [rule.keepalive]", at.who),
        ));
    }
    Ok(Rule {
        name,
        selector_text,
        selector,
        idle_timeout: p.idle_timeout,
        max_connections: p.max_connections,
        evict_idle_min: p.evict_idle_min,
        close_wait_max_age: p.close_wait_max_age,
        keepalive: p.keepalive,
        dry_run: global_dry_run || raw.dry_run.unwrap_or(false),
    })
}

/// The rule's name: as written (trimmed, never blank), or `rule-N`.
fn name(lines: &Lines, index: usize, raw: &RawRule) -> Result<String, ConfigError> {
    match &raw.name {
        Some(n) if n.get_ref().trim().is_empty() => Err(lines.err(
            n.span(),
            "name = \"\": give the rule a name (or leave name out)",
        )),
        Some(n) => Ok(n.get_ref().trim().to_string()),
        None => Ok(format!("rule-{}", index + 1)),
    }
}

/// A rule's policies, each checked alone.
struct Policies {
    idle_timeout: Option<Duration>,
    close_wait_max_age: Option<Duration>,
    max_connections: Option<usize>,
    evict_idle_min: Duration,
    keepalive: Option<KeepaliveSpec>,
}

/// Where an error is: the file's lines and the rule's words (`rule "ftp"`).
struct At<'a> {
    lines: &'a Lines<'a>,
    who: String,
}

impl At<'_> {
    /// The selector: a tree of the parts, each read alone (values as values, the filter as a whole
    /// filter), so an error names its key and no part can reach into another.
    fn selector(&self, r: &Spanned<RawRule>) -> Result<Filter, ConfigError> {
        let raw = r.get_ref();
        let parts: Vec<Filter> = [
            self.local_port(raw)?,
            self.process(raw)?,
            self.services(raw)?,
            self.peer(raw)?,
            self.state(raw)?,
            self.filter(raw)?,
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            return Err(self.lines.err(
                r.span(),
                format!(
                    "{} selects every socket: give local_port, process, unit, container, peer, state or filter",
                    self.who
                ),
            ));
        }
        Ok(Filter::all_of(parts))
    }

    fn local_port(&self, raw: &RawRule) -> Result<Option<Filter>, ConfigError> {
        let Some(p) = &raw.local_port else {
            return Ok(None);
        };
        let ports = p.get_ref().to_vec();
        match Filter::local_port_any(&ports) {
            Some(f) if !ports.contains(&0) => Ok(Some(f)),
            _ => Err(self.lines.err(
                p.span(),
                format!(
                    "{}: local_port: give a port from 1 to 65535, or a list of them",
                    self.who
                ),
            )),
        }
    }

    fn process(&self, raw: &RawRule) -> Result<Option<Filter>, ConfigError> {
        let Some(p) = &raw.process else {
            return Ok(None);
        };
        Filter::process_named(p.get_ref().trim())
            .map(Some)
            .map_err(|_| {
                self.lines.err(
                    p.span(),
                    format!("{}: process = {:?}: give a process name (as in /proc/PID/comm; * is a wildcard)", self.who, p.get_ref()),
                )
            })
    }

    /// `unit` and `container` (each one name or a list): the sockets of those services.
    fn services(&self, raw: &RawRule) -> Result<Option<Filter>, ConfigError> {
        let mut parts = Vec::new();
        for (key, v, build, example) in [
            (
                "unit",
                &raw.unit,
                Filter::unit_any as Builder,
                "\"nginx.service\"",
            ),
            (
                "container",
                &raw.container,
                Filter::container_any,
                "\"web-1\"",
            ),
        ] {
            let Some(v) = v else { continue };
            let who = &self.who;
            let f = build(&v.get_ref().to_vec())
                .map_err(|e| self.lines.err(v.span(), format!("{who}: {key} {e}")))?
                .ok_or_else(|| {
                    self.lines.err(
                        v.span(),
                        format!("{who}: {key}: give a name (e.g. {example}), or a list of them"),
                    )
                })?;
            parts.push(f);
        }
        Ok((!parts.is_empty()).then(|| Filter::all_of(parts)))
    }

    fn peer(&self, raw: &RawRule) -> Result<Option<Filter>, ConfigError> {
        let Some(p) = &raw.peer else {
            return Ok(None);
        };
        let who = &self.who;
        Filter::peer_any(&p.get_ref().to_vec())
            .map_err(|e| self.lines.err(p.span(), format!("{who}: peer {e} (one address or prefix per entry, e.g. \"192.168.0.0/16\"; list several as [\"a\", \"b\"])")))?
            .ok_or_else(|| self.lines.err(
                p.span(),
                format!("{who}: peer: give an address or prefix (e.g. \"192.168.0.0/16\"), or a list of them"),
            ))
            .map(Some)
    }

    fn state(&self, raw: &RawRule) -> Result<Option<Filter>, ConfigError> {
        let Some(s) = &raw.state else {
            return Ok(None);
        };
        let who = &self.who;
        Filter::state_any(&s.get_ref().to_vec())
            .map_err(|e| self.lines.err(s.span(), format!("{who}: state {e}")))?
            .ok_or_else(|| {
                self.lines.err(
                    s.span(),
                    format!("{who}: state: give a state (e.g. \"established\") or a list of them"),
                )
            })
            .map(Some)
    }

    /// The `filter`, parsed alone: a stray ')' is an error here, not a way out of the rule; blank or
    /// empty is refused.
    fn filter(&self, raw: &RawRule) -> Result<Option<Filter>, ConfigError> {
        let Some(f) = &raw.filter else {
            return Ok(None);
        };
        let blank = || {
            self.lines.err(
                f.span(),
                format!("{}: filter = {:?} selects every socket: write a filter (e.g. \"sport = :21\") or leave filter out", self.who, f.get_ref()),
            )
        };
        if f.get_ref().trim().is_empty() {
            return Err(blank());
        }
        let parsed = Filter::parse(std::slice::from_ref(f.get_ref())).map_err(|e| {
            self.lines
                .err(f.span(), format!("{}: filter: {e}", self.who))
        })?;
        if parsed.is_empty() {
            return Err(blank());
        }
        Ok(Some(parsed))
    }

    fn policies(&self, raw: &RawRule) -> Result<Policies, ConfigError> {
        let positive = |key: &str, v: &Option<Spanned<RawDuration>>| {
            v.as_ref().map(|v| self.positive(key, v)).transpose()
        };
        let idle_timeout = positive("idle_timeout", &raw.idle_timeout)?;
        let close_wait_max_age = positive("close_wait_max_age", &raw.close_wait_max_age)?;
        let max_connections = self.max_connections(raw)?;
        Ok(Policies {
            idle_timeout,
            close_wait_max_age,
            max_connections,
            evict_idle_min: self.evict_idle_min(raw, max_connections.is_some())?,
            keepalive: self.keepalive(raw)?,
        })
    }

    /// A duration that must be more than zero.
    fn positive(&self, key: &str, v: &Spanned<RawDuration>) -> Result<Duration, ConfigError> {
        let d = duration(self.lines, &format!("{}: {key}", self.who), v)?;
        if d.is_zero() {
            return Err(self
                .lines
                .err(v.span(), format!("{}: {key} must be more than 0", self.who)));
        }
        Ok(d)
    }

    fn max_connections(&self, raw: &RawRule) -> Result<Option<usize>, ConfigError> {
        let Some(v) = &raw.max_connections else {
            return Ok(None);
        };
        usize::try_from(*v.get_ref()).map(Some).map_err(|_| {
            self.lines.err(
                v.span(),
                format!(
                    "{}: max_connections = {}: must be 0 or more",
                    self.who,
                    v.get_ref()
                ),
            )
        })
    }

    /// `evict_idle_min`: only with `max_connections`; zero when left out.
    fn evict_idle_min(&self, raw: &RawRule, capped: bool) -> Result<Duration, ConfigError> {
        let Some(v) = &raw.evict_idle_min else {
            return Ok(Duration::ZERO);
        };
        if !capped {
            return Err(self.lines.err(
                v.span(),
                format!(
                    "{}: evict_idle_min only applies with max_connections",
                    self.who
                ),
            ));
        }
        duration(self.lines, &format!("{}: evict_idle_min", self.who), v)
    }

    /// `[rule.keepalive]`: whole seconds and a probe count within the kernel's limits.
    fn keepalive(&self, raw: &RawRule) -> Result<Option<KeepaliveSpec>, ConfigError> {
        let Some(k) = &raw.keepalive else {
            return Ok(None);
        };
        let k = k.get_ref();
        let idle = self.keepalive_secs("idle", &k.idle)?;
        let intvl = self.keepalive_secs("intvl", &k.intvl)?;
        let count = match u32::try_from(*k.count.get_ref()) {
            Ok(n) if (1..=MAX_KEEP_COUNT).contains(&n) => n,
            _ => {
                return Err(self.lines.err(
                    k.count.span(),
                    format!(
                        "{}: keepalive.count = {}: must be from 1 to {MAX_KEEP_COUNT}",
                        self.who,
                        k.count.get_ref()
                    ),
                ))
            }
        };
        Ok(Some(KeepaliveSpec { idle, intvl, count }))
    }

    fn keepalive_secs(&self, key: &str, v: &Spanned<RawDuration>) -> Result<u32, ConfigError> {
        let d = duration(self.lines, &format!("{}: keepalive.{key}", self.who), v)?;
        let s = d.as_secs();
        if d.subsec_millis() != 0 || s == 0 || s > u64::from(MAX_KEEP_SECS) {
            return Err(self.lines.err(
                v.span(),
                format!(
                    "{}: keepalive.{key} must be whole seconds from 1 to {MAX_KEEP_SECS}",
                    self.who
                ),
            ));
        }
        Ok(s as u32)
    }
}
