//! Tests of the /proc walk: link parsing, our own socket found, shared sockets, walks that end
//! once every wanted socket has a holder.

use super::*;

#[test]
fn socket_links_parse() {
    assert_eq!(socket_inode(b"socket:[123]"), Some(123));
    assert_eq!(socket_inode(b"socket:[]"), None);
    assert_eq!(socket_inode(b"pipe:[123]"), None);
    assert_eq!(socket_inode(b"socket:[12a]"), None);
    assert_eq!(socket_inode(b"socket:[99999999999]"), None);
}

#[test]
fn finds_our_own_socket() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let inode = {
        use std::os::fd::AsRawFd;
        let link =
            std::fs::read_link(format!("/proc/self/fd/{}", l.as_raw_fd())).expect("readlink");
        socket_inode(link.to_string_lossy().as_bytes()).expect("socket link")
    };
    let map = SocketOwners::walk("/proc", 2).expect("walk");
    let me = std::process::id();
    let owners: Vec<Owner> = map.owners(inode).collect();
    assert!(owners.iter().any(|o| o.pid == me), "{owners:?}");
    let info = map.process(me).expect("our process info");
    assert!(!info.name.is_empty());
    assert!(map.owners(0).next().is_none());
}

#[test]
fn a_walk_until_enough_stops_once_every_wanted_socket_has_a_holder() {
    use std::os::fd::AsRawFd;
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let link = std::fs::read_link(format!("/proc/self/fd/{}", l.as_raw_fd())).expect("link");
    let inode = socket_inode(link.to_string_lossy().as_bytes()).expect("socket link");
    let me = std::process::id();

    let mine = Enough::new();
    mine.want([inode]);
    let map = SocketOwners::walk_until("/proc", 2, None, &mine).expect("walk");
    assert!(map.owners(inode).any(|o| o.pid == me));
    assert!(mine.reached());

    // A socket no process holds: every process is read.
    let nobody = Enough::new();
    nobody.want([u32::MAX]);
    let all = SocketOwners::walk_until("/proc", 2, None, &nobody).expect("walk");
    assert!(!nobody.reached());
    assert_eq!(all.stats.unread, 0);
    assert!(all.owners(inode).any(|o| o.pid == me));

    // Nothing to find (TIME-WAIT sockets only): nothing is read.
    let none = Enough::new();
    none.want([0]);
    let empty = SocketOwners::walk_until("/proc", 2, None, &none).expect("walk");
    assert_eq!(empty.stats.processes, 0);
    assert!(empty.stats.unread > 0);
    assert!(empty.is_empty());
}

#[test]
fn shared_sockets_list_every_owner() {
    let parts = vec![
        Part {
            fds: vec![Entry {
                inode: 7,
                pid: 1,
                fd: 3,
            }],
            ..Default::default()
        },
        Part {
            fds: vec![
                Entry {
                    inode: 8,
                    pid: 2,
                    fd: 5,
                },
                Entry {
                    inode: 7,
                    pid: 2,
                    fd: 4,
                },
            ],
            ..Default::default()
        },
    ];
    let m = SocketOwners::merge(parts);
    let mut o: Vec<u32> = m.owners(7).map(|o| o.pid).collect();
    o.sort();
    assert_eq!(o, vec![1, 2]);
    assert_eq!(m.owners(8).count(), 1);
    assert_eq!(m.owners(6).count(), 0);
    assert_eq!(m.owners(9).count(), 0);
    assert_eq!(m.len(), 3);
    assert_eq!(m.stats.socket_fds, 3);
}
