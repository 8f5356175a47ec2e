//! sockdoc-core: the snapshot model, the filter language and aggregation.
//!
//! It turns what `sockdoc-diag` and `sockdoc-proc` collected into answers. It never prints and never
//! changes the system.

pub mod filter;
pub mod owners;

pub use owners::{NoOwners, Owners};
