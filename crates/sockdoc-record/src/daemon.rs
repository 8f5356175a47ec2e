//! The recorder's loop: a census every interval through the one census session, the first-seen
//! index updated from it, the doctor's findings of the minute recorded, tcp_info read every
//! `info_every` and carried between ([`crate::carry`]), a full snapshot (owners and tcp_info
//! included) every `full_every`, the directory pruned to the retention and the budget; SIGINT and
//! SIGTERM end it between two scans.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use sockdoc_core::doctor::KernelState;
use sockdoc_core::i18n::record::{text, RecordMsg};
use sockdoc_core::i18n::Lang;
use sockdoc_core::session::{KernelPlan, Needs, Plan, Refresh, Sample, Scope, Session};
use sockdoc_core::units::duration_ms;
use sockdoc_evidence::snapshot::{self, Identity, NsSnapshot};
use sockdoc_proc::sysctl;
use sockdoc_runtime::{log_line, signals};

use crate::carry::Carry;
use crate::index::{self, Index, IndexFile};
use crate::minute::{self, Minute, NsMinute, RecordedFinding};
use crate::store::{self, Kind};
use crate::when;

/// Full snapshots per walk of every process's descriptors; between, a walk reads only the
/// processes whose descriptor count changed or whose sockets left the census (a process with 300k
/// idle connections is then not read again). Hourly at the default `--full-every`, as `top` does.
const WALK_ALL_EVERY: u64 = 6;

/// What the recorder is told.
#[derive(Clone, Debug)]
pub struct Options {
    pub dir: PathBuf,
    /// Time between two censuses (at least a second).
    pub every: Duration,
    /// Time between two full snapshots (at least `every`).
    pub full_every: Duration,
    /// Time between two readings of tcp_info (at least `every`; every full snapshot reads it too).
    pub info_every: Duration,
    /// The directory's budget in bytes, the index included.
    pub max_bytes: u64,
    /// How long files are kept.
    pub keep: Duration,
    /// The doctor's ghost threshold (`None`: each namespace's keepalive window).
    pub idle: Option<Duration>,
    pub lang: Lang,
}

/// Why the recorder could not run.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{0}")]
    Dir(String),
    #[error("{0}")]
    Session(String),
}

/// What a run did (its last line says it too).
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub scans: u64,
    /// CPU (user + system) of the whole process per scan, on average.
    pub cpu_per_scan: Duration,
    pub indexed: usize,
    pub bytes: u64,
}

/// The counters a namespace's last scan ended with: the next minute's rates are over the interval.
struct LastKernel {
    state: KernelState,
    at: Instant,
}

struct Recorder {
    opts: Options,
    session: Session,
    index: Index,
    file: IndexFile,
    last_full: Option<Instant>,
    last_info: Option<Instant>,
    /// The last reading of tcp_info, which the scans between readings are given.
    carry: Carry,
    last_kernel: FxHashMap<u64, LastKernel>,
    /// The owners of the last full snapshot's walk, which the minutes between are judged with
    /// (sockets made since have none yet: "owner unknown").
    last_owners: Option<std::sync::Arc<sockdoc_proc::SocketOwners>>,
    /// Full snapshots taken: every [`WALK_ALL_EVERY`]th walks every process's descriptors, the
    /// others only those of processes that may have changed since the last walk.
    walks: u64,
    /// The directory's files, read again at each full snapshot (`None`: read at the next prune).
    catalog: Option<store::Catalog>,
    host: Option<String>,
    kernel: Option<String>,
    scans: u64,
    bytes: u64,
}

/// Run the recorder over `scope` until SIGINT or SIGTERM (see the module comment).
pub fn run(scope: Scope, opts: Options) -> Result<Summary, RecordError> {
    let lang = opts.lang;
    let dir = opts.dir.clone();
    let fail = |what: &str, e: std::io::Error| {
        RecordError::Dir(text(
            lang,
            RecordMsg::WriteFailed,
            &[what, &dir.display().to_string(), &e.to_string()],
        ))
    };
    store::create(&dir).map_err(|e| fail("the directory", e))?;
    let (file, index, warnings) = IndexFile::open(&dir).map_err(|e| fail(index::FILE, e))?;
    for w in warnings {
        log_line!("{}", text(lang, RecordMsg::Warning, &[&w]));
    }
    signals::install();
    // Owners are walked only for the full snapshots (at 300k sockets the /proc walk is ~0.6 s of
    // CPU, most of a scan); the minutes between are judged with the last walk's owners.
    let plan = Plan::everything(Needs {
        owners: false,
        ..Needs::DOCTOR
    });
    let session = Session::new(scope, plan, Refresh::Lazy)
        .map_err(|e| RecordError::Session(e.to_string()))?
        .with_kernel(KernelPlan::AroundCensus)
        .owners_for_the_record();
    let namespaces = session.scope.namespaces.len();
    log_line!(
        "{}",
        text(
            lang,
            RecordMsg::Started,
            &[
                &namespaces.to_string(),
                &duration_ms(opts.every.as_millis() as u64),
                &dir.display().to_string(),
                &duration_ms(opts.full_every.as_millis() as u64),
                &duration_ms(opts.info_every.as_millis() as u64),
                &size(opts.max_bytes),
                &duration_ms(opts.keep.as_millis() as u64),
                &index.len().to_string(),
            ],
        )
    );
    let mut r = Recorder {
        opts,
        session,
        index,
        file,
        last_full: None,
        last_info: None,
        carry: Carry::default(),
        last_kernel: FxHashMap::default(),
        last_owners: None,
        walks: 0,
        catalog: None,
        host: sysctl::read("kernel.hostname").ok().flatten(),
        kernel: sysctl::read("kernel.osrelease").ok().flatten(),
        scans: 0,
        bytes: 0,
    };
    let cpu_start = cpu_time();
    while !signals::stopped() {
        let started = Instant::now();
        r.scan_once(started);
        let next = started + r.opts.every;
        while Instant::now() < next && !signals::stopped() {
            std::thread::sleep(
                Duration::from_millis(50).min(next.saturating_duration_since(Instant::now())),
            );
        }
    }
    let summary = Summary {
        scans: r.scans,
        cpu_per_scan: cpu_time()
            .saturating_sub(cpu_start)
            .checked_div(r.scans.max(1) as u32)
            .unwrap_or_default(),
        indexed: r.index.len(),
        bytes: r.bytes,
    };
    log_line!(
        "{}",
        text(
            lang,
            RecordMsg::Stopped,
            &[
                &summary.scans.to_string(),
                &format!("{:.3} s", summary.cpu_per_scan.as_secs_f64()),
                &summary.indexed.to_string(),
                &size(summary.bytes),
            ],
        )
    );
    Ok(summary)
}

impl Recorder {
    /// One scan; what fails is logged and the next interval tries again.
    fn scan_once(&mut self, started: Instant) {
        let lang = self.opts.lang;
        let due = |last: Option<Instant>, every: Duration| {
            last.is_none_or(|t| started.duration_since(t) >= every)
        };
        let full = due(self.last_full, self.opts.full_every);
        let info = full || due(self.last_info, self.opts.info_every);
        self.session.plan.spec.tcp_info = info;
        let taken_ms = when::now_ms();
        let mut samples = match self.session.samples() {
            Ok(s) => s,
            Err(e) => {
                log_line!("{}", text(lang, RecordMsg::ScanFailed, &[&e.to_string()]));
                return;
            }
        };
        // First seen: as the census ended (a socket made while it ran may be in it).
        let ended_ms = when::now_ms();
        let census = started.elapsed();
        let again = !self.walks.is_multiple_of(WALK_ALL_EVERY);
        if full {
            self.walks += 1;
            if !again {
                // Walked anew: the last walk's map is not needed, and two at once only raise the peak.
                self.last_owners = None;
            }
        }
        for s in &mut samples {
            if full {
                match self.last_owners.clone().filter(|_| again) {
                    Some(before) => self.session.owners_again_of(s, &before),
                    None => self.session.owners_of(s),
                };
                if let Some(e) = s.owner_error.take() {
                    log_line!("{}", text(lang, RecordMsg::Warning, &[&e]));
                }
                if let Some(f) = &s.owners {
                    self.last_owners = Some(f.map.clone());
                }
            }
            self.over_the_interval(s);
        }
        // First seen, and tcp_info kept or carried (`crate::carry`): one index lookup a socket.
        if info {
            self.last_info = Some(started);
        }
        let tcp_info_ms = self.carry.begin(info, ended_ms);
        self.index.begin();
        // A full snapshot keeps each socket's first-seen time (0 for those not indexed).
        let mut seen: Vec<Vec<u64>> = Vec::new();
        for sample in &mut samples {
            let mut times = Vec::with_capacity(if full { sample.sockets.len() } else { 0 });
            for s in &mut sample.sockets {
                let mut first = 0;
                if index::indexed(s) {
                    let (t, slot) = self.index.observe(s.cookie, ended_ms);
                    self.carry.pass(info, s, slot);
                    first = t;
                }
                if full {
                    times.push(first);
                }
            }
            seen.push(times);
        }
        let (fresh, _gone) = self.index.end();
        let first_seen = fresh.len() as u64;
        let snapshot = if full {
            self.last_full = Some(started);
            // What else came and went in the directory is seen again once per full snapshot.
            self.catalog = None;
            self.snapshot(&samples, &seen, taken_ms, census)
        } else {
            None
        };
        let index_written = if full || self.file.due() {
            self.file.compact(ended_ms, &self.index)
        } else {
            self.file.append(ended_ms, fresh)
        };
        if let Err(e) = index_written {
            self.write_failed(index::FILE, &e);
        }
        let m = Minute {
            format: minute::FORMAT.to_string(),
            version: minute::VERSION,
            taken: when::rfc3339(ended_ms),
            taken_ms: ended_ms,
            census_ms: census.as_millis() as u64,
            snapshot,
            indexed: self.index.len() as u64,
            first_seen,
            tcp_info_ms,
            namespaces: samples.iter().map(|s| self.judge(s)).collect(),
        };
        self.session.recycle(samples);
        let path = store::path_for(&self.opts.dir, Kind::Minute, ended_ms);
        let written = minute::encode(&m).and_then(|bytes| {
            snapshot::write_atomic(&path, |w| w.write_all(&bytes)).map(|_| bytes.len())
        });
        match written {
            Ok(n) => self.added(Kind::Minute, ended_ms, n as u64),
            Err(e) => self.write_failed("a minute record", &e),
        }
        self.scans += 1;
        self.prune(ended_ms);
        trim_heap();
    }

    /// A file this scan wrote, for the catalog.
    fn added(&mut self, kind: Kind, taken_ms: u64, bytes: u64) {
        if let Some(c) = &mut self.catalog {
            c.add(kind, taken_ms, bytes);
        }
    }

    /// Hold the retention and the budget (`store`), from the catalog.
    fn prune(&mut self, now_ms: u64) {
        if self.catalog.is_none() {
            match store::Catalog::read(&self.opts.dir) {
                Ok(c) => self.catalog = Some(c),
                Err(e) => return self.write_failed("(pruning)", &e),
            }
        }
        let keep = self.opts.keep.as_millis() as u64;
        let max = self.opts.max_bytes;
        match self.catalog.as_mut().map(|c| c.prune(now_ms, keep, max)) {
            Some(Ok(p)) => self.bytes = p.left,
            Some(Err(e)) => {
                self.catalog = None;
                self.write_failed("(pruning)", &e);
            }
            None => {}
        }
    }

    /// The kernel counters of `s` compared with the last scan's: rates over the interval.
    fn over_the_interval(&mut self, s: &mut Sample) {
        let Some(k) = s.kernel.as_mut() else {
            return;
        };
        let now = Instant::now();
        if let Some(last) = self.last_kernel.get(&s.ns.inode) {
            k.counters_before = last.state.counters_after.clone();
            k.conntrack_before = last.state.conntrack_after;
            k.interval = now.duration_since(last.at);
        }
        self.last_kernel.insert(
            s.ns.inode,
            LastKernel {
                state: k.clone(),
                at: now,
            },
        );
    }

    /// The doctor on `s`: the minute's findings of one namespace.
    fn judge(&self, s: &Sample) -> NsMinute {
        // The minutes between full snapshots walk no /proc: the last walk's owners.
        let last = match (&s.owners, &self.last_owners) {
            (None, Some(last)) => Some(last.as_ref() as &dyn sockdoc_core::Owners),
            _ => None,
        };
        let findings = s.diagnose(last, self.opts.idle, Lang::En);
        let (tcp, udp) = minute::state_counts(&s.sockets);
        NsMinute {
            label: s.ns.label(),
            tcp,
            udp,
            findings: findings.iter().map(RecordedFinding::of).collect(),
            notes: s.notes.clone(),
        }
    }

    /// The full snapshot of this scan; its file name, or `None` when it could not be written.
    fn snapshot(
        &self,
        samples: &[Sample],
        first_seen: &[Vec<u64>],
        taken_ms: u64,
        census: Duration,
    ) -> Option<String> {
        let id = Identity {
            host: self.host.clone(),
            kernel: self.kernel.clone(),
            taken: when::rfc3339(taken_ms),
            census,
        };
        let parts: Vec<NsSnapshot<'_>> = samples
            .iter()
            .zip(first_seen)
            .map(|(s, times)| NsSnapshot {
                first_seen: Some(times),
                ..NsSnapshot::of(s)
            })
            .collect();
        let path = store::path_for(&self.opts.dir, Kind::Snapshot, taken_ms);
        match snapshot::write_atomic(&path, |w| snapshot::encode_to(&id, &parts, w)) {
            Ok(_) => path.file_name().map(|n| n.to_string_lossy().into_owned()),
            Err(e) => {
                self.write_failed("a snapshot", &e);
                None
            }
        }
    }

    fn write_failed(&self, what: &str, e: &std::io::Error) {
        let dir = self.opts.dir.display().to_string();
        let line = text(
            self.opts.lang,
            RecordMsg::WriteFailed,
            &[what, &dir, &e.to_string()],
        );
        log_line!("{line}");
    }
}

/// `1.0 GiB`, `12.3 MiB`, `800 KiB`, `512 B`.
pub fn size(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        n if n >= 1 << 30 => format!("{:.1} GiB", b / f64::from(1u32 << 30)),
        n if n >= 1 << 20 => format!("{:.1} MiB", b / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.0} KiB", b / 1024.0),
        n => format!("{n} B"),
    }
}

/// CPU time of this process so far (user + system).
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes only into the struct given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always valid.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Give freed heap pages back to the kernel after a scan (glibc): the census is freed each time.
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Whether `dir` is where a recorder writes (for `--from DIR`).
pub fn is_record_dir(dir: &Path) -> bool {
    store::is_record_dir(dir)
}
