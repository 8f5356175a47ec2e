//! English: the doctor's findings, worded from their typed evidence (one function per kind, in the
//! order `diagnose` runs them).

use crate::doctor::closing::{CloseWaitLeak, UnreachablePeers};
use crate::doctor::ghosts::{GhostSuspects, KeepaliveCoverage};
use crate::doctor::limits::{ConntrackFull, FdLimit};
use crate::doctor::listen::{ListenOverflow, SynFlood};
use crate::doctor::piles::{ClosingPiles, SynSentFanout, UdpTrouble};
use crate::doctor::ports::{EphemeralPorts, TimeWaitPressure};
use crate::doctor::sysctl::{SysctlObsolete, SysctlRisky};
use crate::doctor::{Evidence, ServiceOf};
use crate::i18n::Words;
use crate::sysctl_audit::judge::{
    self, KEEPALIVE_INTVL_MAX as INTVL, KEEPALIVE_PROBES_MAX as PROBES, KEEPALIVE_TIME_SET as IDLE,
    PORT_RANGE_HIGH_SET, PORT_RANGE_LOW_MIN, RETRIES2_MIN, SOMAXCONN_MIN,
};
use crate::units::duration_ms as human_ms;

/// The words of a finding.
pub fn words(e: &Evidence) -> Words {
    match e {
        Evidence::GhostSuspects(e) => ghost_suspects(e),
        Evidence::KeepaliveCoverage(e) => keepalive_coverage(e),
        Evidence::CloseWaitLeak(e) => close_wait_leak(e),
        Evidence::UnreachablePeers(e) => unreachable_peers(e),
        Evidence::TimeWaitPressure(e) => time_wait_pressure(e),
        Evidence::EphemeralPorts(e) => ephemeral_ports(e),
        Evidence::ListenOverflow(e) => listen_overflow(e),
        Evidence::SynFlood(e) => syn_flood(e),
        Evidence::SynSentFanout(e) => syn_sent_fanout(e),
        Evidence::ClosingPiles(e) => closing_piles(e),
        Evidence::UdpTrouble(e) => udp_trouble(e),
        Evidence::FdLimit(e) => fd_limit(e),
        Evidence::ConntrackFull(e) => conntrack_full(e),
        Evidence::SysctlObsolete(e) => sysctl_obsolete(e),
        Evidence::SysctlRisky(e) => sysctl_risky(e),
    }
}

fn s(t: &str) -> String {
    t.to_string()
}

/// A process as a finding names it: `api.service (python3/1234)`, `container web (nginx/7)`,
/// `pod shop/cart-0 (nginx/7)`, or `python3/1234` when the census knew no service for it.
fn who(process: &str, pid: u32, service: &ServiceOf) -> String {
    crate::i18n::who(
        process,
        pid,
        service,
        ("container", "pod", "owner unknown"),
        false,
    )
}

/// [`who`] for inside parentheses: `api.service, python3/1234`.
fn who_inner(process: &str, pid: u32, service: &ServiceOf) -> String {
    crate::i18n::who(
        process,
        pid,
        service,
        ("container", "pod", "owner unknown"),
        true,
    )
}

fn restart(service: &ServiceOf) -> String {
    service
        .restart_command()
        .map_or(String::new(), |c| format!(": {c}"))
}

fn ghost_suspects(e: &GhostSuspects) -> Words {
    let top = &e.groups[0];
    let threshold = human_ms(e.threshold_ms);
    let total = e.suspects;
    let place = if top.local_port != 0 {
        format!("on port {}", top.local_port)
    } else {
        format!("to remote port {}", top.remote_port)
    };
    let filter = top.port_filter();
    let who = who_inner(&top.process, top.pid, &top.service);
    let (title, seen) = if e.idle_known {
        (
            format!("{total} ESTABLISHED connections look half-open (silent > {threshold}, no keepalive); most {place} ({who})"),
            format!("These connections have no keepalive timer, nothing unacknowledged in flight, and have received no data or ACK for over {threshold}."),
        )
    } else {
        (
            format!("{total} ESTABLISHED connections have no keepalive timer (idle time unknown); most {place} ({who})"),
            s("These connections have no keepalive timer and nothing queued to send; the evidence has no tcp_info, so how long they have been silent is unknown."),
        )
    };
    Words {
        title,
        detail: format!("{seen} If the peer vanished (network cut, host powered off, client killed behind a firewall), its FIN or RST never arrived and the kernel will keep the connection forever. They are suspects, not proven dead."),
        why: s("TCP has no heartbeat of its own: without SO_KEEPALIVE an idle connection whose peer is gone stays ESTABLISHED until the process closes it. Each one holds a file descriptor, memory and often an application slot (a proxy's connection limit), so they pile up for days, as in the incident with the FTP proxy."),
        fix: vec![
            format!("sockdoc ghosts --idle {threshold}   # list the suspects with owner, peer and idle time"),
            format!("sockdoc keepalive --yes --idle {IDLE} --intvl {INTVL} --cnt {PROBES} {filter}   # keepalive on the running service, no restart: the kernel then drops dead peers by itself"),
            format!(
                "sockdoc kill --dry-run dst {} {filter}   # close a suspect now, once you know its peer is gone",
                top.peers.first().map_or("PEER", String::as_str)
            ),
            s("Fix the service for good: set SO_KEEPALIVE (and TCP_KEEPIDLE/INTVL/CNT) on accepted sockets, or an idle timeout in its config"),
        ],
    }
}

fn keepalive_coverage(e: &KeepaliveCoverage) -> Words {
    let uncovered = e.uncovered();
    let list = uncovered
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let title = if uncovered.is_empty() {
        format!(
            "Keepalive is on for connections of all {} busy services",
            e.ports.len()
        )
    } else {
        format!("No keepalive on any connection of port(s) {list}: dead clients there are never detected")
    };
    let fix = match uncovered.first() {
        Some(port) => vec![
            format!("sockdoc keepalive --dry-run sport = :{port}   # retrofit keepalive onto the live service (then --yes)"),
            format!("Turn keepalive on in the service (SO_KEEPALIVE on accepted sockets; e.g. socat's `keepalive` option, sshd's TCPKeepAlive yes) and shorten the kernel window: net.ipv4.tcp_keepalive_time={IDLE}, tcp_keepalive_intvl={INTVL}, tcp_keepalive_probes={PROBES}"),
        ],
        None => Vec::new(),
    };
    Words {
        title,
        detail: s("Share of each listening service's ESTABLISHED connections with a keepalive timer (the Timer column of `sockdoc list`, `timer:(keepalive,...)` in `ss -o`)."),
        why: s("Only sockets with SO_KEEPALIVE are ever probed; net.ipv4.tcp_keepalive_* change nothing for the others. Services at 0% rely entirely on their own idle timeouts."),
        fix,
    }
}

fn close_wait_leak(e: &CloseWaitLeak) -> Words {
    let top = &e.groups[0];
    let (leaked, pid, port, name) = (e.leaked, top.pid, top.local_port, &top.process);
    let (holder, restart) = (who(name, pid, &top.service), restart(&top.service));
    Words {
        title: format!("{leaked} CLOSE-WAIT sockets: the peer closed, the application never did; most in {holder} on port {port}"),
        detail: format!(
            "{holder} holds {} of them, the oldest silent for {}. CLOSE-WAIT only ends when the owning process calls close().",
            top.count,
            human_ms(top.max_idle_ms)
        ),
        why: s("This is a bug in the application (a leaked socket: an error path that returns without closing, a pool that never checks connections). No sysctl shortens CLOSE-WAIT. Destroying the sockets (ss -K) resets them but does not give the leaked file descriptors back: the process keeps them until it closes them or exits, so it will still run out of fds."),
        fix: vec![
            format!("sockdoc list -p state close-wait pid {pid}   # which peers, how long"),
            format!("Fix the close() path in {name} (or restart it to release the fds now{restart})"),
        ],
    }
}

fn unreachable_peers(e: &UnreachablePeers) -> Words {
    let top = &e.groups[0];
    let (total, peer, retries2) = (e.connections, &top.remote_ip, e.tcp_retries2);
    Words {
        title: format!("{total} connections are retransmitting to peers that do not answer; most to {peer} ({})", who_inner(&top.process, top.pid, &top.service)),
        detail: format!(
            "Their retransmission timer is running (up to {} retransmissions so far). The kernel gives up after net.ipv4.tcp_retries2 = {retries2} retransmissions (~15 minutes at the default 15).",
            top.max_retrans
        ),
        why: s("Data is stuck in the send queue of a connection whose peer is gone or unreachable; the application blocks or buffers meanwhile. Keepalive does not help here (it only runs on idle connections); TCP_USER_TIMEOUT does."),
        fix: vec![
            format!("sockdoc list -p dst {peer} timer on   # the stuck connections"),
            format!("Set TCP_USER_TIMEOUT in the application (e.g. 30000 ms) so it fails fast; lowering tcp_retries2 (e.g. {RETRIES2_MIN}, ~100 s) affects every connection on the host"),
        ],
    }
}

fn time_wait_pressure(e: &TimeWaitPressure) -> Words {
    let (tw, pct, max, overflow) = (e.time_wait, e.percent, e.max_tw_buckets, e.overflow_delta);
    let lost = if overflow > 0 {
        format!("; {overflow} destroyed early in the last interval")
    } else {
        String::new()
    };
    Words {
        title: format!("{tw} TIME-WAIT sockets, {pct}% of net.ipv4.tcp_max_tw_buckets = {max}{lost}"),
        detail: s("TIME-WAIT belongs to the side that closes first and lasts 60 s (2 MSL, fixed in Linux). When the table is full the kernel destroys new TIME-WAIT sockets at once (TCPTimeWaitOverflow) and logs \"TCP: time wait bucket table overflow\"."),
        why: s("TIME-WAIT itself is cheap and protects new connections from old duplicate segments; a tiny tcp_max_tw_buckets (such as the 5000 blog posts recommend) only trades that safety away. The cost worth fixing is the connection churn behind it, and the ephemeral ports it pins on the client side."),
        fix: vec![
            s("sockdoc stats state time-wait --by remote-ip,remote-port   # who churns connections"),
            s("Reuse connections (HTTP keep-alive, connection pools) instead of one connection per request; let the client close first where you control both sides"),
            s("For outgoing connections: net.ipv4.tcp_tw_reuse=1 (safe with timestamps). Do not look for tcp_tw_recycle: it broke clients behind NAT and was removed in Linux 4.12. tcp_fin_timeout does not shorten TIME-WAIT (it only limits orphaned FIN-WAIT-2)"),
        ],
    }
}

fn ephemeral_ports(e: &EphemeralPorts) -> Words {
    let top = &e.groups[0];
    let (n, range, worst) = (top.used, e.range_size, e.percent(top.used));
    let (lip, rip, rport) = (top.local_ip, top.remote_ip, top.remote_port);
    let (lo, hi) = (e.low, e.high);
    Words {
        title: format!("{n} of {range} ephemeral ports ({worst}%) in use from {lip} to {rip}:{rport}: new connections there will fail"),
        detail: format!("Each connection to one destination (address and port) from one source address needs its own local port from net.ipv4.ip_local_port_range = {lo} {hi}; TIME-WAIT sockets keep theirs for 60 s."),
        why: s("When the range is used up, connect() fails with EADDRNOTAVAIL (\"Cannot assign requested address\") and clients see timeouts or errors."),
        fix: vec![
            format!("sockdoc stats dst {rip} dport = :{rport} --by state   # TIME-WAIT or live connections?"),
            format!("Reuse connections (pooling, keep-alive); widen the range (net.ipv4.ip_local_port_range=\"{PORT_RANGE_LOW_MIN} {PORT_RANGE_HIGH_SET}\"); net.ipv4.tcp_tw_reuse=1 for outgoing connections; spread over more source addresses or destination ports"),
        ],
    }
}

fn listen_overflow(e: &ListenOverflow) -> Words {
    let (overflows, drops, somaxconn) =
        (e.listen_overflows_delta, e.listen_drops_delta, e.somaxconn);
    let title = match e.groups.first() {
        Some(g) => format!(
            "Accept queue of port {} ({}) holds {} connections for a backlog of {}: new connections are dropped",
            g.local_port, who_inner(&g.process, g.pid, &g.service), g.accept_queue, g.backlog
        ),
        None => format!("{overflows} connections were dropped because an accept queue was full (ListenOverflows) in the last interval"),
    };
    Words {
        title,
        detail: format!("A listener's Recv-Q is its accept queue (handshakes done, waiting for accept()), Send-Q its backlog (min of listen()'s argument and net.core.somaxconn = {somaxconn}). ListenOverflows grew by {overflows}, ListenDrops by {drops} during the interval."),
        why: s("When the queue is full the kernel ignores the client's final ACK (or SYN); clients see connect timeouts and retries of 1 s, 3 s, 7 s... while the server looks idle. The usual cause is an application that accepts too slowly (blocked workers, too few threads), not the backlog size."),
        fix: vec![
            s("sockdoc list listening recvq '>' 0   # which listeners are backed up"),
            format!("Find why the process does not accept (stuck workers, CPU); then raise the backlog in the application and net.core.somaxconn (e.g. {SOMAXCONN_MIN}) if bursts are legitimate"),
        ],
    }
}

fn syn_flood(e: &SynFlood) -> Words {
    let top = &e.groups[0];
    let (n, port, b) = (top.syn_recv, top.local_port, top.backlog);
    let (total, syncookies, max_syn) = (e.syn_recv, e.syncookies, e.tcp_max_syn_backlog);
    let mut fix = vec![format!("sockdoc stats state syn-recv sport = :{port} --by remote-ip,peer-prefix   # one source or many?")];
    if syncookies == 0 {
        fix.push(format!(
            "{}   # answer with cookies when the queue is full",
            judge::set_command(
                "net.ipv4.tcp_syncookies",
                &judge::SYNCOOKIES_SET.to_string()
            )
        ));
    }
    fix.push(s("Filter floods upstream (nftables rate limits per source: `tcp flags syn limit rate over 100/second drop`); raise tcp_max_syn_backlog and the listen backlog for legitimate bursts"));
    Words {
        title: format!("{n} half-open handshakes (SYN-RECV) on port {port} (backlog {b}): a SYN flood, or clients whose final ACK is lost"),
        detail: format!(
            "{total} SYN-RECV in all. net.ipv4.tcp_syncookies = {syncookies}, net.ipv4.tcp_max_syn_backlog = {max_syn}; TCPReqQFullDrop grew by {} and SyncookiesSent by {} during the interval.",
            e.req_q_full_drop_delta, e.syncookies_sent_delta
        ),
        why: s("Each SYN-RECV holds a request slot for several SYN-ACK retransmissions (net.ipv4.tcp_synack_retries). When the SYN queue fills, legitimate clients cannot connect unless syncookies answer for it."),
        fix,
    }
}

fn syn_sent_fanout(e: &SynSentFanout) -> Words {
    let top = &e.groups[0];
    let (total, hosts, pid, name, top_dest) = (
        e.syn_sent,
        e.hosts,
        top.pid,
        &top.process,
        &top.top_destination,
    );
    let holder = who(name, pid, &top.service);
    let detail = s("SYN-SENT means our SYN got no answer yet; the kernel retries net.ipv4.tcp_syn_retries times (~2 minutes at the default 6) before connect() fails.");
    if e.scanning {
        Words {
            title: format!("{total} connection attempts (SYN-SENT) to {hosts} different hosts, most from {holder}: scanning or worm-like behaviour"),
            detail,
            why: s("Few legitimate programs open connections to many hosts that do not answer: this is how scanners and worms look, and a compromised host is the first thing to rule out."),
            fix: vec![
                format!("sockdoc list -p state syn-sent pid {pid}   # where it connects"),
                format!("ls -l /proc/{pid}/exe; cat /proc/{pid}/cmdline   # what the program really is"),
            ],
        }
    } else {
        Words {
            title: format!("{total} connection attempts (SYN-SENT) hang towards {hosts} host(s), most to {top_dest} from {holder}: an unreachable upstream"),
            detail,
            why: s("A backend, DNS or proxy that drops SYNs (down, firewalled, blackholed) leaves every caller waiting for the full SYN retry time; threads and connection pools fill up behind it."),
            fix: vec![
                format!("sockdoc list -p state syn-sent   # which callers wait on {top_dest}"),
                s("Check the upstream (is it up? firewalled? routed?), and give clients a connect timeout shorter than the kernel's SYN retries"),
            ],
        }
    }
}

fn closing_piles(e: &ClosingPiles) -> Words {
    let orphans = if e.max_orphans > 0 {
        format!(
            "; {} orphans (host-wide) of tcp_max_orphans {}",
            e.orphans, e.max_orphans
        )
    } else {
        String::new()
    };
    Words {
        title: format!(
            "{} connections stuck closing (FIN-WAIT-1 {}, FIN-WAIT-2 {}, LAST-ACK {}, CLOSING {}){orphans}",
            e.total(), e.fin_wait_1, e.fin_wait_2, e.last_ack, e.closing
        ),
        detail: s("FIN-WAIT-1 and LAST-ACK wait for the peer to acknowledge our FIN (an unreachable or overloaded peer); FIN-WAIT-2 waits for the peer's FIN (the peer application does not close); orphans are such sockets no process holds any more."),
        why: s("Each holds kernel memory; past tcp_max_orphans the kernel resets orphans at once (\"too many orphaned sockets\") and under memory pressure it starts dropping. Lowering tcp_fin_timeout shortens only orphaned FIN-WAIT-2; tcp_orphan_retries bounds FIN-WAIT-1 orphans."),
        fix: vec![
            s("sockdoc stats state fin-wait-1 state fin-wait-2 state last-ack state closing --by remote-ip,state   # which peers"),
            s("For a peer that never closes (FIN-WAIT-2 held by a process): fix the peer, or shut the connections down with a timeout; for unreachable peers (FIN-WAIT-1, LAST-ACK): net.ipv4.tcp_orphan_retries=3"),
        ],
    }
}

fn udp_trouble(e: &UdpTrouble) -> Words {
    let (rcvbuf, inerr, total) = (e.rcvbuf_errors_delta, e.in_errors_delta, e.udp_sockets);
    let title = match e.groups.first() {
        Some(g) if rcvbuf == 0 && inerr == 0 => format!(
            "{} holds {} UDP sockets on {} ports",
            who(&g.process, g.pid, &g.service), g.sockets, g.ports
        ),
        _ => format!("{rcvbuf} UDP datagrams dropped for lack of receive buffer ({inerr} input errors) in the last interval"),
    };
    Words {
        title,
        detail: format!("{total} UDP sockets in all. A socket's Recv-Q is what it has not read yet; when it reaches the socket's receive buffer, new datagrams are dropped (Udp RcvbufErrors)."),
        why: s("UDP has no flow control: a reader that falls behind loses data silently (DNS, syslog, metrics, media). Thousands of UDP sockets in one process usually mean a socket per request that is never closed."),
        fix: vec![
            s("sockdoc list -p udp recvq '>' 0   # the sockets that fall behind"),
            s("Read faster (more workers, SO_REUSEPORT), enlarge the buffer (SO_RCVBUF in the application, net.core.rmem_max / rmem_default), or close per-request sockets"),
        ],
    }
}

fn fd_limit(e: &FdLimit) -> Words {
    let title = match (e.groups.first(), e.file_nr) {
        (Some(g), _) => format!(
            "{}/{} has {} of {} file descriptors open ({}%): at the limit accept() and connect() fail with EMFILE",
            g.process, g.pid, g.open, g.soft, g.percent
        ),
        (None, Some((allocated, max))) => format!(
            "The system file table is {}% full ({allocated} of fs.file-max {max})",
            crate::doctor::percent(allocated, max)
        ),
        (None, None) => String::new(),
    };
    let fix = match e.groups.first() {
        Some(g) => vec![
            format!("sockdoc stats pid {} --by state   # are they leaked CLOSE-WAIT sockets or live connections?", g.pid),
            format!("prlimit --pid {} --nofile=65536:65536   # raise it now; make it permanent with LimitNOFILE= in the service unit", g.pid),
        ],
        None => Vec::new(),
    };
    Words {
        title,
        detail: format!(
            "{} processes at 80% or more of their RLIMIT_NOFILE soft limit.",
            e.groups.len()
        ),
        why: s("Every socket is a file descriptor. A server out of descriptors cannot accept; clients queue in the accept queue and time out, and the process may spin on accept() errors."),
        fix,
    }
}

fn conntrack_full(e: &ConntrackFull) -> Words {
    let lost = if e.drop_delta > 0 {
        format!("; {} packets dropped in the last interval", e.drop_delta)
    } else {
        String::new()
    };
    Words {
        title: format!(
            "conntrack table {}% full ({} of nf_conntrack_max {}){lost}",
            e.percent, e.count, e.max
        ),
        detail: s("Every tracked flow (TCP in any state, including TIME-WAIT, and UDP) holds an entry until its timeout."),
        why: s("When the table is full the kernel drops the first packet of new flows (\"nf_conntrack: table full, dropping packet\"): new connections fail at random while existing ones work."),
        fix: vec![
            s("conntrack -S; conntrack -L -o extended | awk '{print $3, $4}' | sort | uniq -c | sort -rn | head   # what fills it"),
            s("Raise net.netfilter.nf_conntrack_max (about 300 bytes per entry), shorten nf_conntrack_tcp_timeout_time_wait / _established, or exempt busy local traffic with a `notrack` rule"),
        ],
    }
}

fn sysctl_obsolete(e: &SysctlObsolete) -> Words {
    let first = &e.settings[0];
    let gone = |o: &crate::doctor::sysctl::ObsoleteSetting| {
        if o.is_tw_recycle() {
            "removed in Linux 4.12: it dropped connections from clients behind NAT (per-host timestamps); use tcp_tw_reuse for outgoing connections"
        } else {
            "this kernel has no such setting: `sysctl -p` / systemd-sysctl report an error for it at boot"
        }
    };
    Words {
        title: format!(
            "{} sysctl setting(s) in config files that this kernel does not have, e.g. {} in {}",
            e.settings.len(),
            first.key,
            first.file.display()
        ),
        detail: e
            .settings
            .iter()
            .map(|o| format!("{}:{} {} = {} — {}", o.file.display(), o.line, o.key, o.value, gone(o)))
            .collect::<Vec<_>>()
            .join("\n"),
        why: s("Tuning copied from old advice does nothing here and hides what was meant; the boot-time sysctl run reports errors for these lines."),
        fix: e
            .settings
            .iter()
            .map(|o| format!("remove line {} of {} ({})", o.line, o.file.display(), o.key))
            .collect(),
    }
}

fn sysctl_risky(e: &SysctlRisky) -> Words {
    let keys = e
        .settings
        .iter()
        .map(|r| r.key)
        .collect::<Vec<_>>()
        .join(", ");
    Words {
        title: format!("{} risky kernel setting(s): {keys}", e.settings.len()),
        detail: e
            .settings
            .iter()
            .map(|r| format!("{} = {}: {}", r.key, r.value, super::sysctl::reason(r.reason)))
            .collect::<Vec<_>>()
            .join("\n"),
        why: s("These values are common in copied tuning guides and make connection problems worse, not better."),
        fix: e
            .settings
            .iter()
            .map(|r| judge::set_command(r.key, &r.recommended))
            .collect(),
    }
}
