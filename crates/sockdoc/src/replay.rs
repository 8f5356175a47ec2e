//! `--from DIR --at TIME` on a directory `sockdoc record` writes: the recorded minute found
//! (`sockdoc_record::replay`), its snapshot handed to the census as any `--from` evidence is, and
//! what was recorded for that minute kept for the doctor to show. Which snapshot and minute were
//! used, and every file skipped, is said on stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rustc_hash::FxHashMap;
use serde::Serialize;
use sockdoc_core::doctor::Severity;
use sockdoc_core::i18n::record::{text, RecordMsg};
use sockdoc_core::i18n::{self, Lang, Msg};
use sockdoc_core::units::duration_ms;
use sockdoc_evidence::{Evidence, Recording};
use sockdoc_record::minute::Minute;
use sockdoc_record::replay::{self, ReplayError};
use sockdoc_record::{when, Loaded};
use sockdoc_runtime::log_line;

use crate::cli::Global;
use crate::error::{Exit, Failure};

/// What the replay used besides the snapshot's census.
pub struct Replayed {
    pub dir: PathBuf,
    pub at_ms: u64,
    pub snapshot: PathBuf,
    pub snapshot_ms: u64,
    /// The minute record at or before the time.
    pub minute: Option<Minute>,
    /// The first-seen times the snapshot carries (a recorder's since it has written them):
    /// ages at that minute, also of connections closed since.
    pub first_seen: Option<Loaded>,
}

/// The first-seen times `evidence` carries, by cookie; `None` when it carries none.
fn first_seen_of(evidence: &Evidence) -> Option<Loaded> {
    let mut map = FxHashMap::default();
    let mut any = false;
    for ns in &evidence.namespaces {
        let Some(times) = &ns.first_seen else {
            continue;
        };
        any = true;
        let known = ns.sockets.iter().zip(times).filter(|(_, &t)| t != 0);
        map.extend(known.map(|(s, &t)| (s.cookie, t)));
    }
    any.then(|| Loaded::from_map(map))
}

static REPLAYED: OnceLock<Replayed> = OnceLock::new();

/// The replay of this run, if `--from` named a recorder's directory.
pub fn replayed() -> Option<&'static Replayed> {
    REPLAYED.get()
}

/// The recorded minute of `dir` at `--at` (now without it), as evidence to census.
pub fn open(g: &Global, dir: &Path) -> Result<Recording, Failure> {
    let lang = g.lang();
    let now = when::now_ms();
    let at = match &g.at {
        Some(t) => when::parse_at(t, now)
            .ok_or_else(|| Failure::usage(text(lang, RecordMsg::BadAt, &[t])))?,
        None => now,
    };
    let shown = dir.display().to_string();
    let skipped = |list: &[(PathBuf, String)]| {
        for (p, why) in list {
            let line = text(lang, RecordMsg::Skipped, &[&p.display().to_string(), why]);
            log_line!("{}", text(lang, RecordMsg::Warning, &[&line]));
        }
    };
    let r = match replay::find(dir, at) {
        Ok(r) => r,
        Err(ReplayError::Io { dir, source }) => {
            return Err(Failure::new(
                Exit::NoInput,
                format!("{}: {source}", dir.display()),
            ))
        }
        Err(ReplayError::NoSnapshot {
            oldest_ms,
            skipped: s,
        }) => {
            skipped(&s);
            let oldest = oldest_ms.map_or("-".to_string(), when::local_second);
            return Err(Failure::new(
                Exit::NoInput,
                text(
                    lang,
                    RecordMsg::NoSnapshot,
                    &[&shown, &when::local_second(at), &oldest],
                ),
            ));
        }
    };
    skipped(&r.skipped);
    let at_text = when::local_second(at);
    let line = match &r.minute {
        Some(m) => text(
            lang,
            RecordMsg::Replaying,
            &[
                &shown,
                &at_text,
                &r.snapshot.display().to_string(),
                &when::local_second(r.snapshot_ms),
                &when::local_second(m.taken_ms),
            ],
        ),
        None => text(lang, RecordMsg::NoMinute, &[&shown, &at_text]),
    };
    log_line!("{line}");
    let first_seen = first_seen_of(&r.evidence);
    let recording = Recording::new(r.evidence, r.snapshot.clone());
    let _ = REPLAYED.set(Replayed {
        dir: r.dir,
        at_ms: r.at_ms,
        snapshot: r.snapshot,
        snapshot_ms: r.snapshot_ms,
        minute: r.minute,
        first_seen,
    });
    Ok(recording)
}

/// The `recorded` block of `doctor --json` under a replay: the minute as the recorder wrote it.
#[derive(Serialize)]
pub struct JRecorded {
    pub dir: String,
    pub at: String,
    pub snapshot: String,
    pub snapshot_taken: String,
    pub minute: Option<&'static Minute>,
}

/// The `recorded` block, when this run replays a recorder's directory.
pub fn json() -> Option<JRecorded> {
    replayed().map(|r| JRecorded {
        dir: r.dir.display().to_string(),
        at: when::rfc3339(r.at_ms),
        snapshot: r.snapshot.display().to_string(),
        snapshot_taken: when::rfc3339(r.snapshot_ms),
        minute: r.minute.as_ref(),
    })
}

fn severity(s: &str) -> Severity {
    match s {
        "critical" => Severity::Critical,
        "warning" => Severity::Warning,
        _ => Severity::Info,
    }
}

/// The worst recorded finding that counts towards the exit code.
pub fn worst() -> Option<Severity> {
    let m = replayed()?.minute.as_ref()?;
    m.namespaces
        .iter()
        .flat_map(|n| n.findings.iter())
        .map(|f| severity(&f.severity))
        .filter(|s| *s > Severity::Info)
        .max()
}

/// The findings recorded for the replayed minute, after the doctor's report on its snapshot.
pub fn write_text(out: &mut dyn Write, lang: Lang) -> std::io::Result<()> {
    let Some(m) = replayed().and_then(|r| r.minute.as_ref()) else {
        return Ok(());
    };
    let taken = when::local_second(m.taken_ms);
    writeln!(out)?;
    writeln!(out, "{}", text(lang, RecordMsg::RecordedTitle, &[&taken]))?;
    if let Some(read) = m.tcp_info_ms.filter(|&t| t < m.taken_ms) {
        let earlier = duration_ms(m.taken_ms - read);
        let line = text(
            lang,
            RecordMsg::IdleAsOf,
            &[&when::local_second(read), &earlier],
        );
        writeln!(out, "  {line}")?;
    }
    for n in &m.namespaces {
        if m.namespaces.len() > 1 {
            writeln!(out, "{}", i18n::text(lang, Msg::Namespace, &[&n.label]))?;
        }
        if n.findings.is_empty() {
            writeln!(out, "  {}", text(lang, RecordMsg::RecordedNone, &[&taken]))?;
        }
        for f in &n.findings {
            let w = f.words(lang);
            let sev = i18n::severity(lang, severity(&f.severity));
            writeln!(out, "  {sev:<8} {}  [{}]", w.title, f.id)?;
            for line in &w.fix {
                writeln!(out, "      {line}")?;
            }
        }
    }
    Ok(())
}
