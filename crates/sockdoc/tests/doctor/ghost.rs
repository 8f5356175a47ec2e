//! The incident: a no-keepalive FTP proxy (socat on :21 in front of vsftpd) keeps an ESTABLISHED
//! connection to a client host that vanished. Neighbours in the same namespace: sshd (keepalive on
//! every connection, one idle client) and a busy FTP session through the same proxy.

use std::time::Duration;

use serde_json::Value;
use sockdoc_lab::doctor::{sysctl, GhostIncident, FTP_PROXY_PORT, SSHD_PORT, VSFTPD_PORT};

use crate::run::{doctor, g_str, g_u64, ghosts, run};

/// The ghost threshold the tests pass (`--idle 2s`) and how long they let the ghost idle first.
const IDLE: &str = "2s";
const IDLE_MS: u64 = 2000;
const WAIT: Duration = Duration::from_millis(2300);

fn incident() -> GhostIncident {
    let g = GhostIncident::build().expect("build the incident");
    g.wait_idle(WAIT).expect("ghost idle");
    g
}

#[test]
fn doctor_finds_the_proxys_ghost_and_its_missing_keepalive() {
    let g = incident();
    let laptop_ip = g.laptop_link.client_ip.to_string();
    let office_ip = g.office_link.client_ip.to_string();
    let r = doctor(&g.server, &["--idle", IDLE]);
    assert_eq!(r.status, "warning", "{:#}", r.doc);
    assert_eq!(r.run.code(), Some(1));

    let ghost = r.finding("ghost-suspects");
    assert_eq!(ghost.severity, "warning", "{:#}", ghost.json);
    assert_eq!(ghost.ev("threshold_ms"), IDLE_MS, "{:#}", ghost.json);
    assert_eq!(
        ghost.ev("suspects"),
        1,
        "only the vanished laptop's session; not sshd's idle connection (keepalive), not the \
         busy FTP session, not the proxy's backend leg (keepalive): {:#}",
        ghost.json
    );
    assert_eq!(ghost.groups.len(), 1, "{:#}", ghost.json);
    let grp = &ghost.groups[0];
    assert_eq!(
        g_u64(grp, "pid"),
        u64::from(g.ghost_pid),
        "socat child: {grp}"
    );
    assert_eq!(g_str(grp, "process"), "socat", "{grp}");
    assert_eq!(g_u64(grp, "local_port"), u64::from(FTP_PROXY_PORT), "{grp}");
    assert_eq!(g_u64(grp, "count"), 1, "{grp}");
    assert!(
        g_u64(grp, "max_idle_ms") >= WAIT.as_millis() as u64,
        "idle at least {WAIT:?}: {grp}"
    );
    assert!(
        g_u64(grp, "max_idle_ms") < 60_000,
        "idle since the build: {grp}"
    );
    let peers: Vec<&str> = grp["peers"]
        .as_array()
        .unwrap_or_else(|| panic!("peers is not an array: {grp}"))
        .iter()
        .map(|p| p.as_str().expect("peer is a string"))
        .collect();
    assert_eq!(peers, [laptop_ip.as_str()], "{grp}");
    assert!(
        !ghost.json.to_string().contains(&office_ip),
        "{:#}",
        ghost.json
    );

    // Keepalive coverage: the proxy's port has none, sshd's and vsftpd's have all.
    let cov = r.finding("keepalive-coverage");
    assert_eq!(cov.severity, "info", "{:#}", cov.json);
    let ftp = cov.group("local_port", FTP_PROXY_PORT);
    assert_eq!(g_str(ftp, "process"), "socat", "{ftp}");
    assert_eq!(
        g_u64(ftp, "pid"),
        u64::from(g.proxy.pid),
        "the listener: {ftp}"
    );
    assert_eq!(g_u64(ftp, "connections"), 2, "ghost + busy session: {ftp}");
    assert_eq!(g_u64(ftp, "with_keepalive"), 0, "{ftp}");
    assert_eq!(g_u64(ftp, "percent"), 0, "{ftp}");
    let ssh = cov.group("local_port", SSHD_PORT);
    assert_eq!(g_str(ssh, "process"), "sshd", "{ssh}");
    assert_eq!(
        g_u64(ssh, "pid"),
        u64::from(g.sshd.pid),
        "the listener: {ssh}"
    );
    assert_eq!(g_u64(ssh, "connections"), 1, "{ssh}");
    assert_eq!(g_u64(ssh, "with_keepalive"), 1, "{ssh}");
    assert_eq!(g_u64(ssh, "percent"), 100, "{ssh}");
    let ftpd = cov.group("local_port", VSFTPD_PORT);
    assert_eq!(g_str(ftpd, "process"), "vsftpd", "{ftpd}");
    assert_eq!(g_u64(ftpd, "connections"), 2, "{ftpd}");
    assert_eq!(g_u64(ftpd, "percent"), 100, "{ftpd}");

    // Nothing else is wrong in this namespace.
    let others: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.severity != "info" && f.id != "ghost-suspects")
        .map(|f| f.id.as_str())
        .collect();
    assert!(
        others.is_empty(),
        "unexpected findings {others:?}: {:#}",
        r.doc
    );
    assert_eq!(r.state_count("established"), 7, "{:#}", r.ns["summary"]);

    // With the default threshold (the kernel's keepalive window, hours) nobody is a suspect yet,
    // and coverage alone is no reason to fail.
    let r = doctor(&g.server, &[]);
    r.assert_absent("ghost-suspects");
    assert_eq!(r.status, "healthy", "{:#}", r.doc);
    let cov = r.finding("keepalive-coverage");
    assert_eq!(
        g_u64(cov.group("local_port", FTP_PROXY_PORT), "percent"),
        0,
        "{:#}",
        cov.json
    );
}

/// The socket object of a `ghosts` suspect: port, peer, state, timer, owner.
fn assert_is_the_ghost(s: &Value, g: &GhostIncident) {
    assert_eq!(s["proto"], "tcp", "{s}");
    assert_eq!(s["state"], "established", "{s}");
    assert_eq!(s["local"]["port"], FTP_PROXY_PORT, "{s}");
    let laptop = g.laptop_addr();
    assert_eq!(s["remote"]["ip"], laptop.ip().to_string(), "{s}");
    assert_eq!(s["remote"]["port"], laptop.port(), "{s}");
    assert!(s["timer"].is_null(), "no keepalive timer: {s}");
    assert_eq!(s["inode"], g.ghost.ino, "the socket ss showed: {s}");
    let procs = s["processes"]
        .as_array()
        .unwrap_or_else(|| panic!("suspects carry processes like list -p: {s}"));
    assert!(
        procs
            .iter()
            .any(|p| p["pid"] == g.ghost_pid && p["name"] == "socat"),
        "held by socat/{}: {s}",
        g.ghost_pid
    );
    let idle = s["tcp_info"]["idle_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("tcp_info.idle_ms: {s}"));
    assert!(idle >= WAIT.as_millis() as u64, "{s}");
}

#[test]
fn ghosts_lists_exactly_the_vanished_clients_connection() {
    let g = incident();
    let all = ghosts(&g.server, &["--idle", IDLE]);
    assert_eq!(all.threshold_ms, IDLE_MS, "{:#}", all.doc);
    assert_eq!(all.suspects.len(), 1, "exactly the ghost: {:#}", all.doc);
    assert_is_the_ghost(&all.suspects[0], &g);

    // The incident's own command line: the proxy's port only.
    let on21 = ghosts(&g.server, &["--idle", IDLE, "sport", "=", ":21"]);
    assert_eq!(on21.suspects.len(), 1, "{:#}", on21.doc);
    assert_is_the_ghost(&on21.suspects[0], &g);
    let on_ssh = ghosts(&g.server, &["--idle", IDLE, "sport", "=", ":2222"]);
    assert!(on_ssh.suspects.is_empty(), "{:#}", on_ssh.doc);

    // Default threshold: tcp_keepalive_time + probes * intvl of the namespace.
    let secs = |k: &str| -> u64 {
        sysctl(&g.server, k)
            .expect("sysctl")
            .parse()
            .expect("number")
    };
    let window_ms = (secs("net.ipv4.tcp_keepalive_time")
        + secs("net.ipv4.tcp_keepalive_probes") * secs("net.ipv4.tcp_keepalive_intvl"))
        * 1000;
    let default = ghosts(&g.server, &[]);
    assert_eq!(default.threshold_ms, window_ms, "{:#}", default.doc);
    assert!(default.suspects.is_empty(), "{:#}", default.doc);

    // Text mode: one line per suspect (after the `== NAME [net:INODE] ==` label that every
    // command prints for --netns).
    let text = run(&["ghosts", "--netns", g.server.name(), "--idle", IDLE, "-H"]);
    assert!(text.status.success(), "{}", text.stderr);
    let lines: Vec<&str> = text
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("== "))
        .collect();
    assert_eq!(lines.len(), 1, "{}", text.stdout);
    let laptop = g.laptop_addr().ip().to_string();
    assert!(
        lines[0].contains(&laptop) && lines[0].contains("socat"),
        "{}",
        lines[0]
    );
}
