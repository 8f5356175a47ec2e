//! sockdoc-lab: a test lab for sockdoc.
//!
//! It builds throw-away network namespaces ([`Netns`]), injects packet loss with nftables, creates
//! real sockets in every reachable TCP/UDP state inside them ([`scenario`]), and reads the kernel's
//! view back through `ss` ([`ss`]) so that sockdoc's output can be cross-checked against the
//! reference tool on the very same sockets. For writers that must cope with a full disk (the audit
//! log) it mounts small tmpfs disks, full or nearly ([`disk`]).
//!
//! Everything is scoped: namespaces and cgroups are deleted by their guard's `Drop` (also while a failing test
//! unwinds), helper processes are killed by PID, and the calling thread never changes namespace
//! (sockets are created on a short-lived thread that joined the namespace, see [`in_netns`]).
//!
//! All functions need root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and the `ip`, `nft` and `ss` tools.
//!
//! Modules:
//! - [`netns`]: the namespace guard [`Netns`] (commands, nftables rules and packet drops inside it);
//! - [`cgroup`]: a throw-away cgroup v2 slice with child cgroups and processes started inside them;
//! - [`units`]: `web.service` and `api.service` in such a slice, real servers with clients;
//! - [`podman`]: a real Podman container (busybox image made on the spot, runc, no network);
//! - [`lock`]: the machine-wide lock that keeps lab namespaces still while a test scans all of them;
//! - [`scenario`]: sockets in a chosen TCP/UDP state, with what `ss` must show ([`Expected`]);
//! - [`ss`]: `ss` run inside a namespace and its output parsed into [`SsSocket`]s;
//! - [`state`]: families, protocols and socket states in `ss`'s and sockdoc's JSON spelling;
//! - [`doctor`]: servers in trouble built from real daemons, for `sockdoc doctor`;
//! - [`treat`]: an echo server without keepalive and client connections, for `kill` and `keepalive`;
//! - [`reap`]: `sockdoc reap` running in the background, with its logs and metrics;
//! - [`serve`]: `sockdoc serve` on a free loopback port, scraped over HTTP;
//! - [`probe`]: the arguments and results of `sockdoc ghosts --probe`;
//! - [`cli`]: the `sockdoc` binary run with a deadline and its JSON envelope checked;
//! - [`disk`]: small tmpfs disks, full or nearly;
//! - [`wait`]: polling with a deadline instead of fixed sleeps.
//!
//! Private: `enter` ([`in_netns`]), `owned` (this process's sockets, [`own_sockets`]) and `sys` (the
//! few system calls std lacks).

pub mod cgroup;
pub mod cli;
pub mod disk;
pub mod doctor;
mod enter;
pub mod lock;
pub mod netns;
mod owned;
pub mod podman;
pub mod probe;
pub mod prometheus;
pub mod reap;
pub mod scenario;
pub mod serve;
pub mod ss;
pub mod state;
mod sys;
pub mod treat;
pub mod units;
pub mod wait;

pub use enter::in_netns;
pub use lock::{ExclusiveNetnsLock, SharedNetnsLock};
pub use netns::{Hook, Netns};
pub use owned::{own_comm, own_socket_inodes, own_sockets};
pub use scenario::{Expected, Kind, Scenario};
pub use ss::{SsEndpoint, SsSocket, SsTimer, SsUser};
pub use state::{Family, Proto, SockState};
