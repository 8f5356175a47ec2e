//! Which sockets this process holds: the inodes behind `/proc/self/fd/*` -> `socket:[N]`.
//!
//! A cheap, exact stand-in for `ss -p` when the question is only "which of these sockets are
//! ours, under which descriptors?" (`ss -p` reads every process's descriptors, which takes
//! seconds on a host where some process holds hundreds of thousands of files).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;

/// Socket inode -> the descriptors of this process that refer to it.
pub fn own_sockets() -> io::Result<BTreeMap<u64, Vec<i32>>> {
    let mut sockets: BTreeMap<u64, Vec<i32>> = BTreeMap::new();
    for entry in fs::read_dir("/proc/self/fd")? {
        let entry = entry?;
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        // A descriptor closed since the listing has no link any more; skip it.
        let Ok(target) = fs::read_link(entry.path()) else {
            continue;
        };
        if let Some(ino) = socket_inode(&target.to_string_lossy()) {
            sockets.entry(ino).or_default().push(fd);
        }
    }
    Ok(sockets)
}

/// Inodes of the sockets open in this process.
pub fn own_socket_inodes() -> io::Result<BTreeSet<u64>> {
    Ok(own_sockets()?.into_keys().collect())
}

/// This process's name as ss and sockdoc print it (`/proc/self/comm`, at most 15 bytes).
pub fn own_comm() -> io::Result<String> {
    Ok(fs::read_to_string("/proc/self/comm")?
        .trim_end_matches('\n')
        .to_string())
}

/// `socket:[1234]` -> 1234.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn parses_links() {
        assert_eq!(socket_inode("socket:[1234]"), Some(1234));
        assert_eq!(socket_inode("pipe:[1234]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    #[test]
    fn finds_an_open_socket() {
        let u = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let fd = u.as_raw_fd();
        let ino = fs::metadata(format!("/proc/self/fd/{fd}"))
            .expect("stat fd")
            .ino();
        assert!(own_socket_inodes().expect("read fds").contains(&ino));
        assert!(own_sockets().expect("read fds")[&ino].contains(&fd));
        assert!(!own_comm().expect("comm").is_empty());
    }
}
