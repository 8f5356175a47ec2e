//! Short connections in bulk: TIME-WAIT sockets against a small `tcp_max_tw_buckets`
//! ([`TimeWaitStorm`]) and a client using up a narrow ephemeral port range towards one server
//! port ([`EphemeralPorts`]). Both sysctls are per network namespace.

use std::io;
use std::net::SocketAddr;

use super::net::{counter, link, sysctl_set, wait_sockets, Link};
use super::proc::Proc;
use super::services::{helper_ready, helper_run, helper_server, nginx, service, Service};
use super::workdir::Workdir;
use crate::netns::Netns;
use crate::state::SockState;

/// Port nginx listens on.
pub const NGINX_PORT: u16 = 80;

/// nginx in the server namespace; a client namespace with `net.ipv4.tcp_max_tw_buckets` set to
/// `max_tw` that makes short HTTP/1.1 keep-alive requests, each on a new connection it closes
/// itself after reading the response: every connection leaves a TIME-WAIT socket in the client
/// namespace (until the bucket limit; beyond it the kernel keeps none and counts
/// TCPTimeWaitOverflow).
#[derive(Debug)]
pub struct TimeWaitStorm {
    procs: Vec<Proc>,
    pub server: Netns,
    /// Where the TIME-WAIT sockets are.
    pub client: Netns,
    pub link: Link,
    pub nginx: Service,
    pub max_tw: u32,
    dir: Workdir,
}

impl TimeWaitStorm {
    /// Starts nginx and sets the client namespace's bucket limit; no connection made yet.
    pub fn build(max_tw: u32) -> io::Result<TimeWaitStorm> {
        let dir = Workdir::new("time-wait")?;
        let server = Netns::new()?;
        let client = Netns::new()?;
        let link = link(&server, &client)?;
        sysctl_set(&client, "net.ipv4.tcp_max_tw_buckets", &max_tw.to_string())?;
        let p = nginx(&server, &dir, link.server_ip, NGINX_PORT)?;
        let nginx = service("nginx", &p, link.server_ip, NGINX_PORT);
        Ok(TimeWaitStorm {
            procs: vec![p],
            server,
            client,
            link,
            nginx,
            max_tw,
            dir,
        })
    }

    /// Makes `n` requests and returns once the client namespace shows the expected TIME-WAIT
    /// count: `min(before + n, max_tw)`.
    pub fn requests(&self, n: usize) -> io::Result<usize> {
        let before = self.time_wait()?;
        helper_run(
            &self.client,
            &self.dir,
            "tw-client",
            &[
                "http",
                &self.link.server_ip.to_string(),
                &NGINX_PORT.to_string(),
                &n.to_string(),
            ],
        )?;
        let want = (before + n).min(self.max_tw as usize);
        wait_sockets(
            &self.client,
            "TIME-WAIT sockets in the client namespace",
            super::services::START_TIMEOUT,
            false,
            |snap| {
                let tw = snap
                    .iter()
                    .filter(|s| s.state == SockState::TimeWait)
                    .count();
                let other = snap
                    .iter()
                    .filter(|s| s.state != SockState::TimeWait)
                    .count();
                if tw == want && other == 0 {
                    Ok(tw)
                } else {
                    Err(format!("{tw}/{want} TIME-WAIT, {other} others"))
                }
            },
        )
    }

    /// TIME-WAIT sockets in the client namespace now.
    pub fn time_wait(&self) -> io::Result<usize> {
        Ok(crate::ss::snapshot_quick(&self.client)?
            .iter()
            .filter(|s| s.state == SockState::TimeWait)
            .count())
    }

    /// The client namespace's `TcpExt:TCPTimeWaitOverflow` counter.
    pub fn overflows(&self) -> io::Result<u64> {
        counter(&self.client, "TcpExt", "TCPTimeWaitOverflow")
    }

    /// PIDs of the scenario's processes.
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Proc::pid).collect()
    }
}

/// Port of the server the client exhausts its ports against.
pub const EPHEMERAL_TARGET_PORT: u16 = 8080;
/// The client namespace's `ip_local_port_range`: 100 ports.
pub const PORT_RANGE: (u16, u16) = (40000, 40099);

/// A server `eph-server` (:8080, accepts and holds) and a client namespace whose
/// `net.ipv4.ip_local_port_range` is 40000-40099, where `eph-client` processes hold open
/// connections to it, each from its own ephemeral port: all towards one (remote ip, remote port),
/// from one local ip.
#[derive(Debug)]
pub struct EphemeralPorts {
    procs: Vec<Proc>,
    pub server: Netns,
    /// Where the ports are used up.
    pub client: Netns,
    pub link: Link,
    pub target: Service,
    /// Connections held so far.
    pub connections: usize,
    dir: Workdir,
}

impl EphemeralPorts {
    /// Sets up the namespaces and opens `n` connections.
    pub fn build(n: usize) -> io::Result<EphemeralPorts> {
        let dir = Workdir::new("ephemeral")?;
        let server = Netns::new()?;
        let client = Netns::new()?;
        let link = link(&server, &client)?;
        sysctl_set(
            &client,
            "net.ipv4.ip_local_port_range",
            &format!("{} {}", PORT_RANGE.0, PORT_RANGE.1),
        )?;
        let (p, target) = helper_server(
            &server,
            &dir,
            "eph-server",
            (link.server_ip, EPHEMERAL_TARGET_PORT),
            1024,
            &["hold"],
        )?;
        let mut s = EphemeralPorts {
            procs: vec![p],
            server,
            client,
            link,
            target,
            connections: 0,
            dir,
        };
        s.connect(n)?;
        Ok(s)
    }

    /// Opens `n` more connections (a new `eph-client` process) and waits until the client
    /// namespace shows all of them established.
    pub fn connect(&mut self, n: usize) -> io::Result<()> {
        let (p, _) = helper_ready(
            &self.client,
            &self.dir,
            &format!("eph-client{}", self.procs.len()),
            &[
                "idle",
                &self.link.server_ip.to_string(),
                &EPHEMERAL_TARGET_PORT.to_string(),
                &n.to_string(),
            ],
        )?;
        self.procs.push(p);
        self.connections += n;
        let want = self.connections;
        let remote = SocketAddr::new(self.link.server_ip.into(), EPHEMERAL_TARGET_PORT);
        wait_sockets(
            &self.client,
            "the client's connections",
            super::services::START_TIMEOUT,
            false,
            |snap| {
                let ports: Vec<u16> = snap
                    .iter()
                    .filter(|s| s.state == SockState::Established && s.peer.socket_addr() == remote)
                    .map(|s| s.local.port)
                    .collect();
                if ports.len() == want
                    && ports
                        .iter()
                        .all(|p| (PORT_RANGE.0..=PORT_RANGE.1).contains(p))
                {
                    Ok(())
                } else {
                    Err(format!("{} of {want} connections: {ports:?}", ports.len()))
                }
            },
        )
    }

    /// PIDs of the client processes.
    pub fn client_pids(&self) -> Vec<u32> {
        self.procs.iter().skip(1).map(Proc::pid).collect()
    }
}
