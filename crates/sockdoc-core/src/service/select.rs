//! Selecting by service: whether a socket's cgroup is in a unit or slice, a container or a pod, as
//! the filter words `unit`, `container`, `pod` and the reaper's rules name them. Pure functions of
//! a named [`Service`]: nothing is read here.

use super::Service;
use crate::filter::glob_match;

/// Shortest id prefix a container is selected by (as `docker ps` shows ids).
pub const MIN_ID_PREFIX: usize = 12;

impl Service {
    /// In the unit or slice `pattern` (`*` wildcards), or a cgroup below it. A name without a unit
    /// type also names its `.service` (`nginx` is `nginx.service`, as systemctl takes it).
    pub fn in_unit(&self, pattern: &str) -> bool {
        let matches = |name: &str| {
            glob_match(pattern, name)
                || name
                    .strip_suffix(".service")
                    .is_some_and(|base| glob_match(pattern, base))
        };
        if self.unit.as_deref().is_some_and(matches) {
            return true;
        }
        // The slices the cgroup is in: the leading `.slice` components of its path.
        self.path
            .split('/')
            .filter(|c| !c.is_empty())
            .take_while(|c| c.ends_with(".slice"))
            .any(|c| glob_match(pattern, c))
    }

    /// In the container named `name`, or whose id is `name` or starts with it (at least
    /// [`MIN_ID_PREFIX`] hex digits).
    pub fn in_container(&self, name: &str) -> bool {
        let Some(c) = &self.container else {
            return false;
        };
        if c.name.as_deref() == Some(name) || c.id == name {
            return true;
        }
        let prefix = name.to_ascii_lowercase();
        prefix.len() >= MIN_ID_PREFIX
            && prefix.bytes().all(|b| b.is_ascii_hexdigit())
            && c.id.starts_with(&prefix)
    }

    /// In the pod `namespace/name`, or of that uid.
    pub fn in_pod(&self, name: &str) -> bool {
        let Some(p) = &self.pod else {
            return false;
        };
        if p.uid == name {
            return true;
        }
        p.name
            .as_ref()
            .zip(name.split_once('/'))
            .is_some_and(|(have, (ns, pod))| have.namespace == ns && have.name == pod)
    }
}
