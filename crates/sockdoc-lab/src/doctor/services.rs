//! Starting the daemons and helpers of the doctor scenarios, each in the foreground inside a
//! namespace with its configuration, keys, pid file and logs in the scenario's [`Workdir`].

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use super::net::wait_sockets;
use super::proc::Proc;
use super::scripts::{HELPER, PYTHON};
use super::workdir::Workdir;
use crate::netns::Netns;
use crate::ss::SsSocket;
use crate::state::SockState;

/// How long a daemon or helper may take to come up.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A listening service of a scenario, as sockdoc should name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// `/proc/PID/comm` of the listener's process (`socat`, `vsftpd`, `sshd`, or a helper's label).
    pub process: String,
    /// PID of the process holding the listening socket.
    pub pid: u32,
    pub ip: Ipv4Addr,
    pub port: u16,
}

/// The command line of the Python helper (see [`super::scripts`]) as `label` (also its process
/// name) with `args`, its script written into `dir`: `python3 -u helper.py LABEL ARGS...`. For
/// starting it another way, such as inside a cgroup ([`crate::cgroup::Cgroup::spawn`]).
pub fn helper_argv(dir: &Workdir, label: &str, args: &[&str]) -> io::Result<Vec<String>> {
    let script = dir.join("helper.py");
    if !script.exists() {
        fs::write(&script, HELPER)?;
    }
    let mut argv = vec![PYTHON.to_string(), "-u".to_string()];
    argv.push(script.to_string_lossy().into_owned());
    argv.push(label.to_string());
    argv.extend(args.iter().map(|a| a.to_string()));
    Ok(argv)
}

/// Runs the Python helper as `label` (also its process name) in `ns`.
pub(crate) fn helper(ns: &Netns, dir: &Workdir, label: &str, args: &[&str]) -> io::Result<Proc> {
    let argv = helper_argv(dir, label, args)?;
    let rest: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    Proc::spawn(ns, dir.path(), label, &argv[0], &rest)
}

/// Starts a helper and waits for its `ready` line (returned).
pub(crate) fn helper_ready(
    ns: &Netns,
    dir: &Workdir,
    label: &str,
    args: &[&str],
) -> io::Result<(Proc, String)> {
    let mut p = helper(ns, dir, label, args)?;
    let line = p.wait_line("ready", START_TIMEOUT)?;
    Ok((p, line))
}

/// Runs a helper that exits on its own (`connclose`, `quit`, `http`) to completion.
pub(crate) fn helper_run(ns: &Netns, dir: &Workdir, label: &str, args: &[&str]) -> io::Result<()> {
    let mut p = helper(ns, dir, label, args)?;
    p.wait_line("ready", Duration::from_secs(30))?;
    p.wait_exit(Duration::from_secs(10)).map(drop)
}

/// A helper server (`helper.py LABEL server IP PORT BACKLOG KIND...`, KIND e.g. `["echo",
/// "keepalive"]`), up and listening.
pub(crate) fn helper_server(
    ns: &Netns,
    dir: &Workdir,
    label: &str,
    (ip, port): (Ipv4Addr, u16),
    backlog: u32,
    kind: &[&str],
) -> io::Result<(Proc, Service)> {
    let (ip_s, port_s, backlog_s) = (ip.to_string(), port.to_string(), backlog.to_string());
    let mut args = vec!["server", &ip_s, &port_s, &backlog_s];
    args.extend_from_slice(kind);
    let (p, _) = helper_ready(ns, dir, label, &args)?;
    wait_listening(ns, port)?;
    let service = Service {
        process: label.to_string(),
        pid: p.pid(),
        ip,
        port,
    };
    Ok((p, service))
}

/// Waits until something listens on TCP `port` in `ns`; returns the listener as ss shows it.
pub(crate) fn wait_listening(ns: &Netns, port: u16) -> io::Result<SsSocket> {
    wait_sockets(
        ns,
        &format!("a listener on port {port}"),
        START_TIMEOUT,
        false,
        |snap| {
            snap.iter()
                .find(|s| s.state == SockState::Listen && s.local.port == port)
                .cloned()
                .ok_or_else(|| format!("nothing listens on {port}"))
        },
    )
}

/// Waits for the listener and fails with the daemon's log if it does not come up.
fn up(ns: &Netns, p: &mut Proc, port: u16) -> io::Result<()> {
    wait_listening(ns, port).map(drop).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "{} did not listen on {port}: {e}\nlog:\n{}",
                p.label(),
                p.log()
            ),
        )
    })
}

/// vsftpd on `ip:port`, anonymous read-only logins, in the foreground as root (Debian's build:
/// it sets SO_KEEPALIVE on every control connection). The idle-session timeout is 10 minutes, so
/// it never closes a test's session.
pub(crate) fn vsftpd(ns: &Netns, dir: &Workdir, ip: Ipv4Addr, port: u16) -> io::Result<Proc> {
    let empty = dir.subdir("vsftpd-empty")?;
    let root = dir.subdir("vsftpd-root")?;
    fs::write(root.join("README"), "sockdoc lab\n")?;
    let conf = format!(
        "listen=YES\n\
         listen_ipv6=NO\n\
         listen_address={ip}\n\
         listen_port={port}\n\
         background=NO\n\
         anonymous_enable=YES\n\
         local_enable=NO\n\
         write_enable=NO\n\
         anon_root={root}\n\
         secure_chroot_dir={empty}\n\
         ftp_username=ftp\n\
         nopriv_user=nobody\n\
         isolate=NO\n\
         isolate_network=NO\n\
         seccomp_sandbox=NO\n\
         xferlog_enable=NO\n\
         idle_session_timeout=600\n\
         connect_from_port_20=NO\n\
         hide_ids=YES\n",
        root = root.display(),
        empty = empty.display(),
    );
    let conf = dir.write("vsftpd.conf", &conf)?;
    let mut p = Proc::spawn(
        ns,
        dir.path(),
        "vsftpd",
        "/usr/sbin/vsftpd",
        &[conf.as_os_str()],
    )?;
    up(ns, &mut p, port)?;
    Ok(p)
}

/// sshd on `0.0.0.0:port` in the foreground (`-D -e -f cfg -h hostkey`) with a fresh ed25519 host
/// key and `LoginGraceTime 0`, so a client that only reads the banner stays connected. Debian's
/// sshd sets SO_KEEPALIVE (`TCPKeepAlive yes`) on every connection before authentication.
pub(crate) fn sshd(ns: &Netns, dir: &Workdir, port: u16) -> io::Result<Proc> {
    // Privilege separation directory; the Debian package creates it only when the service starts.
    let privsep = Path::new("/run/sshd");
    if !privsep.is_dir() {
        fs::create_dir_all(privsep)?;
    }
    let key = dir.join("ssh_host_ed25519_key");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ssh-keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let conf = format!(
        "Port {port}\n\
         ListenAddress 0.0.0.0\n\
         HostKey {key}\n\
         PidFile {pid}\n\
         UsePAM no\n\
         LoginGraceTime 0\n\
         StrictModes no\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         AuthorizedKeysFile none\n\
         TCPKeepAlive yes\n\
         UseDNS no\n\
         MaxStartups 100\n",
        key = key.display(),
        pid = dir.join("sshd.pid").display(),
    );
    let conf = dir.write("sshd_config", &conf)?;
    let port_s = port.to_string();
    let mut p = Proc::spawn(
        ns,
        dir.path(),
        "sshd",
        "/usr/sbin/sshd",
        &[
            "-D".as_ref(),
            "-e".as_ref(),
            "-p".as_ref(),
            port_s.as_ref(),
            "-f".as_ref(),
            conf.as_os_str(),
            "-h".as_ref(),
            key.as_os_str(),
        ],
    )?;
    up(ns, &mut p, port)?;
    Ok(p)
}

/// nginx on `ip:port` answering every request with `ok` (keep-alive on), in the foreground with
/// its pid file, logs and temp paths in the workdir.
pub(crate) fn nginx(ns: &Netns, dir: &Workdir, ip: Ipv4Addr, port: u16) -> io::Result<Proc> {
    let base = dir.subdir("nginx")?;
    let b = base.display();
    let conf = format!(
        "worker_processes 1;\n\
         pid {b}/nginx.pid;\n\
         error_log {b}/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n\
         \x20 access_log off;\n\
         \x20 client_body_temp_path {b}/body;\n\
         \x20 proxy_temp_path {b}/proxy;\n\
         \x20 fastcgi_temp_path {b}/fastcgi;\n\
         \x20 uwsgi_temp_path {b}/uwsgi;\n\
         \x20 scgi_temp_path {b}/scgi;\n\
         \x20 server {{ listen {ip}:{port} backlog=511; location / {{ return 200 \"ok\\n\"; }} }}\n\
         }}\n"
    );
    let conf = dir.write("nginx.conf", &conf)?;
    let prefix = format!("{b}/");
    let err_log = format!("{b}/error.log");
    let conf_s = conf.to_string_lossy().into_owned();
    let mut p = Proc::spawn(
        ns,
        dir.path(),
        "nginx",
        "/usr/sbin/nginx",
        &[
            "-p",
            &prefix,
            "-e",
            &err_log,
            "-c",
            &conf_s,
            "-g",
            "daemon off;",
        ],
    )?;
    up(ns, &mut p, port)?;
    Ok(p)
}

/// A forking socat TCP proxy `listen_port` -> `backend`. The listening side and every connection
/// accepted on it have no keepalive (socat sets none unless asked): the seed's FTP proxy. The
/// backend leg gets `keepalive`, so the only unprotected connections are the client-facing ones.
pub(crate) fn socat_proxy(
    ns: &Netns,
    dir: &Workdir,
    listen_port: u16,
    backend: (IpAddr, u16),
) -> io::Result<Proc> {
    let listen = format!("TCP4-LISTEN:{listen_port},fork,reuseaddr");
    let connect = format!("TCP4:{}:{},keepalive", backend.0, backend.1);
    let mut p = Proc::spawn(
        ns,
        dir.path(),
        "socat",
        "socat",
        &[listen.as_str(), connect.as_str()],
    )?;
    up(ns, &mut p, listen_port)?;
    Ok(p)
}

/// The [`Service`] a started process provides.
pub(crate) fn service(process: &str, p: &Proc, ip: Ipv4Addr, port: u16) -> Service {
    Service {
        process: process.to_string(),
        pid: p.pid(),
        ip,
        port,
    }
}

/// `ready <port> ...` -> port.
pub(crate) fn ready_port(line: &str) -> io::Result<u16> {
    line.split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| io::Error::other(format!("no port in {line:?}")))
}
