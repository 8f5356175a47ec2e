//! `sockdoc events`: a live stream of connection ends, from the kernel's sock_diag destroy broadcasts
//! (TCP and UDP, IPv4 and IPv6): who, peer, the state it ended from, lifetime, bytes and
//! retransmissions; text or JSON lines; filterable like `list`. Needs root (CAP_NET_ADMIN) to subscribe.
//!
//! The engine (subscriptions, scans, the lifetime tracker, the bounded queue, loss accounting) is
//! `sockdoc_core::events`; this command checks its arguments, pins the namespace, and writes each end
//! and each loss as it comes: a `lost` record in the stream at least once a second while losing, and
//! a total on stderr at exit.
//!
//! The namespace is pinned (see `scope::NsWatch`): a recreated name stops it with exit 69, or, with
//! `--follow-netns`, it subscribes again in the new namespace.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sockdoc_core::events::{LossCounts, Losses, Options, Received, Watch, WatchError};
use sockdoc_core::filter::Filter;
use sockdoc_core::i18n::events::{text, EventsMsg};
use sockdoc_core::i18n::Lang;
use sockdoc_proc::Netns;

use crate::cli::{EventsArgs, Global};
use crate::cmd::doctor::parse_duration;
use crate::error::{Exit, Failure};
use crate::{scope, signals};

mod losses;
mod output;

use losses::report_losses;
use output::{write_event, Format};

/// How a watch of one namespace ended.
enum Next {
    Done,
    /// Following a recreated name to this namespace.
    Follow(Netns),
}

/// Lost records are written at most this often per kind while losing (and once more at the end).
const LOST_EVERY: Duration = Duration::from_secs(1);

/// Everything one watch needs that does not change when following a recreated name.
struct Setup<'a> {
    g: &'a Global,
    a: &'a EventsArgs,
    opts: Options,
    limit: Option<Duration>,
    started: Instant,
    watch: scope::NsWatch,
    losses: Arc<Losses>,
}

pub fn run(g: &Global, a: &EventsArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let lang = g.lang();
    let (opts, limit) = options(lang, a)?;
    let mut ns = scope::one_namespace(g, || {
        Failure::usage(text(g.lang(), EventsMsg::OneNamespace, &[]))
    })?;
    if !scope::is_root() {
        return Err(Failure::new(
            Exit::NoPerm,
            text(g.lang(), EventsMsg::NeedsRoot, &[]),
        ));
    }
    signals::install();
    let setup = Setup {
        g,
        a,
        opts,
        limit,
        started: Instant::now(),
        watch: scope::watch(g, &ns, "events", scope::OnLost::Stop),
        losses: Arc::new(Losses::default()),
    };
    let mut reported = LossCounts::default();
    let mut seen = 0u64;
    let result = loop {
        match watch_one(&setup, &ns, &mut reported, &mut seen, out) {
            Ok(Next::Done) => break Ok(()),
            Ok(Next::Follow(new)) => ns = new,
            Err(f) => break Err(f),
        }
    };
    setup.watch.finish();
    // What the stream has not said yet, then the totals on stderr.
    let flushed = result.and_then(|()| {
        report_losses(out, Format::of(g), &setup.losses, &mut reported).map_err(Failure::output)?;
        out.flush().map_err(Failure::output)
    });
    let total = reported.slow + reported.unreported;
    if total > 0 || reported.overflows > 0 {
        let n = [
            total,
            reported.slow,
            reported.unreported,
            reported.overflows,
        ]
        .map(|n| n.to_string());
        let line = text(
            g.lang(),
            EventsMsg::LostTotal,
            &[&n[0], &n[1], &n[2], &n[3]],
        );
        crate::log::log_line!("{line}");
    }
    flushed?;
    match scope::lost(&setup.watch) {
        Some(f) => Err(f),
        None => Ok(Exit::Ok),
    }
}

/// The engine's options and `--for`, from the arguments (usage errors for what cannot work).
fn options(lang: Lang, a: &EventsArgs) -> Result<(Options, Option<Duration>), Failure> {
    let refuse = |m| Failure::usage(text(lang, m, &[]));
    let filter = Filter::parse(&a.filter).map_err(|e| Failure::usage(e.to_string()))?;
    if filter.needs_processes() {
        return Err(refuse(EventsMsg::NoProcessFilter));
    }
    if filter.needs_services() {
        return Err(refuse(EventsMsg::NoServiceFilter));
    }
    if filter.protocols() == (false, false) {
        return Err(refuse(EventsMsg::NoProtocol));
    }
    let limit = a
        .r#for
        .as_deref()
        .map(|t| parse_duration(lang, "--for", t))
        .transpose()?;
    let scan = parse_duration(lang, "--scan", &a.scan)?;
    if a.processes && scan.is_zero() {
        return Err(refuse(EventsMsg::ScanForOwners));
    }
    if a.buffer == 0 || a.buffer > 16 << 20 {
        return Err(refuse(EventsMsg::BufferRange));
    }
    if a.kernel_buffer == 0 || a.kernel_buffer > 1024 {
        return Err(refuse(EventsMsg::KernelBufferRange));
    }
    let opts = Options {
        filter,
        scan,
        owners: a.processes,
        buffer: a.buffer,
        kernel_buffer: a.kernel_buffer << 20,
    };
    Ok((opts, limit))
}

/// Watch one namespace: start the engine's watch, stream its ends and losses, until stopped or
/// following a recreated name.
fn watch_one(
    st: &Setup,
    ns: &Netns,
    reported: &mut LossCounts,
    seen: &mut u64,
    out: &mut dyn Write,
) -> Result<Next, Failure> {
    let warn = Arc::new(|w: &sockdoc_core::events::Warning| {
        crate::log::log_line!("sockdoc: {w}");
    });
    let watch = Watch::start(ns, &st.opts, st.losses.clone(), warn).map_err(start_failure)?;
    // On stderr, so JSON lines stay clean; it also tells scripts the subscription is in place.
    let line = text(st.g.lang(), EventsMsg::Watching, &[&ns.label()]);
    crate::log::log_line!("{line}");
    let next = stream(st, &watch, reported, seen, out)?;
    // Ends still queued when it stops (a signal, --for, a switch) never reach the output: counted as
    // lost. Stopping at --count leaves the rest unasked for.
    watch.stop(st.a.count.is_none_or(|c| *seen < c));
    Ok(next)
}

/// Write the watch's ends as they come, and its losses at most every [`LOST_EVERY`], until a
/// signal, `--for`, `--count` or a recreated name ends it.
fn stream(
    st: &Setup,
    watch: &Watch,
    reported: &mut LossCounts,
    seen: &mut u64,
    out: &mut dyn Write,
) -> Result<Next, Failure> {
    let a = st.a;
    let format = Format::of(st.g);
    let mut last_lost = Instant::now();
    loop {
        if signals::stopped()
            || st.limit.is_some_and(|l| st.started.elapsed() >= l)
            || a.count.is_some_and(|c| *seen >= c)
        {
            return Ok(Next::Done);
        }
        if let Some(new) = st.watch.take_switch() {
            return Ok(Next::Follow(new));
        }
        if last_lost.elapsed() >= LOST_EVERY {
            last_lost = Instant::now();
            if report_losses(out, format, watch.losses(), reported).map_err(Failure::output)? {
                out.flush().map_err(Failure::output)?;
            }
        }
        let end = match watch.next(Duration::from_millis(100)) {
            Received::Item(e) => e,
            Received::Timeout => continue,
            // Every listener stopped on an error (each said which on stderr).
            Received::Closed => {
                return Err(Failure::new(
                    Exit::Io,
                    text(st.g.lang(), EventsMsg::Stopped, &[]),
                ))
            }
        };
        *seen += 1;
        write_event(out, format, &end.socket, &end.ended, end.owner.as_deref())
            .map_err(Failure::output)?;
        out.flush().map_err(Failure::output)?;
    }
}

/// A watch that could not start, as the command's failure.
fn start_failure(e: WatchError) -> Failure {
    match e {
        WatchError::Netns(e) => Failure::netns(e),
        WatchError::Open(e) => Failure::new(Exit::Unavailable, e.to_string()),
        e @ WatchError::Subscribe { .. } => Failure::new(Exit::NoPerm, e.to_string()),
        e @ WatchError::Owners(_) => Failure::new(Exit::Io, e.to_string()),
        WatchError::Scan(e) => Failure::census(e),
    }
}
