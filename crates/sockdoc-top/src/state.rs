//! The state of the `top` screen and what keys do to it: which table, its sort, the selected row, the
//! drill-down, marks, the filter prompt, pause, popups, and the history behind the sparklines. Keys
//! turn into [`Effect`]s (a new filter for the worker, an action to confirm...) that the loop carries
//! out. Pure: no terminal, no kernel, no clock; tested by feeding keys and snapshots.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use sockdoc_core::aggregate::Key;
use sockdoc_core::doctor::ghosts::is_suspect;
use sockdoc_core::filter::Filter;
use sockdoc_core::i18n::{pick, Lang};
use sockdoc_core::own_ssh::OwnSsh;
use sockdoc_diag::{Proto, Socket, State};

use super::model::{self, GroupRow, Scope, Snap, Sort, Tab};

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
            ActionKind::Kill => pick(lang, "kill", "关闭"),
            ActionKind::Keepalive => pick(lang, "set keepalive on", "开启 keepalive"),
            ActionKind::Probe => pick(lang, "probe", "探测"),
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

/// The confirmation popup: the exact selection, and what the safety rules leave out.
#[derive(Clone, Debug)]
pub struct Confirm {
    pub request: Request,
    /// Sockets of the row that will not be touched, with the reason.
    pub left_alone: Vec<(Socket, &'static str)>,
    /// What the action acts on, in words (`service sport = :21`).
    pub what: String,
    pub scroll: usize,
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

/// One census's numbers for the sparklines.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// Seconds since the first sample.
    pub t: f64,
    pub estab: u64,
    pub time_wait: u64,
    pub close_wait: u64,
    pub syn_recv: u64,
    /// conntrack fill, percent (0 when there is no conntrack).
    pub conntrack_pct: u64,
}

/// The last samples (one per census), oldest first.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub samples: VecDeque<Sample>,
    start: Option<std::time::Instant>,
}

/// Samples kept: 10 minutes at one census a second.
pub const HISTORY: usize = 600;

impl History {
    pub fn push(&mut self, snap: &Snap) {
        let start = *self.start.get_or_insert(snap.taken);
        let st = |s: State| snap.tcp.get(s);
        let pct = snap
            .conntrack
            .map_or(0, |(c, m)| (c * 100).checked_div(m).unwrap_or(0));
        if self.samples.len() == HISTORY {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            t: snap.taken.saturating_duration_since(start).as_secs_f64(),
            estab: st(State::Established),
            time_wait: st(State::TimeWait),
            close_wait: st(State::CloseWait),
            syn_recv: st(State::SynRecv),
            conntrack_pct: pct,
        });
    }

    /// Change per second of one series between the last two samples.
    pub fn rate(&self, f: impl Fn(&Sample) -> u64) -> Option<f64> {
        let n = self.samples.len();
        if n < 2 {
            return None;
        }
        let (a, b) = (&self.samples[n - 2], &self.samples[n - 1]);
        let dt = b.t - a.t;
        (dt > 0.0).then(|| (f(b) as f64 - f(a) as f64) / dt)
    }

    /// The last `n` values of one series.
    pub fn series(&self, n: usize, f: impl Fn(&Sample) -> u64) -> Vec<u64> {
        let skip = self.samples.len().saturating_sub(n);
        self.samples.iter().skip(skip).map(f).collect()
    }
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
                .map(|t| (*t, model::default_sort(*t)))
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
            model::sort_sockets(
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
        let alive: HashSet<u64> = snap.ghosts.iter().map(|&i| snap.socket(i).cookie).collect();
        self.ghost_marks.retain(|c| alive.contains(c));
    }

    /// Rebuild and sort the rows of the current table, keeping the selected row when it still exists.
    pub fn rebuild(&mut self) {
        let Some(snap) = &self.snap else {
            self.rows = Rows::None;
            return;
        };
        let sort = self.sorts[&self.tab];
        self.rows = match self.tab {
            Tab::Ghosts => {
                let mut v = snap.ghosts.clone();
                model::sort_sockets(&mut v, &snap.census.sockets, snap.census.owners(), sort);
                Rows::Sockets(v)
            }
            Tab::Findings => {
                let mut v: Vec<usize> = (0..snap.findings.len()).collect();
                model::sort_findings(&mut v, &snap.findings, sort);
                Rows::Findings(v)
            }
            t => {
                let mut v = snap.group_rows(t).to_vec();
                model::sort_groups(&mut v, sort);
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
        let n = model::columns(self.tab, drilled) as isize;
        let cur = self.sort();
        let col = (cur.col as isize + step).rem_euclid(n) as usize;
        let desc = model::numeric(self.tab, drilled, col);
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
            KeyCode::Char(c @ '1'..='6') => {
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

    fn on_confirm_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let Some(c) = &mut self.confirm else {
            return Vec::new();
        };
        match k.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => {
                let request = c.request.clone();
                self.confirm = None;
                self.busy = Some(format!(
                    "{} {}…",
                    request.kind.verb(self.lang),
                    request.sockets.len()
                ));
                return vec![Effect::Act(request)];
            }
            KeyCode::Up => c.scroll = c.scroll.saturating_sub(1),
            KeyCode::Down => c.scroll += 1,
            KeyCode::PageUp => c.scroll = c.scroll.saturating_sub(self.page.max(1)),
            KeyCode::PageDown => c.scroll += self.page.max(1),
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Char('q') => {
                self.confirm = None;
                self.status =
                    Some(pick(self.lang, "cancelled: nothing done", "已取消: 未做任何操作").into());
            }
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
                model::sort_sockets(&mut rows, &snap.census.sockets, snap.census.owners(), sort);
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

    /// The sockets the keys act on in a socket table: the marked ones, else the highlighted one.
    fn picked_sockets(&self) -> Vec<Socket> {
        let Some(snap) = &self.snap else {
            return Vec::new();
        };
        let (rows, marks, sel): (&[u32], &HashSet<u64>, usize) = match (&self.drill, &self.rows) {
            (Some(d), _) => (&d.rows, &d.marks, d.sel),
            (None, Rows::Sockets(v)) => (v, &self.ghost_marks, self.selected()),
            _ => return Vec::new(),
        };
        if marks.is_empty() {
            rows.get(sel)
                .map(|&i| *snap.socket(i))
                .into_iter()
                .collect()
        } else {
            rows.iter()
                .map(|&i| *snap.socket(i))
                .filter(|s| marks.contains(&s.cookie))
                .collect()
        }
    }

    /// The group row under the cursor (or the one drilled into).
    fn current_group(&self) -> Option<(Tab, Key, String)> {
        if let Some(d) = &self.drill {
            return Some((d.tab, d.key, d.label.clone()));
        }
        match &self.rows {
            Rows::Groups(v) => v
                .get(self.selected())
                .map(|r| (self.tab, r.key, r.label.clone())),
            _ => None,
        }
    }

    /// Open the confirmation for an action on the current selection, or say why there is none.
    fn propose(&mut self, kind: ActionKind) -> Vec<Effect> {
        let lang = self.lang;
        if self.busy.is_some() {
            self.status =
                Some(pick(lang, "an action is still running", "上一个操作仍在进行").into());
            return Vec::new();
        }
        let Some(snap) = &self.snap else {
            return Vec::new();
        };
        let owners = snap.census.owners();
        let in_table = self.drill.is_some() || matches!(self.rows, Rows::Sockets(_));
        let group = self.current_group();
        let (candidates, group_words, what): (Vec<Socket>, Option<String>, String) = match kind {
            ActionKind::Keepalive => {
                let Some((tab, key, label)) = group
                    .filter(|(t, k, _)| matches!(t, Tab::Port | Tab::Process) && *k != Key::Pid(0))
                else {
                    self.status = Some(pick(lang,
                        "keepalive works on a service: pick a row of the Local port (3) or Process (4) table",
                        "keepalive 针对服务: 请在 本地端口(3) 或 进程(4) 表中选择一行").into());
                    return Vec::new();
                };
                let scope = Scope::of(&key);
                let socks = snap
                    .selected
                    .iter()
                    .map(|&i| *snap.socket(i))
                    .filter(|s| scope.matches(s, owners))
                    .collect();
                let name = if tab == Tab::Port {
                    format!(":{label}")
                } else {
                    label
                };
                (socks, scope.words, name)
            }
            _ if in_table => {
                let words = self.drill.as_ref().and_then(|d| Scope::of(&d.key).words);
                (self.picked_sockets(), words, String::new())
            }
            _ => {
                let Some((_, key, label)) = group else {
                    self.status = Some(pick(lang, "nothing selected", "未选中任何行").into());
                    return Vec::new();
                };
                let scope = Scope::of(&key);
                let socks = model::group_sockets(snap, &key)
                    .into_iter()
                    .map(|i| *snap.socket(i))
                    .collect();
                (socks, scope.words, label)
            }
        };
        let mut sockets = Vec::new();
        let mut left_alone = Vec::new();
        let threshold = snap.threshold_ms;
        for s in candidates {
            match self.verdict(kind, &s, in_table, threshold) {
                Verdict::Take => sockets.push(s),
                Verdict::Skip => {}
                Verdict::LeaveAlone(why) => left_alone.push((s, why)),
            }
        }
        if sockets.is_empty() {
            self.status = Some(match kind {
                ActionKind::Probe => {
                    pick(lang, "no ghost suspects selected", "未选中疑似半开连接").into()
                }
                _ => pick(
                    lang,
                    "nothing to act on in this selection",
                    "所选范围内没有可操作的套接字",
                )
                .into(),
            });
            return Vec::new();
        }
        let words = model::superset_words(group_words.as_deref(), &snap.filter_text, &sockets);
        let words = match kind {
            // keepalive acts on the service (its listener too), as `sockdoc keepalive WORDS` would.
            ActionKind::Keepalive => {
                let g = group_words.unwrap_or_default();
                if snap.filter_text.is_empty() {
                    g
                } else {
                    format!("( {g} ) and ( {} )", snap.filter_text)
                }
            }
            _ => words,
        };
        self.confirm = Some(Confirm {
            request: Request {
                kind,
                sockets,
                words,
            },
            left_alone,
            what,
            scroll: 0,
        });
        Vec::new()
    }
}

/// What an action does with one socket of the selection.
enum Verdict {
    Take,
    /// Not part of what the action means (keepalive: other states; a row's probe: not a suspect).
    Skip,
    /// Kept out by a safety rule, shown in the confirmation.
    LeaveAlone(&'static str),
}

impl App {
    fn verdict(&self, kind: ActionKind, s: &Socket, in_table: bool, threshold: u64) -> Verdict {
        let lang = self.lang;
        if self.own_ssh.is_some_and(|o| o.is(s)) {
            return Verdict::LeaveAlone(pick(lang, "your own ssh session", "你自己的 ssh 会话"));
        }
        let tcp = s.proto == Proto::Tcp;
        match kind {
            ActionKind::Kill if s.state == State::Listen && !self.listen => {
                Verdict::LeaveAlone(pick(
                    lang,
                    "listener (start top with --listen)",
                    "监听套接字 (启动 top 时加 --listen)",
                ))
            }
            ActionKind::Keepalive
                if !tcp || !matches!(s.state, State::Established | State::Listen) =>
            {
                Verdict::Skip
            }
            ActionKind::Keepalive if s.inode == 0 => {
                Verdict::LeaveAlone(pick(lang, "no process holds it", "没有进程持有"))
            }
            ActionKind::Probe if !in_table && !is_suspect(s, threshold) => Verdict::Skip,
            ActionKind::Probe if !tcp || s.state != State::Established => {
                Verdict::LeaveAlone(pick(
                    lang,
                    "not an ESTABLISHED TCP connection",
                    "不是 ESTABLISHED 的 TCP 连接",
                ))
            }
            _ => Verdict::Take,
        }
    }
}

fn snap_cookie(snap: &Snap, i: u32) -> Option<u64> {
    snap.census.sockets.get(i as usize).map(|s| s.cookie)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::top::model::tests::{census, snap_of, sock};
    use crate::cmd::top::model::Census;
    use std::sync::Arc;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn lab() -> Arc<Census> {
        let mut v = vec![sock(State::Listen, "127.0.0.1", 21, "0.0.0.0", 0)];
        for p in 0..5u16 {
            v.push(sock(
                State::Established,
                "127.0.0.1",
                21,
                "127.0.0.2",
                40000 + p,
            ));
        }
        v.push(sock(
            State::Established,
            "127.0.0.1",
            22,
            "127.0.0.3",
            50000,
        ));
        for (i, s) in v.iter_mut().enumerate() {
            s.inode = 100 + i as u32;
        }
        Arc::new(census(v))
    }

    fn app() -> App {
        let mut a = App::new(Lang::En, Duration::from_secs(1), String::new(), false);
        a.on_snap(snap_of(lab(), "", 1));
        a
    }

    fn type_text(a: &mut App, text: &str) -> Vec<Effect> {
        let mut out = Vec::new();
        for c in text.chars() {
            out.extend(a.on_key(key(KeyCode::Char(c))));
        }
        out
    }

    #[test]
    fn tabs_sort_and_selection() {
        let mut a = app();
        assert_eq!(a.tab, Tab::Remote);
        let Rows::Groups(rows) = &a.rows else {
            panic!("groups")
        };
        assert_eq!(rows[0].label, "127.0.0.2", "largest first");
        a.on_key(key(KeyCode::Char('3')));
        assert_eq!(a.tab, Tab::Port);
        a.on_key(key(KeyCode::Down));
        let Rows::Groups(rows) = &a.rows else {
            panic!("groups")
        };
        assert_eq!(rows[a.selected()].label, "22");
        // The selection follows its row across a refresh and a re-sort.
        a.on_snap(snap_of(lab(), "", 2));
        a.on_key(key(KeyCode::Char('r')));
        let Rows::Groups(rows) = &a.rows else {
            panic!("groups")
        };
        assert_eq!(rows[0].label, "22", "smallest first after r");
        assert_eq!(rows[a.selected()].label, "22");
        a.on_key(key(KeyCode::Char('<')));
        assert_eq!(a.sort().col, 0, "sorted by the key column");
        a.on_key(key(KeyCode::Char('6')));
        assert_eq!(a.tab, Tab::Findings);
        assert_eq!(a.on_key(key(KeyCode::Char('q'))), vec![Effect::Quit]);
    }

    #[test]
    fn the_filter_prompt_checks_before_applying() {
        let mut a = app();
        a.on_key(key(KeyCode::Char('/')));
        type_text(&mut a, "sport = :nope");
        assert!(a.on_key(key(KeyCode::Enter)).is_empty());
        assert!(a.filter_error.is_some(), "bad filter stays in the prompt");
        a.on_key(KeyCode::Char('u').into_ctrl());
        type_text(&mut a, "sport = :22");
        assert_eq!(
            a.on_key(key(KeyCode::Enter)),
            vec![Effect::Filter("sport = :22".into())]
        );
        assert!(a.prompt.is_none() && a.filter_pending);
        a.on_snap(snap_of(lab(), "sport = :22", 2));
        assert!(!a.filter_pending);
        assert_eq!(a.rows.len(), 1, "one remote IP left");
    }

    #[test]
    fn kill_confirms_exactly_the_marked_sockets() {
        let mut a = app();
        a.on_key(key(KeyCode::Char('3')));
        a.on_key(key(KeyCode::Enter));
        let d = a.drill.as_ref().expect("drilled into :21");
        assert_eq!(d.rows.len(), 6, "listener and five connections");
        // Mark the second and third rows (sorted by state: connections first).
        a.on_key(key(KeyCode::Down));
        a.on_key(key(KeyCode::Char(' ')));
        a.on_key(key(KeyCode::Char(' ')));
        let marked: HashSet<u64> = a.drill.as_ref().expect("drill").marks.clone();
        assert_eq!(marked.len(), 2);
        assert!(a.on_key(key(KeyCode::Char('k'))).is_empty());
        let c = a.confirm.as_ref().expect("confirmation");
        let got: HashSet<u64> = c.request.sockets.iter().map(|s| s.cookie).collect();
        assert_eq!(got, marked);
        let fx = a.on_key(key(KeyCode::Char('y')));
        let [Effect::Act(r)] = fx.as_slice() else {
            panic!("{fx:?}")
        };
        assert_eq!(r.kind, ActionKind::Kill);
        let f = Filter::parse(std::slice::from_ref(&r.words)).expect("words parse");
        assert!(r
            .sockets
            .iter()
            .all(|s| f.matches(s, &sockdoc_core::NoOwners)));
        assert!(a.busy.is_some());
    }

    #[test]
    fn the_drill_down_keeps_its_socket_across_censuses() {
        let mut a = app();
        a.on_key(key(KeyCode::Char('3')));
        a.on_key(key(KeyCode::Enter));
        a.on_key(key(KeyCode::Down));
        a.on_key(key(KeyCode::Down));
        let cookie_at = |a: &App, row: usize| {
            let d = a.drill.as_ref().expect("drilled");
            a.snap.as_ref().expect("snap").socket(d.rows[row]).cookie
        };
        let picked = cookie_at(&a, 2);
        let first = cookie_at(&a, 0);
        // The next census lists the sockets in another order, the first row's connection gone.
        let mut v = lab().sockets.clone();
        v.reverse();
        v.retain(|s| s.cookie != first);
        a.on_snap(snap_of(Arc::new(census(v)), "", 2));
        let sel = a.drill.as_ref().expect("still drilled").sel;
        assert_eq!(cookie_at(&a, sel), picked, "the same socket stays selected");
        assert_eq!(a.drill.as_ref().expect("drill").rows.len(), 5);
    }

    #[test]
    fn kill_on_a_row_leaves_listeners_and_own_ssh_alone() {
        let mut a = app();
        a.own_ssh = OwnSsh::parse("127.0.0.2 40000 127.0.0.1 21");
        a.on_key(key(KeyCode::Char('3')));
        a.on_key(key(KeyCode::Char('k')));
        let c = a.confirm.as_ref().expect("confirmation");
        assert_eq!(c.request.sockets.len(), 4);
        assert_eq!(c.left_alone.len(), 2, "{:?}", c.left_alone);
        a.on_key(key(KeyCode::Char('n')));
        assert!(a.confirm.is_none());
        // keepalive: the service, listener included, in the words of `sockdoc keepalive`.
        a.on_key(key(KeyCode::Char('a')));
        let c = a.confirm.as_ref().expect("confirmation");
        assert_eq!(c.request.words, "sport = :21");
        assert_eq!(c.request.kind, ActionKind::Keepalive);
    }

    #[test]
    fn history_rates_and_interval_steps() {
        let mut a = app();
        let mut more = lab().sockets.clone();
        more.push(sock(State::TimeWait, "127.0.0.1", 21, "127.0.0.9", 1));
        let mut s = snap_of(Arc::new(census(more)), "", 2);
        s.taken = a.snap.as_ref().expect("snap").taken + Duration::from_secs(2);
        a.on_snap(s);
        assert_eq!(a.history.samples.len(), 2);
        assert_eq!(a.history.rate(|x| x.time_wait), Some(0.5));
        assert_eq!(a.history.series(10, |x| x.conntrack_pct), vec![10, 10]);
        assert_eq!(
            a.on_key(key(KeyCode::Char('+'))),
            vec![Effect::Interval(Duration::from_secs(2))]
        );
        assert_eq!(a.on_key(key(KeyCode::Char('z'))), vec![Effect::Pause(true)]);
    }

    trait Ctrl {
        fn into_ctrl(self) -> KeyEvent;
    }
    impl Ctrl for KeyCode {
        fn into_ctrl(self) -> KeyEvent {
            KeyEvent::new(self, KeyModifiers::CONTROL)
        }
    }
}
