//! Cost Explorer's `SERVICE` names (`Amazon Elastic Compute Cloud - Compute`) mapped to the
//! CUR product codes (`AmazonEC2`) that the classification rules are written against, from
//! the data file `data/cost_explorer_services.csv` (each row with its source).
//!
//! A name the table lacks is kept as it is: the classification then works from the usage
//! type and its unit alone, and only the rules that test the service (CCF's SSD services,
//! Glue, SimpleDB, Redshift, CloudFront) cannot apply to it.

use std::collections::HashMap;

use carbonledger_usage::{Location, SourceError};

const TABLE: &str = include_str!("../data/cost_explorer_services.csv");
const TABLE_NAME: &str = "connectors/aws-cloud/data/cost_explorer_services.csv";

/// The service name → product code table.
#[derive(Debug, Clone)]
pub struct ServiceCodes {
    codes: HashMap<String, String>,
}

impl ServiceCodes {
    /// The table embedded in the binary.
    pub fn embedded() -> Result<ServiceCodes, SourceError> {
        ServiceCodes::parse(TABLE)
    }

    fn parse(text: &str) -> Result<ServiceCodes, SourceError> {
        let mut codes = HashMap::new();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        for (i, record) in reader.records().enumerate() {
            let line = i as u64 + 2;
            let record = record.map_err(|e| {
                SourceError::invalid(Location::file(TABLE_NAME).at_line(line), e.to_string())
            })?;
            let (Some(name), Some(code)) = (record.get(0), record.get(1)) else {
                return Err(SourceError::invalid(
                    Location::file(TABLE_NAME).at_line(line),
                    "a row needs service_name and product_code",
                ));
            };
            codes.insert(name.trim().to_owned(), code.trim().to_owned());
        }
        Ok(ServiceCodes { codes })
    }

    /// The product code of a Cost Explorer service name (the name itself when unknown).
    pub fn code<'a>(&'a self, name: &'a str) -> &'a str {
        self.codes.get(name.trim()).map_or(name, String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_table_maps_ec2_both_ways_and_keeps_unknown_names() {
        let codes = ServiceCodes::embedded().expect("table");
        assert_eq!(
            codes.code("Amazon Elastic Compute Cloud - Compute"),
            "AmazonEC2"
        );
        assert_eq!(codes.code("EC2 - Other"), "AmazonEC2");
        assert_eq!(codes.code("Amazon Simple Storage Service"), "AmazonS3");
        assert_eq!(codes.code("Some New Service"), "Some New Service");
    }
}
