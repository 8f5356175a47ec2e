//! CLOSE-WAIT leaks: a server that never closes accepted connections whose clients hung up.

use std::time::Duration;

use sockdoc_lab::doctor::{CloseWaitLeak, CLOSER_PORT, LEAKER_PORT, YOUNG_PORT};

use crate::run::{doctor, g_str, g_u64, has_cjk, run};

#[test]
fn close_wait_leak_names_the_process_that_never_closes() {
    let cw = CloseWaitLeak::build(110, 3).expect("build");
    let r = doctor(&cw.server, &[]);
    assert_eq!(r.status, "warning", "{:#}", r.doc);
    let f = r.finding("close-wait-leak");
    assert_eq!(f.severity, "warning", "110 < 1000: {:#}", f.json);
    assert_eq!(r.state_count("close-wait"), 113, "{:#}", r.ns["summary"]);
    assert_eq!(
        f.ev("close_wait"),
        113,
        "every CLOSE-WAIT socket in the namespace: {:#}",
        f.json
    );
    assert_eq!(
        f.groups.len(),
        1,
        "only the leaker: 3 fresh CLOSE-WAIT are not a leak, the closer holds none: {:#}",
        f.json
    );
    let g = f.group("local_port", LEAKER_PORT);
    assert_eq!(g_u64(g, "pid"), u64::from(cw.leaker.pid), "{g}");
    assert_eq!(g_str(g, "process"), "cw-leaker", "{g}");
    assert_eq!(g_u64(g, "count"), 110, "{g}");
    assert!(g_u64(g, "max_idle_ms") < 10_000, "fresh: {g}");
    assert!(f.groups_where("local_port", YOUNG_PORT).is_empty());
    assert!(f.groups_where("local_port", CLOSER_PORT).is_empty());
    // Nothing else is wrong here.
    let others: Vec<&str> = r
        .findings
        .iter()
        .filter(|x| x.severity != "info" && x.id != "close-wait-leak")
        .map(|x| x.id.as_str())
        .collect();
    assert!(others.is_empty(), "unexpected {others:?}: {:#}", r.doc);
}

#[test]
fn a_thousand_leaked_close_wait_is_critical() {
    let cw = CloseWaitLeak::build(1000, 0).expect("build");
    let r = doctor(&cw.server, &[]);
    let f = r.finding("close-wait-leak");
    assert_eq!(f.severity, "critical", "{:#}", f.json);
    assert_eq!(r.status, "critical");
    assert_eq!(f.ev("close_wait"), 1000, "{:#}", f.json);
    let g = f.group("pid", cw.leaker.pid);
    assert_eq!(g_u64(g, "count"), 1000, "{g}");
    assert_eq!(g_str(g, "process"), "cw-leaker", "{g}");
}

#[test]
fn one_close_wait_silent_for_ten_seconds_is_a_leak() {
    let cw = CloseWaitLeak::build(1, 0).expect("build");
    let r = doctor(&cw.server, &[]);
    r.assert_absent("close-wait-leak");
    cw.wait_idle(Duration::from_millis(10_300)).expect("age");
    let r = doctor(&cw.server, &[]);
    let f = r.finding("close-wait-leak");
    assert_eq!(f.severity, "warning", "{:#}", f.json);
    assert_eq!(f.ev("close_wait"), 1, "{:#}", f.json);
    let g = f.group("pid", cw.leaker.pid);
    assert_eq!(g_str(g, "process"), "cw-leaker", "{g}");
    assert_eq!(g_u64(g, "local_port"), u64::from(LEAKER_PORT), "{g}");
    assert_eq!(g_u64(g, "count"), 1, "{g}");
    assert!(g_u64(g, "max_idle_ms") >= 10_000, "{g}");
}

#[test]
fn lang_zh_speaks_chinese() {
    let cw = CloseWaitLeak::build(100, 0).expect("build");
    let r = doctor(&cw.server, &["--lang", "zh"]);
    let f = r.finding("close-wait-leak");
    assert!(has_cjk(&f.title), "zh title: {}", f.title);
    assert_eq!(g_u64(&f.groups[0], "count"), 100, "{:#}", f.json);
    let en = doctor(&cw.server, &["--lang", "en"]);
    let t = &en.finding("close-wait-leak").title;
    assert!(!has_cjk(t), "en title: {t}");
    // Text mode too.
    let text = run(&[
        "doctor",
        "--netns",
        cw.server.name(),
        "--interval",
        crate::run::INTERVAL,
        "--lang",
        "zh",
    ]);
    assert_eq!(text.code(), Some(1), "{}", text.stderr);
    assert!(has_cjk(&text.stdout), "{}", text.stdout);
}
