//! `--lang zh`: `kill` and `keepalive` show their selection and results in Chinese (dry run and
//! real run), and what they say happened did happen: `ss` no longer shows the killed connections,
//! and shows a keepalive timer on the others.

use std::time::Duration;

use sockdoc_lab::treat::{by_cookie, wait_cookies_gone, Conn, EchoServer};

use crate::run::{sockdoc, sport, Audit};

/// `sockdoc --netns NS --lang zh COMMAND --audit-log AUDIT OPTS... sport = :PORT`, stdout.
fn zh(srv: &EchoServer, command: &str, audit: &Audit, opts: &[&str]) -> String {
    let path = audit.path.to_string_lossy().into_owned();
    let mut args = vec![
        "--netns",
        srv.ns.name(),
        "--lang",
        "zh",
        command,
        "--audit-log",
    ];
    args.push(&path);
    args.extend_from_slice(opts);
    let filter = sport(srv.port);
    args.extend(filter.iter().map(String::as_str));
    let run = sockdoc(&args);
    assert_eq!(run.code(), Some(0), "{run:?}");
    run.stdout
}

/// No English sentence of the command in `out`.
fn no_english(out: &str, words: &[&str]) {
    for w in words {
        assert!(!out.contains(w), "{w:?} in Chinese output:\n{out}");
    }
}

fn server(n: usize) -> (EchoServer, Vec<Conn>) {
    let srv = EchoServer::start().expect("start the echo server");
    let conns = srv.connect(n).expect("connect the clients");
    (srv, conns)
}

#[test]
fn kill_speaks_chinese_and_the_connections_are_gone() {
    let (srv, conns) = server(2);
    let audit = Audit::new();
    let dry = zh(&srv, "kill", &audit, &["--dry-run"]);
    assert!(dry.contains("将关闭 2 个套接字:"), "{dry}");
    assert!(dry.contains("不处理 (监听套接字 (需加 --listen))"), "{dry}");
    no_english(&dry, &["would kill", "left alone", "listener (add"]);
    let snap = srv.sockets().expect("ss");
    assert!(conns.iter().all(|c| by_cookie(&snap, c.cookie()).is_some()));

    let real = zh(&srv, "kill", &audit, &["--yes"]);
    assert!(real.contains("正在关闭 2 个套接字:"), "{real}");
    let done = format!("已关闭 2 / 2 个套接字; 已记录到 {}", audit.path.display());
    assert!(real.contains(&done), "{real}");
    no_english(&real, &["killing", "killed ", "recorded in"]);
    let cookies: Vec<u64> = conns.iter().map(Conn::cookie).collect();
    wait_cookies_gone(&srv.ns, &cookies, Duration::from_secs(5)).expect("ss shows them gone");
}

#[test]
fn keepalive_speaks_chinese_and_the_timers_run() {
    let (srv, conns) = server(2);
    let audit = Audit::new();
    let opts = ["--idle", "60", "--intvl", "5", "--cnt", "3"];
    let dry = zh(
        &srv,
        "keepalive",
        &audit,
        &[&["--dry-run"], &opts[..]].concat(),
    );
    assert!(
        dry.contains("将在 3 个套接字上开启 keepalive (空闲 60 秒, 间隔 5 秒, 3 次探测):"),
        "{dry}"
    );
    no_english(&dry, &["would set", "socket(s)"]);
    assert!(srv.sockets().expect("ss").iter().all(|s| s.timer.is_none()));

    let real = zh(&srv, "keepalive", &audit, &[&["--yes"], &opts[..]].concat());
    assert!(real.contains("正在 3 个套接字上开启 keepalive"), "{real}");
    let done = format!(
        "已在 3 / 3 个套接字上设置; 2 个连接现在在 `ss -o` 中显示 timer:(keepalive,...); 已记录到 {}",
        audit.path.display()
    );
    assert!(real.contains(&done), "{real}");
    no_english(&real, &["setting", "set on", "recorded in"]);
    let snap = srv.sockets().expect("ss");
    for c in &conns {
        let s = by_cookie(&snap, c.cookie()).expect("still there");
        let kind = s.timer.as_ref().map(|t| t.kind.as_str());
        assert_eq!(kind, Some("keepalive"), "{}", s.line);
    }
}
