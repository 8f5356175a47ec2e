//! Drawing the tables of the `top` screen: group rows, sockets (ghost suspects, a row's sockets),
//! findings. Only the visible window of rows is formatted.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Paragraph, Row, Table, TableState};
use ratatui::Frame;
use sockdoc_core::aggregate::Key;
use sockdoc_core::doctor::Severity;
use sockdoc_core::i18n::top::{word, TopMsg};
use sockdoc_core::units::{count, duration_ms, timer};
use sockdoc_diag::Socket;

use crate::columns;
use crate::columns::{FindCol, GroupCol, SockCol};
use crate::model::{GroupRow, Snap, Tab};
use crate::state::{App, Rows};
use crate::view::{bold, dim};

pub(crate) fn sort_mark(app: &App, col: usize) -> &'static str {
    let s = app.sort();
    match (s.col == col, s.desc) {
        (false, _) => "",
        (true, true) => "▼",
        (true, false) => "▲",
    }
}

pub(crate) fn header_row(cells: Vec<String>) -> Row<'static> {
    Row::new(cells).style(bold().add_modifier(Modifier::UNDERLINED))
}

pub(crate) fn draw_table(f: &mut Frame, area: Rect, app: &mut App) {
    app.page = usize::from(area.height.saturating_sub(2)).max(1);
    let Some(snap) = app.snap.take() else {
        let msg = app
            .error
            .clone()
            .unwrap_or_else(|| word(app.lang, TopMsg::CollectingFirst).into());
        f.render_widget(Paragraph::new(msg), area);
        return;
    };
    if let Some(d) = app.drill.as_ref() {
        let rows = d.rows.clone();
        let marks = d.marks.clone();
        let (sel, offset) = (d.sel, d.offset);
        let off = draw_sockets(f, area, app, &snap, &rows, &marks, sel, offset);
        if let Some(d) = app.drill.as_mut() {
            d.offset = off;
        }
    } else {
        let (sel, offset) = app.sel.get(&app.tab).copied().unwrap_or((0, 0));
        let off = match &app.rows {
            Rows::Groups(rows) => draw_groups(f, area, app, rows, sel, offset),
            Rows::Sockets(rows) => {
                let marks = app.ghost_marks.clone();
                draw_sockets(f, area, app, &snap, rows, &marks, sel, offset)
            }
            Rows::Findings(rows) => draw_findings(f, area, app, &snap, rows, sel, offset),
            Rows::None => 0,
        };
        if let Some(e) = app.sel.get_mut(&app.tab) {
            e.1 = off;
        }
        if app.rows.is_empty() {
            let msg = match app.tab {
                Tab::Service if snap.group_rows(Tab::Service).is_none() => {
                    word(app.lang, TopMsg::ReadingServices)
                }
                Tab::Ghosts => word(app.lang, TopMsg::NoGhosts),
                Tab::Findings => word(app.lang, TopMsg::NoFindings),
                _ => word(app.lang, TopMsg::NoSocketsMatch),
            };
            let r = Rect {
                y: area.y + 1,
                height: 1,
                ..area
            };
            f.render_widget(Paragraph::new(msg).style(dim()), r);
        }
    }
    app.snap = Some(snap);
}

/// The first row to show so that the selected one is visible; only visible rows are formatted
/// (a table may have hundreds of thousands).
pub(crate) fn window(area: Rect, sel: usize, offset: usize, len: usize) -> usize {
    let visible = usize::from(area.height.saturating_sub(1)).max(1);
    let mut offset = offset.min(len.saturating_sub(1));
    if sel < offset {
        offset = sel;
    } else if sel >= offset + visible {
        offset = sel + 1 - visible;
    }
    offset
}

pub(crate) fn visible_part<T>(area: Rect, rows: &[T], offset: usize) -> &[T] {
    let visible = usize::from(area.height.saturating_sub(1)).max(1);
    &rows[offset.min(rows.len())..(offset + visible).min(rows.len())]
}

pub(crate) fn table_state(sel: usize, offset: usize) -> TableState {
    TableState::default()
        .with_selected(Some(sel))
        .with_offset(offset)
}

/// Draws a table (header, rows, column widths) with `st`'s selected row highlighted; returns the
/// state as drawn (the offset ratatui settled on).
pub(crate) fn draw_rows<'a>(
    f: &mut Frame,
    area: Rect,
    header: Row<'a>,
    body: Vec<Row<'a>>,
    widths: impl IntoIterator<Item = Constraint>,
    mut st: TableState,
) -> TableState {
    let table = Table::new(body, widths)
        .header(header)
        .row_highlight_style(highlight());
    f.render_stateful_widget(table, area, &mut st);
    st
}

/// Draws the rows of a window that starts at row `offset` (the body holds only those), with row
/// `sel` highlighted; returns `offset`.
pub(crate) fn draw_window<'a>(
    f: &mut Frame,
    area: Rect,
    header: Row<'a>,
    body: Vec<Row<'a>>,
    widths: impl IntoIterator<Item = Constraint>,
    sel: usize,
    offset: usize,
) -> usize {
    let st = table_state(sel.saturating_sub(offset), 0);
    draw_rows(f, area, header, body, widths, st);
    offset
}

pub(crate) fn highlight() -> Style {
    Style::default().add_modifier(Modifier::REVERSED)
}

pub(crate) fn draw_groups(
    f: &mut Frame,
    area: Rect,
    app: &App,
    rows: &[GroupRow],
    sel: usize,
    offset: usize,
) -> usize {
    let lang = app.lang;
    let wide = area.width >= 110;
    let cols: Vec<(usize, GroupCol)> = GroupCol::ALL
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, c)| wide || !matches!(c, GroupCol::Listen | GroupCol::Other))
        .filter(|(_, c)| {
            *c != GroupCol::Name || matches!(app.tab, Tab::Port | Tab::Process | Tab::Service)
        })
        .collect();
    // Wide enough for the header too (`UNIT/CONTAINER` is longer than most unit names).
    let header_w = Span::raw(GroupCol::Key.header(app.tab, lang)).width();
    let key_w = visible_part(area, rows, window(area, sel, offset, rows.len()))
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0)
        .max(header_w.saturating_sub(1))
        .clamp(8, if wide { 40 } else { 20 }) as u16;
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|(_, c)| match c {
            GroupCol::Key => Constraint::Length(key_w + 1),
            GroupCol::Name => Constraint::Min(8),
            GroupCol::TimeWait | GroupCol::SynRecv => Constraint::Length(10),
            GroupCol::CloseWait => Constraint::Length(11),
            _ => Constraint::Length(8),
        })
        .collect();
    let header = header_row(
        cols.iter()
            .map(|(i, c)| format!("{}{}", c.header(app.tab, lang), sort_mark(app, *i)))
            .collect(),
    );
    let offset = window(area, sel, offset, rows.len());
    let body: Vec<Row> = visible_part(area, rows, offset)
        .iter()
        .map(|r| {
            Row::new(cols.iter().map(|(_, c)| match c {
                GroupCol::Key => r.label.clone(),
                // Say what the `-` service row is rather than leave it bare.
                GroupCol::Name if r.key == Key::Unit(0) => word(lang, TopMsg::NoCgroupRow).into(),
                GroupCol::Name => r.name.clone(),
                c => {
                    let v = c.value(r);
                    if v == 0 && *c != GroupCol::Total {
                        "·".to_string()
                    } else {
                        count(v)
                    }
                }
            }))
        })
        .collect();
    draw_window(f, area, header, body, widths, sel, offset)
}

/// The peer as ss writes it: `*` for the port of a socket with no peer (listeners, unconnected UDP).
pub(crate) fn peer_text(s: &Socket) -> String {
    if s.remote_port == 0 {
        match s.remote_ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]:*"),
            ip => format!("{ip}:*"),
        }
    } else {
        s.remote_addr().to_string()
    }
}

pub(crate) fn owner_text(snap: &Snap, s: &Socket, wide: bool) -> String {
    let Some(o) = snap.census.owners.as_ref() else {
        return "-".into();
    };
    match o.owners(s.inode).next() {
        None => "-".into(),
        Some(ow) => {
            let name = o.process(ow.pid).map_or("?", |p| p.name.as_str());
            if wide {
                format!("{name}/{} fd {}", ow.pid, ow.fd)
            } else {
                format!("{name}/{}", ow.pid)
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn draw_sockets(
    f: &mut Frame,
    area: Rect,
    app: &App,
    snap: &Snap,
    rows: &[u32],
    marks: &std::collections::HashSet<u64>,
    sel: usize,
    offset: usize,
) -> usize {
    let lang = app.lang;
    let cols: Vec<(usize, SockCol)> = SockCol::ALL
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, c)| match c {
            SockCol::RecvQ | SockCol::SendQ => area.width >= 120,
            SockCol::Timer => area.width >= 100,
            _ => true,
        })
        .collect();
    let wide = area.width >= 140;
    // Only the rows that can be on screen are formatted.
    let offset = window(area, sel, offset, rows.len());
    let shown = visible_part(area, rows, offset);
    let text = |c: SockCol, s: &Socket| -> String {
        match c {
            SockCol::State => s.state.ss_name().to_string(),
            SockCol::Local => s.local_addr().to_string(),
            SockCol::Peer => peer_text(s),
            SockCol::RecvQ => s.recv_q.to_string(),
            SockCol::SendQ => s.send_q.to_string(),
            SockCol::Timer => timer(&s.timer),
            SockCol::Idle => s
                .idle_ms()
                .map_or("-".to_string(), |ms| duration_ms(u64::from(ms))),
            SockCol::Process => owner_text(snap, s, wide),
        }
    };
    let addr_w = |local: bool| {
        shown
            .iter()
            .map(|&i| {
                let s = snap.socket(i);
                if local {
                    s.local_addr().to_string().len()
                } else {
                    peer_text(s).len()
                }
            })
            .max()
            .unwrap_or(0)
            .clamp(12, 47) as u16
    };
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|(_, c)| match c {
            SockCol::State => Constraint::Length(12),
            SockCol::Local => Constraint::Length(addr_w(true)),
            SockCol::Peer => Constraint::Length(addr_w(false)),
            SockCol::RecvQ | SockCol::SendQ => Constraint::Length(7),
            SockCol::Timer => Constraint::Length(22),
            SockCol::Idle => Constraint::Length(8),
            SockCol::Process => Constraint::Min(8),
        })
        .collect();
    let header = header_row(
        cols.iter()
            .map(|(i, c)| format!("{}{}", c.header(lang), sort_mark(app, *i)))
            .collect(),
    );
    let body: Vec<Row> = shown
        .iter()
        .map(|&i| {
            let s = snap.socket(i);
            let marked = marks.contains(&s.cookie);
            let cells: Vec<String> = cols
                .iter()
                .map(|(_, c)| {
                    let t = text(*c, s);
                    if *c == SockCol::State {
                        format!("{}{t}", if marked { "*" } else { " " })
                    } else {
                        t
                    }
                })
                .collect();
            let row = Row::new(cells);
            if marked {
                row.style(Style::default().fg(Color::Yellow))
            } else {
                row
            }
        })
        .collect();
    draw_window(f, area, header, body, widths, sel, offset)
}

pub(crate) fn sev_style(s: Severity) -> Style {
    match s {
        Severity::Critical => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        Severity::Warning => Style::default().fg(Color::Yellow),
        Severity::Info => dim(),
    }
}

pub(crate) fn draw_findings(
    f: &mut Frame,
    area: Rect,
    app: &App,
    snap: &Snap,
    rows: &[usize],
    sel: usize,
    offset: usize,
) -> usize {
    let lang = app.lang;
    let header = header_row(
        FindCol::ALL
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{}{}", c.header(lang), sort_mark(app, i)))
            .collect(),
    );
    let body: Vec<Row> = rows
        .iter()
        .map(|&i| {
            let x = &snap.findings[i];
            Row::new(vec![
                columns::severity_word(lang, x.severity),
                x.id.to_string(),
                x.title.clone(),
            ])
            .style(sev_style(x.severity))
        })
        .collect();
    let widths = [
        Constraint::Length(9),
        Constraint::Length(26),
        Constraint::Min(10),
    ];
    draw_rows(f, area, header, body, widths, table_state(sel, offset)).offset()
}
