//! Demo data: [`demo::load`] fills the configured database with a coherent catalogue (`ingot seed demo`), built
//! from the small [`builders`] the integration tests use as fixtures. Everything has a fixed id and is written
//! with find-or-create semantics, so loading twice changes nothing.

pub mod builders;
pub mod demo;
