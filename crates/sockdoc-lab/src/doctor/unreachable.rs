//! A peer that vanished while the server was sending: the server's data is never acknowledged,
//! so its connections sit with the retransmit timer running and a growing retransmission count
//! (until `tcp_retries2` gives up, minutes later).

use std::io;
use std::net::SocketAddr;

use super::net::{link, vanish, wait_sockets, Link};
use super::proc::Proc;
use super::services::{helper_ready, helper_server, ready_port, Service, START_TIMEOUT};
use super::workdir::Workdir;
use crate::netns::Netns;
use crate::ss::SsSocket;
use crate::state::SockState;

/// Port of the server that sends to the vanished peer.
pub const SENDER_PORT: u16 = 7301;
/// Port of the sender whose peer stays.
pub const HEALTHY_SENDER_PORT: u16 = 7302;

/// The server namespace holds `ur-sender` on :7301 and `ok-sender` on :7302; both send
/// `tick\n` every 100 ms on every accepted connection. `gone` (a client namespace) opened `conns`
/// connections to :7301 and then vanished (all its traffic dropped): the server's ticks pile up
/// unacknowledged and are retransmitted. `office` (another client namespace) keeps one
/// connection to :7302 and acknowledges everything.
#[derive(Debug)]
pub struct UnreachablePeer {
    procs: Vec<Proc>,
    pub server: Netns,
    pub gone: Netns,
    pub office: Netns,
    pub gone_link: Link,
    pub office_link: Link,
    pub sender: Service,
    pub healthy_sender: Service,
    /// Server-side peers (client addresses) of the connections to the vanished host.
    pub dead: Vec<SocketAddr>,
    _dir: Workdir,
}

impl UnreachablePeer {
    /// Builds the scenario and returns once every connection to the vanished host shows the
    /// retransmit timer with at least `min_retrans` retransmissions.
    pub fn build(conns: usize, min_retrans: u32) -> io::Result<UnreachablePeer> {
        let dir = Workdir::new("unreachable")?;
        let server = Netns::new()?;
        let gone = Netns::new()?;
        let office = Netns::new()?;
        let gone_link = link(&server, &gone)?;
        let office_link = link(&server, &office)?;
        let mut procs = Vec::new();
        let (p, sender) = helper_server(
            &server,
            &dir,
            "ur-sender",
            (std::net::Ipv4Addr::UNSPECIFIED, SENDER_PORT),
            128,
            &["tick"],
        )?;
        procs.push(p);
        let (p, healthy_sender) = helper_server(
            &server,
            &dir,
            "ok-sender",
            (std::net::Ipv4Addr::UNSPECIFIED, HEALTHY_SENDER_PORT),
            128,
            &["tick"],
        )?;
        procs.push(p);
        let (p, _) = helper_ready(
            &office,
            &dir,
            "ok-receiver",
            &[
                "idle",
                &office_link.server_ip.to_string(),
                &HEALTHY_SENDER_PORT.to_string(),
                "1",
            ],
        )?;
        procs.push(p);
        let (p, line) = helper_ready(
            &gone,
            &dir,
            "ur-receiver",
            &[
                "idle",
                &gone_link.server_ip.to_string(),
                &SENDER_PORT.to_string(),
                &conns.to_string(),
            ],
        )?;
        procs.push(p);
        ready_port(&line)?;
        let dead: Vec<SocketAddr> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|p| p.parse::<u16>().ok())
            .map(|port| SocketAddr::new(gone_link.client_ip.into(), port))
            .collect();
        // The ticks flow (and are acknowledged) on every connection before the host vanishes.
        wait_sockets(&server, "ticks to flow", START_TIMEOUT, false, |snap| {
            let flowing = dead
                .iter()
                .filter(|peer| {
                    snap.iter().any(|s| {
                        s.peer.socket_addr() == **peer
                            && s.detail_u64("bytes_acked").unwrap_or(0) > 1
                    })
                })
                .count();
            if flowing == dead.len() {
                Ok(())
            } else {
                Err(format!("{flowing}/{} flowing", dead.len()))
            }
        })?;
        vanish(&gone)?;
        let me = UnreachablePeer {
            procs,
            server,
            gone,
            office,
            gone_link,
            office_link,
            sender,
            healthy_sender,
            dead,
            _dir: dir,
        };
        me.wait_retrans(min_retrans)?;
        Ok(me)
    }

    /// Waits until every connection to the vanished host has its retransmit timer running with
    /// at least `min` retransmissions; returns those sockets.
    pub fn wait_retrans(&self, min: u32) -> io::Result<Vec<SsSocket>> {
        wait_sockets(
            &self.server,
            "retransmissions to the vanished host",
            START_TIMEOUT,
            false,
            |snap| {
                let socks: Vec<SsSocket> = snap
                    .iter()
                    .filter(|s| self.dead.contains(&s.peer.socket_addr()))
                    .cloned()
                    .collect();
                let retrying = socks
                    .iter()
                    .filter(|s| {
                        s.state == SockState::Established
                            && s.timer
                                .as_ref()
                                .is_some_and(|t| t.kind == "on" && t.count >= min)
                    })
                    .count();
                if retrying == self.dead.len() {
                    Ok(socks)
                } else {
                    Err(format!(
                        "{retrying}/{} retrying {min}+ times",
                        self.dead.len()
                    ))
                }
            },
        )
    }

    /// PIDs of the scenario's processes.
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Proc::pid).collect()
    }
}
