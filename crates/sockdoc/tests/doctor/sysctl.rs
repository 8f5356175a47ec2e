//! The doctor and `sysctl check` judge with one judge: values the old doctor let through (20000
//! TIME-WAIT buckets, tcp_retries2 5) are risky for both, to the same value, with the same reason.

use sockdoc_lab::Netns;

use crate::run::{doctor, run};

#[test]
fn doctor_and_check_judge_alike() {
    let ns = Netns::new().expect("namespace");
    for set in [
        "net.ipv4.tcp_max_tw_buckets=20000",
        "net.ipv4.tcp_retries2=5",
    ] {
        ns.exec(&["sysctl", "-q", "-w", set]).expect("set");
    }
    let out = run(&["--netns", ns.name(), "sysctl", "check", "--json"]);
    let check: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    let r = doctor(&ns, &[]);
    let risky = r.finding("sysctl-risky");
    let rows = check["settings"].as_array().expect("settings");
    for key in ["net.ipv4.tcp_max_tw_buckets", "net.ipv4.tcp_retries2"] {
        let row = rows.iter().find(|r| r["key"] == key).expect("audited");
        assert_eq!(row["verdict"], "change", "{row}");
        let recommended = row["recommended"].as_str().expect("recommended");
        let reason = row["reason"].as_str().expect("reason");
        let fix = format!("sysctl -w {key}={recommended}");
        let fixes = risky.json["fix"].as_array().expect("fix");
        assert!(
            fixes.iter().any(|f| f == &fix),
            "{fix} not in {:#}",
            risky.json
        );
        let detail = risky.json["detail"].as_str().expect("detail");
        assert!(
            detail.contains(&format!("{key} = ")) && detail.contains(reason),
            "{detail}"
        );
    }
}
