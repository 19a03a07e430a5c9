//! The usage schema: the contract between carbonledger's connectors and its estimator.
//!
//! A connector reads a provider's billing data and emits polars `DataFrame` batches whose
//! columns are exactly [`schema::usage_schema`]. One row stands for one billed line (or one
//! pre-aggregated group of lines for API sources), with its physical quantities already
//! converted to the units the estimator works in:
//!
//! | quantity | column | unit |
//! |---|---|---|
//! | compute | `vcpu_hours` | vCPU-hours |
//! | accelerators | `gpu_hours` | GPU-hours |
//! | memory | `memory_gb_hours` | GB-hours (10^9 bytes held for one hour) |
//! | storage | `storage_tb_hours` | TB-hours, media given by `usage_class` |
//! | network | `network_gb` | GB transferred |
//!
//! See `connectors/README.md` for the full column list and the rules a new connector follows.

pub mod builder;
pub mod error;
pub mod schema;
pub mod source;

pub use builder::{UsageBatchBuilder, UsageRow};
pub use error::{Location, SourceError};
pub use schema::{UsageClass, col, usage_schema, validate};
pub use source::{CostBasis, FocusCost, InputTotals, UsageSource};
