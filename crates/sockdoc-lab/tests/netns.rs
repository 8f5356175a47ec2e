//! Lab self-test of the namespace guard: creation, helpers, `in_netns` isolation, and cleanup on
//! drop and on panic (namespace deleted, processes killed).

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use sockdoc_lab::{in_netns, wait, ExclusiveNetnsLock, Hook, Netns};

fn listed(name: &str) -> bool {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

fn own_netns() -> String {
    std::fs::read_link("/proc/thread-self/ns/net")
        .expect("readlink ns/net")
        .to_string_lossy()
        .into_owned()
}

/// Alive and not a zombie.
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn namespace_lives_as_long_as_its_guard() {
    let ns = Netns::new().expect("create");
    let name = ns.name().to_string();
    assert!(name.starts_with(&format!("sdlab-{}-", std::process::id())));
    assert!(listed(&name));
    assert!(ns.inode().expect("inode") > 0);
    let links = ns.exec(&["ip", "-o", "link", "show", "lo"]).expect("exec");
    assert!(links.contains("UP"), "lo is up: {links}");
    drop(ns);
    assert!(!listed(&name));
}

#[test]
fn namespace_is_deleted_when_the_test_panics() {
    let mut name = String::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let ns = Netns::new().expect("create");
        name = ns.name().to_string();
        panic!("simulated test failure");
    }));
    assert!(result.is_err());
    assert!(!name.is_empty());
    assert!(!listed(&name), "{name} survived a panic");
}

#[test]
fn in_netns_leaves_the_calling_thread_alone() {
    let ns = Netns::new().expect("create");
    let before = own_netns();
    let inside = in_netns(&ns, || Ok(own_netns())).expect("in_netns");
    assert_eq!(own_netns(), before);
    assert_ne!(inside, before);
    assert!(inside.contains(&ns.inode().expect("inode").to_string()));
    // The listener lives in the namespace: ss there sees it.
    let l = in_netns(&ns, || TcpListener::bind("127.0.0.1:0")).expect("bind");
    let port = l.local_addr().expect("addr").port();
    let out = ns.exec(&["ss", "-Htln"]).expect("ss");
    assert!(out.contains(&format!("127.0.0.1:{port}")), "{out}");
}

#[test]
fn in_netns_propagates_errors_and_panics() {
    let ns = Netns::new().expect("create");
    let err = in_netns(&ns, || -> std::io::Result<()> {
        Err(std::io::Error::other("boom"))
    })
    .expect_err("error");
    assert_eq!(err.to_string(), "boom");
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = in_netns(&ns, || -> std::io::Result<()> { panic!("inner panic") });
    }));
    assert!(panicked.is_err());
}

#[test]
fn nft_rules_and_loopback_addresses() {
    let ns = Netns::new().expect("create");
    ns.drop_packets(Hook::Input, "tcp dport 4242 tcp flags & (syn|ack) == ack")
        .expect("drop rule");
    ns.drop_packets(Hook::Output, "ip daddr 127.0.0.2 tcp dport 9")
        .expect("second rule reuses the table");
    let rules = ns
        .exec(&["nft", "list", "table", "inet", "sdlab"])
        .expect("nft list");
    assert!(rules.contains("tcp dport 4242"), "{rules}");
    assert!(rules.contains("ip daddr 127.0.0.2"), "{rules}");
    let bad = ns
        .nft("add rule inet sdlab input bogus\n")
        .expect_err("bad ruleset");
    assert!(bad.to_string().contains("bogus"), "{bad}");

    ns.add_loopback_addr("::2".parse().expect("ip"))
        .expect("add ::2");
    ns.add_loopback_addr("::2".parse().expect("ip"))
        .expect("adding twice is fine");
    let addrs = ns
        .exec(&["ip", "-o", "addr", "show", "dev", "lo"])
        .expect("ip addr");
    assert!(addrs.contains("::2/128"), "{addrs}");
}

#[test]
fn processes_are_killed_on_drop() {
    let ns = Netns::new().expect("create");
    let pid = ns
        .spawn(&["sh", "-c", "sleep 1000 & exec sleep 1000"])
        .expect("spawn");
    let all = wait::poll(Duration::from_secs(5), "both sleeps", || {
        let pids = ns.pids()?;
        Ok(if pids.len() >= 2 {
            Ok(pids)
        } else {
            Err(format!("{pids:?}"))
        })
    })
    .expect("processes start");
    assert!(all.contains(&pid));
    drop(ns);
    wait::poll(Duration::from_secs(5), "processes to die", || {
        let alive: Vec<_> = all.iter().filter(|p| running(**p)).collect();
        Ok(if alive.is_empty() {
            Ok(())
        } else {
            Err(format!("{alive:?}"))
        })
    })
    .expect("all killed");
}

#[test]
fn exclusive_lock_covers_its_own_namespaces() {
    let lock = ExclusiveNetnsLock::acquire().expect("exclusive lock");
    let a = lock.netns().expect("first");
    let b = lock.netns().expect("second");
    assert_ne!(a.name(), b.name());
    assert!(Path::new(&a.path()).exists());
    drop((a, b));
    drop(lock);
}
