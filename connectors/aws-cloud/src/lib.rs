//! carbonledger's AWS cloud sources, for users whose bill is not on disk:
//!
//! * [`s3::S3ExportSource`]: legacy CUR and CUR 2.0 / Data Exports delivered to an S3 bucket
//!   (`s3://bucket/prefix/report`), read with the same layout rules and CUR reader as local
//!   folders (`carbonledger-aws`), each part streamed through a temporary file;
//! * [`cost_explorer::CostExplorerSource`]: the Cost Explorer `GetCostAndUsage` API, grouped
//!   by service and usage type, for teams that have no CUR.
//!
//! Both take credentials and region from the standard AWS chain and accept an endpoint
//! override ([`sdk::Connection`]) for S3-compatible stores and emulators. The heavy AWS SDK
//! dependencies live in this crate only.

pub mod cost_explorer;
pub mod s3;
pub mod sdk;
mod services;

pub use cost_explorer::{CostExplorerOptions, CostExplorerSource, CostMetric, Granularity};
pub use s3::{ExportKind, S3ExportSource, S3Options, S3Url};
pub use sdk::Connection;
