//! One scrape of one namespace, turned into the metrics' [`Shown`] value.
//!
//! What keeps a scrape cheap at 300k sockets is what it does not ask the kernel for:
//! * every scrape: TCP dumps that leave ESTABLISHED sockets in the kernel (state mask; the kernel
//!   skips them before building a message, which is most of a dump's cost), the UDP dumps, counted as
//!   they stream in. ESTABLISHED counts come from the kernel's own count of hashed sockets
//!   (`/proc/net/sockstat` inuse) minus the other hashed states the dump saw. Plus kernel counters,
//!   conntrack and a few sysctls;
//! * every `--doctor-every`: the full census with tcp_info, which the doctor's detectors need. It
//!   also gives what needs every connection (ESTABLISHED per listening port, sockets per process,
//!   ephemeral ports per destination), cached until the next run, and that scrape's exact counts;
//! * every `--owners-every`: the /proc walk (socket inode -> process). In between, sockets are
//!   attributed through the last walk, so a socket opened since counts under process `-`.
//!
//! Units and containers need no walk of /proc: each socket comes with its cgroup id, counted as it
//! streams in, and the session's service cache names the ids (walking the cgroup2 tree again only
//! for an id it has not seen, asking the container runtimes only about new containers).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use sockdoc_core::collect::CensusSpec;
use sockdoc_core::doctor::kernel::Sysctls;
use sockdoc_core::doctor::{self, Evidence, Finding, Input, KernelState};
use sockdoc_core::i18n::Lang;
use sockdoc_core::service::Services;
use sockdoc_core::session::scope::within;
use sockdoc_core::session::Session;
use sockdoc_core::{NoOwners, Owners};
use sockdoc_diag::{Socket, State, ALL_STATES_MASK};
use sockdoc_proc::conntrack::{self, Conntrack};
use sockdoc_proc::counters::Counters;
use sockdoc_proc::sockstat::SockStat;
use sockdoc_proc::{Netns, SocketOwners};

use crate::counts::ScrapeCounts;
use crate::history::History;
use crate::metrics::{self, Shown};
use crate::{Log, NamespaceWatch, Options, ServeError};

/// The last doctor run.
struct DoctorRun {
    at: Instant,
    /// Counters of that run: the next run's deltas (overflows, drops) are taken against them.
    counters: Counters,
    conntrack: Option<Conntrack>,
    findings: Vec<Finding>,
    /// The counts of that run's full census (every connection).
    counts: ScrapeCounts,
    /// Per listening port, the first-seen time (ms) of its oldest connection, from the recorder's
    /// index (`--history`).
    oldest: Option<FxHashMap<u16, u64>>,
}

pub(crate) struct Exporter {
    ns: Netns,
    /// Hands over the new namespace when following a recreated name.
    watch: Box<dyn NamespaceWatch>,
    opts: Options,
    /// The census: the doctor's plan, owners every `--owners-every`.
    session: Session,
    /// Kernel state read with the owner walk (fd pressure, sysctl files).
    slow_kernel: KernelState,
    doctor: Option<DoctorRun>,
    /// Census notes (a family the kernel lacks...) already printed.
    noted: BTreeSet<String>,
    /// Scrapes run (a request that waited for a running scrape shares its result and adds none).
    scrapes: u64,
    /// The service log.
    log: Log,
    /// The flight recorder's first-seen index (`--history`).
    history: Option<History>,
}

/// What one scrape reads besides sockets.
pub(crate) struct Kernel {
    pub sysctls: Sysctls,
    pub counters: Counters,
    pub conntrack: Option<Conntrack>,
    pub sockstat: SockStat,
}

fn due(last: Option<Instant>, every: Duration) -> bool {
    last.is_none_or(|t| t.elapsed() >= every)
}

impl Exporter {
    pub(crate) fn new(
        ns: Netns,
        watch: Box<dyn NamespaceWatch>,
        opts: Options,
        session: Session,
        log: Log,
    ) -> Exporter {
        let history = opts.history.as_deref().map(History::new);
        Exporter {
            ns,
            watch,
            opts,
            session,
            slow_kernel: KernelState::default(),
            doctor: None,
            noted: BTreeSet::new(),
            scrapes: 0,
            log,
            history,
        }
    }

    /// Print each census note once, on stderr (the service log): the same ones come with every
    /// scrape.
    fn note_once(&mut self, notes: Vec<String>) {
        for n in notes {
            if self.noted.insert(n.clone()) {
                (self.log)(format_args!("sockdoc: note: {n}"));
            }
        }
    }

    /// A scrape, then the memory it freed handed back to the system: scrapes allocate from a new
    /// thread's malloc arena each time, and what glibc keeps of them would otherwise add up between
    /// scrapes of a long-running exporter.
    pub(crate) fn scrape_and_trim(&mut self) -> Result<String, ServeError> {
        let r = self.scrape();
        #[cfg(target_env = "gnu")]
        // SAFETY: malloc_trim only releases free heap memory; it has no preconditions.
        unsafe {
            libc::malloc_trim(0);
        }
        r
    }

    fn scrape(&mut self) -> Result<String, ServeError> {
        let started = Instant::now();
        self.scrapes += 1;
        if let Some(new) = self.watch.take_switch() {
            // Following a recreated name (logged by the watch): nothing cached from the old one.
            self.ns = new.clone();
            self.doctor = None;
            self.session.switch(new);
        }
        let cache = self.session.owner_cache();
        if cache.due(true) {
            cache.read_now().map_err(ServeError::OwnerWalk)?;
            // The doctor's other /proc walk (processes near their fd limit) and the sysctl config
            // files go on the same cadence.
            self.slow_kernel = within::<_, ServeError>(&self.ns, || {
                Ok(KernelState::start().finish(Duration::ZERO))
            })?;
        }
        let latest = self.session.owner_cache().latest();
        let owners = latest.as_ref().map(|f| &*f.map);
        let kernel = within::<_, ServeError>(&self.ns, || {
            Ok(Kernel {
                sysctls: Sysctls::read(),
                counters: Counters::read().unwrap_or_default(),
                conntrack: conntrack::read().ok().flatten(),
                sockstat: SockStat::read(),
            })
        })?;
        let range = kernel.sysctls.port_range.and_then(|(lo, hi)| {
            Some((u16::try_from(lo).ok()?, u16::try_from(hi).ok()?)).filter(|(l, h)| l <= h)
        });
        let fresh = if due(self.doctor.as_ref().map(|d| d.at), self.opts.doctor_every) {
            self.full_census(owners, range, &kernel)?;
            None
        } else {
            Some(self.cheap_counts(owners, range, &kernel.sockstat)?)
        };
        let services = self.services(fresh.as_ref());
        self.render(fresh.as_ref(), &services, &kernel, started)
    }

    /// The units and containers of the cgroup ids this scrape and the last full census counted.
    fn services(&mut self, fresh: Option<&ScrapeCounts>) -> Services {
        let full = self.doctor.as_ref().map(|d| &d.counts);
        let ids: Vec<u64> = fresh
            .into_iter()
            .chain(full)
            .flat_map(|c| c.cgroups.keys().copied())
            .collect();
        let services = self.session.services(ids);
        self.note_once(services.notes.clone());
        services
    }

    /// The doctor's census, which also gives this scrape its counts: one dump, not two.
    fn full_census(
        &mut self,
        owners: Option<&SocketOwners>,
        range: Option<(u16, u16)>,
        kernel: &Kernel,
    ) -> Result<(), ServeError> {
        let sample = self.session.sample(&self.ns)?;
        let sockets = sample.sockets;
        self.note_once(sample.notes);
        let mut t = ScrapeCounts::new(true, range);
        for s in &sockets {
            t.add(s, owners);
        }
        let note = self.history.as_mut().and_then(History::refresh);
        self.note_once(note.into_iter().collect());
        let oldest = self
            .history
            .as_ref()
            .and_then(|h| h.oldest_per_port(&sockets, &t.listeners));
        let mut run = self.diagnose(&sockets, kernel, t);
        run.oldest = oldest;
        self.doctor = Some(run);
        self.session.recycle_sockets(sockets);
        Ok(())
    }

    /// The cheap scrape: TCP without ESTABLISHED (counted by the kernel), UDP whole (connected UDP
    /// sockets are ESTABLISHED too, and UDP dumps are cheap).
    fn cheap_counts(
        &mut self,
        owners: Option<&SocketOwners>,
        range: Option<(u16, u16)>,
        sockstat: &SockStat,
    ) -> Result<ScrapeCounts, ServeError> {
        let tcp = CensusSpec {
            udp: false,
            states: ALL_STATES_MASK & !State::Established.mask_bit(),
            ..CensusSpec::default()
        };
        let udp = CensusSpec {
            tcp: false,
            ..CensusSpec::default()
        };
        let mut t = ScrapeCounts::new(false, range);
        for spec in [tcp, udp] {
            let census = self.session.count_spec(
                &self.ns,
                &spec,
                |_| ScrapeCounts::new(false, range),
                |t, s| t.add(s, owners),
            )?;
            self.note_once(census.notes);
            for d in census.dumps {
                t.merge(d.acc);
            }
        }
        t.derive_established(sockstat);
        Ok(t)
    }

    /// Run the detectors on a census: this scrape's kernel readings, counter deltas since the previous
    /// run, and the slow parts (fd pressure, sysctl files) from the last owner walk.
    fn diagnose(&self, sockets: &[Socket], now: &Kernel, counts: ScrapeCounts) -> DoctorRun {
        let mut kernel = self.slow_kernel.clone();
        kernel.counters_after = now.counters.clone();
        kernel.sysctls = now.sysctls.clone();
        kernel.conntrack_after = now.conntrack;
        kernel.sockstat = now.sockstat;
        kernel.file_nr = sockdoc_proc::limits::file_nr().ok();
        match &self.doctor {
            Some(prev) => {
                kernel.counters_before = prev.counters.clone();
                kernel.conntrack_before = prev.conntrack;
                kernel.interval = prev.at.elapsed();
            }
            None => {
                kernel.counters_before = now.counters.clone();
                kernel.conntrack_before = now.conntrack;
                kernel.interval = Duration::ZERO;
            }
        }
        let latest = self.session.owner_cache().latest();
        let o: &dyn Owners = latest
            .as_ref()
            .map_or(&NoOwners, |f| &*f.map as &dyn Owners);
        let findings = doctor::diagnose(&Input {
            sockets,
            owners: o,
            kernel: &kernel,
            idle_threshold_ms: self.opts.idle_ms,
            lang: Lang::En,
            services: None,
            blind: doctor::Blind::NONE,
        });
        DoctorRun {
            at: Instant::now(),
            counters: kernel.counters_after,
            conntrack: kernel.conntrack_after,
            findings,
            counts,
            oldest: None,
        }
    }

    /// Metrics from this scrape's counts (`fresh`; `None` when the doctor's census just ran) and the
    /// last full census.
    fn render(
        &self,
        fresh: Option<&ScrapeCounts>,
        services: &Services,
        kernel: &Kernel,
        started: Instant,
    ) -> Result<String, ServeError> {
        let empty = ScrapeCounts::new(false, None);
        let detail = self.doctor.as_ref().map_or(&empty, |d| &d.counts);
        let latest = self.session.owner_cache().latest();
        let shown = Shown {
            now: fresh.unwrap_or(detail),
            full: detail,
            top_k: self.opts.top_k,
            owners: latest.as_ref().map(|f| &*f.map),
            owners_at: latest.as_ref().map(|f| f.at),
            services,
            findings: self.doctor.as_ref().map_or(&[][..], |d| &d.findings[..]),
            doctor_at: self.doctor.as_ref().map(|d| d.at),
            coverage: self.keepalive_coverage(),
            ghosts: self.ghost_suspects(),
            kernel,
            scrapes: self.scrapes,
            netns_inode: self.ns.inode,
            netns_changes: self.watch.changes(),
            started,
            oldest: self.doctor.as_ref().and_then(|d| d.oldest.as_ref()),
            record_last_scan_ms: self.history.as_ref().and_then(History::last_scan_ms),
        };
        metrics::encode(&shown).map_err(ServeError::Encode)
    }

    /// Ghost suspects at the last doctor run, as the doctor's ghost-suspects detector counted them.
    fn ghost_suspects(&self) -> i64 {
        let findings = self.doctor.as_ref().map_or(&[][..], |d| &d.findings[..]);
        findings
            .iter()
            .find_map(|f| match &f.evidence {
                Evidence::GhostSuspects(g) => Some(i64::try_from(g.suspects).unwrap_or(i64::MAX)),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// Keepalive coverage per listening port, as the doctor's keepalive-coverage detector computed it.
    fn keepalive_coverage(&self) -> HashMap<u16, f64> {
        let mut out = HashMap::new();
        let findings = self.doctor.as_ref().map_or(&[][..], |d| &d.findings[..]);
        for f in findings {
            let Evidence::KeepaliveCoverage(c) = &f.evidence else {
                continue;
            };
            for p in c.ports.iter().filter(|p| p.connections > 0) {
                out.insert(p.local_port, p.with_keepalive as f64 / p.connections as f64);
            }
        }
        out
    }
}
