//! carbonledger: cloud bills in, a carbon ledger out.
//!
//! The pipeline reads as the modules do: [`input`] opens a billing source through its
//! connector (which normalises rows into the usage schema of `carbonledger-usage`),
//! [`estimate`] turns usage into energy (kWh) and emissions (kg CO2e) with a factor set of
//! `carbonledger-factors`, [`ledger`] names the columns it adds, [`output`] and [`group`]
//! write the ledger (as is, or as FOCUS columns by [`focus`]) or its totals, and
//! [`reconcile`] proves that every row and every unit of cost arrived. [`run`] ties them
//! together for `carbonledger estimate`; [`plan`] answers the same
//! questions for AI workloads that are not billed yet.

pub mod error;
pub mod estimate;
pub mod focus;
pub mod group;
pub mod input;
pub mod job;
pub mod ledger;
pub mod metrics;
pub mod output;
pub mod plan;
pub mod progress;
pub mod query;
pub mod reconcile;
pub mod report;
pub mod run;
pub mod sample;
pub mod sql;
pub mod synth;
pub mod top;

pub use error::Error;
