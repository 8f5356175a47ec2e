//! Closing a selection: the kill ladder on every socket, recorded ahead, then one re-read of the kernel
//! that decides what was really closed. The record type [`KillRecord`] is the one shape of every
//! `"action":"kill"` line (intent, outcome, correction, dry run).

use serde::Serialize;
use sockdoc_diag::{DiagSocket, Socket};

use super::{AuditStop, Context, Reread};
use crate::audit::{now_rfc3339, Journal, WriteAhead};
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
/// at least `"socket"`; `reap` adds its rule and why, `ghosts --probe --reap` the verdict.
#[derive(Serialize)]
pub struct KillRecord<'a, A: Serialize> {
    pub time: String,
    pub action: &'static str,
    pub via: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<&'a str>,
    pub uid: u32,
    pub dry_run: bool,
    /// The ladder, in order.
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

/// Kill `sockets` with `how`, recorded ahead in `wa` (intents synced before each batch is acted on,
/// outcomes before the next), then read the kernel again once ([`Reread`]) for every socket acted
/// on: only what is gone (or, after a shutdown, changed state) is [`Verdict::Killed`]; a socket whose
/// rung answered but that the kernel still shows gets a correction outcome record (the last outcome
/// of a socket in a run is the one that counts). `owner(i)` is the (pid, fd) holding `sockets[i]`,
/// asked only when the shutdown rung is reached; `about(i)` the caller's fields of its records.
/// `diag` must be open in the sockets' namespace. A failed re-read is returned as is (the records
/// written stand).
#[allow(clippy::too_many_arguments)]
pub fn kill<A: Serialize, J: Journal + ?Sized, R: Reread>(
    diag: &mut DiagSocket,
    sockets: &[Socket],
    owner: &mut dyn FnMut(usize) -> Option<(u32, u32)>,
    about: &dyn Fn(usize) -> A,
    how: &Ladder,
    ctx: &Context,
    wa: &mut WriteAhead<J>,
    reread: &mut R,
) -> Result<KillReport, R::Error> {
    let methods = names(how.methods);
    let items: Vec<usize> = (0..sockets.len()).collect();
    let acted = wa.act(
        &items,
        |&i| KillRecord::new(ctx, &methods, about(i)),
        |batch| {
            let chosen: Vec<Socket> = batch.iter().map(|&i| sockets[i]).collect();
            ladder(
                diag,
                &chosen,
                &mut |k| owner(batch[k]),
                how.methods,
                &how.rst,
            )
        },
        |&i, tries| KillRecord {
            outcome: Some(KillOutcome::of(
                Verdict::of_attempts(tries),
                tries,
                tries
                    .last()
                    .and_then(|t| t.error.clone())
                    .filter(|_| Verdict::of_attempts(tries) == Verdict::Failed),
            )),
            ..KillRecord::new(ctx, &methods, about(i))
        },
    );
    let (attempts, mut stopped) = match acted {
        Ok(a) => (a, None),
        Err(st) => (
            st.done,
            Some(AuditStop {
                error: st.error,
                unrecorded: st.unrecorded,
            }),
        ),
    };
    let now = reread.present(diag, &sockets[..attempts.len()])?;
    let mut done = Vec::with_capacity(attempts.len());
    let mut corrections = Vec::new();
    for (i, tries) in attempts.into_iter().enumerate() {
        let s = sockets[i];
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
        if verdict != said {
            corrections.push(KillRecord {
                outcome: Some(KillOutcome::of(verdict, &tries, error.clone())),
                ..KillRecord::new(ctx, &methods, about(i))
            });
        }
        done.push(Killed {
            socket: s,
            verdict,
            method: worked,
            error,
            attempts: tries,
        });
    }
    if stopped.is_none() {
        if let Err(error) = wa.outcomes(&corrections) {
            stopped = Some(AuditStop {
                error,
                unrecorded: 0,
            });
        }
    }
    Ok(KillReport { done, stopped })
}
