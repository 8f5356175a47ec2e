//! Integration tests of `sockdoc doctor` and `sockdoc ghosts` on servers in trouble.
//!
//! Each test builds one scenario from `sockdoc_lab::doctor` (real daemons and helper processes in
//! fresh network namespaces joined by veth pairs; all cleaned up by the scenario's guard, also
//! when a test fails), runs the real binary with `--netns NS --json --interval 200ms` and checks
//! that the finding fires with the numbers the kernel shows (`ss`, sysctls, `/proc`), and that the
//! healthy neighbours in the same namespace do not. Needs root, `ip`, `nft`, `ss`, python3,
//! socat, vsftpd, sshd and nginx.
//!
//! Modules: [`run`] runs the binary and checks the JSON shape; the rest are the tests, one
//! scenario family each.

mod close_wait;
mod ghost;
mod healthy;
mod limits;
mod listen;
mod piles;
mod ports;
mod run;
mod services;
mod sysctl;
mod unreachable;
