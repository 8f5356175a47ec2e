//! Proposing an action from the screen: the exact sockets a key would act on (the marked ones, a
//! row's, a service's), what the safety rules leave out, and the confirmation shown before anything
//! is done. Pure.

use std::collections::HashSet;

use crossterm::event::{KeyCode, KeyEvent};
use sockdoc_core::aggregate::Key;
use sockdoc_core::i18n::top::{word, TopMsg};
use sockdoc_diag::{Proto, Socket, State};

use crate::model::{self, Membership, Tab};
use crate::state::{ActionKind, App, Effect, Request, Rows};

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

impl App {
    pub(crate) fn on_confirm_key(&mut self, k: KeyEvent) -> Vec<Effect> {
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
                self.status = Some(word(self.lang, TopMsg::Cancelled).into());
            }
            _ => {}
        }
        Vec::new()
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
    pub(crate) fn propose(&mut self, kind: ActionKind) -> Vec<Effect> {
        let lang = self.lang;
        if self.busy.is_some() {
            self.status = Some(word(lang, TopMsg::StillRunning).into());
            return Vec::new();
        }
        let Some(snap) = &self.snap else {
            return Vec::new();
        };
        let judge = snap.census.judge();
        let owners: &dyn sockdoc_core::Owners = &judge;
        let in_table = self.drill.is_some() || matches!(self.rows, Rows::Sockets(_));
        let group = self.current_group();
        let (candidates, group_words, what): (Vec<Socket>, Option<String>, String) = match kind {
            ActionKind::Keepalive => {
                let Some((tab, key, label)) = group
                    .filter(|(t, k, _)| matches!(t, Tab::Port | Tab::Process) && *k != Key::Pid(0))
                else {
                    self.status = Some(word(lang, TopMsg::KeepaliveNeedsService).into());
                    return Vec::new();
                };
                let scope = Membership::of(&key);
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
                let words = self
                    .drill
                    .as_ref()
                    .and_then(|d| Membership::of(&d.key).words);
                (self.picked_sockets(), words, String::new())
            }
            _ => {
                let Some((_, key, label)) = group else {
                    self.status = Some(word(lang, TopMsg::NothingSelected).into());
                    return Vec::new();
                };
                let scope = Membership::of(&key);
                let socks = model::group_sockets(snap, &key)
                    .into_iter()
                    .map(|i| *snap.socket(i))
                    .collect();
                (socks, scope.words, label)
            }
        };
        let mut sockets = Vec::new();
        let mut left_alone = Vec::new();
        for s in candidates {
            match self.verdict(kind, &s, in_table) {
                Verdict::Take => sockets.push(s),
                Verdict::Skip => {}
                Verdict::LeaveAlone(why) => left_alone.push((s, why)),
            }
        }
        if sockets.is_empty() {
            let m = match kind {
                ActionKind::Probe => TopMsg::NoGhostsSelected,
                _ => TopMsg::NothingToActOn,
            };
            self.status = Some(word(lang, m).into());
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
    fn verdict(&self, kind: ActionKind, s: &Socket, in_table: bool) -> Verdict {
        let lang = self.lang;
        if self.own_ssh.is_some_and(|o| o.is(s)) {
            return Verdict::LeaveAlone(word(lang, TopMsg::LeaveOwnSsh));
        }
        let tcp = s.proto == Proto::Tcp;
        match kind {
            ActionKind::Kill if s.state == State::Listen && !self.listen => {
                Verdict::LeaveAlone(word(lang, TopMsg::LeaveListener))
            }
            ActionKind::Keepalive
                if !tcp || !matches!(s.state, State::Established | State::Listen) =>
            {
                Verdict::Skip
            }
            ActionKind::Keepalive if s.inode == 0 => {
                Verdict::LeaveAlone(word(lang, TopMsg::LeaveNoProcess))
            }
            ActionKind::Probe
                if !in_table && !self.snap.as_ref().is_some_and(|n| n.is_ghost(s)) =>
            {
                Verdict::Skip
            }
            ActionKind::Probe if !tcp || s.state != State::Established => {
                Verdict::LeaveAlone(word(lang, TopMsg::LeaveNotEstablished))
            }
            _ => Verdict::Take,
        }
    }
}
