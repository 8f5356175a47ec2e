//! The popups of the `top` screen: help, the confirmation of an action, its result, a finding.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use sockdoc_core::i18n::{pick, Lang};

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
    pick(
        lang,
        "↑↓ scroll · any other key closes",
        "↑↓ 滚动 · 其他键关闭",
    )
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
        Line::styled(pick(lang, "Why it matters", "为什么重要"), bold()),
        Line::raw(x.why.clone()),
        Line::raw(""),
        Line::styled(pick(lang, "What to do", "怎么做"), bold()),
    ];
    lines.extend(x.fix.iter().map(|l| Line::raw(format!("  {l}"))));
    popup(f, area, x.id, lines, close_hint(lang), app.popup_scroll);
}

pub(crate) fn draw_help(f: &mut Frame, area: Rect, lang: Lang, scroll: usize) {
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
