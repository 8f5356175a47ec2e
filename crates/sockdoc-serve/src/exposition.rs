//! The two exposition formats `/metrics` speaks, and which one a client gets: OpenMetrics 1.0.0 only
//! when its `Accept` header asks for it (Prometheus does), the Prometheus text format 0.0.4 otherwise
//! (curl, browsers, `promtool check metrics`, `Accept: text/plain;version=0.0.4`), as
//! node_exporter's library negotiates.
//!
//! The metrics are rendered once, as OpenMetrics, by prometheus-client (which writes no other text
//! format); the 0.0.4 text is derived from that text by [`to_text_004`], a line-by-line rewrite of
//! what prometheus-client writes: a counter family is named with its `_total` suffix, an info family
//! becomes a gauge `NAME_info`, `unknown` becomes `untyped`, and what 0.0.4 has no words for (`# UNIT`,
//! `# EOF`, `_created` samples, exemplars) is dropped. Nothing is parsed twice per scrape: a scrape's
//! text is shared by the requests that waited for it, and each is rewritten only when asked for.

use mediatype::{MediaTypeList, ReadParams};

/// `Content-Type` of an OpenMetrics answer.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `Content-Type` of a Prometheus text 0.0.4 answer.
pub const TEXT_004: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text004,
}

impl Format {
    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS,
            Format::Text004 => TEXT_004,
        }
    }
}

/// The format for a request's `Accept` header (`None`: no header): the acceptable media type with the
/// highest quality that is OpenMetrics (version 1.0.0, 0.0.1 or none given) or the 0.0.4 text
/// (`text/plain` of version 0.0.4 or none, `text/*`, `*/*`); on a tie the one listed first. Anything
/// else, unparsable headers included, gets the 0.0.4 text, which every client reads.
pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::Text004;
    };
    let mut best: Option<(f32, Format)> = None;
    for m in MediaTypeList::new(accept).flatten() {
        let param = |name: &str| {
            mediatype::Name::new(name)
                .and_then(|n| m.get_param(n))
                .map(|v| v.unquoted_str().into_owned())
        };
        let q = param("q")
            .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
            .unwrap_or(0.0);
        if q <= 0.0 || !q.is_finite() {
            continue;
        }
        let version = param("version");
        let (ty, subty) = (m.ty.as_str(), m.subty.as_str());
        let format = if ty.eq_ignore_ascii_case("application")
            && subty.eq_ignore_ascii_case("openmetrics-text")
            && matches!(version.as_deref(), None | Some("1.0.0") | Some("0.0.1"))
        {
            Format::OpenMetrics
        } else if (subty == "*" && (ty == "*" || ty.eq_ignore_ascii_case("text")))
            || (ty.eq_ignore_ascii_case("text")
                && subty.eq_ignore_ascii_case("plain")
                && matches!(version.as_deref(), None | Some("0.0.4")))
        {
            Format::Text004
        } else {
            continue;
        };
        if best.is_none_or(|(b, _)| q > b) {
            best = Some((q, format));
        }
    }
    best.map_or(Format::Text004, |(_, f)| f)
}

/// The family being rewritten: its OpenMetrics name and type.
struct Family<'a> {
    name: &'a str,
    kind: &'a str,
}

/// The Prometheus text 0.0.4 form of prometheus-client's OpenMetrics text (see the module's doc).
pub fn to_text_004(om: &str) -> String {
    let mut out = String::with_capacity(om.len() + om.len() / 16);
    // prometheus-client writes `# HELP` first, then `# TYPE`: the HELP line waits for the type, which
    // decides the family's name.
    let mut help: Option<(&str, &str)> = None;
    let mut family: Option<Family> = None;
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            help = Some((name, text));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (renamed, kind_004) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "gauge" | "histogram" | "summary" => (name.to_string(), kind),
                _ => (name.to_string(), "untyped"),
            };
            if let Some((_, text)) = help.take().filter(|(h, _)| *h == name) {
                out.push_str(&format!("# HELP {renamed} {text}\n"));
            }
            out.push_str(&format!("# TYPE {renamed} {kind_004}\n"));
            family = Some(Family { name, kind });
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            // `# UNIT`, `# EOF`: no such thing in 0.0.4.
            continue;
        }
        // An exemplar follows ` # ` after the value.
        let sample = line.split_once(" # ").map_or(line, |(s, _)| s);
        if let Some(f) = &family {
            let series_name = sample.split(['{', ' ']).next().unwrap_or_default();
            let created = series_name
                .strip_prefix(f.name)
                .is_some_and(|s| s == "_created");
            if f.kind == "counter" && created {
                continue;
            }
        }
        out.push_str(sample);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_client_asking_for_openmetrics_gets_it() {
        use Format::*;
        for (accept, want) in [
            (None, Text004),
            (Some("*/*"), Text004),
            (Some("text/plain;version=0.0.4"), Text004),
            (Some("text/plain; version=0.0.4; charset=utf-8"), Text004),
            (Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), Text004),
            (Some("application/openmetrics-text; version=1.0.0"), OpenMetrics),
            (Some("application/openmetrics-text"), OpenMetrics),
            // Prometheus 2's scrape header.
            (
                Some("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
                OpenMetrics,
            ),
            // Text preferred over OpenMetrics, or OpenMetrics refused.
            (Some("text/plain;version=0.0.4,application/openmetrics-text;q=0.5"), Text004),
            (Some("application/openmetrics-text;q=0"), Text004),
            // A version sockdoc does not write, and garbage.
            (Some("application/openmetrics-text;version=2.0.0"), Text004),
            (Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily"), Text004),
            (Some(";;;,,,"), Text004),
        ] {
            assert_eq!(negotiate(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn counters_get_their_total_name_and_openmetrics_only_lines_go() {
        let om = "# HELP sockdoc_scrapes Scrapes run.\n\
                  # TYPE sockdoc_scrapes counter\n\
                  sockdoc_scrapes_total 3\n\
                  sockdoc_scrapes_created 1700000000.0\n\
                  # HELP sockdoc_up_seconds Time up.\n\
                  # TYPE sockdoc_up_seconds gauge\n\
                  # UNIT sockdoc_up_seconds seconds\n\
                  sockdoc_up_seconds 1.5\n\
                  # HELP sockdoc_build Build.\n\
                  # TYPE sockdoc_build info\n\
                  sockdoc_build_info{version=\"0.1.0\"} 1\n\
                  # HELP sockdoc_hits Hits.\n\
                  # TYPE sockdoc_hits counter\n\
                  sockdoc_hits_total{port=\"80\"} 2 # {trace=\"x\"} 1\n\
                  # EOF\n";
        assert_eq!(
            to_text_004(om),
            "# HELP sockdoc_scrapes_total Scrapes run.\n\
             # TYPE sockdoc_scrapes_total counter\n\
             sockdoc_scrapes_total 3\n\
             # HELP sockdoc_up_seconds Time up.\n\
             # TYPE sockdoc_up_seconds gauge\n\
             sockdoc_up_seconds 1.5\n\
             # HELP sockdoc_build_info Build.\n\
             # TYPE sockdoc_build_info gauge\n\
             sockdoc_build_info{version=\"0.1.0\"} 1\n\
             # HELP sockdoc_hits_total Hits.\n\
             # TYPE sockdoc_hits_total counter\n\
             sockdoc_hits_total{port=\"80\"} 2\n"
        );
    }
}
