//! A CLOSE-WAIT leak: a server that accepts connections and never closes them. Every client that
//! hangs up leaves a CLOSE-WAIT socket behind, held by the server until it exits.

use std::io;
use std::time::Duration;

use super::net::{link, received_ago_ms, wait_sockets, Link};
use super::proc::Proc;
use super::services::{helper_run, helper_server, Service, START_TIMEOUT};
use super::workdir::Workdir;
use crate::netns::Netns;
use crate::ss::SsSocket;
use crate::state::SockState;

/// Port of the leaking server.
pub const LEAKER_PORT: u16 = 7001;
/// Port of the server with a few fresh CLOSE-WAIT sockets.
pub const YOUNG_PORT: u16 = 7002;
/// Port of the server that closes properly.
pub const CLOSER_PORT: u16 = 7003;

/// The server namespace holds:
///
/// * `cw-leaker` on :7001 (accepts, never reads, never closes): `leaked` CLOSE-WAIT sockets;
/// * `cw-young` on :7002 (the same program): `young` CLOSE-WAIT sockets, created last, so they
///   are only as old as the build;
/// * `cw-closer` on :7003, which closes when its client does: served `10` clients and holds no
///   connection.
///
/// All clients ran in the client namespace and are gone.
#[derive(Debug)]
pub struct CloseWaitLeak {
    procs: Vec<Proc>,
    pub server: Netns,
    pub client: Netns,
    pub link: Link,
    pub leaker: Service,
    pub young: Service,
    pub closer: Service,
    /// CLOSE-WAIT sockets of `cw-leaker`.
    pub leaked: usize,
    /// CLOSE-WAIT sockets of `cw-young`.
    pub young_count: usize,
    _dir: Workdir,
}

impl CloseWaitLeak {
    /// Builds the scenario; returns once ss shows `leaked` + `young` CLOSE-WAIT sockets, each held
    /// by its server, and nothing on the closer's port but its listener.
    pub fn build(leaked: usize, young: usize) -> io::Result<CloseWaitLeak> {
        let dir = Workdir::new("close-wait")?;
        let server = Netns::new()?;
        let client = Netns::new()?;
        let link = link(&server, &client)?;
        let ip = link.server_ip;
        let sip = ip.to_string();
        let mut procs = Vec::new();

        let (p, leaker) = helper_server(
            &server,
            &dir,
            "cw-leaker",
            (ip, LEAKER_PORT),
            1024,
            &["hold"],
        )?;
        procs.push(p);
        let (p, young_svc) =
            helper_server(&server, &dir, "cw-young", (ip, YOUNG_PORT), 128, &["hold"])?;
        procs.push(p);
        let (p, closer) = helper_server(
            &server,
            &dir,
            "cw-closer",
            (ip, CLOSER_PORT),
            128,
            &["close"],
        )?;
        procs.push(p);

        let port = |p: u16| p.to_string();
        helper_run(
            &client,
            &dir,
            "cw-client",
            &["connclose", &sip, &port(CLOSER_PORT), "10"],
        )?;
        helper_run(
            &client,
            &dir,
            "cw-client",
            &["connclose", &sip, &port(LEAKER_PORT), &leaked.to_string()],
        )?;
        if young > 0 {
            helper_run(
                &client,
                &dir,
                "cw-client",
                &["connclose", &sip, &port(YOUNG_PORT), &young.to_string()],
            )?;
        }
        wait_sockets(
            &server,
            "CLOSE-WAIT sockets held by their servers",
            START_TIMEOUT,
            false,
            |snap| {
                let held = |port| {
                    snap.iter()
                        .filter(|s| {
                            s.state == SockState::CloseWait && s.local.port == port && s.ino != 0
                        })
                        .count()
                };
                let at_closer = snap
                    .iter()
                    .filter(|s| s.local.port == CLOSER_PORT && s.state != SockState::Listen)
                    .count();
                let (l, y) = (held(LEAKER_PORT), held(YOUNG_PORT));
                if l == leaked && y == young && at_closer == 0 {
                    Ok(())
                } else {
                    Err(format!(
                        "leaker {l}/{leaked}, young {y}/{young}, closer still has {at_closer}"
                    ))
                }
            },
        )?;
        Ok(CloseWaitLeak {
            procs,
            server,
            client,
            link,
            leaker,
            young: young_svc,
            closer,
            leaked,
            young_count: young,
            _dir: dir,
        })
    }

    /// The leaker's CLOSE-WAIT sockets as ss shows them now.
    pub fn leaked_sockets(&self) -> io::Result<Vec<SsSocket>> {
        Ok(crate::ss::snapshot_quick(&self.server)?
            .into_iter()
            .filter(|s| s.state == SockState::CloseWait && s.local.port == LEAKER_PORT)
            .collect())
    }

    /// Waits until every leaked socket has received nothing for at least `min`.
    pub fn wait_idle(&self, min: Duration) -> io::Result<()> {
        let min_ms = u64::try_from(min.as_millis()).unwrap_or(u64::MAX);
        wait_sockets(
            &self.server,
            "the leaked CLOSE-WAIT sockets to age",
            min + START_TIMEOUT,
            false,
            |snap| {
                let youngest = snap
                    .iter()
                    .filter(|s| s.state == SockState::CloseWait && s.local.port == LEAKER_PORT)
                    .map(received_ago_ms)
                    .min()
                    .unwrap_or(0);
                if youngest >= min_ms {
                    Ok(())
                } else {
                    Err(format!("youngest idle {youngest} ms"))
                }
            },
        )
    }

    /// The leak fixed the hard way: `cw-leaker` killed (and reaped), so its CLOSE-WAIT sockets
    /// close.
    pub fn kill_leaker(&mut self) -> io::Result<()> {
        let pid = self.leaker.pid;
        match self.procs.iter_mut().find(|p| p.pid() == pid) {
            Some(p) => {
                p.kill();
                Ok(())
            }
            None => Err(io::Error::other("cw-leaker is not running")),
        }
    }

    /// PIDs of the scenario's processes.
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Proc::pid).collect()
    }
}
