//! The names people use, read from a cgroup path alone: the systemd unit and slice, the container
//! (Docker, Podman, containerd/CRI, CRI-O, LXC, systemd-nspawn) and the Kubernetes pod. Pure
//! functions of the path: no file is read here.

use sockdoc_proc::runtimes::{is_full_id, Runtime};

/// A container as its cgroup path names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRef {
    pub runtime: Runtime,
    /// The full id (64 hex digits), or the name for LXC and nspawn, whose paths carry names.
    pub id: String,
    /// Whether `id` is the container's name already.
    pub named: bool,
}

/// What a cgroup path says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathNames {
    /// The systemd unit, as `ps -o unit` and `systemctl status PID` name it, and the index of its
    /// component in the path (`/system.slice/nginx.service`: 1).
    pub unit: Option<(usize, String)>,
    /// The slice the unit is in (`-.slice` for a unit at the root), or the deepest slice of a
    /// path without a unit.
    pub slice: Option<String>,
    /// The outermost container the path is inside.
    pub container: Option<ContainerRef>,
    /// The Kubernetes pod's uid (with dashes, as the API writes it).
    pub pod_uid: Option<String>,
}

/// Unit types that own cgroups.
const UNIT_TYPES: [&str; 5] = [".service", ".scope", ".socket", ".mount", ".swap"];

fn is_unit(c: &str) -> bool {
    UNIT_TYPES
        .iter()
        .any(|t| c.len() > t.len() && c.ends_with(t))
}

/// Read `path` (`/system.slice/docker-<id>.scope`, as `/proc/PID/cgroup` writes it).
pub fn parse(path: &str) -> PathNames {
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let mut names = PathNames::default();
    let slices = comps.iter().take_while(|c| c.ends_with(".slice")).count();
    match comps.get(slices) {
        Some(c) if is_unit(c) => {
            names.unit = Some((slices, c.to_string()));
            names.slice = Some(match slices {
                0 => "-.slice".to_string(),
                n => comps[n - 1].to_string(),
            });
        }
        _ => names.slice = slices.checked_sub(1).map(|i| comps[i].to_string()),
    }
    for (i, c) in comps.iter().enumerate() {
        let parent = i.checked_sub(1).map(|p| comps[p]);
        if names.container.is_none() {
            names.container = container(c, parent);
        }
        if names.pod_uid.is_none() {
            names.pod_uid = pod_uid(c, parent);
        }
    }
    // Kubernetes with the cgroupfs driver: `/kubepods/<qos>/pod<uid>/<id>`, runtime unsaid.
    if names.container.is_none() && names.pod_uid.is_some() {
        if let Some(id) = comps.last().filter(|c| is_full_id(c)) {
            names.container = Some(by_id(Runtime::Cri, id));
        }
    }
    names
}

fn by_id(runtime: Runtime, id: &str) -> ContainerRef {
    ContainerRef {
        runtime,
        id: id.to_string(),
        named: false,
    }
}

fn by_name(runtime: Runtime, name: String) -> ContainerRef {
    ContainerRef {
        runtime,
        id: name,
        named: true,
    }
}

/// `<prefix><64 hex>[<suffix>]` → the id.
fn id_between<'a>(c: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    let id = c.strip_prefix(prefix)?.strip_suffix(suffix)?;
    is_full_id(id).then_some(id)
}

/// The container component `c` (under `parent`) stands for, if any.
fn container(c: &str, parent: Option<&str>) -> Option<ContainerRef> {
    let scoped = [
        ("docker-", Runtime::Docker),
        ("libpod-", Runtime::Podman),
        ("cri-containerd-", Runtime::Containerd),
        ("crio-", Runtime::CriO),
    ];
    for (prefix, runtime) in scoped {
        if let Some(id) = id_between(c, prefix, ".scope") {
            return Some(by_id(runtime, id));
        }
    }
    match parent {
        Some("docker") if is_full_id(c) => return Some(by_id(Runtime::Docker, c)),
        Some("libpod_parent") => {
            if let Some(id) = id_between(c, "libpod-", "") {
                return Some(by_id(Runtime::Podman, id));
            }
        }
        Some("lxc") => return Some(by_name(Runtime::Lxc, c.to_string())),
        Some("machine.slice") => {
            if let Some(name) = c
                .strip_prefix("machine-")
                .and_then(|r| r.strip_suffix(".scope"))
            {
                return Some(by_name(Runtime::Nspawn, unescape(name)));
            }
        }
        _ => {}
    }
    let lxc = c.strip_prefix("lxc.payload.").filter(|n| !n.is_empty())?;
    Some(by_name(Runtime::Lxc, lxc.to_string()))
}

/// `kubepods-burstable-pod<uid>.slice` (systemd driver, `_` for `-` in the uid) or `pod<uid>`
/// under a `kubepods` cgroup (cgroupfs driver).
fn pod_uid(c: &str, parent: Option<&str>) -> Option<String> {
    let uid = if c.starts_with("kubepods") {
        let slice = c.strip_suffix(".slice")?;
        slice[slice.rfind("-pod")? + 4..].replace('_', "-")
    } else if parent.is_some_and(|p| p.starts_with("kubepods")) || is_qos(parent) {
        c.strip_prefix("pod")?.to_string()
    } else {
        return None;
    };
    let ok = uid.len() == 36 && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    ok.then_some(uid)
}

fn is_qos(c: Option<&str>) -> bool {
    matches!(c, Some("burstable" | "besteffort"))
}

/// systemd's unit name escapes (`\x2d` for `-`) undone.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 2..i + 4)
            .filter(|_| b[i] == b'\\' && b.get(i + 1) == Some(&b'x'))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(v) => {
                out.push(v);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
