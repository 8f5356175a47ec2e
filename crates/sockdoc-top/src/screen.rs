//! `sockdoc top`: the live view of one namespace's connections, built on the census, doctor and treat
//! layers. A worker thread runs the census every `-d` and sends digested snapshots; the screen loop
//! only reads them without waiting, draws with ratatui, and turns keys into filter changes and
//! confirmed actions (run on their own thread). The terminal is restored on quit, on SIGINT/SIGTERM
//! and on panic.
//!
//! Layout: [`model`] (tables, sorting, a row's sockets; pure), [`state`] (keys, selection, drill-down,
//! confirmation; pure), [`worker`] (census thread), [`view`] (drawing), [`actions`] (kill, keepalive,
//! probe).

mod actions;
mod model;
mod state;
mod view;
mod worker;

use std::io::{IsTerminal, Write};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyEventKind};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use sockdoc_core::filter::Filter;
use sockdoc_core::i18n::pick;

use crate::cli::{Global, TopArgs};
use crate::cmd::doctor::parse_duration;
use crate::error::{Exit, Failure};
use crate::scope;
use state::{App, Effect};

/// The screen is redrawn at least this often (the age of the census, the sparklines).
const REDRAW: Duration = Duration::from_secs(1);
/// Longest wait for a key before looking at the worker and the signal flag again.
const POLL: Duration = Duration::from_millis(100);

pub fn run(g: &Global, a: &TopArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let lang = g.lang();
    if g.json {
        return Err(Failure::usage(
            "top is interactive and has no --json: use `sockdoc stats --json` or `sockdoc doctor --json`",
        ));
    }
    if g.all_netns {
        return Err(Failure::usage(
            "top watches one namespace at a time: use --netns NAME or --netns-pid PID, not --all-netns",
        ));
    }
    if !std::io::stdout().is_terminal() {
        return Err(Failure::usage(
            "top draws on a terminal and standard output is not one: run it in a terminal, or use `sockdoc stats` / `sockdoc list` for text",
        ));
    }
    let interval = parse_duration("-d", &a.delay)?;
    if interval < Duration::from_millis(100) {
        return Err(Failure::usage("-d is at least 100ms"));
    }
    let owners_every = parse_duration("--owners-every", &a.owners_every)?;
    let doctor_every = parse_duration("--doctor-every", &a.doctor_every)?;
    let probe_time = parse_duration("--probe-time", &a.probe_time)?;
    let idle_ms = a
        .idle
        .as_deref()
        .map(|t| parse_duration("--idle", t).map(|d| d.as_millis() as u64))
        .transpose()?;
    if a.keepalive_idle == 0 || a.keepalive_intvl == 0 || a.keepalive_cnt == 0 {
        return Err(Failure::usage(
            "--keepalive-idle, --keepalive-intvl and --keepalive-cnt must be at least 1",
        ));
    }
    let filter_text = a.filter.join(" ");
    let filter = Filter::parse(&a.filter).map_err(|e| Failure::usage(e.to_string()))?;
    let mut namespaces = scope::namespaces(g)?;
    let ns = namespaces.remove(0);
    let ns_label = match (ns.names.first(), ns.current) {
        (Some(n), _) => format!("netns {n}"),
        (None, true) => pick(lang, "this namespace", "本网络命名空间").to_string(),
        (None, false) => format!("netns pid {}", ns.pid.unwrap_or(0)),
    };
    let base = actions::Ctx {
        global: g.clone(),
        audit_log: a.audit_log.clone(),
        listen: a.listen,
        probe_time,
        keepalive: (a.keepalive_idle, a.keepalive_intvl, a.keepalive_cnt),
        threshold_ms: 0,
        lang,
    };
    // Pinned: a deleted and recreated name shows a banner; with --follow-netns the census follows.
    let watch = scope::NsWatch::start(g, &ns, "top", scope::OnLost::Notice);
    let w = worker::spawn(worker::Config {
        ns,
        watch: watch.clone(),
        interval,
        owners_every,
        doctor_every,
        idle_ms,
        prefix4: a.prefix4,
        prefix6: a.prefix6,
        lang,
        filter,
        filter_text: filter_text.clone(),
    })
    .map_err(|e| Failure::new(Exit::Io, format!("cannot start the census thread: {e}")))?;

    let mut app = App::new(lang, interval, filter_text, a.listen);
    app.own_ssh = sockdoc_core::own_ssh::OwnSsh::from_env();
    crate::signals::install();
    let guard = TermGuard::enter(out)?;
    let ctx = view::Context { ns_label, watch };
    let result = screen_loop(&mut *guard.out, &mut app, &ctx, &w, &base);
    let pending = match result {
        Ok(p) => p,
        Err(e) => {
            drop(guard);
            return Err(e);
        }
    };
    drop(guard);
    drop(w);
    // An action under way finishes (its audit lines are written) before the process ends.
    if let Some(rx) = pending {
        crate::log::log_line!(
            "{}",
            pick(
                lang,
                "waiting for the running action to finish…",
                "等待进行中的操作完成…"
            )
        );
        if let Ok(o) = rx.recv_timeout(probe_time + Duration::from_secs(120)) {
            crate::log::log_line!("{}", o.title);
        }
    }
    Ok(Exit::Ok)
}

/// The event loop. Returns the channel of an action still running, if any.
fn screen_loop(
    out: &mut dyn Write,
    app: &mut App,
    ctx: &view::Context,
    w: &worker::Worker,
    base: &actions::Ctx,
) -> Result<Option<Receiver<actions::Outcome>>, Failure> {
    let term_err = |e: std::io::Error| Failure::new(Exit::Io, format!("cannot draw: {e}"));
    let mut terminal = Terminal::new(CrosstermBackend::new(out)).map_err(term_err)?;
    terminal.clear().map_err(term_err)?;
    let mut action: Option<Receiver<actions::Outcome>> = None;
    let mut dirty = true;
    let mut last_draw = Instant::now();
    loop {
        if crate::signals::stopped() {
            return Ok(action);
        }
        loop {
            match w.updates.try_recv() {
                Ok(worker::Update::Snap(s)) => {
                    app.on_snap(*s);
                    dirty = true;
                }
                Ok(worker::Update::Failed(e)) => {
                    app.error = Some(e);
                    dirty = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    return Err(Failure::new(
                        Exit::Io,
                        app.error
                            .clone()
                            .unwrap_or_else(|| "the census thread stopped".into()),
                    ))
                }
            }
        }
        if let Some(rx) = &action {
            match rx.try_recv() {
                Ok(o) => {
                    app.busy = None;
                    app.result = Some((o.title, o.lines));
                    action = None;
                    dirty = true;
                    let _ = w.cmds.send(worker::Cmd::Now);
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => {
                    app.busy = None;
                    action = None;
                    dirty = true;
                }
            }
        }
        if dirty || last_draw.elapsed() >= REDRAW {
            terminal
                .draw(|f| view::draw(f, app, ctx))
                .map_err(term_err)?;
            last_draw = Instant::now();
            dirty = false;
        }
        let wait = POLL.min(REDRAW.saturating_sub(last_draw.elapsed()));
        if !event::poll(wait).map_err(term_err)? {
            continue;
        }
        match event::read().map_err(term_err)? {
            Event::Key(k) if k.kind != KeyEventKind::Release => {
                dirty = true;
                for fx in app.on_key(k) {
                    match fx {
                        Effect::Quit => return Ok(action),
                        Effect::Filter(text) => {
                            // Checked by the prompt already; parse again for the worker's copy.
                            if let Ok(f) = Filter::parse(std::slice::from_ref(&text)) {
                                let _ = w.cmds.send(worker::Cmd::Filter(f, text));
                            }
                        }
                        Effect::Pause(p) => {
                            let _ = w.cmds.send(worker::Cmd::Pause(p));
                        }
                        Effect::Interval(d) => {
                            let _ = w.cmds.send(worker::Cmd::Interval(d));
                        }
                        // Actions find their sockets by the namespace's name: once it means
                        // another namespace (not followed), they would act there. Refused.
                        Effect::Act(_)
                            if ctx.watch.notice().is_some() && !base.global.follow_netns =>
                        {
                            app.busy = None;
                            app.status = Some(pick(
                                app.lang,
                                "refused: the namespace changed under top (see the banner); restart top",
                                "已拒绝：网络命名空间已变化（见标题栏）；请重启 top",
                            ).to_string());
                        }
                        Effect::Act(req) => {
                            let mut c = base.clone();
                            c.threshold_ms = app.snap.as_ref().map_or(0, |s| s.threshold_ms);
                            match actions::start(c, req) {
                                Ok(rx) => action = Some(rx),
                                Err(e) => {
                                    app.busy = None;
                                    app.status = Some(format!("cannot start the action: {e}"));
                                }
                            }
                        }
                    }
                }
            }
            Event::Resize(..) => {
                terminal.autoresize().map_err(term_err)?;
                dirty = true;
            }
            _ => {}
        }
    }
}

/// Raw mode and the alternate screen while it lives; the shell's screen back when dropped, and on
/// panic (the hook writes straight to fd 1: the panicking thread may not own stdout's lock).
struct TermGuard<'a> {
    out: &'a mut dyn Write,
}

const RESTORE: &[u8] = b"\x1b[?1049l\x1b[?25h\x1b[0m";

fn restore_raw() {
    let _ = terminal::disable_raw_mode();
    // SAFETY: writing a static buffer to fd 1; a short or failed write only leaves the screen as is.
    unsafe {
        libc::write(1, RESTORE.as_ptr().cast(), RESTORE.len());
    }
}

impl<'a> TermGuard<'a> {
    fn enter(out: &'a mut dyn Write) -> Result<TermGuard<'a>, Failure> {
        let fail =
            |e: std::io::Error| Failure::new(Exit::Io, format!("cannot set up the terminal: {e}"));
        terminal::enable_raw_mode().map_err(fail)?;
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_raw();
            prev(info);
        }));
        let g = TermGuard { out };
        let mut g = g;
        crossterm::execute!(&mut g.out, EnterAlternateScreen, crossterm::cursor::Hide)
            .map_err(fail)?;
        Ok(g)
    }
}

impl Drop for TermGuard<'_> {
    fn drop(&mut self) {
        let _ = crossterm::execute!(&mut self.out, LeaveAlternateScreen, crossterm::cursor::Show);
        let _ = self.out.flush();
        let _ = terminal::disable_raw_mode();
    }
}
