//! Commands that keep running are pinned to the namespace they started in: when the name given to
//! `--netns` is deleted and given to a new namespace, `serve` says so and exits 69, or with
//! `--follow-netns` logs the switch and exports the new namespace's inode and a change counter.
//! (reap: tests/reap.rs; events: tests/events.rs.)

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::Duration;

use sockdoc_lab::reap::metric_value;
use sockdoc_lab::serve::{get, Killed};
use sockdoc_lab::wait::poll;
use sockdoc_lab::Netns;

const BIN: &str = env!("CARGO_BIN_EXE_sockdoc");
const WAIT: Duration = Duration::from_secs(20);

/// `sockdoc --netns NS serve --listen 127.0.0.1:0 EXTRA...` with stderr in a file; the guard, the
/// address, and the stderr file.
fn serve(ns: &Netns, extra: &[&str]) -> (Killed, String, sockdoc_lab::doctor::Workdir) {
    serve_in(&["--netns", ns.name()], extra, "serve-netns")
}

/// `sockdoc SELECT... serve --listen 127.0.0.1:0 EXTRA...` (`SELECT`: the namespace options) with
/// stderr in `stderr.log` of a fresh directory; returns once it serves.
fn serve_in(
    select: &[&str],
    extra: &[&str],
    tag: &str,
) -> (Killed, String, sockdoc_lab::doctor::Workdir) {
    let dir = sockdoc_lab::doctor::Workdir::new(tag).expect("dir");
    let err = dir.join("stderr.log");
    let child = Command::new(BIN)
        .args(select)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(File::create(&err).expect("stderr file")))
        .spawn()
        .expect("start serve");
    let guard = Killed(child);
    let addr = poll(WAIT, "the serving line", || {
        let text = std::fs::read_to_string(&err)?;
        Ok(text
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .map(str::to_string)
            .ok_or_else(|| text.clone()))
    })
    .expect("serving line");
    (guard, addr, dir)
}

/// Waits for the guarded process to exit by itself.
fn exit_status(guard: &mut Killed) -> std::process::ExitStatus {
    poll(WAIT, "serve to exit", || {
        Ok(match guard.0.try_wait()? {
            Some(s) => Ok(s),
            None => Err("still running".to_string()),
        })
    })
    .expect("serve exits")
}

fn metrics(addr: &str) -> String {
    get(addr, "/metrics", Duration::from_secs(10)).expect("scrape")
}

#[test]
fn serve_stops_with_69_when_its_namespace_is_recreated() {
    let ns = Netns::new().expect("namespace");
    let old = ns.inode().expect("inode");
    let (mut guard, addr, dir) = serve(&ns, &[]);
    let m = metrics(&addr);
    assert!(
        m.contains(&format!("sockdoc_netns_info{{inode=\"{old}\"}} 1")),
        "{m}"
    );
    let new = ns.recreate().expect("recreate");
    let status = exit_status(&mut guard);
    assert_eq!(status.code(), Some(69), "{status:?}");
    let err = std::fs::read_to_string(dir.join("stderr.log")).expect("stderr");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains(&format!("net:{old}"))
            && last.contains(&format!("[net:{new}]"))
            && last.contains("--follow-netns"),
        "{err}"
    );
}

#[test]
fn serve_follows_a_recreated_namespace_when_asked() {
    let ns = Netns::new().expect("namespace");
    let (_guard, addr, dir) = serve(&ns, &["--follow-netns"]);
    assert_eq!(
        metric_value(&metrics(&addr), "sockdoc_netns_changes_total"),
        Some(0.0)
    );
    let new = ns.recreate().expect("recreate");
    // A listener only the new namespace has: the scrape must count it.
    let port = ns.fresh_port();
    ns.spawn(&[
        "python3",
        "-c",
        "import socket,sys,time; l=socket.socket(); l.bind(('127.0.0.1', int(sys.argv[1]))); l.listen(); time.sleep(60)",
        &port.to_string(),
    ])
    .expect("listener");
    let m = poll(WAIT, "the new namespace's metrics", || {
        let m = metrics(&addr);
        Ok(
            if m.contains(&format!("sockdoc_netns_info{{inode=\"{new}\"}} 1"))
                && m.contains(&format!("port=\"{port}\""))
            {
                Ok(m)
            } else {
                Err(m)
            },
        )
    })
    .expect("followed");
    assert_eq!(
        metric_value(&m, "sockdoc_netns_changes_total"),
        Some(1.0),
        "{m}"
    );
    let err = std::fs::read_to_string(dir.join("stderr.log")).expect("stderr");
    assert!(
        err.contains(&format!("[net:{new}]")) && err.contains("following it"),
        "{err}"
    );
}

/// `--netns-pid PID`: when the process exits, the namespace it named is gone for the exporter: it
/// says so and exits 69.
#[test]
fn serve_stops_with_69_when_the_netns_pid_exits() {
    let ns = Netns::new().expect("namespace");
    let pid = ns.spawn(&["sleep", "60"]).expect("sleep");
    let (mut guard, _, dir) = serve_in(&["--netns-pid", &pid.to_string()], &[], "serve-netns-pid");
    let st = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    let status = exit_status(&mut guard);
    assert_eq!(status.code(), Some(69), "{status:?}");
    let text = std::fs::read_to_string(dir.join("stderr.log")).expect("stderr");
    assert!(
        text.contains(&format!("pid {pid}")) && text.contains("its process exited"),
        "{text}"
    );
}
