//! The Service table of `sockdoc top` on real cgroups: `web.service` and `api.service` (socat
//! servers in a lab slice) and their clients; the table names both units with the counts `ss`
//! gives on their ports, says what the `-` row (TIME-WAIT, no cgroup) is, opens a unit's
//! sockets, and takes the filter word `unit`.

use sockdoc_lab::units::UnitLab;
use sockdoc_lab::{ss, SockState};

use crate::{table_rows, top_cmd, wait_census, wait_exit_ok, Tmux};

/// The row of the table whose first column is `key`.
fn row<'a>(rows: &'a [Vec<String>], key: &str, screen: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r.first().is_some_and(|k| k == key))
        .unwrap_or_else(|| panic!("no {key} row:\n{screen}"))
}

/// A count as the table prints it (`·` for none).
fn cell(n: usize) -> String {
    if n == 0 {
        "·".into()
    } else {
        n.to_string()
    }
}

#[test]
fn the_service_table_names_both_units_with_what_ss_counts_and_opens_their_sockets() {
    let lab = UnitLab::beside_time_wait(3, 2).expect("two services in a lab slice (root?)");
    let t = Tmux::new(160, 40);
    t.line(&top_cmd(&lab.ns, ""));
    wait_census(&t);
    t.keys(&["7"]);
    let s = t.wait_for("the service table", |s| {
        s.contains("UNIT/CONTAINER") && s.contains("web.service") && s.contains("api.service")
    });
    let rows = table_rows(&s);
    let snap = ss::snapshot(&lab.ns).expect("ss");
    let on = |port: u16, state: SockState| {
        snap.iter()
            .filter(|x| x.local.port == port && x.state == state)
            .count()
    };
    // UNIT/CONTAINER TOTAL ESTAB TIME-WAIT CLOSE-WAIT SYN-RECV LISTEN OTHER CGROUP
    for ((sub, port), accepted) in [(&lab.web, 3), (&lab.api, 2)] {
        let name = sub.rel().rsplit('/').next().unwrap_or_default().to_string();
        let r = row(&rows, &name, &s);
        let server_side = lab.ss_server_side(*port).expect("ss") as usize;
        assert_eq!(
            server_side,
            accepted + 1,
            "ss: listener and {accepted} accepted"
        );
        assert_eq!(r[1], server_side.to_string(), "total of {name}:\n{s}");
        assert_eq!(
            r[2],
            cell(on(*port, SockState::Established)),
            "{name}:\n{s}"
        );
        assert_eq!(r[6], cell(on(*port, SockState::Listen)), "{name}:\n{s}");
        assert_eq!(
            r.last(),
            Some(&sub.rel()),
            "the cgroup path of {name}:\n{s}"
        );
    }
    // TIME-WAIT has no cgroup: its own row, which says so.
    let tw = snap
        .iter()
        .filter(|x| x.state == SockState::TimeWait)
        .count();
    assert!(tw >= 1, "the scenario left a TIME-WAIT socket");
    let r = row(&rows, "-", &s);
    assert_eq!(
        (r[1].clone(), r[3].clone()),
        (tw.to_string(), tw.to_string()),
        "{s}"
    );
    assert!(s.contains("sockets without a cgroup"), "{s}");
    // Sorted like the Process table: largest first.
    let totals: Vec<u64> = rows.iter().filter_map(|r| r[1].parse().ok()).collect();
    assert!(totals.windows(2).all(|w| w[0] >= w[1]), "{totals:?}:\n{s}");

    // Narrowed to web's port, the one row left opens its listener and accepted connections.
    t.keys(&["/"]);
    t.line(&format!("sport = :{}", lab.web.1));
    let s = t.wait_for("the filtered table", |s| {
        s.contains("web.service") && !s.contains("api.service")
    });
    assert_eq!(table_rows(&s).len(), 1, "{s}");
    t.keys(&["Enter"]);
    let s = t.wait_for("web's sockets", |s| s.contains("4 socket(s)"));
    assert!(s.contains("web.service"), "{s}");

    // The filter word `unit` selects by service: api's listener and its 2 accepted connections.
    t.keys(&["Escape", "/", "C-u"]);
    t.line("unit api");
    let s = t.wait_for("the table of unit api", |s| {
        s.contains("api.service") && !s.contains("web.service")
    });
    let rows = table_rows(&s);
    assert_eq!(rows.len(), 1, "{s}");
    assert_eq!(row(&rows, "api.service", &s)[1], "3", "{s}");
    t.keys(&["q"]);
    wait_exit_ok(&t);
}
