//! The treat path on real sockets in a private namespace: what the re-read says decides the verdict,
//! and keepalive intents carry the options before.

use std::collections::HashMap;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;

use serde_json::{json, Value};
use sockdoc_diag::{DiagSocket, Socket, State};

use super::keepalive::keepalive;
use super::kill::{kill, Ladder, Verdict};
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
        // leave it): only `a` is killed, `b` gets a correction.
        let mut reread = |_: &mut DiagSocket, _: &[Socket]| -> Result<HashMap<u64, State>, ()> {
            Ok(HashMap::from([(b.cookie, b.state)]))
        };
        let r = kill(
            &mut diag,
            &[a, b],
            &mut |_| None,
            &|i| json!({"socket": {"cookie": ([a, b][i]).cookie}}),
            &how,
            &CTX,
            &mut wa,
            &mut reread,
        )
        .expect("re-read");
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
        assert_eq!(
            of(b.cookie),
            [
                p("intent", ""),
                p("outcome", "killed"),
                p("outcome", "failed")
            ]
        );
        let last = j.0.last().expect("records");
        assert_eq!(last["error"], "the kernel still shows it unchanged");
        assert_eq!(
            (&last["action"], &last["via"]),
            (&json!("kill"), &json!("test"))
        );
        assert_eq!(last["methods"], json!(["destroy"]));
        // A ladder that finds its socket already gone says so, and tries no further rung.
        let mut reread = |_: &mut DiagSocket, _: &[Socket]| -> Result<HashMap<u64, State>, ()> {
            Ok(HashMap::new())
        };
        let how = Ladder {
            methods: &[Method::Destroy, Method::Shutdown],
            rst: RstOptions::default(),
        };
        let r = kill(
            &mut diag,
            &[a],
            &mut |_| panic!("no owner is needed for a socket that is gone"),
            &|_| json!({}),
            &how,
            &CTX,
            &mut WriteAhead::new(&mut Mem::default(), "1-2"),
            &mut reread,
        )
        .expect("re-read");
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
            &|_| json!({}),
            &how,
            &CTX,
            &mut WriteAhead::new(&mut Mem::default(), "1-3"),
            &mut super::Lookup,
        )
        .expect("re-read");
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
