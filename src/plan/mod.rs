//! Planning AI workloads before they are billed: `carbonledger plan estimate`, `plan compare`
//! and `gate` (README "Planning AI workloads").
//!
//! A plan file (TOML, [`spec`]) describes a training run or an inference service on an instance
//! type or on bare GPUs. [`assess`] turns it into the figures a bill of the same usage would get,
//! through the **same** factor tables and formulas as the bill estimator: the instance type
//! resolves through `instances.csv` (vCPUs, memory, GPUs, embodied platform), the GPU model
//! through `gpu_watts.csv`, and `estimate::row_factors::FactorResolver` gives watts per
//! vCPU and per GPU (`min + utilisation × (max − min)`, CCF's utilisation-aware power), the
//! memory share, PUE, the grid factors and the embodied basis, exactly as for a billed
//! `BoxUsage` line of that instance.
//!
//! Units: energy in kWh (operational, PUE included), emissions in kg CO2e (t CO2e where a figure
//! says so), power in watts, time in hours, cost in the plan's or the ledger's currency, carbon
//! price per tonne CO2e. SCI = (E × I + M) per R ([`assess::Assessment::sci_kg_per_unit`]):
//! E kWh, I location-based kg CO2e/kWh, M embodied kg CO2e, R the functional unit (a training
//! run; `requests_per_unit` requests of an inference service).
//!
//! Prices ([`price`]): the plan's `hourly_price`, else the effective hourly rate of the ledger
//! `carbonledger run` writes (`--ledger DIR`): AWS on-demand cost ÷ instance-hours of that
//! instance type, provider and region; on GCP the sum of the cores, RAM and GPU rates it bills
//! apart. Without either, or with a part missing, cost is unknown (never 0).
//!
//! Bad input, exit 2 ([`crate::Error::Plan`]): besides a malformed plan, an instance type
//! carrying accelerators the factor set cannot quantify, a figure that overflows, and `plan
//! compare` of two functional units.
//!
//! The gate ([`gate`]) checks a plan against budgets and exits 0 (within), 1 (over) or 2 (bad
//! input); output for people and CI logs, or JSON, is in [`report`].

pub mod assess;
pub mod gate;
pub mod price;
pub mod report;
pub mod spec;

pub use assess::{Assessment, assess};
pub use spec::{Plan, PlanKind, load};
