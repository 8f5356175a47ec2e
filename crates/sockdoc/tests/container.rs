//! A real container: Podman (runc, `--network none`, an image made from the host's static busybox)
//! runs a busybox `nc` echo server, and two clients inside it (`podman exec`). sockdoc, looking at
//! the container's namespace from the host, counts its sockets under the container's cgroup path
//! (checked against `ss -e`), and the census session names the container by its name;
//! `--all-netns stats --by container` counts them under the container's name and labels its
//! namespace (and that of a second container holding no socket) with it. A container
//! that cannot start fails the test with podman's message. Needs root, podman, runc and
//! busybox-static (`scripts/test.sh` installs them).

use std::time::Duration;

use serde_json::Value;
use sockdoc_core::service::Lookup;
use sockdoc_core::session::{Needs, Plan, Protocols, Refresh, Scope, Session};
use sockdoc_lab::podman::Container;
use sockdoc_lab::{ss, wait};
use sockdoc_proc::runtimes::Runtime;
use sockdoc_proc::Netns;

/// `(state, cgroup path)` of every TCP socket in the container's namespace, as `ss -e` names them.
fn ss_in(c: &Container) -> Vec<(String, String)> {
    ss::cgroups(&c.netns_path(), &[]).expect("ss -e in the container's namespace")
}

/// A container serving on port 8080 with two clients connected from inside it.
fn serving() -> Container {
    let c = Container::start(&["nc", "-ll", "-p", "8080", "-e", "/bin/busybox", "cat"])
        .unwrap_or_else(|e| panic!("cannot start a podman container: {e}"));
    wait::poll(Duration::from_secs(10), "the server to listen", || {
        let ss = ss_in(&c);
        Ok(match ss.iter().any(|(state, _)| state == "LISTEN") {
            true => Ok(()),
            false => Err(format!("{ss:?}")),
        })
    })
    .expect("server listens");
    for _ in 0..2 {
        c.exec_detached("sleep 1000 | /bin/busybox nc 127.0.0.1 8080")
            .unwrap_or_else(|e| panic!("podman exec a client: {e}"));
    }
    wait::poll(Duration::from_secs(10), "two connections", || {
        let ss = ss_in(&c);
        let estab = ss.iter().filter(|(state, _)| state == "ESTAB").count();
        Ok(if estab == 4 {
            Ok(())
        } else {
            Err(format!("{ss:?}"))
        })
    })
    .expect("clients connect");
    c
}

#[test]
fn stats_by_cgroup_counts_the_containers_sockets() {
    let c = serving();
    let path = c.cgroup().expect("the container's cgroup");
    assert!(path.ends_with(&format!("libpod-{}", c.id())), "{path}");
    let ss = ss_in(&c);
    assert!(ss.iter().all(|(_, cg)| *cg == path), "ss -e: {ss:?}");
    let pid = c.pid().to_string();
    let args = ["--netns-pid", &pid, "stats", "--json", "--by", "cgroup"];
    let run = sockdoc_lab::cli::run(env!("CARGO_BIN_EXE_sockdoc"), &args).expect("run sockdoc");
    let doc: Value = run.expect_ok().json("stats");
    let g = &doc["namespaces"][0]["groups"][0];
    assert_eq!(g["by"], "cgroup", "{doc}");
    assert_eq!(g["rows"][0]["key"], path.as_str(), "{doc}");
    assert_eq!(g["rows"][0]["count"], ss.len() as u64, "{doc}");
    assert_eq!(g["distinct"], 1, "every socket is the container's: {doc}");
}

#[test]
fn the_session_names_the_container() {
    let c = serving();
    let ns = Netns::of_pid(c.pid()).expect("the container's namespace");
    let needs = Needs {
        cgroups: true,
        ..Needs::default()
    };
    let words = ["state".to_string(), "listening".to_string()];
    let plan = Plan::parse(Protocols::TCP, &words, needs).expect("plan");
    let session = Session::new(Scope::one(ns.clone()), plan, Refresh::PerRun).expect("session");
    let sample = session.sample(&ns).expect("sample");
    assert_eq!(
        sample.sockets.len(),
        1,
        "the listener: {:?}",
        sample.sockets
    );
    let services = sample.services.as_ref().expect("services");
    let Lookup::Found(svc) = services.get(sample.sockets[0].cgroup_id) else {
        panic!("not named: {services:?}")
    };
    let container = svc.container.as_ref().expect("a container");
    assert_eq!(container.runtime, Runtime::Podman);
    assert_eq!(container.id, c.id());
    assert_eq!(container.name.as_deref(), Some(c.name()), "{svc:?}");
    assert_eq!(container.label(), c.name());
}

/// The entry of `namespaces` whose inode is the namespace of `pid`.
fn entry_of(doc: &Value, pid: u32) -> Value {
    let inode = Netns::of_pid(pid).expect("the container's namespace").inode;
    doc["namespaces"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["netns"]["inode"] == inode))
        .unwrap_or_else(|| panic!("no namespace {inode} in {doc}"))
        .clone()
}

#[test]
fn all_netns_stats_by_container_names_the_container_and_labels_its_namespace() {
    let c = serving();
    // A second container with no sockets at all: its namespace is labelled all the same.
    let quiet = Container::start(&["sleep", "1000"])
        .unwrap_or_else(|e| panic!("cannot start a podman container: {e}"));
    let args = ["--all-netns", "stats", "--json", "--by", "container"];
    let run = sockdoc_lab::cli::run(env!("CARGO_BIN_EXE_sockdoc"), &args).expect("run sockdoc");
    let doc: Value = run.expect_ok().json("stats");
    let entry = entry_of(&doc, c.pid());
    let holder = &entry["netns"]["holder"];
    assert_eq!(holder["kind"], "container", "{holder}");
    assert_eq!(holder["runtime"], "podman", "{holder}");
    assert_eq!(holder["id"], c.id(), "{holder}");
    assert_eq!(holder["name"], c.name(), "{holder}");
    let g = &entry["groups"][0];
    assert_eq!(g["by"], "container", "{entry}");
    let ss = ss_in(&c);
    assert_eq!(g["distinct"], 1, "every socket is the container's: {entry}");
    assert_eq!(g["rows"][0]["key"], c.name(), "{entry}");
    assert_eq!(g["rows"][0]["count"], ss.len() as u64, "ss: {ss:?}");
    assert_eq!(g["rows"][0]["container"]["id"], c.id(), "{entry}");
    assert_eq!(entry["total"], ss.len() as u64, "{entry}");
    let empty = entry_of(&doc, quiet.pid());
    assert_eq!(empty["total"], 0, "{empty}");
    assert_eq!(empty["netns"]["holder"]["name"], quiet.name(), "{empty}");
    // Sockets outside any container (the host's) share one row, not dropped.
    let host = doc["namespaces"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["netns"]["current"] == true))
        .unwrap_or_else(|| panic!("no current namespace: {doc}"));
    let rows = host["groups"][0]["rows"].as_array().expect("rows");
    let counted: u64 = rows.iter().map(|r| r["count"].as_u64().unwrap_or(0)).sum();
    assert_eq!(
        counted + host["groups"][0]["other"].as_u64().unwrap_or(0),
        host["total"].as_u64().unwrap_or(0),
        "{host}"
    );
    assert!(
        rows.iter().all(|r| r["key"] != c.name()),
        "the container's sockets are in its own namespace: {host}"
    );

    // The text labels the namespace with the runtime and the name, in both languages.
    for lang in ["en", "zh"] {
        let args = ["--lang", lang, "--all-netns", "stats", "--by", "container"];
        let out = sockdoc_lab::cli::run(env!("CARGO_BIN_EXE_sockdoc"), &args)
            .expect("run sockdoc")
            .expect_ok()
            .stdout;
        for k in [&c, &quiet] {
            let label = format!("· podman {} ==", k.name());
            assert!(out.contains(&label), "{lang}: no {label}: {out}");
        }
        let row = format!("{}  {}", ss.len(), c.name());
        assert!(out.contains(&row), "{lang}: no row {row:?}: {out}");
    }
}
