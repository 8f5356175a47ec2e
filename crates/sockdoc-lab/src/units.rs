//! [`UnitLab`]: two services in a throw-away cgroup slice, `web.service` and `api.service`, each a
//! socat echo server that joined its cgroup before it made a socket, in a lab namespace, with
//! client connections from the calling process (which stays in its own cgroup). What `stats --by
//! unit`, `serve` and `top` are checked against.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::cgroup::{Cgroup, Sub};
use crate::{in_netns, ss, wait, Family, Kind, Netns, Scenario, SockState};

/// The two services and their clients; dropping it closes the clients, kills the servers (by PID)
/// and removes the cgroups, then the namespace.
pub struct UnitLab {
    /// The clients' ends (in the caller's cgroup).
    pub clients: Vec<TcpStream>,
    /// A TIME-WAIT socket made before the services started, when asked for.
    _time_wait: Option<Scenario>,
    /// `web.service` and the port its server listens on.
    pub web: (Sub, u16),
    /// `api.service` and the port its server listens on.
    pub api: (Sub, u16),
    pub slice: Cgroup,
    pub ns: Netns,
}

impl UnitLab {
    /// Starts both servers in `ns`, then `web_clients` and `api_clients` connections to them, and
    /// waits until the servers have accepted every one.
    pub fn start(ns: Netns, web_clients: usize, api_clients: usize) -> io::Result<UnitLab> {
        let slice = Cgroup::slice()?;
        let listen = |name: &str| -> io::Result<(Sub, u16)> {
            let sub = slice.child(name)?;
            let port = ns.fresh_port();
            let spec = format!("TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr");
            slice.spawn(&sub, Some(&ns), &["socat", &spec, "EXEC:/bin/cat"])?;
            Ok((sub, port))
        };
        let (web, api) = (listen("web.service")?, listen("api.service")?);
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
        })?;
        let mut clients = Vec::new();
        for (port, n) in [(web.1, web_clients), (api.1, api_clients)] {
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            for _ in 0..n {
                clients.push(in_netns(&ns, move || TcpStream::connect(addr))?);
            }
        }
        let want = web_clients + api_clients;
        wait::poll(Duration::from_secs(10), "the servers to accept", || {
            let accepted = accepted(&ns, &[web.1, api.1])?;
            Ok(if accepted == want {
                Ok(())
            } else {
                Err(format!("{accepted} of {want} accepted"))
            })
        })?;
        Ok(UnitLab {
            clients,
            _time_wait: None,
            web,
            api,
            slice,
            ns,
        })
    }

    /// Like [`UnitLab::start`] in a new namespace that also holds a TIME-WAIT socket (IPv4), which
    /// has no cgroup.
    pub fn beside_time_wait(web_clients: usize, api_clients: usize) -> io::Result<UnitLab> {
        let ns = Netns::new()?;
        let tw = Kind::TimeWait.build(&ns, Family::V4)?;
        let mut lab = UnitLab::start(ns, web_clients, api_clients)?;
        lab._time_wait = Some(tw);
        Ok(lab)
    }

    /// The ESTABLISHED server ends on `ports` now, as `ss` counts them.
    pub fn accepted(&self, ports: &[u16]) -> io::Result<usize> {
        accepted(&self.ns, ports)
    }

    /// The server-side sockets of `port` (listener and accepted connections) as `ss` counts them.
    pub fn ss_server_side(&self, port: u16) -> io::Result<u64> {
        let snap = ss::snapshot(&self.ns)?;
        Ok(snap.iter().filter(|s| s.local.port == port).count() as u64)
    }
}

fn accepted(ns: &Netns, ports: &[u16]) -> io::Result<usize> {
    let snap = ss::snapshot(ns)?;
    Ok(snap
        .iter()
        .filter(|s| s.state == SockState::Established && ports.contains(&s.local.port))
        .count())
}
