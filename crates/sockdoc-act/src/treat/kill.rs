//! Closing a selection: the kill ladder on every socket, recorded ahead, each batch read again as soon
//! as it is acted on to decide what was really closed. The record type [`KillRecord`] is the one shape of every
//! `"action":"kill"` line (intent, outcome, dry run).

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Serialize;
use sockdoc_diag::{DiagSocket, Socket, State};

use super::{AuditStop, Context, Reread};
use crate::audit::{now_rfc3339, Journal, WriteAhead};
use crate::beside::diag_helpers;
use crate::kill::{ladder, Attempt, Method, RstOptions};

/// What became of one socket, as the re-read shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A rung worked and the kernel no longer shows the socket (or, after a shutdown, shows it in
    /// another state).
    Killed,
    /// It closed by itself before the ladder reached it (SOCK_DESTROY no longer found it), and the
    /// kernel no longer shows it.
    Gone,
    /// Still there: every rung failed, or one answered but the kernel still shows it unchanged.
    Failed,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Killed => "killed",
            Verdict::Gone => "gone",
            Verdict::Failed => "failed",
        }
    }

    /// The answer of the rungs alone, before the re-read (the first outcome record).
    fn of_attempts(attempts: &[Attempt]) -> Verdict {
        if attempts.iter().any(|t| t.error.is_none()) {
            Verdict::Killed
        } else if !attempts.is_empty() && attempts.iter().all(Attempt::already_gone) {
            Verdict::Gone
        } else {
            Verdict::Failed
        }
    }
}

/// One socket's kill.
#[derive(Clone, Debug)]
pub struct Killed {
    pub socket: Socket,
    pub verdict: Verdict,
    /// The rung that worked, if one did.
    pub method: Option<Method>,
    /// Why not killed (the last rung's error, or what the re-read showed).
    pub error: Option<String>,
    pub attempts: Vec<Attempt>,
}

impl Killed {
    pub fn killed(&self) -> bool {
        self.verdict == Verdict::Killed
    }
}

/// What [`kill`] did.
#[derive(Debug)]
pub struct KillReport {
    /// The sockets acted on, in the order given: all of them, or the first ones when `stopped`.
    pub done: Vec<Killed>,
    pub stopped: Option<AuditStop>,
}

/// One attempt as recorded.
#[derive(Serialize)]
pub struct RecAttempt {
    pub method: &'static str,
    pub error: Option<String>,
    pub note: Option<String>,
}

/// The outcome part of a record.
#[derive(Serialize)]
pub struct KillOutcome {
    /// `killed`, `gone`, `failed`, or `would kill` (a dry run).
    pub outcome: &'static str,
    pub method: Option<&'static str>,
    pub attempts: Vec<RecAttempt>,
    /// Why not killed.
    pub error: Option<String>,
}

impl KillOutcome {
    fn of(verdict: Verdict, attempts: &[Attempt], error: Option<String>) -> KillOutcome {
        KillOutcome {
            outcome: verdict.name(),
            method: attempts
                .iter()
                .find(|t| t.error.is_none())
                .map(|t| t.method.name()),
            attempts: attempts
                .iter()
                .map(|t| RecAttempt {
                    method: t.method.name(),
                    error: t.error.clone(),
                    note: t.note.clone(),
                })
                .collect(),
            error,
        }
    }
}

/// Every `"action":"kill"` record. `about` holds the caller's fields about the socket, flattened:
/// at least `"socket"`; `reap` adds its rule and why, `ghosts --probe --reap` the verdict. An
/// outcome record is lighter ([`KillRecord::outcome`]): it names its socket ([`Named`]) and says
/// what happened; the intent before it (same `run`, same cookie) has the rest.
#[derive(Serialize)]
pub struct KillRecord<'a, A: Serialize> {
    pub time: String,
    pub action: &'static str,
    pub via: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<&'a str>,
    pub uid: u32,
    pub dry_run: bool,
    /// The ladder, in order (not repeated in outcome records).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub methods: &'a [&'static str],
    #[serde(flatten)]
    pub about: A,
    /// Absent in intents.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<KillOutcome>,
}

impl<'a, A: Serialize> KillRecord<'a, A> {
    fn new(ctx: &Context<'a>, methods: &'a [&'static str], about: A) -> KillRecord<'a, A> {
        KillRecord {
            time: now_rfc3339(),
            action: "kill",
            via: ctx.via,
            filter: ctx.filter,
            uid: ctx.uid,
            dry_run: false,
            methods,
            about,
            outcome: None,
        }
    }

    /// An outcome record: the socket named, why it was chosen (`why`), what became of it.
    fn outcome<W: Serialize>(
        ctx: &Context<'a>,
        s: &Socket,
        why: W,
        outcome: KillOutcome,
    ) -> KillRecord<'a, Named<W>> {
        KillRecord {
            time: now_rfc3339(),
            action: "kill",
            via: ctx.via,
            filter: None,
            uid: ctx.uid,
            dry_run: false,
            methods: &[],
            about: Named::of(s, why),
            outcome: Some(outcome),
        }
    }

    /// The record of a dry run: what would be killed (`"outcome":"would kill"`), nothing done.
    pub fn would_kill(
        ctx: &Context<'a>,
        methods: &'a [&'static str],
        about: A,
    ) -> KillRecord<'a, A> {
        KillRecord {
            dry_run: true,
            outcome: Some(KillOutcome {
                outcome: "would kill",
                method: None,
                attempts: Vec::new(),
                error: None,
            }),
            ..KillRecord::new(ctx, methods, about)
        }
    }
}

/// What a caller's kill records say of each socket besides the act.
pub struct Says<'s, A, W> {
    /// The intent's fields, flattened: at least `"socket"` (as `list --json` shows it); `reap` adds
    /// its rule and why, `ghosts --probe --reap` the verdict.
    pub intent: &'s (dyn Fn(usize) -> A + Sync),
    /// Why the socket was chosen, repeated in its outcome record beside the socket named ([`Named`]);
    /// [`Nothing`] when the caller has nothing to add.
    pub why: &'s (dyn Fn(usize) -> W + Sync),
}

/// No more fields.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Nothing {}

/// The socket as an outcome record names it (its cookie and both ends: enough to read the line on its
/// own and to find its intent, same `run` and cookie) and the caller's `why`, at a third of a full
/// socket's bytes (a 100k-socket kill writes 100k outcome lines).
#[derive(Serialize)]
pub struct Named<W> {
    pub socket: SocketRef,
    #[serde(flatten)]
    pub why: W,
}

/// A socket's identity and the state it was acted on in:
/// `"socket":{"cookie":…,"state":…,"local":{"ip":…,"port":…},"remote":{…}}`.
#[derive(Serialize)]
pub struct SocketRef {
    pub cookie: u64,
    /// As `list --json` writes it (`established`, `close-wait`, …).
    pub state: &'static str,
    pub local: End,
    pub remote: End,
}

/// One end of a connection, as `list --json` writes it.
#[derive(Serialize)]
pub struct End {
    pub ip: IpAddr,
    pub port: u16,
}

impl SocketRef {
    pub fn of(s: &Socket) -> SocketRef {
        SocketRef {
            cookie: s.cookie,
            state: s.state.key(),
            local: End {
                ip: s.local_ip(),
                port: s.local_port,
            },
            remote: End {
                ip: s.remote_ip(),
                port: s.remote_port,
            },
        }
    }
}

impl<W> Named<W> {
    pub fn of(s: &Socket, why: W) -> Named<W> {
        Named {
            socket: SocketRef::of(s),
            why,
        }
    }
}

/// The names of a ladder's rungs, for the records.
pub fn names(methods: &[Method]) -> Vec<&'static str> {
    methods.iter().map(|m| m.name()).collect()
}

/// How to kill: the ladder and its `rst` options.
#[derive(Clone, Copy, Debug)]
pub struct Ladder<'a> {
    pub methods: &'a [Method],
    pub rst: RstOptions,
}

/// Kill `sockets` with `how`, recorded ahead in `wa`: each batch's intents are durable before it is
/// acted on; the batch is then read again at once ([`Reread`]), and its outcome records say what the
/// kernel shows: only what is gone (or, after a shutdown, changed state) is [`Verdict::Killed`].
/// `owner(i)` is the (pid, fd) holding `sockets[i]`, asked only when the shutdown rung is reached;
/// `says` gives the caller's fields of the records ([`Says`]).
/// `diag` must be open in the sockets' namespace; a large selection is shared out to more sock_diag
/// sockets opened beside it, a thread each ([`diag_helpers`]).
#[allow(clippy::too_many_arguments)]
pub fn kill<A, W, J, R>(
    diag: &mut DiagSocket,
    sockets: &[Socket],
    owner: &mut dyn FnMut(usize) -> Option<(u32, u32)>,
    says: &Says<A, W>,
    how: &Ladder,
    ctx: &Context,
    wa: &mut WriteAhead<J>,
    reread: &mut R,
) -> KillReport
where
    A: Serialize,
    W: Serialize,
    J: Journal + ?Sized,
    R: Reread,
{
    let methods = names(how.methods);
    let items: Vec<usize> = (0..sockets.len()).collect();
    let mut helpers = diag_helpers(diag, sockets.len());
    let mut diags: Vec<&mut DiagSocket> = std::iter::once(diag).chain(&mut helpers).collect();
    let acted = wa.act(
        &items,
        |&i| KillRecord::new(ctx, &methods, (says.intent)(i)),
        |batch| {
            let chosen: Vec<Socket> = batch.iter().map(|&i| sockets[i]).collect();
            let owner = &mut |k: usize| owner(batch[k]);
            let tries = ladder(&mut diags, &chosen, owner, how.methods, &how.rst);
            let now = reread.present(&mut diags, &chosen);
            let judged = chosen.iter().zip(tries);
            judged.map(|(s, t)| judge(*s, t, &now)).collect()
        },
        |&i, k: &Killed| {
            let o = KillOutcome::of(k.verdict, &k.attempts, k.error.clone());
            KillRecord::<A>::outcome(ctx, &sockets[i], (says.why)(i), o)
        },
    );
    match acted {
        Ok(done) => KillReport {
            done,
            stopped: None,
        },
        Err(st) => KillReport {
            done: st.done,
            stopped: Some(AuditStop {
                error: st.error,
                unrecorded: st.unrecorded,
            }),
        },
    }
}

/// What became of `s` after the rungs `tries`, by what the kernel shows now (`now`, by cookie).
fn judge(s: Socket, tries: Vec<Attempt>, now: &HashMap<u64, State>) -> Killed {
    let said = Verdict::of_attempts(&tries);
    let worked = tries.iter().find(|t| t.error.is_none()).map(|t| t.method);
    let gone = match now.get(&s.cookie) {
        None => true,
        Some(st) => worked == Some(Method::Shutdown) && *st != s.state,
    };
    let (verdict, error) = match (said, gone) {
        (Verdict::Failed, _) => (Verdict::Failed, tries.last().and_then(|t| t.error.clone())),
        (v, true) => (v, None),
        (Verdict::Killed, false) => (
            Verdict::Failed,
            Some("the kernel still shows it unchanged".to_string()),
        ),
        (Verdict::Gone, false) => (
            Verdict::Failed,
            Some("SOCK_DESTROY did not find it, yet the kernel still shows it".to_string()),
        ),
    };
    Killed {
        socket: s,
        verdict,
        method: worked,
        error,
        attempts: tries,
    }
}
