//! What the commands that act share (`kill`, `keepalive`, `ghosts --probe`, `top`'s actions, `sysctl
//! apply`): one namespace, a selection from a fresh census, the safety rules (a filter is required and
//! a blank one refused, never the caller's own SSH session, show first, `--dry-run`, `--yes` when not
//! on a terminal), the audit log, and the report shown before and after acting.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use serde::Serialize;
use sockdoc_act::audit::{AuditLog, DEFAULT_PATH};
use sockdoc_core::own_ssh::OwnSsh;
use sockdoc_diag::Socket;
use sockdoc_proc::{Netns, SocketOwners};

use std::sync::Arc;

use sockdoc_core::session::{Needs, Protocols, Session};

use sockdoc_core::i18n::sysctl::{text as sysctl_text, SysctlMsg};
use sockdoc_core::i18n::treat::{text as tr, TreatMsg};
use sockdoc_core::i18n::{Lang, Msg};

use crate::census;
use crate::cli::Global;
use crate::error::{io_cause, Exit, Failure};
use crate::json::JSocket;
use crate::report::{self, Report};
use crate::scope;

/// The sockets an action will touch, in one namespace.
pub struct Selection {
    pub ns: Netns,
    /// The census that selected them, for the re-read after acting.
    pub session: Session,
    pub sockets: Vec<Socket>,
    pub owners: Option<Arc<SocketOwners>>,
    /// Sockets the filter matched but the safety rules keep out, with the reason.
    pub excluded: Vec<(Socket, &'static str)>,
}

impl Selection {
    /// The owners read with the selection.
    pub fn owners(&self) -> Option<&SocketOwners> {
        self.owners.as_deref()
    }

    /// The selection's census again, judged with the owners it was made with.
    pub fn reread(&self) -> Result<Vec<Socket>, Failure> {
        Ok(census::sample(&self.session, &self.ns, self.owners())?.sockets)
    }
}

/// Where the treat path acts: a namespace and the owners read with the selection. The kernel is read
/// again by asking for each acted-on socket ([`sockdoc_act::treat::Lookup`]).
pub struct Target<'a> {
    pub ns: &'a Netns,
    pub owners: Option<&'a SocketOwners>,
}

/// What the CLI says of a socket in every audit record: the socket as `--json` shows it.
#[derive(Serialize)]
pub struct About<'a> {
    pub socket: JSocket<'a>,
}

impl<'a> About<'a> {
    pub fn new(s: &Socket, owners: Option<&'a SocketOwners>) -> About<'a> {
        About {
            socket: JSocket::new(s, owners),
        }
    }
}

/// The first (pid, fd) holding `s`, when the owners were walked.
pub fn owner_of(owners: Option<&SocketOwners>, s: &Socket) -> Option<(u32, u32)> {
    owners
        .and_then(|o| o.owners(s.inode).next())
        .map(|o| (o.pid, o.fd))
}

/// Census `words` in the one namespace of `g`, keeping what `keep` accepts. `action` is the
/// command's name, as the refusals say it.
pub fn select(
    g: &Global,
    words: &[String],
    action: &str,
    keep: impl Fn(&Socket) -> Result<(), &'static str>,
) -> Result<Selection, Failure> {
    let lang = g.lang();
    if words.is_empty() {
        return Err(Failure::usage(tr(lang, TreatMsg::NeedsFilter, &[action])));
    }
    refuse_blank(lang, action, words)?;
    let ns = one_namespace(g, action)?;
    let needs = Needs {
        owners: true,
        tcp_info: false,
        cgroups: false,
    };
    // One holder of each socket is what an act needs (the shutdown rung, the audit record).
    let session = census::one_ns(lang, &ns, Protocols::default(), words, needs)?.one_owner_each();
    // Whatever the words were, a filter that parses to nothing would select every socket.
    if session.plan.filter.is_empty() {
        return Err(blank_filter(lang, action));
    }
    let census = census::sample(&session, &ns, None)?;
    let owners = census.owners.map(|f| f.map);
    Ok(apply_rules(ns, session, census.sockets, owners, keep))
}

/// The selection of `all` (censused in `ns` by `session`): the sockets an action takes, and those
/// the safety rules leave out with the reason (never the caller's own SSH session; what `keep`
/// refuses).
pub fn apply_rules(
    ns: Netns,
    session: Session,
    all: Vec<Socket>,
    owners: Option<Arc<SocketOwners>>,
    keep: impl Fn(&Socket) -> Result<(), &'static str>,
) -> Selection {
    let own = OwnSsh::from_env();
    let mut sockets = Vec::new();
    let mut excluded = Vec::new();
    for s in all {
        if own.is_some_and(|o| o.is(&s)) {
            excluded.push((s, OWN_SSH));
            continue;
        }
        match keep(&s) {
            Ok(()) => sockets.push(s),
            Err(why) => excluded.push((s, why)),
        }
    }
    Selection {
        ns,
        session,
        sockets,
        owners,
        excluded,
    }
}

/// Why the caller's own SSH connection is never selected (the JSON's words).
const OWN_SSH: &str = "own ssh session";

/// The one namespace of `g`, or the refusal naming `action` (a command that acts works in one).
pub fn one_namespace(g: &Global, action: &str) -> Result<Netns, Failure> {
    let mut namespaces = scope::namespaces(g)?;
    if namespaces.len() != 1 {
        return Err(Failure::usage(tr(
            g.lang(),
            TreatMsg::OneNamespace,
            &[action],
        )));
    }
    Ok(namespaces.remove(0))
}

/// Refuse filter words that are all empty or blank (`kill ''`, `kill "$UNSET"`): they parse to the
/// filter that matches every socket, and an action must never take that by accident. No words at all
/// is the caller's business (some commands have a default selection).
pub fn refuse_blank(lang: Lang, action: &str, words: &[String]) -> Result<(), Failure> {
    if !words.is_empty() && words.iter().all(|w| w.trim().is_empty()) {
        return Err(blank_filter(lang, action));
    }
    Ok(())
}

fn blank_filter(lang: Lang, action: &str) -> Failure {
    Failure::usage(tr(lang, TreatMsg::BlankFilter, &[action]))
}

/// The words of a question before acting: why root is needed, the refusal without `--yes`, the
/// question itself, and the line when it is not answered yes.
struct Ask {
    needs_root: String,
    refuse: String,
    prompt: String,
    declined: String,
}

/// Ask before acting on `n` sockets: `--yes`, or a "y" typed on a terminal. Refuses when nobody can
/// answer, and refuses without root: SOCK_DESTROY needs CAP_NET_ADMIN and borrowing another
/// process's fd needs ptrace access, and a half-done run is worse than none. `act` is the phrase
/// ([`TreatMsg::ActKill`] ...).
pub fn confirm(lang: Lang, act: TreatMsg, n: usize, yes: bool) -> Result<(), Failure> {
    let (act, count) = (tr(lang, act, &[]), n.to_string());
    let why = tr(lang, TreatMsg::RootWhy, &[]);
    let words = Ask {
        needs_root: tr(lang, TreatMsg::NeedsRoot, &[&act, &why]),
        refuse: tr(lang, TreatMsg::RefuseNoYes, &[&act, &count]),
        prompt: tr(lang, TreatMsg::Prompt, &[&act, &count]),
        declined: tr(lang, TreatMsg::NotConfirmed, &[&act]),
    };
    ask(lang, n, yes, &words)
}

/// [`confirm`] for `n` settings (sysctl apply and roll back: `act`), in `lang`.
pub fn confirm_items(lang: Lang, act: SysctlMsg, n: usize, yes: bool) -> Result<(), Failure> {
    let act = sysctl_text(lang, act, &[]);
    let count = n.to_string();
    let why = sysctl_text(lang, SysctlMsg::RootWhy, &[]);
    let words = Ask {
        needs_root: tr(lang, TreatMsg::NeedsRoot, &[&act, &why]),
        refuse: sysctl_text(lang, SysctlMsg::RefuseNoYes, &[&act, &count]),
        prompt: sysctl_text(lang, SysctlMsg::Prompt, &[&act, &count]),
        declined: tr(lang, TreatMsg::NotConfirmed, &[&act]),
    };
    ask(lang, n, yes, &words)
}

fn ask(lang: Lang, n: usize, yes: bool, words: &Ask) -> Result<(), Failure> {
    if n == 0 {
        return Ok(());
    }
    if !scope::is_root() {
        return Err(Failure::new(Exit::NoPerm, words.needs_root.clone()));
    }
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(words.refuse.clone()));
    }
    if matches!(
        read_answer(lang, &words.prompt)?.as_str(),
        "y" | "Y" | "yes"
    ) {
        Ok(())
    } else {
        Err(Failure::new(Exit::Ok, words.declined.clone()))
    }
}

/// Show `prompt` on stderr and read the answer typed on the terminal, trimmed.
pub fn read_answer(lang: Lang, prompt: &str) -> Result<String, Failure> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Failure::new(Exit::Io, tr(lang, TreatMsg::ReadAnswer, &[&e.to_string()])))?;
    Ok(answer.trim().to_string())
}

/// An action's report, written through [`report::write`] in two steps: the selection before asking
/// and acting ([`Shown`]), then the results ([`Finished`]). The JSON is one document, written with
/// the results.
pub trait Staged {
    /// The selection, as text.
    fn selection(&self, out: &mut dyn Write, lang: Lang) -> io::Result<()>;
    /// The results, as text (nothing for a dry run).
    fn results(&self, out: &mut dyn Write, lang: Lang) -> io::Result<()>;
    /// The whole document.
    fn json(&self, out: &mut dyn Write) -> io::Result<()>;
}

/// The first step of a [`Staged`] report.
pub struct Shown<'a, T: ?Sized>(pub &'a T);
/// The second step of a [`Staged`] report.
pub struct Finished<'a, T: ?Sized>(pub &'a T);

impl<T: Staged + ?Sized> Report for Shown<'_, T> {
    fn text(&self, out: &mut dyn Write, lang: Lang) -> io::Result<()> {
        self.0.selection(out, lang)
    }
    fn json(&self, _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}

impl<T: Staged + ?Sized> Report for Finished<'_, T> {
    fn text(&self, out: &mut dyn Write, lang: Lang) -> io::Result<()> {
        self.0.results(out, lang)
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        self.0.json(out)
    }
}

/// Write the selection of `r` as the user asked, and flush it (it must be seen before any question).
pub fn show(g: &Global, r: &dyn Staged, out: &mut dyn Write) -> Result<(), Failure> {
    report::write(g, &Shown(r), out)
        .and_then(|()| out.flush())
        .map_err(Failure::output)
}

/// Write the results of `r` (the whole document, for JSON) as the user asked.
pub fn finish(g: &Global, r: &dyn Staged, out: &mut dyn Write) -> Result<(), Failure> {
    report::write(g, &Finished(r), out).map_err(Failure::output)
}

/// `LOCAL -> REMOTE` of a socket in a report.
pub fn ends(s: &JSocket) -> (String, String) {
    (
        format!("{}:{}", s.local.ip, s.local.port),
        format!("{}:{}", s.remote.ip, s.remote.port),
    )
}

/// Open the audit log before acting: an action that cannot be recorded is not taken.
pub fn open_audit(lang: Lang, path: Option<&PathBuf>) -> Result<AuditLog, Failure> {
    let path = path.cloned().unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
    AuditLog::open(&path).map_err(|e| {
        let mut f = Failure::io(lang, Msg::FileOpenAuditLog, &path, e);
        f.message
            .push_str(&tr(lang, TreatMsg::AuditChooseAnother, &[]));
        f
    })
}

/// A run that stopped because its audit log could not be written: what was done by then. Worded
/// where the language is known ([`AuditStopped::failure`]).
#[derive(Debug)]
pub struct AuditStopped {
    pub path: PathBuf,
    pub error: io::Error,
    /// Sockets acted on that have an intent record but no outcome record.
    pub unrecorded: usize,
    pub progress: Progress,
}

/// How far a run got before its audit log stopped it.
#[derive(Clone, Copy, Debug)]
pub enum Progress {
    /// Kill: this many sockets were not acted on.
    NotActed(usize),
    /// Keepalive (set or restore): this many sockets changed, of so many.
    Changed { changed: usize, of: usize },
}

impl AuditStopped {
    /// One line in `lang` naming the log, what was done and what to do; exit 77 for a permission
    /// problem, else 74.
    pub fn failure(&self, lang: Lang) -> Failure {
        let exit = if self.error.kind() == io::ErrorKind::PermissionDenied {
            Exit::NoPerm
        } else {
            Exit::Io
        };
        let progress = match self.progress {
            Progress::NotActed(n) => tr(lang, TreatMsg::AuditNotActed, &[&n.to_string()]),
            Progress::Changed { changed, of } => tr(
                lang,
                TreatMsg::AuditChanged,
                &[&changed.to_string(), &of.to_string()],
            ),
        };
        let unrecorded = if self.unrecorded > 0 {
            tr(
                lang,
                TreatMsg::AuditUnrecorded,
                &[&self.unrecorded.to_string()],
            )
        } else {
            String::new()
        };
        let args = [
            &self.path.display().to_string(),
            &io_cause(&self.path, &self.error),
            &progress,
            &unrecorded,
        ];
        Failure::new(
            exit,
            tr(lang, TreatMsg::AuditStopped, &args.map(String::as_str)),
        )
    }
}

pub use sockdoc_act::audit::{now_rfc3339, uid};
