//! How fast a million-line `ss -tan` dump (~62 MB) is read, beside the incident notes' own
//! pipeline on the same file. Ignored by default (it writes 62 MB); run it in release:
//! `cargo test --release -p sockdoc-evidence --test speed -- --ignored --nocapture`. It prints
//! the timings and asserts only what was read, never a time.

mod common;

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use common::Scratch;

#[test]
#[ignore = "writes a 62 MB dump; run in release to measure"]
fn a_million_line_ss_dump_is_read_and_timed_beside_awk_sort_uniq() {
    let dir = Scratch::new("speed");
    let path = dir.path().join("ss-tan.txt");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    writeln!(
        f,
        "State      Recv-Q Send-Q      Local Address:Port        Peer Address:Port Process"
    )
    .expect("write");
    let n = 1_000_000u32;
    for i in 0..n {
        let state = match i % 10 {
            0 => "TIME-WAIT ",
            1 => "CLOSE-WAIT",
            _ => "ESTAB     ",
        };
        writeln!(
            f,
            "{state} 0      0          10.{}.{}.{}:{:<5}      192.168.{}.{}:{:<5}",
            i >> 16 & 255,
            i >> 8 & 255,
            i & 255,
            20000 + i % 40000,
            i % 200,
            i % 251,
            1024 + i % 60000
        )
        .expect("write");
    }
    drop(f);
    let size = std::fs::metadata(&path).expect("size").len();

    let t = Instant::now();
    let ev = sockdoc_evidence::read(std::slice::from_ref(&path)).expect("read");
    let ours = t.elapsed();
    assert_eq!(ev.namespaces[0].sockets.len(), n as usize);
    assert_eq!(ev.unread.count, 0);

    let t = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "awk '{{print $5}}' {} | awk -F: '{{print $1}}' | sort | uniq -c | sort -rn > /dev/null",
            path.display()
        ))
        .status()
        .expect("sh");
    let theirs = t.elapsed();
    assert!(out.success());
    println!(
        "{n} lines, {:.1} MB: sockdoc-evidence read {:.3} s; awk|sort|uniq -c|sort -rn {:.3} s",
        size as f64 / 1e6,
        ours.as_secs_f64(),
        theirs.as_secs_f64()
    );
}
