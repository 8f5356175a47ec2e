//! Filter cross-checks: the same ss-syntax filter words given to `ss` and to `sockdoc list` must
//! select the same sockets; bad words and unknown namespaces are usage errors with one line on
//! stderr.

use sockdoc_lab::{ss, Family, Kind, Netns, Scenario, SockState, SsSocket};

use crate::compare;
use crate::sockdoc;

/// A namespace with many states in both families.
fn busy_namespace() -> (Netns, Vec<Scenario>) {
    let ns = Netns::new().expect("create namespace");
    let kinds = [
        Kind::Listen,
        Kind::Established,
        Kind::SynSent,
        Kind::SynRecv,
        Kind::HalfClosed,
        Kind::TimeWait,
        Kind::UdpConnected,
    ];
    let mut built = Vec::new();
    for family in Family::ALL {
        for kind in kinds {
            built.push(kind.build(&ns, family).expect("build scenario"));
        }
    }
    (ns, built)
}

/// Local port of the server side of the IPv4 established pair.
fn server_port(built: &[Scenario]) -> u16 {
    built
        .iter()
        .find(|s| s.kind == Kind::Established && s.family == Family::V4)
        .and_then(|s| s.expected.get(1))
        .map(|e| e.local.port())
        .expect("established scenario")
}

/// Reads with `filter`, requires ss to select something (and not everything), then compares.
/// `all` is an unfiltered `ss -p` snapshot of `ns`; it supplies the owners (one slow `-p` walk
/// per namespace rather than one per filter).
fn cross_check(ns: &Netns, all: &[SsSocket], filter: &[&str]) {
    let reading = compare::read_with_owners(ns, filter, all.to_vec());
    assert!(
        !reading.before.is_empty(),
        "filter {filter:?} selects nothing in ss"
    );
    assert!(
        reading.before.len() < all.len(),
        "filter {filter:?} selects everything in ss"
    );
    compare::assert_same(&reading);
}

fn owners(ns: &Netns) -> Vec<SsSocket> {
    ss::snapshot(ns).expect("ss -p")
}

#[test]
fn state_established_and_sport() {
    let (ns, built) = busy_namespace();
    let sport = format!("( sport = :{} )", server_port(&built));
    cross_check(&ns, &owners(&ns), &["state", "established", &sport]);
}

#[test]
fn split_words_mean_the_same() {
    let (ns, built) = busy_namespace();
    let port = format!(":{}", server_port(&built));
    cross_check(
        &ns,
        &owners(&ns),
        &["state", "established", "(", "sport", "=", &port, ")"],
    );
}

#[test]
fn dst_prefix() {
    let (ns, _built) = busy_namespace();
    cross_check(&ns, &owners(&ns), &["dst", "127.0.0.0/8"]);
}

#[test]
fn port_or_port_any_state() {
    let (ns, built) = busy_namespace();
    let port = server_port(&built);
    let expr = format!("( dport = :{port} or sport = :{port} )");
    cross_check(&ns, &owners(&ns), &[&expr]);
}

#[test]
fn single_states() {
    let (ns, _built) = busy_namespace();
    let all = owners(&ns);
    for state in [
        SockState::TimeWait,
        SockState::SynSent,
        SockState::SynRecv,
        SockState::FinWait2,
        SockState::CloseWait,
        SockState::Listen,
        SockState::Unconn,
        SockState::Established,
    ] {
        cross_check(&ns, &all, &["state", state.ss_filter_name()]);
    }
}

#[test]
fn ipv6_source_address() {
    let (ns, _built) = busy_namespace();
    cross_check(&ns, &owners(&ns), &["src", "[::1]"]);
}

/// A usage error: exit code >= 64 and exactly one stderr line that names `word`.
pub(crate) fn assert_usage_error(run: &sockdoc::Run, word: &str) {
    let code = run.code().expect("exit code");
    assert!(
        code >= 64,
        "exit code {code} for `sockdoc {}`",
        run.args.join(" ")
    );
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "one stderr line expected: {:?}", run.stderr);
    assert!(
        lines[0].contains(word),
        "stderr should name {word:?}: {}",
        lines[0]
    );
}

#[test]
fn bad_filter_word_is_a_usage_error() {
    let ns = Netns::new().expect("create namespace");
    for filter in [
        vec!["frobnicate"],
        vec!["state", "nosuchstate"],
        vec!["sport", "=", ":notaport"],
    ] {
        let word = *filter.last().expect("word");
        let mut args = vec!["list", "--netns", ns.name(), "--json"];
        args.extend_from_slice(&filter);
        assert_usage_error(&sockdoc::run(&args), word.trim_start_matches(':'));
    }
}

#[test]
fn unknown_namespace_is_a_usage_error() {
    let name = format!("sdlab-{}-missing", std::process::id());
    let run = sockdoc::run(&["list", "--netns", &name, "--json"]);
    assert_usage_error(&run, &name);
    assert!(
        run.stdout.trim().is_empty(),
        "nothing on stdout: {}",
        run.stdout
    );
}

/// A command line the parser refuses: one line, exit 64, in the language asked for (`--lang`, or
/// the locale), naming what was wrong.
#[test]
fn parser_errors_are_one_line_in_both_languages() {
    for (args, word) in [
        (vec!["stats", "--bogus"], "'--bogus'"),
        (vec!["bogus"], "'bogus'"),
        (vec!["kill", "--method", "bogus", "x"], "'bogus'"),
        (vec!["stats", "--json", "--json"], "'--json'"),
    ] {
        let en = sockdoc::run(&args);
        assert_usage_error(&en, word);
        assert_eq!(en.code(), Some(64), "{args:?}");
        assert!(en.stderr.contains("(see sockdoc --help)"), "{}", en.stderr);
        let zh: Vec<&str> = ["--lang", "zh"].into_iter().chain(args.clone()).collect();
        let zh = sockdoc::run(&zh);
        assert_usage_error(&zh, word);
        assert!(zh.stderr.contains("（见 sockdoc --help）"), "{}", zh.stderr);
    }
    let zh = sockdoc::run(&["--lang", "zh", "kill", "--method", "bogus", "x"]);
    assert!(
        zh.stderr.contains("无效") && zh.stderr.contains("auto, destroy, shutdown, rst"),
        "{}",
        zh.stderr
    );
}
