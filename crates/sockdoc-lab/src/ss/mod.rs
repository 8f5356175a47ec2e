//! The reference view: run `ss` inside a lab namespace and parse what it prints.
//!
//! [`snapshot`] runs `ss -tuanoeipHO` (TCP and UDP, all states, numeric, timers, extended,
//! TCP_INFO, processes, no header, one line per socket) and returns typed [`SsSocket`]s;
//! [`query`] does the same with an ss filter appended (`state established '( sport = :80 )'`).
//!
//! The `_quick` variants leave out `-p`: finding owners means reading every `/proc/PID/fd` on the
//! host, which takes seconds when some process holds hundreds of thousands of files, while the
//! socket dump itself takes milliseconds. Polling loops and timing-sensitive reads use them.
//!
//! What ss 6.1 prints, as observed on Linux 6.18 with the lab's scenarios (sockdoc must match):
//! * `state X` filters selecting exactly one state drop the State column ([`implied_state`]).
//!   ss's filter words are `listening` and `closed`, not `listen` / `unconn`.
//! * `uid:N` only when N is not 0. TIME-WAIT and SYN-RECV entries: `ino:0`, uid 0, no users, no
//!   TCP_INFO.
//! * Timers: none for LISTEN, idle ESTAB, FIN-WAIT-2 and CLOSE-WAIT (sockets still held by a
//!   process) and UDP; `on` for SYN-SENT and SYN-RECV (count = SYN / SYN-ACK retransmissions),
//!   FIN-WAIT-1 and LAST-ACK (count = FIN retransmissions); `timewait,5Xsec,0` for TIME-WAIT;
//!   `keepalive` with SO_KEEPALIVE; `persist` facing a zero window (count = probes out, back to 0
//!   on every ACK). Time formats: see [`parse_duration`].
//! * `retrans:A/B` is tcpi_retrans (segments being retransmitted now) / tcpi_total_retrans; the
//!   `on` timer's count is tcpi_retransmits. Counters (`bytes_acked`, `unacked`, `backoff`,
//!   `lastsnd`, ...) are left out when 0. A SYN-SENT socket counts its SYN in Send-Q (1) and
//!   `unacked:1`.
//! * A TCP socket that is bound but neither listens nor connects is not shown by `ss -a`; the
//!   kernel returns it (as state 7, `UNCONN`) only when the request's state mask has bit 13
//!   (TCP_BOUND_INACTIVE), e.g. a mask of `!0`.
//! * An IPv6 socket bound to a specific address is v6-only, so its wildcard peer prints as
//!   `[::]:*`; a dual-stack wildcard prints as `*`. A device-bound socket prints `addr%dev:port`.
//! * ss writes `Failed to find cgroup2 mount` on stderr inside `ip netns exec` (harmless), and
//!   names cgroups there only by id; [`cgroups`] enters the namespace with `nsenter` instead.

mod model;
mod parse;
mod timer;

use std::io;
use std::path::Path;
use std::process::Command;

pub use model::{ParseError, SsEndpoint, SsSocket, SsTimer, SsUser};
pub use parse::{implied_state, parse_endpoint, parse_line, parse_line_in_state, parse_output};
pub use timer::{parse_duration, parse_timer};

use crate::netns::Netns;

/// The options the lab passes to ss (with owners).
pub const SS_OPTIONS: &str = "-tuanoeipHO";
/// The same without `-p`.
pub const SS_OPTIONS_QUICK: &str = "-tuanoeiHO";

/// Every TCP and UDP socket in `ns`, with owners, as ss sees it.
pub fn snapshot(ns: &Netns) -> io::Result<Vec<SsSocket>> {
    query(ns, &[])
}

/// Every TCP and UDP socket in `ns`, without owners (`users` empty).
pub fn snapshot_quick(ns: &Netns) -> io::Result<Vec<SsSocket>> {
    query_quick(ns, &[])
}

/// The sockets in `ns` that match ss filter words `filter` (passed to ss as separate arguments,
/// exactly as given), with owners.
pub fn query(ns: &Netns, filter: &[&str]) -> io::Result<Vec<SsSocket>> {
    run(ns, SS_OPTIONS, filter)
}

/// Like [`query`] without owners.
pub fn query_quick(ns: &Netns, filter: &[&str]) -> io::Result<Vec<SsSocket>> {
    run(ns, SS_OPTIONS_QUICK, filter)
}

fn run(ns: &Netns, options: &str, filter: &[&str]) -> io::Result<Vec<SsSocket>> {
    let mut args = vec!["ss", options];
    args.extend_from_slice(filter);
    let text = ns.exec(&args)?;
    // ss drops the State column when the filter selects a single state.
    let implied = implied_state(filter);
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_line_in_state(l, implied))
        .collect::<Result<_, _>>()
        .map_err(io::Error::other)
}

/// `(state, cgroup path)` of each TCP socket matching `filter` in the namespace of `ns_file`
/// (`/run/netns/NAME`, `/proc/PID/ns/net`), from `ss -tanHe` run through `nsenter`: unlike `ip
/// netns exec` it keeps the host's /sys, so ss finds the cgroup2 mount and prints paths.
pub fn cgroups(ns_file: &Path, filter: &[&str]) -> io::Result<Vec<(String, String)>> {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", ns_file.display()))
        .args(["ss", "-tanHe"])
        .args(filter)
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "nsenter ss -tanHe: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut words = l.split_whitespace();
            let state = words.next().unwrap_or_default().to_string();
            let cgroup = words
                .find_map(|w| w.strip_prefix("cgroup:"))
                .unwrap_or_default()
                .to_string();
            (state, cgroup)
        })
        .collect())
}
