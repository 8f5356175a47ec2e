//! The caller's own SSH connection, which nothing that closes connections (kill, probe --reap, reap,
//! top's actions) may ever touch: cutting it would lock the operator out mid-incident.

use std::net::IpAddr;

use sockdoc_diag::Socket;

/// The caller's own SSH connection, from `$SSH_CONNECTION` (`client_ip client_port server_ip
/// server_port`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnSsh {
    client: IpAddr,
    client_port: u16,
    server: IpAddr,
    server_port: u16,
}

impl OwnSsh {
    pub fn parse(text: &str) -> Option<OwnSsh> {
        let mut w = text.split_whitespace();
        Some(OwnSsh {
            client: w.next()?.parse().ok()?,
            client_port: w.next()?.parse().ok()?,
            server: w.next()?.parse().ok()?,
            server_port: w.next()?.parse().ok()?,
        })
    }

    /// The caller's, from the environment; `None` outside SSH.
    pub fn from_env() -> Option<OwnSsh> {
        OwnSsh::parse(&std::env::var("SSH_CONNECTION").ok()?)
    }

    /// True for the server end of that connection.
    pub fn is(&self, s: &Socket) -> bool {
        let same = |a: IpAddr, b: IpAddr| a == b || a.to_canonical() == b.to_canonical();
        s.remote_port == self.client_port
            && s.local_port == self.server_port
            && same(s.remote_ip(), self.client)
            && same(s.local_ip(), self.server)
    }
}
