//! Findings name the service: a CLOSE-WAIT leak in `sdtest-<pid>-<n>.slice/api.service` (the
//! helper's `hold` server, which never closes what it accepts, started inside the cgroup before it
//! makes its socket) beside a healthy `web.service`, both in one namespace. The finding's group
//! names api.service as its unit with the count `ss` shows (whose `-e` cgroup field names the same
//! cgroup), and its title reads as api.service's leak in English and Chinese.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use sockdoc_lab::cgroup::{Cgroup, Sub};
use sockdoc_lab::doctor::{helper_argv, Workdir};
use sockdoc_lab::{in_netns, ss, wait, Netns, SockState};

use crate::run::{doctor, g_str, g_u64, has_cjk, run};

const LEAKED: usize = 105;

/// Starts the helper server `kind` on 127.0.0.1:`port` of `ns` inside `sub`; waits until it listens.
fn serve(slice: &Cgroup, sub: &Sub, ns: &Netns, dir: &Workdir, kind: &str, port: u16) -> u32 {
    let port_s = port.to_string();
    let label = format!("sd-{kind}");
    let args = ["server", "127.0.0.1", &port_s, "1024", kind];
    let argv = helper_argv(dir, &label, &args).expect("helper script");
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let pid = slice
        .spawn(sub, Some(ns), &argv)
        .expect("start the helper in its cgroup");
    wait::poll(Duration::from_secs(15), "the server to listen", || {
        let snap = ss::snapshot(ns)?;
        let up = snap
            .iter()
            .any(|s| s.state == SockState::Listen && s.local.port == port);
        Ok(if up { Ok(()) } else { Err(format!("{snap:?}")) })
    })
    .expect("server listens");
    pid
}

/// The server-side CLOSE-WAIT sockets of `port` that a process holds, as `ss` shows them.
fn held_close_wait(ns: &Netns, port: u16) -> usize {
    ss::snapshot(ns)
        .expect("ss")
        .iter()
        .filter(|s| s.state == SockState::CloseWait && s.local.port == port && s.ino != 0)
        .count()
}

#[test]
fn a_close_wait_leak_in_a_unit_reads_as_that_units_leak() {
    let dir = Workdir::new("svc-leak").expect("workdir");
    let ns = Netns::new().expect("create namespace");
    let slice = Cgroup::slice().expect("create a cgroup slice (root?)");
    let web = slice.child("web.service").expect("web.service");
    let api = slice.child("api.service").expect("api.service");
    let (web_port, api_port) = (ns.fresh_port(), ns.fresh_port());
    serve(&slice, &web, &ns, &dir, "close", web_port);
    let api_pid = serve(&slice, &api, &ns, &dir, "hold", api_port);
    // Clients in the test's own cgroup: the api's close at once (its server never does), the
    // web's stay connected.
    let (to_web, to_api): (SocketAddr, SocketAddr) = (
        ([127, 0, 0, 1], web_port).into(),
        ([127, 0, 0, 1], api_port).into(),
    );
    let _kept: Vec<TcpStream> = in_netns(&ns, move || {
        for _ in 0..LEAKED {
            drop(TcpStream::connect(to_api)?);
        }
        (0..3).map(|_| TcpStream::connect(to_web)).collect()
    })
    .expect("connect");
    wait::poll(Duration::from_secs(15), "the leak", || {
        let n = held_close_wait(&ns, api_port);
        Ok(if n == LEAKED {
            Ok(())
        } else {
            Err(format!("{n} of {LEAKED} CLOSE-WAIT held"))
        })
    })
    .expect("CLOSE-WAIT sockets held by api.service");
    // ss -e names api.service's cgroup for every one of them.
    let filter = ["state", "close-wait", "sport", "=", &format!(":{api_port}")];
    let cgroups = ss::cgroups(&ns.path(), &filter).expect("ss -e");
    assert_eq!(cgroups.len(), LEAKED, "ss -e: {cgroups:?}");
    assert!(
        cgroups.iter().all(|(_, c)| *c == api.rel()),
        "ss -e names {}: {cgroups:?}",
        api.rel()
    );

    let r = doctor(&ns, &[]);
    let f = r.finding("close-wait-leak");
    let g = f.group("local_port", api_port);
    assert_eq!(g_str(g, "unit"), "api.service", "{g}");
    assert_eq!(g_u64(g, "count"), LEAKED as u64, "{g}");
    assert_eq!(g_u64(g, "pid"), u64::from(api_pid), "{g}");
    assert!(g["container"].is_null() && g["pod"].is_null(), "{g}");
    assert!(
        f.groups_where("local_port", web_port).is_empty(),
        "{:#}",
        f.json
    );
    let holder = format!("api.service (sd-hold/{api_pid})");
    assert!(f.title.contains(&holder), "{}", f.title);

    // The words, in both languages, name the unit; the text table shows its column.
    for (lang, words) in [("en", "most in"), ("zh", "最多的在")] {
        let args = [
            "--lang",
            lang,
            "--netns",
            ns.name(),
            "doctor",
            "--interval",
            "200ms",
        ];
        let out = run(&args).stdout;
        let title = out
            .lines()
            .find(|l| l.contains("[close-wait-leak]"))
            .unwrap_or_else(|| panic!("{lang}: no close-wait-leak: {out}"));
        assert!(
            title.contains(&format!("{words} {holder}")),
            "{lang}: {title}"
        );
        assert_eq!(lang == "zh", has_cjk(title), "{lang}: {title}");
        assert!(
            out.contains("systemctl restart api.service"),
            "{lang}: {out}"
        );
        let header = out
            .lines()
            .find(|l| l.trim_start().starts_with("pid") && l.contains("unit"))
            .unwrap_or_else(|| panic!("{lang}: no unit column: {out}"));
        assert!(!header.contains("container"), "no container here: {header}");
    }
}
