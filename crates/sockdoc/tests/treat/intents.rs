//! A keepalive run that dies between its intents and its outcomes can still be undone: every intent
//! carries the options before, and `keepalive --restore` reads a log of intents alone.

use std::os::fd::AsRawFd;

use sockdoc_lab::treat::EchoServer;

use crate::keepalive_safety::{clients_of, opts, restore, SET};
use crate::run::{records, strs, treat, Audit};

#[test]
fn restore_from_intents_alone_puts_back_what_was_there() {
    let srv = EchoServer::start().expect("start the echo server");
    let conns = srv.connect(3).expect("connect");
    let original: Vec<_> = conns.iter().map(|c| opts(c.stream.as_raw_fd())).collect();
    let audit = Audit::new();
    let filter = clients_of(&srv);
    let run = treat(&srv.ns, "keepalive", &audit, &SET, &strs(&filter), &[]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    for (c, was) in conns.iter().zip(&original) {
        assert_ne!(&opts(c.stream.as_raw_fd()), was, "set");
    }
    // The log as a crash after the changes but before their outcome records would leave it.
    let intents: Vec<String> = records(&audit.path)
        .into_iter()
        .filter(|v| v["phase"] == "intent")
        .inspect(|v| {
            assert_eq!(
                v["before"]["keepalive"], false,
                "the intent says what was there: {v}"
            );
            assert!(v.get("outcome").is_none(), "{v}");
        })
        .map(|v| v.to_string())
        .collect();
    assert_eq!(intents.len(), 3);
    let only_intents = Audit::new();
    std::fs::write(&only_intents.path, intents.join("\n") + "\n").expect("write the log");
    let log = Audit::new();
    let from = only_intents.path.to_str().expect("utf-8 path");
    let (run, doc) = restore(&srv, &log, from, &["--yes"], &[]);
    assert_eq!(run.code(), Some(0), "{}\n{doc:#}", run.stderr);
    assert_eq!(doc["restored"], 3, "{doc:#}");
    for (c, was) in conns.iter().zip(&original) {
        assert_eq!(&opts(c.stream.as_raw_fd()), was, "put back");
    }
}
