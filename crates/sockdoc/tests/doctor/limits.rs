//! Processes near their RLIMIT_NOFILE soft limit. The scenario holds the lab lock exclusively
//! (fd pressure is judged host-wide), so these tests never run beside another lab namespace.

use sockdoc_lab::doctor::FdLimit;

use crate::run::{doctor, g_str, g_u64};

#[test]
fn fd_limit_warns_about_a_process_near_its_soft_limit() {
    let f = FdLimit::build(&[("fd-warn", 128, 120), ("fd-calm", 1024, 100)]).expect("build");
    let r = doctor(&f.ns, &[]);
    let x = r.finding("fd-limit");
    assert_eq!(x.severity, "warning", "120 of 128 = 93%: {:#}", x.json);
    assert_eq!(r.status, "warning", "{:#}", r.doc);
    let warn = f.hog("fd-warn");
    let g = x.group("pid", warn.pid);
    assert_eq!(g_str(g, "process"), "fd-warn", "{g}");
    assert_eq!(g_u64(g, "open"), 120, "{g}");
    assert_eq!(g_u64(g, "soft"), 128, "{g}");
    let calm = f.hog("fd-calm");
    assert!(
        x.groups_where("pid", calm.pid).is_empty(),
        "100 of 1024 is fine: {:#}",
        x.json
    );
}

#[test]
fn fd_limit_is_critical_at_95_percent() {
    let f = FdLimit::build(&[("fd-crit", 128, 124)]).expect("build");
    let r = doctor(&f.ns, &[]);
    let x = r.finding("fd-limit");
    assert_eq!(x.severity, "critical", "124 of 128 = 96%: {:#}", x.json);
    let g = x.group("pid", f.hog("fd-crit").pid);
    assert_eq!(g_str(g, "process"), "fd-crit", "{g}");
    assert_eq!(g_u64(g, "open"), 124, "{g}");
    assert_eq!(g_u64(g, "soft"), 128, "{g}");
}
