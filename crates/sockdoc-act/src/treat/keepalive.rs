//! Keepalive on a selection: per socket, the owner's fd borrowed and its options read *before* the
//! intent record, so every intent carries the values to put back (a run that dies mid-batch can be
//! undone by `keepalive --restore` from its intents alone); then the change, all or nothing per socket,
//! and the outcome with the values read back. [`KeepaliveRecord`] is the one shape of every
//! `"action":"keepalive"` line (`keepalive`, `--watch`, `reap`).

use std::os::fd::OwnedFd;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use sockdoc_diag::Socket;

use super::{AuditStop, Context};
use crate::audit::{now_rfc3339, Journal, WriteAhead};
use crate::keepalive::{apply_from, borrow, read, Change, Failed, Keepalive, Step};

/// A socket's keepalive options as recorded (`before`, `after`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Options {
    pub keepalive: bool,
    pub idle: u32,
    pub intvl: u32,
    pub cnt: u32,
    pub user_timeout_ms: u32,
}

impl From<&Keepalive> for Options {
    fn from(k: &Keepalive) -> Options {
        Options {
            keepalive: k.enabled,
            idle: k.idle,
            intvl: k.intvl,
            cnt: k.cnt,
            user_timeout_ms: k.user_timeout_ms,
        }
    }
}

/// The options a change writes, as recorded (absent keys are left as they are).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Written {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intvl: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_timeout_ms: Option<u32>,
}

impl From<&Change> for Written {
    fn from(c: &Change) -> Written {
        Written {
            keepalive: c.enabled,
            idle: c.idle,
            intvl: c.intvl,
            cnt: c.cnt,
            user_timeout_ms: c.user_timeout_ms,
        }
    }
}

/// The outcome part of a record.
#[derive(Serialize)]
pub struct KeepaliveOutcome {
    /// `set`, `failed`, or `would set` (a dry run).
    pub outcome: &'static str,
    /// Why not set.
    pub error: Option<String>,
    /// The options read back after writing (`set` only).
    pub after: Option<Options>,
}

/// Every `"action":"keepalive"` record. `about` holds the caller's fields, flattened: at least
/// `"socket"`; `--watch` adds `"watch"`, `reap` its rule.
#[derive(Serialize)]
pub struct KeepaliveRecord<'a, A: Serialize> {
    pub time: String,
    pub action: &'static str,
    pub via: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<&'a str>,
    pub uid: u32,
    pub dry_run: bool,
    #[serde(flatten)]
    pub about: A,
    /// The process and fd the options are written through.
    pub pid: Option<u32>,
    pub fd: Option<u32>,
    pub change: Written,
    /// The options before the change (in the intent already: what a restore puts back); null when
    /// they could not be read.
    pub before: Option<Options>,
    /// Absent in intents.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<KeepaliveOutcome>,
}

impl<'a, A: Serialize> KeepaliveRecord<'a, A> {
    /// A record without outcome (an intent), or a dry run's with `"outcome":"would set"`.
    pub fn new(
        ctx: &Context<'a>,
        change: &Change,
        owner: Option<(u32, u32)>,
        about: A,
        dry_run: bool,
    ) -> KeepaliveRecord<'a, A> {
        KeepaliveRecord {
            time: now_rfc3339(),
            action: "keepalive",
            via: ctx.via,
            filter: ctx.filter,
            uid: ctx.uid,
            dry_run,
            about,
            pid: owner.map(|o| o.0),
            fd: owner.map(|o| o.1),
            change: Written::from(change),
            before: None,
            outcome: dry_run.then_some(KeepaliveOutcome {
                outcome: "would set",
                error: None,
                after: None,
            }),
        }
    }
}

/// What happened to one socket.
#[derive(Clone, Debug)]
pub struct Done {
    pub owner: Option<(u32, u32)>,
    /// The change was made (and read back).
    pub set: bool,
    pub error: Option<String>,
    pub before: Option<Keepalive>,
    pub after: Option<Keepalive>,
}

impl Done {
    pub fn outcome(&self) -> &'static str {
        if self.set {
            "set"
        } else {
            "failed"
        }
    }
}

/// What [`keepalive`] did.
#[derive(Debug)]
pub struct KeepaliveReport {
    /// The sockets acted on, in the order given: all of them, or the first ones when `stopped`.
    pub done: Vec<Done>,
    pub stopped: Option<AuditStop>,
}

/// A socket's owner fd, borrowed, and its options read before the intent (or why not).
type Borrowed = Result<(OwnedFd, Keepalive), Failed>;

/// Why a socket without an owner is not changed.
pub const NO_OWNER: &str = "no process holds it (it closed, or its owner exited)";

/// Apply `change` to `sockets`, recorded ahead in `wa`: per batch, each socket's owner fd
/// (`owner(i)`) is borrowed and its options read, the intents (with those previous values) synced,
/// then the change written, all or nothing per socket ([`apply`]), and the outcomes (with the values
/// read back) synced before the next batch. `about(i)` gives the caller's fields of its records.
pub fn keepalive<A: Serialize, J: Journal + ?Sized>(
    sockets: &[Socket],
    owner: &(dyn Fn(usize) -> Option<(u32, u32)> + Sync),
    about: &(dyn Fn(usize) -> A + Sync),
    change: &Change,
    ctx: &Context,
    wa: &mut WriteAhead<J>,
) -> KeepaliveReport {
    // Borrowed fds and the options read before the intent, by socket (taken by the act). The
    // intents of a batch are built on several threads: a lock per socket.
    let ready: Vec<Mutex<Option<Borrowed>>> =
        (0..sockets.len()).map(|_| Mutex::new(None)).collect();
    let slot = |i: usize| ready[i].lock().unwrap_or_else(PoisonError::into_inner);
    let items: Vec<usize> = (0..sockets.len()).collect();
    // At most two batches' borrowed fds are open at once (the one acted on, the next one's intents).
    crate::pidfd::make_room(sockets.len().min(2 * crate::audit::BATCH_MAX) + 64);
    let acted = wa.act(
        &items,
        |&i| {
            let o = owner(i);
            let mut rec = KeepaliveRecord::new(ctx, change, o, about(i), false);
            if let Some((pid, fd)) = o {
                let got = borrow(pid, fd, sockets[i].inode).and_then(|dup| {
                    let was = read(&dup).map_err(|e| Failed::at(Step::Read, e))?;
                    Ok((dup, was))
                });
                rec.before = got.as_ref().ok().map(|(_, k)| Options::from(k));
                *slot(i) = Some(got);
            }
            rec
        },
        |batch| {
            batch
                .iter()
                .map(|&i| {
                    let o = owner(i);
                    let fail = |error: String, before| Done {
                        owner: o,
                        set: false,
                        error: Some(error),
                        before,
                        after: None,
                    };
                    match slot(i).take() {
                        None => fail(NO_OWNER.to_string(), None),
                        Some(Err(f)) => fail(f.to_string(), f.before),
                        Some(Ok((dup, was))) => match apply_from(&dup, change, was) {
                            Ok(a) => Done {
                                owner: o,
                                set: true,
                                error: None,
                                before: Some(a.before),
                                after: Some(a.after),
                            },
                            Err(f) => fail(f.to_string(), f.before),
                        },
                    }
                })
                .collect()
        },
        |&i, d: &Done| KeepaliveRecord {
            before: d.before.as_ref().map(Options::from),
            outcome: Some(KeepaliveOutcome {
                outcome: d.outcome(),
                error: d.error.clone(),
                after: d.after.as_ref().map(Options::from),
            }),
            ..KeepaliveRecord::new(ctx, change, d.owner, about(i), false)
        },
    );
    match acted {
        Ok(done) => KeepaliveReport {
            done,
            stopped: None,
        },
        Err(st) => KeepaliveReport {
            done: st.done,
            stopped: Some(AuditStop {
                error: st.error,
                unrecorded: st.unrecorded,
            }),
        },
    }
}
