//! [`Container`]: a real Podman container for tests. Its image is made on the spot from the host's
//! static busybox (`podman import` of a one-binary root), it runs with `runc` (crun refuses hybrid
//! cgroup hosts), without a network (`--network none`: a namespace with only loopback), and both
//! are removed on drop. A container that cannot start is an error carrying podman's own message.
//! Needs root, `podman`, `runc`, `busybox-static`, and on hosts whose file descriptor hard limit
//! is low `default_ulimits = []` in `/etc/containers/containers.conf` (`scripts/test.sh` sets it).

use std::io;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The static busybox the image is made of.
const BUSYBOX: &str = "/bin/busybox";

/// A running container and its image; both removed on drop.
#[derive(Debug)]
pub struct Container {
    name: String,
    image: String,
    id: String,
    pid: u32,
}

/// `podman ARGS`; a failure is an error with podman's stderr.
fn podman(args: &[&str]) -> io::Result<String> {
    let out: Output = Command::new("podman")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("podman {}: {e}", args.join(" "))))?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "podman {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// An image holding only the static busybox (`/bin/busybox`, `/bin/sh`), imported as `image`.
fn import_busybox(image: &str) -> io::Result<()> {
    let root = std::env::temp_dir().join(format!("{image}-root").replace([':', '/'], "-"));
    let tar = root.with_extension("tar");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("bin"))?;
    std::fs::copy(BUSYBOX, root.join("bin/busybox"))
        .map_err(|e| io::Error::new(e.kind(), format!("{BUSYBOX} (busybox-static): {e}")))?;
    std::os::unix::fs::symlink("busybox", root.join("bin/sh"))?;
    let made = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status();
    let _ = std::fs::remove_dir_all(&root);
    let result = match made {
        Ok(s) if s.success() => podman(&["import", "-q", &tar.to_string_lossy(), image]).map(drop),
        Ok(s) => Err(io::Error::other(format!("tar of the image root: {s}"))),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&tar);
    result
}

impl Container {
    /// Starts `command` (busybox applet and arguments, e.g. `nc -ll -p 8080 -e /bin/busybox cat`)
    /// in a fresh container `sdtest-<pid>-<n>`.
    pub fn start(command: &[&str]) -> io::Result<Container> {
        let name = format!(
            "sdtest-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let image = format!("localhost/{name}:busybox");
        import_busybox(&image)?;
        let mut c = Container {
            name,
            image,
            id: String::new(),
            pid: 0,
        };
        let mut args = vec![
            "run",
            "-d",
            "--runtime",
            "runc",
            "--network",
            "none",
            "--name",
            &c.name,
            &c.image,
            BUSYBOX,
        ];
        args.extend_from_slice(command);
        c.id = podman(&args)?;
        let pid = podman(&["inspect", "--format", "{{.State.Pid}}", &c.id])?;
        c.pid = pid
            .parse()
            .map_err(|_| io::Error::other(format!("podman inspect: pid {pid:?}")))?;
        Ok(c)
    }

    /// The container's name (`sdtest-<pid>-<n>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The full container id (64 hex digits).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The host PID of the container's first process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `podman exec -d` of a busybox `sh -c SCRIPT` inside the container.
    pub fn exec_detached(&self, script: &str) -> io::Result<()> {
        podman(&["exec", "-d", &self.id, BUSYBOX, "sh", "-c", script]).map(drop)
    }

    /// The container's cgroup path, as the host's `/proc/PID/cgroup` names it.
    pub fn cgroup(&self) -> io::Result<String> {
        let text = std::fs::read_to_string(format!("/proc/{}/cgroup", self.pid))?;
        text.lines()
            .find_map(|l| l.strip_prefix("0::"))
            .map(str::to_string)
            .ok_or_else(|| io::Error::other(format!("no cgroup2 line: {text}")))
    }

    /// The container's network namespace file (`/proc/PID/ns/net`).
    pub fn netns_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.pid))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // By name: a `podman run` that failed half-way may have left it created.
        if let Err(e) = podman(&["rm", "-f", "-i", "-t", "0", &self.name]) {
            eprintln!("sockdoc-lab: {e}");
        }
        if let Err(e) = podman(&["rmi", "-f", &self.image]) {
            eprintln!("sockdoc-lab: {e}");
        }
    }
}
