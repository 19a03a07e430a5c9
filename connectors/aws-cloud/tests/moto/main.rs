//! The AWS cloud sources against moto (S3, Cost Explorer, STS) on 127.0.0.1, with a small
//! fault-injecting proxy for throttling and broken downloads. See `harness` for how moto is
//! found and started.

mod cost_explorer;
// Shared with the CLI tests of the root package, which use the rest of it.
#[allow(dead_code)]
mod harness;
mod proxy;
mod s3;
