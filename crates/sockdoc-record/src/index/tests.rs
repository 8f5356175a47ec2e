//! The index on a real directory: scans appended, a restart that keeps first-seen times, compaction
//! dropping gone cookies, a damaged tail left out with a warning, another boot refused.

use super::*;

fn scan(index: &mut Index, f: &mut IndexFile, cookies: &[u64], now: u64) {
    index.begin();
    for c in cookies {
        index.observe(*c, now);
    }
    let (fresh, _) = index.end();
    f.append(now, fresh).expect("append");
}

#[test]
fn first_seen_times_survive_a_restart_and_compaction_drops_the_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut f, mut index, warnings) = IndexFile::open(dir.path()).expect("open");
    assert!(warnings.is_empty(), "{warnings:?}");
    scan(&mut index, &mut f, &[10, 11, 12], 1_000);
    scan(&mut index, &mut f, &[10, 11, 12, 13], 2_000);
    scan(&mut index, &mut f, &[11, 12, 13, 14], 3_000);
    assert_eq!(index.len(), 4);
    assert_eq!(index.get(10), None, "forgotten once a scan missed it");
    let r = read(dir.path()).expect("read").expect("a file");
    assert_eq!(r.first_seen(11), Some(1_000));
    assert_eq!(r.first_seen(13), Some(2_000));
    assert_eq!(r.first_seen(14), Some(3_000));
    assert_eq!(r.last_scan_ms, Some(3_000));
    // Not compacted yet: the gone cookie is still in the file (harmless: cookies are not reused).
    assert_eq!(r.first_seen(10), Some(1_000));
    let before = f.size();
    f.compact(3_000, &index).expect("compact");
    assert!(f.size() < before);
    let r = read(dir.path()).expect("read").expect("a file");
    assert_eq!(r.first_seen(10), None);
    assert_eq!(r.len(), 4);
    assert_eq!(r.last_scan_ms, Some(3_000));
    drop(f);
    // A restart: what the file held is known again, and a cookie seen again keeps its time.
    let (mut f, mut index, warnings) = IndexFile::open(dir.path()).expect("reopen");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(index.get(11), Some(1_000));
    scan(&mut index, &mut f, &[11, 15], 9_000);
    assert_eq!(index.get(11), Some(1_000));
    assert_eq!(index.get(15), Some(9_000));
    assert_eq!(index.get(12), None);
    let r = read(dir.path()).expect("read").expect("a file");
    assert_eq!(r.first_seen(11), Some(1_000));
    assert_eq!(r.first_seen(15), Some(9_000));
}

#[test]
fn a_damaged_tail_is_left_out_with_a_warning_and_another_boot_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut f, mut index, _) = IndexFile::open(dir.path()).expect("open");
    scan(&mut index, &mut f, &[1, 2], 1_000);
    scan(&mut index, &mut f, &[1, 2, 3], 2_000);
    drop(f);
    let path = dir.path().join(FILE);
    let len = std::fs::metadata(&path).expect("meta").len();
    // A crash while appending: the last block cut short.
    let file = OpenOptions::new().write(true).open(&path).expect("open");
    file.set_len(len - 2).expect("truncate");
    let r = read(dir.path()).expect("read").expect("a file");
    assert!(r.damaged.is_some());
    assert_eq!(r.first_seen(1), Some(1_000));
    assert_eq!(r.first_seen(3), None);
    let (f, index, warnings) = IndexFile::open(dir.path()).expect("reopen");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("cut short"), "{warnings:?}");
    assert_eq!(index.get(2), Some(1_000));
    drop(f);
    // Compacted at the restart: nothing damaged any more.
    assert!(read(dir.path())
        .expect("read")
        .expect("file")
        .damaged
        .is_none());
    match read_for(dir.path(), "another-boot") {
        Err(ReadError::OtherBoot { .. }) => {}
        other => panic!("expected another boot, got {other:?}"),
    }
    std::fs::write(&path, b"not an index at all").expect("write");
    let (_, index, warnings) = IndexFile::open(dir.path()).expect("reopen");
    assert!(index.is_empty());
    assert!(
        warnings[0].contains("not a sockdoc first-seen index"),
        "{warnings:?}"
    );
}

#[test]
fn memory_follows_the_live_sockets_not_the_churn() {
    let mut index = Index::default();
    // 300 scans, each seeing 1,000 long-lived sockets and 5,000 that live for one scan only.
    for s in 0..300u64 {
        index.begin();
        for c in 0..1_000 {
            index.observe(c, 1);
        }
        for c in 0..5_000 {
            index.observe(1_000_000 + s * 5_000 + c, s);
        }
        index.end();
        assert!(index.len() <= 6_000);
        assert!(index.capacity() <= 16_384, "{}", index.capacity());
    }
}

#[test]
fn the_last_order_predicts_and_anything_else_is_still_found() {
    use sockdoc_diag::TcpInfo;
    // Against a plain map: sockets made, closed, moved in the order, sent twice by one dump.
    let mut index = Index::default();
    let mut model: std::collections::HashMap<u64, (u64, u32)> = Default::default();
    let mut live: Vec<u64> = (1..=2_000).collect();
    let mut x = 7u64;
    let mut next = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let mut cookie = 10_000u64;
    for scan in 1..=60u64 {
        // Some closed, some made (at the front of a bucket: anywhere), a few moved.
        live.retain(|_| next(10) != 0);
        for _ in 0..next(300) {
            cookie += 1 + next(3);
            let at = next(live.len() as u64 + 1) as usize;
            live.insert(at, cookie);
        }
        for _ in 0..5 {
            let (a, b) = (next(live.len() as u64), next(live.len() as u64));
            live.swap(a as usize, b as usize);
        }
        let mut sent = live.clone();
        if scan % 7 == 0 {
            let twice = sent[next(sent.len() as u64) as usize];
            sent.push(twice);
        }
        index.begin();
        let mut fresh = Vec::new();
        for &c in &sent {
            let (first, slot) = index.observe(c, scan);
            assert_eq!(first, model.get(&c).map_or(scan, |m| m.0));
            match model.get(&c) {
                Some(&(_, mark)) => {
                    let kept = slot.map(|t| t.unacked);
                    assert_eq!(kept, Some(mark), "cookie {c} keeps its tcp_info");
                }
                None => {
                    assert!(slot.is_none(), "a new cookie has no tcp_info");
                    model.insert(c, (scan, c as u32));
                    fresh.push(c);
                }
            }
            *slot = Some(TcpInfo {
                unacked: c as u32,
                ..TcpInfo::default()
            });
        }
        let before = model.len();
        model.retain(|c, _| live.contains(c));
        let (got, gone) = index.end();
        fresh.sort_unstable();
        assert_eq!(got, fresh, "scan {scan}");
        assert_eq!(gone, before - model.len(), "scan {scan}");
        assert_eq!(index.len(), model.len());
        for (c, (first, _)) in &model {
            assert_eq!(index.get(*c), Some(*first), "cookie {c}");
        }
    }
}

#[test]
fn after_a_burst_the_slab_gives_its_memory_back_and_keeps_what_lives() {
    let mut index = Index::default();
    index.begin();
    for c in 1..=10_000 {
        index.observe(c, 1);
    }
    index.end();
    index.begin();
    for c in (1..=10_000).step_by(100) {
        index.observe(c, 2);
    }
    let (fresh, gone) = index.end();
    assert!(fresh.is_empty());
    assert_eq!(gone, 9_900);
    assert_eq!(index.capacity(), 100, "the slab holds only what lives");
    index.begin();
    for c in (1..=10_000).step_by(100).chain([20_000]) {
        index.observe(c, 3);
    }
    let (fresh, gone) = index.end();
    assert_eq!((fresh, gone), (vec![20_000], 0));
    assert_eq!(index.get(101), Some(1));
    assert_eq!(index.get(20_000), Some(3));
    assert_eq!(index.get(102), None);
}
