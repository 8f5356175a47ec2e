//! Per systemd unit and per container: sockets by protocol and state, from the cgroup id the kernel
//! sends with every socket and one walk of the cgroup2 tree (no /proc walk). TCP ESTABLISHED comes
//! from the last full census (the cheap scrapes leave those sockets in the kernel), every other
//! count from this scrape. Only the top K units and containers are shown (by sockets, and by
//! CLOSE-WAIT, as the per-process series choose theirs), plus the sockets the kernel keeps no cgroup
//! for (TIME-WAIT, SYN-RECV), under an explicit label value of their own: never dropped.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family as MetricFamily;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sockdoc_core::service::{Lookup, Services};
use sockdoc_diag::State;

use super::{num, state_label, top, Shown};
use crate::counts::CgroupCounts;

/// The label value of sockets without a cgroup (TIME-WAIT, request sockets).
pub(crate) const NO_CGROUP: &str = "no_cgroup";
/// The label value of sockets whose cgroup is not in the tree (removed since, or outside the
/// reader's cgroup namespace).
pub(crate) const UNKNOWN_CGROUP: &str = "unknown_cgroup";
/// The container label of sockets in a cgroup outside any container.
pub(crate) const NO_CONTAINER: &str = "no_container";

const PROTOS: [&str; 2] = ["tcp", "udp"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct UnitLabels {
    unit: String,
    proto: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct ContainerLabels {
    container: String,
    pod: String,
    proto: String,
    state: String,
}

/// Counts summed per label (a unit's name, a container's `(name, pod)`).
type ByLabel<K> = HashMap<K, CgroupCounts>;

pub(super) fn register(reg: &mut Registry, s: &Shown) {
    let merged = merged(s);
    let units = by_label(&merged, |id| unit_label(s.services, id));
    let containers = by_label(&merged, |id| container_label(s.services, id));
    let unit_family = MetricFamily::<UnitLabels, Gauge>::default();
    for (unit, counts) in chosen(&units, s.top_k, |u| special(u)) {
        each_state(counts, |proto, state, n| {
            unit_family
                .get_or_create(&UnitLabels {
                    unit: unit.clone(),
                    proto: proto.into(),
                    state: state.into(),
                })
                .set(num(n));
        });
    }
    let container_family = MetricFamily::<ContainerLabels, Gauge>::default();
    for ((container, pod), counts) in chosen(&containers, s.top_k, |(c, _)| special(c)) {
        each_state(counts, |proto, state, n| {
            container_family
                .get_or_create(&ContainerLabels {
                    container: container.clone(),
                    pod: pod.clone(),
                    proto: proto.into(),
                    state: state.into(),
                })
                .set(num(n));
        });
    }
    reg.register(
        "unit_sockets",
        "Sockets per systemd unit (a cgroup without one: its path), protocol and state, from the \
         sockets' cgroup ids (top K by sockets and by CLOSE-WAIT; ESTABLISHED TCP from the last full \
         census). unit=\"no_cgroup\": sockets the kernel keeps no cgroup for (TIME-WAIT, SYN-RECV); \
         \"unknown_cgroup\": a cgroup no longer in the tree",
        unit_family,
    );
    reg.register(
        "container_sockets",
        "Sockets per container (name, else short id; pod as namespace/name), protocol and state \
         (top K as unit_sockets). container=\"no_container\": sockets of cgroups outside containers; \
         \"no_cgroup\" and \"unknown_cgroup\" as in unit_sockets",
        container_family,
    );
}

/// A label value that stands for no unit or container: always shown, whatever the top K, so that
/// each family adds up to every socket of the census.
fn special(label: &str) -> bool {
    [NO_CGROUP, UNKNOWN_CGROUP, NO_CONTAINER].contains(&label)
}

/// Per cgroup id: ESTABLISHED TCP from the last full census, everything else from this scrape.
fn merged(s: &Shown) -> HashMap<u64, CgroupCounts> {
    let est = State::Established as usize;
    let mut out: HashMap<u64, CgroupCounts> = HashMap::new();
    for (&id, c) in &s.now.cgroups {
        let mut c = *c;
        c[0][est] = 0;
        out.insert(id, c);
    }
    for (&id, c) in &s.full.cgroups {
        if c[0][est] > 0 {
            out.entry(id).or_default()[0][est] = c[0][est];
        }
    }
    out
}

fn by_label<K: Hash + Eq>(
    cgroups: &HashMap<u64, CgroupCounts>,
    label: impl Fn(u64) -> K,
) -> ByLabel<K> {
    let mut m: ByLabel<K> = HashMap::new();
    for (&id, c) in cgroups {
        let e = m.entry(label(id)).or_default();
        for (a, b) in e.iter_mut().flatten().zip(c.iter().flatten()) {
            *a += b;
        }
    }
    m
}

/// The labels shown: the top K by sockets, the top K by CLOSE-WAIT (those with any), and the
/// `special` ones; in label order.
fn chosen<K: Ord + Hash + Clone>(
    m: &ByLabel<K>,
    k: usize,
    special: impl Fn(&K) -> bool,
) -> Vec<(K, &CgroupCounts)> {
    let cw = State::CloseWait as usize;
    let keys: Vec<&K> = m.keys().collect();
    let totals: HashMap<&K, u64> = keys
        .iter()
        .map(|&key| (key, m[key].iter().flatten().sum()))
        .collect();
    let waits: HashMap<&K, u64> = keys.iter().map(|&key| (key, m[key][0][cw])).collect();
    let mut picked: BTreeSet<&K> = top(&totals, k).into_iter().map(|(key, _)| key).collect();
    picked.extend(
        top(&waits, k)
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(key, _)| key),
    );
    picked.extend(keys.iter().copied().filter(|key| special(key)));
    picked
        .into_iter()
        .map(|key| (key.clone(), &m[key]))
        .collect()
}

/// Calls `f(proto, state, count)` for each nonzero count.
fn each_state(c: &CgroupCounts, mut f: impl FnMut(&'static str, &'static str, u64)) {
    for (p, states) in c.iter().enumerate() {
        for st in State::ALL {
            let n = states[st as usize];
            if n > 0 {
                f(PROTOS[p], state_label(p == 1, st), n);
            }
        }
    }
}

fn unit_label(services: &Services, id: u64) -> String {
    match services.get(id) {
        Lookup::NoCgroup => NO_CGROUP.into(),
        Lookup::Unknown(_) => UNKNOWN_CGROUP.into(),
        Lookup::Found(svc) => svc.unit_or_path().into(),
    }
}

/// `(container, pod)`; the pod is empty outside Kubernetes.
fn container_label(services: &Services, id: u64) -> (String, String) {
    match services.get(id) {
        Lookup::NoCgroup => (NO_CGROUP.into(), String::new()),
        Lookup::Unknown(_) => (UNKNOWN_CGROUP.into(), String::new()),
        Lookup::Found(svc) => (
            svc.container
                .as_ref()
                .map_or_else(|| NO_CONTAINER.into(), |c| c.label()),
            svc.pod.as_ref().map(|p| p.label()).unwrap_or_default(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;
    use std::path::PathBuf;

    use sockdoc_core::service::NameBook;
    use sockdoc_proc::runtimes::{PodName, Runtime};
    use sockdoc_proc::CgroupFs;

    use super::*;
    use crate::counts::tests::sockets;
    use crate::counts::ScrapeCounts;
    use crate::metrics::tests::render;

    const ID: &str = "4f0b2d3c5e6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e";

    /// A directory tree shaped like a cgroup2 hierarchy, removed on drop.
    struct Tree(PathBuf);

    impl Tree {
        fn new(paths: &[&str]) -> Tree {
            let root = std::env::temp_dir().join(format!("sdtest-serve-{}", std::process::id()));
            for p in paths {
                std::fs::create_dir_all(root.join(p)).expect("make the tree");
            }
            Tree(root)
        }

        fn id(&self, p: &str) -> u64 {
            std::fs::metadata(self.0.join(p)).expect("cgroup dir").ino()
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The node knows the Podman container as `shop`.
    struct Book;

    impl NameBook for Book {
        fn container(&self, _: Runtime, id: &str) -> Option<String> {
            (id == ID).then(|| "shop".to_string())
        }
        fn pod(&self, _: &str) -> Option<PodName> {
            None
        }
    }

    /// The test sockets spread over web.service (the listener and the ESTABLISHED ones), a Podman
    /// container (the CLOSE-WAIT one) and no cgroup (the rest); a cheap scrape beside the full one:
    /// ESTABLISHED per unit from the full census, the rest from this scrape; top K = 1 keeps the
    /// busiest unit, the one with CLOSE-WAIT, and the sockets without a cgroup.
    #[test]
    fn units_and_containers_are_named_and_sockets_without_a_cgroup_kept() {
        let scope = format!("machine.slice/libpod-{ID}.scope");
        let tree = Tree::new(&["sdtest.slice/web.service", &scope]);
        let (web, shop) = (tree.id("sdtest.slice/web.service"), tree.id(&scope));
        let mut all = sockets();
        for s in &mut all {
            s.cgroup_id = match s.state {
                State::Listen | State::Established => web,
                State::CloseWait => shop,
                _ => 0,
            };
        }
        let (mut full, mut now) = (
            ScrapeCounts::new(true, None),
            ScrapeCounts::new(false, None),
        );
        all.iter().for_each(|s| full.add(s, None));
        all.iter()
            .filter(|s| s.state != State::Established)
            .for_each(|s| now.add(s, None));
        let fs = CgroupFs::at(&tree.0).expect("open the tree");
        let services = Services::build(&fs.walk().expect("walk"), [web, shop], &Book);
        let text = render(&now, &full, &services, 1);
        for line in [
            r#"sockdoc_unit_sockets{unit="web.service",proto="tcp",state="established"} 4"#,
            r#"sockdoc_unit_sockets{unit="web.service",proto="tcp",state="listen"} 1"#,
            &format!(
                r#"sockdoc_unit_sockets{{unit="libpod-{ID}.scope",proto="tcp",state="close_wait"}} 1"#
            ),
            r#"sockdoc_unit_sockets{unit="no_cgroup",proto="tcp",state="syn_recv"} 1"#,
            r#"sockdoc_unit_sockets{unit="no_cgroup",proto="tcp",state="time_wait"} 1"#,
            r#"sockdoc_container_sockets{container="shop",pod="",proto="tcp",state="close_wait"} 1"#,
            r#"sockdoc_container_sockets{container="no_container",pod="",proto="tcp",state="established"} 4"#,
            "# TYPE sockdoc_unit_sockets gauge",
            "# TYPE sockdoc_container_sockets gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
