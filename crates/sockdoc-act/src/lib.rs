//! sockdoc-act: what sockdoc does to live sockets, one safe step at a time.
//!
//! - [`pidfd`]: borrow a running process's socket (`pidfd_getfd`) without stopping it;
//! - [`kill`]: the kill ladder — SOCK_DESTROY, then shutdown through the owner's fd — recording why
//!   each rung failed;
//! - [`keepalive`]: retrofit TCP keepalive onto a process's sockets, remembering what was there;
//! - [`audit`]: the append-only JSON-lines log every action writes.
//!
//! It decides nothing: callers choose the selection (from a census), confirm it with the user, and
//! re-read the kernel afterwards to report what really happened.

pub mod audit;
pub mod keepalive;
pub mod kill;
pub mod pidfd;
pub mod probe;
pub mod sysctl;
