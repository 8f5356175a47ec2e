//! Treatments selected by service: `kill unit api` on real cgroups (`sockdoc_lab::units`) takes
//! exactly the connections api.service accepted (its listener only with --listen), a dry run
//! changes nothing, and the real run closes them and only them: web.service and the clients of
//! web keep theirs.

use sockdoc_lab::units::UnitLab;
use sockdoc_lab::{ss, Netns, SockState};

use crate::run::{treat, Audit, KillDoc};

/// Cookies of the ESTABLISHED server ends on `port`, as `ss` sees them.
fn accepted_cookies(s: &UnitLab, port: u16) -> Vec<u64> {
    let mut v: Vec<u64> = ss::snapshot(&s.ns)
        .expect("ss")
        .iter()
        .filter(|x| x.state == SockState::Established && x.local.port == port)
        .filter_map(|x| x.cookie)
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn kill_by_unit_closes_the_units_connections_and_only_those() {
    let s = UnitLab::start(Netns::new().expect("create namespace"), 2, 3)
        .expect("two services in a lab slice (root?)");
    let audit = Audit::new();
    let api = accepted_cookies(&s, s.api.1);
    let web = accepted_cookies(&s, s.web.1);
    assert_eq!((api.len(), web.len()), (3, 2), "the lab's connections");

    let run = treat(&s.ns, "kill", &audit, &["--dry-run"], &["unit", "api"], &[]);
    let doc = KillDoc::parse(&run);
    assert!(doc.dry_run, "{:#}", doc.doc);
    assert_eq!(
        (doc.selected, doc.acted, doc.killed),
        (3, 0, 0),
        "{:#}",
        doc.doc
    );
    assert_eq!(
        doc.cookies("planned"),
        api,
        "exactly api's connections: {:#}",
        doc.doc
    );
    let skipped = doc.cookies("skipped");
    assert_eq!(
        skipped.len(),
        1,
        "api's listener, left without --listen: {:#}",
        doc.doc
    );
    assert_eq!(
        accepted_cookies(&s, s.api.1),
        api,
        "a dry run changes nothing"
    );

    let run = treat(&s.ns, "kill", &audit, &["--yes"], &["unit", "api"], &[]);
    let doc = KillDoc::parse(&run);
    assert_eq!((doc.selected, doc.killed), (3, 3), "{:#}", doc.doc);
    assert_eq!(doc.cookies("killed"), api, "{:#}", doc.doc);
    assert!(
        accepted_cookies(&s, s.api.1).is_empty(),
        "api's connections are gone"
    );
    assert_eq!(accepted_cookies(&s, s.web.1), web, "web's are untouched");
    let listeners = ss::snapshot(&s.ns)
        .expect("ss")
        .iter()
        .filter(|x| x.state == SockState::Listen)
        .count();
    assert_eq!(listeners, 2, "both listeners stay");
}
