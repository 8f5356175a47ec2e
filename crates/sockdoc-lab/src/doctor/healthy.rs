//! A namespace with nothing wrong in it, for "healthy" verdicts: a listener, one busy and one
//! idle connection (both ends with keepalive where idle), and a few TIME-WAIT sockets.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use super::net::{link, received_ago_ms, wait_sockets, Link};
use super::proc::Proc;
use super::services::{
    helper_ready, helper_run, helper_server, ready_port, Service, START_TIMEOUT,
};
use super::workdir::Workdir;
use crate::netns::Netns;
use crate::state::SockState;

/// Port of the healthy echo server.
pub const HEALTHY_PORT: u16 = 7401;
/// TIME-WAIT sockets the scenario leaves in the server namespace.
pub const HEALTHY_TIME_WAIT: usize = 5;

/// The server namespace holds `ok-echo` on :7401 (echo server, SO_KEEPALIVE on every accepted
/// connection), with two clients from the client namespace: `ok-busy` sends a line every 100 ms,
/// `ok-idle` is silent (its socket also has keepalive). Five more clients asked the server to
/// close first, leaving five TIME-WAIT sockets on the server side.
#[derive(Debug)]
pub struct Healthy {
    procs: Vec<Proc>,
    pub server: Netns,
    pub client: Netns,
    pub link: Link,
    pub echo: Service,
    /// Client addresses of the busy and the idle connection.
    pub busy: SocketAddr,
    pub idle: SocketAddr,
    _dir: Workdir,
}

impl Healthy {
    pub fn build() -> io::Result<Healthy> {
        let dir = Workdir::new("healthy")?;
        let server = Netns::new()?;
        let client = Netns::new()?;
        let link = link(&server, &client)?;
        let sip = link.server_ip.to_string();
        let port = HEALTHY_PORT.to_string();
        let mut procs = Vec::new();
        let (p, echo) = helper_server(
            &server,
            &dir,
            "ok-echo",
            (link.server_ip, HEALTHY_PORT),
            128,
            &["echo", "keepalive"],
        )?;
        procs.push(p);
        let (p, line) = helper_ready(&client, &dir, "ok-busy", &["busy", &sip, &port])?;
        procs.push(p);
        let busy = SocketAddr::new(link.client_ip.into(), ready_port(&line)?);
        let (p, line) = helper_ready(
            &client,
            &dir,
            "ok-idle",
            &["idle", &sip, &port, "1", "keepalive"],
        )?;
        procs.push(p);
        let idle = SocketAddr::new(link.client_ip.into(), ready_port(&line)?);
        helper_run(
            &client,
            &dir,
            "ok-quitter",
            &["quit", &sip, &port, &HEALTHY_TIME_WAIT.to_string()],
        )?;
        wait_sockets(
            &server,
            "the healthy server's sockets",
            START_TIMEOUT,
            false,
            |snap| {
                let estab: Vec<_> = snap
                    .iter()
                    .filter(|s| s.state == SockState::Established && s.local.port == HEALTHY_PORT)
                    .collect();
                let tw = snap
                    .iter()
                    .filter(|s| s.state == SockState::TimeWait)
                    .count();
                let keepalive = estab
                    .iter()
                    .filter(|s| s.timer.as_ref().is_some_and(|t| t.kind == "keepalive"))
                    .count();
                if estab.len() == 2 && keepalive == 2 && tw == HEALTHY_TIME_WAIT {
                    Ok(())
                } else {
                    Err(format!(
                        "{} ESTAB ({keepalive} with keepalive), {tw} TIME-WAIT",
                        estab.len()
                    ))
                }
            },
        )?;
        Ok(Healthy {
            procs,
            server,
            client,
            link,
            echo,
            busy,
            idle,
            _dir: dir,
        })
    }

    /// Waits until the idle connection has received nothing for `min` on the server side.
    pub fn wait_idle(&self, min: Duration) -> io::Result<()> {
        let min_ms = u64::try_from(min.as_millis()).unwrap_or(u64::MAX);
        wait_sockets(
            &self.server,
            "the idle connection to age",
            min + START_TIMEOUT,
            false,
            |snap| {
                let s = super::net::find_estab(snap, self.idle, HEALTHY_PORT)?;
                if received_ago_ms(s) >= min_ms {
                    Ok(())
                } else {
                    Err(format!("idle {} ms", received_ago_ms(s)))
                }
            },
        )
    }

    /// PIDs of the scenario's processes.
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Proc::pid).collect()
    }
}
