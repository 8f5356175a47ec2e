//! Reading keepalive changes back from an audit log (sockdoc's own, or `sockdoc reap`'s action log):
//! per socket (by cookie), the values before sockdoc's earliest change and what its latest change
//! left. Malformed and oversized lines are counted, never fatal.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::Value;
use sockdoc_act::keepalive::Keepalive;
use sockdoc_core::i18n::{Lang, Msg};

use crate::error::{Exit, Failure};

pub(super) const MAX_LINE: usize = 1 << 20;

/// One socket to put back, from the audit log.
pub(super) struct Recorded {
    pub(super) cookie: u64,
    pub(super) inode: u32,
    pub(super) pid: u32,
    pub(super) fd: u32,
    pub(super) before: Keepalive,
    /// What sockdoc left on it (null in records of old versions: then taken as the change asked for).
    pub(super) after: Keepalive,
    /// The `socket` object as recorded.
    pub(super) socket: Value,
}

/// What the audit log holds for a restore.
pub(super) struct FromAudit {
    /// Per socket, in the order first seen: the values before its earliest change not undone since,
    /// and what its latest change left (and the owner then).
    pub(super) records: Vec<Recorded>,
    /// Keepalive outcome records read (set or not).
    pub(super) read: usize,
    /// Lines that are not JSON, or keepalive records without the values needed.
    pub(super) malformed: usize,
}

/// Options as recorded: `cnt` (or `count`, as reap writes it); `user_timeout_ms` may be absent
/// (records that did not read it).
pub(super) fn keepalive_of(v: &Value) -> Option<(Keepalive, bool)> {
    let n = |k: &str| v.get(k)?.as_u64().and_then(|x| u32::try_from(x).ok());
    let uto = n("user_timeout_ms");
    Some((
        Keepalive {
            enabled: v.get("keepalive")?.as_bool()?,
            idle: n("idle")?,
            intvl: n("intvl")?,
            cnt: n("cnt").or_else(|| n("count"))?,
            user_timeout_ms: uto.unwrap_or(0),
        },
        uto.is_some(),
    ))
}

/// One keepalive "set" record (of `sockdoc keepalive`, or of `sockdoc reap`'s action log), or None
/// when it lacks what a restore needs.
pub(super) fn recorded(v: &Value) -> Option<Recorded> {
    let u32_of = |x: &Value| x.as_u64().and_then(|n| u32::try_from(n).ok());
    let (before, before_uto) = keepalive_of(&v["before"])?;
    let mut after = match keepalive_of(&v["after"]) {
        Some((a, _)) => a,
        // An intent: the options it was about to write, on top of those before.
        None if v["change"].is_object() => {
            let c = &v["change"];
            let or = |k: &str, was: u32| c.get(k).and_then(u32_of).unwrap_or(was);
            Keepalive {
                enabled: c["keepalive"].as_bool().unwrap_or(before.enabled),
                idle: or("idle", before.idle),
                intvl: or("intvl", before.intvl),
                cnt: or("cnt", before.cnt),
                user_timeout_ms: or("user_timeout_ms", before.user_timeout_ms),
            }
        }
        // reap of older versions: the timings it set, keepalive on.
        None => {
            let s = &v["settings"];
            Keepalive {
                enabled: true,
                idle: u32_of(&s["idle"])?,
                intvl: u32_of(&s["intvl"])?,
                cnt: u32_of(&s["count"]).or_else(|| u32_of(&s["cnt"]))?,
                user_timeout_ms: before.user_timeout_ms,
            }
        }
    };
    if !before_uto {
        // Never read, so never put back.
        after.user_timeout_ms = before.user_timeout_ms;
    }
    Some(Recorded {
        cookie: v["socket"]["cookie"].as_u64()?,
        inode: u32_of(&v["socket"]["inode"])?,
        pid: u32_of(&v["pid"])?,
        fd: u32_of(&v["fd"])?,
        before,
        after,
        socket: v["socket"].clone(),
    })
}

/// How to take back what an intent added: the record it created, or what it overwrote.
enum Undo {
    Created(u64, usize),
    Merged(usize, Keepalive, u32, u32, Value),
}

impl Undo {
    fn apply(self, records: &mut [Option<Recorded>], by_cookie: &mut HashMap<u64, usize>) {
        match self {
            Undo::Created(cookie, i) => {
                records[i] = None;
                by_cookie.remove(&cookie);
            }
            Undo::Merged(i, after, pid, fd, socket) => {
                if let Some(r) = records[i].as_mut() {
                    (r.after, r.pid, r.fd, r.socket) = (after, pid, fd, socket);
                }
            }
        }
    }
}

/// Add one change: the earliest change not undone since holds the values from before sockdoc; the
/// latest one what sockdoc left.
fn merge(
    records: &mut Vec<Option<Recorded>>,
    by_cookie: &mut HashMap<u64, usize>,
    rec: Recorded,
) -> Undo {
    match by_cookie.get(&rec.cookie) {
        Some(&i) => match records[i].as_mut() {
            Some(first) => {
                let undo = Undo::Merged(i, first.after, first.pid, first.fd, first.socket.clone());
                first.after = rec.after;
                first.pid = rec.pid;
                first.fd = rec.fd;
                first.socket = rec.socket;
                undo
            }
            None => Undo::Created(rec.cookie, i),
        },
        None => {
            let (cookie, i) = (rec.cookie, records.len());
            by_cookie.insert(cookie, i);
            records.push(Some(rec));
            Undo::Created(cookie, i)
        }
    }
}

/// Read the audit log: keepalive changes per socket, minus those a restore already undid.
pub(super) fn read_audit(lang: Lang, path: &Path) -> Result<FromAudit, Failure> {
    let unreadable = |e| Failure::io(lang, Msg::FileReadAuditLog, path, e);
    let file = File::open(path).map_err(|e| {
        let mut f = unreadable(e);
        if f.exit == Exit::Io {
            f.exit = Exit::NoInput;
        }
        f
    })?;
    let mut r = BufReader::new(file);
    let mut by_cookie: HashMap<u64, usize> = HashMap::new();
    let mut records: Vec<Option<Recorded>> = Vec::new();
    let mut intents: HashMap<(String, u64), Undo> = HashMap::new();
    let (mut read, mut malformed) = (0, 0);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = Read::take(&mut r, MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(unreadable)?;
        if n == 0 {
            break;
        }
        if line.len() > MAX_LINE && line.last() != Some(&b'\n') {
            // Skip the rest of an overlong line.
            malformed += 1;
            loop {
                line.clear();
                let n = Read::take(&mut r, MAX_LINE as u64)
                    .read_until(b'\n', &mut line)
                    .map_err(unreadable)?;
                if n == 0 || line.last() == Some(&b'\n') {
                    break;
                }
            }
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&line) else {
            malformed += 1;
            continue;
        };
        // Intents of older versions (with or without `"outcome":"pending"`) say nothing of what
        // was there; ours carry the options before, and count as done until their outcome says
        // otherwise (a run that died between the two). Records without `phase` (older versions,
        // reap's action log) are outcomes. The log's order says which change came first.
        let phase = v["phase"].as_str().unwrap_or("outcome");
        let key = (
            v["run"].as_str().unwrap_or("").to_string(),
            v["socket"]["cookie"].as_u64().unwrap_or(0),
        );
        if phase == "intent" {
            if v["action"] == "keepalive" && v["before"].is_object() {
                if let Some(rec) = recorded(&v) {
                    let undo = merge(&mut records, &mut by_cookie, rec);
                    intents.insert(key, undo);
                }
            }
            continue;
        }
        if phase != "outcome" {
            continue;
        }
        let undo = intents.remove(&key);
        match (v["action"].as_str(), v["outcome"].as_str()) {
            (Some("keepalive"), Some(outcome)) => {
                read += 1;
                if outcome != "set" {
                    // The intent's change did not happen (all or nothing): take it back.
                    if let Some(u) = undo {
                        u.apply(&mut records, &mut by_cookie);
                    }
                    continue;
                }
                let Some(rec) = recorded(&v) else {
                    malformed += 1;
                    continue;
                };
                merge(&mut records, &mut by_cookie, rec);
            }
            (Some("keepalive-restore"), Some("restored")) => {
                if let Some(i) = v["socket"]["cookie"]
                    .as_u64()
                    .and_then(|c| by_cookie.remove(&c))
                {
                    records[i] = None;
                }
            }
            (Some(_), _) => {}
            _ => malformed += 1,
        }
    }
    Ok(FromAudit {
        records: records.into_iter().flatten().collect(),
        read,
        malformed,
    })
}
