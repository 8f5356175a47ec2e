//! [`WebApi`]: two services in a throw-away cgroup slice, `…/web.service` and `…/api.service`, each a
//! socat echo server started inside its cgroup (it joins before it makes a socket), and client
//! connections to each from the test process (another cgroup). Accepted sockets are in their
//! server's cgroup, as the kernel sets them; client ends are not. Everything goes with the guard.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::cgroup::{Cgroup, Sub};
use crate::{in_netns, ss, wait, Netns, SockState};

/// The two services, their ports and the clients connected to them. Panics (a lab helper) with
/// what failed when they cannot be set up.
pub struct WebApi {
    pub ns: Netns,
    pub slice: Cgroup,
    pub web: (Sub, u16),
    pub api: (Sub, u16),
    pub clients: Vec<TcpStream>,
}

impl WebApi {
    /// Start both servers in `ns`, then `clients_web` and `clients_api` connections, and wait until
    /// every one is accepted.
    pub fn start(ns: Netns, clients_web: usize, clients_api: usize) -> WebApi {
        let slice = Cgroup::slice().expect("create a cgroup slice (root?)");
        let listen = |name: &str| {
            let sub = slice.child(name).expect("create the service's cgroup");
            let port = ns.fresh_port();
            let spec = format!("TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr");
            slice
                .spawn(&sub, Some(&ns), &["socat", &spec, "EXEC:/bin/cat"])
                .expect("start socat in its cgroup");
            (sub, port)
        };
        let (web, api) = (listen("web.service"), listen("api.service"));
        wait::poll(Duration::from_secs(10), "both servers to listen", || {
            let snap = ss::snapshot(&ns)?;
            let up = |p| {
                snap.iter()
                    .any(|s| s.state == SockState::Listen && s.local.port == p)
            };
            Ok(if up(web.1) && up(api.1) {
                Ok(())
            } else {
                Err(format!("{snap:?}"))
            })
        })
        .expect("servers listen");
        let mut clients = Vec::new();
        for (port, n) in [(web.1, clients_web), (api.1, clients_api)] {
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            for _ in 0..n {
                clients.push(in_netns(&ns, move || TcpStream::connect(addr)).expect("connect"));
            }
        }
        let want = clients_web + clients_api;
        wait::poll(Duration::from_secs(10), "the servers to accept", || {
            let accepted = accepted(&ns, &[web.1, api.1])?;
            Ok(if accepted == want {
                Ok(())
            } else {
                Err(format!("{accepted} of {want} accepted"))
            })
        })
        .expect("connections accepted");
        WebApi {
            ns,
            slice,
            web,
            api,
            clients,
        }
    }

    /// The ESTABLISHED server ends on `ports` now, as `ss` counts them.
    pub fn accepted(&self, ports: &[u16]) -> std::io::Result<usize> {
        accepted(&self.ns, ports)
    }
}

fn accepted(ns: &Netns, ports: &[u16]) -> std::io::Result<usize> {
    let snap = ss::snapshot(ns)?;
    Ok(snap
        .iter()
        .filter(|s| s.state == SockState::Established && ports.contains(&s.local.port))
        .count())
}
