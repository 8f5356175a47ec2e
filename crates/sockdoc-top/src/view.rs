//! Drawing the `top` screen with ratatui from the screen state: header (totals by state, conntrack,
//! sparklines with rates), table tabs, the table or a drill-down, the footer (keys, filter prompt,
//! messages) and popups (help, confirmation, action results, a finding). Reads state only; 80x24 is
//! the smallest layout, wider and taller terminals get more columns and taller sparklines.

use std::time::Instant;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Clear, Paragraph, Row, Sparkline, Table, TableState, Tabs, Wrap,
};
use ratatui::Frame;
use sockdoc_core::aggregate::StateCounts;
use sockdoc_core::doctor::Severity;
use sockdoc_core::i18n::{pick, Lang};
use sockdoc_diag::{Socket, State};

use super::model::{self, FindCol, GroupCol, GroupRow, Snap, SockCol, Tab};
use super::state::{App, Rows, Sample};
use crate::fmt::{count, duration_ms, timer};

/// What the title bar says about where top looks.
pub struct Context {
    pub ns_label: String,
    /// Says when the namespace's name came to mean another namespace (a banner).
    pub watch: crate::scope::NsWatch,
}

pub fn draw(f: &mut Frame, app: &mut App, ctx: &Context) {
    let area = f.area();
    let spark_h: u16 = if area.height >= 40 {
        5
    } else if area.height >= 30 {
        3
    } else {
        2
    };
    let [title, tcp, udp, sparks, tabs, context, table, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(spark_h),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_title(f, title, app, ctx);
    draw_totals(f, tcp, udp, app);
    draw_sparks(f, sparks, app);
    draw_tabs(f, tabs, app);
    draw_context(f, context, app);
    draw_table(f, table, app);
    draw_footer(f, footer, app);
    if app.help {
        draw_help(f, area, app.lang, app.popup_scroll);
    } else if app.confirm.is_some() {
        draw_confirm(f, area, app);
    } else if let Some((t, lines)) = &app.result {
        draw_lines(f, area, t, lines, app.popup_scroll, close_hint(app.lang));
    } else if let Some(i) = app.finding {
        draw_finding(f, area, app, i);
    }
}

fn bold() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

fn draw_title(f: &mut Frame, area: Rect, app: &App, ctx: &Context) {
    let lang = app.lang;
    let mut spans = vec![
        Span::styled(" sockdoc top ", bold().add_modifier(Modifier::REVERSED)),
        Span::raw(format!(" {} ", ctx.ns_label)),
    ];
    if let Some(n) = ctx.watch.notice() {
        spans.push(Span::styled(
            format!(" {n} "),
            bold().fg(Color::White).bg(Color::Red),
        ));
        spans.push(Span::raw(" "));
    }
    spans.extend([
        Span::styled("· ", dim()),
        Span::raw(format!(
            "{} {} ",
            pick(lang, "every", "每"),
            duration_ms(app.interval.as_millis() as u64)
        )),
    ]);
    match &app.snap {
        Some(s) => {
            spans.push(Span::styled("· ", dim()));
            spans.push(Span::raw(format!(
                "{} #{} ({}) ",
                pick(lang, "census", "采集"),
                s.seq,
                duration_ms(s.took.as_millis() as u64),
            )));
            spans.push(Span::styled("· ", dim()));
            spans.push(Span::raw(format!(
                "{} {} ",
                duration_ms(
                    Instant::now()
                        .saturating_duration_since(s.taken)
                        .as_millis() as u64
                ),
                pick(lang, "ago", "前"),
            )));
            // Owners come from a slower /proc walk: say so when they are older than the sockets.
            if let Some(age) = s
                .owners_age
                .filter(|a| *a > app.interval && area.width >= 100)
            {
                spans.push(Span::styled(
                    format!(
                        "· {} {} ",
                        pick(lang, "owners", "进程信息"),
                        duration_ms(age.as_millis() as u64)
                    ),
                    dim(),
                ));
            }
        }
        None => spans.push(Span::raw(pick(lang, "· first census…", "· 首次采集中…"))),
    }
    if app.paused {
        spans.push(Span::styled(
            pick(lang, " PAUSED ", " 已暂停 "),
            Style::default().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    if let Some(b) = &app.busy {
        spans.push(Span::styled(
            format!(" {b} "),
            Style::default().fg(Color::Black).bg(Color::Cyan),
        ));
    }
    f.render_widget(Line::from(spans), area);
}

/// `TCP 1,234  ESTAB 1,000  TIME-WAIT 200 ...`: every state with sockets, largest first.
fn totals_line(proto: &'static str, c: &StateCounts) -> Vec<Span<'static>> {
    let mut spans = vec![Span::styled(
        format!("{proto} {}", count(c.total())),
        bold(),
    )];
    for (s, n) in c.nonzero() {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(s.ss_name(), state_style(s)));
        spans.push(Span::raw(format!(" {}", count(n))));
    }
    spans
}

fn state_style(s: State) -> Style {
    match s {
        State::Established => Style::default().fg(Color::Green),
        State::CloseWait | State::SynRecv => Style::default().fg(Color::Red),
        State::TimeWait | State::FinWait1 | State::FinWait2 | State::LastAck | State::Closing => {
            Style::default().fg(Color::Yellow)
        }
        _ => Style::default().fg(Color::Cyan),
    }
}

fn draw_totals(f: &mut Frame, tcp: Rect, udp: Rect, app: &App) {
    let Some(s) = &app.snap else { return };
    f.render_widget(Line::from(totals_line("TCP", &s.tcp)), tcp);
    let mut spans = totals_line("UDP", &s.udp);
    if let Some((c, m)) = s.conntrack {
        spans.push(Span::raw("    "));
        spans.push(Span::styled("conntrack", bold()));
        let pct = if m == 0 {
            0.0
        } else {
            c as f64 * 100.0 / m as f64
        };
        spans.push(Span::raw(format!(" {}/{} ({pct:.1}%)", count(c), count(m))));
    }
    f.render_widget(Line::from(spans), udp);
}

fn rate_text(r: Option<f64>) -> String {
    match r {
        None => String::new(),
        Some(r) if r.abs() < 0.05 => " 0/s".to_string(),
        Some(r) if r.abs() >= 10.0 => format!(" {r:+.0}/s"),
        Some(r) => format!(" {r:+.1}/s"),
    }
}

fn draw_sparks(f: &mut Frame, area: Rect, app: &App) {
    type Pick = fn(&Sample) -> u64;
    let series: [(&str, &str, Pick, Color); 5] = [
        ("ESTAB", "ESTAB", |s| s.estab, Color::Green),
        ("TIME-WAIT", "TW", |s| s.time_wait, Color::Yellow),
        ("CLOSE-WAIT", "CW", |s| s.close_wait, Color::Red),
        ("SYN-RECV", "SYN-R", |s| s.syn_recv, Color::Red),
        ("conntrack", "CT", |s| s.conntrack_pct, Color::Magenta),
    ];
    let cols = Layout::horizontal([Constraint::Ratio(1, 5); 5]).split(area);
    let h = &app.history;
    for ((long, short, pick_fn, color), col) in series.iter().zip(cols.iter()) {
        let [label, bars] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(*col);
        let last = h.samples.back().map(pick_fn);
        let rate = if *long == "conntrack" {
            last.map_or(String::new(), |p| format!(" {p}%"))
        } else {
            rate_text(h.rate(pick_fn))
        };
        let w = usize::from(col.width.saturating_sub(1));
        let name = if long.len() + rate.len() <= w {
            long
        } else {
            short
        };
        let text = if name.len() + rate.len() <= w {
            format!("{name}{rate}")
        } else {
            name.to_string()
        };
        f.render_widget(Line::styled(text, Style::default().fg(*color)), label);
        let data = h.series(usize::from(bars.width.saturating_sub(1)), pick_fn);
        let max = if *long == "conntrack" {
            100
        } else {
            data.iter().copied().max().unwrap_or(0).max(1)
        };
        let spark = Sparkline::default()
            .data(&data)
            .max(max)
            .style(Style::default().fg(*color));
        let bars = Rect {
            width: bars.width.saturating_sub(1),
            ..bars
        };
        f.render_widget(spark, bars);
    }
}

fn draw_tabs(f: &mut Frame, area: Rect, app: &App) {
    let lang = app.lang;
    let titles: Vec<String> = Tab::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let n = match (t, &app.snap) {
                (Tab::Ghosts, Some(s)) => format!(" ({})", s.ghosts.len()),
                (Tab::Findings, Some(s)) => format!(
                    " ({})",
                    s.findings
                        .iter()
                        .filter(|x| x.severity > Severity::Info)
                        .count()
                ),
                _ => String::new(),
            };
            format!("{} {}{n}", i + 1, t.title(lang))
        })
        .collect();
    let tabs = Tabs::new(titles)
        .select(app.tab.index())
        .highlight_style(bold().add_modifier(Modifier::REVERSED))
        .divider("│")
        .padding("", "");
    f.render_widget(tabs, area);
}

fn draw_context(f: &mut Frame, area: Rect, app: &App) {
    let lang = app.lang;
    let Some(snap) = &app.snap else { return };
    let mut spans = Vec::new();
    if let Some(d) = &app.drill {
        spans.push(Span::styled(
            format!("◀ {} {}", d.tab.title(lang), d.label),
            bold(),
        ));
        spans.push(Span::raw(pick(
            lang,
            format!(" · {} socket(s)", d.rows.len()),
            format!(" · {} 个套接字", d.rows.len()),
        )));
        spans.extend(marked_span(lang, d.marks.len()));
    } else {
        spans.push(Span::raw(pick(
            lang,
            format!(
                "{} of {} sockets",
                count(snap.selected.len() as u64),
                count(snap.census.sockets.len() as u64)
            ),
            format!(
                "{} / {} 个套接字",
                count(snap.selected.len() as u64),
                count(snap.census.sockets.len() as u64)
            ),
        )));
        if app.tab == Tab::Ghosts {
            spans.push(Span::raw(pick(
                lang,
                format!(" · silent > {}", duration_ms(snap.threshold_ms)),
                format!(" · 静默 > {}", duration_ms(snap.threshold_ms)),
            )));
            spans.extend(marked_span(lang, app.ghost_marks.len()));
        }
    }
    if let Some(n) = snap.notes.first() {
        spans.push(Span::styled(format!(" · {n}"), dim()));
    }
    if !app.filter_text.is_empty() {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(
            format!("{} {}", pick(lang, "filter:", "过滤:"), app.filter_text),
            Style::default().fg(Color::Cyan),
        ));
        if app.filter_pending {
            spans.push(Span::raw(" …"));
        }
    }
    f.render_widget(Line::from(spans), area);
}

/// ` · N marked` in yellow, when anything is marked.
fn marked_span(lang: Lang, n: usize) -> Option<Span<'static>> {
    (n > 0).then(|| {
        Span::styled(
            pick(lang, format!(" · {n} marked"), format!(" · 已标记 {n}")),
            Style::default().fg(Color::Yellow),
        )
    })
}

fn sort_mark(app: &App, col: usize) -> &'static str {
    let s = app.sort();
    match (s.col == col, s.desc) {
        (false, _) => "",
        (true, true) => "▼",
        (true, false) => "▲",
    }
}

fn header_row(cells: Vec<String>) -> Row<'static> {
    Row::new(cells).style(bold().add_modifier(Modifier::UNDERLINED))
}

fn draw_table(f: &mut Frame, area: Rect, app: &mut App) {
    app.page = usize::from(area.height.saturating_sub(2)).max(1);
    let Some(snap) = app.snap.take() else {
        let msg = app.error.clone().unwrap_or_else(|| {
            pick(
                app.lang,
                "collecting the first census…",
                "正在进行首次采集…",
            )
            .into()
        });
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
        if app.rows.len() == 0 {
            let msg = match app.tab {
                Tab::Ghosts => pick(app.lang, "no ghost suspects", "没有疑似半开连接"),
                Tab::Findings => pick(app.lang, "no findings", "没有诊断结果"),
                _ => pick(app.lang, "no sockets match", "没有匹配的套接字"),
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
fn window(area: Rect, sel: usize, offset: usize, len: usize) -> usize {
    let visible = usize::from(area.height.saturating_sub(1)).max(1);
    let mut offset = offset.min(len.saturating_sub(1));
    if sel < offset {
        offset = sel;
    } else if sel >= offset + visible {
        offset = sel + 1 - visible;
    }
    offset
}

fn visible_part<T>(area: Rect, rows: &[T], offset: usize) -> &[T] {
    let visible = usize::from(area.height.saturating_sub(1)).max(1);
    &rows[offset.min(rows.len())..(offset + visible).min(rows.len())]
}

fn table_state(sel: usize, offset: usize) -> TableState {
    TableState::default()
        .with_selected(Some(sel))
        .with_offset(offset)
}

/// Draws a table (header, rows, column widths) with `st`'s selected row highlighted; returns the
/// state as drawn (the offset ratatui settled on).
fn draw_rows<'a>(
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
fn draw_window<'a>(
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

fn highlight() -> Style {
    Style::default().add_modifier(Modifier::REVERSED)
}

fn draw_groups(
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
        .filter(|(_, c)| *c != GroupCol::Name || matches!(app.tab, Tab::Port | Tab::Process))
        .collect();
    let key_w = visible_part(area, rows, window(area, sel, offset, rows.len()))
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0)
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
fn peer_text(s: &Socket) -> String {
    if s.remote_port == 0 {
        match s.remote_ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]:*"),
            ip => format!("{ip}:*"),
        }
    } else {
        s.remote_addr().to_string()
    }
}

fn owner_text(snap: &Snap, s: &Socket, wide: bool) -> String {
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
fn draw_sockets(
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

fn sev_style(s: Severity) -> Style {
    match s {
        Severity::Critical => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        Severity::Warning => Style::default().fg(Color::Yellow),
        Severity::Info => dim(),
    }
}

fn draw_findings(
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
                model::severity_word(lang, x.severity).to_string(),
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

fn key_hints(app: &App) -> Vec<(&'static str, &'static str)> {
    let lang = app.lang;
    let mut v = vec![
        ("q", pick(lang, "quit", "退出")),
        ("?", pick(lang, "help", "帮助")),
    ];
    v.push(("/", pick(lang, "filter", "过滤")));
    if app.drill.is_some() {
        v.push(("Esc", pick(lang, "back", "返回")));
        v.push(("space", pick(lang, "mark", "标记")));
    } else if app.tab.is_group() {
        v.push(("⏎", pick(lang, "sockets", "套接字")));
    } else if app.tab == Tab::Ghosts {
        v.push(("space", pick(lang, "mark", "标记")));
    } else {
        v.push(("⏎", pick(lang, "details", "详情")));
    }
    v.push(("s/r", pick(lang, "sort", "排序")));
    if app.tab != Tab::Findings {
        v.push(("k", pick(lang, "kill", "关闭")));
        if matches!(app.tab, Tab::Port | Tab::Process) {
            v.push(("a", "keepalive"));
        }
        v.push(("p", pick(lang, "probe", "探测")));
    }
    v.push(("z", pick(lang, "pause", "暂停")));
    v.push(("+/-", pick(lang, "interval", "间隔")));
    v
}

fn draw_footer(f: &mut Frame, area: Rect, app: &App) {
    let lang = app.lang;
    if let Some(p) = &app.prompt {
        let mut spans = vec![
            Span::styled(pick(lang, "filter> ", "过滤> "), bold()),
            Span::raw(p.clone()),
            Span::styled("█", Style::default().add_modifier(Modifier::SLOW_BLINK)),
        ];
        if let Some(e) = &app.filter_error {
            spans.push(Span::styled(
                format!("  {e}"),
                Style::default().fg(Color::Red),
            ));
        } else {
            spans.push(Span::styled(
                pick(
                    lang,
                    "  ⏎ apply · Esc cancel · empty = all",
                    "  ⏎ 应用 · Esc 取消 · 留空 = 全部",
                ),
                dim(),
            ));
        }
        f.render_widget(Line::from(spans), area);
        return;
    }
    if let Some(e) = &app.error {
        f.render_widget(
            Line::styled(e.clone(), Style::default().fg(Color::Red)),
            area,
        );
        return;
    }
    if let Some(s) = &app.status {
        f.render_widget(
            Line::styled(s.clone(), Style::default().fg(Color::Yellow)),
            area,
        );
        return;
    }
    let mut spans = Vec::new();
    for (k, what) in key_hints(app) {
        spans.push(Span::styled(
            k,
            Style::default().fg(Color::Black).bg(Color::Cyan),
        ));
        spans.push(Span::raw(format!(" {what} ")));
    }
    f.render_widget(Line::from(spans), area);
}

/// A centered rectangle of at most `w` x `h` inside `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn popup(f: &mut Frame, area: Rect, title: &str, lines: Vec<Line>, footer: &str, scroll: usize) {
    let w = area.width.saturating_sub(4).min(110);
    // Rows once wrapped (about: words move whole to the next row).
    let inner = usize::from(w.saturating_sub(2)).max(1);
    let rows: usize = lines
        .iter()
        .map(|l| (l.width() + inner / 8).div_ceil(inner).max(1))
        .sum();
    let h = (rows.min(usize::from(u16::MAX)) as u16 + 2).clamp(5, area.height.saturating_sub(2));
    let scroll = scroll.min(rows.saturating_sub(usize::from(h.saturating_sub(2))));
    let r = centered(area, w, h);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Line::styled(format!(" {title} "), bold()))
        .title_bottom(Line::styled(format!(" {footer} "), dim()));
    let p = Paragraph::new(lines)
        .block(block)
        .wrap(Wrap { trim: false })
        .scroll((scroll.min(u16::MAX as usize) as u16, 0));
    f.render_widget(p, r);
}

fn close_hint(lang: Lang) -> &'static str {
    pick(
        lang,
        "↑↓ scroll · any other key closes",
        "↑↓ 滚动 · 其他键关闭",
    )
}

fn draw_lines(
    f: &mut Frame,
    area: Rect,
    title: &str,
    lines: &[String],
    scroll: usize,
    footer: &str,
) {
    let lines: Vec<Line> = lines.iter().map(|l| Line::raw(l.clone())).collect();
    popup(f, area, title, lines, footer, scroll);
}

fn draw_confirm(f: &mut Frame, area: Rect, app: &App) {
    let Some(c) = &app.confirm else { return };
    let lang = app.lang;
    let snap = app.snap.as_ref();
    let n = c.request.sockets.len();
    let title = pick(
        lang,
        format!(
            "{} {n} socket(s){}?",
            c.request.kind.verb(lang),
            if c.what.is_empty() {
                String::new()
            } else {
                format!(" of {}", c.what)
            }
        ),
        format!(
            "{}{} {n} 个套接字?",
            c.request.kind.verb(lang),
            if c.what.is_empty() {
                String::new()
            } else {
                format!(" {} 的", c.what)
            }
        ),
    );
    let mut lines: Vec<Line> = Vec::new();
    for s in &c.request.sockets {
        let owner = snap.map_or("-".to_string(), |sn| owner_text(sn, s, true));
        lines.push(Line::raw(format!(
            "{:<11} {} -> {}  {}",
            s.state.ss_name(),
            s.local_addr(),
            peer_text(s),
            owner
        )));
    }
    for (s, why) in &c.left_alone {
        lines.push(Line::styled(
            format!(
                "{} ({why}): {} -> {}",
                pick(lang, "left alone", "不处理"),
                s.local_addr(),
                peer_text(s)
            ),
            dim(),
        ));
    }
    lines.push(Line::styled(
        format!(
            "{} {}",
            pick(lang, "selected again by:", "重新选择条件:"),
            c.request.words
        ),
        dim(),
    ));
    let max_scroll = lines.len().saturating_sub(3);
    popup(
        f,
        area,
        &title,
        lines,
        pick(
            lang,
            "y yes · n no · ↑↓ scroll",
            "y 确认 · n 取消 · ↑↓ 滚动",
        ),
        c.scroll.min(max_scroll),
    );
}

fn draw_finding(f: &mut Frame, area: Rect, app: &App, i: usize) {
    let Some(x) = app.snap.as_ref().and_then(|s| s.findings.get(i)) else {
        return;
    };
    let lang = app.lang;
    let mut lines = vec![
        Line::styled(x.title.clone(), sev_style(x.severity)),
        Line::raw(""),
        Line::raw(x.detail.clone()),
        Line::raw(""),
        Line::styled(pick(lang, "Why it matters", "为什么重要"), bold()),
        Line::raw(x.why.clone()),
        Line::raw(""),
        Line::styled(pick(lang, "What to do", "怎么做"), bold()),
    ];
    lines.extend(x.fix.iter().map(|l| Line::raw(format!("  {l}"))));
    popup(f, area, x.id, lines, close_hint(lang), app.popup_scroll);
}

fn draw_help(f: &mut Frame, area: Rect, lang: Lang, scroll: usize) {
    let keys: &[(&str, &str, &str)] = &[
        (
            "1-6, Tab",
            "switch table: remote IP, prefix, local port, process, ghosts, findings",
            "切换表: 远端 IP, 网段, 本地端口, 进程, 疑似半开, 诊断",
        ),
        ("↑ ↓ PgUp PgDn", "select a row", "选择行"),
        (
            "Enter",
            "a row's sockets (timers, idle, queues, owner); a finding's details",
            "查看该行的套接字 (定时器, 空闲, 队列, 所属进程); 诊断详情",
        ),
        ("Esc ←", "back to the table", "返回表格"),
        (
            "s > <",
            "sort by the next / previous column",
            "按下一列 / 上一列排序",
        ),
        ("r", "reverse the sort", "反向排序"),
        (
            "/",
            "filter (the `sockdoc list` language, e.g. sport = :21)",
            "过滤 (与 sockdoc list 相同的语法, 例如 sport = :21)",
        ),
        (
            "space",
            "mark a socket (drill-down, ghosts)",
            "标记套接字 (明细, 疑似半开)",
        ),
        (
            "k",
            "kill: the marked sockets, the highlighted one, or a whole row",
            "关闭: 已标记的, 当前的, 或整行的套接字",
        ),
        (
            "a",
            "keepalive on the selected service (local port or process row)",
            "为所选服务开启 keepalive (本地端口或进程行)",
        ),
        (
            "p",
            "probe ghost suspects: alive or dead",
            "探测疑似半开连接: 存活还是已死",
        ),
        ("z", "pause / resume", "暂停 / 继续"),
        ("+ -", "refresh interval", "刷新间隔"),
        ("q Ctrl-C", "quit", "退出"),
    ];
    let mut lines: Vec<Line> = keys
        .iter()
        .map(|(k, en, zh)| {
            Line::from(vec![
                Span::styled(format!("{k:<15}"), bold()),
                Span::raw(pick(lang, *en, *zh)),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        pick(
            lang,
            "Every action asks first, lists the exact sockets, never touches your own ssh session, and is written to the audit log.",
            "每个操作都会先确认并列出具体的套接字, 从不触碰你自己的 ssh 会话, 并写入审计日志。",
        ),
        dim(),
    ));
    popup(
        f,
        area,
        pick(lang, "sockdoc top: keys", "sockdoc top: 按键"),
        lines,
        close_hint(lang),
        scroll,
    );
}
