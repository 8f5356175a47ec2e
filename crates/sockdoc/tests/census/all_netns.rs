//! `sockdoc list --all-netns --json`: two lab namespaces with known sockets both appear, by name
//! and inode, each with exactly ss's sockets (both narrowed by the same port filter, since other
//! namespaces on the host may hold huge numbers of sockets).
//!
//! The test holds the lab's exclusive lock, so no other lab namespace is created or deleted while
//! sockdoc walks all of them (other tests, in this process or another, wait).

use std::collections::BTreeSet;

use sockdoc_lab::{ss, ExclusiveNetnsLock, Family, Kind};

use crate::compare::{self, Reading};
use crate::sockdoc;

#[test]
fn both_namespaces_with_their_sockets() {
    let lock = ExclusiveNetnsLock::acquire().expect("exclusive lab lock");
    let a = lock.netns().expect("first namespace");
    let b = lock.netns().expect("second namespace");
    let in_a = [
        Kind::Listen.build(&a, Family::V4).expect("build"),
        Kind::Established.build(&a, Family::V6).expect("build"),
    ];
    let in_b = [
        Kind::TimeWait.build(&b, Family::V4).expect("build"),
        Kind::UdpConnected.build(&b, Family::V6).expect("build"),
    ];

    // Only our ports: other namespaces on the host may hold huge numbers of sockets.
    let ports: BTreeSet<u16> = in_a
        .iter()
        .chain(&in_b)
        .flat_map(|s| s.local_ports())
        .collect();
    let words: Vec<String> = ports.iter().map(|p| format!("sport = :{p}")).collect();
    let filter = format!("( {} )", words.join(" or "));
    let filter = [filter.as_str()];

    let owners = [&a, &b].map(|ns| ss::query(ns, &filter).expect("ss -p"));
    let before = [&a, &b].map(|ns| ss::query_quick(ns, &filter).expect("ss before"));
    let run = sockdoc::run(&["list", "--all-netns", "--json", "-p", filter[0]]).expect_ok();
    let after = [&a, &b].map(|ns| ss::query_quick(ns, &filter).expect("ss after"));
    for snap in &before {
        assert!(!snap.is_empty(), "the port filter selects our sockets");
    }
    let doc = run.json("list");
    let spaces = sockdoc::namespaces(&doc);

    let mut inodes: Vec<u64> = spaces.iter().map(|n| n.inode).collect();
    inodes.sort_unstable();
    inodes.dedup();
    assert_eq!(
        inodes.len(),
        spaces.len(),
        "a namespace listed twice: {doc}"
    );

    let readings = owners.into_iter().zip(before).zip(after);
    for (ns, ((owners, before), after)) in [&a, &b].into_iter().zip(readings) {
        let entry = spaces
            .iter()
            .find(|n| n.name.as_deref() == Some(ns.name()))
            .unwrap_or_else(|| panic!("{} missing from --all-netns: {doc}", ns.name()));
        assert_eq!(entry.inode, ns.inode().expect("inode"), "{}", ns.name());
        compare::assert_same(&Reading {
            owners,
            before,
            sockdoc: entry.sockets.clone(),
            after,
        });
    }
    drop((a, b));
    drop(lock);
}
