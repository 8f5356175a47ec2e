//! A real service: a forking socat echo server with two socat clients, all separate processes in
//! the namespace. sockdoc's owners (pid, fd, name) must match ss -p, and point at the right
//! processes: the listener at the server, each client socket at its client, each server-side
//! connection at a forked child.

use std::time::Duration;

use sockdoc_lab::{ss, wait, Netns, SockState, SsSocket};

use crate::compare;

fn pids_of(s: &SsSocket) -> Vec<u32> {
    s.users.iter().map(|u| u.pid).collect()
}

#[test]
fn socat_server_and_clients() {
    let ns = Netns::new().expect("create namespace");
    let port = ns.fresh_port();
    let listen = format!("TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr");
    let server = ns
        .spawn(&["socat", &listen, "EXEC:/bin/cat"])
        .expect("start socat server");
    wait::poll(Duration::from_secs(10), "socat to listen", || {
        let snap = ss::snapshot(&ns)?;
        let up = snap
            .iter()
            .any(|s| s.state == SockState::Listen && s.local.port == port);
        Ok(if up { Ok(()) } else { Err(format!("{snap:?}")) })
    })
    .expect("server listens");

    let target = format!("TCP:127.0.0.1:{port}");
    let clients: Vec<u32> = (0..2)
        .map(|_| ns.spawn(&["socat", "-", &target]).expect("start client"))
        .collect();
    // Two client ends and two server ends, each held by a process.
    let snap = wait::poll(Duration::from_secs(10), "connections with owners", || {
        let snap = ss::snapshot(&ns)?;
        let owned = snap
            .iter()
            .filter(|s| s.state == SockState::Established && !s.users.is_empty())
            .count();
        Ok(if owned == 4 {
            Ok(snap)
        } else {
            Err(format!("{snap:?}"))
        })
    })
    .expect("clients connect");

    let reading = compare::read(&ns, &[]);
    compare::assert_same(&reading);

    for sd in &reading.sockdoc {
        let owners = sd.processes.as_deref().unwrap_or_default();
        assert!(
            !owners.is_empty(),
            "every socket has an owner here: {}",
            sd.json
        );
        assert!(owners.iter().all(|p| p.name == "socat"), "{}", sd.json);
        let pids: Vec<u32> = owners.iter().map(|p| p.pid).collect();
        if sd.state == SockState::Listen {
            assert!(
                pids.contains(&server),
                "listener held by server {server}: {}",
                sd.json
            );
        } else if sd.remote.port() == port {
            assert!(
                pids.iter().any(|p| clients.contains(p)),
                "client end held by a client {clients:?}: {}",
                sd.json
            );
        } else {
            assert!(
                !pids.contains(&server) && pids.iter().all(|p| !clients.contains(p)),
                "server end held by a forked child: {}",
                sd.json
            );
        }
    }
    // ss agrees on who holds the listener.
    let listener = snap
        .iter()
        .find(|s| s.state == SockState::Listen)
        .expect("listener");
    assert!(pids_of(listener).contains(&server), "{}", listener.line);
}
