//! Tests of the GCP billing export connector against hand-built lines and the fixtures in
//! `fixtures/gcp/` (one test binary, so polars is linked once).

mod classification;
mod common;
mod errors;
mod formats;
