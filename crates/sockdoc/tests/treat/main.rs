//! Integration tests of the treatments: `sockdoc kill` (SOCK_DESTROY or shutdown through the owner's
//! fd) and `sockdoc keepalive` (SO_KEEPALIVE and its timings set on a running service's sockets
//! through `pidfd_getfd`).
//!
//! Each test builds its own scenario in fresh network namespaces (`sockdoc_lab::treat::EchoServer`:
//! a Python echo server without keepalive whose clients the test holds; or the seed incident,
//! `sockdoc_lab::doctor::GhostIncident`), runs the real binary with `--netns NS --json --audit-log
//! TMP` and stdin null, and checks the result against the kernel (`ss`), the peers (a reset, an
//! EOF, an echo), the owner process and the audit log. Everything is cleaned up by the scenario
//! guards, also when a test fails. Needs root, a kernel with CONFIG_INET_DIAG_DESTROY, `ip`, `nft`,
//! `ss`, python3, socat, vsftpd and sshd.
//!
//! Modules: [`run`] runs the binary and reads its JSON and audit log; [`audit`] (the log written
//! ahead of every act: full disks, SIGKILL), [`kill`], [`keepalive`] and
//! [`incident`] are the tests; [`zh`] checks the Chinese output against the kernel.

mod audit;
mod blank;
mod incident;
mod intents;
mod keepalive;
mod keepalive_safety;
mod kill;
mod run;
mod services;
mod states;
mod zh;
