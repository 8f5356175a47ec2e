//! Integration tests of the `sockdoc` binary against `ss` on real sockets.
//!
//! Every test builds its sockets with sockdoc-lab in fresh network namespaces (deleted again by
//! their guards, also when a test fails), runs the real binary (`CARGO_BIN_EXE_sockdoc`) and
//! compares its JSON with what `ss -tuanoeipHO` prints for the same sockets. Needs root, `ip`,
//! `nft`, `ss`, `socat` and `setpriv`.
//!
//! Modules: [`sockdoc`] runs the binary and reads its JSON, [`compare`] matches it against ss;
//! the rest are the tests, one concern each.

mod all_netns;
mod compare;
mod filters;
mod habits;
mod service;
mod service_select;
mod sockdoc;
mod states;
mod stats;
mod text;
mod units;
mod unprivileged;
