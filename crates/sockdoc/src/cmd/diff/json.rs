//! The JSON document of `sockdoc diff` (docs/json-schema.md): both sides with their `source`,
//! each namespace pair's connections, tables and findings' fates.

use serde::Serialize;
use serde_json::{Map, Value as JValue};
use sockdoc_core::diff::FindingChange;

use super::{DiffReport, Loaded, NsDiff};
use crate::json::{write_pretty, JSource, SCHEMA};

/// The document of `r`.
pub(super) fn write(r: &DiffReport<'_>, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let doc = JDiffDoc {
        schema: SCHEMA,
        command: "diff",
        changed: r.changed(),
        before: JSide::new(r.before),
        after: JSide::new(r.after),
        namespaces: r.pairs.iter().map(json_pair).collect(),
    };
    write_pretty(out, &doc)
}

#[derive(Serialize)]
struct JDiffDoc<'a> {
    schema: u32,
    command: &'static str,
    changed: bool,
    before: JSide<'a>,
    after: JSide<'a>,
    namespaces: Vec<JNsDiff<'a>>,
}

#[derive(Serialize)]
struct JSide<'a> {
    what: &'a str,
    /// The evidence read (null for `now`).
    source: Option<JSource<'a>>,
}

impl JSide<'_> {
    fn new(l: &Loaded) -> JSide<'_> {
        JSide {
            what: &l.what,
            source: l.recording.as_ref().map(|r| JSource::new(&r.evidence)),
        }
    }
}

#[derive(Serialize)]
struct JNsDiff<'a> {
    before: Option<&'a str>,
    after: Option<&'a str>,
    connections: JConnections,
    state_changes: Vec<JStateChange>,
    keepalive: Option<JKeepalive>,
    tables: Map<String, JValue>,
    findings: Vec<JFindingChange<'a>>,
}

#[derive(Serialize)]
struct JConnections {
    before: u64,
    after: u64,
    new: u64,
    gone: u64,
    persisting: u64,
    matched_by: &'static str,
}

#[derive(Serialize)]
struct JStateChange {
    from: &'static str,
    to: &'static str,
    count: u64,
}

#[derive(Serialize)]
struct JKeepalive {
    gained: u64,
    lost: u64,
}

#[derive(Serialize)]
struct JFindingChange<'a> {
    id: &'static str,
    change: &'static str,
    severity_before: Option<&'static str>,
    severity_after: Option<&'static str>,
    /// The title after (before, for a finding only found before).
    title: &'a str,
    /// The title before, when it was another.
    title_before: Option<&'a str>,
    numbers_before: Option<Map<String, JValue>>,
    numbers_after: Option<Map<String, JValue>>,
}

fn json_pair(p: &NsDiff) -> JNsDiff<'_> {
    let d = &p.diff;
    let tables = d
        .tables
        .iter()
        .map(|(t, rows)| {
            let rows: Vec<JValue> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "key": r.key, "before": r.before, "after": r.after, "new": r.new,
                        "gone": r.gone, "moved_in": r.moved_in, "moved_out": r.moved_out,
                        "persisting": r.persisting(),
                    })
                })
                .collect();
            (t.name().to_string(), JValue::from(rows))
        })
        .collect();
    JNsDiff {
        before: p.before.as_deref(),
        after: p.after.as_deref(),
        connections: JConnections {
            before: d.before,
            after: d.after,
            new: d.new,
            gone: d.gone,
            persisting: d.persisting,
            matched_by: if d.by_cookie { "cookie" } else { "addresses" },
        },
        state_changes: d
            .state_changes
            .iter()
            .map(|((from, to), n)| JStateChange {
                from: from.key(),
                to: to.key(),
                count: *n,
            })
            .collect(),
        keepalive: d
            .keepalive
            .map(|(gained, lost)| JKeepalive { gained, lost }),
        tables,
        findings: d.findings.iter().map(json_finding).collect(),
    }
}

fn json_finding(c: &FindingChange) -> JFindingChange<'_> {
    let numbers = |f: &sockdoc_core::doctor::Finding| {
        Some(
            f.numbers()
                .into_iter()
                .map(|(k, v)| (k.to_string(), JValue::from(v)))
                .collect(),
        )
    };
    let (b, a) = match c {
        FindingChange::Appeared { after } => (None, Some(after)),
        FindingChange::Cleared { before } => (Some(before), None),
        FindingChange::Changed { before, after } => (Some(before), Some(after)),
        FindingChange::Same { after } => (Some(after), Some(after)),
        FindingChange::Unjudged {
            found,
            before_blind: true,
        } => (None, Some(found)),
        FindingChange::Unjudged { found, .. } => (Some(found), None),
    };
    JFindingChange {
        id: c.id(),
        change: c.kind(),
        severity_before: b.map(|f| f.severity.name()),
        severity_after: a.map(|f| f.severity.name()),
        title: a.or(b).map_or("", |f| f.title.as_str()),
        title_before: match (b, a) {
            (Some(b), Some(a)) if b.title != a.title => Some(&b.title),
            _ => None,
        },
        numbers_before: b.and_then(numbers),
        numbers_after: a.and_then(numbers),
    }
}
