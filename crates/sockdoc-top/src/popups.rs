//! The popups of the `top` screen: help, the confirmation of an action, its result, a finding.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use sockdoc_core::i18n::top::{text, word, TopMsg};
use sockdoc_core::i18n::Lang;

use crate::state::App;
use crate::tables::{owner_text, peer_text, sev_style};
use crate::view::{bold, dim};

/// A centered rectangle of at most `w` x `h` inside `area`.
pub(crate) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

pub(crate) fn popup(
    f: &mut Frame,
    area: Rect,
    title: &str,
    lines: Vec<Line>,
    footer: &str,
    scroll: usize,
) {
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

pub(crate) fn close_hint(lang: Lang) -> &'static str {
    word(lang, TopMsg::CloseHint)
}

pub(crate) fn draw_lines(
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

pub(crate) fn draw_confirm(f: &mut Frame, area: Rect, app: &App) {
    let Some(c) = &app.confirm else { return };
    let lang = app.lang;
    let snap = app.snap.as_ref();
    let n = c.request.sockets.len();
    let of = if c.what.is_empty() {
        String::new()
    } else {
        text(lang, TopMsg::ConfirmOf, &[&c.what])
    };
    let title = text(
        lang,
        TopMsg::ConfirmTitle,
        &[c.request.kind.verb(lang), &n.to_string(), &of],
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
                word(lang, TopMsg::LeftAlone),
                s.local_addr(),
                peer_text(s)
            ),
            dim(),
        ));
    }
    lines.push(Line::styled(
        format!("{} {}", word(lang, TopMsg::SelectedAgain), c.request.words),
        dim(),
    ));
    let max_scroll = lines.len().saturating_sub(3);
    popup(
        f,
        area,
        &title,
        lines,
        word(lang, TopMsg::ConfirmKeys),
        c.scroll.min(max_scroll),
    );
}

pub(crate) fn draw_finding(f: &mut Frame, area: Rect, app: &App, i: usize) {
    let Some(x) = app.snap.as_ref().and_then(|s| s.findings.get(i)) else {
        return;
    };
    let lang = app.lang;
    let mut lines = vec![
        Line::styled(x.title.clone(), sev_style(x.severity)),
        Line::raw(""),
        Line::raw(x.detail.clone()),
        Line::raw(""),
        Line::styled(word(lang, TopMsg::WhyItMatters), bold()),
        Line::raw(x.why.clone()),
        Line::raw(""),
        Line::styled(word(lang, TopMsg::WhatToDo), bold()),
    ];
    lines.extend(x.fix.iter().map(|l| Line::raw(format!("  {l}"))));
    popup(f, area, x.id, lines, close_hint(lang), app.popup_scroll);
}

pub(crate) fn draw_help(f: &mut Frame, area: Rect, lang: Lang, scroll: usize) {
    let keys: &[(&str, TopMsg)] = &[
        ("1-7, Tab", TopMsg::HelpTabs),
        ("↑ ↓ PgUp PgDn", TopMsg::HelpSelect),
        ("Enter", TopMsg::HelpEnter),
        ("Esc ←", TopMsg::HelpBack),
        ("s > <", TopMsg::HelpSort),
        ("r", TopMsg::HelpReverse),
        ("/", TopMsg::HelpFilter),
        ("space", TopMsg::HelpMark),
        ("k", TopMsg::HelpKill),
        ("a", TopMsg::HelpKeepalive),
        ("p", TopMsg::HelpProbe),
        ("z", TopMsg::HelpPause),
        ("+ -", TopMsg::HelpInterval),
        ("q Ctrl-C", TopMsg::HelpQuit),
    ];
    let mut lines: Vec<Line> = keys
        .iter()
        .map(|(k, m)| {
            Line::from(vec![
                Span::styled(format!("{k:<15}"), bold()),
                Span::raw(word(lang, *m)),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(word(lang, TopMsg::HelpSafety), dim()));
    popup(
        f,
        area,
        word(lang, TopMsg::HelpTitle),
        lines,
        close_hint(lang),
        scroll,
    );
}
