//! The event loop of the view and the terminal it draws on: updates from the census thread are
//! read without waiting, the screen is redrawn when something changed (and every second), keys
//! become [`Effect`]s carried out here. Raw mode and the alternate screen are undone on quit, on
//! error and on panic.

use std::io::Write;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyEventKind};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use sockdoc_core::filter::Filter;
use sockdoc_core::i18n::top::{text, word, TopMsg};

use crate::state::{App, Effect};
use crate::{view, worker, Error, Host, Outcome};

/// The screen is redrawn at least this often (the age of the census, the sparklines).
const REDRAW: Duration = Duration::from_secs(1);
/// Longest wait for a key before looking at the worker and the signal flag again.
const POLL: Duration = Duration::from_millis(100);

/// The event loop. Returns the channel of an action still running, if any.
pub fn screen_loop(
    out: &mut dyn Write,
    app: &mut App,
    ctx: &view::Context,
    w: &worker::Worker,
    host: &dyn Host,
) -> Result<Option<Receiver<Outcome>>, Error> {
    let lang = app.lang;
    let term_err = |e: std::io::Error| Error(text(lang, TopMsg::CannotDraw, &[&e.to_string()]));
    let mut terminal = Terminal::new(CrosstermBackend::new(out)).map_err(term_err)?;
    terminal.clear().map_err(term_err)?;
    let mut action: Option<Receiver<Outcome>> = None;
    let mut dirty = true;
    let mut last_draw = Instant::now();
    // What the census must ask the kernel for follows what the screen shows.
    let mut shown = app.shown();
    let _ = w.cmds.send(worker::Cmd::Show(shown));
    loop {
        if sockdoc_runtime::signals::stopped() {
            return Ok(action);
        }
        dirty |= drain_updates(app, w)?;
        dirty |= poll_action(app, w, &mut action);
        if app.shown() != shown {
            shown = app.shown();
            let _ = w.cmds.send(worker::Cmd::Show(shown));
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
                    if let Effect::Quit = fx {
                        return Ok(action);
                    }
                    on_effect(fx, app, ctx, w, host, &mut action);
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

/// Take every update the census thread sent; true when the screen changed.
fn drain_updates(app: &mut App, w: &worker::Worker) -> Result<bool, Error> {
    let mut dirty = false;
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
            Err(TryRecvError::Empty) => return Ok(dirty),
            Err(TryRecvError::Disconnected) => {
                return Err(Error(
                    app.error
                        .clone()
                        .unwrap_or_else(|| word(app.lang, TopMsg::CensusStopped).into()),
                ))
            }
        }
    }
}

/// Look at the action under way; true when it ended (its outcome is shown, a census follows).
fn poll_action(app: &mut App, w: &worker::Worker, action: &mut Option<Receiver<Outcome>>) -> bool {
    let Some(rx) = action else {
        return false;
    };
    match rx.try_recv() {
        Ok(o) => {
            app.busy = None;
            app.result = Some((o.title, o.lines));
            *action = None;
            let _ = w.cmds.send(worker::Cmd::Now);
            true
        }
        Err(TryRecvError::Empty) => false,
        Err(TryRecvError::Disconnected) => {
            app.busy = None;
            *action = None;
            true
        }
    }
}

/// Carry out one effect of a key (all but quitting).
fn on_effect(
    fx: Effect,
    app: &mut App,
    ctx: &view::Context,
    w: &worker::Worker,
    host: &dyn Host,
    action: &mut Option<Receiver<Outcome>>,
) {
    match fx {
        Effect::Quit => {}
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
        // Actions find their sockets by the namespace's name: once it means another namespace
        // (not followed), they would act there. Refused.
        Effect::Act(_) if ctx.watch.notice().is_some() && !ctx.follow_netns => {
            app.busy = None;
            app.status = Some(word(app.lang, TopMsg::NsChanged).to_string());
        }
        Effect::Act(req) => {
            let threshold = app.snap.as_ref().map_or(0, |s| s.threshold_ms);
            match host.act(req, threshold) {
                Ok(rx) => *action = Some(rx),
                Err(e) => {
                    app.busy = None;
                    app.status = Some(text(app.lang, TopMsg::CannotStartAction, &[&e.to_string()]));
                }
            }
        }
    }
}

/// Raw mode and the alternate screen while it lives; the shell's screen back when dropped, and on
/// panic (the hook writes straight to fd 1: the panicking thread may not own stdout's lock).
pub struct TermGuard<'a> {
    pub out: &'a mut dyn Write,
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
    pub fn enter(out: &'a mut dyn Write) -> Result<TermGuard<'a>, Error> {
        let fail = |e: std::io::Error| Error(format!("cannot set up the terminal: {e}"));
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
