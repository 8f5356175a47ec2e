//! The treat path on real sockets in a private namespace: what the re-read says decides the verdict,
//! and keepalive intents carry the options before.

use std::collections::HashMap;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;

use serde_json::{json, Value};
use sockdoc_diag::{DiagSocket, Socket, State};

use super::keepalive::keepalive;
use super::kill::{kill, Ladder, Nothing, Says, Verdict};
use super::Context;
use crate::audit::{Journal, WriteAhead};
use crate::keepalive::Change;
use crate::kill::{tests::find, Method, RstOptions};

/// A journal in memory: every committed line, parsed.
#[derive(Default)]
struct Mem(Vec<Value>);

impl Journal for Mem {
    fn commit(&mut self, records: &[String]) -> io::Result<()> {
        for r in records {
            self.0
                .push(serde_json::from_str(r).map_err(io::Error::other)?);
        }
        Ok(())
    }
}

const CTX: Context = Context {
    via: "test",
    filter: None,
    uid: 0,
};

/// Two established server ends on loopback in a fresh namespace (run on a thread of its own).
fn pair(l: &TcpListener, diag: &mut DiagSocket) -> (TcpStream, TcpStream, Socket) {
    let client = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
    let (server, peer) = l.accept().expect("accept");
    let port = l.local_addr().expect("addr").port();
    let s = find(diag, port, peer.port()).expect("server end");
    (client, server, s)
}

#[test]
fn a_socket_the_reread_still_shows_is_not_reported_closed() {
    std::thread::spawn(|| {
        crate::raw::testing::private_netns();
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut diag = DiagSocket::open().expect("diag");
        let (_c1, _s1, a) = pair(&l, &mut diag);
        let (_c2, _s2, b) = pair(&l, &mut diag);
        let how = Ladder {
            methods: &[Method::Destroy],
            rst: RstOptions::default(),
        };
        let mut j = Mem::default();
        let mut wa = WriteAhead::new(&mut j, "1-1");
        // The kernel, read again, still shows `b` (as a rung that answered without effect would
        // leave it): only `a` is killed, `b`'s outcome says why not.
        let mut reread = |_: super::Diags, _: &[Socket]| HashMap::from([(b.cookie, b.state)]);
        let r = kill(
            &mut diag,
            &[a, b],
            &mut |_| None,
            &Says {
                intent: &|i: usize| json!({"socket": {"cookie": ([a, b][i]).cookie}}),
                why: &|_| json!({"why": "test"}),
            },
            &how,
            &CTX,
            &mut wa,
            &mut reread,
        );
        let verdicts: Vec<Verdict> = r.done.iter().map(|k| k.verdict).collect();
        assert_eq!(verdicts, [Verdict::Killed, Verdict::Failed]);
        let of = |c: u64| -> Vec<(String, String)> {
            j.0.iter()
                .filter(|v| v["socket"]["cookie"] == c)
                .map(|v| {
                    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
                    (s("phase"), s("outcome"))
                })
                .collect()
        };
        let p = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(of(a.cookie), [p("intent", ""), p("outcome", "killed")]);
        assert_eq!(of(b.cookie), [p("intent", ""), p("outcome", "failed")]);
        let last = j.0.last().expect("records");
        assert_eq!(last["error"], "the kernel still shows it unchanged");
        assert_eq!(
            (&last["action"], &last["via"]),
            (&json!("kill"), &json!("test"))
        );
        // Outcomes name the socket (cookie and ends) and say why it was chosen; the intent before
        // them has the rest.
        assert!(last.get("methods").is_none(), "{last}");
        assert_eq!(last["why"], "test", "{last}");
        assert_eq!(last["socket"]["local"]["port"], b.local_port, "{last}");
        assert_eq!(
            last["socket"]["remote"]["ip"],
            b.remote_ip().to_string(),
            "{last}"
        );
        // A ladder that finds its socket already gone says so, and tries no further rung.
        let mut reread = |_: super::Diags, _: &[Socket]| HashMap::new();
        let how = Ladder {
            methods: &[Method::Destroy, Method::Shutdown],
            rst: RstOptions::default(),
        };
        let r = kill(
            &mut diag,
            &[a],
            &mut |_| panic!("no owner is needed for a socket that is gone"),
            &Says {
                intent: &|_| json!({}),
                why: &|_| Nothing {},
            },
            &how,
            &CTX,
            &mut WriteAhead::new(&mut Mem::default(), "1-2"),
            &mut reread,
        );
        assert_eq!(r.done[0].verdict, Verdict::Gone, "{:?}", r.done[0]);
        assert_eq!(r.done[0].attempts.len(), 1);
    })
    .join()
    .expect("test thread");
}

#[test]
fn keepalive_intents_carry_the_options_before() {
    std::thread::spawn(|| {
        crate::raw::testing::private_netns();
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut diag = DiagSocket::open().expect("diag");
        let (_c, server, s) = pair(&l, &mut diag);
        let owner = (std::process::id(), server.as_raw_fd() as u32);
        let mut j = Mem::default();
        let r = keepalive(
            &[s],
            &|_| Some(owner),
            &|_| json!({"socket": {"cookie": s.cookie}}),
            &Change::keepalive(60, 5, 3),
            &CTX,
            &mut WriteAhead::new(&mut j, "2-1"),
        );
        assert!(r.stopped.is_none() && r.done[0].set, "{:?}", r.done);
        let [intent, outcome] = &j.0[..] else {
            panic!("{:?}", j.0)
        };
        assert_eq!(intent["phase"], "intent");
        assert!(intent.get("outcome").is_none(), "{intent}");
        assert_eq!(intent["before"]["keepalive"], false, "{intent}");
        assert_eq!(
            intent["change"],
            json!({"keepalive": true, "idle": 60, "intvl": 5, "cnt": 3})
        );
        assert_eq!(intent["before"], outcome["before"]);
        assert_eq!(
            (&intent["pid"], &intent["fd"]),
            (&json!(owner.0), &json!(owner.1))
        );
        assert_eq!(outcome["outcome"], "set");
        assert_eq!(outcome["after"]["idle"], 60);
    })
    .join()
    .expect("test thread");
}

#[test]
fn the_lookup_reread_tells_the_killed_from_the_living() {
    std::thread::spawn(|| {
        crate::raw::testing::private_netns();
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut diag = DiagSocket::open().expect("diag");
        let (_c1, _s1, a) = pair(&l, &mut diag);
        let (_c2, _s2, b) = pair(&l, &mut diag);
        let how = Ladder {
            methods: &[Method::Destroy],
            rst: RstOptions::default(),
        };
        let r = kill(
            &mut diag,
            &[a],
            &mut |_| None,
            &Says {
                intent: &|_| json!({}),
                why: &|_| Nothing {},
            },
            &how,
            &CTX,
            &mut WriteAhead::new(&mut Mem::default(), "1-3"),
            &mut super::Lookup,
        );
        assert_eq!(r.done[0].verdict, Verdict::Killed, "{:?}", r.done[0]);
        // Asked by 4-tuple and cookie: the killed one is gone, the other still ESTABLISHED.
        let now = diag.lookup_all(&[a, b]);
        assert!(matches!(now[0], Ok(None)), "{:?}", now[0]);
        assert!(
            matches!(now[1], Ok(Some(State::Established))),
            "{:?}",
            now[1]
        );
    })
    .join()
    .expect("test thread");
}

#[test]
fn a_large_selection_is_shared_out_and_every_socket_proven() {
    // 1200 connections; the server ends of the first 1000 are killed through two sock_diag sockets
    // (two threads, whatever the machine's cores), the other 200 must stay.
    const N: usize = 1200;
    const KILL: usize = 1000;
    std::thread::spawn(|| {
        crate::raw::testing::private_netns();
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let mut held = Vec::with_capacity(N);
        for _ in 0..N {
            let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            let (s, _) = l.accept().expect("accept");
            held.push((c, s));
        }
        let mut diag = DiagSocket::open().expect("diag");
        let mut servers: Vec<Socket> = Vec::new();
        let req =
            sockdoc_diag::DumpRequest::all(sockdoc_diag::Proto::Tcp, sockdoc_diag::Family::V4);
        diag.dump(&req, &mut |ev| {
            if let sockdoc_diag::DumpEvent::Socket(s) = ev {
                if s.local_port == port && s.state == State::Established {
                    servers.push(*s);
                }
            }
        })
        .expect("dump");
        assert_eq!(servers.len(), N);
        let (chosen, rest) = servers.split_at(KILL);
        let mut second = DiagSocket::open().expect("a second diag socket");
        let mut both: Vec<&mut DiagSocket> = vec![&mut diag, &mut second];
        let answers = sockdoc_diag::bulk::destroy_spread(&mut both, chosen);
        assert_eq!(answers.len(), KILL);
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        let now = sockdoc_diag::bulk::lookup_spread(&mut both, &servers);
        let gone = now.iter().filter(|r| matches!(r, Ok(None))).count();
        assert_eq!(gone, KILL, "exactly the chosen ones are gone");
        for (s, r) in rest.iter().zip(&now[KILL..]) {
            assert!(matches!(r, Ok(Some(State::Established))), "{s:?}: {r:?}");
        }
        // The treat path on the rest, with its own helpers and the lookup proof: all killed.
        let how = Ladder {
            methods: &[Method::Destroy],
            rst: RstOptions::default(),
        };
        let mut j = Mem::default();
        let r = kill(
            &mut diag,
            rest,
            &mut |_| None,
            &Says {
                intent: &|i: usize| json!({"socket": {"cookie": rest[i].cookie}}),
                why: &|_| Nothing {},
            },
            &how,
            &CTX,
            &mut WriteAhead::new(&mut j, "3-1"),
            &mut super::Lookup,
        );
        assert!(r.stopped.is_none());
        assert!(
            r.done.iter().all(|k| k.verdict == Verdict::Killed),
            "{:?}",
            r.done
        );
        assert_eq!(j.0.len(), 2 * rest.len(), "an intent and an outcome each");
    })
    .join()
    .expect("test thread");
}
