//! The screen state fed keys and snapshots.

use super::*;
use crate::model::tests::{census, snap_of, sock};
use crate::model::Capture;
use crossterm::event::KeyModifiers;
use sockdoc_core::own_ssh::OwnSsh;
use sockdoc_diag::State;
use std::sync::Arc;

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn lab() -> Arc<Capture> {
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
    a.on_key(key(KeyCode::Char('7')));
    assert_eq!(a.tab, Tab::Service);
    assert!(a.shown().needs_services());
    a.on_key(key(KeyCode::Tab));
    assert_eq!(a.tab, Tab::Remote, "Tab goes round");
    assert_eq!(a.on_key(key(KeyCode::Char('q'))), vec![Effect::Quit]);
}

#[test]
fn tab_titles_fit_by_cutting_the_widest_unselected_to_its_key() {
    let tabs: Vec<(String, String)> = ["1 Remote IP", "2 Prefix", "3 Findings (2)", "4 Services"]
        .iter()
        .map(|t| {
            (
                t.to_string(),
                t.split(' ').next().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let full: Vec<String> = tabs.iter().map(|t| t.0.clone()).collect();
    assert_eq!(
        crate::view::fit_titles(tabs.clone(), 0, 80),
        full,
        "room for all"
    );
    let fit = crate::view::fit_titles(tabs.clone(), 2, 36);
    assert_eq!(
        fit,
        ["1", "2 Prefix", "3 Findings (2)", "4 Services"],
        "{fit:?}"
    );
    let fit = crate::view::fit_titles(tabs, 3, 5);
    assert_eq!(
        fit,
        ["1", "2", "3", "4 Services"],
        "the selected one stays whole"
    );
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

#[test]
fn a_table_the_census_did_not_build_is_built_when_shown() {
    let mut a = app();
    let mut snap = snap_of(lab(), "", 2);
    // As the census thread sends it: only the table on screen (remote IP) built.
    snap.groups[1] = None;
    snap.groups[2] = None;
    snap.groups[3] = None;
    a.on_snap(snap);
    a.on_key(key(KeyCode::Char('3')));
    let Rows::Groups(rows) = &a.rows else {
        panic!("groups")
    };
    assert_eq!(rows.len(), 2, "ports 21 and 22: {rows:?}");
    assert!(a
        .snap
        .as_ref()
        .is_some_and(|s| s.group_rows(Tab::Port).is_some()));
    // Enter right away drills into the row shown.
    a.on_key(key(KeyCode::Enter));
    assert!(a.drill.is_some());
    assert!(a.shown().drilled && a.shown().needs_tcp_info());
}
