//! ss habits typed at sockdoc, each as the issue saw it fail, checked against the real `ss` on the
//! same lab namespace: `list -tan / -ltn / -tn` count per state what `ss` does, `-s` totals,
//! `-K` with kill's safety and audit record, `-to state established` keeps the word `state`,
//! `sockdoc stat` suggests `stats`, one IPv6 row does not widen the IPv4 rows past the terminal,
//! `-o process,local` keeps columns in place, CSV parses with Python's csv module.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use sockdoc_lab::{Family, Kind, Netns, Scenario};

use crate::sockdoc;

/// A namespace with a listener, established pairs, TIME-WAIT, a keepalive timer, a half-closed
/// pair, unconnected and connected UDP, in both families.
fn lab() -> (Netns, Vec<Scenario>) {
    let ns = Netns::new().expect("create namespace");
    let kinds = [
        Kind::Listen,
        Kind::Established,
        Kind::TimeWait,
        Kind::Keepalive,
        Kind::HalfClosed,
        Kind::UdpUnconn,
        Kind::UdpConnected,
    ];
    let built = Family::ALL
        .into_iter()
        .flat_map(|f| kinds.into_iter().map(move |k| (k, f)))
        .map(|(k, f)| k.build(&ns, f).expect("build scenario"))
        .collect();
    (ns, built)
}

/// `ss -N NS FLAGS -H`: how many lines per value of column `col`.
fn ss_counts(ns: &Netns, flags: &str, col: usize) -> BTreeMap<String, usize> {
    let out = Command::new("ss")
        .args(["-N", ns.name(), flags, "-H"])
        .output()
        .expect("run ss");
    assert!(out.status.success(), "ss {flags}: {out:?}");
    count_column(&String::from_utf8_lossy(&out.stdout), col)
}

fn count_column(text: &str, col: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('\t')) {
        let word = line.split_whitespace().nth(col).unwrap_or("");
        *counts.entry(word.to_string()).or_insert(0) += 1;
    }
    counts
}

#[test]
fn ss_flags_list_what_ss_lists() {
    let (ns, _built) = lab();
    // (flags, the column of the state: after Netid when both protocols are listed)
    for (flags, col) in [
        ("-tan", 0),
        ("-ltn", 0),
        ("-tn", 0),
        ("-tanp", 0),
        ("-uan", 0),
        ("-tuna", 1),
        ("-tun", 1),
        ("-4tn", 0),
        ("-tanoi", 0),
    ] {
        let want = ss_counts(&ns, flags, col);
        for cmd in ["list", "ss"] {
            let run = sockdoc::run(&["--netns", ns.name(), cmd, flags, "-H"]).expect_ok();
            assert_eq!(
                count_column(&run.stdout, col),
                want,
                "sockdoc {cmd} {flags} against ss {flags}:\n{}",
                run.stdout
            );
        }
    }
    // ss's default excludes listeners, TIME-WAIT and closed: `-tn` must differ from `-tan` here.
    assert_ne!(ss_counts(&ns, "-tn", 0), ss_counts(&ns, "-tan", 0));
    // `list` without ss's flags still lists every state, as before.
    let all = sockdoc::run(&["--netns", ns.name(), "list", "-t", "-H"]).expect_ok();
    assert_eq!(count_column(&all.stdout, 1), ss_counts(&ns, "-tan", 0));
}

#[test]
fn summary_totals_match_ss_s() {
    let ns = Netns::new().expect("create namespace");
    let _built: Vec<_> = [Kind::Listen, Kind::Established, Kind::TimeWait]
        .into_iter()
        .flat_map(|k| Family::ALL.map(|f| (k, f)))
        .chain([(Kind::UdpUnconn, Family::V4)])
        .map(|(k, f)| k.build(&ns, f).expect("build scenario"))
        .collect();
    let out = Command::new("ss")
        .args(["-N", ns.name(), "-s"])
        .output()
        .expect("run ss -s");
    let ss = String::from_utf8_lossy(&out.stdout).to_string();
    let number = |after: &str| -> u64 {
        let at = ss
            .find(after)
            .unwrap_or_else(|| panic!("{after:?} in {ss}"))
            + after.len();
        let digits: String = ss[at..]
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits
            .parse()
            .unwrap_or_else(|_| panic!("{after:?} in {ss}"))
    };
    let doc = sockdoc::run(&["--netns", ns.name(), "--json", "list", "-s"])
        .expect_ok()
        .json("stats");
    let space = &doc["namespaces"][0];
    let tcp = |state: &str| space["tcp"]["states"][state].as_u64().unwrap_or(0);
    assert_eq!(tcp("established"), number("estab "), "{ss}\n{doc}");
    assert_eq!(tcp("time-wait"), number("timewait "), "{ss}\n{doc}");
    assert_eq!(space["udp"]["total"].as_u64(), Some(number("UDP")), "{ss}");
    // The text form is the stats view.
    let text = sockdoc::run(&["--netns", ns.name(), "list", "-s"]).expect_ok();
    assert!(text.stdout.contains("TCP: "), "{}", text.stdout);
}

#[test]
fn kill_flag_keeps_kills_safety() {
    let ns = Netns::new().expect("create namespace");
    let pair = Kind::Established
        .build(&ns, Family::V4)
        .expect("build scenario");
    let client = &pair.expected[0];
    let port = client.local.port().to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("audit.jsonl");
    let log_arg = log.to_string_lossy().to_string();
    let words = ["sport", "=", &port];
    let mut args = vec!["--netns", ns.name(), "list", "-tK", "--audit-log", &log_arg];
    args.extend(words);
    // Standard input is not a terminal: refused without --yes, nothing touched.
    let refused = sockdoc::run(&args);
    assert_eq!(refused.code(), Some(64), "{refused:?}");
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    let matched = || {
        let filter = format!("sport = :{port}");
        sockdoc_lab::ss::query(&ns, &[filter.as_str()])
            .expect("ss")
            .len()
    };
    assert_eq!(matched(), 1);
    // A -K without a filter is refused as kill refuses it.
    let bare = sockdoc::run(&["--netns", ns.name(), "list", "-tK", "--yes"]);
    assert_eq!(bare.code(), Some(64), "{bare:?}");
    args.push("--yes");
    let done = sockdoc::run(&args).expect_ok();
    assert_eq!(matched(), 0, "{}", done.stdout);
    let audit = std::fs::read_to_string(&log).expect("audit log written");
    assert!(audit.contains(&port), "{audit}");
}

#[test]
fn timers_flag_does_not_swallow_state() {
    let (ns, _built) = lab();
    let run =
        sockdoc::run(&["--netns", ns.name(), "list", "-to", "state", "established"]).expect_ok();
    let mut lines = run.stdout.lines().filter(|l| !l.starts_with("=="));
    let header = lines.next().unwrap_or("");
    assert!(header.contains("Timer"), "{}", run.stdout);
    let states = count_column(&lines.collect::<Vec<_>>().join("\n"), 0);
    assert_eq!(
        states,
        ss_counts(&ns, "-t", 0)
            .into_iter()
            .filter(|(s, _)| s == "ESTAB")
            .collect()
    );
    assert!(run.stdout.contains("keepalive,"), "{}", run.stdout);
    // The old meaning of `-o LIST` stands.
    let cols = sockdoc::run(&["--netns", ns.name(), "list", "-H", "-o", "state,local"]).expect_ok();
    let first = cols.stdout.lines().next().unwrap_or("");
    assert_eq!(first.split_whitespace().count(), 2, "{}", cols.stdout);
}

#[test]
fn a_near_miss_command_gets_its_suggestion() {
    let run = sockdoc::run(&["stat"]);
    assert_eq!(run.code(), Some(64), "{run:?}");
    assert!(run.stderr.contains("'stats'"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn one_ipv6_row_does_not_widen_ipv4_rows() {
    let long: std::net::IpAddr = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1".parse().expect("ip");
    let ns = Netns::with_loopback_addrs(&[long]).expect("create namespace");
    let _v4: Vec<_> = (0..10)
        .map(|_| Kind::Established.build(&ns, Family::V4).expect("build"))
        .collect();
    let port = ns.fresh_port().to_string();
    let listen = format!("TCP6-LISTEN:{port},bind=[{long}],fork,reuseaddr");
    ns.spawn(&["socat", &listen, "SYSTEM:sleep 600"])
        .expect("socat server");
    let dial = format!("TCP6:[{long}]:{port},retry=50,interval=0.1");
    ns.spawn(&["socat", "-u", &dial, "SYSTEM:sleep 600"])
        .expect("socat client");
    let filter = format!("dport = :{port}");
    sockdoc_lab::wait::poll(
        std::time::Duration::from_secs(10),
        "the IPv6 connection",
        || {
            let n = sockdoc_lab::ss::query(&ns, &[filter.as_str()])?.len();
            Ok(if n == 1 {
                Ok(())
            } else {
                Err(format!("{n} sockets"))
            })
        },
    )
    .expect("the IPv6 connection");
    let mut cmd = Command::new(sockdoc::binary());
    cmd.args(["--netns", ns.name(), "list", "-H"])
        .env("COLUMNS", "100");
    let run = sockdoc::run_command(cmd, vec!["list".into(), "-H".into()]).expect_ok();
    let (v6, v4): (Vec<&str>, Vec<&str>) = run.stdout.lines().partition(|l| l.contains('['));
    assert!(v6.iter().any(|l| l.contains("2001:db8")), "{}", run.stdout);
    assert!(v4.len() >= 20, "{}", run.stdout);
    for line in &v4 {
        assert!(line.chars().count() <= 100, "{line:?} in\n{}", run.stdout);
    }
    // The IPv4 rows stay aligned with each other.
    let peer_at: Vec<usize> = v4.iter().map(|l| column_start(l, 5)).collect();
    assert!(peer_at.windows(2).all(|w| w[0] == w[1]), "{}", run.stdout);
}

/// Where the `n`th whitespace-separated field of `line` starts.
fn column_start(line: &str, n: usize) -> usize {
    let mut fields = 0;
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if !c.is_whitespace() && prev_space {
            if fields == n {
                return i;
            }
            fields += 1;
        }
        prev_space = c.is_whitespace();
    }
    line.len()
}

#[test]
fn columns_in_any_order_stay_in_place() {
    let (ns, _built) = lab();
    let run = sockdoc::run(&[
        "--netns",
        ns.name(),
        "list",
        "-p",
        "-o",
        "process,local,state",
    ])
    .expect_ok();
    let mut lines = run.stdout.lines().filter(|l| !l.starts_with("=="));
    let header = lines.next().unwrap_or("");
    let fields: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(fields, ["Process", "Local", "State"], "{}", run.stdout);
    let local_at = header.find("Local").unwrap_or(0);
    let state_at = header.find("State").unwrap_or(0);
    for line in lines {
        // A process cell wider than its column pushes its own row only: none is here.
        assert_eq!(
            column_start(line, 1),
            local_at,
            "{line:?} in\n{}",
            run.stdout
        );
        assert_eq!(
            column_start(line, 2),
            state_at,
            "{line:?} in\n{}",
            run.stdout
        );
    }
}

#[test]
fn csv_parses_with_pythons_csv_module() {
    let (ns, _built) = lab();
    let run = sockdoc::run(&[
        "--netns",
        ns.name(),
        "--format",
        "csv",
        "list",
        "-tan",
        "--columns",
        "state,local,peer,timer",
    ])
    .expect_ok();
    let script = "import csv, json, sys\nprint(json.dumps(list(csv.DictReader(sys.stdin))))";
    let mut py = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    py.stdin
        .take()
        .expect("stdin")
        .write_all(run.stdout.as_bytes())
        .expect("write to python");
    let out = py.wait_with_output().expect("python3 ran");
    assert!(out.status.success(), "{out:?}");
    let rows: Vec<BTreeMap<String, String>> =
        serde_json::from_slice(&out.stdout).expect("python's JSON");
    let mut states = BTreeMap::new();
    for r in &rows {
        *states.entry(r["state"].clone()).or_insert(0) += 1;
    }
    assert_eq!(states, ss_counts(&ns, "-tan", 0), "{}", run.stdout);
    // A timer holds commas; quoted, it stays one field.
    let keepalive = rows.iter().find(|r| r["timer"].starts_with("keepalive,"));
    let timer = keepalive.map(|r| r["timer"].split(',').count());
    assert_eq!(timer, Some(3), "{}", run.stdout);
    // `--format json` is `--json`; CSV is refused where there is no table.
    sockdoc::run(&["--netns", ns.name(), "--format", "json", "list", "-tan"])
        .expect_ok()
        .json("list");
    let refused = sockdoc::run(&["--netns", ns.name(), "--format", "csv", "doctor"]);
    assert_eq!(refused.code(), Some(64), "{refused:?}");
}
