//! The seed incident healed without a restart: keepalive retrofitted onto the no-keepalive socat
//! proxy on :21 lets the kernel find and remove the ghost of the vanished laptop, while the busy
//! FTP session through the same proxy carries on.

use std::path::Path;
use std::time::Duration;

use sockdoc_lab::doctor::{find_estab, wait_sockets, GhostIncident, FTP_PROXY_PORT};
use sockdoc_lab::ss;
use sockdoc_lab::treat::{by_cookie, wait_cookies_gone};
use sockdoc_lab::wait;

use crate::run::{sockdoc, sport, strs, treat, Audit, KaDoc};

/// With idle 1 s, intvl 1 s, cnt 2 the ghost is reset about 2 s after the keepalive is set.
const REAP_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn keepalive_heals_the_ghost_incident() {
    let g = GhostIncident::build().expect("build the incident");
    let ghost = g.ghost.cookie.expect("ghost cookie");
    let snap = ss::snapshot_quick(&g.server).expect("ss");
    let busy = find_estab(&snap, g.busy, FTP_PROXY_PORT)
        .unwrap_or_else(|e| panic!("{e}"))
        .clone();
    let busy_cookie = busy.cookie.expect("busy cookie");
    let busy_rx = busy.detail_u64("bytes_received").unwrap_or(0);
    let audit = Audit::new();
    let filter = sport(FTP_PROXY_PORT);

    let run = treat(
        &g.server,
        "keepalive",
        &audit,
        &["--yes", "--idle", "1", "--intvl", "1", "--cnt", "2"],
        &strs(&filter),
        &[],
    );
    let doc = KaDoc::parse(&run);
    assert_eq!(run.code(), Some(0), "{:#}", doc.doc);
    let r = doc.result(ghost);
    assert_eq!(r.outcome, "set", "{}", r.json);
    assert_eq!(
        r.pid,
        Some(u64::from(g.ghost_pid)),
        "the socat child: {}",
        r.json
    );
    assert_eq!(r.before.map(|b| b.keepalive), Some(false), "{}", r.json);
    let r = doc.result(busy_cookie);
    assert_eq!(r.outcome, "set", "{}", r.json);
    assert_eq!(r.pid, Some(u64::from(g.busy_pid)), "{}", r.json);
    assert_eq!(
        doc.in_state("established").len(),
        2,
        "the ghost and the busy session: {:#}",
        doc.doc
    );

    // The ghost now has a keepalive timer...
    let snap = ss::snapshot_quick(&g.server).expect("ss");
    let s = by_cookie(&snap, ghost).expect("the ghost right after the retrofit");
    assert_eq!(
        s.timer.as_ref().map(|t| t.kind.as_str()),
        Some("keepalive"),
        "{}",
        s.line
    );
    // ... its probes go unanswered (the laptop is gone), and the kernel removes it.
    wait_cookies_gone(&g.server, &[ghost], REAP_TIMEOUT).expect("the kernel reaps the ghost");
    // The socat child that held it sees the error and exits.
    let proc_dir = format!("/proc/{}", g.ghost_pid);
    wait::poll(REAP_TIMEOUT, "the ghost's socat child to exit", || {
        Ok(if Path::new(&proc_dir).exists() {
            Err(format!("{proc_dir} still there"))
        } else {
            Ok(())
        })
    })
    .expect("socat child exits");

    // Doctor no longer sees a ghost; port 21 is covered by keepalive now.
    let run = sockdoc(&[
        "doctor",
        "--netns",
        g.server.name(),
        "--idle",
        "2s",
        "--json",
        "--interval",
        "200ms",
    ]);
    let d = run.json("doctor");
    let ns = &d["namespaces"][0];
    let findings = ns["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("findings: {d}"));
    assert!(
        findings.iter().all(|f| f["id"] != "ghost-suspects"),
        "ghost-suspects after the retrofit: {d:#}"
    );
    assert_eq!(d["status"], "healthy", "the incident is healed: {d:#}");
    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    if let Some(cov) = findings.iter().find(|f| f["id"] == "keepalive-coverage") {
        let groups = cov["groups"].as_array().cloned().unwrap_or_default();
        if let Some(ftp) = groups.iter().find(|g| g["local_port"] == FTP_PROXY_PORT) {
            assert_eq!(ftp["connections"], 1, "the busy session: {ftp}");
            assert_eq!(ftp["with_keepalive"], 1, "{ftp}");
            assert_eq!(ftp["percent"], 100, "{ftp}");
        }
    }

    // The busy session survived: same socket, still ESTABLISHED, keepalive on, still talking.
    wait_sockets(
        &g.server,
        "the busy session to keep talking",
        Duration::from_secs(5),
        false,
        |snap| {
            let s = by_cookie(snap, busy_cookie).ok_or("the busy session is gone")?;
            if s.state != sockdoc_lab::SockState::Established {
                return Err(format!("not ESTAB: {}", s.line));
            }
            if s.timer.as_ref().map(|t| t.kind.as_str()) != Some("keepalive") {
                return Err(format!("no keepalive timer: {}", s.line));
            }
            if s.detail_u64("bytes_received").unwrap_or(0) <= busy_rx {
                return Err(format!("no new NOOP yet: {}", s.line));
            }
            Ok(())
        },
    )
    .expect("the healthy FTP session carries on");

    // vsftpd sets SO_KEEPALIVE itself, but with the kernel's 2-hour default: `--proc vsftpd` shortens
    // it on the running daemon's listener and sessions, and `ss -o` shows the new timers.
    let vsftpd_audit = Audit::new();
    let run = treat(
        &g.server,
        "keepalive",
        &vsftpd_audit,
        &[
            "--yes", "--proc", "vsftpd", "--idle", "5", "--intvl", "2", "--count", "2",
        ],
        &[],
        &[],
    );
    let doc_v = KaDoc::parse(&run);
    assert_eq!(run.code(), Some(0), "{:#}", doc_v.doc);
    assert!(
        doc_v.set >= 2,
        "vsftpd's listener and the busy session's backend leg: {:#}",
        doc_v.doc
    );
    let snap = ss::snapshot(&g.server).expect("ss -p");
    let vsftpd_estab: Vec<_> = snap
        .iter()
        .filter(|s| s.state == sockdoc_lab::SockState::Established)
        .filter(|s| s.users.iter().any(|u| u.name == "vsftpd"))
        .collect();
    assert!(!vsftpd_estab.is_empty(), "vsftpd's sessions: {snap:#?}");
    for s in &vsftpd_estab {
        let t = s
            .timer
            .as_ref()
            .unwrap_or_else(|| panic!("no timer: {}", s.line));
        assert_eq!(t.kind, "keepalive", "{}", s.line);
        assert!(t.remaining_ms <= 5_000, "idle 5 s now, not 2 h: {}", s.line);
    }
    // Only vsftpd was touched: every socket set belongs to a vsftpd process, and each is audited.
    let vsftpd_pids: Vec<u64> = snap
        .iter()
        .flat_map(|s| s.users.iter())
        .filter(|u| u.name == "vsftpd")
        .map(|u| u64::from(u.pid))
        .collect();
    for r in doc_v.results.iter().filter(|r| r.outcome == "set") {
        assert!(
            r.pid.is_some_and(|p| vsftpd_pids.contains(&p)),
            "{}",
            r.json
        );
    }
    // Per socket: an intent record written ahead, and the outcome.
    let outcomes = |a: &Audit| -> Vec<_> {
        a.all_lines()
            .into_iter()
            .filter(|l| l.json["phase"] == "outcome")
            .collect()
    };
    assert_eq!(vsftpd_audit.all_lines().len() as u64, 2 * doc_v.set);
    assert_eq!(outcomes(&vsftpd_audit).len() as u64, doc_v.set);

    let lines = outcomes(&audit);
    assert_eq!(
        lines.len() as u64,
        doc.set,
        "one outcome line per socket set"
    );
    assert!(
        lines.iter().any(|l| l.cookie == ghost),
        "the ghost is audited"
    );
}
