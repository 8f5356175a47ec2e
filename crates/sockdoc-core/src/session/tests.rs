//! The session on real sockets of this process: owners by policy, filters pushed down and decided
//! late, counting views.

use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use super::*;

fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = l.local_addr().expect("local addr").port();
    (l, port)
}

fn words(text: &str) -> Vec<String> {
    text.split(' ').map(String::from).collect()
}

fn session(filter: &str, owners: bool, refresh: Refresh) -> (Session, Netns) {
    let scope = Scope::resolve(&Which::Current).expect("own namespace");
    let ns = scope.namespaces[0].clone();
    let needs = Needs {
        owners,
        tcp_info: false,
        cgroups: false,
    };
    let plan = Plan::parse(Protocols::TCP, &words(filter), needs).expect("filter");
    (Session::new(scope, plan, refresh).expect("session"), ns)
}

#[test]
fn a_sample_finds_our_listener_with_its_owner() {
    let (l, port) = listener();
    let (mut s, _) = session(&format!("sport = :{port}"), true, Refresh::PerRun);
    let samples = s.samples().expect("sample");
    assert_eq!(samples.len(), 1);
    let sample = &samples[0];
    assert_eq!(sample.sockets.len(), 1, "exactly our listener");
    let o = sample.owner_map().expect("owners read alongside");
    let mine = o
        .owners(sample.sockets[0].inode)
        .find(|w| w.pid == std::process::id());
    assert_eq!(mine.map(|w| w.fd), Some(l.as_raw_fd() as u32));
}

#[test]
fn per_run_reads_owners_once_and_lazy_only_when_asked() {
    let (_l, port) = listener();
    let (s, ns) = session(&format!("sport = :{port}"), true, Refresh::PerRun);
    let a = s.sample(&ns).expect("first");
    let b = s.sample(&ns).expect("second");
    let (fa, fb) = (a.owners.expect("read"), b.owners.expect("shared"));
    assert!(Arc::ptr_eq(&fa.map, &fb.map), "one read per run");

    let (s, ns) = session(&format!("sport = :{port}"), false, Refresh::Lazy);
    let mut c = s.sample(&ns).expect("lazy");
    assert!(c.owners.is_none(), "nothing read until asked");
    assert!(s.owners_of(&mut c).is_some(), "read when asked");
}

#[test]
fn a_filter_on_processes_is_decided_with_the_owners() {
    let (_l, port) = listener();
    let me = std::process::id();
    let (s, ns) = session(
        &format!("sport = :{port} and pid {me}"),
        false,
        Refresh::Lazy,
    );
    assert_eq!(s.sample(&ns).expect("sample").sockets.len(), 1);
    let (s, ns) = session(&format!("sport = :{port} and pid 1"), false, Refresh::Lazy);
    assert!(s.sample(&ns).expect("sample").sockets.is_empty());
}

#[test]
fn counts_see_what_samples_see() {
    let (_l, port) = listener();
    let (mut s, _) = session(&format!("sport = :{port}"), false, Refresh::PerRun);
    let counted = s.counts(|_| 0usize, |n, _| *n += 1).expect("count");
    let n: usize = counted[0].census.dumps.iter().map(|d| d.acc).sum();
    assert_eq!(n, 1);
}

#[test]
fn a_background_reader_lands_without_a_sample_waiting_long() {
    let (_l, port) = listener();
    let (s, ns) = session(
        &format!("sport = :{port}"),
        true,
        Refresh::Background(Duration::from_secs(60)),
    );
    let sample = s.sample(&ns).expect("sample");
    assert!(sample.owner_map().is_some(), "the first read is waited for");
}

/// A listener made in a fresh namespace by a thread of this process (which, by its main thread, lives
/// in the caller's namespace): its owner is outside the namespace looked at. Needs root.
fn listener_in_fresh_netns() -> (TcpListener, Netns) {
    let l = std::thread::spawn(|| {
        // SAFETY: unshare affects only this thread's network namespace.
        assert_eq!(
            unsafe { libc::unshare(libc::CLONE_NEWNET) },
            0,
            "unshare (root?)"
        );
        TcpListener::bind("0.0.0.0:0").expect("bind in the fresh namespace")
    })
    .join()
    .expect("thread");
    let ns = Netns::of_socket(std::os::fd::AsFd::as_fd(&l)).expect("its namespace");
    (l, ns)
}

#[test]
fn an_owner_outside_the_namespace_is_still_found() {
    let (l, ns) = listener_in_fresh_netns();
    assert!(!ns.current);
    let needs = Needs {
        owners: true,
        tcp_info: false,
        cgroups: false,
    };
    let plan = Plan::parse(Protocols::TCP, &words("state listening"), needs).expect("filter");
    let s = Session::new(Scope::one(ns.clone()), plan, Refresh::PerRun).expect("session");
    let sample = s.sample(&ns).expect("sample");
    assert_eq!(
        sample.sockets.len(),
        1,
        "the one listener of the fresh namespace"
    );
    let o = sample.owner_map().expect("owners");
    assert!(
        o.netns.is_none(),
        "the namespace's own processes did not cover it: every process read"
    );
    let mine = o
        .owners(sample.sockets[0].inode)
        .find(|w| w.pid == std::process::id());
    assert_eq!(mine.map(|w| w.fd), Some(l.as_raw_fd() as u32));
}

#[test]
fn the_own_namespace_reads_every_process() {
    let (_l, port) = listener();
    let (s, ns) = session(&format!("sport = :{port}"), true, Refresh::PerRun);
    let sample = s.sample(&ns).expect("sample");
    let o = sample.owner_map().expect("owners");
    assert_eq!(o.netns, None, "the caller's namespace: no scoping");
    assert!(o.owners(sample.sockets[0].inode).next().is_some());
}

/// A free loopback port (bound and let go; the server binds it next).
fn free_port() -> u16 {
    listener().1
}

#[test]
fn a_sample_names_the_unit_of_a_server_in_its_cgroup() {
    let slice = sockdoc_lab::cgroup::Cgroup::slice().expect("create a cgroup (root?)");
    let web = slice.child("web.service").expect("child cgroup");
    let port = free_port();
    let spec = format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr");
    slice
        .spawn(&web, None, &["socat", &spec, "EXEC:/bin/cat"])
        .expect("start socat in the cgroup");
    let scope = Scope::resolve(&Which::Current).expect("own namespace");
    let ns = scope.namespaces[0].clone();
    let needs = Needs {
        cgroups: true,
        ..Needs::default()
    };
    let plan = Plan::parse(
        Protocols::TCP,
        &words(&format!("sport = :{port} and state listening")),
        needs,
    )
    .expect("filter");
    let s = Session::new(scope, plan, Refresh::PerRun).expect("session");
    let sample = sockdoc_lab::wait::poll(Duration::from_secs(10), "socat to listen", || {
        let sample = s.sample(&ns).map_err(std::io::Error::other)?;
        Ok(if sample.sockets.len() == 1 {
            Ok(sample)
        } else {
            Err(format!("{:?}", sample.sockets))
        })
    })
    .expect("the listener");
    let sock = sample.sockets[0];
    assert_eq!(
        sock.cgroup_id,
        web.id(),
        "the kernel's id is the directory's inode"
    );
    let services = sample.services.as_ref().expect("services asked for");
    let crate::service::Lookup::Found(svc) = services.get(sock.cgroup_id) else {
        panic!("not named: {:?}", services.get(sock.cgroup_id))
    };
    assert_eq!(svc.path, web.rel());
    assert_eq!(svc.unit.as_deref(), Some("web.service"));
    assert_eq!(svc.slice.as_deref(), Some(slice.name()));
    assert_eq!((svc.unit_id, svc.container.as_ref()), (web.id(), None));
    // A cgroup below the unit counts as the unit.
    let worker = slice.child("web.service/worker").expect("nested cgroup");
    let more = s.services([worker.id(), 0]);
    assert_eq!(more.unit_id(worker.id()), web.id());
    assert_eq!(more.get(0), crate::service::Lookup::NoCgroup);
}

/// A process holding one listening socket (python3), killed on drop.
struct Holder(std::process::Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_background_reader_reads_again_only_what_may_have_changed() {
    use std::io::BufRead;
    let script = "import os,socket,time\nl=socket.socket(); l.bind(('127.0.0.1',0)); l.listen()\n\
                  print(os.fstat(l.fileno()).st_ino, flush=True)\ntime.sleep(120)\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let out = child.stdout.take().expect("stdout");
    let holder = Holder(child);
    let mut line = String::new();
    std::io::BufReader::new(out)
        .read_line(&mut line)
        .expect("inode");
    let inode: u32 = line.trim().parse().expect("an inode");
    let pid = holder.0.id();
    let cache = OwnerCache::new(ProcFds, Refresh::Background(Duration::from_millis(10)))
        .expect("background reader");
    // The census shows the holder's socket: the holder, unchanged, is taken as the walk found it.
    cache.census_inodes(Box::new(move || vec![inode]));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let again = loop {
        if let Some(f) = cache.latest() {
            if f.map.stats.reused > 0 {
                break f;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no read again took a process as it was (a kernel before 6.2 cannot tell)"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let owners: Vec<u32> = again.map.owners(inode).map(|o| o.pid).collect();
    assert_eq!(owners, [pid], "the holder's socket is still named");
    assert!(again
        .map
        .process(pid)
        .is_some_and(|p| p.name.starts_with("python")));
}

#[test]
fn a_census_fills_the_buffer_the_last_one_handed_back() {
    let (mut s, _) = session("", false, Refresh::PerRun);
    let mut samples = s.samples().expect("sample");
    // As a daemon's census of 100k sockets leaves it.
    samples[0].sockets = Vec::with_capacity(100_000);
    let at = samples[0].sockets.as_ptr() as usize;
    s.recycle(samples);
    // A small dump (the dumps run at once) does not take it; one of about as many sockets does.
    assert!(s.buffer(64).capacity() < 100_000);
    let big = s.buffer(90_000);
    assert_eq!(big.as_ptr() as usize, at, "the same buffer");
    assert!(big.is_empty());
    assert!(
        s.buffer(90_000).capacity() >= 90_000,
        "a new one once it is taken"
    );
}
