//! Listing and selecting by service on real cgroups (`sockdoc_lab::units`): `list -o unit`
//! names the server's unit for its listener and accepted sockets and not for the clients' ends;
//! `unit web` selects exactly web's sockets; `cgroup PATH` (pushed down to the kernel) selects
//! what `ss -tanHe cgroup PATH` selects on the same sockets; the cgroup tree gives all of it
//! without a /proc walk.

use sockdoc_lab::units::UnitLab;
use sockdoc_lab::{ss, Netns, SockState};

use crate::filters::assert_usage_error;
use crate::sockdoc::{self, SdSocket};

/// `service.unit` of a listed socket (`None`: null or absent).
fn unit(s: &SdSocket) -> Option<&str> {
    s.json["service"]["unit"].as_str()
}

fn ports_of(sockets: &[SdSocket]) -> Vec<(u16, u16)> {
    let mut v: Vec<_> = sockets
        .iter()
        .map(|s| (s.local.port(), s.remote.port()))
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn list_names_the_unit_of_each_socket() {
    let s = UnitLab::start(Netns::new().expect("create namespace"), 2, 1)
        .expect("two services in a lab slice (root?)");
    let all = sockdoc::list(&s.ns, &["-o", "local,peer,unit,cgroup"]);
    let mut seen = [0usize; 3];
    for x in &all {
        let json = &x.json["service"];
        assert!(json["cgroup_id"].is_u64(), "service.cgroup_id: {}", x.json);
        let (port, peer) = (x.local.port(), x.remote.port());
        if port == s.web.1 || port == s.api.1 {
            // Listener and accepted sockets: the server's cgroup, as the kernel sets it.
            let (sub, name, i) = if port == s.web.1 {
                (&s.web.0, "web.service", 0)
            } else {
                (&s.api.0, "api.service", 1)
            };
            assert_eq!(unit(x), Some(name), "{}", x.json);
            assert_eq!(json["cgroup"], sub.rel().as_str(), "{}", x.json);
            assert_eq!(json["cgroup_id"], sub.id(), "{}", x.json);
            assert_eq!(json["slice"], s.slice.name(), "{}", x.json);
            seen[i] += 1;
        } else if peer == s.web.1 || peer == s.api.1 {
            // The clients' ends are the test's: not in either service.
            assert!(
                !matches!(unit(x), Some("web.service" | "api.service")),
                "client end {}",
                x.json
            );
            seen[2] += 1;
        }
    }
    assert_eq!(
        seen,
        [3, 2, 3],
        "web: listener + 2, api: listener + 1, 3 clients"
    );
    // The text column says the same.
    let args = ["list", "--netns", s.ns.name(), "-H", "-o", "local,unit"];
    let out = sockdoc::run(&args).expect_ok().stdout;
    let web_lines = out
        .lines()
        .filter(|l| l.starts_with(&format!("127.0.0.1:{} ", s.web.1)))
        .collect::<Vec<_>>();
    assert_eq!(web_lines.len(), 3, "{out}");
    assert!(
        web_lines.iter().all(|l| l.ends_with("web.service")),
        "{out}"
    );
}

#[test]
fn unit_selects_the_units_sockets_and_only_those() {
    let s = UnitLab::start(Netns::new().expect("create namespace"), 2, 1)
        .expect("two services in a lab slice (root?)");
    let web = sockdoc::list(&s.ns, &["unit", "web"]);
    assert_eq!(web.len(), 3, "listener + 2 accepted: {web:?}");
    assert!(web.iter().all(|x| x.local.port() == s.web.1), "{web:?}");
    assert!(web.iter().all(|x| unit(x) == Some("web.service")));
    // The same by the full name, the slice, and a wildcard.
    let full = sockdoc::list(&s.ns, &["unit", "web.service"]);
    assert_eq!(ports_of(&full), ports_of(&web));
    let slice = sockdoc::list(&s.ns, &["unit", s.slice.name()]);
    assert_eq!(slice.len(), 5, "both services are in the slice: {slice:?}");
    let api = sockdoc::list(&s.ns, &["unit", "'a*'", "state", "established"]);
    assert_eq!(api.len(), 1, "{api:?}");
    assert_eq!(api[0].local.port(), s.api.1);
    // Negated: everything else, the clients' ends among it.
    let rest = sockdoc::list(
        &s.ns,
        &[
            "not",
            "unit",
            "web",
            "and",
            "dport",
            "=",
            &format!(":{}", s.web.1),
        ],
    );
    assert_eq!(rest.len(), 2, "the two clients of web: {rest:?}");
}

#[test]
fn cgroup_path_selects_what_ss_selects() {
    let s = UnitLab::start(Netns::new().expect("create namespace"), 3, 2)
        .expect("two services in a lab slice (root?)");
    for (path, want) in [
        (s.web.0.rel(), 4usize),
        (s.api.0.rel(), 3),
        // Exactly the cgroup: nothing is in the slice itself.
        (s.slice.rel(), 0),
    ] {
        let ours = sockdoc::list(&s.ns, &["cgroup", &path]);
        let theirs = ss::cgroups(&s.ns.path(), &["cgroup", &path]).expect("ss cgroup PATH");
        assert_eq!(
            ours.len(),
            theirs.len(),
            "{path}: {ours:?} vs ss {theirs:?}"
        );
        assert_eq!(ours.len(), want, "{path}: {ours:?}");
        assert!(theirs.iter().all(|(_, c)| *c == path), "{theirs:?}");
        let listeners = ours.iter().filter(|x| x.state == SockState::Listen).count();
        assert_eq!(listeners, usize::from(want > 0), "{path}: {ours:?}");
    }
    // Without its leading slash, as ss also takes it.
    let bare = s.web.0.rel().trim_start_matches('/').to_string();
    assert_eq!(sockdoc::list(&s.ns, &["cgroup", &bare]).len(), 4);
}

#[test]
fn a_cgroup_that_does_not_exist_is_one_clear_line() {
    let ns = Netns::new().expect("create namespace");
    let args = [
        "list",
        "--netns",
        ns.name(),
        "cgroup",
        "/sdtest-none.slice/x.service",
    ];
    let run = sockdoc::run(&args);
    assert_usage_error(&run, "no cgroup \"/sdtest-none.slice/x.service\" under");
}
