//! A namespace with nothing wrong: a listener with a busy and an idle-with-keepalive connection
//! and a few TIME-WAIT sockets. Exit 0, status healthy, nothing above info.

use std::time::Duration;

use sockdoc_lab::doctor::{Healthy, HEALTHY_PORT, HEALTHY_TIME_WAIT};

use crate::run::{doctor, g_str, g_u64, ghosts, run};

#[test]
fn healthy_namespace_exits_zero() {
    let h = Healthy::build().expect("build");
    h.wait_idle(Duration::from_millis(2300)).expect("idle");
    let r = doctor(&h.server, &["--idle", "2s"]);
    assert_eq!(r.status, "healthy", "{:#}", r.doc);
    assert_eq!(r.run.code(), Some(0), "{}", r.run.stderr);
    assert!(
        r.findings.iter().all(|f| f.severity == "info"),
        "only info findings: {:?}",
        r.ids()
    );
    assert_eq!(r.state_count("time-wait"), HEALTHY_TIME_WAIT as u64);
    assert_eq!(r.state_count("established"), 2);
    assert_eq!(r.state_count("listen"), 1);
    let cov = r.finding("keepalive-coverage");
    let g = cov.group("local_port", HEALTHY_PORT);
    assert_eq!(g_str(g, "process"), "ok-echo", "{g}");
    assert_eq!(g_u64(g, "pid"), u64::from(h.echo.pid), "{g}");
    assert_eq!(g_u64(g, "connections"), 2, "{g}");
    assert_eq!(g_u64(g, "with_keepalive"), 2, "{g}");
    assert_eq!(g_u64(g, "percent"), 100, "{g}");
    let gh = ghosts(&h.server, &["--idle", "2s"]);
    assert!(gh.suspects.is_empty(), "{:#}", gh.doc);

    // `sockdoc` alone is doctor.
    let bare = run(&["--netns", h.server.name(), "--json"]);
    let doc = bare.json("doctor");
    assert_eq!(doc["status"], "healthy", "{doc:#}");
    assert_eq!(bare.code(), Some(0), "{}", bare.stderr);
}

#[test]
fn usage_errors_exit_64() {
    for args in [
        &["doctor", "--interval", "2x"][..],
        &["doctor", "--idle", "soon"],
        &["doctor", "--lang", "fr"],
        &["ghosts", "--idle", "-1s"],
    ] {
        let r = run(args);
        let code = r.code().expect("exit code");
        assert!(
            code >= 64,
            "`sockdoc {}` exited {code}: {}",
            args.join(" "),
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{}", r.stdout);
    }
}

/// Usage errors in Chinese: one line, exit 64, no English sentence of the refusal.
#[test]
fn usage_errors_speak_chinese() {
    for (args, zh, en) in [
        (
            &["doctor", "--interval", "2m"][..],
            "--interval 最多为 60s",
            "at most",
        ),
        (
            &["doctor", "--idle", "soon"],
            "时长 'soon' (--idle 的值) 无效",
            "bad duration",
        ),
        (
            &["stats", "--by", "nope"],
            "未知的 --by 分组 'nope'",
            "unknown",
        ),
        (&["list", "--columns", "nope"], "未知的列 'nope'", "unknown"),
        (
            &["events", "--buffer", "0"],
            "--buffer 是连接结束事件的个数",
            "a number of",
        ),
        (&["top"], "标准输出不是终端", "terminal and"),
    ] {
        let mut all = vec!["--lang", "zh"];
        all.extend_from_slice(args);
        let r = run(&all);
        assert_eq!(
            r.code(),
            Some(64),
            "`sockdoc {}`: {}",
            all.join(" "),
            r.stderr
        );
        let lines = r.stderr_lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains(zh), "{lines:?}");
        assert!(!lines[0].contains(en), "{lines:?}");
    }
}
