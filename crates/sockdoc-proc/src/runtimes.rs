//! Container and pod names from what the node already keeps: Docker's and Podman's state on disk,
//! `podman ps` (with a deadline) when that state is not readable, and the kubelet's log directory
//! names on Kubernetes nodes (`/var/log/pods/<ns>_<pod>_<uid>`,
//! `/var/log/containers/<pod>_<ns>_<container>-<id>.log`).
//!
//! Asked once per census for the ids it saw; an id nobody names stays unnamed (the caller shows its
//! short form). Ids are checked to be hex before they become part of a path. It never writes and
//! never talks to a daemon's socket.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

/// Who runs a container.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    Docker,
    Podman,
    Containerd,
    CriO,
    /// A Kubernetes container whose cgroup path does not say which CRI runtime runs it (the
    /// kubelet's cgroupfs driver).
    Cri,
    Lxc,
    Nspawn,
}

impl Runtime {
    /// The runtime's name as users write it.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Cri => "cri",
            Runtime::Lxc => "lxc",
            Runtime::Nspawn => "nspawn",
        }
    }
}

/// A pod's namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PodName {
    pub namespace: String,
    pub name: String,
}

/// What the node could tell.
#[derive(Debug, Default)]
pub struct Names {
    /// Full container id → name.
    pub containers: FxHashMap<String, String>,
    /// Pod uid (with dashes) → namespace and name.
    pub pods: FxHashMap<String, PodName>,
    /// Sources that were there and failed (one line each).
    pub notes: Vec<String>,
}

/// Where the node keeps what names containers and pods.
#[derive(Clone, Debug)]
pub struct Sources {
    pub docker: PathBuf,
    pub containers_storage: PathBuf,
    pub log_pods: PathBuf,
    pub log_containers: PathBuf,
    /// Run `podman ps` for Podman ids the storage did not name.
    pub podman_cli: bool,
    pub timeout: Duration,
}

impl Default for Sources {
    fn default() -> Sources {
        Sources {
            docker: "/var/lib/docker".into(),
            containers_storage: "/var/lib/containers/storage".into(),
            log_pods: "/var/log/pods".into(),
            log_containers: "/var/log/containers".into(),
            podman_cli: true,
            timeout: Duration::from_secs(3),
        }
    }
}

/// Whether `id` is a full container id (64 lowercase hex digits): the only ids made into paths.
pub fn is_full_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Sources {
    /// Names for `containers` (runtime, full id), and every pod the node has logs for when `pods`.
    pub fn lookup(&self, containers: &[(Runtime, String)], pods: bool) -> Names {
        let mut names = Names::default();
        let kube = pods || containers.iter().any(|(r, _)| kubelet_runtime(*r));
        if kube {
            self.kubelet_logs(&mut names);
        }
        for (runtime, id) in containers {
            if names.containers.contains_key(id) || !is_full_id(id) {
                continue;
            }
            if *runtime == Runtime::Docker {
                let file = self
                    .docker
                    .join("containers")
                    .join(id)
                    .join("config.v2.json");
                if let Some(n) = std::fs::read(&file).ok().and_then(|b| docker_name(&b)) {
                    names.containers.insert(id.clone(), n);
                }
            }
        }
        let podman: Vec<&String> = containers
            .iter()
            .filter(|(r, id)| *r == Runtime::Podman && !names.containers.contains_key(id))
            .map(|(_, id)| id)
            .collect();
        if !podman.is_empty() {
            self.podman_storage(&mut names);
            if self.podman_cli && podman.iter().any(|id| !names.containers.contains_key(*id)) {
                self.podman_ps(&mut names);
            }
        }
        names
    }

    fn kubelet_logs(&self, names: &mut Names) {
        for entry in dir_names(&self.log_pods) {
            if let Some((uid, pod)) = pod_dir(&entry) {
                names.pods.insert(uid, pod);
            }
        }
        for entry in dir_names(&self.log_containers) {
            if let Some((id, name)) = container_log(&entry) {
                names.containers.insert(id, name);
            }
        }
    }

    /// `<storage>/<driver>-containers/containers.json` (containers/storage's own list).
    fn podman_storage(&self, names: &mut Names) {
        for dir in dir_names(&self.containers_storage) {
            if !dir.ends_with("-containers") {
                continue;
            }
            let file = self.containers_storage.join(&dir).join("containers.json");
            if let Ok(bytes) = std::fs::read(&file) {
                names.containers.extend(storage_names(&bytes));
            }
        }
    }

    fn podman_ps(&self, names: &mut Names) {
        let format = "{{.ID}} {{.Names}}";
        let args = ["ps", "-a", "--no-trunc", "--format", format];
        match run_with_deadline("podman", &args, self.timeout) {
            Ok(out) => {
                for line in out.lines() {
                    let mut w = line.split_whitespace();
                    if let (Some(id), Some(name)) = (w.next(), w.next()) {
                        names.containers.insert(id.to_string(), name.to_string());
                    }
                }
            }
            Err(e) => names.notes.push(format!("podman ps: {e}")),
        }
    }
}

/// Runtimes whose containers the kubelet's logs name.
fn kubelet_runtime(r: Runtime) -> bool {
    matches!(
        r,
        Runtime::Containerd | Runtime::CriO | Runtime::Cri | Runtime::Docker
    )
}

fn dir_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `<namespace>_<pod>_<uid>` (neither namespace nor pod names may hold `_`).
pub fn pod_dir(name: &str) -> Option<(String, PodName)> {
    let mut parts = name.splitn(3, '_');
    let (ns, pod, uid) = (parts.next()?, parts.next()?, parts.next()?);
    if ns.is_empty() || pod.is_empty() || uid.len() != 36 {
        return None;
    }
    let pod = PodName {
        namespace: ns.to_string(),
        name: pod.to_string(),
    };
    Some((uid.to_string(), pod))
}

/// `<pod>_<namespace>_<container>-<64 hex id>.log` → (id, container name).
pub fn container_log(name: &str) -> Option<(String, String)> {
    let stem = name.strip_suffix(".log")?;
    let (front, id) = stem.rsplit_once('-')?;
    if !is_full_id(id) {
        return None;
    }
    let container = front.splitn(3, '_').nth(2)?;
    (!container.is_empty()).then(|| (id.to_string(), container.to_string()))
}

/// `"Name": "/web"` of Docker's `config.v2.json`.
pub fn docker_name(bytes: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let name = v.get("Name")?.as_str()?.trim_start_matches('/');
    (!name.is_empty()).then(|| name.to_string())
}

/// `[{"id": "...", "names": ["web"], ...}]` of containers/storage's `containers.json`.
pub fn storage_names(bytes: &[u8]) -> Vec<(String, String)> {
    let Ok(serde_json::Value::Array(list)) = serde_json::from_slice(bytes) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|c| {
            let id = c.get("id")?.as_str()?;
            let name = c.get("names")?.as_array()?.first()?.as_str()?;
            Some((id.to_string(), name.to_string()))
        })
        .collect()
}

/// Run `program args` and return its stdout, or an error once `timeout` has passed (the process
/// is killed then). Its stderr's first line is the error when it fails.
fn run_with_deadline(program: &str, args: &[&str], timeout: Duration) -> Result<String, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut pipes = (child.stdout.take(), child.stderr.take());
    let reader = std::thread::spawn(move || {
        let (mut out, mut err) = (String::new(), String::new());
        if let Some(p) = pipes.0.as_mut() {
            let _ = p.read_to_string(&mut out);
        }
        if let Some(p) = pipes.1.as_mut() {
            let _ = p.read_to_string(&mut err);
        }
        (out, err)
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {} s", timeout.as_secs()));
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    let (out, err) = reader.join().unwrap_or_default();
    if status.success() {
        Ok(out)
    } else {
        Err(err.lines().next().unwrap_or("failed").to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f0b2d3c5e6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e";

    #[test]
    fn kubelet_log_names() {
        let (uid, pod) = pod_dir("shop_cart-7d9f8b6c4-x2k9p_0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b")
            .expect("pod dir");
        assert_eq!(uid, "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b");
        assert_eq!(
            (pod.namespace.as_str(), pod.name.as_str()),
            ("shop", "cart-7d9f8b6c4-x2k9p")
        );
        assert_eq!(pod_dir("shop_cart"), None);
        assert_eq!(pod_dir("shop_cart_short"), None);
        let log = format!("cart-7d9f8b6c4-x2k9p_shop_redis-cache-{ID}.log");
        assert_eq!(
            container_log(&log),
            Some((ID.to_string(), "redis-cache".to_string()))
        );
        assert_eq!(container_log("cart_shop_redis-abc.log"), None);
        assert_eq!(container_log(&format!("nounderscores-{ID}.log")), None);
    }

    #[test]
    fn runtime_state_files() {
        let cfg = br#"{"ID":"x","Name":"/web","State":{"Running":true}}"#;
        assert_eq!(docker_name(cfg).as_deref(), Some("web"));
        assert_eq!(docker_name(b"{\"Name\":\"/\"}"), None);
        assert_eq!(docker_name(b"not json"), None);
        let storage = format!(
            r#"[{{"id":"{ID}","names":["api"],"image":"i","layer":"l","metadata":"{{}}"}},{{"id":"x"}}]"#
        );
        assert_eq!(
            storage_names(storage.as_bytes()),
            vec![(ID.to_string(), "api".to_string())]
        );
        assert!(storage_names(b"{}").is_empty());
    }

    #[test]
    fn ids_that_are_not_hex_never_become_paths() {
        assert!(is_full_id(ID));
        assert!(!is_full_id("../../../../etc/passwd"));
        assert!(!is_full_id(&ID.to_uppercase()));
        assert!(!is_full_id(&ID[..12]));
    }

    #[test]
    fn a_program_past_its_deadline_is_stopped() {
        let r = run_with_deadline("sleep", &["5"], Duration::from_millis(50));
        assert!(r.is_err_and(|e| e.contains("no answer")));
        let r = run_with_deadline("echo", &["a b"], Duration::from_secs(5));
        assert_eq!(r.as_deref(), Ok("a b\n"));
        assert!(
            run_with_deadline("/nonexistent-sockdoc-test", &[], Duration::from_secs(1)).is_err()
        );
    }
}
