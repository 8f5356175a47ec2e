//! `sockdoc conntrack` on a namespace where an nftables `ct state` rule turns tracking on and a real
//! client keeps connections to a real listener: counts, protocol, TCP state and top destination must
//! match the kernel's own table (`conntrack -L` reads the same entries).

use std::process::Command;
use std::time::Duration;

use sockdoc_lab::wait::poll;
use sockdoc_lab::Netns;

const HOLDER: &str = r#"
import socket, sys, time
port = int(sys.argv[1])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port)); l.listen(64)
keep = []
for _ in range(6):
    c = socket.create_connection(("127.0.0.1", port)); s, _ = l.accept(); keep += [c, s]
print("ready", flush=True)
time.sleep(120)
"#;

fn sockdoc_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args(args)
        .output()
        .expect("run sockdoc");
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn conntrack_counts_what_the_kernel_tracks() {
    let ns = Netns::new().expect("namespace");
    ns.nft(
        "table inet sdct {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    ct state established,related accept\n  }\n}\n",
    )
    .expect("tracking rule");
    let port = ns.fresh_port();
    ns.spawn(&["python3", "-c", HOLDER, &port.to_string()])
        .expect("holder");
    let doc = poll(Duration::from_secs(10), "6 tracked connections", || {
        let d = sockdoc_json(&["--netns", ns.name(), "conntrack", "--json"]);
        let n = d["namespaces"][0]["count"].as_u64().unwrap_or(0);
        Ok(if n >= 6 {
            Ok(d)
        } else {
            Err(format!("count {n}"))
        })
    })
    .expect("entries appear");
    let n = &doc["namespaces"][0];
    assert_eq!(doc["command"], "conntrack");
    assert_eq!(n["active"], true);
    assert_eq!(n["netns"]["name"], ns.name());
    let listed = ns.exec(&["conntrack", "-L"]).unwrap_or_default();
    let kernel_lines = listed.lines().filter(|l| l.starts_with("tcp")).count() as u64;
    let tcp = n["by_proto"]
        .as_array()
        .expect("by_proto")
        .iter()
        .find(|r| r["key"] == "tcp")
        .expect("tcp row")["count"]
        .as_u64()
        .expect("count");
    assert!(tcp >= 6, "{n}");
    if kernel_lines > 0 {
        assert_eq!(
            tcp, kernel_lines,
            "sockdoc and conntrack -L read the same table"
        );
    }
    let dest = format!("127.0.0.1:{port}");
    assert_eq!(n["top_destinations"][0]["key"], dest.as_str(), "{n}");
    assert_eq!(n["top_destinations"][0]["count"], 6);
    let established = n["by_tcp_state"]
        .as_array()
        .expect("states")
        .iter()
        .find(|r| r["key"] == "ESTABLISHED")
        .expect("ESTABLISHED row");
    assert_eq!(established["count"], 6);
    assert!(n["max"].as_u64().unwrap_or(0) > 0);
}
