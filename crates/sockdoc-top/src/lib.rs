//! The live view of one namespace's connections behind `sockdoc top`. A census thread runs a
//! core census session every interval (tcp_info only while the screen shows idle times or the
//! doctor is due), digests it into a [`Snap`](model::Snap) for the table on screen and sends it;
//! the owners of sockets come from the session's owner cache, read in the background and only
//! while the screen shows them (or rarely). The screen loop only
//! reads what arrived, draws with ratatui, and turns keys into filter changes and confirmed
//! [`Request`]s, which the caller's [`Host`] carries out. The terminal is restored on quit and on
//! panic.
//!
//! Modules: [`model`] (tables, sorting, a row's sockets; pure), [`columns`] (columns and sort
//! orders; pure), [`state`] (keys, selection, drill-down; pure), [`propose`] (what an action would
//! touch, confirmation; pure), [`history`] (the sparklines' samples), [`worker`] (the census
//! thread), [`view`], [`tables`] and [`popups`] (drawing), [`screen`] (the event loop and the
//! terminal).
//!
//! Never does: parse the command line, enter a namespace for the caller, act on a socket (actions
//! go through [`Host::act`]), or write to the audit log.

pub mod columns;
pub mod history;
pub mod model;
pub mod popups;
pub mod propose;
pub mod screen;
pub mod state;
pub mod tables;
pub mod view;
pub mod worker;

use std::io::Write;
use std::sync::mpsc::Receiver;

use sockdoc_core::i18n::top::{text, TopMsg};
use sockdoc_core::own_ssh::OwnSsh;

pub use state::{ActionKind, Request};

/// How an action ended, for the result popup.
#[derive(Debug)]
pub struct Outcome {
    pub title: String,
    pub lines: Vec<String>,
}

/// What the caller lends the view: carrying out confirmed actions.
pub trait Host {
    /// Start `req` on a thread of its own; the outcome arrives on the returned channel.
    /// `threshold_ms` is the ghost threshold of the census on screen.
    fn act(&self, req: Request, threshold_ms: u64) -> std::io::Result<Receiver<Outcome>>;
}

/// Everything the view is started with.
pub struct Setup {
    /// The census thread: namespace, cadences, filter.
    pub worker: worker::WorkerSetup,
    /// The namespace as the title bar names it.
    pub ns_label: String,
    /// The census follows a recreated name (`--follow-netns`); without it actions are refused
    /// once the name changed.
    pub follow_netns: bool,
    /// Kill may take listening sockets.
    pub listen: bool,
    /// The caller's own SSH connection, never proposed for an action.
    pub own_ssh: Option<OwnSsh>,
}

/// Why the view stopped early (the terminal or the census thread failed).
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Run the view on `out` (a terminal) until quit, SIGINT or SIGTERM. Returns the channel of an
/// action still running, if any: the caller waits for it before the process ends.
pub fn run(
    setup: Setup,
    host: &dyn Host,
    out: &mut dyn Write,
) -> Result<Option<Receiver<Outcome>>, Error> {
    let lang = setup.worker.lang;
    let interval = setup.worker.interval;
    let filter_text = setup.worker.filter_text.clone();
    let watch = setup.worker.watch.clone();
    let w = worker::spawn(setup.worker)
        .map_err(|e| Error(text(lang, TopMsg::CannotStartCensus, &[&e.to_string()])))?;
    let mut app = state::App::new(lang, interval, filter_text, setup.listen);
    app.own_ssh = setup.own_ssh;
    let ctx = view::Context {
        ns_label: setup.ns_label,
        watch,
        follow_netns: setup.follow_netns,
    };
    let guard = screen::TermGuard::enter(out)?;
    let result = screen::screen_loop(guard.out, &mut app, &ctx, &w, host);
    drop(guard);
    drop(w);
    result
}
