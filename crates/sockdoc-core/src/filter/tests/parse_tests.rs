//! Parser tests: every word, operator spellings, precedence, the seed examples, and errors.

use super::{canon, parse, parse_err, parse_words, try_parse};
use crate::filter::values;

/// Each input and the canonical text it parses to.
fn check_all(cases: &[(&str, &str)]) {
    for (input, want) in cases {
        assert_eq!(canon(input), *want, "input {input:?}");
        // The canonical text is a fixed point.
        assert_eq!(canon(want), *want, "canonical {want:?}");
    }
}

#[test]
fn seed_examples() {
    let argv = parse_words(&["state", "established", "(", "sport", "=", ":21", ")"]).unwrap();
    let joined = parse_words(&["state established '( sport = :21 )'"]).unwrap();
    let mixed = parse_words(&["state", "established", "( sport = :21 )"]).unwrap();
    let shell_quoted = parse_words(&["state", "established", "'( sport = :21 )'"]).unwrap();
    for f in [&argv, &joined, &mixed, &shell_quoted] {
        assert_eq!(f.to_string(), "state established and sport = :21");
    }
    check_all(&[
        (
            "dst 192.168.0.0/16 and not sport = :22",
            "dst 192.168.0.0/16 and not sport = :22",
        ),
        ("!keepalive", "not keepalive"),
        (
            "idle > 5m and state established",
            "idle > 5m and state established",
        ),
        ("proc vsftpd or pid 42", "proc vsftpd or pid 42"),
    ]);
}

#[test]
fn empty_filter() {
    for words in [&[][..], &[""], &["  ", ""]] {
        let f = parse_words(words).unwrap();
        assert!(f.is_empty());
        assert_eq!(f.to_string(), "");
    }
    assert!(!parse("tcp").is_empty());
}

#[test]
fn states() {
    check_all(&[
        ("state established", "state established"),
        ("state syn-sent", "state syn-sent"),
        ("state syn-recv", "state syn-recv"),
        ("state fin-wait-1", "state fin-wait-1"),
        ("state fin-wait-2", "state fin-wait-2"),
        ("state time-wait", "state time-wait"),
        ("state closed", "state unconn"),
        ("state unconn", "state unconn"),
        ("state close-wait", "state close-wait"),
        ("state last-ack", "state last-ack"),
        ("state listening", "state listen"),
        ("state listen", "state listen"),
        ("state closing", "state closing"),
        ("listening", "state listen"),
        ("state all", "state all"),
        ("state connected", "exclude unconn exclude listen"),
        (
            "state synchronized",
            "exclude syn-sent exclude unconn exclude listen",
        ),
        ("state bucket", "state syn-recv state time-wait"),
        ("state big", "exclude syn-recv exclude time-wait"),
        // ss's display names, any case.
        ("state ESTAB", "state established"),
        ("state TIME-WAIT", "state time-wait"),
        ("state UNCONN", "state unconn"),
        ("state LISTEN", "state listen"),
        ("STATE Close-Wait", "state close-wait"),
        ("state time_wait", "state time-wait"),
        // Runs: state adds, exclude removes, a leading exclude starts from all.
        (
            "state established state close-wait",
            "state established state close-wait",
        ),
        ("exclude listening", "exclude listen"),
        (
            "excl listening exclude unconn",
            "exclude unconn exclude listen",
        ),
        ("state all exclude time-wait", "exclude time-wait"),
        ("state bucket exclude syn-recv", "state time-wait"),
        ("state established exclude established", "exclude all"),
        ("exclude all state listening", "state listen"),
        // Explicit operators keep runs apart.
        (
            "state established or state close-wait",
            "state established or state close-wait",
        ),
        (
            "state established and state close-wait",
            "state established and state close-wait",
        ),
        ("not state listening", "not state listen"),
        (
            "not state listening state unconn",
            "not state unconn state listen",
        ),
        (
            "state established tcp state listening",
            "state established and tcp and state listen",
        ),
    ]);
}

#[test]
fn ports() {
    check_all(&[
        ("sport = :21", "sport = :21"),
        ("sport 21", "sport = :21"),
        ("sport :21", "sport = :21"),
        ("sport = 21", "sport = :21"),
        ("sport :ftp", "sport = :21"),
        ("dport = ssh", "dport = :22"),
        ("dport = :https", "dport = :443"),
        ("dport = :0", "dport = :0"),
        ("dport = :65535", "dport = :65535"),
        ("sport>=1024", "sport >= :1024"),
        ("sport<:1024", "sport < :1024"),
        ("sport!=22", "sport != :22"),
    ]);
    let spellings = [
        ("=", "="),
        ("==", "="),
        ("eq", "="),
        ("EQ", "="),
        ("!=", "!="),
        ("ne", "!="),
        ("neq", "!="),
        ("<", "<"),
        ("lt", "<"),
        (">", ">"),
        ("gt", ">"),
        ("<=", "<="),
        ("le", "<="),
        ("leq", "<="),
        (">=", ">="),
        ("ge", ">="),
        ("geq", ">="),
    ];
    for (spelled, symbol) in spellings {
        assert_eq!(
            canon(&format!("dport {spelled} :80")),
            format!("dport {symbol} :80")
        );
        assert_eq!(
            canon(&format!("retrans {spelled} 3")),
            format!("retrans {symbol} 3")
        );
    }
}

#[test]
fn addresses() {
    check_all(&[
        ("src 10.0.0.0/8", "src 10.0.0.0/8"),
        ("dst 10.1.2.3", "dst 10.1.2.3"),
        ("dst 10.1.2.3/32", "dst 10.1.2.3"),
        ("dst 10.1.2.3:80", "dst 10.1.2.3:80"),
        ("dst 10.0.0.0/8:80", "dst 10.0.0.0/8:80"),
        ("src 10.0.0.0/8:https", "src 10.0.0.0/8:443"),
        ("dst 10.1.2.3:*", "dst 10.1.2.3"),
        ("dst [::1]:80", "dst [::1]:80"),
        ("dst ::1", "dst ::1"),
        ("dst [::1]", "dst ::1"),
        ("src 2001:db8::/32", "src 2001:db8::/32"),
        ("src [2001:db8::]/32", "src 2001:db8::/32"),
        ("src [2001:db8::/32]:443", "src [2001:db8::/32]:443"),
        ("dst ::ffff:10.1.2.3", "dst ::ffff:10.1.2.3"),
        ("dst *:80", "dst :80"),
        ("dst :80", "dst :80"),
        ("dst :http", "dst :80"),
        ("dst *", "dst *"),
        ("dst [*]:22", "dst :22"),
        ("dst = 10.0.0.1", "dst 10.0.0.1"),
        ("dst == 10.0.0.1", "dst 10.0.0.1"),
        ("dst != 10.0.0.1", "not dst 10.0.0.1"),
        ("src 0.0.0.0/0", "src 0.0.0.0/0"),
    ]);
}

#[test]
fn our_words() {
    check_all(&[
        ("tcp", "tcp"),
        ("udp", "udp"),
        ("proto tcp", "tcp"),
        ("proto UDP", "udp"),
        ("proto != tcp", "not tcp"),
        ("ipv4", "ipv4"),
        ("ipv6", "ipv6"),
        ("inet6", "ipv6"),
        ("proc nginx", "proc nginx"),
        ("proc = sshd", "proc sshd"),
        ("proc != sshd", "not proc sshd"),
        ("proc 'nginx*'", "proc nginx*"),
        ("proc nginx*", "proc nginx*"),
        ("proc 'Web Content'", "proc 'Web Content'"),
        ("proc '(sd-pam)'", "proc '(sd-pam)'"),
        ("proc \"it's\"", "proc \"it's\""),
        ("proc and", "proc and"),
        ("pid 42", "pid 42"),
        ("pid != 1", "not pid 1"),
        ("uid 1000", "uid 1000"),
        ("inode 12345", "inode 12345"),
        ("idle > 5m", "idle > 5m"),
        ("idle >= 30", "idle >= 30s"),
        ("idle < 500ms", "idle < 500ms"),
        ("idle > 120s", "idle > 2m"),
        ("idle > 90s", "idle > 90s"),
        ("idle gt 1d", "idle > 1d"),
        ("idle > 2h", "idle > 2h"),
        ("idle > 0", "idle > 0ms"),
        ("keepalive", "keepalive"),
        ("! keepalive", "not keepalive"),
        ("not not keepalive", "keepalive"),
        ("!!keepalive", "keepalive"),
        ("retrans > 3", "retrans > 3"),
        ("retrans 0", "retrans = 0"),
        ("unacked >= 1", "unacked >= 1"),
        ("recvq > 0", "recvq > 0"),
        ("sendq <= 100", "sendq <= 100"),
        ("timer keepalive", "timer keepalive"),
        ("timer on", "timer on"),
        ("timer persist", "timer persist"),
        ("timer TIMEWAIT", "timer timewait"),
        ("timer != off", "not timer off"),
        ("dev 1", "dev 1"),
        ("dev != 2", "not dev 2"),
        ("dev = 7", "dev 7"),
    ]);
    if let Ok(lo) = values::interface("lo") {
        assert_eq!(canon("dev lo"), format!("dev {lo}"));
    }
}

#[test]
fn booleans_and_precedence() {
    check_all(&[
        ("tcp or udp and ipv4", "tcp or udp and ipv4"),
        ("tcp and udp or ipv4", "tcp and udp or ipv4"),
        ("( tcp or udp ) and ipv4", "( tcp or udp ) and ipv4"),
        ("(tcp or udp) ipv4", "( tcp or udp ) and ipv4"),
        ("tcp or udp ipv4", "tcp or udp and ipv4"),
        ("not tcp and udp", "not tcp and udp"),
        ("not tcp or udp", "not tcp or udp"),
        ("not ( tcp and udp )", "not ( tcp and udp )"),
        ("!(tcp udp)", "not ( tcp and udp )"),
        ("tcp && udp || ipv4", "tcp and udp or ipv4"),
        ("tcp & udp | ipv4", "tcp and udp or ipv4"),
        ("tcp AND udp OR ipv4", "tcp and udp or ipv4"),
        ("(tcp)", "tcp"),
        ("((tcp or udp))", "tcp or udp"),
        ("tcp and (udp and ipv4)", "tcp and udp and ipv4"),
        ("tcp or (udp or ipv4)", "tcp or udp or ipv4"),
        ("tcp '( udp or ipv4 )'", "tcp and ( udp or ipv4 )"),
        (
            "tcp \"udp or 'ipv4 or ipv6'\"",
            "tcp and ( udp or ipv4 or ipv6 )",
        ),
        ("keepalive!keepalive", "keepalive and not keepalive"),
    ]);
}

#[test]
fn long_chains_stay_flat() {
    let text = vec!["sport = :1"; 20_000].join(" or ");
    let f = parse(&text);
    assert!(!f.is_empty());
    let text = vec!["tcp"; 20_000].join(" ");
    assert_eq!(parse(&text).to_string().matches("and").count(), 19_999);
}

/// (input, the word the error names, its position, a fragment of the message).
fn check_errors(cases: &[(&str, &str, usize, &str)]) {
    for (input, word, position, fragment) in cases {
        let e = parse_err(input);
        assert_eq!(e.word, *word, "word for {input:?}: {e}");
        assert_eq!(e.position, *position, "position for {input:?}: {e}");
        assert!(e.message.contains(fragment), "message for {input:?}: {e}");
    }
}

#[test]
fn seed_errors() {
    check_errors(&[
        ("sprot = :21", "sprot", 0, "unknown word"),
        ("state estab1ished", "estab1ished", 6, "unknown state"),
        ("sport = :99999", ":99999", 8, "port out of range"),
        ("dst 10.0.0.0/33", "10.0.0.0/33", 4, "prefix length 33"),
        ("( sport = :21", "(", 0, "missing ')'"),
        ("idle > 5x", "5x", 7, "bad duration"),
    ]);
    let e = parse_err("sprot = :21");
    assert!(e.message.contains("did you mean \"sport\""), "{e}");
    assert!(
        e.message
            .contains("expected one of: state, exclude, sport, dport, src, dst"),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "bad filter at \"sprot\": {} (see sockdoc list --help)",
            e.message
        )
    );
    assert!(!e.to_string().contains('\n'));
}

#[test]
fn more_errors() {
    check_errors(&[
        ("sport", "", 5, "missing a port after \"sport\""),
        ("sport =", "", 7, "missing a port"),
        ("sport = and", "and", 8, "unknown port or service"),
        ("sport = :", ":", 8, "expected a port"),
        (
            "sport = :nosuchservice",
            ":nosuchservice",
            8,
            "unknown port or service",
        ),
        ("sport = (", "(", 8, "expected a port"),
        ("tcp and", "", 7, "missing filter after \"and\""),
        ("tcp or", "", 6, "missing filter after \"or\""),
        ("tcp or )", ")", 7, "expected a filter after \"or\""),
        ("and tcp", "and", 0, "missing filter before \"and\""),
        ("|| tcp", "||", 0, "missing filter before"),
        (")", ")", 0, "unbalanced ')'"),
        ("tcp )", ")", 4, "unbalanced ')'"),
        ("()", "(", 0, "empty parentheses"),
        ("tcp ''", "''", 4, "empty quotes"),
        ("tcp 'udp", "'udp", 4, "unterminated quote"),
        ("( tcp = )", "=", 6, "unexpected word"),
        ("tcp = 5", "=", 4, "unexpected word"),
        ("= tcp", "=", 0, "unexpected comparison"),
        ("not", "", 3, "missing filter after \"not\""),
        ("tcp !", "", 5, "missing filter after \"!\""),
        ("state", "", 5, "missing a state"),
        ("state established state", "", 23, "missing a state"),
        ("exclude (", "(", 8, "expected a state"),
        ("idle 5m", "5m", 5, "expected a comparison"),
        ("idle", "", 4, "missing a comparison"),
        ("idle >", "", 6, "missing a duration"),
        ("src > 10.0.0.1", ">", 4, "only = or !="),
        ("dst 10.0.0.0/x", "10.0.0.0/x", 4, "bad prefix length"),
        ("dst ::/129", "::/129", 4, "prefix length 129"),
        ("dst example.com", "example.com", 4, "not an IP address"),
        ("dst [::1", "[::1", 4, "missing ']'"),
        (
            "dst 10.0.0.1:99999",
            "10.0.0.1:99999",
            4,
            "port out of range",
        ),
        ("pid x", "x", 4, "expected a pid"),
        ("pid -1", "-1", 4, "expected a pid"),
        ("pid 99999999999", "99999999999", 4, "too large"),
        ("uid", "", 3, "missing a uid"),
        ("retrans > many", "many", 10, "expected a count"),
        ("recvq > 1k", "1k", 8, "expected a byte count"),
        ("timer bogus", "bogus", 6, "unknown timer"),
        ("proto icmp", "icmp", 6, "unknown protocol"),
        ("proc ''", "''", 5, "empty process name"),
        (
            "dev no-such-if0",
            "no-such-if0",
            4,
            "no such network interface",
        ),
        ("established", "established", 0, "state established"),
        ("autobound", "autobound", 0, "not supported"),
        ("tcp bogus", "bogus", 4, "unknown word"),
        ("'tcp bogus'", "bogus", 5, "unknown word"),
        ("tcp \"udp 'ipv4 bogus'\"", "bogus", 15, "unknown word"),
    ]);
}

#[test]
fn error_positions_across_words() {
    let e = parse_words(&["state", "established", "sprot"]).unwrap_err();
    assert_eq!((e.word.as_str(), e.position), ("sprot", 18));
    let e = parse_words(&["state established", "( sport = :21"]).unwrap_err();
    assert_eq!((e.word.as_str(), e.position), ("(", 18));
    // Offsets count characters, not bytes.
    let e = parse_words(&["proc", "'é'", "sprot"]).unwrap_err();
    assert_eq!((e.word.as_str(), e.position), ("sprot", 9));
    let e = parse_words(&["sport"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad filter at its end: missing a port after \"sport\" (see sockdoc list --help)"
    );
}

#[test]
fn nesting_is_bounded() {
    let ok = format!("{}tcp{}", "( ".repeat(30), " )".repeat(30));
    assert_eq!(canon(&ok), "tcp");
    let deep = format!("{}tcp{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse_err(&deep).message.contains("nested too deeply"));
    let nots = format!("{}tcp", "not ".repeat(10_000));
    assert!(parse_err(&nots).message.contains("nested too deeply"));
}

#[test]
fn help_mentions_every_keyword() {
    let help = crate::filter::help_text();
    let groups = ["connected", "synchronized", "bucket", "big"];
    for word in crate::filter::keywords().chain(groups) {
        assert!(help.contains(word), "help lacks {word}");
    }
}

/// A huge bad word is shown shortened, with its size, on one line: never echoed in full.
#[test]
fn long_bad_words_are_shortened_in_errors() {
    let word = "x".repeat(120_000);
    for text in [
        word.clone(),
        format!("tcp {word}"),
        format!("dst {word}"),
        format!("dst 10.0.0.0/{word}"),
        format!("tcp '{word}"),
        format!("proc {word}\n{word}"),
        format!("sport = :{word}"),
    ] {
        let Err(e) = try_parse(&text) else {
            continue;
        };
        let msg = e.to_string();
        assert!(msg.len() < 600, "{} bytes: {}", msg.len(), &msg[..200]);
        assert!(!msg.contains('\n'), "{msg}");
        assert!(msg.contains("bytes)"), "{msg}");
    }
    let msg = parse_err(&word).to_string();
    assert!(
        msg.starts_with(&format!(
            "bad filter at \"{}\"…(120000 bytes): ",
            "x".repeat(60)
        )),
        "{msg}"
    );
    // Short words are shown whole, as before.
    assert!(parse_err("sprot")
        .to_string()
        .starts_with("bad filter at \"sprot\": unknown word"));
}

/// A process named like a comparison word prints quoted, so the canonical text parses back (found by
/// the fuzzer: `proc = LT` printed as `proc LT`, which reads as "proc, less than ...").
#[test]
fn process_names_that_are_comparison_words_print_quoted() {
    for name in ["LT", "lt", "ge", "Eq", "neq", "leq", "GEQ"] {
        let text = canon(&format!("proc = {name}"));
        assert_eq!(text, format!("proc '{name}'"));
        assert_eq!(canon(&text), text, "parses back");
    }
    assert_eq!(
        canon("\"'not dst = 127.0.0.1:25477'\" proc != GE"),
        "not dst 127.0.0.1:25477 and not proc 'GE'"
    );
    assert_eq!(canon("proc = nginx"), "proc nginx", "other names stay bare");
}
