//! `sockdoc stats --by unit` and `--by cgroup` on real cgroups: socat servers started inside
//! `sdtest-<pid>-<n>.slice/web.service` and `…/api.service` (each joins its cgroup before it makes a
//! socket), clients in the test process (another cgroup). Counts per unit equal `ss`'s per port,
//! `ss -e` names the same cgroup path, and `ip netns exec NS sockdoc` (which has no cgroup2 mount)
//! sees the same units as `sockdoc --netns NS`; TIME-WAIT sockets, which have no cgroup, are
//! counted as `-` and the output says what that means, in English and Chinese.

use serde_json::Value;
use sockdoc_lab::units::UnitLab;
use sockdoc_lab::{ss, Netns, SockState};

use crate::sockdoc;

fn start(ns: Netns, clients_web: usize, clients_api: usize) -> UnitLab {
    UnitLab::start(ns, clients_web, clients_api).expect("two services in a lab slice (root?)")
}

/// `{key: count}` of the `--by BY` group of a stats entry.
fn rows(entry: &Value, by: &str) -> Vec<(String, u64)> {
    let g = entry["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["by"] == by))
        .unwrap_or_else(|| panic!("no group by {by}: {entry}"));
    g["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("rows: {g}"))
        .iter()
        .map(|r| {
            let key = r["key"].as_str().unwrap_or_else(|| panic!("key: {r}"));
            (key.to_string(), r["count"].as_u64().unwrap_or(0))
        })
        .collect()
}

fn count_of(rows: &[(String, u64)], key: &str) -> u64 {
    rows.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n)
}

/// The `cgroup:` paths `ss -e` prints for the sockets of local port `port`.
fn ss_cgroups(ns: &Netns, port: u16) -> Vec<String> {
    let filter = ["sport", "=", &format!(":{port}")];
    let found = ss::cgroups(&ns.path(), &filter).expect("ss -e");
    found.into_iter().map(|(_, cgroup)| cgroup).collect()
}

#[test]
fn stats_by_unit_and_cgroup_count_what_ss_counts() {
    let s = start(Netns::new().expect("create namespace"), 3, 2);
    let entry = sockdoc::stats(&s.ns, &["--by", "unit,cgroup", "--top", "50"]);
    let units = rows(&entry, "unit");
    let cgroups = rows(&entry, "cgroup");
    for (sub, port) in [&s.web, &s.api] {
        let name = sub.rel().rsplit('/').next().unwrap_or_default().to_string();
        let want = s.ss_server_side(*port).expect("ss");
        assert_eq!(count_of(&units, &name), want, "{name}: {units:?}");
        assert_eq!(count_of(&cgroups, &sub.rel()), want, "{name}: {cgroups:?}");
        let paths = ss_cgroups(&s.ns, *port);
        assert_eq!(paths.len() as u64, want, "ss -e: {paths:?}");
        assert!(
            paths.iter().all(|p| *p == sub.rel()),
            "ss -e names {}: {paths:?}",
            sub.rel()
        );
    }
    assert_eq!(
        count_of(&units, "web.service"),
        4,
        "listener + 3: {units:?}"
    );
    assert_eq!(
        count_of(&units, "api.service"),
        3,
        "listener + 2: {units:?}"
    );
    // The clients' ends are in the test's own cgroup; every socket is counted once.
    let total: u64 = units.iter().map(|(_, n)| n).sum();
    assert_eq!(Some(total), entry["total"].as_u64(), "{entry}");
    assert_eq!(total, 12, "2 listeners, 5 connections of 2 ends");
}

#[test]
fn ip_netns_exec_sees_the_units_that_netns_sees() {
    let s = start(Netns::new().expect("create namespace"), 2, 1);
    let pinned = sockdoc::stats(&s.ns, &["--by", "unit", "--top", "50"]);
    let mut cmd = s.ns.command(sockdoc::binary());
    let args = ["stats", "--json", "--by", "unit", "--top", "50"];
    cmd.args(args);
    let inside = sockdoc::run_command(cmd, args.iter().map(|a| a.to_string()).collect())
        .expect_ok()
        .json("stats");
    let spaces = inside["namespaces"].as_array().expect("namespaces");
    assert_eq!(spaces.len(), 1, "{inside}");
    let (a, b) = (rows(&pinned, "unit"), rows(&spaces[0], "unit"));
    assert_eq!(a, b, "the same units either way");
    assert_eq!(count_of(&b, "web.service"), 3, "{b:?}");
    assert_eq!(count_of(&b, "api.service"), 2, "{b:?}");
}

#[test]
fn sockets_without_a_cgroup_say_so_in_both_languages() {
    let s = UnitLab::beside_time_wait(1, 0).expect("two services in a lab slice (root?)");
    let entry = sockdoc::stats(&s.ns, &["--by", "unit", "--top", "50"]);
    let units = rows(&entry, "unit");
    let tw = ss::snapshot(&s.ns)
        .expect("ss")
        .iter()
        .filter(|x| x.state == SockState::TimeWait)
        .count() as u64;
    assert!(tw >= 1, "the scenario left a TIME-WAIT socket");
    assert_eq!(
        count_of(&units, "-"),
        tw,
        "TIME-WAIT has no cgroup: {units:?}"
    );
    for (lang, words) in [
        ("en", "sockets without a cgroup"),
        ("zh", "没有 cgroup 的套接字"),
    ] {
        let args = [
            "--lang",
            lang,
            "--netns",
            s.ns.name(),
            "stats",
            "--by",
            "unit",
        ];
        let out = sockdoc::run(&args).expect_ok().stdout;
        assert!(out.contains(words), "{lang}: {out}");
        assert!(out.contains("web.service"), "{lang}: {out}");
    }
}
