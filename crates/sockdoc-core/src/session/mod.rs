//! The census session: what every command that reads sockets calls (`stats`, `list`, `doctor`,
//! `ghosts`, `serve`, `reap`, `events`, `top`, and the treatments' re-reads).
//!
//! A [`Session`] joins a [`Scope`] (the namespaces, entered in one place: [`scope::enter`]), a
//! [`Plan`] (what to dump, which extensions, the filter pushed down to the kernel), owners behind an
//! [`OwnerSource`] with an explicit [`Refresh`] policy, services (cgroup ids → units, containers,
//! pods) from a [`ServiceCache`], and the kernel state a view needs. Each call yields a [`Sample`]
//! (the sockets kept) or a [`Counted`] (per-dump accumulators, for views that count and forget).

mod holders;
mod lazy;
pub mod owners;
pub mod plan;
pub mod recorded;
pub mod scope;
pub mod services;
mod spare;
#[cfg(test)]
mod tests;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sockdoc_diag::Socket;
use sockdoc_proc::owners::Enough;
use sockdoc_proc::{Netns, NetnsError, SocketOwners};

use crate::collect::{self, Census, CensusError, CensusSpec, DumpHint};
use crate::doctor::{Blind, KernelState};
use crate::i18n::Lang;
use crate::owners::{NoOwners, Owners, WithServices};
use crate::service::Services;

pub use owners::{Fresh, OwnerCache, OwnerSource, ProcFds, Refresh};
pub use plan::{Needs, Plan, PlanError, Protocols};
use recorded::{no_cgroups, recorded_services};
pub use recorded::{Fact, Judges, Origin, Recorded};
pub use scope::{Scope, Which};
pub use services::ServiceCache;

/// The kernel state a view needs besides sockets, read inside the namespace alongside the dumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPlan {
    None,
    /// Everything the doctor judges; counters read twice, `interval` apart.
    Doctor {
        interval: Duration,
    },
    /// The same, with the counters read as the census starts and again as it ends: no wait beyond
    /// the census itself (a snapshot).
    AroundCensus,
}

/// One namespace's sockets, with what the plan asked for.
pub struct Sample {
    pub ns: Netns,
    /// Sockets that pass the filter, in kernel order (TCP v4, v6, UDP v4, v6).
    pub sockets: Vec<Socket>,
    /// The owners this sample was judged with (`None`: not asked for, or not read yet under
    /// [`Refresh::Lazy`]: see [`Session::owners_of`]).
    pub owners: Option<Fresh<SocketOwners>>,
    pub kernel: Option<KernelState>,
    /// The services of the sockets' cgroups, when the plan asked for them.
    pub services: Option<Services>,
    /// Degradations the user should know about (one line each).
    pub notes: Vec<String>,
    pub elapsed: Duration,
    /// A lazy read was tried for this sample (it is not tried twice).
    lazy_tried: bool,
    /// Why the lazy read of owners failed, until the caller takes it to say so.
    pub owner_error: Option<String>,
    /// Findings (by id) this sample's evidence cannot support ([`Recorded::unjudged`]); empty
    /// for the live kernel.
    pub unjudged: Vec<&'static str>,
    /// What this sample's evidence could not tell ([`Recorded::blind`]); nothing for the live
    /// kernel.
    pub blind: Blind,
}

impl Sample {
    /// The owners as the filters and groupings ask for them.
    pub fn owners(&self) -> &dyn Owners {
        self.owners
            .as_ref()
            .map_or(&NoOwners as &dyn Owners, |f| &*f.map as &dyn Owners)
    }

    /// The owners and the services, as filters judge with them (a reaper's rules, a treatment's
    /// narrowing words).
    pub fn judge(&self) -> WithServices<'_> {
        WithServices {
            owners: self.owners(),
            services: self.services.as_ref(),
        }
    }

    /// The owner map itself, when read.
    pub fn owner_map(&self) -> Option<&SocketOwners> {
        self.owners.as_ref().map(|f| &*f.map)
    }

    /// The doctor on this sample (with `owners` when given, else its own), worded in `lang`: the
    /// findings its evidence can support (those resting on what it could not tell are left out;
    /// its notes say why). None without the kernel state (a plan that did not read it).
    pub fn diagnose(
        &self,
        owners: Option<&dyn Owners>,
        idle: Option<Duration>,
        lang: Lang,
    ) -> Vec<crate::doctor::Finding> {
        let Some(kernel) = &self.kernel else {
            return Vec::new();
        };
        let mut findings = crate::doctor::diagnose(&crate::doctor::Input {
            sockets: &self.sockets,
            owners: owners.unwrap_or_else(|| self.owners()),
            kernel,
            idle_threshold_ms: idle.map(|d| d.as_millis() as u64),
            lang,
            services: self.services.as_ref(),
            blind: self.blind,
        });
        findings.retain(|f| !self.unjudged.contains(&f.id));
        findings
    }
}

/// One namespace's per-dump accumulators (counting views), with the owners read alongside.
pub struct Counted<A> {
    pub ns: Netns,
    pub census: Census<A>,
    pub owners: Option<Fresh<SocketOwners>>,
}

/// A namespace's census with the owners and kernel state read beside it.
type Parts<A> = (Census<A>, Option<Fresh<SocketOwners>>, Option<KernelState>);

/// A scope, a plan, owners with their refresh policy, and the kernel state to read.
pub struct Session {
    pub scope: Scope,
    pub plan: Plan,
    owners: OwnerCache<ProcFds>,
    services: ServiceCache,
    kernel: KernelPlan,
    /// One holder of each socket is enough ([`Session::one_owner_each`]).
    owner_each: bool,
    /// Owners read on demand walk only the namespace's processes ([`Session::owners_for_the_record`]).
    for_the_record: bool,
    /// Evidence recorded elsewhere, censused instead of the live kernel ([`Session::recorded`]).
    recorded: Option<Arc<dyn Recorded>>,
    /// Each namespace of `recorded` is sampled once: its sockets are taken, not copied.
    recorded_once: bool,
    /// Notes of the session itself (a namespace that vanished during `--all-netns`).
    notes: Vec<String>,
    /// The language of the recorded evidence's notes.
    lang: Lang,
    /// Socket buffers of samples handed back ([`Session::recycle`]) for the next census to fill.
    spare: Mutex<Vec<Vec<Socket>>>,
}

impl Session {
    /// A session over `scope` with `plan`, reading owners (when the plan needs them) under `refresh`.
    /// With `--all-netns`, each namespace is labelled with who lives in it (see `holders`).
    pub fn new(mut scope: Scope, plan: Plan, refresh: Refresh) -> io::Result<Session> {
        let services = ServiceCache::default();
        if scope.all {
            holders::label(&services, &mut scope.namespaces);
        }
        Ok(Session {
            scope,
            plan,
            owners: OwnerCache::new(ProcFds, refresh)?,
            services,
            kernel: KernelPlan::None,
            owner_each: false,
            for_the_record: false,
            recorded: None,
            recorded_once: false,
            notes: Vec::new(),
            lang: Lang::En,
            spare: Mutex::new(Vec::new()),
        })
    }

    /// The census of an act: one holder of each socket is enough (the shutdown rung needs one, the
    /// audit record names it), so the /proc walk ends as soon as every socket the filter kept has
    /// one. A socket shared by several processes may then name only some of them.
    pub fn one_owner_each(mut self) -> Session {
        self.owner_each = true;
        self
    }

    /// Also read the kernel state with each sample.
    pub fn with_kernel(mut self, kernel: KernelPlan) -> Session {
        self.kernel = kernel;
        self
    }

    /// The owner cache (for a view that shows owner age, or pauses a background reader).
    pub fn owner_cache(&self) -> &OwnerCache<ProcFds> {
        &self.owners
    }

    /// The services of `ids` (cgroup ids a counting view collected), from the session's cache:
    /// the cgroup tree walked again only for an id it has not seen.
    pub fn services(&self, ids: impl IntoIterator<Item = u64>) -> Services {
        match &self.recorded {
            Some(r) => recorded_services(r.as_ref(), self.lang),
            None => self.services.lookup(ids),
        }
    }

    /// Move to another namespace (a recreated name being followed): nothing cached is kept that
    /// belongs to the old one.
    pub fn switch(&mut self, ns: Netns) {
        self.scope = Scope::one(ns);
        self.owners.forget();
    }

    /// Notes of the session itself, taken once.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// A sample of every namespace in scope; with `--all-netns`, a namespace that vanishes between
    /// listing and census is skipped with a note.
    pub fn samples(&mut self) -> Result<Vec<Sample>, CensusError> {
        let namespaces = self.scope.namespaces.clone();
        let mut out = Vec::with_capacity(namespaces.len());
        for ns in &namespaces {
            out.extend(self.sample_or_skip(ns)?);
        }
        Ok(out)
    }

    /// A sample of one namespace of the scope; `None` when it vanished during `--all-netns` (noted).
    pub fn sample_or_skip(&mut self, ns: &Netns) -> Result<Option<Sample>, CensusError> {
        let r = self.sample(ns);
        self.skip_vanished(r, ns)
    }

    /// Like [`Session::samples`], counting into per-dump accumulators instead of keeping sockets.
    /// Filters on processes cannot be decided in a dump thread: use samples for those.
    pub fn counts<A, M, F>(&mut self, make: M, feed: F) -> Result<Vec<Counted<A>>, CensusError>
    where
        A: Send,
        M: Fn(DumpHint) -> A + Sync,
        F: Fn(&mut A, &Socket) + Sync,
    {
        let namespaces = self.scope.namespaces.clone();
        let mut out = Vec::with_capacity(namespaces.len());
        for ns in &namespaces {
            let r = self.count(ns, &make, &feed);
            if let Some(c) = self.skip_vanished(r, ns)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    fn skip_vanished<T>(
        &mut self,
        r: Result<T, CensusError>,
        ns: &Netns,
    ) -> Result<Option<T>, CensusError> {
        match r {
            Ok(v) => Ok(Some(v)),
            Err(CensusError::Netns(NetnsError::NoSuchPid(_) | NetnsError::NoSuchName(_)))
                if self.scope.all =>
            {
                self.notes.push(format!(
                    "namespace {} vanished during the census",
                    ns.label()
                ));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// One namespace's sockets that pass the filter, with owners and kernel state as planned.
    pub fn sample(&self, ns: &Netns) -> Result<Sample, CensusError> {
        self.sample_inner(ns, None)
    }

    /// A sample judged with owners the caller already holds (a treatment's re-read of its selection):
    /// no owners are read for it.
    pub fn sample_with(&self, ns: &Netns, owners: &dyn Owners) -> Result<Sample, CensusError> {
        self.sample_inner(ns, Some(owners))
    }

    fn sample_inner(&self, ns: &Netns, given: Option<&dyn Owners>) -> Result<Sample, CensusError> {
        let started = Instant::now();
        let filter = &self.plan.filter;
        let late = filter.decided_late();
        // Unfiltered dumps are sized from the kernel's own count, so the buffer never grows by copying.
        let presize = filter.is_empty();
        let make = |h: DumpHint| {
            if presize {
                self.buffer(h.estimate)
            } else {
                Vec::new()
            }
        };
        let feed = |v: &mut Vec<Socket>, s: &Socket| {
            // Filters on processes or services wait for them; the rest are decided as the socket
            // arrives.
            if late || filter.matches(s, &NoOwners) {
                v.push(*s);
            }
        };
        // A run over one other namespace (`--netns`, `--netns-pid`) reads only its processes' owners,
        // then checks they cover every socket kept: on a host of many containers the other
        // processes' fds are most of the walk. The caller's own namespace holds most processes
        // anyway, and a census of several namespaces shares one read of every process.
        let scoped = self.owners.policy() == Refresh::PerRun
            && self.scope.namespaces.len() == 1
            && !ns.current;
        let read = match given {
            Some(_) => OwnerRead::None,
            None if scoped => OwnerRead::Namespace,
            None => OwnerRead::Host,
        };
        // An act's census: the walk may end once the sockets kept (known when the dumps end) each
        // have a holder. Not when a filter on processes needs every holder to decide; a filter on
        // services alone is decided then, from the cgroup tree (no /proc).
        let by_services = late && !filter.needs_processes();
        let enough =
            (self.owner_each && given.is_none() && (!late || by_services)).then(Enough::new);
        let tell = |c: &Census<Vec<Socket>>, e: &Enough| {
            let kept = c.dumps.iter().flat_map(|d| d.acc.iter());
            if by_services {
                let services = self.services(kept.clone().map(|s| s.cgroup_id));
                let judge = WithServices {
                    owners: &NoOwners,
                    services: Some(&services),
                };
                e.want(kept.filter(|s| filter.matches(s, &judge)).map(|s| s.inode));
            } else {
                e.want(kept.map(|s| s.inode));
            }
        };
        let early = enough
            .as_ref()
            .map(|e| (e, &tell as &Tell<'_, Vec<Socket>>));
        let (census, owners, kernel) = match self.handed(ns, read, late) {
            Some(parts) => parts,
            None => self.run(ns, &self.plan.spec, read, early, make, feed)?,
        };
        let mut census = census;
        let sockets = joined(&mut census);
        let (unjudged, blind) = self.recorded_limits(ns);
        let mut sample = Sample {
            ns: ns.clone(),
            sockets,
            owners,
            kernel,
            services: None,
            notes: census.notes,
            elapsed: Duration::ZERO,
            lazy_tried: false,
            owner_error: None,
            unjudged,
            blind,
        };
        if let Some(f) = &sample.owners {
            if !self.owners.covers(f, &sample.sockets) {
                // Some socket is held outside its namespace: read every process once.
                let all = match &enough {
                    Some(e) => self.owners.read_now_until(None, &e.again()),
                    None => self.owners.read_now(),
                };
                sample.owners = Some(all.map_err(CensusError::Proc)?);
            }
        }
        // Named before a filter on services judges: for every socket the kernel sent.
        let services = self
            .plan
            .cgroups
            .then(|| match (&self.recorded, ns.recorded_index()) {
                (Some(r), Some(i)) => r
                    .services(i)
                    .unwrap_or_else(|| Services::unavailable(no_cgroups(self.lang))),
                _ => self.services(sample.sockets.iter().map(|s| s.cgroup_id)),
            });
        if late {
            let filter = &self.plan.filter;
            // A filter on services alone walks no /proc.
            let held = match given {
                Some(_) => None,
                None if !filter.needs_processes() => sample.owners.as_ref().map(|f| f.map.clone()),
                None => {
                    if sample.owners.is_none() {
                        self.owners_of(&mut sample);
                    }
                    sample.owners.as_ref().map(|f| f.map.clone())
                }
            };
            let o: &dyn Owners = match (given, held.as_deref()) {
                (Some(o), _) => o,
                (None, Some(m)) => m,
                (None, None) => &NoOwners,
            };
            let o = WithServices {
                owners: o,
                services: services.as_ref(),
            };
            sample.sockets.retain(|s| filter.matches(s, &o));
        }
        if let Some(services) = services {
            sample.notes.extend(services.notes.iter().cloned());
            sample.services = Some(services);
        }
        sample.elapsed = started.elapsed();
        Ok(sample)
    }

    /// One namespace counted into per-dump accumulators.
    pub fn count<A, M, F>(&self, ns: &Netns, make: M, feed: F) -> Result<Counted<A>, CensusError>
    where
        A: Send,
        M: Fn(DumpHint) -> A + Sync,
        F: Fn(&mut A, &Socket) + Sync,
    {
        let (census, owners, _) =
            self.run(ns, &self.plan.spec, OwnerRead::Host, None, make, feed)?;
        Ok(Counted {
            ns: ns.clone(),
            census,
            owners,
        })
    }

    /// Like [`Session::count`], for a narrower dump than the plan's (the exporter's cheap scrape
    /// between two full ones). No owners are read for it.
    pub fn count_spec<A, M, F>(
        &self,
        ns: &Netns,
        spec: &CensusSpec,
        make: M,
        feed: F,
    ) -> Result<Census<A>, CensusError>
    where
        A: Send,
        M: Fn(DumpHint) -> A + Sync,
        F: Fn(&mut A, &Socket) + Sync,
    {
        Ok(self.run(ns, spec, OwnerRead::None, None, make, feed)?.0)
    }

    /// The dumps of `ns` by `spec`, with the owners `read` says (beside the dumps, on a thread of
    /// their own: with `enough`, the walk may end once the census, told to it when the dumps end,
    /// has a holder for each socket) and the kernel state the session reads.
    fn run<A, M, F>(
        &self,
        ns: &Netns,
        spec: &CensusSpec,
        read: OwnerRead,
        enough: Option<(&Enough, &Tell<'_, A>)>,
        make: M,
        feed: F,
    ) -> Result<Parts<A>, CensusError>
    where
        A: Send,
        M: Fn(DumpHint) -> A + Sync,
        F: Fn(&mut A, &Socket) + Sync,
    {
        let wanted = read != OwnerRead::None && self.plan.owners;
        if let (Some(r), Some(i)) = (&self.recorded, ns.recorded_index()) {
            let mut census = None;
            r.with_sockets(i, &mut |sockets| {
                census = Some(recorded::replay(spec, sockets, &make, &feed));
            });
            let census = census.unwrap_or_else(|| recorded::replay(spec, &[], make, feed));
            return Ok(self.recorded_rest(census, r.as_ref(), i, wanted));
        }
        let read_owners = self.owners.due(wanted);
        let owners = &self.owners;
        let kernel_plan = self.kernel;
        let (census, read, kernel) = std::thread::scope(|s| {
            let reader = read_owners.then(|| {
                s.spawn(move || match (read, enough) {
                    (OwnerRead::Namespace, Some((e, _))) => {
                        owners.read_now_until(Some(ns.inode), e)
                    }
                    (_, Some((e, _))) => owners.read_now_until(None, e),
                    (OwnerRead::Namespace, None) => owners.read_now_for(ns.inode),
                    _ => owners.read_now(),
                })
            });
            // Around the census: the first reading is taken before the dumps start, the second
            // once they have ended (`ended` is dropped).
            let (ended, census_ended) = std::sync::mpsc::channel::<()>();
            let (started, first_read) = std::sync::mpsc::channel::<()>();
            let kernel = match kernel_plan {
                KernelPlan::None => None,
                KernelPlan::Doctor { interval } => Some(s.spawn(move || {
                    scope::enter(ns)?;
                    Ok::<_, NetnsError>(KernelState::start().finish(interval))
                })),
                KernelPlan::AroundCensus => Some(s.spawn(move || {
                    // A failure to enter drops `started` too: the census goes on and fails alike.
                    scope::enter(ns)?;
                    let first = KernelState::start();
                    drop(started);
                    let _ = census_ended.recv();
                    Ok(first.finish(Duration::ZERO))
                })),
            };
            if kernel_plan == KernelPlan::AroundCensus {
                let _ = first_read.recv();
            }
            let census = collect::run(spec, Some(ns), make, feed);
            drop(ended);
            if let Some((e, tell)) = enough {
                match &census {
                    Ok(c) => tell(c, e),
                    // Nothing to find a holder for: the walk ends.
                    Err(_) => e.want(std::iter::empty()),
                }
            }
            (census, reader.map(join), kernel.map(join))
        });
        let census = census?;
        let owners = match read {
            Some(r) => Some(r.map_err(CensusError::Proc)?),
            None if wanted => match self.owners.policy() {
                Refresh::Lazy => None,
                Refresh::Background(_) => self
                    .owners
                    .latest()
                    .or_else(|| self.owners.wait_first(Duration::from_secs(60))),
                _ => self.owners.latest(),
            },
            None => None,
        };
        let kernel = kernel.transpose()?;
        Ok((census, owners, kernel))
    }
}

/// Tells an [`Enough`] the sockets of a finished census.
type Tell<'a, A> = dyn Fn(&Census<A>, &Enough) + Sync + 'a;

/// Which owners a census reads alongside its dumps (when its plan needs them and they are due).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OwnerRead {
    /// None: the caller holds them (a treatment's re-read) or the dump is a cheap count.
    None,
    /// Those of the namespace's own processes, checked afterwards to cover every socket kept.
    Namespace,
    /// Every process's.
    Host,
}

fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// The dumps of `census` joined into the first one's buffer: the largest (TCP v4) is not copied
/// again.
fn joined(census: &mut Census<Vec<Socket>>) -> Vec<Socket> {
    let rest: usize = census.dumps.iter().skip(1).map(|d| d.acc.len()).sum();
    let mut sockets = census
        .dumps
        .first_mut()
        .map(|d| std::mem::take(&mut d.acc))
        .unwrap_or_default();
    sockets.reserve_exact(rest);
    for d in census.dumps.iter_mut().skip(1) {
        sockets.append(&mut d.acc);
    }
    sockets
}
