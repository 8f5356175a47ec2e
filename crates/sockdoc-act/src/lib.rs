//! sockdoc-act: what sockdoc does to live sockets, one safe step at a time.
//!
//! - [`treat`]: the one treat path every command acts through — a selection (sockets by cookie, with
//!   their owners) → act → one re-read of the kernel → one typed audit record per socket;
//! - [`kill`]: the kill ladder — SOCK_DESTROY, then shutdown through the owner's fd, then a forged
//!   RST — recording why each rung failed (SOCK_DESTROY in bulk through `sockdoc_diag::bulk`);
//! - [`pidfd`]: borrow a running process's socket (`pidfd_getfd`) without stopping it;
//! - [`raw`] and [`challenge`]: forged TCP segments and their capture, and learning a connection's
//!   sequence numbers from a challenge ACK (the killcx method), for the `rst` rung and raw probes;
//! - [`probe`]: keepalive and raw probes of ghost suspects, and putting back what a probe changed;
//! - [`keepalive`]: retrofit TCP keepalive onto a process's sockets — only the options asked for,
//!   checked against the kernel's limits, all or nothing per socket — remembering what was there;
//! - [`audit`]: the append-only JSON-lines log every action writes; acts go through
//!   [`audit::WriteAhead`], which puts each batch's intent records on disk before the batch is acted
//!   on (while the batch before is acted on) and its outcome records with a later batch's, and stops
//!   the run when a record cannot be written;
//! - [`beside`]: work in the namespace a socket lives in (more sock_diag sockets for bulk acts, raw
//!   sockets for the `rst` rung);
//! - [`sysctl`]: applying sysctl settings as one transaction, with the previous values kept.
//!
//! It decides nothing: callers choose the selection (from a census), confirm it with the user, and
//! the treat path re-reads the kernel afterwards to report what really happened.

pub mod audit;
pub mod beside;
pub mod challenge;
pub mod keepalive;
pub mod kill;
pub mod pidfd;
pub mod probe;
pub mod raw;
pub mod sysctl;
pub mod treat;
