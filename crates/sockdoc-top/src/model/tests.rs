//! Tests of the tables: digests of a small lab census, sorting, rows' sockets.

use super::*;
use crate::columns::*;
use sockdoc_diag::TcpInfo;
use std::cmp::Ordering;
use std::net::IpAddr;

/// A TCP socket `local:lport -> remote:rport` in `state`.
pub fn sock(state: State, local: &str, lport: u16, remote: &str, rport: u16) -> Socket {
    let l: IpAddr = local.parse().expect("ip");
    let r: IpAddr = remote.parse().expect("ip");
    Socket {
        cookie: u64::from(lport) << 16 | u64::from(rport),
        ..Socket::tcp(state, (l, lport).into(), (r, rport).into())
    }
}

/// Owners by inode: inode N is held by pid N / 10 named `p<pid>`.
pub struct Tens;
impl Owners for Tens {
    fn any(&self, inode: u32, f: &mut dyn FnMut(u32, &str) -> bool) -> bool {
        inode != 0 && f(inode / 10, &format!("p{}", inode / 10))
    }
}

pub fn census(sockets: Vec<Socket>) -> Capture {
    Capture {
        sockets,
        owners: None,
        tcp_info: true,
        services: OnceLock::new(),
    }
}

fn lab() -> Vec<Socket> {
    let mut v = vec![
        sock(State::Listen, "0.0.0.0", 21, "0.0.0.0", 0),
        sock(State::Established, "10.0.0.1", 21, "10.0.1.5", 40000),
        sock(State::Established, "10.0.0.1", 21, "10.0.1.5", 40001),
        sock(State::Established, "10.0.0.1", 21, "10.0.1.6", 40002),
        sock(State::CloseWait, "10.0.0.1", 21, "10.0.2.7", 40003),
        sock(State::TimeWait, "10.0.0.1", 22, "10.0.1.5", 40004),
        sock(State::Established, "::1", 8080, "::ffff:10.0.1.5", 40005),
        sock(State::SynRecv, "10.0.0.1", 22, "192.168.9.9", 40006),
    ];
    // An idle connection without keepalive: a ghost suspect past 1 s.
    let mut g = sock(State::Established, "10.0.0.1", 21, "10.0.3.3", 40007);
    g.tcp = Some(TcpInfo {
        last_data_recv_ms: 5000,
        last_ack_recv_ms: 5000,
        last_data_sent_ms: 5000,
        ..TcpInfo::default()
    });
    v.push(g);
    v
}

/// A snapshot of `c` as the worker makes it: `filter` applied, TCP state counts, conntrack 10/100.
pub fn snap_of(c: Arc<Capture>, filter: &str, seq: u64) -> Snap {
    let d = digest_all(&c, filter);
    let (mut tcp, udp) = (StateCounts::default(), StateCounts::default());
    for s in &c.sockets {
        tcp.add(s.state);
    }
    Snap {
        seq,
        taken: Instant::now(),
        census: c,
        took: Duration::ZERO,
        owners_age: None,
        tcp,
        udp,
        conntrack: Some((10, 100)),
        filter_text: filter.into(),
        selected: d.selected,
        groups: d.groups,
        prefixes: (24, 64),
        ghosts: d.ghosts,
        threshold_ms: 1000,
        findings: Vec::new(),
        notes: Vec::new(),
    }
}

/// Sorts socket indices by column `col` as the socket table does.
fn sort_by(idx: &mut [u32], sockets: &[Socket], col: SockCol, desc: bool) {
    let col = SockCol::ALL.iter().position(|c| *c == col).expect("col");
    sort_sockets(idx, sockets, &NoOwners, Sort { col, desc });
}

fn digest_all(c: &Capture, words: &str) -> Digest {
    let f = Filter::parse(&[words.to_string()]).expect("filter");
    digest(
        c,
        &Lens {
            filter: &f,
            prefix4: 24,
            prefix6: 64,
            threshold_ms: 1000,
            tabs: &Tab::ALL,
            known_suspects: &FxHashSet::default(),
        },
    )
}

#[test]
fn tables_count_every_selected_socket_once() {
    let c = census(lab());
    let d = digest_all(&c, "");
    assert_eq!(d.selected.len(), c.sockets.len());
    for rows in d.groups.iter().flatten() {
        assert_eq!(
            rows.iter().map(|r| r.count).sum::<u64>(),
            c.sockets.len() as u64
        );
    }
    let remote = d.groups[0].as_ref().expect("built");
    assert_eq!(remote[0].label, "10.0.1.5");
    assert_eq!(remote[0].count, 3, "{remote:?}");
    let prefix = d.groups[1].as_ref().expect("built");
    assert_eq!(prefix[0].label, "10.0.1.0/24");
    assert_eq!(prefix[0].count, 4, "v4 peers of 10.0.1.0/24: {prefix:?}");
    let port = d.groups[2].as_ref().expect("built");
    assert_eq!((port[0].label.as_str(), port[0].count), ("21", 6));
    assert_eq!(d.ghosts.len(), 1, "one idle connection past 1 s");
}

#[test]
fn the_filter_narrows_every_table() {
    let c = census(lab());
    let d = digest_all(&c, "sport = :22");
    assert_eq!(d.selected.len(), 2);
    assert_eq!(d.groups[2].as_ref().expect("built").len(), 1);
    assert_eq!(d.groups[2].as_ref().expect("built")[0].label, "22");
    assert!(d.ghosts.is_empty());
    let none = digest_all(&c, "state last-ack");
    assert!(none.selected.is_empty() && none.groups.iter().flatten().all(Vec::is_empty));
}

#[test]
fn a_rows_scope_selects_exactly_its_sockets() {
    // Every row of every group table: the scope's words and its exact test both select exactly
    // `count` sockets (v6-mapped peers stay in their own IPv6 row).
    let mut sockets = lab();
    for (i, s) in sockets.iter_mut().enumerate() {
        s.inode = if i % 3 == 0 {
            0
        } else {
            10 * (i as u32 % 4) + 1
        };
    }
    let c = Capture {
        sockets,
        owners: None,
        tcp_info: true,
        services: OnceLock::new(),
    };
    let owners = Tens;
    let by = [
        GroupBy::RemoteIp,
        GroupBy::PeerPrefix(24, 64),
        GroupBy::LocalPort,
        GroupBy::Process,
    ];
    let mut tally = Tally::new(&by);
    for s in &c.sockets {
        tally.add(s, &owners);
    }
    for g in tally.groupings(usize::MAX) {
        for r in g.rows {
            let scope = Membership::of(&r.key);
            let exact = c
                .sockets
                .iter()
                .filter(|s| scope.matches(s, &owners))
                .count();
            assert_eq!(exact as u64, r.count, "{:?} {:?}", g.by, r.key);
            if let Some(w) = &scope.words {
                let f = Filter::parse(std::slice::from_ref(w)).expect("scope words parse");
                let n = c.sockets.iter().filter(|s| f.matches(s, &owners)).count();
                assert!(n as u64 >= r.count, "words {w} select a superset");
                if !matches!(r.key, Key::Pid(_)) {
                    assert_eq!(n as u64, r.count, "words {w} are exact");
                }
            } else {
                assert_eq!(r.key, Key::Pid(0));
            }
        }
    }
}

#[test]
fn superset_words_select_the_given_sockets() {
    let c = census(lab());
    let pick: Vec<Socket> = vec![c.sockets[1], c.sockets[4]];
    let w = superset_words(Some("sport = :21"), "dst 10.0.0.0/8", &pick);
    assert_eq!(
        w,
        "( sport = :21 ) and ( dst 10.0.0.0/8 ) and ( state established state close-wait )"
    );
    let f = Filter::parse(&[w]).expect("parses");
    for s in &pick {
        assert!(f.matches(s, &NoOwners));
    }
    assert!(!f.matches(&c.sockets[0], &NoOwners), "not the listener");
    assert_eq!(
        superset_words(None, "", &[c.sockets[5]]),
        "( state time-wait )"
    );
    assert_eq!(
        superset_words(Some("sport = :22"), "sport = :22", &[c.sockets[5]]),
        "( sport = :22 ) and ( state time-wait )",
        "the same words once"
    );
}

#[test]
fn sorting_by_any_column_both_ways() {
    let c = census(lab());
    let d = digest_all(&c, "");
    let mut rows = d.groups[2].clone().expect("built");
    for (i, col) in GroupCol::ALL.iter().enumerate() {
        for desc in [false, true] {
            sort_groups(&mut rows, Sort { col: i, desc });
            for w in rows.windows(2) {
                let o = col.cmp(&w[0], &w[1]);
                assert!(
                    if desc {
                        o != Ordering::Less
                    } else {
                        o != Ordering::Greater
                    },
                    "{col:?} desc={desc}: {} then {}",
                    w[0].label,
                    w[1].label
                );
            }
        }
    }
    sort_groups(
        &mut rows,
        Sort {
            col: 0,
            desc: false,
        },
    );
    let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["21", "22", "8080"]);

    let mut idx: Vec<u32> = (0..c.sockets.len() as u32).collect();
    sort_by(&mut idx, &c.sockets, SockCol::Peer, false);
    assert_eq!(c.sockets[idx[0] as usize].remote_port, 0, "0.0.0.0 first");
    sort_by(&mut idx, &c.sockets, SockCol::Idle, true);
    assert_eq!(
        c.sockets[idx[0] as usize].remote_port, 40007,
        "the idle one first"
    );
}

#[test]
fn group_sockets_follow_the_filter_and_the_key() {
    let c = Arc::new(census(lab()));
    let snap = snap_of(c, "state established", 1);
    let port21 = snap
        .group_rows(Tab::Port)
        .expect("built")
        .iter()
        .find(|r| r.label == "21")
        .expect("row 21")
        .clone();
    let socks = group_sockets(&snap, &port21.key);
    assert_eq!(socks.len() as u64, port21.count);
    assert_eq!(socks.len(), 4, "established on :21 only, not the listener");
    assert!(socks
        .iter()
        .all(|&i| snap.socket(i).state == State::Established));
}

#[test]
fn a_census_without_idle_times_builds_only_the_table_shown_and_keeps_the_known_suspects() {
    let mut sockets = lab();
    let ghost = sockets
        .iter()
        .find(|s| s.tcp.is_some())
        .expect("ghost")
        .cookie;
    for s in &mut sockets {
        s.tcp = None;
    }
    let c = Capture {
        sockets,
        owners: None,
        tcp_info: false,
        services: OnceLock::new(),
    };
    let f = Filter::default();
    let known: FxHashSet<u64> = [ghost].into_iter().collect();
    let d = digest(
        &c,
        &Lens {
            filter: &f,
            prefix4: 24,
            prefix6: 64,
            threshold_ms: 1000,
            tabs: &[Tab::Port],
            known_suspects: &known,
        },
    );
    assert!(d.groups[0].is_none() && d.groups[1].is_none() && d.groups[3].is_none());
    assert_eq!(d.groups[2].as_ref().expect("port table")[0].label, "21");
    let ghosts: Vec<u64> = d
        .ghosts
        .iter()
        .map(|&i| c.sockets[i as usize].cookie)
        .collect();
    assert_eq!(
        ghosts,
        vec![ghost],
        "the suspect of the last census with idle times"
    );
    // What the screen shows decides what the next census asks for.
    let shown = |tab, drilled| Shown { tab, drilled };
    assert!(shown(Tab::Ghosts, false).needs_tcp_info());
    assert!(shown(Tab::Remote, true).needs_tcp_info());
    assert!(!shown(Tab::Remote, false).needs_tcp_info());
    assert!(!shown(Tab::Findings, false).shows_owners());
    // Services on ports need only the listeners' owners, which an older walk still knows.
    assert!(!shown(Tab::Port, false).shows_owners());
    assert!(shown(Tab::Process, false).shows_owners() && shown(Tab::Prefix, true).shows_owners());
    // Units and containers are named only for the Service table.
    assert!(
        shown(Tab::Service, false).needs_services() && shown(Tab::Service, true).needs_services()
    );
    assert!(Tab::ALL
        .iter()
        .filter(|t| **t != Tab::Service)
        .all(|t| !shown(*t, false).needs_services() && !shown(*t, true).needs_services()));
    // A census that names no services builds no service table (the screen says it is reading them).
    assert!(group_table(&c, &d.selected, Tab::Service, (24, 64)).is_none());
}

#[test]
fn the_port_table_counts_a_clients_connections_under_the_port_they_reach() {
    // A client with 50 connections out to :443 from 50 ephemeral ports, and a served :21.
    let mut sockets = vec![
        sock(State::Listen, "0.0.0.0", 21, "0.0.0.0", 0),
        sock(State::Established, "10.0.0.1", 21, "10.0.1.5", 40000),
    ];
    for p in 0..50 {
        sockets.push(sock(
            State::Established,
            "10.0.0.1",
            41000 + p,
            "10.9.9.9",
            443,
        ));
    }
    let c = census(sockets);
    let d = digest_all(&c, "state established");
    let rows = d.groups[2].as_ref().expect("built");
    let labels: Vec<(&str, u64)> = rows.iter().map(|r| (r.label.as_str(), r.count)).collect();
    assert_eq!(labels, vec![("→443", 50), ("21", 1)]);
    // The row's sockets are the 50, and only them.
    let snap = snap_of(Arc::new(c), "state established", 1);
    let out = snap
        .group_rows(Tab::Port)
        .expect("built")
        .iter()
        .find(|r| r.label == "→443")
        .expect("→443")
        .clone();
    assert_eq!(group_sockets(&snap, &out.key).len(), 50);
}
