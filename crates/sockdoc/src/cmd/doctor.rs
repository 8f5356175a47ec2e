//! `sockdoc doctor` (and `sockdoc` alone): one census with tcp_info and owners, the kernel's counters
//! read twice around it, then ranked findings with evidence and the fix — as text or JSON. The exit code
//! says how bad it is (0 healthy, 1 warning, 2 critical) so cron and monitoring can use it.

use std::io::Write;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value as JValue};
use sockdoc_core::aggregate::StateCounts;
use sockdoc_core::doctor::{self, Finding, KernelState, Severity, Value};
use sockdoc_core::i18n::evidence::{self as ev_words, EvidenceMsg};
use sockdoc_core::i18n::{self, text, Lang, Msg};
use sockdoc_core::session::{KernelPlan, Needs, Origin, Refresh, Sample, Session};
use sockdoc_diag::{Proto, Socket, State};
use sockdoc_proc::Netns;

use crate::census;
use crate::cli::{DoctorArgs, Global, Select};
use crate::error::{Exit, Failure};
use crate::fmt::{count, duration_ms};
use crate::json::{write_pretty, JNetns, JSource, SCHEMA};
use crate::report::Report;
use crate::scope;
use crate::term::Term;

/// What `doctor` shows: every namespace's diagnosis, and the worst status among them.
struct DoctorReport<'a> {
    results: &'a [Diagnosis],
    worst: Option<Severity>,
    lang: Lang,
    label_ns: bool,
    verbose: bool,
}

impl Report for DoctorReport<'_> {
    fn text(&self, out: &mut dyn Write, _lang: sockdoc_core::i18n::Lang) -> std::io::Result<()> {
        let term = Term::stdout();
        for (i, d) in self.results.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            write_text(out, &term, self.lang, d, self.label_ns, self.verbose)?;
        }
        crate::replay::write_text(out, self.lang)
    }

    fn json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        write_json(out, self.results, self.worst)
    }
}

/// One namespace's diagnosis.
struct Diagnosis {
    ns: Netns,
    tcp: StateCounts,
    udp: StateCounts,
    conntrack: Option<(u64, u64)>,
    /// Key kernel numbers, one line.
    kernel_line: String,
    findings: Vec<Finding>,
    /// What each finding rests on, for recorded evidence (empty for the live kernel).
    rests_on: Vec<Vec<Origin>>,
    notes: Vec<String>,
}

/// What each of `findings` rests on in the evidence of `ns` (`--from`), else nothing.
fn rests_on(ns: &Netns, findings: &[Finding]) -> Vec<Vec<Origin>> {
    let (Some(r), Some(i)) = (scope::recorded(), ns.recorded_index()) else {
        return Vec::new();
    };
    findings
        .iter()
        .map(|f| {
            doctor::rests_on(f.id)
                .iter()
                .flat_map(|fact| r.origin(i, *fact))
                .collect()
        })
        .collect()
}

/// `Rests on: sockets, timers from ss -aoen (notes.txt); sysctls from sysctl -a (sysctl.txt)`.
fn rests_on_line(lang: Lang, origins: &[Origin]) -> Option<String> {
    let mut parts: Vec<(String, String, Vec<&'static str>)> = Vec::new();
    for o in origins {
        let file = o.file.display().to_string();
        let word = ev_words::fact(lang, o.fact);
        match parts
            .iter_mut()
            .find(|(f, p, _)| *f == o.form && *p == file)
        {
            Some((_, _, facts)) => facts.push(word),
            None => parts.push((o.form.clone(), file, vec![word])),
        }
    }
    if parts.is_empty() {
        return None;
    }
    let said: Vec<String> = parts
        .iter()
        .map(|(form, file, facts)| {
            ev_words::text(lang, EvidenceMsg::RestsOn, &[&facts.join(", "), form, file])
        })
        .collect();
    let list = said.join("; ");
    Some(ev_words::text(lang, EvidenceMsg::RestsOnTitle, &[&list]))
}

/// Parse a duration flag: `500ms`, `30s`, `5m`, `2h`, `1d`, bare seconds; refused in `lang`.
pub fn parse_duration(lang: Lang, flag: &str, text: &str) -> Result<Duration, Failure> {
    sockdoc_core::units::parse_duration(text)
        .ok_or_else(|| Failure::usage(i18n::text(lang, Msg::BadDuration, &[text, flag])))
}

/// The doctor's `--idle` and `--interval` (at most a minute), refused in `lang`.
pub fn durations(
    lang: Lang,
    idle: Option<&str>,
    interval: &str,
) -> Result<(Option<Duration>, Duration), Failure> {
    let idle = idle
        .map(|t| parse_duration(lang, "--idle", t))
        .transpose()?;
    let interval = parse_duration(lang, "--interval", interval)?;
    if interval > Duration::from_secs(60) {
        return Err(Failure::usage(text(lang, Msg::IntervalMax, &[])));
    }
    Ok((idle, interval))
}

pub fn run(g: &Global, a: &DoctorArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let lang = g.lang();
    let (idle, interval) = durations(lang, a.idle.as_deref(), &a.interval)?;
    let scope = scope::resolve(g)?;
    // Findings name the unit or container beside the process (one walk of the cgroup tree).
    let plan = census::plan(&scope, &Select::default(), &[], Needs::DOCTOR)?;
    // The kernel state is read in each namespace on its own thread, around the census.
    let mut session = census::session(lang, scope, plan, Refresh::PerRun)?
        .with_kernel(KernelPlan::Doctor { interval });
    let (judged, denied) = judge(&mut session, idle, lang)?;
    let mut results = Vec::new();
    for Judged { sample, findings } in judged {
        let Some(kernel) = &sample.kernel else {
            continue;
        };
        let rests_on = rests_on(&sample.ns, &findings);
        let (tcp, udp) = histogram(&sample.sockets);
        let kernel_line = kernel_line(lang, kernel, tcp.get(State::TimeWait));
        results.push(Diagnosis {
            conntrack: kernel.conntrack_after.as_ref().map(|c| (c.count, c.max)),
            ns: sample.ns,
            tcp,
            udp,
            kernel_line,
            findings,
            rests_on,
            notes: sample.notes,
        });
    }
    let mut notes = session.take_notes();
    let worst = results
        .iter()
        .filter_map(|d| doctor::status(&d.findings))
        .chain(crate::replay::worst())
        .max();
    let report = DoctorReport {
        results: &results,
        worst,
        lang,
        label_ns: g.all_netns,
        verbose: a.verbose,
    };
    crate::report::write(g, &report, out).map_err(Failure::output)?;
    notes.extend(results.iter().flat_map(|d| d.notes.iter().cloned()));
    scope::print_notes(lang, &notes, true, denied);
    Ok(match worst {
        Some(Severity::Critical) => Exit::Critical,
        Some(Severity::Warning) => Exit::Warning,
        _ => Exit::Ok,
    })
}

/// One namespace's sample and what the doctor found in it.
pub struct Judged {
    pub sample: Sample,
    pub findings: Vec<Finding>,
}

/// The doctor over every namespace of `session` (planned with `Needs::DOCTOR` and a kernel plan):
/// each sample with its findings, those its evidence cannot support left out; and how many
/// processes' sockets could not be read (not root).
pub fn judge(
    session: &mut Session,
    idle: Option<Duration>,
    lang: Lang,
) -> Result<(Vec<Judged>, usize), Failure> {
    let mut denied = 0;
    let mut out = Vec::new();
    for sample in session.samples().map_err(Failure::census)? {
        if sample.kernel.is_none() {
            continue;
        }
        if let Some(o) = sample.owner_map() {
            denied = o.stats.denied;
        }
        let findings = sample.diagnose(None, idle, lang);
        out.push(Judged { sample, findings });
    }
    Ok((out, denied))
}

/// `keepalive window 2h11m · TIME-WAIT 12/262,144 · ports 32768-60999 · somaxconn 4096 · files 1,024/9,223,372`
fn kernel_line(lang: Lang, k: &KernelState, time_wait: u64) -> String {
    let s = &k.sysctls;
    let mut parts = vec![format!(
        "{} {}",
        text(lang, Msg::KeepaliveWindow, &[]),
        duration_ms(s.keepalive_window_ms())
    )];
    if let Some(max) = s.max_tw_buckets {
        parts.push(format!("TIME-WAIT {}/{}", count(time_wait), count(max)));
    }
    if let Some((lo, hi)) = s.port_range {
        parts.push(format!("{} {lo}-{hi}", text(lang, Msg::Ports, &[])));
    }
    if let Some(m) = s.somaxconn {
        parts.push(format!("somaxconn {m}"));
    }
    if let Some(f) = &k.file_nr {
        parts.push(format!(
            "{} {}/{}",
            text(lang, Msg::Files, &[]),
            count(f.allocated),
            count(f.max)
        ));
    }
    parts.join(" · ")
}

fn histogram(sockets: &[Socket]) -> (StateCounts, StateCounts) {
    let (mut tcp, mut udp) = (StateCounts::default(), StateCounts::default());
    for s in sockets {
        match s.proto {
            Proto::Tcp => tcp.add(s.state),
            Proto::Udp => udp.add(s.state),
        }
    }
    (tcp, udp)
}

fn summary_line(lang: Lang, d: &Diagnosis) -> String {
    let states = |c: &StateCounts| {
        c.nonzero()
            .iter()
            .map(|(s, n)| format!("{} {}", s.ss_name(), count(*n)))
            .collect::<Vec<_>>()
            .join(" · ")
    };
    let mut line = format!(
        "TCP {} ({})  UDP {}",
        count(d.tcp.total()),
        states(&d.tcp),
        count(d.udp.total())
    );
    if let Some((c, m)) = d.conntrack {
        line.push_str(&format!("  conntrack {}/{}", count(c), count(m)));
    }
    if d.tcp.total() == 0 {
        line = text(lang, Msg::NoTcp, &[]) + &line[line.find("  UDP").unwrap_or(0)..];
    }
    line
}

fn write_text(
    out: &mut dyn Write,
    term: &Term,
    lang: Lang,
    d: &Diagnosis,
    label_ns: bool,
    verbose: bool,
) -> std::io::Result<()> {
    if label_ns || !d.ns.current {
        let title = text(lang, Msg::Namespace, &[&d.ns.label()]);
        writeln!(out, "{}", term.bold(&title))?;
    }
    let counted: Vec<&Finding> = d
        .findings
        .iter()
        .filter(|f| f.severity > Severity::Info)
        .collect();
    let n = |s: Severity| counted.iter().filter(|f| f.severity == s).count();
    if counted.is_empty() {
        writeln!(
            out,
            "{} {}",
            term.green(&text(lang, Msg::Healthy, &[])),
            text(lang, Msg::NoProblems, &[])
        )?;
    } else {
        writeln!(
            out,
            "{}",
            text(
                lang,
                Msg::Counted,
                &[
                    &n(Severity::Critical).to_string(),
                    &n(Severity::Warning).to_string()
                ]
            )
        )?;
    }
    writeln!(out, "{}", summary_line(lang, d))?;
    writeln!(out, "{}", d.kernel_line)?;
    for (n, f) in d.findings.iter().enumerate() {
        writeln!(out)?;
        let rests = d.rests_on.get(n).and_then(|o| rests_on_line(lang, o));
        let word = i18n::severity(lang, f.severity);
        let tag = match f.severity {
            Severity::Critical => term.red(&word),
            Severity::Warning => term.yellow(&word),
            Severity::Info => term.cyan(&word),
        };
        writeln!(out, "{tag}  {}  [{}]", term.bold(&f.title), f.id)?;
        if f.severity == Severity::Info && !verbose {
            write_rows(out, lang, f, 5)?;
            for line in rests.iter().flat_map(|r| term.wrap(r, 2)) {
                writeln!(out, "{line}")?;
            }
            continue;
        }
        for para in f.detail.lines() {
            for line in term.wrap(para, 2) {
                writeln!(out, "{line}")?;
            }
        }
        write_rows(out, lang, f, if verbose { 50 } else { 10 })?;
        for line in rests.iter().flat_map(|r| term.wrap(r, 2)) {
            writeln!(out, "{line}")?;
        }
        for line in term.wrap(&format!("{} {}", text(lang, Msg::Why, &[]), f.why), 2) {
            writeln!(out, "{line}")?;
        }
        if !f.fix.is_empty() {
            writeln!(out, "  {}", text(lang, Msg::Fix, &[]))?;
            for step in &f.fix {
                writeln!(out, "    {step}")?;
            }
        }
    }
    Ok(())
}

fn cell_text(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Text(t) => t.clone(),
        Value::List(l) => l.join(","),
        Value::None => "-".to_string(),
    }
}

/// The breakdown rows as a small table.
fn write_rows(out: &mut dyn Write, lang: Lang, f: &Finding, max: usize) -> std::io::Result<()> {
    let groups = f.groups();
    let Some(first) = groups.first() else {
        return Ok(());
    };
    // Columns with nothing to say in any row shown (no unit, container or pod; a port that is 0
    // in every row, the other side's) are left out.
    let shown = &groups[..groups.len().min(max)];
    let says = |(k, v): &(&str, Value)| match v {
        Value::None => false,
        Value::Int(0) => !k.ends_with("_port"),
        _ => true,
    };
    let keep: Vec<bool> = (0..first.0.len())
        .map(|i| shown.iter().any(|r| r.0.get(i).is_some_and(says)))
        .collect();
    let kept = |i: &usize| keep.get(*i).copied().unwrap_or(true);
    // `max_idle_ms` is shown as a duration (`32s`): headed `max_idle`. JSON keeps the key.
    let keys: Vec<&str> = first
        .0
        .iter()
        .enumerate()
        .filter(|(i, _)| kept(i))
        .map(|(_, (k, _))| k.strip_suffix("_ms").unwrap_or(k))
        .collect();
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|r| {
            r.0.iter()
                .enumerate()
                .filter(|(i, _)| kept(i))
                .map(|(_, (k, v))| {
                    if k.ends_with("_ms") {
                        if let Value::Int(ms) = v {
                            return duration_ms(u64::try_from(*ms).unwrap_or(0));
                        }
                    }
                    cell_text(v)
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
                .max(k.len())
                .min(40)
        })
        .collect();
    let line = |cells: &[String]| {
        let mut s = String::from("    ");
        for (c, w) in cells.iter().zip(&widths) {
            let shown: String = c.chars().take(*w).collect();
            s.push_str(&format!("{shown:<w$}  ", w = *w));
        }
        s.trim_end().to_string()
    };
    writeln!(
        out,
        "{}",
        line(&keys.iter().map(|k| k.to_string()).collect::<Vec<_>>())
    )?;
    for r in &rows {
        writeln!(out, "{}", line(r))?;
    }
    if groups.len() > max {
        let more = (groups.len() - max).to_string();
        writeln!(out, "    {}", text(lang, Msg::MoreRows, &[&more]))?;
    }
    Ok(())
}

#[derive(Serialize)]
struct JFinding<'a> {
    id: &'static str,
    severity: &'static str,
    title: &'a str,
    detail: &'a str,
    why: &'a str,
    fix: &'a [String],
    evidence: Map<String, JValue>,
    groups: Vec<Map<String, JValue>>,
    /// Recorded evidence only: what the finding rests on.
    #[serde(skip_serializing_if = "Option::is_none")]
    rests_on: Option<Vec<JOrigin<'a>>>,
}

/// One file a finding rests on: what it told (`timers`), what it was read as, its path.
#[derive(Serialize)]
struct JOrigin<'a> {
    what: &'static str,
    form: &'a str,
    file: std::borrow::Cow<'a, str>,
}

#[derive(Serialize)]
struct JSummary {
    tcp: u64,
    udp: u64,
    states: std::collections::BTreeMap<&'static str, u64>,
    conntrack: Option<JConntrack>,
}

#[derive(Serialize)]
struct JConntrack {
    count: u64,
    max: u64,
}

#[derive(Serialize)]
struct JDiagnosis<'a> {
    netns: JNetns<'a>,
    status: &'static str,
    summary: JSummary,
    findings: Vec<JFinding<'a>>,
    notes: &'a [String],
}

#[derive(Serialize)]
struct JDoctor<'a> {
    schema: u32,
    command: &'static str,
    status: &'static str,
    namespaces: Vec<JDiagnosis<'a>>,
    /// Where the evidence came from (`--from`, `analyze`); absent for the live kernel.
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<JSource<'static>>,
    /// What the recorder recorded for a replayed minute (`--from DIR --at TIME`).
    #[serde(skip_serializing_if = "Option::is_none")]
    recorded: Option<crate::replay::JRecorded>,
}

fn status_name(s: Option<Severity>) -> &'static str {
    match s {
        Some(Severity::Critical) => "critical",
        Some(Severity::Warning) => "warning",
        _ => "healthy",
    }
}

fn json_value(v: &Value) -> JValue {
    serde_json::to_value(v).unwrap_or(JValue::Null)
}

fn write_json(
    out: &mut dyn Write,
    results: &[Diagnosis],
    worst: Option<Severity>,
) -> std::io::Result<()> {
    let doc = JDoctor {
        schema: SCHEMA,
        command: "doctor",
        status: status_name(worst),
        namespaces: results
            .iter()
            .map(|d| {
                let mut states = std::collections::BTreeMap::new();
                for s in State::ALL {
                    let n = d.tcp.get(s) + d.udp.get(s);
                    if n > 0 {
                        states.insert(s.key(), n);
                    }
                }
                JDiagnosis {
                    netns: JNetns::new(&d.ns),
                    status: status_name(doctor::status(&d.findings)),
                    summary: JSummary {
                        tcp: d.tcp.total(),
                        udp: d.udp.total(),
                        states,
                        conntrack: d.conntrack.map(|(count, max)| JConntrack { count, max }),
                    },
                    findings: d
                        .findings
                        .iter()
                        .enumerate()
                        .map(|(n, f)| JFinding {
                            id: f.id,
                            severity: f.severity.name(),
                            title: &f.title,
                            detail: &f.detail,
                            why: &f.why,
                            fix: &f.fix,
                            evidence: f
                                .numbers()
                                .into_iter()
                                .map(|(k, v)| (k.to_string(), JValue::from(v)))
                                .collect(),
                            groups: f
                                .groups()
                                .iter()
                                .map(|r| {
                                    r.0.iter()
                                        .map(|(k, v)| (k.to_string(), json_value(v)))
                                        .collect()
                                })
                                .collect(),
                            rests_on: d.rests_on.get(n).map(|list| {
                                list.iter()
                                    .map(|o| JOrigin {
                                        what: o.fact.name(),
                                        form: &o.form,
                                        file: o.file.to_string_lossy(),
                                    })
                                    .collect()
                            }),
                        })
                        .collect(),
                    notes: &d.notes,
                }
            })
            .collect(),
        source: crate::json::source(),
        recorded: crate::replay::json(),
    };
    write_pretty(out, &doc)
}
