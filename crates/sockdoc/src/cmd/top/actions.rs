//! Actions from the `top` screen, run on their own thread once confirmed: kill exactly the confirmed
//! sockets (by cookie, through the treat path's kill ladder of `kill --method auto`), retrofit
//! keepalive on the selected service (as `sockdoc keepalive WORDS --yes`), probe the selected ghost
//! suspects (as `ghosts --probe`). Kill and probe take the confirmed sockets by cookie from a fresh
//! census of the namespace's TCP sockets (no filter words); keepalive selects the service by its
//! words, as the command does. The same safety rules hold (never the caller's SSH connection,
//! listeners only with `--listen`, root required) and every socket acted on goes to the audit log.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use sockdoc_act::kill::{Method, RstOptions};
use sockdoc_core::i18n::top::{reason, text, word, TopMsg};
use sockdoc_core::i18n::treat::{outcome, text as tr, TreatMsg, RECORDED};
use sockdoc_core::i18n::Lang;
use sockdoc_diag::{Proto, Socket, State};

use sockdoc_core::session::{Needs, Protocols};
use sockdoc_top::{ActionKind, Outcome, Request};

use crate::census;
use crate::cli::{Global, KeepaliveArgs};
use crate::cmd::ghosts::probe::Verdict;
use crate::cmd::kill::{execute, Executed};
use crate::error::Failure;
use crate::scope;
use crate::treat::{apply_rules, confirm, open_audit, Selection};

/// What every action needs besides its selection.
#[derive(Clone)]
pub struct Ctx {
    pub global: Global,
    pub audit_log: Option<PathBuf>,
    pub listen: bool,
    pub probe_time: Duration,
    /// Keepalive idle, interval (seconds) and probe count.
    pub keepalive: (u32, u32, u32),
    pub threshold_ms: u64,
    pub lang: Lang,
}

/// Run `req` on a thread; the outcome arrives on the returned channel.
pub fn start(ctx: Ctx, req: Request) -> std::io::Result<Receiver<Outcome>> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("top-action".into())
        .spawn(move || {
            let lang = ctx.lang;
            let out = match run(&ctx, &req) {
                Ok(o) => o,
                Err(f) => Outcome {
                    title: word(lang, TopMsg::NotDone).to_string(),
                    lines: vec![f.message],
                },
            };
            let _ = tx.send(out);
        })?;
    Ok(rx)
}

fn run(ctx: &Ctx, req: &Request) -> Result<Outcome, Failure> {
    match req.kind {
        ActionKind::Kill => kill_exact(ctx, req),
        ActionKind::Keepalive => keepalive(ctx, req),
        ActionKind::Probe => probe(ctx, req),
    }
}

fn endpoints(s: &Socket) -> String {
    format!(
        "{} {} -> {}",
        s.state.ss_name(),
        s.local_addr(),
        s.remote_addr()
    )
}

/// Lines for the sockets the safety rules kept out, and for confirmed sockets already gone.
fn leftovers(
    lang: Lang,
    want: &HashSet<u64>,
    acted: &[Socket],
    excluded: &[(Socket, &'static str)],
) -> Vec<String> {
    let mut lines = Vec::new();
    let mut seen: HashSet<u64> = acted.iter().map(|s| s.cookie).collect();
    for (s, why) in excluded.iter().filter(|(s, _)| want.contains(&s.cookie)) {
        seen.insert(s.cookie);
        lines.push(format!(
            "{} ({}): {}",
            word(lang, TopMsg::ResultLeftAlone),
            reason(lang, why),
            endpoints(s)
        ));
    }
    let gone = want.iter().filter(|c| !seen.contains(c)).count();
    if gone > 0 {
        lines.push(text(lang, TopMsg::AlreadyGone, &[&gone.to_string()]));
    }
    lines
}

/// The confirmed sockets (`want`, by cookie) as the kernel shows them now: one census of the
/// namespace's TCP sockets with their owners (and tcp_info when asked), the ones the safety rules
/// (the caller's SSH connection, `keep`) leave out apart. Confirmed sockets already gone are in
/// neither list. The session is the one the treat path reads the kernel again with.
fn select_exact(
    ctx: &Ctx,
    want: &HashSet<u64>,
    tcp_info: bool,
    keep: impl Fn(&Socket) -> Result<(), &'static str>,
) -> Result<Selection, Failure> {
    // top watches one namespace (it refuses --all-netns).
    let ns = scope::namespaces(&ctx.global)?.remove(0);
    let needs = Needs {
        owners: true,
        tcp_info,
        cgroups: false,
    };
    let session = census::one_ns(ctx.lang, &ns, Protocols::TCP, &[], needs)?;
    let now = census::sample(&session, &ns, None)?;
    let confirmed = now
        .sockets
        .into_iter()
        .filter(|s| want.contains(&s.cookie))
        .collect();
    let owners = now.owners.map(|f| f.map);
    Ok(apply_rules(ns, session, confirmed, owners, keep))
}

/// Kill exactly the confirmed sockets: take them by cookie from a fresh census, walk the kill
/// ladder of the treat path (SOCK_DESTROY, then shutdown through the owner's fd), record each in
/// the audit log, and read the kernel once more to count what is really gone (as `sockdoc kill`).
fn kill_exact(ctx: &Ctx, req: &Request) -> Result<Outcome, Failure> {
    let lang = ctx.lang;
    let want: HashSet<u64> = req.sockets.iter().map(|s| s.cookie).collect();
    let listen = ctx.listen;
    let sel = select_exact(ctx, &want, false, |s| {
        if s.state == State::Listen && !listen {
            Err(word(RECORDED, TopMsg::LeaveListener))
        } else {
            Ok(())
        }
    })?;
    confirm(ctx.lang, TreatMsg::ActKill, sel.sockets.len(), true)?;
    let mut audit = open_audit(lang, ctx.audit_log.as_ref())?;
    // The ladder of `sockdoc kill --method auto`.
    let methods = [Method::Destroy, Method::Shutdown, Method::Rst];
    let Executed { done, stopped } = execute(
        &sel,
        &sel.sockets,
        &methods,
        &RstOptions::default(),
        &req.words,
        Some("top"),
        &mut audit,
    )?;
    let killed = done.iter().filter(|k| k.killed()).count();
    let mut lines: Vec<String> = done
        .iter()
        .map(|k| {
            if k.killed() {
                format!(
                    "{} ({}): {}",
                    word(lang, TopMsg::Killed),
                    k.method.map_or("", Method::name),
                    endpoints(&k.socket)
                )
            } else {
                format!(
                    "{} ({}): {}",
                    word(lang, TopMsg::NotKilled),
                    k.error.as_deref().unwrap_or(""),
                    endpoints(&k.socket)
                )
            }
        })
        .collect();
    if let Some(st) = &stopped {
        lines.push(st.failure(lang).message);
    }
    lines.extend(leftovers(lang, &want, &sel.sockets, &sel.excluded));
    lines.push(text(
        lang,
        TopMsg::RecordedIn,
        &[&audit.path().display().to_string()],
    ));
    let title = match stopped {
        None => TopMsg::KilledOf,
        Some(_) => TopMsg::KillStopped,
    };
    Ok(Outcome {
        title: text(
            lang,
            title,
            &[&killed.to_string(), &sel.sockets.len().to_string()],
        ),
        lines,
    })
}

/// Keepalive on the service its words name (its connections and its listener, as `sockdoc keepalive
/// --yes WORDS` would select them, with the same safety rules), through the treat path; the typed
/// result read directly, no JSON in between.
fn keepalive(ctx: &Ctx, req: &Request) -> Result<Outcome, Failure> {
    use crate::cmd::keepalive::{change_of, eligible, set_on, Log, SetOn};
    let lang = ctx.lang;
    let (idle, intvl, cnt) = ctx.keepalive;
    let args = KeepaliveArgs {
        idle,
        intvl,
        cnt,
        proc_name: None,
        pid: None,
        user_timeout: None,
        watch: false,
        every: "2s".into(),
        restore: false,
        from_audit: None,
        dry_run: false,
        yes: true,
        audit_log: ctx.audit_log.clone(),
        filter: vec![req.words.clone()],
    };
    let change = change_of(lang, &args)?;
    let words = args.words().map_err(Failure::usage)?;
    let sel = crate::treat::select(&ctx.global, &words, "keepalive", eligible)?;
    confirm(lang, TreatMsg::ActSetKeepalive, sel.sockets.len(), true)?;
    let mut log = Log {
        audit: open_audit(lang, ctx.audit_log.as_ref())?,
        run: sockdoc_act::audit::run_id(),
    };
    let SetOn {
        done,
        verified,
        stopped,
    } = set_on(&sel, &change, &words.join(" "), &mut log)?;
    if let Some(st) = stopped {
        return Err(st.failure(lang));
    }
    let set = done.iter().filter(|d| d.outcome == "set").count();
    let mut lines = vec![text(
        lang,
        TopMsg::KaSummary,
        &[
            &idle.to_string(),
            &intvl.to_string(),
            &cnt.to_string(),
            &verified.to_string(),
        ],
    )];
    for (s, d) in sel.sockets.iter().zip(&done) {
        if d.outcome != "set" {
            let why = d.reason.as_deref().unwrap_or("");
            let what = outcome(lang, d.outcome);
            lines.push(format!("{what} ({why}): {}", endpoints(s)));
        }
    }
    let audit = log.audit.path().display().to_string();
    lines.push(text(lang, TopMsg::RecordedIn, &[&audit]));
    let n = sel.sockets.len();
    Ok(Outcome {
        title: text(lang, TopMsg::KaSetOf, &[&set.to_string(), &n.to_string()]),
        lines,
    })
}

/// Probe exactly the confirmed suspects (`ghosts --probe`): keepalive probes for `--probe-time`,
/// then their original options back; verdicts alive, dead or unknown.
fn probe(ctx: &Ctx, req: &Request) -> Result<Outcome, Failure> {
    let lang = ctx.lang;
    let want: HashSet<u64> = req.sockets.iter().map(|s| s.cookie).collect();
    // The verdicts read tcp_info (the last ACK) in the census after probing, as `ghosts --probe`.
    let sel = select_exact(ctx, &want, true, |s| {
        if s.proto != Proto::Tcp || s.state != State::Established {
            Err(word(RECORDED, TopMsg::LeaveNotEstablished))
        } else {
            Ok(())
        }
    })?;
    // The typed verdicts, in the suspects' order: no JSON round trip.
    let (judged, stopped) =
        crate::cmd::ghosts::probe::probe_all(&crate::cmd::ghosts::probe::ProbeRun {
            ns: &sel.ns,
            session: &sel.session,
            suspects: &sel.sockets,
            owners: sel.owners(),
            threshold_ms: ctx.threshold_ms,
            probe_time: ctx.probe_time,
            reap: false,
            yes: true,
            audit_log: ctx.audit_log.as_ref(),
            // No progress line on stderr under the screen.
            json: true,
            lang: ctx.lang,
            filter_text: req.words.clone(),
        })?;
    if let Some(f) = stopped {
        return Err(f);
    }
    let count = |v: Verdict| judged.iter().filter(|j| j.verdict == v).count();
    let (dead, alive, unknown) = (
        count(Verdict::Dead),
        count(Verdict::Alive),
        count(Verdict::Unknown),
    );
    let mut lines = Vec::new();
    for (s, j) in sel.sockets.iter().zip(&judged) {
        lines.push(format!(
            "{:<7} {}  {}",
            j.verdict.word(lang),
            endpoints(s),
            j.reason.words(lang),
        ));
    }
    lines.extend(leftovers(lang, &want, &sel.sockets, &sel.excluded));
    if dead > 0 {
        lines.push(word(lang, TopMsg::MarkDead).to_string());
    }
    let summary = [dead, alive, unknown].map(|n| n.to_string());
    Ok(Outcome {
        title: tr(
            lang,
            TreatMsg::PrSummary,
            &[&summary[0], &summary[1], &summary[2]],
        ),
        lines,
    })
}
