//! Doctor scenarios: servers in trouble, built from real daemons (vsftpd, sshd, nginx, socat) and
//! small Python helpers inside lab namespaces, for `sockdoc doctor` to diagnose.
//!
//! Each builder returns a guard that owns its namespaces, its temp directory and its child
//! processes; dropping it kills the processes (by PID), deletes the namespaces and removes the
//! directory, also while a failing test unwinds. Fields are declared so that processes go first,
//! then namespaces, then the directory.
//!
//! Servers and clients live in separate namespaces joined by a veth pair ([`Link`], addresses in
//! 10.2xx.x.0/24), so a client "host" can vanish (everything dropped in its namespace) while the
//! server keeps its sockets. Nothing leaves the namespaces the scenario created.
//!
//! Builders wait (polling `ss` in the namespace) until the sockets the scenario promises are
//! visible, so a caller can run sockdoc immediately.
//!
//! | scenario | what it shows |
//! |---|---|
//! | [`GhostIncident`] | the seed incident: an ESTAB socket on :21 held by a no-keepalive socat proxy whose client vanished; healthy sshd and busy FTP neighbours |
//! | [`CloseWaitLeak`] | a process that never closes: many CLOSE-WAIT sockets, a fresh-CLOSE-WAIT neighbour and a server that closes |
//! | [`ListenOverflow`] | a listener with backlog 4 that never accepts, N clients (more on demand, or a steady stream); an accepting neighbour |
//! | [`SynFlood`] | SYN-RECV sockets piling up under a listener whose handshake-completing ACKs are dropped (up to its backlog) |
//! | [`TimeWaitStorm`] | many short client-closed HTTP connections to nginx: TIME-WAIT in the client namespace, with a small `tcp_max_tw_buckets` |
//! | [`EphemeralPorts`] | a client namespace with a 100-port `ip_local_port_range` using most of it towards one server port |
//! | [`FdLimit`] | processes close to their `RLIMIT_NOFILE` soft limit (holds the lab lock exclusively: fd pressure is host-wide) |
//! | [`UnreachablePeer`] | connections retransmitting unacknowledged data to a peer that vanished |
//! | [`Healthy`] | a listener with a busy and an idle-with-keepalive connection and a few TIME-WAIT |

mod close_wait;
mod fd_limit;
mod ghost;
mod healthy;
mod listen;
mod net;
mod piles;
mod proc;
mod scripts;
mod services;
mod time_wait;
mod unreachable;
mod workdir;

pub use close_wait::{CloseWaitLeak, CLOSER_PORT, LEAKER_PORT, YOUNG_PORT};
pub use fd_limit::{FdHog, FdLimit};
pub use ghost::{GhostIncident, FTP_PROXY_PORT, SSHD_PORT, VSFTPD_PORT};
pub use healthy::{Healthy, HEALTHY_PORT, HEALTHY_TIME_WAIT};
pub use listen::{
    ListenOverflow, SynFlood, ACCEPTING_PORT, FLOODED_PORT, STUCK_BACKLOG, STUCK_PORT,
};
pub use net::{
    counter, find_estab, link, received_ago_ms, sysctl, sysctl_set, vanish, wait_sockets, Link,
};
pub use piles::{sockstat_orphans, ClosingPile, Fanout, SynSentFanout, UdpDrops, UdpHoard};
pub use proc::Proc;
pub use services::{helper_argv, Service};
pub use time_wait::{EphemeralPorts, TimeWaitStorm, EPHEMERAL_TARGET_PORT, NGINX_PORT, PORT_RANGE};
pub use unreachable::{UnreachablePeer, HEALTHY_SENDER_PORT, SENDER_PORT};
pub use workdir::Workdir;

#[cfg(test)]
mod tests;
