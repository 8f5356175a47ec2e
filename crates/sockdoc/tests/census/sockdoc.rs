//! Running the real `sockdoc` binary (with a deadline) and reading its JSON into typed values.
//!
//! The readers check the documented shape (docs/json-schema.md, schema 1) as they go, and fail with
//! the offending JSON when a key is missing or has the wrong type.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sockdoc_lab::{Family, Netns, Proto, SockState};

/// A sockdoc run that takes longer than this is killed and fails the test.
const DEADLINE: Duration = Duration::from_secs(30);

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_sockdoc")
}

pub use sockdoc_lab::cli::Run;

/// Run a prepared command (the binary under test) to completion or the deadline.
pub fn run_command(cmd: Command, shown_args: Vec<String>) -> Run {
    sockdoc_lab::cli::run_command(cmd, shown_args, DEADLINE)
        .unwrap_or_else(|e| panic!("running sockdoc: {e}"))
}

/// `sockdoc ARGS...` in the test's own namespace.
pub fn run(args: &[&str]) -> Run {
    let mut cmd = Command::new(binary());
    cmd.args(args);
    run_command(cmd, args.iter().map(|s| s.to_string()).collect())
}

/// `sockdoc list --netns NS --json -p FILTER...`: the sockets of that one namespace.
pub fn list(ns: &Netns, filter: &[&str]) -> Vec<SdSocket> {
    let mut args = vec!["list", "--netns", ns.name(), "--json", "-p"];
    args.extend_from_slice(filter);
    let v = run(&args).expect_ok().json("list");
    let spaces = namespaces(&v);
    assert_eq!(spaces.len(), 1, "one namespace expected: {v}");
    let only = &spaces[0];
    assert_eq!(only.name.as_deref(), Some(ns.name()), "netns.name: {v}");
    assert_eq!(
        only.inode,
        ns.inode().expect("namespace inode"),
        "netns.inode: {v}"
    );
    only.sockets.clone()
}

/// `sockdoc stats --netns NS --json EXTRA...`: the one namespace entry.
pub fn stats(ns: &Netns, extra: &[&str]) -> Value {
    let mut args = vec!["stats", "--netns", ns.name(), "--json"];
    args.extend_from_slice(extra);
    let v = run(&args).expect_ok().json("stats");
    let spaces = v["namespaces"].as_array().expect("namespaces array");
    assert_eq!(spaces.len(), 1, "one namespace expected: {v}");
    assert_eq!(spaces[0]["netns"]["name"], ns.name(), "netns.name: {v}");
    spaces[0].clone()
}

/// One entry of `namespaces` in a list document.
#[derive(Clone, Debug)]
pub struct SdNamespace {
    pub name: Option<String>,
    pub inode: u64,
    pub sockets: Vec<SdSocket>,
}

/// Reads `namespaces` of a list document.
pub fn namespaces(doc: &Value) -> Vec<SdNamespace> {
    let spaces = doc["namespaces"]
        .as_array()
        .unwrap_or_else(|| panic!("`namespaces` is not an array: {doc}"));
    spaces
        .iter()
        .map(|n| SdNamespace {
            name: n["netns"]["name"].as_str().map(str::to_string),
            inode: n["netns"]["inode"]
                .as_u64()
                .unwrap_or_else(|| panic!("netns.inode: {n}")),
            sockets: n["sockets"]
                .as_array()
                .unwrap_or_else(|| panic!("`sockets` is not an array: {n}"))
                .iter()
                .map(SdSocket::from_json)
                .collect(),
        })
        .collect()
}

/// `timer` of a sockdoc socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdTimer {
    pub kind: String,
    pub expires_ms: u64,
    pub count: u64,
}

/// `processes[]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SdProcess {
    pub pid: u32,
    pub fd: i32,
    pub name: String,
}

/// One socket of `sockdoc list --json`.
#[derive(Clone, Debug)]
pub struct SdSocket {
    pub proto: Proto,
    pub family: Family,
    pub state: SockState,
    pub ss_state: String,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub ifindex: u64,
    pub inode: u64,
    pub uid: u64,
    pub cookie: u64,
    pub recv_q: u64,
    pub send_q: u64,
    pub timer: Option<SdTimer>,
    /// `tcp_info` object, if not null.
    pub tcp_info: Option<Value>,
    /// `None` when the key is absent (no `-p`).
    pub processes: Option<Vec<SdProcess>>,
    pub json: Value,
}

fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key)
        .unwrap_or_else(|| panic!("socket without `{key}`: {v}"))
}

fn u64_field(v: &Value, key: &str) -> u64 {
    field(v, key)
        .as_u64()
        .unwrap_or_else(|| panic!("`{key}` is not an unsigned integer: {v}"))
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    field(v, key)
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string: {v}"))
}

fn endpoint(v: &Value, key: &str) -> SocketAddr {
    let e = field(v, key);
    let ip: IpAddr = str_field(e, "ip")
        .parse()
        .unwrap_or_else(|_| panic!("`{key}.ip` is not a plain IP: {v}"));
    let port = u16::try_from(u64_field(e, "port"))
        .unwrap_or_else(|_| panic!("`{key}.port` out of range: {v}"));
    SocketAddr::new(ip, port)
}

impl SdSocket {
    /// Reads one socket object, checking types.
    pub fn from_json(v: &Value) -> SdSocket {
        let proto =
            Proto::from_name(str_field(v, "proto")).unwrap_or_else(|| panic!("unknown proto: {v}"));
        let family = match str_field(v, "family") {
            "ipv4" => Family::V4,
            "ipv6" => Family::V6,
            _ => panic!("unknown family: {v}"),
        };
        let state = SockState::from_sockdoc_name(str_field(v, "state"))
            .unwrap_or_else(|| panic!("unknown state: {v}"));
        let timer = match field(v, "timer") {
            Value::Null => None,
            t => Some(SdTimer {
                kind: str_field(t, "kind").to_string(),
                expires_ms: u64_field(t, "expires_ms"),
                count: u64_field(t, "count"),
            }),
        };
        let tcp_info = match field(v, "tcp_info") {
            Value::Null => None,
            t if t.is_object() => Some(t.clone()),
            _ => panic!("`tcp_info` is neither null nor an object: {v}"),
        };
        let processes = v.get("processes").map(|p| {
            p.as_array()
                .unwrap_or_else(|| panic!("`processes` is not an array: {v}"))
                .iter()
                .map(|p| SdProcess {
                    pid: u32::try_from(u64_field(p, "pid")).expect("pid fits u32"),
                    fd: i32::try_from(u64_field(p, "fd")).expect("fd fits i32"),
                    name: str_field(p, "name").to_string(),
                })
                .collect()
        });
        SdSocket {
            proto,
            family,
            state,
            ss_state: str_field(v, "ss_state").to_string(),
            local: endpoint(v, "local"),
            remote: endpoint(v, "remote"),
            ifindex: u64_field(v, "ifindex"),
            inode: u64_field(v, "inode"),
            uid: u64_field(v, "uid"),
            cookie: u64_field(v, "cookie"),
            recv_q: u64_field(v, "recv_q"),
            send_q: u64_field(v, "send_q"),
            timer,
            tcp_info,
            processes,
            json: v.clone(),
        }
    }

    /// A `tcp_info` counter; a missing key or null reads as `None`.
    pub fn info(&self, key: &str) -> Option<u64> {
        self.tcp_info.as_ref()?.get(key)?.as_u64()
    }
}
