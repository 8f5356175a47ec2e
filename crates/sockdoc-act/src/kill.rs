//! The kill ladder. Rung 1, `destroy`: SOCK_DESTROY over sock_diag (needs CONFIG_INET_DIAG_DESTROY and
//! CAP_NET_ADMIN; works on sockets no process holds). Rung 2, `shutdown`: borrow the owner's fd and
//! shutdown(SHUT_RDWR), for kernels without SOCK_DESTROY. Rung 3, `rst`: the killcx method — learn the
//! connection's sequence numbers from a challenge ACK ([`crate::challenge`]) and forge the RST the
//! peer would send (and, when asked, the one the socket would send to the peer); it needs neither
//! SOCK_DESTROY nor an owner, only raw sockets (CAP_NET_RAW). Every attempt is recorded with its
//! error, so the caller can say which rung worked and why the others did not — `ss -K` fails
//! silently; we never do.

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use sockdoc_diag::bulk::destroy_spread;
use sockdoc_diag::{DiagSocket, Socket};

use crate::challenge::{not_applicable, Challenger, Learned, Target};
use crate::pidfd::borrow_socket;
use crate::raw::{Segment, RST};

/// A way to kill a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Destroy,
    Shutdown,
    Rst,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Destroy => "destroy",
            Method::Shutdown => "shutdown",
            Method::Rst => "rst",
        }
    }
}

/// One rung tried on one socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub method: Method,
    /// `None` when the rung worked.
    pub error: Option<String>,
    /// What the rung did, when there is more to say (the `rst` rung: the sequence numbers used).
    pub note: Option<String>,
}

/// How the `rst` rung works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RstOptions {
    /// Also forge a RST to the peer, so the remote end closes now rather than at its next send.
    pub tell_peer: bool,
    /// Questions per socket before giving up (each after the kernel's per-socket rate-limit interval).
    pub tries: u32,
    /// How long to wait for the answers of a round after the last question.
    pub answer_wait: Duration,
}

impl Default for RstOptions {
    fn default() -> RstOptions {
        RstOptions {
            tell_peer: false,
            tries: 3,
            answer_wait: Duration::from_millis(200),
        }
    }
}

/// Explain a SOCK_DESTROY failure in the user's terms.
fn destroy_error(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EOPNOTSUPP) => {
            "the kernel was built without CONFIG_INET_DIAG_DESTROY".to_string()
        }
        Some(libc::EPERM) | Some(libc::EACCES) => "needs CAP_NET_ADMIN (run as root)".to_string(),
        Some(libc::ENOENT) => ALREADY_GONE.to_string(),
        _ => e.to_string(),
    }
}

/// SOCK_DESTROY's answer when the socket closed by itself between the census and the kill.
pub const ALREADY_GONE: &str = "the socket is already gone";

impl Attempt {
    /// SOCK_DESTROY did not find the socket: it closed by itself first.
    pub fn already_gone(&self) -> bool {
        self.method == Method::Destroy && self.error.as_deref() == Some(ALREADY_GONE)
    }
}

/// Try `methods` in order on `s` until one works. `diag` must be open in the socket's namespace;
/// `owner` is a (pid, fd) holding it, when one is known.
pub fn kill(
    diag: &mut DiagSocket,
    s: &Socket,
    owner: Option<(u32, u32)>,
    methods: &[Method],
) -> Vec<Attempt> {
    kill_many(diag, &[(*s, owner)], methods, &RstOptions::default())
        .pop()
        .unwrap_or_default()
}

/// Try `methods` in order on every socket of `items` (socket, owner) until one works for it; see
/// [`ladder`]. Returns the attempts of each socket, in the order of `items`.
pub fn kill_many(
    diag: &mut DiagSocket,
    items: &[(Socket, Option<(u32, u32)>)],
    methods: &[Method],
    opts: &RstOptions,
) -> Vec<Vec<Attempt>> {
    let sockets: Vec<Socket> = items.iter().map(|(s, _)| *s).collect();
    ladder(&mut [diag], &sockets, &mut |i| items[i].1, methods, opts)
}

/// The ladder on every socket of `sockets`, rung by rung: SOCK_DESTROY in bulk ([`crate::destroy`]),
/// the `rst` rung questioning all remaining sockets at once. A socket SOCK_DESTROY no longer finds
/// closed by itself and gets no further rung. `owner(i)`, the (pid, fd) holding `sockets[i]`, is asked
/// only when the `shutdown` rung is reached (so an owner walk can wait until it is needed). `diags`
/// must be open in the sockets' namespace: SOCK_DESTROY is shared out to all of them, a thread each
/// ([`sockdoc_diag::bulk::destroy_spread`]); the raw sockets of the `rst` rung are opened beside the
/// first.
pub fn ladder(
    diags: &mut [&mut DiagSocket],
    sockets: &[Socket],
    owner: &mut dyn FnMut(usize) -> Option<(u32, u32)>,
    methods: &[Method],
    opts: &RstOptions,
) -> Vec<Vec<Attempt>> {
    let mut attempts: Vec<Vec<Attempt>> = vec![Vec::new(); sockets.len()];
    let mut pending: Vec<usize> = (0..sockets.len()).collect();
    for &method in methods {
        if pending.is_empty() {
            break;
        }
        let tried: Vec<Attempt> = match method {
            Method::Destroy => {
                let batch: Vec<Socket> = pending.iter().map(|&i| sockets[i]).collect();
                destroy_spread(diags, &batch)
                    .into_iter()
                    .map(|r| Attempt {
                        method,
                        error: r.err().map(|e| destroy_error(&e)),
                        note: None,
                    })
                    .collect()
            }
            Method::Shutdown => pending
                .iter()
                .map(|&i| Attempt {
                    method,
                    error: shutdown_error(&sockets[i], owner(i)),
                    note: None,
                })
                .collect(),
            Method::Rst => {
                let batch: Vec<Socket> = pending.iter().map(|&i| sockets[i]).collect();
                match diags.first_mut() {
                    Some(diag) => rst_all(diag, &batch, opts),
                    None => vec![no_diag(method); batch.len()],
                }
            }
        };
        for (&i, a) in pending.iter().zip(tried) {
            attempts[i].push(a);
        }
        pending.retain(|&i| {
            attempts[i]
                .last()
                .is_some_and(|a| a.error.is_some() && !a.already_gone())
        });
    }
    attempts
}

/// A rung that needs a sock_diag socket and was given none.
fn no_diag(method: Method) -> Attempt {
    Attempt {
        method,
        error: Some("no sock_diag socket to act through".to_string()),
        note: None,
    }
}

fn shutdown_error(s: &Socket, owner: Option<(u32, u32)>) -> Option<String> {
    let Some((pid, fd)) = owner.filter(|_| s.inode != 0) else {
        return Some("no process holds this socket (TIME-WAIT, request or orphan)".to_string());
    };
    shutdown(pid, fd, s.inode)
        .err()
        .map(|e| match e.raw_os_error() {
            Some(libc::EPERM) => "borrowing the owner's fd needs root (ptrace access)".to_string(),
            Some(libc::ENOSYS) => "pidfd_getfd needs Linux 5.6 or newer".to_string(),
            _ => e.to_string(),
        })
}

/// shutdown(SHUT_RDWR) on the owner's socket: FIN to the peer, EOF to the owner.
fn shutdown(pid: u32, fd: u32, inode: u32) -> io::Result<()> {
    let dup = borrow_socket(pid, fd, inode)?;
    // SAFETY: valid socket fd.
    if unsafe { libc::shutdown(dup.as_raw_fd(), libc::SHUT_RDWR) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Open the raw sockets in `diag`'s namespace.
pub fn challenger_like(diag: &DiagSocket) -> io::Result<Challenger> {
    // SAFETY: the fd belongs to `diag`, which outlives this call.
    let fd = unsafe { BorrowedFd::borrow_raw(diag.as_raw_fd()) };
    Challenger::open_like(fd)
}

/// The `rst` rung on every socket of `sockets`, one attempt each.
fn rst_all(diag: &mut DiagSocket, sockets: &[Socket], opts: &RstOptions) -> Vec<Attempt> {
    let fail = |e: String| Attempt {
        method: Method::Rst,
        error: Some(e),
        note: None,
    };
    let mut out: Vec<Option<Attempt>> = sockets
        .iter()
        .map(|s| not_applicable(s, false).map(fail))
        .collect();
    if out.iter().all(Option::is_some) {
        return out.into_iter().flatten().collect();
    }
    let mut session = match challenger_like(diag) {
        Ok(s) => s,
        Err(e) => {
            return out
                .into_iter()
                .map(|a| a.unwrap_or_else(|| fail(e.to_string())))
                .collect()
        }
    };
    for (s, a) in sockets.iter().zip(out.iter_mut()) {
        if a.is_none() {
            *a = not_applicable(s, session.limits.rfc1337).map(fail);
        }
    }
    let targets: Vec<Target> = sockets.iter().map(Target::of).collect();
    let mut remaining: Vec<usize> = (0..sockets.len()).filter(|&i| out[i].is_none()).collect();
    let mut why: Vec<Option<String>> = vec![None; sockets.len()];
    let mut notes: Vec<Option<String>> = vec![None; sockets.len()];
    let mut last_round: Option<Instant> = None;
    let tries = opts.tries.max(1);
    for round in 1..=tries {
        if remaining.is_empty() {
            break;
        }
        if let Some(t) = last_round {
            let next = t + session.limits.retry_after();
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
        }
        let answers = session.learn_round(&targets, &remaining, opts.answer_wait);
        last_round = Some(Instant::now());
        for &i in &remaining {
            match answers.get(&i) {
                Some(Ok(l)) => {
                    let (note, err) = forge(&session, &targets[i], l, opts.tell_peer, round);
                    notes[i] = Some(note);
                    why[i] = err;
                }
                Some(Err(e)) => why[i] = Some(e.clone()),
                None => why[i] = Some(session.silent(round)),
            }
        }
        // The forged segments were processed as they were sent (loopback and veth deliver at once);
        // read the kernel to see which sockets are gone.
        let present = match still_there(diag, sockets, &remaining) {
            Ok(p) => p,
            Err(e) => {
                for &i in &remaining {
                    why[i] = Some(format!("cannot read the socket table back: {e}"));
                }
                break;
            }
        };
        remaining.retain(|i| {
            if present.contains(&sockets[*i].cookie) {
                if why[*i].is_none() {
                    why[*i] = Some(format!(
                        "the forged RST was not accepted after {round} tries (the connection kept moving, or a firewall drops it)"
                    ));
                }
                true
            } else {
                out[*i] = Some(Attempt {
                    method: Method::Rst,
                    error: None,
                    note: notes[*i].take(),
                });
                false
            }
        });
    }
    for i in remaining {
        out[i] = Some(Attempt {
            method: Method::Rst,
            error: why[i].take().or_else(|| Some(session.silent(tries))),
            note: notes[i].take(),
        });
    }
    out.into_iter()
        .map(|a| a.unwrap_or_else(|| fail("not tried".to_string())))
        .collect()
}

/// Forge the RST the peer would send (seq = the socket's `rcv_nxt`) and, with `tell_peer`, the one
/// the socket would send (seq = its `snd_nxt`). Returns a note for the record and an error when the
/// RST to the socket could not be sent.
fn forge(
    session: &Challenger,
    t: &Target,
    l: &Learned,
    tell_peer: bool,
    round: u32,
) -> (String, Option<String>) {
    let to_socket = Segment {
        src: t.remote,
        dst: t.local,
        seq: l.rcv_nxt,
        ack: 0,
        flags: RST,
        window: 0,
        payload: 0,
    };
    let mut note = format!(
        "challenge ACK{}: snd_nxt {}, rcv_nxt {}; RST to the socket with seq {}",
        if round > 1 {
            format!(" (try {round})")
        } else {
            String::new()
        },
        l.snd_nxt,
        l.rcv_nxt,
        l.rcv_nxt
    );
    if let Err(e) = session.send(t, &to_socket) {
        return (note, Some(format!("cannot send the forged RST: {e}")));
    }
    if tell_peer {
        let to_peer = Segment {
            src: t.local,
            dst: t.remote,
            seq: l.snd_nxt,
            ..to_socket
        };
        match session.send(t, &to_peer) {
            Ok(()) => note.push_str(&format!("; RST to the peer with seq {}", l.snd_nxt)),
            Err(e) => note.push_str(&format!("; the RST to the peer could not be sent: {e}")),
        }
    }
    (note, None)
}

/// Cookies of `sockets[i]` (`i` in `which`) the kernel still has, each asked for by its 4-tuple and
/// cookie (`DiagSocket::lookup_all`); one that cannot be asked for counts as still there, and
/// when none can, the error is returned.
fn still_there(
    diag: &mut DiagSocket,
    sockets: &[Socket],
    which: &[usize],
) -> std::io::Result<HashSet<u64>> {
    let asked: Vec<Socket> = which.iter().map(|&i| sockets[i]).collect();
    let now = diag.lookup_all(&asked);
    let mut present = HashSet::new();
    let (mut failed, mut errors) = (None, 0);
    for (s, r) in asked.iter().zip(now) {
        match r {
            Ok(None) => {}
            Ok(Some(_)) => {
                present.insert(s.cookie);
            }
            Err(e) => {
                present.insert(s.cookie);
                errors += 1;
                failed.get_or_insert(e);
            }
        }
    }
    match failed {
        Some(e) if errors == asked.len() => Err(e),
        _ => Ok(present),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::{ErrorKind, Read, Write};
    use std::net::{TcpListener, TcpStream};

    use sockdoc_diag::{DumpEvent, DumpRequest, Proto, State};

    pub(crate) fn find(diag: &mut DiagSocket, local_port: u16, remote_port: u16) -> Option<Socket> {
        find_in(diag, sockdoc_diag::Family::V4, local_port, remote_port)
    }

    fn find_in(
        diag: &mut DiagSocket,
        family: sockdoc_diag::Family,
        local_port: u16,
        remote_port: u16,
    ) -> Option<Socket> {
        let mut found = None;
        diag.dump(&DumpRequest::all(Proto::Tcp, family), &mut |ev| {
            if let DumpEvent::Socket(s) = ev {
                if s.local_port == local_port && s.remote_port == remote_port {
                    found = Some(*s);
                }
            }
        })
        .expect("dump");
        found
    }

    #[test]
    fn rst_resets_established_both_ends_and_time_wait() {
        std::thread::spawn(|| {
            crate::raw::testing::private_netns();
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = l.local_addr().expect("addr").port();
            let mut client = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
            let (mut server, peer) = l.accept().expect("accept");
            client.write_all(b"hello").expect("write");
            let mut buf = [0u8; 5];
            server.read_exact(&mut buf).expect("read");
            let mut diag = DiagSocket::open().expect("diag");
            let s = find(&mut diag, port, peer.port()).expect("server end");
            assert_eq!(s.state, State::Established);
            let opts = RstOptions {
                tell_peer: true,
                ..RstOptions::default()
            };
            let tries = kill_many(&mut diag, &[(s, None)], &[Method::Rst], &opts).remove(0);
            assert_eq!(tries.len(), 1, "{tries:?}");
            assert_eq!(tries[0].error, None, "{tries:?}");
            let note = tries[0].note.clone().expect("note");
            assert!(note.contains("RST to the peer"), "{note}");
            assert!(
                find(&mut diag, port, peer.port()).is_none(),
                "server end gone"
            );
            assert!(
                find(&mut diag, peer.port(), port).is_none(),
                "client end gone"
            );
            for (who, mut end) in [("server", &server), ("client", &client)] {
                end.set_read_timeout(Some(Duration::from_secs(2)))
                    .expect("timeout");
                let e = end.read(&mut buf).expect_err(who);
                assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{who}: {e}");
            }

            // TIME-WAIT: the server closes first.
            let c2 = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
            let (s2, p2) = l.accept().expect("accept");
            drop(s2);
            std::thread::sleep(Duration::from_millis(50));
            drop(c2);
            std::thread::sleep(Duration::from_millis(50));
            let tw = find(&mut diag, port, p2.port()).expect("TIME-WAIT entry");
            assert_eq!(tw.state, State::TimeWait);
            let tries = kill(&mut diag, &tw, None, &[Method::Shutdown, Method::Rst]);
            assert_eq!(tries.len(), 2, "{tries:?}");
            assert!(
                tries[0].error.is_some(),
                "shutdown needs an owner: {tries:?}"
            );
            assert_eq!(tries[1].error, None, "{tries:?}");
            assert!(find(&mut diag, port, p2.port()).is_none(), "TIME-WAIT gone");
            // A listener has no peer.
            let ls = find(&mut diag, port, 0).expect("listener");
            let tries = kill(&mut diag, &ls, None, &[Method::Rst]);
            assert!(
                tries[0]
                    .error
                    .as_deref()
                    .is_some_and(|e| e.contains("listener")),
                "{tries:?}"
            );
        })
        .join()
        .expect("test thread");
    }

    #[test]
    fn rst_resets_an_ipv6_connection() {
        std::thread::spawn(|| {
            crate::raw::testing::private_netns();
            let l = TcpListener::bind("[::1]:0").expect("bind ::1");
            let port = l.local_addr().expect("addr").port();
            let client = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
            let (mut server, peer) = l.accept().expect("accept");
            let mut diag = DiagSocket::open().expect("diag");
            let v6 = sockdoc_diag::Family::V6;
            let s = find_in(&mut diag, v6, port, peer.port()).expect("server end");
            let tries = kill(&mut diag, &s, None, &[Method::Rst]);
            assert_eq!(tries[0].error, None, "{tries:?}");
            assert!(find_in(&mut diag, v6, port, peer.port()).is_none());
            server
                .set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            let e = server.read(&mut [0u8; 4]).expect_err("reset");
            assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
            drop(client);
        })
        .join()
        .expect("test thread");
    }
}
