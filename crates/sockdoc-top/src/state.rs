//! The state of the `top` screen and what keys do to it: which table, its sort, the selected row, the
//! drill-down, marks, the filter prompt, pause, popups, and the history behind the sparklines. Keys
//! turn into [`Effect`]s (a new filter for the worker, an action to confirm...) that the loop carries
//! out. Pure: no terminal, no kernel, no clock; tested by feeding keys and snapshots.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use sockdoc_core::aggregate::Key;
use sockdoc_core::filter::Filter;
use sockdoc_core::i18n::top::{word, TopMsg};
use sockdoc_core::i18n::Lang;
use sockdoc_core::own_ssh::OwnSsh;
use sockdoc_diag::Socket;

use crate::columns::{self, Sort};
use crate::history::History;
use crate::model::{self, GroupRow, Snap, Tab};
use crate::propose::Confirm;

/// What the screen asks the loop to do.
#[derive(Debug, PartialEq)]
pub enum Effect {
    Quit,
    /// Apply this filter (canonical text; empty = none).
    Filter(String),
    Pause(bool),
    Interval(Duration),
    Act(Request),
}

/// An action on sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionKind {
    Kill,
    Keepalive,
    Probe,
}

impl ActionKind {
    pub fn verb(self, lang: Lang) -> &'static str {
        match self {
            ActionKind::Kill => word(lang, TopMsg::VerbKill),
            ActionKind::Keepalive => word(lang, TopMsg::VerbKeepalive),
            ActionKind::Probe => word(lang, TopMsg::VerbProbe),
        }
    }
}

/// A confirmed action: exactly these sockets. `words` select them again (and maybe more) in the
/// action's own census; kill and probe keep only these cookies, keepalive acts on the service.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub kind: ActionKind,
    pub sockets: Vec<Socket>,
    pub words: String,
}

/// A socket table under a group row.
#[derive(Clone, Debug)]
pub struct Drill {
    pub tab: Tab,
    pub key: Key,
    pub label: String,
    pub rows: Vec<u32>,
    pub sel: usize,
    pub offset: usize,
    pub sort: Sort,
    pub marks: HashSet<u64>,
}

/// The rows of the table on screen, sorted.
#[derive(Clone, Debug, Default)]
pub enum Rows {
    #[default]
    None,
    Groups(Vec<GroupRow>),
    Sockets(Vec<u32>),
    Findings(Vec<usize>),
}

impl Rows {
    pub fn len(&self) -> usize {
        match self {
            Rows::None => 0,
            Rows::Groups(v) => v.len(),
            Rows::Sockets(v) => v.len(),
            Rows::Findings(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Everything the screen shows besides the data.
pub struct App {
    pub lang: Lang,
    pub tab: Tab,
    pub sorts: HashMap<Tab, Sort>,
    /// Selected row and scroll offset per table.
    pub sel: HashMap<Tab, (usize, usize)>,
    /// The identity of the selected row, to find it again after a refresh.
    sel_id: HashMap<Tab, RowId>,
    pub rows: Rows,
    pub drill: Option<Drill>,
    pub ghost_marks: HashSet<u64>,
    /// The filter prompt, while open: the text typed so far.
    pub prompt: Option<String>,
    pub filter_text: String,
    pub filter_error: Option<String>,
    /// The filter asked of the worker and not yet seen in a snapshot.
    pub filter_pending: bool,
    pub paused: bool,
    pub help: bool,
    pub confirm: Option<Confirm>,
    /// The result of the last action (title, lines), until dismissed.
    pub result: Option<(String, Vec<String>)>,
    /// An action under way.
    pub busy: Option<String>,
    /// A one-line message in the footer.
    pub status: Option<String>,
    /// The popup for a finding (its index), when open.
    pub finding: Option<usize>,
    /// Scroll position of the help, result or finding popup.
    pub popup_scroll: usize,
    pub history: History,
    pub snap: Option<Snap>,
    pub interval: Duration,
    /// Rows the table shows at once (set by the view), for page up/down.
    pub page: usize,
    /// Kill may take listeners (`--listen`).
    pub listen: bool,
    pub own_ssh: Option<OwnSsh>,
    /// The last error of the census worker.
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
enum RowId {
    Group(Key),
    Socket(u64),
    Finding(&'static str),
}

impl App {
    pub fn new(lang: Lang, interval: Duration, filter_text: String, listen: bool) -> App {
        App {
            lang,
            tab: Tab::Remote,
            sorts: Tab::ALL
                .iter()
                .map(|t| (*t, columns::default_sort(*t)))
                .collect(),
            sel: HashMap::new(),
            sel_id: HashMap::new(),
            rows: Rows::None,
            drill: None,
            ghost_marks: HashSet::new(),
            prompt: None,
            filter_text,
            filter_error: None,
            filter_pending: false,
            paused: false,
            help: false,
            confirm: None,
            result: None,
            busy: None,
            status: None,
            finding: None,
            popup_scroll: 0,
            history: History::default(),
            snap: None,
            interval,
            page: 10,
            listen,
            own_ssh: None,
            error: None,
        }
    }

    /// A new census arrived.
    pub fn on_snap(&mut self, snap: Snap) {
        let new_census = self.snap.as_ref().is_none_or(|s| s.seq != snap.seq);
        if new_census {
            self.history.push(&snap);
        }
        if snap.filter_text == self.filter_text {
            self.filter_pending = false;
        }
        self.error = None;
        // The selected socket, by cookie, while its index still points into the old census.
        let keep = self.drill_cookie();
        self.snap = Some(snap);
        self.refresh_drill(keep);
        self.rebuild();
    }

    /// The cookie of the socket selected in the drill-down.
    fn drill_cookie(&self) -> Option<u64> {
        let (snap, d) = (self.snap.as_ref()?, self.drill.as_ref()?);
        d.rows.get(d.sel).and_then(|&i| snap_cookie(snap, i))
    }

    /// Re-derive the drill-down rows from the current snapshot, keeping the selected socket (`keep`)
    /// and the marks that still exist.
    fn refresh_drill(&mut self, keep: Option<u64>) {
        let Some(snap) = &self.snap else { return };
        if let Some(d) = &mut self.drill {
            d.rows = model::group_sockets(snap, &d.key);
            columns::sort_sockets(
                &mut d.rows,
                &snap.census.sockets,
                snap.census.owners(),
                d.sort,
            );
            let alive: HashSet<u64> = d.rows.iter().map(|&i| snap.socket(i).cookie).collect();
            d.marks.retain(|c| alive.contains(c));
            if let Some(c) = keep {
                if let Some(p) = d.rows.iter().position(|&i| snap.socket(i).cookie == c) {
                    d.sel = p;
                }
            }
            d.sel = d.sel.min(d.rows.len().saturating_sub(1));
        }
        if snap.census.tcp_info {
            let alive: HashSet<u64> = snap.ghosts.iter().map(|&i| snap.socket(i).cookie).collect();
            self.ghost_marks.retain(|c| alive.contains(c));
        }
    }

    /// Rebuild and sort the rows of the current table, keeping the selected row when it still exists.
    pub fn rebuild(&mut self) {
        if let Some(snap) = &mut self.snap {
            snap.build_group(self.tab);
        }
        let Some(snap) = &self.snap else {
            self.rows = Rows::None;
            return;
        };
        let sort = self.sorts[&self.tab];
        self.rows = match self.tab {
            Tab::Ghosts => {
                let mut v = snap.ghosts.clone();
                columns::sort_sockets(&mut v, &snap.census.sockets, snap.census.owners(), sort);
                Rows::Sockets(v)
            }
            Tab::Findings => {
                let mut v: Vec<usize> = (0..snap.findings.len()).collect();
                columns::sort_findings(&mut v, &snap.findings, sort);
                Rows::Findings(v)
            }
            t => {
                let mut v = snap.group_rows(t).unwrap_or_default().to_vec();
                columns::sort_groups(&mut v, sort);
                Rows::Groups(v)
            }
        };
        let (mut sel, off) = self.sel.get(&self.tab).copied().unwrap_or((0, 0));
        if let Some(id) = self.sel_id.get(&self.tab) {
            if let Some(p) = self.position_of(id) {
                sel = p;
            }
        }
        sel = sel.min(self.rows.len().saturating_sub(1));
        self.sel.insert(self.tab, (sel, off));
        self.remember();
    }

    fn position_of(&self, id: &RowId) -> Option<usize> {
        let snap = self.snap.as_ref()?;
        match (&self.rows, id) {
            (Rows::Groups(v), RowId::Group(k)) => v.iter().position(|r| r.key == *k),
            (Rows::Sockets(v), RowId::Socket(c)) => {
                v.iter().position(|&i| snap.socket(i).cookie == *c)
            }
            (Rows::Findings(v), RowId::Finding(f)) => {
                v.iter().position(|&i| snap.findings[i].id == *f)
            }
            _ => None,
        }
    }

    fn remember(&mut self) {
        let Some(snap) = &self.snap else { return };
        let sel = self.selected();
        let id = match &self.rows {
            Rows::Groups(v) => v.get(sel).map(|r| RowId::Group(r.key)),
            Rows::Sockets(v) => v.get(sel).map(|&i| RowId::Socket(snap.socket(i).cookie)),
            Rows::Findings(v) => v.get(sel).map(|&i| RowId::Finding(snap.findings[i].id)),
            Rows::None => None,
        };
        match id {
            Some(id) => self.sel_id.insert(self.tab, id),
            None => self.sel_id.remove(&self.tab),
        };
    }

    /// What the screen shows (for the census thread).
    pub fn shown(&self) -> model::Shown {
        model::Shown {
            tab: self.tab,
            drilled: self.drill.is_some(),
        }
    }

    /// The selected row of the table on screen (the drill-down's when drilled).
    pub fn selected(&self) -> usize {
        match &self.drill {
            Some(d) => d.sel,
            None => self.sel.get(&self.tab).map_or(0, |s| s.0),
        }
    }

    /// The sort of the table on screen.
    pub fn sort(&self) -> Sort {
        match &self.drill {
            Some(d) => d.sort,
            None => self.sorts[&self.tab],
        }
    }

    fn rows_len(&self) -> usize {
        match &self.drill {
            Some(d) => d.rows.len(),
            None => self.rows.len(),
        }
    }

    fn move_sel(&mut self, delta: isize) {
        let n = self.rows_len();
        if n == 0 {
            return;
        }
        let cur = self.selected() as isize;
        let next = (cur + delta).clamp(0, n as isize - 1) as usize;
        match &mut self.drill {
            Some(d) => d.sel = next,
            None => {
                let e = self.sel.entry(self.tab).or_insert((0, 0));
                e.0 = next;
                self.remember();
            }
        }
    }

    fn set_tab(&mut self, tab: Tab) {
        self.drill = None;
        self.tab = tab;
        self.rebuild();
    }

    fn set_sort(&mut self, sort: Sort) {
        match &mut self.drill {
            Some(d) => {
                d.sort = sort;
                let keep = self.drill_cookie();
                self.refresh_drill(keep);
            }
            None => {
                self.sorts.insert(self.tab, sort);
                self.rebuild();
            }
        }
    }

    /// Move the sort to the next (`+1`) or previous column; numbers sort largest first.
    fn cycle_sort(&mut self, step: isize) {
        let drilled = self.drill.is_some();
        let n = columns::columns(self.tab, drilled) as isize;
        let cur = self.sort();
        let col = (cur.col as isize + step).rem_euclid(n) as usize;
        let desc = columns::numeric(self.tab, drilled, col);
        self.set_sort(Sort { col, desc });
    }

    /// Handle one key; returns what the loop must do.
    pub fn on_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(k.code, KeyCode::Char('c')) {
            return vec![Effect::Quit];
        }
        if self.prompt.is_some() {
            return self.on_prompt_key(k);
        }
        if self.confirm.is_some() {
            return self.on_confirm_key(k);
        }
        if self.help || self.result.is_some() || self.finding.is_some() {
            // Arrows scroll a long popup; any other key closes it.
            match k.code {
                KeyCode::Up => {
                    self.popup_scroll = self.popup_scroll.saturating_sub(1);
                    return Vec::new();
                }
                KeyCode::Down => {
                    self.popup_scroll += 1;
                    return Vec::new();
                }
                KeyCode::PageUp => {
                    self.popup_scroll = self.popup_scroll.saturating_sub(self.page.max(1));
                    return Vec::new();
                }
                KeyCode::PageDown => {
                    self.popup_scroll += self.page.max(1);
                    return Vec::new();
                }
                _ => {}
            }
            self.popup_scroll = 0;
            self.help = false;
            self.result = None;
            self.finding = None;
            return if matches!(k.code, KeyCode::Char('q')) {
                vec![Effect::Quit]
            } else {
                Vec::new()
            };
        }
        self.status = None;
        match k.code {
            KeyCode::Char('q') => return vec![Effect::Quit],
            KeyCode::Char('?') | KeyCode::Char('h') | KeyCode::F(1) => self.help = true,
            KeyCode::Char(c @ '1'..='7') => {
                let i = c as usize - '1' as usize;
                self.set_tab(Tab::ALL[i]);
            }
            KeyCode::Tab | KeyCode::Right if self.drill.is_none() => {
                let i = (self.tab.index() + 1) % Tab::ALL.len();
                self.set_tab(Tab::ALL[i]);
            }
            KeyCode::BackTab => {
                let i = (self.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len();
                self.set_tab(Tab::ALL[i]);
            }
            KeyCode::Left if self.drill.is_none() => {
                let i = (self.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len();
                self.set_tab(Tab::ALL[i]);
            }
            KeyCode::Up => self.move_sel(-1),
            KeyCode::Down => self.move_sel(1),
            KeyCode::PageUp => self.move_sel(-(self.page.max(1) as isize)),
            KeyCode::PageDown => self.move_sel(self.page.max(1) as isize),
            KeyCode::Home => self.move_sel(isize::MIN / 2),
            KeyCode::End => self.move_sel(isize::MAX / 2),
            KeyCode::Enter => self.enter(),
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Left if self.drill.is_some() => {
                self.drill = None;
                self.rebuild();
            }
            KeyCode::Char('>') | KeyCode::Char('s') => self.cycle_sort(1),
            KeyCode::Char('<') => self.cycle_sort(-1),
            KeyCode::Char('r') => {
                let s = self.sort();
                self.set_sort(Sort {
                    col: s.col,
                    desc: !s.desc,
                });
            }
            KeyCode::Char('/') => self.prompt = Some(self.filter_text.clone()),
            KeyCode::Char('z') => {
                self.paused = !self.paused;
                return vec![Effect::Pause(self.paused)];
            }
            KeyCode::Char('+') | KeyCode::Char('=') => return self.change_interval(true),
            KeyCode::Char('-') => return self.change_interval(false),
            KeyCode::Char(' ') => self.toggle_mark(),
            KeyCode::Char('k') => return self.propose(ActionKind::Kill),
            KeyCode::Char('a') => return self.propose(ActionKind::Keepalive),
            KeyCode::Char('p') => return self.propose(ActionKind::Probe),
            _ => {}
        }
        Vec::new()
    }

    fn change_interval(&mut self, up: bool) -> Vec<Effect> {
        const STEPS: [u64; 8] = [250, 500, 1000, 2000, 3000, 5000, 10_000, 30_000];
        let ms = self.interval.as_millis() as u64;
        let next = if up {
            STEPS.iter().copied().find(|&s| s > ms).unwrap_or(ms)
        } else {
            STEPS.iter().rev().copied().find(|&s| s < ms).unwrap_or(ms)
        };
        self.interval = Duration::from_millis(next);
        vec![Effect::Interval(self.interval)]
    }

    fn on_prompt_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let Some(text) = &mut self.prompt else {
            return Vec::new();
        };
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match k.code {
            KeyCode::Esc => {
                self.prompt = None;
                self.filter_error = None;
            }
            KeyCode::Enter => {
                let typed = text.trim().to_string();
                match Filter::parse(std::slice::from_ref(&typed)) {
                    Ok(_) => {
                        self.prompt = None;
                        self.filter_error = None;
                        if typed != self.filter_text {
                            self.filter_text = typed.clone();
                            self.filter_pending = true;
                            self.drill = None;
                            return vec![Effect::Filter(typed)];
                        }
                    }
                    Err(e) => self.filter_error = Some(e.to_string()),
                }
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char('u') if ctrl => text.clear(),
            KeyCode::Char(c) if !ctrl => text.push(c),
            _ => {}
        }
        Vec::new()
    }

    fn enter(&mut self) {
        let Some(snap) = &self.snap else { return };
        if self.drill.is_some() {
            return;
        }
        match (&self.rows, self.tab) {
            (Rows::Groups(v), tab) => {
                let Some(r) = v.get(self.selected()) else {
                    return;
                };
                let mut rows = model::group_sockets(snap, &r.key);
                let sort = Sort {
                    col: 0,
                    desc: false,
                };
                columns::sort_sockets(&mut rows, &snap.census.sockets, snap.census.owners(), sort);
                self.drill = Some(Drill {
                    tab,
                    key: r.key,
                    label: r.label.clone(),
                    rows,
                    sel: 0,
                    offset: 0,
                    sort,
                    marks: HashSet::new(),
                });
            }
            (Rows::Findings(v), _) => self.finding = v.get(self.selected()).copied(),
            _ => {}
        }
    }

    fn toggle_mark(&mut self) {
        let Some(snap) = &self.snap else { return };
        let (marks, cookie) = match (&mut self.drill, &self.rows) {
            (Some(d), _) => {
                let c = d.rows.get(d.sel).map(|&i| snap.socket(i).cookie);
                (&mut d.marks, c)
            }
            (None, Rows::Sockets(v)) => {
                let sel = self.sel.get(&self.tab).map_or(0, |s| s.0);
                let c = v.get(sel).map(|&i| snap.socket(i).cookie);
                (&mut self.ghost_marks, c)
            }
            _ => return,
        };
        if let Some(c) = cookie {
            if !marks.remove(&c) {
                marks.insert(c);
            }
        }
        self.move_sel(1);
    }
}

fn snap_cookie(snap: &Snap, i: u32) -> Option<u64> {
    snap.census.sockets.get(i as usize).map(|s| s.cookie)
}

#[cfg(test)]
mod tests;
