//! `sockdoc reap` with a rule by unit, on real cgroups (`sockdoc_lab::units`): an idle-timeout
//! rule for `unit = "api"` closes the connections api.service accepted and leaves web.service's
//! alone, though both are equally idle; the daemon names services from the cgroup tree.
//!
//! Needs root, CONFIG_INET_DIAG_DESTROY, `ip`, `ss` and socat.

use std::time::Duration;

use serde_json::Value;
use sockdoc_lab::reap::Reaper;
use sockdoc_lab::units::UnitLab;
use sockdoc_lab::{wait, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_sockdoc");
const WAIT: Duration = Duration::from_secs(20);

#[test]
fn a_rule_by_unit_closes_that_units_idle_connections_only() {
    let s = UnitLab::start(Netns::new().expect("create namespace"), 2, 3)
        .expect("two services in a lab slice (root?)");
    let config =
        "interval = \"1s\"\n[[rule]]\nname = \"api\"\nunit = \"api\"\nidle_timeout = \"1s\"\n";
    let mut r = Reaper::start(BIN, &s.ns, config, &["--metrics", "127.0.0.1:0"], &[])
        .unwrap_or_else(|e| panic!("start sockdoc reap: {e}"));
    wait::poll(WAIT, "api's connections to be closed", || {
        let n = s.accepted(&[s.api.1])?;
        Ok(if n == 0 {
            Ok(())
        } else {
            Err(format!("{n} left"))
        })
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", r.stderr()));
    // A few more scans: web's connections, as idle, are outside the rule.
    r.wait_scans(3, WAIT).expect("scans");
    assert_eq!(s.accepted(&[s.web.1]).expect("ss"), 2, "web's stay");
    let kills: Vec<Value> = r
        .lines()
        .into_iter()
        .filter(|v| v["action"] == "kill" && v["phase"] != "intent")
        .collect();
    assert_eq!(kills.len(), 3, "{kills:?}");
    for k in &kills {
        assert_eq!(k["rule"], "api", "{k}");
        assert_eq!(k["socket"]["local"]["port"], s.api.1, "{k}");
    }
}
