//! Names read from cgroup paths of the shapes real hosts have (systemd, Docker, Podman, containerd,
//! CRI-O, Kubernetes with either cgroup driver, LXC, systemd-nspawn), and the labels shown for them.

use sockdoc_proc::runtimes::{PodName, Runtime};

use super::path::{parse, unescape, ContainerRef};
use super::*;

const ID: &str = "4f0b2d3c5e6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e";
const UID: &str = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";

fn unit(path: &str) -> Option<String> {
    parse(path).unit.map(|(_, u)| u)
}

fn container(path: &str) -> Option<(Runtime, String)> {
    parse(path).container.map(|c| (c.runtime, c.id))
}

#[test]
fn systemd_units_and_slices() {
    let cases: [(&str, Option<&str>, Option<&str>); 10] = [
        (
            "/system.slice/nginx.service",
            Some("nginx.service"),
            Some("system.slice"),
        ),
        (
            "/system.slice/nginx.service/worker",
            Some("nginx.service"),
            Some("system.slice"),
        ),
        (
            "/user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox-12.scope",
            Some("user@1000.service"),
            Some("user-1000.slice"),
        ),
        (
            "/user.slice/user-1000.slice/session-3.scope",
            Some("session-3.scope"),
            Some("user-1000.slice"),
        ),
        ("/init.scope", Some("init.scope"), Some("-.slice")),
        (
            "/sdtest-42-0.slice/web.service",
            Some("web.service"),
            Some("sdtest-42-0.slice"),
        ),
        (
            "/system.slice/var-lib-x.mount",
            Some("var-lib-x.mount"),
            Some("system.slice"),
        ),
        ("/app.slice", None, Some("app.slice")),
        ("/", None, None),
        ("/sdtest/free-form", None, None),
    ];
    for (path, u, slice) in cases {
        let n = parse(path);
        assert_eq!(n.unit.map(|(_, u)| u).as_deref(), u, "{path}");
        assert_eq!(n.slice.as_deref(), slice, "{path}");
    }
    assert_eq!(
        parse("/system.slice/nginx.service").unit.map(|(at, _)| at),
        Some(1)
    );
    assert_eq!(unit("/system.slice/.service"), None, "not a unit name");
}

#[test]
fn docker_podman_containerd_crio() {
    let cases = [
        (format!("/system.slice/docker-{ID}.scope"), Runtime::Docker),
        (format!("/docker/{ID}"), Runtime::Docker),
        (format!("/machine.slice/libpod-{ID}.scope"), Runtime::Podman),
        (
            format!("/machine.slice/libpod-{ID}.scope/container"),
            Runtime::Podman,
        ),
        (format!("/libpod_parent/libpod-{ID}"), Runtime::Podman),
        (
            format!("/system.slice/cri-containerd-{ID}.scope"),
            Runtime::Containerd,
        ),
        (format!("/system.slice/crio-{ID}.scope"), Runtime::CriO),
    ];
    for (path, runtime) in cases {
        assert_eq!(container(&path), Some((runtime, ID.to_string())), "{path}");
    }
    // The runtimes' monitors are not the containers; a short or foreign id is no container.
    assert_eq!(
        container(&format!("/machine.slice/libpod-conmon-{ID}.scope")),
        None
    );
    assert_eq!(
        container(&format!("/system.slice/crio-conmon-{ID}.scope")),
        None
    );
    assert_eq!(container("/system.slice/docker-abc.scope"), None);
    assert_eq!(container("/system.slice/docker.service"), None);
    assert_eq!(container(&format!("/elsewhere/{ID}")), None);
    // The scope is the container's unit.
    assert_eq!(
        unit(&format!("/system.slice/docker-{ID}.scope")),
        Some(format!("docker-{ID}.scope"))
    );
}

#[test]
fn kubernetes_pods_with_either_driver() {
    let under = UID.replace('-', "_");
    let systemd = format!(
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{under}.slice/cri-containerd-{ID}.scope"
    );
    let n = parse(&systemd);
    assert_eq!(n.pod_uid.as_deref(), Some(UID));
    assert_eq!(n.container.map(|c| c.runtime), Some(Runtime::Containerd));
    assert_eq!(
        n.slice.as_deref(),
        Some(&*format!("kubepods-burstable-pod{under}.slice"))
    );
    let guaranteed = format!("/kubepods.slice/kubepods-pod{under}.slice/crio-{ID}.scope");
    assert_eq!(parse(&guaranteed).pod_uid.as_deref(), Some(UID));
    for path in [
        format!("/kubepods/burstable/pod{UID}/{ID}"),
        format!("/kubepods/besteffort/pod{UID}/{ID}"),
        format!("/kubepods/pod{UID}/{ID}"),
    ] {
        let n = parse(&path);
        assert_eq!(n.pod_uid.as_deref(), Some(UID), "{path}");
        assert_eq!(
            n.container,
            Some(ContainerRef {
                runtime: Runtime::Cri,
                id: ID.into(),
                named: false
            }),
            "{path}"
        );
    }
    // The pod's own cgroup (its pause process) has a pod and no container.
    let pod_only = parse(&format!("/kubepods/burstable/pod{UID}"));
    assert_eq!(
        (pod_only.pod_uid.as_deref(), pod_only.container),
        (Some(UID), None)
    );
    assert_eq!(
        parse("/kubepods.slice/kubepods-burstable.slice").pod_uid,
        None
    );
    assert_eq!(parse("/kubepods/burstable/podnotauid").pod_uid, None);
}

#[test]
fn lxc_and_nspawn_carry_names() {
    let named = |path: &str| parse(path).container.map(|c| (c.runtime, c.id, c.named));
    assert_eq!(
        named("/lxc/web01"),
        Some((Runtime::Lxc, "web01".into(), true))
    );
    assert_eq!(
        named("/lxc.payload.web01/system.slice/nginx.service"),
        Some((Runtime::Lxc, "web01".into(), true))
    );
    assert_eq!(named("/lxc.monitor.web01"), None);
    assert_eq!(
        named("/machine.slice/machine-my\\x2dbox.scope/payload/system.slice/sshd.service"),
        Some((Runtime::Nspawn, "my-box".into(), true))
    );
    assert_eq!(unescape("a\\x2db\\x5c\\xzz"), "a-b\\\\xzz");
}

struct Book;

impl NameBook for Book {
    fn container(&self, runtime: Runtime, id: &str) -> Option<String> {
        (runtime == Runtime::Docker && id == ID).then(|| "web".to_string())
    }
    fn pod(&self, uid: &str) -> Option<PodName> {
        (uid == UID).then(|| PodName {
            namespace: "shop".into(),
            name: "cart-0".into(),
        })
    }
}

#[test]
fn labels_fall_back_to_short_ids() {
    let c = |runtime, name: Option<&str>| Container {
        runtime,
        id: ID.into(),
        name: name.map(String::from),
    };
    assert_eq!(c(Runtime::Docker, Some("web")).label(), "web");
    assert_eq!(c(Runtime::Podman, None).label(), &ID[..12]);
    let pod = Pod {
        uid: UID.into(),
        name: Book.pod(UID),
    };
    assert_eq!(pod.label(), "shop/cart-0");
    assert_eq!(
        Pod {
            uid: UID.into(),
            name: None
        }
        .label(),
        UID
    );
    assert_eq!(Services::default().get(0), Lookup::NoCgroup);
    assert_eq!(Services::default().get(7), Lookup::Unknown(7));
    assert_eq!(Services::default().unit_id(7), 7);
}
