//! Message catalog: every sentence sockdoc shows a person, in English and Simplified Chinese. Keys are
//! enum variants so a missing translation is a compile error, not a blank line.

/// A language sockdoc speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    /// From `LC_ALL`, `LC_MESSAGES` or `LANG` (the first one set): `zh*` → Chinese, else English.
    pub fn from_env() -> Lang {
        for var in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            if let Ok(v) = std::env::var(var) {
                if !v.is_empty() {
                    return if v.starts_with("zh") {
                        Lang::Zh
                    } else {
                        Lang::En
                    };
                }
            }
        }
        Lang::En
    }
}

/// Pick the text for `lang` from a pair written side by side (findings build their sentences this way,
/// so every English sentence has its Chinese twin next to it).
pub fn pick<T>(lang: Lang, en: T, zh: T) -> T {
    match lang {
        Lang::En => en,
        Lang::Zh => zh,
    }
}

/// Census messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    /// `{proto}: {n} sockets`
    ProtoTotal,
    /// `By {key} (top {shown} of {distinct}):`
    GroupTitle,
    Count,
    States,
    /// `({n} more)`
    More,
    Namespace,
    Note,
    NotRoot,
    /// `{n}` processes of other users.
    NotRootOwners,
}

/// The text of `m` in `lang`, with `{}` placeholders filled from `args` in order.
pub fn text(lang: Lang, m: Msg, args: &[&str]) -> String {
    let template = match (lang, m) {
        (Lang::En, Msg::ProtoTotal) => "{}: {} sockets",
        (Lang::Zh, Msg::ProtoTotal) => "{}: {} 个套接字",
        (Lang::En, Msg::GroupTitle) => "By {} (top {} of {}):",
        (Lang::Zh, Msg::GroupTitle) => "按 {0} 分组 (共 {2} 组中的前 {1} 组):",
        (Lang::En, Msg::Count) => "COUNT",
        (Lang::Zh, Msg::Count) => "数量",
        (Lang::En, Msg::States) => "STATES",
        (Lang::Zh, Msg::States) => "状态",
        (Lang::En, Msg::More) => "({} more)",
        (Lang::Zh, Msg::More) => "(其余 {} 组)",
        (Lang::En, Msg::Namespace) => "== namespace {} ==",
        (Lang::Zh, Msg::Namespace) => "== 网络命名空间 {} ==",
        (Lang::En, Msg::Note) => "note: {}",
        (Lang::Zh, Msg::Note) => "提示: {}",
        (Lang::En, Msg::NotRoot) => {
            "note: not root: owners of other users' sockets and other network namespaces need root (run with sudo)"
        }
        (Lang::Zh, Msg::NotRoot) => {
            "提示: 非 root 运行: 查看其他用户套接字的所属进程和其他网络命名空间需要 root 权限 (请用 sudo 运行)"
        }
        (Lang::En, Msg::NotRootOwners) => {
            "note: not root: owners of sockets in {} processes of other users are not shown; reading their /proc/PID/fd needs root (run with sudo)"
        }
        (Lang::Zh, Msg::NotRootOwners) => {
            "提示: 非 root 运行: 其他用户的 {} 个进程的套接字未显示所属进程; 读取其 /proc/PID/fd 需要 root 权限 (请用 sudo 运行)"
        }
    };
    fill(template, args)
}

/// Replace `{}` (next argument) and `{N}` (argument N) in `template`.
fn fill(template: &str, args: &[&str]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut next = 0;
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = &after[..close];
        let idx = if inner.is_empty() {
            next += 1;
            Some(next - 1)
        } else {
            inner.parse::<usize>().ok()
        };
        match idx.and_then(|i| args.get(i)) {
            Some(a) => out.push_str(a),
            None => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_placeholders_in_both_languages() {
        assert_eq!(
            text(Lang::En, Msg::ProtoTotal, &["TCP", "5"]),
            "TCP: 5 sockets"
        );
        assert_eq!(
            text(Lang::Zh, Msg::ProtoTotal, &["TCP", "5"]),
            "TCP: 5 个套接字"
        );
        assert_eq!(
            text(Lang::Zh, Msg::GroupTitle, &["remote-ip", "3", "9"]),
            "按 remote-ip 分组 (共 9 组中的前 3 组):"
        );
        assert_eq!(text(Lang::En, Msg::More, &[]), "({} more)");
    }
}
