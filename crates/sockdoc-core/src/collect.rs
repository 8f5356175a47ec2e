//! Running the dumps of a census: the netlink dumps of one namespace in parallel (TCP/UDP × IPv4/IPv6;
//! TCP of both families in one walk of the kernel's table where it can, [`DumpRequest::both_families`]).
//! Callers (the [`crate::session`]) get each socket through a per-dump accumulator, so counting views
//! never store sockets and listing views store only what they keep.

use std::time::{Duration, Instant};

use sockdoc_diag::{
    DiagError, DiagSocket, DumpEvent, DumpRequest, Family, Proto, Socket, State, ALL_STATES_MASK,
};
use sockdoc_proc::sockstat::SockStat;
use sockdoc_proc::{Netns, NetnsError};

/// What to dump.
#[derive(Clone, Debug)]
pub struct CensusSpec {
    pub tcp: bool,
    pub udp: bool,
    pub v4: bool,
    pub v6: bool,
    /// Ask the kernel for tcp_info (idle times, retransmits, RTT).
    pub tcp_info: bool,
    /// Kernel state mask (`idiag_states`).
    pub states: u32,
    /// Compiled kernel filter; dropped (with a note) if the kernel refuses it.
    pub bytecode: Option<Vec<u8>>,
}

impl Default for CensusSpec {
    fn default() -> Self {
        CensusSpec {
            tcp: true,
            udp: true,
            v4: true,
            v6: true,
            tcp_info: false,
            states: ALL_STATES_MASK,
            bytecode: None,
        }
    }
}

impl CensusSpec {
    /// The dump requests, in output order: TCP v4, TCP v6, UDP v4, UDP v6.
    pub fn requests(&self) -> Vec<DumpRequest> {
        let mut out = Vec::with_capacity(4);
        for (proto, on) in [(Proto::Tcp, self.tcp), (Proto::Udp, self.udp)] {
            for (family, fon) in [(Family::V4, self.v4), (Family::V6, self.v6)] {
                if on && fon {
                    out.push(DumpRequest {
                        proto,
                        family,
                        states: self.states,
                        tcp_info: self.tcp_info && proto == Proto::Tcp,
                        bytecode: self.bytecode.clone(),
                        both_families: false,
                    });
                }
            }
        }
        out
    }
}

/// Why a census could not run.
#[derive(Debug, thiserror::Error)]
pub enum CensusError {
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("{proto} {family} socket dump failed: {err}")]
    Dump {
        proto: &'static str,
        family: &'static str,
        err: DiagError,
    },
    #[error("cannot walk /proc for socket owners: {0}")]
    Proc(std::io::Error),
}

/// What a dump's accumulator is told when it is made.
#[derive(Clone, Copy, Debug)]
pub struct DumpHint {
    pub proto: Proto,
    pub family: Family,
    /// The kernel's own count of such sockets (`/proc/net/sockstat`), an upper bound for sizing
    /// buffers when the dump is unfiltered; 0 when unknown.
    pub estimate: usize,
}

/// One dump's accumulator and counters.
pub struct DumpResult<A> {
    pub proto: Proto,
    pub family: Family,
    pub acc: A,
    pub sockets: usize,
}

/// Everything a census produced besides the accumulators.
pub struct Census<A> {
    pub dumps: Vec<DumpResult<A>>,
    /// Degradations the user should know about (one line each).
    pub notes: Vec<String>,
    pub elapsed: Duration,
}

/// Run the dumps of `spec` inside `netns` (`None` = the caller's namespace), each in its own thread with a
/// fresh accumulator from `make` (told what the dump is and how big it may get), fed by `feed`.
pub fn run<A, M, F>(
    spec: &CensusSpec,
    netns: Option<&Netns>,
    make: M,
    feed: F,
) -> Result<Census<A>, CensusError>
where
    A: Send,
    M: Fn(DumpHint) -> A + Sync,
    F: Fn(&mut A, &Socket) + Sync,
{
    let started = Instant::now();
    let requests = spec.requests();
    // One thread a job: the TCP dumps of both families are one job (one walk when the kernel
    // takes it), every other dump a job of its own. Results stay in the order of `requests`.
    let mut jobs: Vec<&[DumpRequest]> = Vec::with_capacity(requests.len());
    let mut rest = requests.as_slice();
    while !rest.is_empty() {
        let n = match rest {
            [a, b, ..] if a.proto == Proto::Tcp && b.proto == Proto::Tcp => 2,
            _ => 1,
        };
        jobs.push(&rest[..n]);
        rest = &rest[n..];
    }
    let dumps: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|job| {
                let make = &make;
                let feed = &feed;
                scope.spawn(move || dump_job(job, netns, make, feed))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut notes = Vec::new();
    let mut results = Vec::with_capacity(dumps.len());
    for d in dumps {
        match d? {
            DumpOutcome::Done(r, note) => {
                notes.extend(note);
                results.push(r);
            }
            DumpOutcome::Unavailable(note) => notes.push(note),
        }
    }
    Ok(Census {
        dumps: results,
        notes,
        elapsed: started.elapsed(),
    })
}

/// The namespace's own counts (`st`, read just before) say this dump can only come back empty: no
/// socket of the family in use (a dump sees only hashed sockets: listening, connected, and for TCP
/// the TIME-WAIT and SYN-RECV ones), and no TIME-WAIT socket that it could ask for. Skipping it saves
/// the kernel a walk of the whole established hash table (262,144 buckets on a common host, ~3 ms
/// per dump even in an empty namespace), the cost of every IPv6 dump on a host without IPv6 sockets.
/// A socket made between the count and the dump is missed, as one made just after a dump would be.
fn surely_empty(req: &DumpRequest, st: &SockStat) -> bool {
    let wants_tw = req.states & State::TimeWait.mask_bit() != 0;
    // The IPv4 file holds the TIME-WAIT count of both families.
    let known = st.read_v4 && (req.family == Family::V4 || st.read_v6);
    known
        && match (req.proto, req.family) {
            (Proto::Tcp, Family::V4) => st.tcp_inuse == 0 && (!wants_tw || st.tcp_tw == 0),
            (Proto::Tcp, Family::V6) => st.tcp6_inuse == 0 && (!wants_tw || st.tcp_tw == 0),
            (Proto::Udp, Family::V4) => st.udp_inuse == 0,
            (Proto::Udp, Family::V6) => st.udp6_inuse == 0,
        }
}

enum DumpOutcome<A> {
    Done(DumpResult<A>, Option<String>),
    Unavailable(String),
}

/// The dumps of one job (see [`run`]), in a thread of their own, inside `netns`.
fn dump_job<A, M, F>(
    job: &[DumpRequest],
    netns: Option<&Netns>,
    make: &M,
    feed: &F,
) -> Vec<Result<DumpOutcome<A>, CensusError>>
where
    M: Fn(DumpHint) -> A,
    F: Fn(&mut A, &Socket),
{
    if let Some(ns) = netns {
        if let Err(e) = crate::session::scope::enter(ns) {
            return vec![Err(e.into())];
        }
    }
    let st = SockStat::read();
    if let [v4, v6] = job {
        // One of them surely empty: the other alone is one walk already.
        if !surely_empty(v4, &st) && !surely_empty(v6, &st) {
            if let Some(both) = dump_both(v4, v6, &st, make, feed) {
                return both;
            }
        }
    }
    job.iter().map(|r| dump_one(r, &st, make, feed)).collect()
}

/// What `make` is told of `req`: the kernel's count of such sockets (`st`) as its size.
fn hint(req: &DumpRequest, st: &SockStat) -> DumpHint {
    let estimate = match (req.proto, req.family) {
        (Proto::Tcp, Family::V4) => st.tcp_inuse + st.tcp_tw,
        (Proto::Tcp, Family::V6) => st.tcp6_inuse,
        (Proto::Udp, Family::V4) => st.udp_inuse,
        (Proto::Udp, Family::V6) => st.udp6_inuse,
    };
    DumpHint {
        proto: req.proto,
        family: req.family,
        // Request sockets and sockets born during the dump are not in the count: leave some room.
        estimate: (estimate + estimate / 16 + 64) as usize,
    }
}

/// The TCP dumps `v4` and `v6` as one ([`DumpRequest::both_families`]), each socket fed to the
/// accumulator of its family. `None` when the kernel refuses the request (or its filter program):
/// the caller then dumps each family on its own.
fn dump_both<A, M, F>(
    v4: &DumpRequest,
    v6: &DumpRequest,
    st: &SockStat,
    make: &M,
    feed: &F,
) -> Option<Vec<Result<DumpOutcome<A>, CensusError>>>
where
    M: Fn(DumpHint) -> A,
    F: Fn(&mut A, &Socket),
{
    let (h4, h6) = (hint(v4, st), hint(v6, st));
    let fail = |err: DiagError| CensusError::Dump {
        proto: v4.proto.name(),
        family: "ipv4+ipv6",
        err,
    };
    let mut sock = match DiagSocket::open() {
        Ok(s) => s,
        Err(e) => return Some(vec![Err(fail(e))]),
    };
    let req = DumpRequest {
        both_families: true,
        ..v4.clone()
    };
    let (mut a4, mut a6) = (make(h4), make(h6));
    let (mut n4, mut n6) = (0, 0);
    let result = sock.dump(&req, &mut |ev| match ev {
        DumpEvent::Socket(s) if s.family == Family::V4 => {
            n4 += 1;
            feed(&mut a4, s);
        }
        DumpEvent::Socket(s) => {
            n6 += 1;
            feed(&mut a6, s);
        }
        DumpEvent::Restart => {
            (a4, a6) = (make(h4), make(h6));
            (n4, n6) = (0, 0);
        }
    });
    match result {
        Ok(_) => {
            let done = |family, acc, sockets| {
                let r = DumpResult {
                    proto: Proto::Tcp,
                    family,
                    acc,
                    sockets,
                };
                Ok(DumpOutcome::Done(r, None))
            };
            Some(vec![done(Family::V4, a4, n4), done(Family::V6, a6, n6)])
        }
        Err(DiagError::Kernel(_)) => None,
        Err(e) => Some(vec![Err(fail(e))]),
    }
}

/// One dump, in a thread already inside its namespace; `st` the namespace's counts.
fn dump_one<A, M, F>(
    req: &DumpRequest,
    st: &SockStat,
    make: &M,
    feed: &F,
) -> Result<DumpOutcome<A>, CensusError>
where
    M: Fn(DumpHint) -> A,
    F: Fn(&mut A, &Socket),
{
    let hint = hint(req, st);
    if surely_empty(req, st) {
        let acc = make(hint);
        let (proto, family) = (req.proto, req.family);
        let empty = DumpResult {
            proto,
            family,
            acc,
            sockets: 0,
        };
        return Ok(DumpOutcome::Done(empty, None));
    }
    let fail = |err: DiagError| CensusError::Dump {
        proto: req.proto.name(),
        family: req.family.name(),
        err,
    };
    let mut sock = DiagSocket::open().map_err(fail)?;
    let mut note = None;
    let mut req = req.clone();
    loop {
        let mut acc = make(hint);
        let result = sock.dump(&req, &mut |ev| match ev {
            DumpEvent::Socket(s) => feed(&mut acc, s),
            DumpEvent::Restart => acc = make(hint),
        });
        match result {
            Ok(stats) => {
                return Ok(DumpOutcome::Done(
                    DumpResult {
                        proto: req.proto,
                        family: req.family,
                        acc,
                        sockets: stats.sockets,
                    },
                    note,
                ))
            }
            // A kernel that refuses our filter program: filter in user space instead.
            Err(DiagError::Kernel(libc::EINVAL)) if req.bytecode.is_some() => {
                req.bytecode = None;
                note = Some(format!(
                    "the kernel refused the {} {} filter program; filtering in user space",
                    req.proto.name(),
                    req.family.name()
                ));
            }
            // No handler for this family/protocol (IPv6 disabled, udp_diag not built).
            Err(DiagError::Kernel(libc::ENOENT)) | Err(DiagError::Kernel(libc::EAFNOSUPPORT)) => {
                return Ok(DumpOutcome::Unavailable(format!(
                    "{} {} sockets are not available from this kernel (module not loaded or family disabled)",
                    req.proto.name(),
                    req.family.name()
                )))
            }
            Err(err) => return Err(fail(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(proto: Proto, family: Family, states: u32) -> DumpRequest {
        DumpRequest {
            states,
            ..DumpRequest::all(proto, family)
        }
    }

    #[test]
    fn only_a_dump_the_counts_prove_empty_is_skipped() {
        let est = State::Established.mask_bit();
        let tw = State::TimeWait.mask_bit();
        let st = SockStat {
            tcp_inuse: 5,
            tcp_tw: 3,
            read_v4: true,
            read_v6: true,
            ..SockStat::default()
        };
        // No IPv6 socket in use: an IPv6 dump of ESTABLISHED is empty, one of TIME-WAIT may not be.
        assert!(surely_empty(&req(Proto::Tcp, Family::V6, est), &st));
        assert!(!surely_empty(&req(Proto::Tcp, Family::V6, est | tw), &st));
        assert!(!surely_empty(&req(Proto::Tcp, Family::V4, est), &st));
        assert!(surely_empty(
            &req(Proto::Udp, Family::V4, ALL_STATES_MASK),
            &st
        ));
        // Without TIME-WAIT sockets, an IPv6 dump of every state is empty too.
        let quiet = SockStat { tcp_tw: 0, ..st };
        assert!(surely_empty(
            &req(Proto::Tcp, Family::V6, ALL_STATES_MASK),
            &quiet
        ));
        // Counts that could not be read prove nothing.
        let unread = SockStat {
            read_v6: false,
            ..st
        };
        assert!(!surely_empty(&req(Proto::Tcp, Family::V6, est), &unread));
        assert!(!surely_empty(
            &req(Proto::Tcp, Family::V4, est),
            &SockStat::default()
        ));
    }
}
