//! The cgroup tree of this host: found, walked, named by id as `/proc/self/cgroup` names it; a new
//! cgroup found by one more walk; the detached mount seeing the same tree and leaving nothing
//! mounted. Creating cgroups needs root.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sockdoc_lab::cgroup::Cgroup;

use super::mount::{cgroup2_mount_point, detached_for_tests};
use super::*;

fn own_cgroup() -> String {
    let text = std::fs::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup");
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("a cgroup2 line")
        .to_string()
}

#[test]
fn the_tree_names_our_own_cgroup_by_its_id() {
    let fs = CgroupFs::find().expect("a cgroup2 tree");
    let Found::Mounted(root) = &fs.found else {
        panic!("this host mounts cgroup2: {:?}", fs.found)
    };
    let tree = fs.walk().expect("walk");
    let mine = own_cgroup();
    let dir = root.join(mine.trim_start_matches('/'));
    let id = std::fs::metadata(&dir).expect("own cgroup dir").ino();
    assert_eq!(tree.path(id).as_deref(), Some(mine.as_str()));
    let root_id = std::fs::metadata(root).expect("root").ino();
    assert_eq!(tree.root_id(), Some(root_id));
    assert_eq!(tree.path(root_id).as_deref(), Some("/"));
    assert_eq!(tree.ids_down(root_id), Some(vec![]));
}

#[test]
fn a_new_cgroup_costs_one_walk_and_an_unknown_id_only_one() {
    let cg = Cgroup::slice().expect("create a cgroup (root?)");
    let web = cg.child("web.service").expect("child");
    let mut index = CgroupIndex::new(CgroupFs::find().expect("tree")).expect("walk");
    let tree = index.lookup([web.id()]).expect("lookup");
    assert_eq!(tree.path(web.id()), Some(web.rel()));
    assert_eq!(
        tree.ids_down(web.id()),
        Some(vec![cg.id(), web.id()]),
        "the slice, then the service"
    );
    let walks = index.walks();
    let api = cg.child("api.service").expect("child");
    let tree = index.lookup([api.id(), web.id(), 0]).expect("lookup");
    assert_eq!(tree.path(api.id()), Some(api.rel()));
    assert_eq!(index.walks(), walks + 1, "one walk for the new cgroup");
    let gone = u64::MAX - 7;
    assert!(!index.lookup([gone, gone]).expect("lookup").contains(gone));
    assert_eq!(index.walks(), walks + 2, "one walk for an unknown id");
    index.lookup([gone, api.id()]).expect("lookup");
    assert_eq!(index.walks(), walks + 2, "known missing: no walk again");
}

#[test]
fn a_detached_mount_sees_the_same_tree_and_leaves_nothing_mounted() {
    let cg = Cgroup::slice().expect("create a cgroup (root?)");
    let before = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let fs = CgroupFs {
        root: detached_for_tests().expect("fsopen/fsmount cgroup2 (root?)"),
        found: Found::Detached,
    };
    let tree = fs.walk().expect("walk");
    assert_eq!(tree.path(cg.id()), Some(cg.rel()));
    assert_eq!(tree.root_id(), Some(1), "the host's root cgroup");
    let during = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert_eq!(before, during, "attached nowhere");
    drop(fs);
}

#[test]
fn mountinfo_lines_give_the_cgroup2_mount_point() {
    let cases: [(&[u8], Option<&str>); 6] = [
        // Hybrid: the unified hierarchy beside v1 ones.
        (
            b"31 23 0:27 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
              32 31 0:28 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate\n\
              33 31 0:29 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n",
            Some("/sys/fs/cgroup/unified"),
        ),
        (
            b"35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 master:1 - cgroup2 cgroup2 rw\n",
            Some("/sys/fs/cgroup"),
        ),
        // A bind mount of a subtree only when nothing mounts the root; escapes undone.
        (
            b"40 1 0:30 /sub /mnt/sub rw - cgroup2 cgroup2 rw\n\
              41 1 0:30 / /mnt/cg\\040root rw - cgroup2 cgroup2 rw\n",
            Some("/mnt/cg root"),
        ),
        (
            b"40 1 0:30 /sub /mnt/sub rw - cgroup2 cgroup2 rw\n",
            Some("/mnt/sub"),
        ),
        (b"garbage\n- cgroup2\n\n", None),
        (b"", None),
    ];
    for (text, want) in cases {
        assert_eq!(
            cgroup2_mount_point(text).as_deref(),
            want.map(Path::new),
            "{}",
            String::from_utf8_lossy(text)
        );
    }
}

#[test]
fn a_process_cgroup_path_gives_its_id() {
    let cg = Cgroup::slice().expect("create a cgroup (root?)");
    let api = cg.child("api.service").expect("child");
    let pid = cg.spawn(&api, None, &["sleep", "100"]).expect("start");
    let fs = CgroupFs::find().expect("tree");
    // The shell writes its pid into cgroup.procs first thing: wait for it to be moved.
    let path = sockdoc_lab::wait::poll(
        std::time::Duration::from_secs(10),
        "the process to join its cgroup",
        || {
            let path = CgroupFs::path_of_pid(pid)?;
            Ok(if path == api.rel() {
                Ok(path)
            } else {
                Err(path)
            })
        },
    )
    .expect("/proc/PID/cgroup");
    assert_eq!(fs.id_of(&path).expect("id"), api.id());
    assert_eq!(fs.id_of("/").expect("root"), 1, "the host's root cgroup");
    let gone = fs.id_of(&format!("{}/no-such.service", cg.rel()));
    assert!(gone.is_err(), "{gone:?}");
}
