//! The one check every scene runs on every form: each finding of the live doctor is found by
//! `analyze` where the form can tell what the finding needs (then compared by the scene), and
//! where it cannot, the finding is absent and the notes name what was missing. Nothing worse than
//! info is found that the live doctor did not find, except ghost suspects judged by missing
//! keepalive timers alone (a form without tcp_info cannot tell an idle connection from a busy
//! one). Every finding says what it rests on: files of the form.

use serde_json::Value;

use crate::capture::{analyze, finding, notes, Can, Form};

/// What a finding needs from the evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    Timers,
    States,
    Established,
    Backlogs,
    Sysctls,
}

impl Need {
    fn told(self, can: Can) -> bool {
        match self {
            Need::Timers => can.timers,
            Need::States => can.states,
            Need::Established => can.established,
            Need::Backlogs => can.backlogs,
            Need::Sysctls => can.sysctls,
        }
    }

    /// The words of the note that says it was missing.
    fn note(self) -> &'static str {
        match self {
            Need::Timers => "no timers in the evidence",
            Need::States => "no State column",
            Need::Established => "not every state was dumped",
            Need::Backlogs => "no listen backlogs",
            Need::Sysctls => "no sysctls in the evidence",
        }
    }
}

fn needs(id: &str) -> &'static [Need] {
    match id {
        "ghost-suspects" | "keepalive-coverage" => &[Need::Timers, Need::Established],
        "close-wait-leak" => &[Need::States],
        "time-wait-pressure" => &[Need::States, Need::Sysctls],
        "listen-overflow" => &[Need::States, Need::Backlogs],
        "sysctl-risky" | "sysctl-obsolete" => &[Need::Sysctls],
        other => panic!("no need known for {other}"),
    }
}

/// A finding compared with the live one: `(live, analyzed, form)`.
pub type Same<'a> = &'a dyn Fn(&Value, &Value, &Form);

/// Run `analyze FORM --json EXTRA` on every form and check it against the `live` diagnosis;
/// `same` compares a finding found in both.
pub fn forms(live: &Value, forms: &[Form], extra: &[&str], same: Same<'_>) {
    let live_ids: Vec<&str> = ids(live);
    assert!(
        !live_ids.is_empty(),
        "the live doctor found nothing: {live:#}"
    );
    for form in forms {
        let (doc, stderr) = analyze(form, extra);
        let said = notes(&doc);
        let ctx = || format!("{}: {doc:#}\nstderr: {stderr}", form.name);
        if !form.can.states {
            assert!(said.contains(Need::States.note()), "{}", ctx());
        }
        for id in &live_ids {
            let need = needs(id);
            if !form.can.states && !need.contains(&Need::States) {
                // Stored as ESTAB: only what rests on states is sure to be missing.
                continue;
            }
            let missing: Vec<Need> = need.iter().copied().filter(|n| !n.told(form.can)).collect();
            let got = finding(&doc, id);
            if missing.is_empty() {
                let got = got.unwrap_or_else(|| panic!("{id} not found in {}", ctx()));
                let want = finding(live, id).expect("live");
                same(want, got, form);
                rests_on_the_form(got, form, need.contains(&Need::Sysctls));
            } else {
                assert!(got.is_none(), "{id} judged without {missing:?}: {}", ctx());
                for m in missing {
                    assert!(said.contains(m.note()), "{id}: {m:?} not named: {}", ctx());
                }
            }
        }
        for f in doc["findings"].as_array().expect("findings") {
            let id = f["id"].as_str().unwrap_or_default();
            if f["severity"] == "info" || live_ids.contains(&id) {
                continue;
            }
            assert!(
                id == "ghost-suspects"
                    && !form.can.tcp_info
                    && f["groups"][0]["max_idle_ms"].is_null(),
                "{id} found, not live: {}",
                ctx()
            );
        }
    }
}

fn ids(ns: &Value) -> Vec<&str> {
    ns["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect()
}

/// Every entry of the finding's `rests_on` names a file of the form; a finding on sysctls names
/// where they came from.
fn rests_on_the_form(f: &Value, form: &Form, sysctls: bool) {
    let rests = f["rests_on"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no rests_on: {f:#}", form.name));
    assert!(!rests.is_empty(), "{}: {f:#}", form.name);
    for r in rests {
        let file = r["file"].as_str().unwrap_or_default();
        assert!(
            form.paths
                .iter()
                .any(|p| file.starts_with(&*p.to_string_lossy())),
            "{}: {r} is not a file of the form",
            form.name
        );
    }
    if sysctls {
        assert!(
            rests.iter().any(|r| r["what"] == "sysctls"),
            "{}: {f:#}",
            form.name
        );
    }
}
