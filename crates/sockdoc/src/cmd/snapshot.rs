//! `sockdoc snapshot`: one census of the scope with everything doctor judges (owners, tcp_info,
//! services, the kernel state read around the census), written as a snapshot file
//! (`sockdoc_evidence::snapshot`) atomically, or to standard output with `-o -`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use sockdoc_core::i18n::{text, Lang, Msg};
use sockdoc_core::session::{KernelPlan, Needs, Refresh, Sample};
use sockdoc_evidence::snapshot::{self, Encoded, Identity, NsSnapshot};
use sockdoc_evidence::Known;
use sockdoc_proc::{conntrack_table, sysctl};

use crate::census;
use crate::cli::{Global, Select, SnapshotArgs};
use crate::error::{Exit, Failure};
use crate::json::{write_pretty, SCHEMA};
use crate::scope;
use crate::treat::now_rfc3339;

/// What the census of `s` could tell.
fn known(s: &Sample) -> Known {
    let counter_rates = s
        .kernel
        .as_ref()
        .is_some_and(|k| !k.interval.is_zero() && !k.counters_after.is_empty());
    Known {
        timers: true,
        tcp_info: true,
        owners: s.owners.is_some(),
        inodes: true,
        queues: true,
        backlogs: true,
        uids: true,
        cgroups: s.services.is_some(),
        counter_rates,
        sysctls: s.kernel.is_some(),
        all_states: true,
        states: true,
    }
}

/// `sockdoc-<host>-<20250102T030405Z>.sdsnap`, the host name kept to safe characters.
fn default_name(host: Option<&str>, taken: &str) -> PathBuf {
    let host: String = host
        .unwrap_or("host")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stamp: String = taken.chars().filter(|c| *c != '-' && *c != ':').collect();
    PathBuf::from(format!("sockdoc-{host}-{stamp}.{}", snapshot::EXTENSION))
}

/// `2.4 MB`, `310 KB`, `87 B` (powers of 1000).
fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1000 => format!("{} KB", b / 1000),
        b => format!("{b} B"),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[derive(Serialize)]
struct JTimes {
    census: u64,
    encode: u64,
    compress: u64,
    write: u64,
}

#[derive(Serialize)]
struct JSnapshot<'a> {
    schema: u32,
    command: &'static str,
    file: &'a Path,
    bytes: usize,
    sockets: usize,
    namespaces: usize,
    time_ms: JTimes,
}

pub fn run(g: &Global, a: &SnapshotArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let lang = g.lang();
    let scope = scope::resolve(g)?;
    let plan = census::plan(&scope, &Select::default(), &[], Needs::DOCTOR)?;
    let taken = now_rfc3339();
    let started = Instant::now();
    let mut session =
        census::session(lang, scope, plan, Refresh::PerRun)?.with_kernel(KernelPlan::AroundCensus);
    let samples = session.samples().map_err(Failure::census)?;
    let census_time = started.elapsed();
    // `kernel.hostname` and `kernel.osrelease`, as sysctl names them.
    let id = Identity {
        host: sysctl::read("kernel.hostname").ok().flatten(),
        kernel: sysctl::read("kernel.osrelease").ok().flatten(),
        taken,
        census: census_time,
    };
    // The conntrack table, where conntrack is active: counted, each breakdown cut in the file.
    let tables = samples
        .iter()
        .map(|s| {
            let active = s
                .kernel
                .as_ref()
                .is_some_and(|k| k.conntrack_after.is_some());
            if !active || s.ns.recorded_index().is_some() {
                return Ok(None);
            }
            scope::in_ns(&s.ns, || Ok(conntrack_table::read_table().ok().flatten()))
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let parts: Vec<NsSnapshot<'_>> = samples
        .iter()
        .zip(&tables)
        .map(|(s, table)| NsSnapshot {
            ns: &s.ns,
            sockets: &s.sockets,
            owners: s.owner_map(),
            services: s.services.as_ref(),
            kernel: s.kernel.as_ref(),
            notes: &s.notes,
            known: known(s),
            conntrack_table: table.as_ref(),
        })
        .collect();
    let path = match &a.output {
        Some(p) if p.as_os_str() == "-" => {
            snapshot::encode_to(&id, &parts, out).map_err(Failure::output)?;
            return Ok(Exit::Ok);
        }
        Some(p) => p.clone(),
        None => default_name(id.host.as_deref(), &id.taken),
    };
    // Encoded and compressed straight into the file (written atomically).
    let started = Instant::now();
    let enc = snapshot::write_atomic(&path, |w| snapshot::encode_to(&id, &parts, w))
        .map_err(|e| Failure::io(lang, Msg::FileWriteSnapshot, &path, e))?;
    // What writing took besides building and compressing.
    let written = started.elapsed().saturating_sub(enc.encode + enc.compress);
    let mut notes = session.take_notes();
    notes.extend(samples.iter().flat_map(|s| s.notes.iter().cloned()));
    let denied = samples
        .iter()
        .filter_map(|s| s.owner_map().map(|o| o.stats.denied))
        .max()
        .unwrap_or(0);
    scope::print_notes(lang, &notes, true, denied);
    let times = [census_time, enc.encode, enc.compress, written];
    if g.json {
        let doc = JSnapshot {
            schema: SCHEMA,
            command: "snapshot",
            file: &path,
            bytes: enc.size,
            sockets: enc.sockets,
            namespaces: samples.len(),
            time_ms: JTimes {
                census: times[0].as_millis() as u64,
                encode: times[1].as_millis() as u64,
                compress: times[2].as_millis() as u64,
                write: times[3].as_millis() as u64,
            },
        };
        write_pretty(out, &doc).map_err(Failure::output)?;
    } else {
        report(out, lang, &path, &enc, samples.len(), &times).map_err(Failure::output)?;
    }
    Ok(Exit::Ok)
}

fn report(
    out: &mut dyn Write,
    lang: Lang,
    path: &Path,
    enc: &Encoded,
    namespaces: usize,
    times: &[Duration; 4],
) -> std::io::Result<()> {
    let per = enc.size as f64 / enc.sockets.max(1) as f64;
    let args = [
        path.display().to_string(),
        crate::fmt::count(enc.sockets as u64),
        namespaces.to_string(),
        size(enc.size),
        format!("{per:.1}"),
    ];
    writeln!(
        out,
        "{}",
        text(lang, Msg::SnapWritten, &args.each_ref().map(String::as_str))
    )?;
    let t = times.map(ms);
    writeln!(
        out,
        "{}",
        text(lang, Msg::SnapTimes, &t.each_ref().map(String::as_str))
    )
}
