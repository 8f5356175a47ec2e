//! Drawing the `top` screen with ratatui from the screen state: header (totals by state, conntrack,
//! sparklines with rates), table tabs, the table or a drill-down, the footer (keys, filter prompt,
//! messages) and popups (help, confirmation, action results, a finding). Reads state only; 80x24 is
//! the smallest layout, wider and taller terminals get more columns and taller sparklines.

use std::time::Instant;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Sparkline, Tabs};
use ratatui::Frame;
use sockdoc_core::aggregate::StateCounts;
use sockdoc_core::doctor::Severity;
use sockdoc_core::i18n::top::{text, word, TopMsg};
use sockdoc_core::i18n::Lang;
use sockdoc_diag::State;

use crate::history::Sample;
use crate::model::Tab;
use crate::popups::{close_hint, draw_confirm, draw_finding, draw_help, draw_lines};
use crate::state::App;
use crate::tables::draw_table;
use sockdoc_core::units::{count, duration_ms};

/// What the title bar says about where top looks.
pub struct Context {
    pub ns_label: String,
    /// Says when the namespace's name came to mean another namespace (a banner).
    pub watch: sockdoc_runtime::watch::NsWatch,
    /// The census follows a recreated name (`--follow-netns`).
    pub follow_netns: bool,
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

pub(crate) fn bold() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

pub(crate) fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

pub(crate) fn draw_title(f: &mut Frame, area: Rect, app: &App, ctx: &Context) {
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
            word(lang, TopMsg::Every),
            duration_ms(app.interval.as_millis() as u64)
        )),
    ]);
    match &app.snap {
        Some(s) => {
            spans.push(Span::styled("· ", dim()));
            spans.push(Span::raw(format!(
                "{} #{} ({}) ",
                word(lang, TopMsg::Census),
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
                word(lang, TopMsg::Ago),
            )));
            // Owners come from a slower /proc walk: say so when they are older than the sockets.
            if let Some(age) = s
                .owners_age
                .filter(|a| *a > app.interval && area.width >= 100)
            {
                spans.push(Span::styled(
                    format!(
                        "· {} {} ",
                        word(lang, TopMsg::Owners),
                        duration_ms(age.as_millis() as u64)
                    ),
                    dim(),
                ));
            }
        }
        None => spans.push(Span::raw(word(lang, TopMsg::FirstCensus))),
    }
    if app.paused {
        spans.push(Span::styled(
            word(lang, TopMsg::Paused),
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
pub(crate) fn totals_line(proto: &'static str, c: &StateCounts) -> Vec<Span<'static>> {
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

pub(crate) fn state_style(s: State) -> Style {
    match s {
        State::Established => Style::default().fg(Color::Green),
        State::CloseWait | State::SynRecv => Style::default().fg(Color::Red),
        State::TimeWait | State::FinWait1 | State::FinWait2 | State::LastAck | State::Closing => {
            Style::default().fg(Color::Yellow)
        }
        _ => Style::default().fg(Color::Cyan),
    }
}

pub(crate) fn draw_totals(f: &mut Frame, tcp: Rect, udp: Rect, app: &App) {
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

pub(crate) fn rate_text(r: Option<f64>) -> String {
    match r {
        None => String::new(),
        Some(r) if r.abs() < 0.05 => " 0/s".to_string(),
        Some(r) if r.abs() >= 10.0 => format!(" {r:+.0}/s"),
        Some(r) => format!(" {r:+.1}/s"),
    }
}

/// A series scaled between its own lowest and highest value, the lowest drawn as a thin line: a
/// flat series is a flat line at the bottom (not a row of full blocks), a change is as tall as it
/// is against the range seen.
fn spark_scale(data: &[u64]) -> (Vec<u64>, u64) {
    let (lo, hi) = (
        data.iter().copied().min().unwrap_or(0),
        data.iter().copied().max().unwrap_or(0),
    );
    let range = hi - lo;
    // Room for the eighth of a block the lowest value keeps.
    let floor = (range / 7).max(1);
    let scaled = data.iter().map(|v| v - lo + floor).collect();
    (scaled, (range + floor).max(8 * floor))
}

pub(crate) fn draw_sparks(f: &mut Frame, area: Rect, app: &App) {
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
        let (data, max) = if *long == "conntrack" {
            (data, 100)
        } else {
            spark_scale(&data)
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

pub(crate) fn draw_tabs(f: &mut Frame, area: Rect, app: &App) {
    let lang = app.lang;
    let tabs: Vec<(String, String)> = Tab::ALL
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
            (
                format!("{} {}{n}", i + 1, t.title(lang)),
                format!("{}{n}", i + 1),
            )
        })
        .collect();
    let titles = fit_titles(tabs, app.tab.index(), usize::from(area.width));
    let tabs = Tabs::new(titles)
        .select(app.tab.index())
        .highlight_style(bold().add_modifier(Modifier::REVERSED))
        .divider("│")
        .padding("", "");
    f.render_widget(tabs, area);
}

/// Tab titles (full, and the key alone) that fit in `width` columns with a divider between each:
/// while they do not, the widest title not selected is cut to its key.
pub(crate) fn fit_titles(
    tabs: Vec<(String, String)>,
    selected: usize,
    width: usize,
) -> Vec<String> {
    let w = |t: &str| Span::raw(t).width();
    let mut titles: Vec<String> = tabs.iter().map(|(full, _)| full.clone()).collect();
    loop {
        let used = titles.iter().map(|t| w(t)).sum::<usize>() + titles.len().saturating_sub(1);
        let widest = (0..titles.len())
            .filter(|&i| i != selected && titles[i] != tabs[i].1)
            .max_by_key(|&i| (w(&titles[i]), std::cmp::Reverse(i)));
        match widest {
            Some(i) if used > width => titles[i] = tabs[i].1.clone(),
            _ => return titles,
        }
    }
}

pub(crate) fn draw_context(f: &mut Frame, area: Rect, app: &App) {
    let lang = app.lang;
    let Some(snap) = &app.snap else { return };
    let mut spans = Vec::new();
    if let Some(d) = &app.drill {
        spans.push(Span::styled(
            format!("◀ {} {}", d.tab.title(lang), d.label),
            bold(),
        ));
        spans.push(Span::raw(text(
            lang,
            TopMsg::DrillSockets,
            &[&d.rows.len().to_string()],
        )));
        spans.extend(marked_span(lang, d.marks.len()));
    } else {
        spans.push(Span::raw(text(
            lang,
            TopMsg::SocketsOf,
            &[
                &count(snap.selected.len() as u64),
                &count(snap.census.sockets.len() as u64),
            ],
        )));
        if app.tab == Tab::Ghosts {
            spans.push(Span::raw(text(
                lang,
                TopMsg::Silent,
                &[&duration_ms(snap.threshold_ms)],
            )));
            spans.extend(marked_span(lang, app.ghost_marks.len()));
        }
    }
    // Why units or containers may lack a name (no cgroup2 tree, a runtime that did not answer),
    // on the service table; else the census's own notes.
    let service_notes = match app.tab {
        Tab::Service => snap.census.services.get().map(|s| &s.notes[..]),
        _ => None,
    };
    if let Some(n) = service_notes
        .unwrap_or_default()
        .first()
        .or(snap.notes.first())
    {
        spans.push(Span::styled(format!(" · {n}"), dim()));
    }
    if !app.filter_text.is_empty() {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(
            format!("{} {}", word(lang, TopMsg::FilterInUse), app.filter_text),
            Style::default().fg(Color::Cyan),
        ));
        if app.filter_pending {
            spans.push(Span::raw(" …"));
        }
    }
    f.render_widget(Line::from(spans), area);
}

/// ` · N marked` in yellow, when anything is marked.
pub(crate) fn marked_span(lang: Lang, n: usize) -> Option<Span<'static>> {
    (n > 0).then(|| {
        Span::styled(
            text(lang, TopMsg::Marked, &[&n.to_string()]),
            Style::default().fg(Color::Yellow),
        )
    })
}

pub(crate) fn key_hints(app: &App) -> Vec<(&'static str, &'static str)> {
    let lang = app.lang;
    let w = |m| word(lang, m);
    let mut v = vec![("q", w(TopMsg::KeyQuit)), ("?", w(TopMsg::KeyHelp))];
    v.push(("/", w(TopMsg::KeyFilter)));
    if app.drill.is_some() {
        v.push(("Esc", w(TopMsg::KeyBack)));
        v.push(("space", w(TopMsg::KeyMark)));
    } else if app.tab.is_group() {
        v.push(("⏎", w(TopMsg::KeySockets)));
    } else if app.tab == Tab::Ghosts {
        v.push(("space", w(TopMsg::KeyMark)));
    } else {
        v.push(("⏎", w(TopMsg::KeyDetails)));
    }
    v.push(("s/r", w(TopMsg::KeySort)));
    if app.tab != Tab::Findings {
        v.push(("k", w(TopMsg::KeyKill)));
        if matches!(app.tab, Tab::Port | Tab::Process) {
            v.push(("a", w(TopMsg::KeyKeepalive)));
        }
        v.push(("p", w(TopMsg::KeyProbe)));
    }
    v.push(("z", w(TopMsg::KeyPause)));
    v.push(("+/-", w(TopMsg::KeyInterval)));
    v
}

pub(crate) fn draw_footer(f: &mut Frame, area: Rect, app: &App) {
    let lang = app.lang;
    if let Some(p) = &app.prompt {
        let mut spans = vec![
            Span::styled(word(lang, TopMsg::FilterPrompt), bold()),
            Span::raw(p.clone()),
            Span::styled("█", Style::default().add_modifier(Modifier::SLOW_BLINK)),
        ];
        if let Some(e) = &app.filter_error {
            spans.push(Span::styled(
                format!("  {e}"),
                Style::default().fg(Color::Red),
            ));
        } else {
            spans.push(Span::styled(word(lang, TopMsg::FilterHint), dim()));
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

#[cfg(test)]
mod tests {
    use super::spark_scale;

    #[test]
    fn a_flat_series_is_a_thin_line_and_a_change_fills_the_range() {
        assert_eq!(spark_scale(&[1000, 1000, 1000]), (vec![1, 1, 1], 8));
        let (d, max) = spark_scale(&[100, 170, 100]);
        assert_eq!((d[0] * 8 / max, d[1]), (1, max));
        assert_eq!(spark_scale(&[]), (vec![], 8));
    }
}
