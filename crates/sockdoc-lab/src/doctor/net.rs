//! Plumbing shared by the doctor scenarios: veth links between namespaces, sysctls and kernel
//! counters read inside a namespace, making a host vanish, and waiting for socket states.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::netns::Netns;
use crate::ss::{self, SsSocket};
use crate::state::SockState;
use crate::wait;

static LINKS: AtomicU32 = AtomicU32::new(0);

/// A veth pair between a server and a client namespace, one /24 of 10.200.0.0-10.249.255.0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// `.1` of the /24, on the server side.
    pub server_ip: Ipv4Addr,
    /// `.2`, on the client side.
    pub client_ip: Ipv4Addr,
    /// Interface name, the same on both sides (`sd<N>`).
    pub iface: String,
}

/// Joins `server` and `client` with a veth pair `sd<N>` (both ends named alike, each inside its
/// namespace) carrying a fresh 10.2xx.y.0/24: server `.1`, client `.2`. Links are numbered per
/// test process, so a namespace linked to several others gets a distinct subnet on each.
pub fn link(server: &Netns, client: &Netns) -> io::Result<Link> {
    let n = LINKS.fetch_add(1, Ordering::Relaxed);
    let (hi, lo) = (200 + (n / 256) % 50, n % 256);
    let net = format!("10.{hi}.{lo}");
    let iface = format!("sd{n}");
    // Created from inside the server namespace, so no name is ever used in the host's namespace.
    server.exec(&[
        "ip",
        "link",
        "add",
        &iface,
        "type",
        "veth",
        "peer",
        "name",
        &iface,
        "netns",
        client.name(),
    ])?;
    for (ns, host) in [(server, 1), (client, 2)] {
        ns.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{net}.{host}/24"),
            "dev",
            &iface,
        ])?;
        ns.exec(&["ip", "link", "set", &iface, "up"])?;
    }
    let ip = |host: u8| Ipv4Addr::new(10, hi as u8, lo as u8, host);
    Ok(Link {
        server_ip: ip(1),
        client_ip: ip(2),
        iface,
    })
}

/// `sysctl -n key` inside `ns`, trimmed (`ip_local_port_range` comes back as `"40000\t40099"`).
pub fn sysctl(ns: &Netns, key: &str) -> io::Result<String> {
    Ok(ns.exec(&["sysctl", "-n", key])?.trim().to_string())
}

/// `sysctl -w key=value` inside `ns` (network sysctls are per namespace).
pub fn sysctl_set(ns: &Netns, key: &str, value: &str) -> io::Result<()> {
    ns.exec(&["sysctl", "-q", "-w", &format!("{key}={value}")])
        .map(drop)
}

/// A kernel SNMP counter as seen inside `ns`: `section` is the prefix in `/proc/net/netstat` or
/// `/proc/net/snmp` (`TcpExt`, `Tcp`, `IpExt`), `name` the column (`ListenOverflows`).
pub fn counter(ns: &Netns, section: &str, name: &str) -> io::Result<u64> {
    for file in ["/proc/net/netstat", "/proc/net/snmp"] {
        let text = ns.exec(&["cat", file])?;
        let mut lines = text.lines();
        while let (Some(header), Some(values)) = (lines.next(), lines.next()) {
            let (Some(h), Some(v)) = (
                header
                    .strip_prefix(section)
                    .and_then(|r| r.strip_prefix(':')),
                values
                    .strip_prefix(section)
                    .and_then(|r| r.strip_prefix(':')),
            ) else {
                continue;
            };
            if let Some((_, value)) = h
                .split_whitespace()
                .zip(v.split_whitespace())
                .find(|(k, _)| *k == name)
            {
                return value
                    .parse()
                    .map_err(|_| io::Error::other(format!("{section}:{name} = {value:?}")));
            }
        }
    }
    Err(io::Error::other(format!(
        "no counter {section}:{name} in {}",
        ns.name()
    )))
}

/// Makes the host behind `ns` vanish from the network: every packet in or out of it is dropped
/// (policy drop on input, output and forward). Nothing it sends afterwards (FIN, RST, ACK)
/// reaches anyone.
pub fn vanish(ns: &Netns) -> io::Result<()> {
    ns.nft(
        "table inet sdlab_vanish {\n\
         \tchain input { type filter hook input priority -300; policy drop; }\n\
         \tchain output { type filter hook output priority -300; policy drop; }\n\
         \tchain forward { type filter hook forward priority -300; policy drop; }\n\
         }\n",
    )
}

/// Polls `ss` in `ns` (with owners when `owners`, which is slower) until `check` accepts the
/// snapshot; `Err(status)` from `check` means "not yet".
pub fn wait_sockets<T>(
    ns: &Netns,
    what: &str,
    timeout: Duration,
    owners: bool,
    mut check: impl FnMut(&[SsSocket]) -> Result<T, String>,
) -> io::Result<T> {
    wait::poll(timeout, what, || {
        let snap = if owners {
            ss::snapshot(ns)?
        } else {
            ss::snapshot_quick(ns)?
        };
        Ok(check(&snap).map_err(|status| {
            format!(
                "{status}; ss shows:\n{}",
                snap.iter()
                    .map(|s| s.line.trim())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        }))
    })
}

/// Milliseconds since anything (data or ACK) was received on `s`: the smaller of ss's `lastrcv`
/// and `lastack` (ss leaves a counter out when it is 0).
pub fn received_ago_ms(s: &SsSocket) -> u64 {
    let rcv = s.detail_u64("lastrcv").unwrap_or(0);
    let ack = s.detail_u64("lastack").unwrap_or(0);
    rcv.min(ack)
}

/// The ESTAB socket on local `port` whose peer is `peer`.
pub fn find_estab(snap: &[SsSocket], peer: SocketAddr, port: u16) -> Result<&SsSocket, String> {
    snap.iter()
        .find(|s| {
            s.state == SockState::Established
                && s.local.port == port
                && s.peer.socket_addr() == peer
        })
        .ok_or_else(|| format!("no ESTAB :{port} <- {peer}"))
}
