//! The seed incident: an FTP proxy that never sets SO_KEEPALIVE keeps an ESTABLISHED connection
//! to a client host that vanished (network gone, then the client killed; its FIN never arrived).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::net::{find_estab as find, link, received_ago_ms, vanish, wait_sockets, Link};
use super::proc::Proc;
use super::services::{
    helper_ready, ready_port, service, socat_proxy, sshd, vsftpd, Service, START_TIMEOUT,
};
use super::workdir::Workdir;
use crate::netns::Netns;
use crate::ss::SsSocket;

/// Port of the no-keepalive socat proxy (the seed's FTP proxy on `:21`).
pub const FTP_PROXY_PORT: u16 = 21;
/// Port vsftpd listens on (127.0.0.1 only), behind the proxy.
pub const VSFTPD_PORT: u16 = 2121;
/// Port of sshd (all addresses), whose connections have keepalive.
pub const SSHD_PORT: u16 = 2222;

/// The server namespace after the incident:
///
/// * `socat` on :21 proxies to vsftpd on 127.0.0.1:2121. Its client-facing connections have no
///   keepalive timer; its backend leg has one (so the proxy's only unprotected sockets are the
///   client-facing ones), and so do vsftpd's.
/// * `laptop` (10.2xx.x.2) logged in through :21, went silent, then vanished: everything in its
///   namespace is dropped and the FTP client was SIGKILLed. Its FIN never reached the server, so
///   [`GhostIncident::ghost`] stays ESTABLISHED on :21 with no timer, nothing unacknowledged,
///   nothing received since.
/// * `office` (another veth, another /24) keeps a busy FTP session through the same proxy (NOOP
///   every 100 ms, no keepalive either) and an idle pre-auth connection to sshd on :2222
///   (keepalive on).
#[derive(Debug)]
pub struct GhostIncident {
    procs: Vec<Proc>,
    pub server: Netns,
    /// The client host that vanished.
    pub laptop: Netns,
    /// The client host that stays (busy FTP, idle SSH).
    pub office: Netns,
    pub laptop_link: Link,
    pub office_link: Link,
    /// socat's listener on :21.
    pub proxy: Service,
    /// vsftpd on 127.0.0.1:2121.
    pub vsftpd: Service,
    /// sshd on :2222.
    pub sshd: Service,
    /// The ghost: the server-side socket of the vanished laptop's session, as `ss -p` showed it
    /// right after the laptop vanished.
    pub ghost: SsSocket,
    /// The forked socat child that holds the ghost.
    pub ghost_pid: u32,
    /// The busy FTP session's server-side socket (`office_ip:port` -> :21) and its socat child.
    pub busy: SocketAddr,
    pub busy_pid: u32,
    /// The idle SSH connection's client address, as the server sees it.
    pub ssh_client: SocketAddr,
    /// PID of the sshd child holding the server side of the SSH connection.
    pub ssh_pid: u32,
    dir: Workdir,
}

impl GhostIncident {
    /// Builds the incident and returns once the laptop has vanished, with the ghost in place.
    /// Takes about a second.
    pub fn build() -> io::Result<GhostIncident> {
        let dir = Workdir::new("ghost")?;
        let server = Netns::new()?;
        let laptop = Netns::new()?;
        let office = Netns::new()?;
        let laptop_link = link(&server, &laptop)?;
        let office_link = link(&server, &office)?;
        let mut procs = Vec::new();

        let localhost = Ipv4Addr::LOCALHOST;
        let p = vsftpd(&server, &dir, localhost, VSFTPD_PORT)?;
        let vsftpd = service("vsftpd", &p, localhost, VSFTPD_PORT);
        procs.push(p);
        let p = socat_proxy(
            &server,
            &dir,
            FTP_PROXY_PORT,
            (IpAddr::V4(localhost), VSFTPD_PORT),
        )?;
        let proxy = service("socat", &p, Ipv4Addr::UNSPECIFIED, FTP_PROXY_PORT);
        procs.push(p);
        let p = sshd(&server, &dir, SSHD_PORT)?;
        let sshd = service("sshd", &p, Ipv4Addr::UNSPECIFIED, SSHD_PORT);
        procs.push(p);

        // The office: a busy FTP session and an idle SSH connection.
        let office_server = office_link.server_ip.to_string();
        let (p, line) = helper_ready(
            &office,
            &dir,
            "ftp-busy",
            &["ftp", &office_server, "21", "busy"],
        )?;
        procs.push(p);
        let busy = SocketAddr::new(office_link.client_ip.into(), ready_port(&line)?);
        let (p, line) = helper_ready(
            &office,
            &dir,
            "ssh-idle",
            &["banner", &office_server, &SSHD_PORT.to_string()],
        )?;
        procs.push(p);
        let ssh_client = SocketAddr::new(office_link.client_ip.into(), ready_port(&line)?);

        // The laptop logs in and goes quiet.
        let laptop_server = laptop_link.server_ip.to_string();
        let (mut laptop_ftp, line) = helper_ready(
            &laptop,
            &dir,
            "ftp-idle",
            &["ftp", &laptop_server, "21", "idle"],
        )?;
        let laptop_addr = SocketAddr::new(laptop_link.client_ip.into(), ready_port(&line)?);

        // Everything the server sent has been acknowledged before the laptop drops off the
        // network, so the server has nothing to retransmit: a pure ghost.
        wait_sockets(
            &server,
            "the laptop's session to be quiet",
            START_TIMEOUT,
            false,
            |snap| {
                let s = find(snap, laptop_addr, FTP_PROXY_PORT)?;
                if s.send_q == 0 && s.timer.is_none() && s.detail_u64("unacked").is_none() {
                    Ok(())
                } else {
                    Err(format!("not quiet yet: {}", s.line))
                }
            },
        )?;
        vanish(&laptop)?;
        laptop_ftp.kill();
        drop(laptop_ftp);

        let (ghost, busy_sock, ssh_sock) = wait_sockets(
            &server,
            "the ghost, the busy session and the SSH connection with owners",
            START_TIMEOUT,
            true,
            |snap| {
                let ghost = find(snap, laptop_addr, FTP_PROXY_PORT)?;
                let busy = find(snap, busy, FTP_PROXY_PORT)?;
                let ssh = find(snap, ssh_client, SSHD_PORT)?;
                if ghost.users.is_empty() || busy.users.is_empty() || ssh.users.is_empty() {
                    return Err("owners not visible yet".into());
                }
                Ok((ghost.clone(), busy.clone(), ssh.clone()))
            },
        )?;
        let ghost_pid = ghost.users[0].pid;
        let busy_pid = busy_sock.users[0].pid;
        let ssh_pid = ssh_sock.users[0].pid;
        Ok(GhostIncident {
            procs,
            server,
            laptop,
            office,
            laptop_link,
            office_link,
            proxy,
            vsftpd,
            sshd,
            ghost,
            ghost_pid,
            busy,
            busy_pid,
            ssh_client,
            ssh_pid,
            dir,
        })
    }

    /// The vanished laptop's address as the server sees it.
    pub fn laptop_addr(&self) -> SocketAddr {
        self.ghost.peer.socket_addr()
    }

    /// Waits until nothing has been received on the ghost for at least `min` (per `ss -i`), and
    /// returns the ghost as ss shows it then.
    pub fn wait_idle(&self, min: Duration) -> io::Result<SsSocket> {
        let min_ms = u64::try_from(min.as_millis()).unwrap_or(u64::MAX);
        let laptop = self.laptop_addr();
        wait_sockets(
            &self.server,
            "the ghost to be idle long enough",
            min + START_TIMEOUT,
            false,
            |snap| {
                let s = find(snap, laptop, FTP_PROXY_PORT)?;
                if received_ago_ms(s) >= min_ms {
                    Ok(s.clone())
                } else {
                    Err(format!("idle {} ms: {}", received_ago_ms(s), s.line))
                }
            },
        )
    }

    /// The scenario's temp directory (daemon configs and logs).
    pub fn workdir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// PIDs of the processes the scenario started directly (daemons' parents, helpers).
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Proc::pid).collect()
    }
}
