//! `sockdoc top` in a real terminal: tmux runs a shell, the test types the command and keys
//! (`send-keys`) and reads the screen (`capture-pane -p`), against an echo server and its clients in
//! a lab namespace (`--netns`). The numbers on screen must match `ss` in the same namespace, a filter
//! must narrow the table, a kill from the view must remove exactly the sockets the confirmation
//! listed (checked with `ss` and the audit log), 80x24 must render, and quitting (or SIGTERM) must
//! give the shell its screen and terminal settings back.
//!
//! Modules: [`services`], the Service table on real cgroups.

mod services;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sockdoc_lab::treat::{by_cookie, wait_cookies_gone, Conn, EchoServer};
use sockdoc_lab::wait::poll;
use sockdoc_lab::{Netns, SockState};

const SOCKDOC: &str = env!("CARGO_BIN_EXE_sockdoc");
/// How long the screen may take to show what a test waits for (a census, a kill).
const SCREEN: Duration = Duration::from_secs(20);

static N: AtomicU32 = AtomicU32::new(0);

/// A tmux server of our own (its own socket file), one session running a plain shell; the server is
/// killed and its socket file removed on drop, also when a test fails.
struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    fn new(width: u16, height: u16) -> Tmux {
        assert!(
            Command::new("tmux").arg("-V").output().is_ok(),
            "these tests need tmux (apt-get install tmux; scripts/test.sh installs it)"
        );
        let socket = std::env::temp_dir().join(format!(
            "sdlab-top-{}-{}.tmux",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let t = Tmux { socket };
        let (w, h) = (width.to_string(), height.to_string());
        t.tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            &w,
            "-y",
            &h,
            "-s",
            "top",
            "env PS1='$ ' bash --norc --noprofile",
        ]);
        t.wait_for("the shell prompt", |s| s.contains('$'));
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Type `text` literally, then Enter.
    fn line(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "top", "-l", text]);
        self.tmux(&["send-keys", "-t", "top", "Enter"]);
    }

    /// Press keys by tmux name (`Down`, `Enter`, `Space`, `q`...).
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", "top", k]);
        }
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "top"])
    }

    fn alternate_on(&self) -> bool {
        self.tmux(&["display-message", "-p", "-t", "top", "#{alternate_on}"])
            .trim()
            == "1"
    }

    /// The shell's pid (top runs as its child).
    fn shell_pid(&self) -> u32 {
        self.tmux(&["display-message", "-p", "-t", "top", "#{pane_pid}"])
            .trim()
            .parse()
            .expect("pane pid")
    }

    /// Poll the screen until `ok` holds; the screen so far goes into the failure.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        poll(SCREEN, what, || {
            let s = self.screen();
            Ok(if ok(&s) {
                Ok(s)
            } else {
                Err(format!("screen:\n{s}"))
            })
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// The command line that starts top in `ns` and prints its exit code when it ends.
fn top_cmd(ns: &Netns, extra: &str) -> String {
    format!(
        "{SOCKDOC} --netns {} top -d 1 {extra}; echo TOP-EXIT=$?",
        ns.name()
    )
}

/// Wait until top shows a census (`census #N`) with the TCP and UDP totals.
fn wait_census(t: &Tmux) -> String {
    t.wait_for("top's first census", |s| {
        s.contains("census #") && s.lines().any(|l| l.starts_with("TCP "))
    })
}

/// `TCP 7  ESTAB 6  LISTEN 1` → {"TOTAL": 7, "ESTAB": 6, "LISTEN": 1}.
fn totals(screen: &str, proto: &str) -> BTreeMap<String, u64> {
    let line = screen
        .lines()
        .find(|l| l.starts_with(&format!("{proto} ")))
        .unwrap_or_else(|| panic!("no {proto} line on screen:\n{screen}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut out = BTreeMap::new();
    let num = |w: &str| w.replace(',', "").parse::<u64>();
    out.insert(
        "TOTAL".to_string(),
        num(words[1]).unwrap_or_else(|_| panic!("{line}")),
    );
    for pair in words[2..].windows(2) {
        if let Ok(n) = num(pair[1]) {
            if pair[0] == "conntrack" {
                break;
            }
            out.insert(pair[0].to_string(), n);
        }
    }
    out
}

/// The same totals from `ss -tanH` / `ss -uanH` in the namespace.
fn ss_totals(ns: &Netns, flag: &str) -> BTreeMap<String, u64> {
    let text = ns.exec(&["ss", flag, "-anH"]).expect("ss");
    let mut out = BTreeMap::new();
    let mut total = 0;
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        let state = l.split_whitespace().next().expect("state column");
        *out.entry(state.to_string()).or_insert(0) += 1;
        total += 1;
    }
    out.insert("TOTAL".to_string(), total);
    out
}

/// Data rows of the table: lines after the header (`PORT`, `REMOTE IP`... with `TOTAL`).
fn table_rows(screen: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = screen.lines().collect();
    let Some(h) = lines.iter().position(|l| l.contains("TOTAL")) else {
        panic!("no table header:\n{screen}");
    };
    lines[h + 1..lines.len() - 1]
        .iter()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn stty(t: &Tmux, file: &std::path::Path) {
    t.line(&format!("stty -g > {}", file.display()));
}

/// Wait until the shell printed top's exit code (a line of its own, not the command line).
fn wait_exit(t: &Tmux) -> String {
    t.wait_for("top to exit", |s| {
        s.lines().any(|l| {
            l.trim_end()
                .strip_prefix("TOP-EXIT=")
                .is_some_and(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
        })
    })
}

/// Wait until top exited and check that it exited 0; the screen then.
fn wait_exit_ok(t: &Tmux) -> String {
    let s = wait_exit(t);
    assert!(
        s.lines().any(|l| l.trim_end() == "TOP-EXIT=0"),
        "top's exit code:\n{s}"
    );
    s
}

/// After top ended: its exit line, the shell's screen back (alternate screen left), the terminal
/// settings as before (`stty -g` the same as saved in `before`).
fn assert_restored(t: &Tmux, before: &std::path::Path, marker: &str) {
    let s = wait_exit_ok(t);
    assert!(!t.alternate_on(), "the alternate screen was left");
    assert!(s.contains(marker), "the shell's screen is back:\n{s}");
    t.line(&format!(
        "echo TTY=$(stty -g | cmp -s - {} && echo same || echo changed)",
        before.display()
    ));
    let is = |s: &str, w: &str| s.lines().any(|l| l.trim_end() == w);
    let s = t.wait_for("the stty comparison", |s| {
        is(s, "TTY=same") || is(s, "TTY=changed")
    });
    assert!(is(&s, "TTY=same"), "terminal settings restored:\n{s}");
}

#[test]
fn refuses_when_stdout_is_not_a_terminal() {
    let r = sockdoc_lab::cli::run(SOCKDOC, &["top"]).expect("run sockdoc");
    assert_eq!(r.code(), Some(64), "{r:?}");
    let lines = r.stderr_lines();
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(lines[0].contains("terminal"), "{lines:?}");
    assert!(
        r.stdout.is_empty(),
        "nothing drawn on a pipe: {:?}",
        r.stdout
    );
}

#[test]
fn totals_match_ss_and_a_filter_narrows_the_table() {
    let srv = EchoServer::start().expect("echo server");
    let conns = srv.connect(3).expect("clients");
    let t = Tmux::new(120, 40);
    t.line(&top_cmd(&srv.ns, ""));
    let s = wait_census(&t);
    assert!(t.alternate_on(), "top draws on the alternate screen");
    assert_eq!(totals(&s, "TCP"), ss_totals(&srv.ns, "-t"), "TCP:\n{s}");
    assert_eq!(totals(&s, "UDP"), ss_totals(&srv.ns, "-u"), "UDP:\n{s}");
    assert_eq!(totals(&s, "TCP")["TOTAL"], 1 + 2 * conns.len() as u64);

    // The port table: the server's port holds the listener and the three server ends; the
    // clients' connections, from three ephemeral ports, are one row under the port they reach.
    t.keys(&["3"]);
    let port = srv.port.to_string();
    let s = t.wait_for("the local port table", |s| {
        s.contains("PORT") && s.contains("SERVICE")
    });
    let rows = table_rows(&s);
    let row = rows
        .iter()
        .find(|r| r[0] == port)
        .unwrap_or_else(|| panic!("no row for {port}:\n{s}"));
    assert_eq!(row[1], "4", "listener + 3 connections:\n{s}");
    assert!(
        row.last().is_some_and(|n| n.starts_with("echod/")),
        "the service column names the listener's owner:\n{s}"
    );
    let out = format!("→{port}");
    let clients = rows
        .iter()
        .find(|r| r[0] == out)
        .unwrap_or_else(|| panic!("no row for {out}:\n{s}"));
    assert_eq!(clients[1], conns.len().to_string(), "{s}");
    assert_eq!(rows.len(), 2, "{s}");

    // The filter narrows every table to the service's sockets.
    t.keys(&["/"]);
    t.tmux(&["send-keys", "-t", "top", "-l", &format!("sport = :{port}")]);
    t.keys(&["Enter"]);
    let s = t.wait_for("the filtered table", |s| {
        s.contains("filter: sport") && s.contains("4 of 7")
    });
    let rows = table_rows(&s);
    assert_eq!(rows.len(), 1, "only the service's port is left:\n{s}");
    assert_eq!(rows[0][0], port);
    // The header still counts the whole namespace, as ss does.
    assert_eq!(totals(&s, "TCP"), ss_totals(&srv.ns, "-t"), "{s}");
    // Remote IP table under the filter: the clients' address, three connections (the listener,
    // which has no peer, is a row of its own).
    t.keys(&["1"]);
    let s = t.wait_for("the remote IP table", |s| s.contains("REMOTE IP"));
    let rows = table_rows(&s);
    let peers: BTreeMap<&str, &str> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(
        peers,
        BTreeMap::from([("127.0.0.1", "3"), ("no-peer", "1")]),
        "{s}"
    );
    t.keys(&["q"]);
    wait_exit_ok(&t);
}

/// `ESTAB  127.0.0.1:20000 -> 127.0.0.1:41234  echod/812 fd 5` lines of the confirmation popup:
/// the client ports listed.
fn confirmed_peers(screen: &str, server_port: u16) -> BTreeSet<u16> {
    let local = format!("127.0.0.1:{server_port}");
    screen
        .lines()
        .filter(|l| l.contains(&format!("{local} -> ")) && l.contains("ESTAB"))
        .filter(|l| !l.contains("left alone"))
        .filter_map(|l| {
            let after = l.split(" -> ").nth(1)?;
            let peer = after.split_whitespace().next()?;
            peer.rsplit(':').next()?.parse().ok()
        })
        .collect()
}

/// An echo server with `n` clients connected, where its audit log goes, and a 120x40 terminal.
fn echo_lab(n: usize) -> (EchoServer, Vec<Conn>, PathBuf, Tmux) {
    let srv = EchoServer::start().expect("echo server");
    let conns = srv.connect(n).expect("clients");
    let audit = srv.workdir().join("audit.jsonl");
    (srv, conns, audit, Tmux::new(120, 40))
}

#[test]
fn kill_from_the_view_removes_exactly_the_confirmed_sockets() {
    let (srv, conns, audit, t) = echo_lab(4);
    t.line(&top_cmd(
        &srv.ns,
        &format!("--audit-log {} sport = :{}", audit.display(), srv.port),
    ));
    wait_census(&t);
    // The port table, its only row, its sockets (sorted by state: the connections, then the
    // listener); mark the second and third.
    t.keys(&["3", "Enter"]);
    t.wait_for("the drill-down", |s| s.contains("5 socket(s)"));
    t.keys(&["Down", "Space", "Space"]);
    t.wait_for("two marks", |s| s.contains("2 marked"));
    t.keys(&["k"]);
    let s = t.wait_for("the confirmation", |s| s.contains("kill 2 socket(s)?"));
    let confirmed = confirmed_peers(&s, srv.port);
    assert_eq!(
        confirmed.len(),
        2,
        "the popup lists the two marked sockets:\n{s}"
    );
    let (gone, kept): (Vec<_>, Vec<_>) = conns
        .iter()
        .partition(|c| confirmed.contains(&c.client.port()));
    assert_eq!((gone.len(), kept.len()), (2, 2), "{confirmed:?}");
    t.keys(&["y"]);
    let s = t.wait_for("the kill's result", |s| s.contains("killed 2 of 2"));
    assert!(s.contains(&audit.display().to_string()), "{s}");

    // ss: exactly the confirmed server ends are gone, the others untouched and still echoing.
    let gone_cookies: Vec<u64> = gone.iter().map(|c| c.cookie()).collect();
    wait_cookies_gone(&srv.ns, &gone_cookies, Duration::from_secs(5)).expect("killed ones gone");
    let snap = srv.sockets().expect("ss");
    for c in &kept {
        let s = by_cookie(&snap, c.cookie())
            .unwrap_or_else(|| panic!("{} was not confirmed and must stay", c.client));
        assert_eq!(s.state, SockState::Established, "{}", s.line);
        assert_eq!(c.echo("still here").expect("echo"), "still here");
    }
    assert!(
        snap.iter()
            .any(|s| s.state == SockState::Listen && s.local.port == srv.port),
        "the listener stays"
    );
    // The audit log: one kill line per confirmed socket, from top.
    let text = std::fs::read_to_string(&audit).expect("audit log");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line"))
        .filter(|l| l["phase"] != "intent")
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    let mut logged: Vec<u64> = lines
        .iter()
        .map(|l| {
            assert_eq!(l["action"], "kill", "{l}");
            assert_eq!(l["outcome"], "killed", "{l}");
            assert_eq!(l["via"], "top", "{l}");
            l["socket"]["cookie"].as_u64().expect("cookie")
        })
        .collect();
    logged.sort_unstable();
    let mut want = gone_cookies.clone();
    want.sort_unstable();
    assert_eq!(logged, want);

    // The result closes with a key; the drill-down refreshes to the three sockets left.
    t.keys(&["Escape"]);
    t.wait_for("the refreshed drill-down", |s| s.contains("3 socket(s)"));
    t.keys(&["q"]);
    wait_exit_ok(&t);
}

fn has_keepalive(s: &sockdoc_lab::SsSocket) -> bool {
    s.timer.as_ref().is_some_and(|t| t.kind == "keepalive")
}

#[test]
fn keepalive_from_the_view_covers_the_selected_service() {
    let (srv, conns, audit, t) = echo_lab(2);
    t.line(&top_cmd(
        &srv.ns,
        &format!("--audit-log {} --keepalive-idle 600", audit.display()),
    ));
    wait_census(&t);
    // The port table sorted by the key column: the server's port (20000+) comes after none of the
    // clients' ephemeral ports, so select it by filtering.
    t.keys(&["3", "/"]);
    t.tmux(&[
        "send-keys",
        "-t",
        "top",
        "-l",
        &format!("sport = :{}", srv.port),
    ]);
    t.keys(&["Enter"]);
    t.wait_for("the filtered port table", |s| {
        s.contains("4 of 7") || s.contains("3 of 5")
    });
    t.keys(&["a"]);
    let s = t.wait_for("the confirmation", |s| {
        s.contains(&format!("set keepalive on 3 socket(s) of :{}?", srv.port))
    });
    assert!(
        s.contains("LISTEN"),
        "the listener is in the selection:\n{s}"
    );
    t.keys(&["y"]);
    let s = t.wait_for("the result", |s| s.contains("keepalive set on 3 of 3"));
    assert!(
        s.contains("2 connection(s) now show timer:(keepalive"),
        "verified by a second census:\n{s}"
    );
    // ss: the server ends carry a keepalive timer now, the clients' ends still none.
    let snap = srv.sockets().expect("ss");
    for c in &conns {
        let end = by_cookie(&snap, c.cookie()).expect("server end");
        assert!(has_keepalive(end), "{}", end.line);
    }
    let clients: Vec<_> = snap
        .iter()
        .filter(|s| s.peer.port == srv.port && s.state == SockState::Established)
        .collect();
    assert_eq!(clients.len(), 2);
    assert!(clients.iter().all(|s| !has_keepalive(s)), "{clients:?}");
    let text = std::fs::read_to_string(&audit).expect("audit log");
    assert_eq!(
        text.lines()
            .filter(
                |l| l.contains("\"action\":\"keepalive\"") && l.contains("\"phase\":\"outcome\"")
            )
            .count(),
        3,
        "{text}"
    );
    t.keys(&["Escape", "q"]);
    wait_exit_ok(&t);
}

#[test]
fn probe_from_the_view_finds_live_suspects_alive_and_restores_them() {
    let (srv, conns, audit, t) = echo_lab(2);
    // Silent for 1 s = a suspect; the peers (this test's sockets) are alive and will answer.
    t.line(&top_cmd(
        &srv.ns,
        &format!(
            "--idle 1s --probe-time 2s --audit-log {} sport = :{}",
            audit.display(),
            srv.port
        ),
    ));
    wait_census(&t);
    t.wait_for("two ghost suspects", |s| s.contains("Ghosts (2)"));
    t.keys(&["5"]);
    t.wait_for("the ghosts table", |s| s.contains("silent > 1s"));
    // Mark both and probe them.
    t.keys(&["Space", "Space"]);
    t.wait_for("two marks", |s| s.contains("2 marked"));
    t.keys(&["p"]);
    let s = t.wait_for("the confirmation", |s| s.contains("probe 2 socket(s)?"));
    assert_eq!(
        confirmed_peers(&s, srv.port),
        conns
            .iter()
            .map(|c| c.client.port())
            .collect::<BTreeSet<u16>>(),
        "{s}"
    );
    t.keys(&["y"]);
    let s = t.wait_for("the verdicts", |s| s.contains("0 dead, 2 alive, 0 unknown"));
    assert_eq!(s.matches("ALIVE").count(), 2, "{s}");
    // The original options are back: no keepalive timer left, and the connections still work.
    let snap = srv.sockets().expect("ss");
    for c in &conns {
        let end = by_cookie(&snap, c.cookie()).expect("server end");
        assert!(!has_keepalive(end), "restored: {}", end.line);
        assert_eq!(c.echo("alive").expect("echo"), "alive");
    }
    t.keys(&["Escape", "q"]);
    wait_exit_ok(&t);
}

#[test]
fn renders_in_80x24_in_both_languages_and_quitting_restores_the_terminal() {
    let srv = EchoServer::start().expect("echo server");
    let _conns = srv.connect(2).expect("clients");
    let t = Tmux::new(80, 24);
    let before = srv.workdir().join("stty-before");
    stty(&t, &before);
    t.line("echo before-top");
    t.line(&top_cmd(&srv.ns, ""));
    let s = wait_census(&t);
    assert!(t.alternate_on());
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 24, "{s}");
    assert!(lines[0].contains("sockdoc top"), "title:\n{s}");
    assert!(
        lines.iter().any(|l| l.contains("1 Remote IP")),
        "tabs:\n{s}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("REMOTE IP") && l.contains("TOTAL")),
        "table:\n{s}"
    );
    assert!(
        lines[23].contains("q quit"),
        "key hints on the last line:\n{s}"
    );
    assert_eq!(totals(&s, "TCP"), ss_totals(&srv.ns, "-t"), "{s}");
    // Help opens and closes.
    t.keys(&["?"]);
    t.wait_for("the help", |s| s.contains("sockdoc top: keys"));
    t.keys(&["Escape"]);
    t.wait_for("the help to close", |s| !s.contains("sockdoc top: keys"));
    t.keys(&["q"]);
    assert_restored(&t, &before, "before-top");

    // Chinese.
    t.line("clear; echo before-zh");
    t.line(&top_cmd(&srv.ns, "--lang zh"));
    let s = t.wait_for("the Chinese screen", |s| {
        s.contains("采集 #") && s.contains("远端 IP")
    });
    assert!(s.contains("退出"), "key hints in Chinese:\n{s}");
    assert_eq!(totals(&s, "TCP"), ss_totals(&srv.ns, "-t"), "{s}");
    t.keys(&["q"]);
    assert_restored(&t, &before, "before-zh");
}

/// A word top shows, in English and in Chinese.
type Both = [&'static str; 2];
const LANGS: Both = ["en", "zh"];
const CENSUS: Both = ["census #", "采集 #"];
const PORT_HEADERS: [Both; 2] = [["PORT", "端口"], ["SERVICE", "服务进程"]];
const HELP: [Both; 2] = [
    ["sockdoc top: keys", "sockdoc top: 按键"],
    ["switch table: remote IP", "切换表: 远端 IP"],
];
const DRILL: Both = ["3 socket(s)", "3 个套接字"];
const CONFIRM: [Both; 2] = [
    ["kill 1 socket(s)?", "关闭 1 个套接字?"],
    ["y yes · n no", "y 确认 · n 取消"],
];
const CANCELLED: Both = ["cancelled: nothing done", "已取消: 未做任何操作"];
const NO_GHOSTS: Both = ["no ghost suspects", "没有疑似半开连接"];
const FINDING_HEADERS: [Both; 2] = [["SEVERITY", "级别"], ["WHAT", "问题"]];
const SERVICE_HEADER: Both = ["UNIT/CONTAINER", "单元/容器"];

/// The tables, a drill-down, the help, a confirmation (cancelled) and the statuses speak the
/// language asked for, and only it: each screen has the words of its language, none of the other's.
#[test]
fn tables_and_popups_speak_the_language_asked_for() {
    let srv = EchoServer::start().expect("echo server");
    let _conns = srv.connect(2).expect("clients");
    let t = Tmux::new(120, 40);
    for (i, lang) in LANGS.iter().enumerate() {
        let other = 1 - i;
        t.line(&top_cmd(&srv.ns, &format!("--lang {lang}")));
        t.wait_for("the first census", |s| s.contains(CENSUS[i]));
        // Wait for every word of `words` in this language; none in the other may be on screen.
        let shows = |what: &str, words: &[Both]| {
            let s = t.wait_for(what, |s| words.iter().all(|w| s.contains(w[i])));
            for w in words {
                assert!(
                    !s.contains(w[other]),
                    "{what} in {lang} shows {:?}:\n{s}",
                    w[other]
                );
            }
        };
        // Keys, then what the screen shows. The server's port has the most sockets (the listener
        // and two connections): Enter opens the first row.
        let steps: [(&[&str], &str, &[Both]); 8] = [
            (&["3"], "the local port table", &PORT_HEADERS),
            (&["?"], "the help", &HELP),
            (&["Escape", "Enter"], "the drill-down", &[DRILL]),
            (&["k"], "the confirmation", &CONFIRM),
            (&["n"], "the cancellation", &[CANCELLED]),
            (&["Escape", "5"], "the empty ghosts table", &[NO_GHOSTS]),
            (&["6"], "the findings table", &FINDING_HEADERS),
            (&["7"], "the service table", &[SERVICE_HEADER]),
        ];
        for (keys, what, words) in steps {
            t.keys(keys);
            shows(what, words);
        }
        t.keys(&["q"]);
        wait_exit_ok(&t);
        t.line("clear");
    }
}

#[test]
fn sigterm_restores_the_terminal() {
    let ns = Netns::new().expect("namespace");
    let t = Tmux::new(100, 30);
    let dir = TempDir::new("stty");
    let before = dir.0.join("stty-before");
    stty(&t, &before);
    t.line("echo before-term");
    t.line(&top_cmd(&ns, ""));
    wait_census(&t);
    let shell = t.shell_pid();
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
        .expect("the shell's children");
    let pid: i32 = children
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("top is not the shell's child: {children:?}"));
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm");
    assert_eq!(comm.trim(), "sockdoc");
    // SAFETY: signalling a process this test started (through the shell it owns).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert_restored(&t, &before, "before-term");
}

/// A directory of the test's own, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!(
            "sdlab-top-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d).expect("temp dir");
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// top on `--netns X` is pinned: when X is deleted and recreated, a banner says so and the view stays
/// on the namespace it started in; with --follow-netns the banner says it now shows the new one.
#[test]
fn a_recreated_namespace_shows_a_banner() {
    let ns = Netns::new().expect("namespace");
    let old = ns.inode().expect("inode");
    let t = Tmux::new(240, 30);
    t.line(&top_cmd(&ns, ""));
    wait_census(&t);
    let new = ns.recreate().expect("recreate");
    let s = t.wait_for("the banner", |s| {
        s.contains(&format!("now means another namespace [net:{new}]"))
    });
    assert!(
        s.contains(&format!("still showing the old one [net:{old}]")),
        "{s}"
    );
    t.keys(&["q"]);
    wait_exit_ok(&t);

    t.line(&top_cmd(&ns, "--follow-netns"));
    wait_census(&t);
    let newer = ns.recreate().expect("recreate again");
    let s = t.wait_for("the follow banner", |s| {
        s.contains(&format!("now showing [net:{newer}] (was [net:{new}])"))
    });
    assert!(s.contains("census #"), "{s}");
    t.keys(&["q"]);
    wait_exit_ok(&t);
}
