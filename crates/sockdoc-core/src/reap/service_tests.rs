//! Rules that select by service (`unit`, `container`): read as values into the selector tree,
//! judged with the census's services, refused with the line and key when a value is not a name.

use sockdoc_diag::{Socket, State};

use super::*;
use crate::filter::Filter;
use crate::service::{NoNames, Service};
use crate::{NoOwners, Owners};

/// The service of cgroup 7: `/system.slice/api.service/worker`.
struct Api;

impl Owners for Api {
    fn any(&self, _: u32, _: &mut dyn FnMut(u32, &str) -> bool) -> bool {
        false
    }
    fn service(&self, id: u64) -> Option<&Service> {
        static API: std::sync::OnceLock<Service> = std::sync::OnceLock::new();
        (id == 7).then(|| {
            API.get_or_init(|| Service::at_path(7, "/system.slice/api.service/worker", &NoNames))
        })
    }
}

fn on(cgroup_id: u64) -> Socket {
    Socket {
        cgroup_id,
        ..Socket::tcp(
            State::Established,
            "10.0.0.1:8080".parse().expect("addr"),
            "10.0.0.2:40000".parse().expect("addr"),
        )
    }
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text)
}

#[test]
fn a_rule_by_unit_selects_the_units_sockets() {
    let c = parse(
        "[[rule]]\nname = \"api\"\nunit = \"api\"\nstate = \"established\"\nclose_wait_max_age = \"5m\"\n",
    )
    .expect("parses");
    let r = &c.rules[0];
    assert_eq!(r.selector_text, "unit api and state established");
    assert!(c.needs_services() && !c.needs_processes());
    assert!(r.selector.matches(&on(7), &Api));
    assert!(!r.selector.matches(&on(8), &Api), "another cgroup");
    assert!(!r.selector.matches(&on(0), &Api), "no cgroup");
    assert!(
        !r.selector.matches(&on(7), &NoOwners),
        "not named: no match"
    );
}

#[test]
fn unit_and_container_lists_are_any_of_and_both_must_match() {
    let c = parse(
        "[[rule]]\nunit = [\"a\", \"b.slice\"]\ncontainer = [\"web-1\", \"0123456789ab\"]\nidle_timeout = 10\n",
    )
    .expect("parses");
    assert_eq!(
        c.rules[0].selector_text,
        "( unit a or unit b.slice ) and ( container web-1 or container 0123456789ab )"
    );
    let text = c.rules[0].selector_text.clone();
    let back = Filter::parse(std::slice::from_ref(&text)).expect("parses back");
    assert_eq!(back.to_string(), text);
}

#[test]
fn bad_service_values_name_the_line_and_key() {
    let e = parse("[[rule]]\nname = \"x\"\nidle_timeout = 10\nunit = \"system.slice/a.service\"\n")
        .expect_err("a path is not a unit");
    assert_eq!(e.line, Some(4), "{e}");
    assert!(
        e.message.contains("rule \"x\": unit") && e.message.contains("cgroup PATH"),
        "{e}"
    );
    let e = parse("[[rule]]\nidle_timeout = 10\ncontainer = []\n").expect_err("empty list");
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("container: give a name"), "{e}");
    let e = parse("[[rule]]\nidle_timeout = 10\nunit = \"\"\n").expect_err("empty name");
    assert!(e.message.contains("empty unit name"), "{e}");
}
