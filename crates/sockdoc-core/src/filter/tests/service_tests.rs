//! The service words: `cgroup PATH` (an id read from the tree when parsed, pushed down to the
//! kernel), `unit`, `container`, `pod` (judged with the census's services), their text form and
//! their errors.

use rustc_hash::FxHashMap;
use sockdoc_diag::{BcExpr, Socket};
use sockdoc_proc::runtimes::{PodName, Runtime};

use super::{canon, parse, parse_err, sock};
use crate::service::{NameBook, Service};
use crate::{NoOwners, Owners};

const ID: &str = "4f0b2d3c5e6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e";
const UID: &str = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";

/// Services by cgroup id, named from their paths as the census names them.
struct Named(FxHashMap<u64, Service>);

/// The node's names: the Podman container is `web-1`, every pod `shop/cart-7`.
struct Book;

impl NameBook for Book {
    fn container(&self, runtime: Runtime, _: &str) -> Option<String> {
        (runtime == Runtime::Podman).then(|| "web-1".to_string())
    }
    fn pod(&self, _: &str) -> Option<PodName> {
        Some(PodName {
            namespace: "shop".into(),
            name: "cart-7".into(),
        })
    }
}

impl Named {
    fn new(paths: &[(u64, &str)]) -> Named {
        let m = paths
            .iter()
            .map(|&(id, p)| (id, Service::at_path(id, p, &Book)))
            .collect();
        Named(m)
    }
}

impl Owners for Named {
    fn any(&self, _: u32, _: &mut dyn FnMut(u32, &str) -> bool) -> bool {
        false
    }
    fn service(&self, id: u64) -> Option<&Service> {
        self.0.get(&id)
    }
}

fn named() -> Named {
    let kube = format!(
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{ID}.scope",
        UID.replace('-', "_")
    );
    Named::new(&[
        (10, "/system.slice/nginx.service"),
        (11, "/system.slice/nginx.service/worker"),
        (
            12,
            "/user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope",
        ),
        (13, &format!("/machine.slice/libpod-{ID}.scope")),
        (14, &kube),
        (15, "/"),
    ])
}

fn on(id: u64) -> Socket {
    sock("10.0.0.1:80", "10.0.0.2:40000").cgroup(id).build()
}

fn matching(filter: &str) -> Vec<u64> {
    let (f, n) = (parse(filter), named());
    [0, 10, 11, 12, 13, 14, 15, 99]
        .into_iter()
        .filter(|&id| f.matches(&on(id), &n))
        .collect()
}

#[test]
fn unit_names_the_unit_its_cgroups_and_its_slices() {
    assert_eq!(matching("unit nginx.service"), [10, 11]);
    assert_eq!(matching("unit nginx"), [10, 11], "nginx is nginx.service");
    assert_eq!(matching("unit 'ngi*'"), [10, 11]);
    assert_eq!(matching("unit system.slice"), [10, 11]);
    assert_eq!(matching("unit machine.slice"), [13]);
    assert_eq!(matching("unit user.slice"), [12]);
    assert_eq!(matching("unit user@1000.service"), [12]);
    assert_eq!(matching("unit nginx.socket"), Vec::<u64>::new());
    // No cgroup (0) and an id the tree does not hold (99) never match; their negation does.
    assert_eq!(matching("unit != nginx"), [0, 12, 13, 14, 15, 99]);
    assert_eq!(matching("not unit nginx"), [0, 12, 13, 14, 15, 99]);
}

#[test]
fn container_by_name_id_or_a_long_enough_prefix() {
    assert_eq!(matching("container web-1"), [13]);
    assert_eq!(matching(&format!("container {ID}")), [13, 14]);
    assert_eq!(matching(&format!("container {}", &ID[..12])), [13, 14]);
    assert_eq!(
        matching(&format!("container {}", ID[..12].to_uppercase())),
        [13, 14]
    );
    assert!(matching(&format!("container {}", &ID[..11])).is_empty());
    assert!(matching("container nginx").is_empty());
}

#[test]
fn pod_by_namespace_and_name_or_uid() {
    assert_eq!(matching("pod shop/cart-7"), [14]);
    assert_eq!(matching(&format!("pod {UID}")), [14]);
    assert!(matching("pod shop/cart-8").is_empty());
    assert!(matching("pod cart-7").is_empty());
}

#[test]
fn without_services_nothing_is_in_a_unit() {
    let f = parse("unit nginx or container web-1 or pod shop/cart-7");
    assert!(f.needs_services() && f.decided_late() && !f.needs_processes());
    assert!(!f.matches(&on(10), &NoOwners));
}

#[test]
fn service_words_print_back() {
    for text in [
        "unit nginx.service",
        "unit web*",
        "not unit user@1000.service",
        "container web-1",
        "pod shop/cart-7",
        "unit a and ( container b or pod c/d )",
    ] {
        assert_eq!(canon(text), text);
    }
    assert_eq!(canon("unit = x"), "unit x");
    assert_eq!(canon("unit != x"), "not unit x");
}

#[test]
fn service_word_errors_say_what_to_write() {
    for (text, says) in [
        ("unit", "missing a unit name"),
        ("unit system.slice/nginx.service", "cgroup PATH"),
        ("pod a/b/c", "NAMESPACE/NAME"),
        ("container < 3", "only = or !="),
        ("cgroup /a/../b", "cgroup path"),
        (
            "cgroup /sdtest-no-such.slice",
            "no cgroup \"/sdtest-no-such.slice\"",
        ),
    ] {
        let e = parse_err(text);
        assert!(e.message.contains(says), "{text}: {e}");
    }
    // A path with a line break in it (a word from a script): still one line.
    let e = crate::filter::Filter::parse(&["cgroup".to_string(), "'/x\ny'".to_string()])
        .expect_err("no such cgroup");
    assert!(
        !e.to_string().contains('\n') && e.message.contains("\\n"),
        "{e}"
    );
}

/// The root cgroup always exists: `cgroup /` reads its id, matches by id alone, and goes to the
/// kernel as a cgroup condition.
#[test]
fn cgroup_path_is_an_id_pushed_down() {
    let f = parse("cgroup /");
    let fs = sockdoc_proc::CgroupFs::find().expect("a cgroup2 tree");
    let id = fs.id_of("/").expect("the root's id");
    assert_eq!(parse("cgroup ''").to_string(), "cgroup /");
    assert!(!f.needs_services() && !f.decided_late());
    assert_eq!(f.kernel_filter(), Some(BcExpr::Cgroup(id)));
    assert!(f.matches(&on(id), &NoOwners));
    assert!(!f.matches(&on(0), &NoOwners), "no cgroup is not the root");
    assert!(!f.matches(&on(id + 1), &NoOwners));
    assert_eq!(
        canon("cgroup / and sport = :80"),
        "cgroup / and sport = :80"
    );
}
