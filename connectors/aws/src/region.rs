//! Where a CUR line's usage happened: the AWS region code (`us-east-1`).
//!
//! In order:
//! 1. global services (CloudFront, Route 53, IAM, support plans) and a product region of
//!    `global` → no region, note "global service";
//! 2. the product region (`product/region`, then `product/regionCode`; Athena `product_region`,
//!    `product_region_code`; CUR 2.0 `product['region']`, `product_region_code`) when it looks
//!    like a region code → that region, no note;
//! 3. the usage type's prefix, read with AWS's region billing-code table (`USE1` → us-east-1,
//!    `APS3` → ap-south-1, `EU` → eu-west-1; a two-region transfer type such as
//!    `USE1-CAN1-AWS-Out-Bytes` → its first region) or a full region name used as prefix
//!    (`ca-central-1-KMS-Requests`) → that region, note "from usage-type prefix USE1";
//! 4. a prefix shaped like a billing code that the table does not know → no region, with a note;
//! 5. no prefix at all → us-east-1, note "no region prefix: AWS bills us-east-1 usage without
//!    one" (AWS's S3 pricing docs: "USE1 (or no prefix)").

use regex::Regex;

/// AWS region billing codes (AWS "Region billing codes" page; GovCloud from public code).
const BILLING_CODES: [(&str, &str); 36] = [
    ("USE1", "us-east-1"),
    ("USE2", "us-east-2"),
    ("USW1", "us-west-1"),
    ("USW2", "us-west-2"),
    ("CAN1", "ca-central-1"),
    ("CAN2", "ca-west-1"),
    ("MXC1", "mx-central-1"),
    ("AFS1", "af-south-1"),
    ("APE1", "ap-east-1"),
    ("APE2", "ap-east-2"),
    ("APN1", "ap-northeast-1"),
    ("APN2", "ap-northeast-2"),
    ("APN3", "ap-northeast-3"),
    ("APS1", "ap-southeast-1"),
    ("APS2", "ap-southeast-2"),
    ("APS3", "ap-south-1"),
    ("APS4", "ap-southeast-3"),
    ("APS5", "ap-south-2"),
    ("APS6", "ap-southeast-4"),
    ("APS7", "ap-southeast-5"),
    ("APS8", "ap-southeast-6"),
    ("APS9", "ap-southeast-7"),
    ("EU", "eu-west-1"),
    ("EUC1", "eu-central-1"),
    ("EUC2", "eu-central-2"),
    ("EUW2", "eu-west-2"),
    ("EUW3", "eu-west-3"),
    ("EUN1", "eu-north-1"),
    ("EUS1", "eu-south-1"),
    ("EUS2", "eu-south-2"),
    ("ILC1", "il-central-1"),
    ("MEC1", "me-central-1"),
    ("MES1", "me-south-1"),
    ("SAE1", "sa-east-1"),
    ("UGW1", "us-gov-west-1"),
    ("UGE1", "us-gov-east-1"),
];

/// The billing-code table (`USE1` → `us-east-1`), for `carbonledger factors export`.
pub fn billing_codes() -> &'static [(&'static str, &'static str)] {
    &BILLING_CODES
}

/// The region a billing code stands for (`APS3` → `ap-south-1`).
pub fn billing_code_region(code: &str) -> Option<&'static str> {
    BILLING_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, r)| *r)
}

/// An AWS region code (`us-east-1`, `us-gov-west-1`); the SQL form of the method uses the same.
pub const REGION_CODE_PATTERN: &str = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$";
/// A region code used as a usage-type prefix (`ca-central-1-KMS-Requests`).
pub const REGION_NAME_PREFIX_PATTERN: &str =
    r"^([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2})(?:-|$)";
/// The shape of a billing code (`USE1`, `APS3`).
pub const BILLING_CODE_SHAPE_PATTERN: &str = r"^[A-Z]{2,4}\d{1,2}$";

/// The note on rows of services that have no region.
pub const GLOBAL_NOTE: &str = "global service";
/// The note on rows whose usage type has no region prefix.
pub const NO_PREFIX_NOTE: &str = "no region prefix: AWS bills us-east-1 usage without one";

/// A resolved region and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionInfo {
    pub region: Option<String>,
    pub note: Option<String>,
}

/// Resolves regions; holds the compiled patterns.
#[derive(Debug, Clone)]
pub struct RegionResolver {
    region_code: Regex,
    name_prefix: Regex,
    code_shape: Regex,
}

impl RegionResolver {
    pub fn new() -> Result<Self, regex::Error> {
        Ok(RegionResolver {
            region_code: Regex::new(REGION_CODE_PATTERN)?,
            name_prefix: Regex::new(REGION_NAME_PREFIX_PATTERN)?,
            code_shape: Regex::new(BILLING_CODE_SHAPE_PATTERN)?,
        })
    }

    /// Whether `s` is shaped like an AWS region code (`us-east-1`, `us-gov-west-1`).
    pub fn looks_like_region(&self, s: &str) -> bool {
        self.region_code.is_match(s)
    }

    /// The region of a line from its product code, its product-region values (in order of
    /// preference) and its usage type.
    pub fn resolve(
        &self,
        product_code: &str,
        product_regions: &[&str],
        usage_type: &str,
    ) -> RegionInfo {
        let global = || RegionInfo {
            region: None,
            note: Some(GLOBAL_NOTE.to_owned()),
        };
        if is_global_service(product_code) {
            return global();
        }
        for candidate in product_regions
            .iter()
            .map(|r| r.trim())
            .filter(|r| !r.is_empty())
        {
            if candidate.eq_ignore_ascii_case("global") {
                return global();
            }
            if self.looks_like_region(candidate) {
                return RegionInfo {
                    region: Some(candidate.to_owned()),
                    note: None,
                };
            }
        }
        let usage_type = usage_type.trim();
        if usage_type.is_empty() {
            return RegionInfo {
                region: None,
                note: Some(
                    "no region: the line has neither a product region nor a usage type".into(),
                ),
            };
        }
        let first = usage_type.split('-').next().unwrap_or_default();
        if let Some(region) = billing_code_region(first) {
            return RegionInfo {
                region: Some(region.to_owned()),
                note: Some(format!("from usage-type prefix {first}")),
            };
        }
        if let Some(name) = self.name_prefix.captures(usage_type).and_then(|c| c.get(1)) {
            let name = name.as_str();
            return RegionInfo {
                region: Some(name.to_owned()),
                note: Some(format!("from usage-type prefix {name}")),
            };
        }
        if self.code_shape.is_match(first) {
            return RegionInfo {
                region: None,
                note: Some(format!(
                    "unknown region billing code {first} in the usage type"
                )),
            };
        }
        RegionInfo {
            region: Some("us-east-1".to_owned()),
            note: Some(NO_PREFIX_NOTE.to_owned()),
        }
    }
}

/// Services billed without a region: CloudFront, Route 53, IAM and the support plans.
pub fn is_global_service(product_code: &str) -> bool {
    matches!(
        product_code,
        "AmazonCloudFront" | "AmazonRoute53" | "AWSIAM"
    ) || product_code.contains("Support")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(product: &str, regions: &[&str], usage_type: &str) -> RegionInfo {
        RegionResolver::new()
            .expect("patterns compile")
            .resolve(product, regions, usage_type)
    }

    fn derived(region: &str, note: &str) -> RegionInfo {
        RegionInfo {
            region: Some(region.to_owned()),
            note: Some(note.to_owned()),
        }
    }

    #[test]
    fn product_region_wins_when_it_is_a_region_code() {
        let info = resolve("AmazonS3", &["us-west-2", ""], "USE1-TimedStorage-ByteHrs");
        assert_eq!(
            info,
            RegionInfo {
                region: Some("us-west-2".into()),
                note: None
            }
        );
        let info = resolve("AmazonS3", &["", "ca-central-1"], "Requests-Tier1");
        assert_eq!(info.region.as_deref(), Some("ca-central-1"));
    }

    #[test]
    fn usage_type_prefixes_follow_the_aws_billing_code_table() {
        assert_eq!(
            resolve("AmazonEC2", &[], "APS3-BoxUsage:m5.large"),
            derived("ap-south-1", "from usage-type prefix APS3")
        );
        assert_eq!(
            resolve("AmazonS3", &[], "EU-Requests-Tier1"),
            derived("eu-west-1", "from usage-type prefix EU")
        );
        assert_eq!(
            resolve(
                "AmazonS3",
                &["US East (N. Virginia)"],
                "USE1-CAN1-AWS-Out-Bytes"
            ),
            derived("us-east-1", "from usage-type prefix USE1")
        );
        assert_eq!(
            resolve("awskms", &[], "ca-central-1-KMS-Requests"),
            derived("ca-central-1", "from usage-type prefix ca-central-1")
        );
        assert_eq!(
            resolve("AmazonEC2", &[], "BoxUsage:c5d.2xlarge"),
            derived("us-east-1", NO_PREFIX_NOTE)
        );
        assert_eq!(
            resolve("AmazonEC2", &[], "ZZZ9-BoxUsage:m5.large").region,
            None
        );
    }

    #[test]
    fn global_services_have_no_region() {
        let global = RegionInfo {
            region: None,
            note: Some(GLOBAL_NOTE.into()),
        };
        assert_eq!(
            resolve(
                "AmazonCloudFront",
                &["us-east-1"],
                "US-DataTransfer-Out-Bytes"
            ),
            global
        );
        assert_eq!(resolve("AWSSupportBusiness", &[], "Dollar"), global);
        assert_eq!(
            resolve("AmazonCloudWatch", &["global"], "DashboardsUsageHour-Basic"),
            global
        );
    }
}
