//! `sockdoc record`: the flags wired to the flight recorder (`sockdoc_record::run`): durations and
//! the size checked, the scope resolved, its failures mapped to exit codes.

use std::time::Duration;

use sockdoc_core::i18n::record::{text, RecordMsg};
use sockdoc_core::i18n::Lang;

use crate::cli::{Global, RecordArgs};
use crate::cmd::doctor::parse_duration;
use crate::error::{Exit, Failure};
use crate::scope;

/// `512MiB`, `1GiB`, `2GB`, bare bytes.
fn parse_size(lang: Lang, t: &str) -> Result<u64, Failure> {
    t.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .ok()
        .filter(|b| *b > 0)
        .ok_or_else(|| Failure::usage(text(lang, RecordMsg::BadSize, &[t])))
}

pub fn run(g: &Global, a: &RecordArgs) -> Result<Exit, Failure> {
    let lang = g.lang();
    let every = parse_duration(lang, "--every", &a.every)?;
    let full_every = parse_duration(lang, "--full-every", &a.full_every)?;
    let info_every = parse_duration(lang, "--info-every", &a.info_every)?;
    if every < Duration::from_secs(1) || full_every < every || info_every < every {
        return Err(Failure::usage(text(lang, RecordMsg::BadEvery, &[])));
    }
    let keep = parse_duration(lang, "--keep", &a.keep)?;
    let idle = a
        .idle
        .as_deref()
        .map(|t| parse_duration(lang, "--idle", t))
        .transpose()?;
    let max_bytes = parse_size(lang, &a.max_size)?;
    let scope = scope::resolve(g)?;
    let opts = sockdoc_record::Options {
        dir: a.dir.clone(),
        every,
        full_every,
        info_every,
        max_bytes,
        keep,
        idle,
        lang,
    };
    match sockdoc_record::run(scope, opts) {
        Ok(_) => Ok(Exit::Ok),
        Err(sockdoc_record::RecordError::Dir(m)) => Err(Failure::new(Exit::Io, m)),
        Err(sockdoc_record::RecordError::Session(m)) => Err(Failure::new(Exit::Io, m)),
    }
}
