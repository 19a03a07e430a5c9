//! Tests of the AWS CUR connector against the fixtures in `fixtures/aws/` (one test binary, so
//! polars is linked once).

mod ccf;
mod classification;
mod common;
mod errors;
mod flavours;
mod layouts;
mod sample;
