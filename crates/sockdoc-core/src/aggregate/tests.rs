//! Counting and grouping on hand-made sockets, and groupings by container and pod over a
//! directory tree shaped like a host's cgroups.

use super::*;
use crate::NoOwners;
use std::net::Ipv4Addr;

fn sock(state: State, remote: [u8; 4], rport: u16) -> Socket {
    let local = (Ipv4Addr::LOCALHOST, 80).into();
    Socket {
        cookie: 1,
        ..Socket::tcp(state, local, (Ipv4Addr::from(remote), rport).into())
    }
}

#[test]
fn counts_states_and_groups() {
    let mut t = Tally::new(&[GroupBy::RemoteIp, GroupBy::PeerPrefix(24, 64)]);
    for i in 0..5u8 {
        t.add(
            &sock(State::Established, [10, 0, 0, 1], 1000 + u16::from(i)),
            &NoOwners,
        );
    }
    t.add(&sock(State::TimeWait, [10, 0, 0, 2], 1), &NoOwners);
    t.add(&sock(State::Established, [10, 0, 1, 2], 1), &NoOwners);
    assert_eq!(t.tcp.get(State::Established), 6);
    assert_eq!(t.total(), 7);
    let g = t.groupings(1);
    assert_eq!(g[0].rows.len(), 1);
    assert_eq!(g[0].rows[0].count, 5);
    assert_eq!(g[0].other, 2);
    assert_eq!(g[0].distinct, 3);
    assert_eq!(g[1].rows[0].count, 6);
    assert_eq!(g[1].rows[0].key_text(&|_| None, None), "10.0.0.0/24");
}

#[test]
fn listeners_are_no_peer_not_a_peer_0_0_0_0() {
    let mut t = Tally::new(&[GroupBy::RemoteIp, GroupBy::RemotePort]);
    t.add(&sock(State::Listen, [0, 0, 0, 0], 0), &NoOwners);
    t.add(&sock(State::Listen, [0, 0, 0, 0], 0), &NoOwners);
    t.add(&sock(State::Established, [10, 0, 0, 1], 4000), &NoOwners);
    for g in t.groupings(10) {
        let keys: Vec<String> = g.rows.iter().map(|r| r.key_text(&|_| None, None)).collect();
        assert!(keys.contains(&"no-peer".to_string()), "{keys:?}");
        assert!(!keys.iter().any(|k| k == "0.0.0.0" || k == "0"), "{keys:?}");
        assert_eq!(g.rows.iter().map(|r| r.count).sum::<u64>(), 3);
    }
}

#[test]
fn merge_adds_up() {
    let mut a = Tally::new(&[GroupBy::State]);
    let mut b = Tally::new(&[GroupBy::State]);
    a.add(&sock(State::Established, [1, 1, 1, 1], 1), &NoOwners);
    b.add(&sock(State::Established, [1, 1, 1, 1], 1), &NoOwners);
    b.add(&sock(State::CloseWait, [1, 1, 1, 1], 1), &NoOwners);
    a.merge(b);
    let g = a.groupings(10);
    assert_eq!(g[0].rows[0].count, 2);
    assert_eq!(g[0].rows[0].key_text(&|_| None, None), "ESTAB");
    assert_eq!(
        a.tcp.nonzero(),
        vec![(State::Established, 2), (State::CloseWait, 1)]
    );
}

#[test]
fn deferred_owner_grouping_matches_direct() {
    struct Two;
    impl Owners for Two {
        fn any(&self, inode: u32, f: &mut dyn FnMut(u32, &str) -> bool) -> bool {
            inode != 0 && f(100 + inode % 2, "p")
        }
    }
    let by = [GroupBy::Process, GroupBy::State];
    let (mut direct, mut deferred) = (Tally::new(&by), Tally::new(&by));
    for i in 0..10u32 {
        let mut s = sock(State::Established, [1, 1, 1, 1], 1);
        s.inode = i;
        direct.add(&s, &Two);
        deferred.add_deferred(&s);
    }
    deferred.resolve(&Two);
    assert_eq!(direct.groupings(10), deferred.groupings(10));
}

/// A tree of directories shaped like a host's cgroups: a Podman container with a child
/// cgroup, a plain service, a pod's container; groupings by container and pod count each under
/// one row, the rest under the "outside" row, sockets without a cgroup under `-`.
#[test]
fn containers_and_pods_are_one_row_each() {
    use sockdoc_proc::CgroupFs;
    use std::os::unix::fs::MetadataExt;
    const ID: &str = "4f0b2d3c5e6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e";
    const CRI: &str = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d";
    let dir = sockdoc_lab::doctor::Workdir::new("aggregate-cgroups").expect("workdir");
    let pod = "kubepods.slice/kubepods-pod0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b.slice";
    let paths = [
        format!("machine.slice/libpod-{ID}.scope"),
        format!("machine.slice/libpod-{ID}.scope/worker"),
        "system.slice/nginx.service".to_string(),
        format!("{pod}/cri-containerd-{CRI}.scope"),
    ];
    let ids: Vec<u64> = paths
        .iter()
        .map(|p| {
            let d = dir.subdir(p).expect("mkdir");
            std::fs::metadata(d).expect("stat").ino()
        })
        .collect();
    let tree = CgroupFs::at(dir.path())
        .expect("open")
        .walk()
        .expect("walk");
    struct NoNames;
    impl crate::service::NameBook for NoNames {
        fn container(&self, _: sockdoc_proc::runtimes::Runtime, _: &str) -> Option<String> {
            None
        }
        fn pod(&self, _: &str) -> Option<sockdoc_proc::runtimes::PodName> {
            None
        }
    }
    let services = Services::build(&tree, ids.iter().copied(), &NoNames);
    let mut t = Tally::new(&[GroupBy::Container, GroupBy::Pod]);
    for (i, id) in ids.iter().chain([&0]).enumerate() {
        for _ in 0..=i {
            let mut s = sock(State::Established, [1, 1, 1, 1], 1);
            s.cgroup_id = *id;
            t.add(&s, &NoOwners);
        }
    }
    t.resolve_services(&services);
    let text = |g: &Grouping| -> Vec<(String, u64)> {
        g.rows
            .iter()
            .map(|r| (r.key_text(&|_| None, Some(&services)), r.count))
            .collect()
    };
    let g = t.groupings(10);
    // The container's two cgroups are one row (1 + 2 sockets).
    assert_eq!(
        text(&g[0]),
        vec![
            ("-".to_string(), 5),
            (CRI[..12].to_string(), 4),
            (ID[..12].to_string(), 3),
            ("no-container".to_string(), 3)
        ]
    );
    assert_eq!(
        text(&g[1]),
        vec![
            ("no-pod".to_string(), 6),
            ("-".to_string(), 5),
            ("0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b".to_string(), 4)
        ]
    );
}

#[test]
fn prefix_masking() {
    let a = Addr::from_ip("10.1.2.3".parse().expect("ip"));
    assert_eq!(mask(a, 16).to_ip(Family::V4).to_string(), "10.1.0.0");
    assert_eq!(mask(a, 0).to_ip(Family::V4).to_string(), "0.0.0.0");
    assert_eq!(mask(a, 32), a);
    assert_eq!(mask(a, 20).to_ip(Family::V4).to_string(), "10.1.0.0");
}
