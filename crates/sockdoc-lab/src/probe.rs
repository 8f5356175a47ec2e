//! `sockdoc ghosts --probe` from tests: the argument list the probe tests share and the lookup of
//! one connection's result in the `ghosts-probe` JSON document.

use serde_json::Value;

/// `--json ghosts --idle 1s --probe --probe-time 4s --audit-log AUDIT EXTRA... sport = SPORT`
/// (`sport` as ss writes it, e.g. `:8080`).
pub fn ghosts_probe_args<'a>(audit: &'a str, extra: &[&'a str], sport: &'a str) -> Vec<&'a str> {
    let mut args = vec![
        "--json",
        "ghosts",
        "--idle",
        "1s",
        "--probe",
        "--probe-time",
        "4s",
        "--audit-log",
        audit,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["sport", "=", sport]);
    args
}

/// The result for the connection whose remote port is `peer`; panics (failing the test) if none.
pub fn result_for(doc: &Value, peer: u16) -> Value {
    doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["socket"]["remote"]["port"] == peer)
        .cloned()
        .unwrap_or_else(|| panic!("no result for :{peer}: {doc:#}"))
}
