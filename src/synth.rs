//! Synthetic AWS Cost and Usage Report (legacy CUR, CSV with `category/Name` headers).
//!
//! [`write_cur`] streams a realistic, deterministic legacy CUR for one billing month to any
//! [`std::io::Write`]: one row is built in a reused buffer, written with the `csv` crate and
//! forgotten, so memory stays constant whatever the number of lines. The same
//! [`SynthOptions`] (in particular the same `seed`) always produce the same bytes.
//!
//! Columns: the 94 columns of a real anonymized legacy CUR (focus_converters sample), in the same
//! order, plus `product/instanceType`, `product/memory`, `product/physicalProcessor` and
//! `product/vcpu` (placed alphabetically among the `product/*` columns, as AWS does) and the
//! cost-allocation tags `resourceTags/user:Environment` and `resourceTags/user:Team` at the end.
//! See [`header`].
//!
//! Content (roughly 800 bytes per line, like real files):
//! * Hourly rows: `lineItem/UsageStartDate` is a whole UTC hour inside the month and
//!   `lineItem/UsageEndDate` one hour later (format `YYYY-MM-DDTHH:00:00.000Z`).
//!   Monthly rows (`Tax`, `Credit`, `Fee`, `RIFee`, Route 53 hosted zones) span the whole
//!   billing period.
//! * EC2 instance hours (`BoxUsage:<type>`, pricing unit `Hrs`, amount in hours) on m5, c5, r5,
//!   t3 (burstable), m6g/c6g (Graviton), p3/g4dn (GPU) and m7i/c8g (types the CCF tables do
//!   not know), as `Usage`, `DiscountedUsage` (reserved instance; unblended cost 0, cost in
//!   `reservation/EffectiveCost`) and `SavingsPlanCoveredUsage` (on-demand-equivalent cost),
//!   each covered row followed by its `SavingsPlanNegation` (usage amount 0, negative cost).
//! * EBS volumes `EBS:VolumeUsage.{gp3,gp2,st1,sc1}` and snapshots `EBS:SnapshotUsage`, S3
//!   `TimedStorage-*ByteHrs`, RDS and DynamoDB storage: pricing unit `GB-Mo`, amount in
//!   GB-months (volume size in GB × 1 hour / hours in the month).
//! * S3 `Requests-Tier1/2` and Lambda `Request(-ARM)` (unit `Requests`, a count), Lambda
//!   `Lambda-GB-Second(-ARM)` (unit `Lambda-GB-Second`, GB-seconds), RDS `InstanceUsage:db.*`
//!   and `Multi-AZUsage:db.*` (unit `Hrs`).
//! * Data transfer in GB (unit `GB`): inter-region `<FROM>-<TO>-AWS-Out-Bytes` /
//!   `-AWS-In-Bytes`, internet `DataTransfer-Out-Bytes`, `DataTransfer-Regional-Bytes`.
//! * Usage the CCF method leaves "unknown": `NatGateway-Hours/Bytes`, `LoadBalancerUsage`,
//!   `LCUUsage` (unit `LCU-Hrs`), `VpcEndpoint-Hours`, `AmazonEKS-Hours:perCluster`, DynamoDB
//!   capacity units, CloudWatch metrics (unit `Metrics`); and Amazon Route 53, a service with
//!   units the method does not know at all (`HostedZone`, `Queries`) and no region.
//! * Non-usage lines: `Tax` (amount 1.0, empty unit), `Credit` (negative), `Fee` (reserved
//!   instance upfront fee, Business support), `RIFee` (monthly reserved instance fee, unit
//!   `Hrs`), `SavingsPlanRecurringFee` (hourly commitment, unit `Hrs`, no region).
//! * Regions are given both by `product/region` and by the usage-type prefix (`USE1`, `USE2`,
//!   `USW1`, `USW2`, `CAN1`, `EU` = eu-west-1, `EUC1`, `EUW2`, `EUN1`, `APN1`, `APS1`, `APS2`,
//!   `APS3` = ap-south-1, `SAE1`, `MEC1`); EC2, EBS, S3 and RDS rows in us-east-1 carry no
//!   prefix, as AWS writes them.
//! * Money: `lineItem/UnblendedCost` = `lineItem/UsageAmount` × `lineItem/UnblendedRate` in USD
//!   (rounded to 1e-10 USD), rates are on-demand list prices scaled per region.
//! * Accounts: `SynthOptions::accounts` 12-digit usage accounts (the first one with a leading
//!   zero, to catch readers that parse account ids as numbers) under one payer account.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;

use fastrand::Rng;

mod other;
pub use other::{write_azure, write_gcp};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthOptions {
    /// Number of data lines (the header line is not counted).
    pub lines: u64,
    /// Seed of the pseudo-random generator; the same options give the same bytes.
    pub seed: u64,
    /// Billing month as (year, month 1–12).
    pub month: (i32, u32),
    /// Number of distinct usage accounts (at least 1).
    pub accounts: usize,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            lines: 3000,
            seed: 2026,
            month: (2026, 10),
            accounts: 6,
        }
    }
}

/// Totals computed while writing (for tests and for the CLI's report).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SynthSummary {
    /// Data lines written (without the header).
    pub lines: u64,
    /// Sum of `lineItem/UnblendedCost` over all lines, in USD, summed in file order.
    pub unblended_cost_total: f64,
    /// Line count per `lineItem/LineItemType`.
    pub rows_by_line_item_type: BTreeMap<String, u64>,
    /// Line count per `lineItem/ProductCode`.
    pub rows_by_product_code: BTreeMap<String, u64>,
}

macro_rules! columns {
    ($($var:ident => $name:literal,)*) => {
        /// Column index into a row; variants are in header order. Some columns are always
        /// blank here (as they are in most real files), hence never named.
        #[allow(dead_code)]
        #[derive(Clone, Copy, Debug)]
        enum Col { $($var,)* }
        const HEADER: &[&str] = &[$($name,)*];
    };
}

columns! {
    LineItemId => "identity/LineItemId",
    TimeInterval => "identity/TimeInterval",
    InvoiceId => "bill/InvoiceId",
    InvoicingEntity => "bill/InvoicingEntity",
    BillingEntity => "bill/BillingEntity",
    BillType => "bill/BillType",
    PayerAccountId => "bill/PayerAccountId",
    BillingPeriodStart => "bill/BillingPeriodStartDate",
    BillingPeriodEnd => "bill/BillingPeriodEndDate",
    UsageAccountId => "lineItem/UsageAccountId",
    LineItemType => "lineItem/LineItemType",
    UsageStartDate => "lineItem/UsageStartDate",
    UsageEndDate => "lineItem/UsageEndDate",
    ProductCode => "lineItem/ProductCode",
    UsageType => "lineItem/UsageType",
    Operation => "lineItem/Operation",
    AvailabilityZone => "lineItem/AvailabilityZone",
    UsageAmount => "lineItem/UsageAmount",
    NormalizationFactor => "lineItem/NormalizationFactor",
    NormalizedUsageAmount => "lineItem/NormalizedUsageAmount",
    CurrencyCode => "lineItem/CurrencyCode",
    UnblendedRate => "lineItem/UnblendedRate",
    UnblendedCost => "lineItem/UnblendedCost",
    BlendedRate => "lineItem/BlendedRate",
    BlendedCost => "lineItem/BlendedCost",
    Description => "lineItem/LineItemDescription",
    TaxType => "lineItem/TaxType",
    LegalEntity => "lineItem/LegalEntity",
    ProductName => "product/ProductName",
    Availability => "product/availability",
    Durability => "product/durability",
    EventType => "product/eventType",
    FeeCode => "product/feeCode",
    FeeDescription => "product/feeDescription",
    FromLocation => "product/fromLocation",
    FromLocationType => "product/fromLocationType",
    FromRegionCode => "product/fromRegionCode",
    Group => "product/group",
    GroupDescription => "product/groupDescription",
    InstanceType => "product/instanceType",
    Location => "product/location",
    LocationType => "product/locationType",
    Memory => "product/memory",
    MessageDeliveryFrequency => "product/messageDeliveryFrequency",
    MessageDeliveryOrder => "product/messageDeliveryOrder",
    ProductOperation => "product/operation",
    Overhead => "product/overhead",
    PhysicalProcessor => "product/physicalProcessor",
    ProductFamily => "product/productFamily",
    ProductType => "product/productType",
    QueueType => "product/queueType",
    Region => "product/region",
    RegionCode => "product/regionCode",
    ServiceCode => "product/servicecode",
    ServiceName => "product/servicename",
    Sku => "product/sku",
    StorageClass => "product/storageClass",
    StorageMedia => "product/storageMedia",
    ToLocation => "product/toLocation",
    ToLocationType => "product/toLocationType",
    ToRegionCode => "product/toRegionCode",
    TransferType => "product/transferType",
    ProductUsageType => "product/usagetype",
    Vcpu => "product/vcpu",
    Version => "product/version",
    VolumeType => "product/volumeType",
    RateCode => "pricing/RateCode",
    RateId => "pricing/RateId",
    PricingCurrency => "pricing/currency",
    PublicOnDemandCost => "pricing/publicOnDemandCost",
    PublicOnDemandRate => "pricing/publicOnDemandRate",
    Term => "pricing/term",
    Unit => "pricing/unit",
    RiAmortizedUpfrontCostForUsage => "reservation/AmortizedUpfrontCostForUsage",
    RiAmortizedUpfrontFeeForPeriod => "reservation/AmortizedUpfrontFeeForBillingPeriod",
    RiEffectiveCost => "reservation/EffectiveCost",
    RiEndTime => "reservation/EndTime",
    RiModificationStatus => "reservation/ModificationStatus",
    RiNormalizedUnitsPerReservation => "reservation/NormalizedUnitsPerReservation",
    RiNumberOfReservations => "reservation/NumberOfReservations",
    RiRecurringFeeForUsage => "reservation/RecurringFeeForUsage",
    RiStartTime => "reservation/StartTime",
    RiSubscriptionId => "reservation/SubscriptionId",
    RiTotalReservedNormalizedUnits => "reservation/TotalReservedNormalizedUnits",
    RiTotalReservedUnits => "reservation/TotalReservedUnits",
    RiUnitsPerReservation => "reservation/UnitsPerReservation",
    RiUnusedAmortizedUpfrontFee => "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
    RiUnusedNormalizedUnitQuantity => "reservation/UnusedNormalizedUnitQuantity",
    RiUnusedQuantity => "reservation/UnusedQuantity",
    RiUnusedRecurringFee => "reservation/UnusedRecurringFee",
    RiUpfrontValue => "reservation/UpfrontValue",
    SpTotalCommitmentToDate => "savingsPlan/TotalCommitmentToDate",
    SpArn => "savingsPlan/SavingsPlanARN",
    SpRate => "savingsPlan/SavingsPlanRate",
    SpUsedCommitment => "savingsPlan/UsedCommitment",
    SpEffectiveCost => "savingsPlan/SavingsPlanEffectiveCost",
    SpAmortizedUpfrontCommitment => "savingsPlan/AmortizedUpfrontCommitmentForBillingPeriod",
    SpRecurringCommitment => "savingsPlan/RecurringCommitmentForBillingPeriod",
    TagEnvironment => "resourceTags/user:Environment",
    TagTeam => "resourceTags/user:Team",
}

/// The header written by [`write_cur`], in order.
pub fn header() -> &'static [&'static str] {
    HEADER
}

// ---------------------------------------------------------------------------------------------
// Reference tables (list prices in USD, us-east-1, Linux; scaled by `Region::price`).

struct Region {
    code: &'static str,
    /// Usage-type prefix (AWS "region billing code").
    prefix: &'static str,
    location: &'static str,
    /// Price multiplier relative to us-east-1.
    price: f64,
    weight: u32,
}

const fn region(
    code: &'static str,
    prefix: &'static str,
    location: &'static str,
    price: f64,
    weight: u32,
) -> Region {
    Region {
        code,
        prefix,
        location,
        price,
        weight,
    }
}

const REGIONS: &[Region] = &[
    region("us-east-1", "USE1", "US East (N. Virginia)", 1.0, 30),
    region("us-east-2", "USE2", "US East (Ohio)", 1.0, 8),
    region("us-west-1", "USW1", "US West (N. California)", 1.17, 3),
    region("us-west-2", "USW2", "US West (Oregon)", 1.0, 14),
    region("ca-central-1", "CAN1", "Canada (Central)", 1.11, 3),
    region("eu-west-1", "EU", "EU (Ireland)", 1.11, 10),
    region("eu-central-1", "EUC1", "EU (Frankfurt)", 1.19, 8),
    region("eu-west-2", "EUW2", "EU (London)", 1.16, 3),
    region("eu-north-1", "EUN1", "EU (Stockholm)", 1.06, 3),
    region("ap-northeast-1", "APN1", "Asia Pacific (Tokyo)", 1.29, 5),
    region(
        "ap-southeast-1",
        "APS1",
        "Asia Pacific (Singapore)",
        1.25,
        3,
    ),
    region("ap-southeast-2", "APS2", "Asia Pacific (Sydney)", 1.25, 3),
    region("ap-south-1", "APS3", "Asia Pacific (Mumbai)", 1.05, 4),
    region("sa-east-1", "SAE1", "South America (Sao Paulo)", 1.59, 2),
    region("me-central-1", "MEC1", "Middle East (UAE)", 1.22, 1),
];

struct Instance {
    name: &'static str,
    vcpu: u32,
    memory: &'static str,
    processor: &'static str,
    /// On-demand Linux price, USD per hour.
    rate: f64,
    /// CUR normalization factor of the size (large = 4).
    norm: f64,
    weight: u32,
}

const fn inst(
    name: &'static str,
    vcpu: u32,
    memory: &'static str,
    processor: &'static str,
    rate: f64,
    norm: f64,
    weight: u32,
) -> Instance {
    Instance {
        name,
        vcpu,
        memory,
        processor,
        rate,
        norm,
        weight,
    }
}

const XEON_8175: &str = "Intel Xeon Platinum 8175";
const XEON_8124: &str = "Intel Xeon Platinum 8124M";
const SKYLAKE: &str = "Intel Skylake E5 2686 v5";
const GRAVITON2: &str = "AWS Graviton2 Processor";
const BROADWELL: &str = "Intel Xeon E5-2686 v4 (Broadwell)";
const XEON_FAMILY: &str = "Intel Xeon Family";

#[rustfmt::skip]
const EC2_TYPES: &[Instance] = &[
    inst("m5.large", 2, "8 GiB", XEON_8175, 0.096, 4.0, 14),
    inst("m5.xlarge", 4, "16 GiB", XEON_8175, 0.192, 8.0, 9),
    inst("m5.2xlarge", 8, "32 GiB", XEON_8175, 0.384, 16.0, 5),
    inst("m5.4xlarge", 16, "64 GiB", XEON_8175, 0.768, 32.0, 2),
    inst("c5.large", 2, "4 GiB", XEON_8124, 0.085, 4.0, 8),
    inst("c5.xlarge", 4, "8 GiB", XEON_8124, 0.17, 8.0, 6),
    inst("c5.2xlarge", 8, "16 GiB", XEON_8124, 0.34, 16.0, 4),
    inst("c5.9xlarge", 36, "72 GiB", XEON_8124, 1.53, 72.0, 2),
    inst("r5.large", 2, "16 GiB", XEON_8175, 0.126, 4.0, 5),
    inst("r5.xlarge", 4, "32 GiB", XEON_8175, 0.252, 8.0, 4),
    inst("r5.2xlarge", 8, "64 GiB", XEON_8175, 0.504, 16.0, 3),
    inst("t3.micro", 2, "1 GiB", SKYLAKE, 0.0104, 0.5, 6),
    inst("t3.small", 2, "2 GiB", SKYLAKE, 0.0208, 1.0, 4),
    inst("t3.medium", 2, "4 GiB", SKYLAKE, 0.0416, 2.0, 5),
    inst("t3.large", 2, "8 GiB", SKYLAKE, 0.0832, 4.0, 3),
    inst("m6g.large", 2, "8 GiB", GRAVITON2, 0.077, 4.0, 4),
    inst("m6g.xlarge", 4, "16 GiB", GRAVITON2, 0.154, 8.0, 3),
    inst("m6g.2xlarge", 8, "32 GiB", GRAVITON2, 0.308, 16.0, 1),
    inst("c6g.xlarge", 4, "8 GiB", GRAVITON2, 0.136, 8.0, 2),
    inst("p3.2xlarge", 8, "61 GiB", BROADWELL, 3.06, 16.0, 2),
    inst("g4dn.xlarge", 4, "16 GiB", XEON_FAMILY, 0.526, 8.0, 2),
    inst("g4dn.2xlarge", 8, "32 GiB", XEON_FAMILY, 0.752, 16.0, 1),
    // Newer than the CCF instance tables: estimators must fall back for these.
    inst("m7i.xlarge", 4, "16 GiB", "Intel Xeon Scalable (Sapphire Rapids)", 0.2016, 8.0, 3),
    inst("c8g.large", 2, "4 GiB", "AWS Graviton4 Processor", 0.07976, 4.0, 2),
];

const RDS_TYPES: &[Instance] = &[
    inst("db.m5.large", 2, "8 GiB", XEON_8175, 0.171, 4.0, 5),
    inst("db.m5.xlarge", 4, "16 GiB", XEON_8175, 0.342, 8.0, 3),
    inst("db.r5.large", 2, "16 GiB", XEON_8175, 0.25, 4.0, 3),
    inst("db.r5.2xlarge", 8, "64 GiB", XEON_8175, 1.0, 16.0, 1),
    inst("db.t3.medium", 2, "4 GiB", XEON_8175, 0.068, 2.0, 4),
    inst("db.m6g.large", 2, "8 GiB", GRAVITON2, 0.152, 4.0, 2),
];

/// An EBS volume type.
struct Volume {
    /// Usage-type suffix after `EBS:VolumeUsage.`.
    suffix: &'static str,
    operation: &'static str,
    volume_type: &'static str,
    media: &'static str,
    /// USD per GB-month.
    price: f64,
    label: &'static str,
}

const fn vol(
    suffix: &'static str,
    operation: &'static str,
    volume_type: &'static str,
    media: &'static str,
    price: f64,
    label: &'static str,
) -> Volume {
    Volume {
        suffix,
        operation,
        volume_type,
        media,
        price,
        label,
    }
}

#[rustfmt::skip]
const EBS_VOLUMES: &[(Volume, u32)] = &[
    (vol("gp3", "CreateVolume-Gp3", "General Purpose", "SSD-backed", 0.08, "gp3"), 6),
    (vol("gp2", "CreateVolume-Gp2", "General Purpose", "SSD-backed", 0.10, "gp2"), 2),
    (vol("st1", "CreateVolume-Throughput", "Throughput Optimized HDD", "HDD-backed", 0.045,
        "st1"), 2),
    (vol("sc1", "CreateVolume-Cold", "Cold HDD", "HDD-backed", 0.015, "sc1"), 1),
];

/// Volume sizes in GB with weights.
const VOLUME_SIZES_GB: &[(f64, u32)] = &[
    (8.0, 6),
    (20.0, 6),
    (30.0, 5),
    (50.0, 5),
    (100.0, 6),
    (200.0, 4),
    (500.0, 3),
    (1000.0, 2),
    (2000.0, 1),
    (4000.0, 1),
];

/// An S3 storage class: (usage type, operation, storage class, volume type, USD per GB-month).
type S3Class = (&'static str, &'static str, &'static str, &'static str, f64);

/// An RDS storage usage type: (usage type, volume type, product family, USD per GB-month).
type RdsStorage = (&'static str, &'static str, &'static str, f64);

/// A Lambda usage type: (usage-type suffix, pricing unit, USD per unit, product group,
/// lowest and highest amount per hourly line).
type LambdaUsage = (&'static str, &'static str, f64, &'static str, f64, f64);

#[rustfmt::skip]
const S3_CLASSES: &[(S3Class, u32)] = &[
    (("TimedStorage-ByteHrs", "StandardStorage", "General Purpose", "Standard", 0.023), 6),
    (("TimedStorage-SIA-ByteHrs", "StandardIAStorage", "Infrequent Access",
        "Standard - Infrequent Access", 0.0125), 2),
    (("TimedStorage-GlacierByteHrs", "GlacierStorage", "Archive", "Amazon Glacier", 0.0036), 1),
];

const TEAMS: &[&str] = &["platform", "data", "ml", "web", "payments", "search"];
const ENVIRONMENTS: &[&str] = &["prod", "prod", "staging", "dev"];

const LEGAL_ENTITY: &str = "Amazon Web Services, Inc.";

fn product_name(code: &str) -> &'static str {
    match code {
        "AmazonEC2" => "Amazon Elastic Compute Cloud",
        "AmazonS3" => "Amazon Simple Storage Service",
        "AmazonRDS" => "Amazon Relational Database Service",
        "AWSLambda" => "AWS Lambda",
        "AWSDataTransfer" => "AWS Data Transfer",
        "AWSELB" => "Elastic Load Balancing",
        "AmazonVPC" => "Amazon Virtual Private Cloud",
        "AmazonEKS" => "Amazon Elastic Container Service for Kubernetes",
        "AmazonDynamoDB" => "Amazon DynamoDB",
        "AmazonCloudWatch" => "AmazonCloudWatch",
        "AmazonRoute53" => "Amazon Route 53",
        "ComputeSavingsPlans" => "Savings Plans for AWS Compute usage",
        "AWSSupportBusiness" => "AWS Support (Business)",
        _ => "",
    }
}

/// What one draw of the generator produces (one line, two for a Savings Plan pair).
#[derive(Clone, Copy)]
enum Kind {
    Ec2Usage,
    Ec2Reserved,
    Ec2SavingsPlan,
    EbsVolume,
    EbsSnapshot,
    S3Storage,
    S3Requests,
    RdsInstance,
    RdsStorage,
    DataTransfer,
    Lambda,
    NatGateway,
    LoadBalancer,
    VpcEndpoint,
    Eks,
    DynamoDb,
    CloudWatch,
    Route53,
    SavingsPlanFee,
    RiFee,
    Fee,
    Credit,
    Tax,
}

/// Relative frequency of each kind of draw (per mille, roughly).
const KINDS: &[(Kind, u32)] = &[
    (Kind::Ec2Usage, 260),
    (Kind::Ec2Reserved, 60),
    (Kind::Ec2SavingsPlan, 50),
    (Kind::EbsVolume, 80),
    (Kind::EbsSnapshot, 25),
    (Kind::S3Storage, 45),
    (Kind::S3Requests, 60),
    (Kind::RdsInstance, 45),
    (Kind::RdsStorage, 20),
    (Kind::DataTransfer, 80),
    (Kind::Lambda, 50),
    (Kind::NatGateway, 20),
    (Kind::LoadBalancer, 15),
    (Kind::VpcEndpoint, 6),
    (Kind::Eks, 6),
    (Kind::DynamoDb, 12),
    (Kind::CloudWatch, 15),
    (Kind::Route53, 10),
    (Kind::SavingsPlanFee, 5),
    (Kind::RiFee, 5),
    (Kind::Fee, 6),
    (Kind::Credit, 5),
    (Kind::Tax, 8),
];

/// Product codes that `Tax` and `Credit` lines are attributed to.
const BILLED_SERVICES: &[&str] = &[
    "AmazonEC2",
    "AmazonEC2",
    "AmazonEC2",
    "AmazonS3",
    "AmazonRDS",
    "AWSLambda",
    "AWSDataTransfer",
    "AWSELB",
    "AmazonCloudWatch",
    "AmazonDynamoDB",
];

// ---------------------------------------------------------------------------------------------
// Small helpers.

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

fn pick_weighted<'a, T>(rng: &mut Rng, items: &'a [(T, u32)]) -> &'a T {
    &pick_weighted_by(rng, items, |i| i.1).0
}

/// Draws one item with probability proportional to `weight(item)`.
fn pick_weighted_by<'a, T>(rng: &mut Rng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut x = rng.u32(..total.max(1));
    for item in items {
        let w = weight(item);
        if x < w {
            return item;
        }
        x -= w;
    }
    &items[items.len() - 1]
}

fn pick_region(rng: &mut Rng) -> &'static Region {
    pick_weighted_by(rng, REGIONS, |r| r.weight)
}

fn pick_instance(rng: &mut Rng, table: &'static [Instance]) -> &'static Instance {
    pick_weighted_by(rng, table, |i| i.weight)
}

/// Log-uniform draw in [lo, hi).
fn log_uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + rng.f64() * (hi.ln() - lo.ln())).exp()
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// FNV-1a over several strings (with a separator), then one splitmix64 round.
fn hash_parts(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0x1f)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    splitmix(h)
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const BASE32_LOWER: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const SKU_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Appends `n` characters of `alphabet` taken 5 bits at a time from a stream of 64-bit words.
fn push_base32(buf: &mut String, mut next: impl FnMut() -> u64, n: usize, alphabet: &[u8; 32]) {
    let mut word = 0u64;
    let mut left = 0;
    for _ in 0..n {
        if left == 0 {
            word = next();
            left = 12;
        }
        buf.push(char::from(alphabet[(word & 31) as usize]));
        word >>= 5;
        left -= 1;
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// The billing month: hour indices 0..hours are the hours of the month, `hours` is the first
/// hour of the next month.
struct Period {
    year: i32,
    month: u32,
    hours: u32,
}

impl Period {
    fn push_ts(&self, buf: &mut String, hour_index: u32, millis: bool) {
        let (year, month, day, hour) = if hour_index >= self.hours {
            if self.month == 12 {
                (self.year + 1, 1, 1, 0)
            } else {
                (self.year, self.month + 1, 1, 0)
            }
        } else {
            (self.year, self.month, hour_index / 24 + 1, hour_index % 24)
        };
        let frac = if millis { ".000" } else { "" };
        let _ = write!(buf, "{year:04}-{month:02}-{day:02}T{hour:02}:00:00{frac}Z");
    }
}

/// One CSV row as reusable string buffers, indexed by [`Col`].
struct Row {
    fields: Vec<String>,
    /// The numeric value written to `lineItem/UnblendedCost`.
    cost: f64,
}

impl Row {
    fn new() -> Self {
        Row {
            fields: vec![String::new(); HEADER.len()],
            cost: 0.0,
        }
    }

    fn clear(&mut self) {
        for f in &mut self.fields {
            f.clear();
        }
        self.cost = 0.0;
    }

    fn field(&mut self, col: Col) -> &mut String {
        &mut self.fields[col as usize]
    }

    fn get(&self, col: Col) -> &str {
        &self.fields[col as usize]
    }

    fn set(&mut self, col: Col, value: &str) {
        let f = self.field(col);
        f.clear();
        f.push_str(value);
    }

    fn fmt(&mut self, col: Col, args: std::fmt::Arguments<'_>) {
        let f = self.field(col);
        f.clear();
        let _ = f.write_fmt(args);
    }

    fn num(&mut self, col: Col, value: f64) {
        let f = self.field(col);
        f.clear();
        push_num(f, value);
    }

    fn copy(&mut self, from: Col, to: Col) {
        let source = std::mem::take(&mut self.fields[from as usize]);
        self.set(to, &source);
        self.fields[from as usize] = source;
    }
}

/// Writes a number the way CUR files do for whole values (`1.0`), otherwise the shortest
/// decimal that reads back to the same `f64`.
fn push_num(buf: &mut String, value: f64) {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        let _ = write!(buf, "{value:.1}");
    } else {
        let _ = write!(buf, "{value}");
    }
}

/// Parameters of one EC2 instance-hour, shared by a `SavingsPlanCoveredUsage` line and its
/// `SavingsPlanNegation`.
struct Ec2Hour {
    inst: &'static Instance,
    region: &'static Region,
    account: usize,
    hour: u32,
    amount: f64,
    windows: bool,
    zone: char,
    tags: Option<(usize, usize)>,
}

// ---------------------------------------------------------------------------------------------
// The generator.

struct Generator {
    rng: Rng,
    period: Period,
    accounts: Vec<String>,
    payer: String,
    row: Row,
    scratch: String,
}

/// Writes a synthetic legacy CUR CSV (header + `options.lines` lines) to `out`.
///
/// Memory use does not depend on `options.lines`. The writer is flushed before returning.
/// Errors: `InvalidInput` for a month outside 1–12, a year outside 1970–9999 or zero
/// accounts; otherwise the I/O errors of `out`.
pub fn write_cur<W: io::Write>(out: W, options: &SynthOptions) -> io::Result<SynthSummary> {
    let (year, month) = options.month;
    if !(1..=12).contains(&month) || !(1970..=9999).contains(&year) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid billing month {year}-{month}"),
        ));
    }
    if options.accounts == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "accounts must be at least 1",
        ));
    }
    let mut wtr = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(1 << 16)
        .from_writer(out);
    wtr.write_record(HEADER)?;

    let mut g = Generator::new(options, year, month);
    let mut summary = SynthSummary::default();
    while summary.lines < options.lines {
        let remaining = options.lines - summary.lines;
        let mut kind = *pick_weighted(&mut g.rng, KINDS);
        if matches!(kind, Kind::Ec2SavingsPlan) && remaining < 2 {
            kind = Kind::Ec2Usage;
        }
        match kind {
            Kind::Ec2SavingsPlan => {
                let hour = g.ec2_hour(true);
                g.ec2(&hour, "SavingsPlanCoveredUsage");
                g.emit(&mut wtr, &mut summary)?;
                g.ec2(&hour, "SavingsPlanNegation");
            }
            Kind::Ec2Usage => {
                let hour = g.ec2_hour(true);
                g.ec2(&hour, "Usage");
            }
            Kind::Ec2Reserved => {
                let hour = g.ec2_hour(false);
                g.ec2(&hour, "DiscountedUsage");
            }
            Kind::EbsVolume => g.ebs_volume(),
            Kind::EbsSnapshot => g.ebs_snapshot(),
            Kind::S3Storage => g.s3_storage(),
            Kind::S3Requests => g.s3_requests(),
            Kind::RdsInstance => g.rds_instance(),
            Kind::RdsStorage => g.rds_storage(),
            Kind::DataTransfer => g.data_transfer(),
            Kind::Lambda => g.lambda(),
            Kind::NatGateway => g.simple_hourly(SimpleService::NAT),
            Kind::LoadBalancer => g.simple_hourly(SimpleService::ELB),
            Kind::VpcEndpoint => g.simple_hourly(SimpleService::VPC),
            Kind::Eks => g.simple_hourly(SimpleService::EKS),
            Kind::DynamoDb => g.dynamodb(),
            Kind::CloudWatch => g.simple_hourly(SimpleService::CLOUDWATCH),
            Kind::Route53 => g.route53(),
            Kind::SavingsPlanFee => g.savings_plan_fee(),
            Kind::RiFee => g.ri_fee(),
            Kind::Fee => g.fee(),
            Kind::Credit => g.credit(),
            Kind::Tax => g.tax(),
        }
        g.emit(&mut wtr, &mut summary)?;
    }
    wtr.flush()?;
    Ok(summary)
}

/// One usage type of a [`SimpleService`].
struct SimpleUsage {
    /// Usage-type suffix (after the region prefix).
    suffix: &'static str,
    operation: &'static str,
    /// `pricing/unit`.
    unit: &'static str,
    /// USD per unit in us-east-1.
    price: f64,
    /// Amount per hourly line is drawn log-uniformly in [lo, hi] (in `unit`s); lo == hi is fixed.
    lo: f64,
    hi: f64,
    weight: u32,
}

const fn usage(
    suffix: &'static str,
    operation: &'static str,
    unit: &'static str,
    price: f64,
    (lo, hi): (f64, f64),
    weight: u32,
) -> SimpleUsage {
    SimpleUsage {
        suffix,
        operation,
        unit,
        price,
        lo,
        hi,
        weight,
    }
}

/// An hourly usage line of a service whose rows differ only by usage type.
struct SimpleService {
    code: &'static str,
    family: &'static str,
    items: &'static [SimpleUsage],
}

#[rustfmt::skip]
impl SimpleService {
    const NAT: SimpleService = SimpleService {
        code: "AmazonEC2",
        family: "NAT Gateway",
        items: &[
            usage("NatGateway-Hours", "NatGateway", "Hrs", 0.045, (1.0, 1.0), 3),
            usage("NatGateway-Bytes", "NatGateway", "GB", 0.045, (0.01, 200.0), 2),
        ],
    };
    const ELB: SimpleService = SimpleService {
        code: "AWSELB",
        family: "Load Balancer-Application",
        items: &[
            usage("LoadBalancerUsage", "LoadBalancing:Application", "Hrs", 0.0225, (1.0, 1.0), 3),
            usage("LCUUsage", "LoadBalancing:Application", "LCU-Hrs", 0.008, (0.05, 30.0), 2),
        ],
    };
    const VPC: SimpleService = SimpleService {
        code: "AmazonVPC",
        family: "VpcEndpoint",
        items: &[
            usage("VpcEndpoint-Hours", "VpcEndpoint", "Hrs", 0.01, (1.0, 1.0), 2),
            usage("VpcEndpoint-Bytes", "VpcEndpoint", "GB", 0.01, (0.01, 50.0), 1),
        ],
    };
    const EKS: SimpleService = SimpleService {
        code: "AmazonEKS",
        family: "Compute",
        items: &[
            usage("AmazonEKS-Hours:perCluster", "CreateOperation", "Hrs", 0.10, (1.0, 1.0), 1),
        ],
    };
    const CLOUDWATCH: SimpleService = SimpleService {
        code: "AmazonCloudWatch",
        family: "Metric",
        items: &[
            usage("CW:MetricMonitorUsage", "MetricStorage", "Metrics", 0.30, (0.001, 0.5), 3),
            usage("TimedStorage-ByteHrs", "HourlyStorageMetering", "GB-Mo", 0.03, (0.001, 2.0), 2),
            usage("DataProcessing-Bytes", "PutLogEvents", "GB", 0.50, (0.001, 20.0), 2),
        ],
    };
}

impl Generator {
    fn new(options: &SynthOptions, year: i32, month: u32) -> Self {
        // Account ids come from their own stream so that they do not shift the row stream.
        let mut ids = Rng::with_seed(options.seed ^ 0x5eed_acc0_u64);
        let mut accounts = Vec::with_capacity(options.accounts);
        for i in 0..options.accounts {
            let first = if i == 0 { 0 } else { ids.u64(1..10) };
            accounts.push(format!("{first}{:011}", ids.u64(..100_000_000_000)));
        }
        let payer = format!("{:012}", ids.u64(100_000_000_000..1_000_000_000_000));
        let hours = days_in_month(year, month) * 24;
        Generator {
            rng: Rng::with_seed(options.seed),
            period: Period { year, month, hours },
            accounts,
            payer,
            row: Row::new(),
            scratch: String::with_capacity(128),
        }
    }

    fn pick_account(&mut self) -> usize {
        // Skewed towards the first accounts, like real organisations.
        let n = self.accounts.len();
        self.rng.usize(..n).min(self.rng.usize(..n))
    }

    fn pick_tags(&mut self) -> Option<(usize, usize)> {
        if self.rng.u32(..100) < 15 {
            None
        } else {
            Some((
                self.rng.usize(..TEAMS.len()),
                self.rng.usize(..ENVIRONMENTS.len()),
            ))
        }
    }

    fn set_tags(&mut self, tags: Option<(usize, usize)>) {
        if let Some((team, env)) = tags {
            self.row.set(Col::TagTeam, TEAMS[team]);
            self.row.set(Col::TagEnvironment, ENVIRONMENTS[env]);
        }
    }

    /// Fills the columns every line has. `hour` None = the whole billing month.
    fn begin(&mut self, line_type: &str, product_code: &str, account: usize, hour: Option<u32>) {
        self.row.clear();
        let row = &mut self.row;
        let rng = &mut self.rng;
        push_base32(row.field(Col::LineItemId), || rng.u64(..), 52, BASE32_LOWER);
        let (start, end) = match hour {
            Some(h) => (h, h + 1),
            None => (0, self.period.hours),
        };
        {
            let f = row.field(Col::TimeInterval);
            self.period.push_ts(f, start, false);
            f.push('/');
            self.period.push_ts(f, end, false);
        }
        row.set(Col::InvoicingEntity, LEGAL_ENTITY);
        row.set(Col::BillingEntity, "AWS");
        row.set(Col::BillType, "Anniversary");
        row.set(Col::PayerAccountId, &self.payer);
        self.period
            .push_ts(row.field(Col::BillingPeriodStart), 0, true);
        self.period
            .push_ts(row.field(Col::BillingPeriodEnd), self.period.hours, true);
        row.set(Col::UsageAccountId, &self.accounts[account]);
        row.set(Col::LineItemType, line_type);
        self.period
            .push_ts(row.field(Col::UsageStartDate), start, true);
        self.period.push_ts(row.field(Col::UsageEndDate), end, true);
        row.set(Col::ProductCode, product_code);
        row.set(Col::CurrencyCode, "USD");
        row.set(Col::LegalEntity, LEGAL_ENTITY);
        row.set(Col::ProductName, product_name(product_code));
        row.set(Col::ServiceCode, product_code);
        row.set(Col::ServiceName, product_name(product_code));
        row.set(Col::PricingCurrency, "USD");
        let sub = hash_parts(&[&self.accounts[account], product_code]) % 900_000_000;
        row.fmt(Col::RiSubscriptionId, format_args!("{}", 100_000_000 + sub));
    }

    /// Region columns of a regional usage line.
    fn set_region(&mut self, region: &Region) {
        self.row.set(Col::Location, region.location);
        self.row.set(Col::LocationType, "AWS Region");
        self.row.set(Col::Region, region.code);
        self.row.set(Col::RegionCode, region.code);
    }

    fn set_zone(&mut self, region: &Region, zone: char) {
        let f = self.row.field(Col::AvailabilityZone);
        f.clear();
        f.push_str(region.code);
        f.push(zone);
    }

    /// Sets `lineItem/UsageType` and `product/usagetype` to `<prefix>-<suffix>`, without a
    /// prefix for us-east-1 when `classic` (EC2, EBS, S3, RDS do that).
    fn set_usage_type(&mut self, region: &Region, classic: bool, suffix: &str) {
        let f = self.row.field(Col::UsageType);
        f.clear();
        if !(classic && region.code == "us-east-1") {
            f.push_str(region.prefix);
            f.push('-');
        }
        f.push_str(suffix);
        self.row.copy(Col::UsageType, Col::ProductUsageType);
    }

    fn set_operation(&mut self, operation: &str) {
        self.row.set(Col::Operation, operation);
        self.row.set(Col::ProductOperation, operation);
    }

    /// SKU, rate code and rate id derived from the usage type, operation and region, so they
    /// are stable across lines like real price-list entries.
    fn set_sku(&mut self, term_code: &str) {
        let h = hash_parts(&[
            self.row.get(Col::UsageType),
            self.row.get(Col::Operation),
            self.row.get(Col::Region),
        ]);
        let mut state = h;
        let mut next = || {
            state = splitmix(state);
            state
        };
        let sku = self.row.field(Col::Sku);
        push_base32(sku, &mut next, 16, SKU_ALPHABET);
        self.row.copy(Col::Sku, Col::RateCode);
        let rate_code = self.row.field(Col::RateCode);
        rate_code.push('.');
        rate_code.push_str(term_code);
        rate_code.push_str(".6YS6EN2CT7");
        self.row.fmt(
            Col::RateId,
            format_args!("{}", 10_000_000_000 + h % 90_000_000_000),
        );
    }

    /// Amount, rates and costs of an on-demand-priced line; returns the cost in USD.
    fn set_costs(&mut self, unit: &str, amount: f64, rate: f64) -> f64 {
        let cost = round_to(amount * rate, 10);
        let row = &mut self.row;
        row.num(Col::UsageAmount, amount);
        row.num(Col::UnblendedRate, rate);
        row.num(Col::UnblendedCost, cost);
        row.num(Col::BlendedRate, rate);
        row.num(Col::BlendedCost, cost);
        row.num(Col::PublicOnDemandRate, rate);
        row.num(Col::PublicOnDemandCost, cost);
        row.set(Col::Unit, unit);
        row.cost = cost;
        cost
    }

    fn emit<W: io::Write>(
        &mut self,
        wtr: &mut csv::Writer<W>,
        summary: &mut SynthSummary,
    ) -> io::Result<()> {
        wtr.write_record(&self.row.fields)?;
        summary.lines += 1;
        summary.unblended_cost_total += self.row.cost;
        count(
            &mut summary.rows_by_line_item_type,
            self.row.get(Col::LineItemType),
        );
        count(
            &mut summary.rows_by_product_code,
            self.row.get(Col::ProductCode),
        );
        Ok(())
    }

    fn hour(&mut self) -> u32 {
        self.rng.u32(..self.period.hours)
    }

    // --- EC2 instances -------------------------------------------------------------------

    fn ec2_hour(&mut self, allow_windows: bool) -> Ec2Hour {
        let inst = pick_instance(&mut self.rng, EC2_TYPES);
        let region = pick_region(&mut self.rng);
        let account = self.pick_account();
        let hour = self.hour();
        let amount = if self.rng.u32(..10) == 0 {
            round_to(f64::from(self.rng.u32(1..60)) / 60.0, 8)
        } else {
            1.0
        };
        let windows = allow_windows && self.rng.u32(..10) == 0;
        let zone = char::from(b'a' + self.rng.u8(..3));
        let tags = self.pick_tags();
        Ec2Hour {
            inst,
            region,
            account,
            hour,
            amount,
            windows,
            zone,
            tags,
        }
    }

    fn ec2(&mut self, p: &Ec2Hour, line_type: &str) {
        let inst = p.inst;
        let region = p.region;
        self.begin(line_type, "AmazonEC2", p.account, Some(p.hour));
        self.scratch.clear();
        let _ = write!(self.scratch, "BoxUsage:{}", inst.name);
        let suffix = std::mem::take(&mut self.scratch);
        self.set_usage_type(region, true, &suffix);
        self.scratch = suffix;
        self.set_operation(if p.windows {
            "RunInstances:0002"
        } else {
            "RunInstances"
        });
        self.set_zone(region, p.zone);
        self.set_region(region);
        self.set_instance(inst);
        self.row.set(Col::ProductFamily, "Compute Instance");
        self.set_tags(p.tags);
        let base = if p.windows {
            inst.rate + 0.046 * f64::from(inst.vcpu)
        } else {
            inst.rate
        };
        let od_rate = round_to(base * region.price, 6);
        let os = if p.windows { "Windows" } else { "Linux" };
        self.row.num(Col::NormalizationFactor, inst.norm);
        self.row.num(
            Col::NormalizedUsageAmount,
            round_to(p.amount * inst.norm, 8),
        );
        match line_type {
            "DiscountedUsage" => {
                self.set_sku("6QCMYABX3D");
                self.set_costs("Hrs", p.amount, 0.0);
                let od_cost = round_to(p.amount * od_rate, 10);
                let effective = round_to(od_cost * 0.62, 10);
                let upfront = round_to(effective * 0.5, 10);
                let row = &mut self.row;
                row.num(Col::PublicOnDemandRate, od_rate);
                row.num(Col::PublicOnDemandCost, od_cost);
                row.set(Col::Term, "Reserved");
                row.num(Col::RiEffectiveCost, effective);
                row.num(Col::RiAmortizedUpfrontCostForUsage, upfront);
                row.num(
                    Col::RiRecurringFeeForUsage,
                    round_to(effective - upfront, 10),
                );
                self.set_ri_window();
                self.row.fmt(
                    Col::Description,
                    format_args!(
                        "USD {} hourly fee per Linux/UNIX (Amazon VPC), {} instance",
                        round_to(od_rate * 0.31, 4),
                        inst.name
                    ),
                );
            }
            "SavingsPlanNegation" => {
                self.set_sku("JRTCKXETXF");
                let covered = round_to(p.amount * od_rate, 10);
                let row = &mut self.row;
                row.num(Col::UsageAmount, 0.0);
                row.num(Col::UnblendedRate, -od_rate);
                row.num(Col::UnblendedCost, -covered);
                row.num(Col::BlendedRate, -od_rate);
                row.num(Col::BlendedCost, -covered);
                row.num(Col::PublicOnDemandCost, 0.0);
                row.num(Col::PublicOnDemandRate, 0.0);
                row.set(Col::Unit, "Hrs");
                row.cost = -covered;
                let sku = std::mem::take(row.field(Col::Sku));
                row.fmt(
                    Col::Description,
                    format_args!(
                        "SavingsPlanNegation used by AccountId : {} and UsageSku : {}",
                        self.accounts[p.account], sku
                    ),
                );
                *row.field(Col::Sku) = sku;
                self.set_savings_plan_arn();
            }
            _ => {
                self.set_sku("JRTCKXETXF");
                let cost = self.set_costs("Hrs", p.amount, od_rate);
                self.row.set(Col::Term, "OnDemand");
                self.row.fmt(
                    Col::Description,
                    format_args!("${od_rate} per On Demand {os} {} Instance Hour", inst.name),
                );
                if line_type == "SavingsPlanCoveredUsage" {
                    let sp_rate = round_to(od_rate * 0.72, 6);
                    self.row.num(Col::SpRate, sp_rate);
                    self.row
                        .num(Col::SpEffectiveCost, round_to(cost * 0.72, 10));
                    self.set_savings_plan_arn();
                }
            }
        }
    }

    fn set_instance(&mut self, inst: &Instance) {
        let row = &mut self.row;
        row.set(Col::InstanceType, inst.name);
        row.fmt(Col::Vcpu, format_args!("{}", inst.vcpu));
        row.set(Col::Memory, inst.memory);
        row.set(Col::PhysicalProcessor, inst.processor);
    }

    fn set_savings_plan_arn(&mut self) {
        let h = hash_parts(&[&self.payer, "compute-sp"]);
        let payer = &self.payer;
        self.row.fmt(
            Col::SpArn,
            format_args!(
                "arn:aws:savingsplans::{payer}:savingsplan/{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                h >> 32,
                (h >> 16) & 0xffff,
                h & 0xfff,
                (h >> 40) & 0xfff,
                splitmix(h) & 0xffff_ffff_ffff
            ),
        );
    }

    /// Reservation term: three years around the billing month.
    fn set_ri_window(&mut self) {
        let (y, m) = (self.period.year, self.period.month);
        self.row.fmt(
            Col::RiStartTime,
            format_args!("{}-{m:02}-01T00:00:00.000Z", y - 1),
        );
        self.row.fmt(
            Col::RiEndTime,
            format_args!("{}-{m:02}-01T00:00:00.000Z", y + 2),
        );
    }

    // --- Storage ---------------------------------------------------------------------------

    /// GB-months of `size_gb` stored for one hour of this month.
    fn gb_month_hour(&self, size_gb: f64) -> f64 {
        round_to(size_gb / f64::from(self.period.hours), 10)
    }

    fn ebs_volume(&mut self) {
        let vol = pick_weighted(&mut self.rng, EBS_VOLUMES);
        let region = pick_region(&mut self.rng);
        let account = self.pick_account();
        let hour = self.hour();
        let size = *pick_weighted(&mut self.rng, VOLUME_SIZES_GB);
        let zone = char::from(b'a' + self.rng.u8(..3));
        let tags = self.pick_tags();
        self.begin("Usage", "AmazonEC2", account, Some(hour));
        self.scratch.clear();
        let _ = write!(self.scratch, "EBS:VolumeUsage.{}", vol.suffix);
        let ut = std::mem::take(&mut self.scratch);
        self.set_usage_type(region, true, &ut);
        self.scratch = ut;
        self.set_operation(vol.operation);
        self.set_zone(region, zone);
        self.set_region(region);
        self.row.set(Col::ProductFamily, "Storage");
        self.row.set(Col::VolumeType, vol.volume_type);
        self.row.set(Col::StorageMedia, vol.media);
        self.set_tags(tags);
        self.set_sku("JRTCKXETXF");
        let rate = round_to(vol.price * region.price, 6);
        self.set_costs("GB-Mo", self.gb_month_hour(size), rate);
        self.row.set(Col::Term, "OnDemand");
        self.row.fmt(
            Col::Description,
            format_args!(
                "${rate} per GB-month of {} ({}) provisioned storage - {}",
                vol.volume_type, vol.label, region.location
            ),
        );
    }

    fn ebs_snapshot(&mut self) {
        let region = pick_region(&mut self.rng);
        let account = self.pick_account();
        let hour = self.hour();
        let size = *pick_weighted(&mut self.rng, VOLUME_SIZES_GB) * (0.2 + self.rng.f64());
        let tags = self.pick_tags();
        self.begin("Usage", "AmazonEC2", account, Some(hour));
        self.set_usage_type(region, true, "EBS:SnapshotUsage");
        self.set_operation("CreateSnapshot");
        self.set_region(region);
        self.row.set(Col::ProductFamily, "Storage Snapshot");
        self.row.set(Col::StorageMedia, "Amazon S3");
        self.set_tags(tags);
        self.set_sku("JRTCKXETXF");
        let rate = round_to(0.05 * region.price, 6);
        self.set_costs("GB-Mo", self.gb_month_hour(size), rate);
        self.row.set(Col::Term, "OnDemand");
        self.row.fmt(
            Col::Description,
            format_args!(
                "${rate} per GB-Month of snapshot data stored - {}",
                region.location
            ),
        );
    }

    fn s3_storage(&mut self) {
        let (ut, op, class, volume_type, price) = *pick_weighted(&mut self.rng, S3_CLASSES);
        let region = pick_region(&mut self.rng);
        let account = self.pick_account();
        let hour = self.hour();
        let size = log_uniform(&mut self.rng, 0.001, 50_000.0);
        let tags = self.pick_tags();
        self.begin("Usage", "AmazonS3", account, Some(hour));
        self.set_usage_type(region, true, ut);
        self.set_operation(op);
        self.set_region(region);
        self.row.set(Col::ProductFamily, "Storage");
        self.row.set(Col::StorageClass, class);
        self.row.set(Col::VolumeType, volume_type);
        self.row.set(Col::Availability, "99.99%");
        self.row.set(Col::Durability, "99.999999999%");
        self.set_tags(tags);
        self.set_sku("JRTCKXETXF");
        let rate = round_to(price * region.price, 6);
        self.set_costs("GB-Mo", self.gb_month_hour(size), rate);
        self.row.set(Col::Term, "OnDemand");
        self.row.fmt(
            Col::Description,
            format_args!("${rate} per GB - first 50 TB / month of storage used"),
        );
    }

    fn s3_requests(&mut self) {
        let tier1 = self.rng.u32(..3) == 0;
        let region = pick_region(&mut self.rng);
        let account = self.pick_account();
        let hour = self.hour();
        let count = log_uniform(&mut self.rng, 1.0, 200_000.0).floor();
        let tags = self.pick_tags();
        self.begin("Usage", "AmazonS3", account, Some(hour));
        let (ut, op, group, group_desc, price) = if tier1 {
            (
                "Requests-Tier1",
                "PutObject",
                "S3-API-Tier1",
                "PUT/COPY/POST or LIST requests",
                0.000005,
            )
        } else {
            (
                "Requests-Tier2",
                "GetObject",
                "S3-API-Tier2",
                "GET and all other requests",
                0.0000004,
            )
        };
        self.set_usage_type(region, true, ut);
        self.set_operation(op);
        self.set_region(region);
        self.row.set(Col::ProductFamily, "API Request");
        self.row.set(Col::Group, group);
        self.row.set(Col::GroupDescription, group_desc);
        self.set_tags(tags);
        self.set_sku("JRTCKXETXF");
        let rate = round_to(price * region.price, 10);
        self.set_costs("Requests", count, rate);
        self.row.set(Col::Term, "OnDemand");
        self.row.fmt(
            Col::Description,
            format_args!("${} per 1,000 {group_desc}", round_to(rate * 1000.0, 6)),
        );
    }

    // --- RDS ---------------------------------------------------------------------------------

    fn rds_instance(&mut self) {
        let inst = pick_instance(&mut self.rng, RDS_TYPES);
        let region = pick_region(&mut self.rng);
        let account = self.pick_account();
        let hour = self.hour();
        let multi_az = self.rng.u32(..4) == 0;
        let postgres = self.rng.bool();
        let zone = char::from(b'a' + self.rng.u8(..3));
        let tags = self.pick_tags();
        self.begin("Usage", "AmazonRDS", account, Some(hour));
        self.scratch.clear();
        let deploy = if multi_az {
            "Multi-AZUsage"
        } else {
            "InstanceUsage"
        };
        let _ = write!(self.scratch, "{deploy}:{}", inst.name);
        let ut = std::mem::take(&mut self.scratch);
        self.set_usage_type(region, true, &ut);
        self.scratch = ut;
        let (op, engine) = if postgres {
            ("CreateDBInstance:0014", "PostgreSQL")
        } else {
            ("CreateDBInstance:0002", "MySQL")
        };
        self.set_operation(op);
        if !multi_az {
            self.set_zone(region, zone);
        }
        self.set_region(region);
        self.set_instance(inst);
        self.row.set(Col::ProductFamily, "Database Instance");
        self.set_tags(tags);
        self.set_sku("JRTCKXETXF");
        let factor = if multi_az { 2.0 } else { 1.0 };
        let rate = round_to(inst.rate * factor * region.price, 6);
        self.set_costs("Hrs", 1.0, rate);
        self.row.set(Col::Term, "OnDemand");
        let az = if multi_az { "Multi-AZ" } else { "Single-AZ" };
        self.row.fmt(
            Col::Description,
            format_args!(
                "${rate} per RDS {} {az} instance hour (or partial hour) running {engine}",
                inst.name
            ),
        );
    }

    fn rds_storage(&mut self) {
        // (usage type, volume type, product family, USD per GB-month), weight
        #[rustfmt::skip]
        const ITEMS: &[(RdsStorage, u32)] = &[
            (("RDS:GP2-Storage", "General Purpose", "Database Storage", 0.115), 4),
            (("RDS:GP3-Storage", "General Purpose-GP3", "Database Storage", 0.115), 3),
            (("RDS:StorageUsage", "Magnetic", "Database Storage", 0.10), 1),
            (("RDS:ChargedBackupUsage", "", "Storage Snapshot", 0.095), 2),
        ];
        let (ut, volume_type, family, price) = *pick_weighted(&mut self.rng, ITEMS);
        let region = pick_region(&mut self.rng);
        let account = self.pick_account();
        let hour = self.hour();
        let size = *pick_weighted(&mut self.rng, VOLUME_SIZES_GB);
        let tags = self.pick_tags();
        self.begin("Usage", "AmazonRDS", account, Some(hour));
        self.set_usage_type(region, true, ut);
        self.set_operation("CreateDBInstance:0014");
        self.set_region(region);
        self.row.set(Col::ProductFamily, family);
        self.row.set(Col::VolumeType, volume_type);
        self.set_tags(tags);
        self.set_sku("JRTCKXETXF");
        let rate = round_to(price * region.price, 6);
        self.set_costs("GB-Mo", self.gb_month_hour(size), rate);
        self.row.set(Col::Term, "OnDemand");
        self.row.fmt(
            Col::Description,
            format_args!("${rate} per GB-month of {ut} - {}", region.location),
        );
    }

    // --- Data transfer -----------------------------------------------------------------------

    fn data_transfer(&mut self) {
        let from = pick_region(&mut self.rng);
        let mut to = pick_region(&mut self.rng);
        if to.code == from.code {
            to = &REGIONS[(REGIONS
                .iter()
                .position(|r| r.code == from.code)
                .unwrap_or(0)
                + 1)
                % REGIONS.len()];
        }
        let product = *pick_weighted(
            &mut self.rng,
            &[("AmazonEC2", 5), ("AmazonS3", 2), ("AWSDataTransfer", 3)],
        );
        let variant = self.rng.u32(..100);
        let account = self.pick_account();
        let hour = self.hour();
        let gb = round_to(log_uniform(&mut self.rng, 0.000001, 500.0), 10);
        let tags = self.pick_tags();
        self.begin("Usage", product, account, Some(hour));
        let op = match product {
            "AmazonS3" => "GetObject",
            _ => "RunInstances",
        };
        self.row.set(Col::ProductFamily, "Data Transfer");
        self.row.set(Col::ServiceCode, "AWSDataTransfer");
        self.row
            .set(Col::ServiceName, product_name("AWSDataTransfer"));
        self.set_tags(tags);
        let (rate, region) = if variant < 40 {
            // Inter-region, outbound side.
            self.scratch.clear();
            let _ = write!(self.scratch, "{}-{}-AWS-Out-Bytes", from.prefix, to.prefix);
            self.fill_transfer(from, Some(to), "InterRegion Outbound", op);
            (round_to(0.02 * from.price.min(1.2), 6), from)
        } else if variant < 55 {
            // Inter-region, inbound side (free).
            self.scratch.clear();
            let _ = write!(self.scratch, "{}-{}-AWS-In-Bytes", to.prefix, from.prefix);
            self.fill_transfer(from, Some(to), "InterRegion Inbound", op);
            (0.0, to)
        } else if variant < 85 {
            self.scratch.clear();
            if from.code != "us-east-1" {
                let _ = write!(self.scratch, "{}-", from.prefix);
            }
            self.scratch.push_str("DataTransfer-Out-Bytes");
            self.fill_transfer(from, None, "AWS Outbound", op);
            (round_to(0.09 * from.price, 6), from)
        } else {
            self.scratch.clear();
            if from.code != "us-east-1" {
                let _ = write!(self.scratch, "{}-", from.prefix);
            }
            self.scratch.push_str("DataTransfer-Regional-Bytes");
            self.fill_transfer(from, Some(from), "IntraRegion", "InterZone-Out");
            (0.01, from)
        };
        self.row.set(Col::Region, region.code);
        self.set_sku("JRTCKXETXF");
        self.set_costs("GB", gb, rate);
        self.row.set(Col::Term, "OnDemand");
        let to_name = self.row.get(Col::ToLocation).to_owned();
        self.row.fmt(
            Col::Description,
            format_args!(
                "${rate} per GB - {} data transfer to {to_name}",
                from.location
            ),
        );
    }

    /// Usage type is in `self.scratch`.
    fn fill_transfer(&mut self, from: &Region, to: Option<&Region>, kind: &str, op: &str) {
        let ut = std::mem::take(&mut self.scratch);
        self.row.set(Col::UsageType, &ut);
        self.row.copy(Col::UsageType, Col::ProductUsageType);
        self.scratch = ut;
        self.set_operation(op);
        let row = &mut self.row;
        row.set(Col::FromLocation, from.location);
        row.set(Col::FromLocationType, "AWS Region");
        row.set(Col::FromRegionCode, from.code);
        match to {
            Some(to) => {
                row.set(Col::ToLocation, to.location);
                row.set(Col::ToLocationType, "AWS Region");
                row.set(Col::ToRegionCode, to.code);
            }
            None => {
                row.set(Col::ToLocation, "External");
                row.set(Col::ToLocationType, "Other");
            }
        }
        row.set(Col::TransferType, kind);
    }

    // --- Serverless and other services -------------------------------------------------------

    fn lambda(&mut self) {
        // (usage-type suffix, unit, USD per unit, product group, amount range), weight
        #[rustfmt::skip]
        const ITEMS: &[(LambdaUsage, u32)] = &[
            (("Lambda-GB-Second", "Lambda-GB-Second", 0.0000166667, "AWS-Lambda-Duration",
                1.0, 400_000.0), 4),
            (("Request", "Requests", 0.0000002, "AWS-Lambda-Requests", 1.0, 2_000_000.0), 3),
            (("Lambda-GB-Second-ARM", "Lambda-GB-Second", 0.0000133334,
                "AWS-Lambda-Duration-ARM", 1.0, 400_000.0), 2),
            (("Request-ARM", "Requests", 0.0000002, "AWS-Lambda-Requests-ARM", 1.0,
                2_000_000.0), 1),
        ];
        let (suffix, unit, price, group, lo, hi) = *pick_weighted(&mut self.rng, ITEMS);
        let region = pick_region(&mut self.rng);
        let account = self.pick_account();
        let hour = self.hour();
        let raw = log_uniform(&mut self.rng, lo, hi);
        let amount = if unit == "Requests" {
            raw.floor()
        } else {
            round_to(raw, 3)
        };
        let tags = self.pick_tags();
        self.begin("Usage", "AWSLambda", account, Some(hour));
        self.set_usage_type(region, false, suffix);
        self.set_operation("Invoke");
        self.set_region(region);
        self.row.set(Col::ProductFamily, "Serverless");
        self.row.set(Col::Group, group);
        self.set_tags(tags);
        self.set_sku("JRTCKXETXF");
        let rate = round_to(price * region.price, 10);
        self.set_costs(unit, amount, rate);
        self.row.set(Col::Term, "OnDemand");
        self.row.fmt(
            Col::Description,
            format_args!("AWS Lambda - Total {suffix} - {}", region.location),
        );
    }

    fn simple_hourly(&mut self, service: SimpleService) {
        let item = pick_weighted_by(&mut self.rng, service.items, |u| u.weight);
        let (suffix, op, unit, price) = (item.suffix, item.operation, item.unit, item.price);
        let (lo, hi) = (item.lo, item.hi);
        let region = pick_region(&mut self.rng);
        let account = self.pick_account();
        let hour = self.hour();
        let amount = if lo == hi {
            lo
        } else {
            round_to(log_uniform(&mut self.rng, lo, hi), 8)
        };
        let tags = self.pick_tags();
        self.begin("Usage", service.code, account, Some(hour));
        self.set_usage_type(region, false, suffix);
        self.set_operation(op);
        self.set_region(region);
        self.row.set(Col::ProductFamily, service.family);
        self.set_tags(tags);
        self.set_sku("JRTCKXETXF");
        let rate = round_to(price * region.price, 6);
        self.set_costs(unit, amount, rate);
        self.row.set(Col::Term, "OnDemand");
        self.row.fmt(
            Col::Description,
            format_args!("${rate} per {unit} for {suffix} in {}", region.location),
        );
    }

    fn dynamodb(&mut self) {
        let variant = self.rng.u32(..3);
        let region = pick_region(&mut self.rng);
        let account = self.pick_account();
        let hour = self.hour();
        let tags = self.pick_tags();
        let (suffix, op, unit, family, price, amount) = match variant {
            0 => {
                let gb = log_uniform(&mut self.rng, 0.01, 2_000.0);
                (
                    "TimedStorage-ByteHrs",
                    "StandardStorage",
                    "GB-Mo",
                    "Database Storage",
                    0.25,
                    self.gb_month_hour(gb),
                )
            }
            1 => (
                "ReadCapacityUnit-Hrs",
                "CommittedThroughput",
                "ReadCapacityUnit-Hrs",
                "Provisioned IOPS",
                0.00013,
                f64::from(self.rng.u32(5..5000)),
            ),
            _ => (
                "WriteCapacityUnit-Hrs",
                "CommittedThroughput",
                "WriteCapacityUnit-Hrs",
                "Provisioned IOPS",
                0.00065,
                f64::from(self.rng.u32(5..2000)),
            ),
        };
        self.begin("Usage", "AmazonDynamoDB", account, Some(hour));
        self.set_usage_type(region, false, suffix);
        self.set_operation(op);
        self.set_region(region);
        self.row.set(Col::ProductFamily, family);
        self.set_tags(tags);
        self.set_sku("JRTCKXETXF");
        let rate = round_to(price * region.price, 8);
        self.set_costs(unit, amount, rate);
        self.row.set(Col::Term, "OnDemand");
        self.row.fmt(
            Col::Description,
            format_args!("${rate} per {unit} for {suffix} in {}", region.location),
        );
    }

    /// Route 53: a global service (no region) with units the CCF method does not know.
    fn route53(&mut self) {
        let zone = self.rng.u32(..4) == 0;
        let account = self.pick_account();
        let hour = self.hour();
        let queries = log_uniform(&mut self.rng, 1.0, 5_000_000.0).floor();
        let tags = self.pick_tags();
        self.begin(
            "Usage",
            "AmazonRoute53",
            account,
            if zone { None } else { Some(hour) },
        );
        self.row.set(Col::Location, "Global");
        self.row.set(Col::LocationType, "AWS Region");
        self.set_tags(tags);
        if zone {
            self.row.set(Col::UsageType, "HostedZone");
            self.row.set(Col::ProductUsageType, "HostedZone");
            self.set_operation("");
            self.row.set(Col::ProductFamily, "DNS Zone");
            self.set_sku("JRTCKXETXF");
            self.set_costs("HostedZone", 1.0, 0.5);
            self.row.set(
                Col::Description,
                "$0.50 per Hosted Zone for the first 25 Hosted Zones",
            );
        } else {
            self.row.set(Col::UsageType, "DNS-Queries");
            self.row.set(Col::ProductUsageType, "DNS-Queries");
            self.set_operation("Query");
            self.row.set(Col::ProductFamily, "DNS Query");
            self.set_sku("JRTCKXETXF");
            self.set_costs("Queries", queries, 0.0000004);
            self.row.set(
                Col::Description,
                "$0.40 per 1,000,000 queries for the first 1 Billion",
            );
        }
        self.row.set(Col::Term, "OnDemand");
    }

    // --- Commitments, fees, credits, taxes ---------------------------------------------------

    fn savings_plan_fee(&mut self) {
        let hour = self.hour();
        let commitment = round_to(2.0 + 0.5 * self.accounts.len() as f64, 3);
        let used = round_to(commitment * (0.8 + 0.2 * self.rng.f64()), 10);
        self.begin(
            "SavingsPlanRecurringFee",
            "ComputeSavingsPlans",
            0,
            Some(hour),
        );
        self.row.set(Col::UsageType, "ComputeSP:1yrNoUpfront");
        self.row
            .set(Col::ProductUsageType, "ComputeSP:1yrNoUpfront");
        self.row.set(Col::ProductFamily, "Savings Plan");
        self.set_sku("JRTCKXETXF");
        self.set_costs("Hrs", 1.0, commitment);
        self.row.set(Col::PublicOnDemandCost, "");
        self.row.set(Col::PublicOnDemandRate, "");
        self.row
            .set(Col::Description, "1 year No Upfront Compute Savings Plan");
        self.row.num(Col::SpTotalCommitmentToDate, commitment);
        self.row.num(Col::SpUsedCommitment, used);
        self.row.num(Col::SpAmortizedUpfrontCommitment, 0.0);
        self.row.num(
            Col::SpRecurringCommitment,
            round_to(commitment * f64::from(self.period.hours), 6),
        );
        self.set_savings_plan_arn();
    }

    fn ri_fee(&mut self) {
        let inst = pick_instance(&mut self.rng, EC2_TYPES);
        let region = pick_region(&mut self.rng);
        let account = self.pick_account();
        let count = self.rng.u32(1..4);
        let unused_share = if self.rng.u32(..3) == 0 {
            self.rng.f64() * 0.2
        } else {
            0.0
        };
        self.begin("RIFee", "AmazonEC2", account, None);
        self.scratch.clear();
        let _ = write!(self.scratch, "HeavyUsage:{}", inst.name);
        let ut = std::mem::take(&mut self.scratch);
        self.set_usage_type(region, true, &ut);
        self.scratch = ut;
        self.set_operation("RunInstances");
        self.set_region(region);
        self.set_instance(inst);
        self.row.set(Col::ProductFamily, "Compute Instance");
        self.set_sku("6QCMYABX3D");
        let hours = f64::from(self.period.hours);
        let total_units = hours * f64::from(count);
        let rate = round_to(inst.rate * region.price * 0.31, 6);
        let cost = self.set_costs("Hrs", total_units, rate);
        self.row.set(Col::PublicOnDemandCost, "");
        self.row.set(Col::PublicOnDemandRate, "");
        self.row.set(Col::Term, "Reserved");
        let unused = round_to(total_units * unused_share, 6);
        let upfront_month = round_to(cost, 6);
        let row = &mut self.row;
        row.fmt(Col::RiNumberOfReservations, format_args!("{count}"));
        row.num(Col::RiUnitsPerReservation, hours);
        row.num(Col::RiTotalReservedUnits, total_units);
        row.num(Col::RiNormalizedUnitsPerReservation, hours * inst.norm);
        row.num(Col::RiTotalReservedNormalizedUnits, total_units * inst.norm);
        row.num(Col::RiUnusedQuantity, unused);
        row.num(
            Col::RiUnusedNormalizedUnitQuantity,
            round_to(unused * inst.norm, 6),
        );
        row.num(Col::RiUnusedRecurringFee, round_to(unused * rate, 6));
        row.num(Col::RiAmortizedUpfrontFeeForPeriod, upfront_month);
        row.num(
            Col::RiUnusedAmortizedUpfrontFee,
            round_to(upfront_month * unused_share, 6),
        );
        row.num(Col::RiUpfrontValue, round_to(upfront_month * 12.0 * 3.0, 2));
        row.set(Col::RiModificationStatus, "Original");
        self.set_ri_window();
        self.row.fmt(
            Col::Description,
            format_args!(
                "USD {rate} hourly fee per Linux/UNIX (Amazon VPC), {} instance",
                inst.name
            ),
        );
    }

    fn fee(&mut self) {
        let support = self.rng.bool();
        let account = self.pick_account();
        if support {
            // Business support: 10 % of the month's spend (USD), minimum 100 USD.
            let spend = round_to(log_uniform(&mut self.rng, 1_000.0, 1_500.0), 2);
            self.begin("Fee", "AWSSupportBusiness", 0, None);
            self.row.set(Col::UsageType, "Dollar");
            self.row.set(Col::ProductUsageType, "Dollar");
            self.row.set(Col::ProductFamily, "AWS Support");
            self.set_sku("JRTCKXETXF");
            self.set_costs("Dollar", spend, 0.1);
            self.row.set(Col::Description, "AWS Support (Business)");
        } else {
            // Upfront fee of a partial-upfront, one-year reservation of a small instance type.
            let mut inst = &EC2_TYPES[0];
            for _ in 0..8 {
                let candidate = pick_instance(&mut self.rng, EC2_TYPES);
                if candidate.rate < 0.2 {
                    inst = candidate;
                    break;
                }
            }
            let region = pick_region(&mut self.rng);
            self.begin("Fee", "AmazonEC2", account, None);
            self.row.set(Col::BillType, "Purchase");
            self.scratch.clear();
            let _ = write!(self.scratch, "HeavyUsage:{}", inst.name);
            let ut = std::mem::take(&mut self.scratch);
            self.set_usage_type(region, true, &ut);
            self.scratch = ut;
            self.set_operation("RunInstances");
            self.set_region(region);
            self.set_instance(inst);
            self.row.set(Col::ProductFamily, "Compute Instance");
            self.set_sku("6QCMYABX3D");
            let upfront = round_to(inst.rate * region.price * 0.31 * 8760.0, 2);
            self.set_costs("", 1.0, upfront);
            self.row.set(Col::PublicOnDemandCost, "");
            self.row.set(Col::PublicOnDemandRate, "");
            self.row.set(Col::Term, "Reserved");
            let sub = self.row.get(Col::RiSubscriptionId).to_owned();
            self.row.fmt(
                Col::Description,
                format_args!(
                    "Sign up charge for subscription: {sub}, planId: {}",
                    2_000_000 + self.rng.u32(..1_000_000)
                ),
            );
        }
    }

    fn credit(&mut self) {
        let product = *pick(&mut self.rng, BILLED_SERVICES);
        let account = self.pick_account();
        let amount = round_to(log_uniform(&mut self.rng, 1.0, 60.0), 10);
        self.begin("Credit", product, account, None);
        self.set_costs("", 0.0, 0.0);
        self.row.num(Col::UnblendedCost, -amount);
        self.row.num(Col::BlendedCost, -amount);
        self.row.set(Col::UnblendedRate, "");
        self.row.set(Col::BlendedRate, "");
        self.row.set(Col::PublicOnDemandCost, "");
        self.row.set(Col::PublicOnDemandRate, "");
        self.row.set(Col::PricingCurrency, "");
        self.row.set(Col::Unit, "");
        self.row.cost = -amount;
        self.row.set(Col::Description, "AWS Promotional Credit");
    }

    fn tax(&mut self) {
        let product = *pick(&mut self.rng, BILLED_SERVICES);
        let account = self.pick_account();
        let tax = round_to(log_uniform(&mut self.rng, 0.05, 40.0), 10);
        self.begin("Tax", product, account, None);
        self.set_costs("", 1.0, tax);
        self.row.set(Col::UnblendedRate, "");
        self.row.set(Col::BlendedRate, "");
        self.row.num(Col::PublicOnDemandCost, 0.0);
        self.row.set(Col::PublicOnDemandRate, "");
        self.row.set(Col::PricingCurrency, "");
        self.row.set(Col::TaxType, "Sales Tax");
        self.row.fmt(
            Col::Description,
            format_args!("Tax for product code {product}"),
        );
    }
}

fn count(map: &mut BTreeMap<String, u64>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n += 1;
    } else {
        map.insert(key.to_owned(), 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_the_sample_plus_six_columns() {
        assert_eq!(HEADER.len(), 100);
        let mut seen = std::collections::HashSet::new();
        for h in HEADER {
            assert!(seen.insert(*h), "duplicate column {h}");
        }
    }

    #[test]
    fn timestamps_roll_over_the_month_and_year() {
        let p = Period {
            year: 2026,
            month: 12,
            hours: 31 * 24,
        };
        let mut s = String::new();
        p.push_ts(&mut s, 0, true);
        s.push(' ');
        p.push_ts(&mut s, 31 * 24 - 1, false);
        s.push(' ');
        p.push_ts(&mut s, 31 * 24, false);
        assert_eq!(
            s,
            "2026-12-01T00:00:00.000Z 2026-12-31T23:00:00Z 2027-01-01T00:00:00Z"
        );
        assert_eq!(days_in_month(2028, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
    }

    #[test]
    fn numbers_read_back_exactly() {
        for v in [1.0, 0.1 + 0.2, 6.71e-8, -12.5, 123_456.789_012_3] {
            let mut s = String::new();
            push_num(&mut s, v);
            assert_eq!(s.parse::<f64>().ok(), Some(v), "{s}");
        }
        let mut s = String::new();
        push_num(&mut s, 2.0);
        assert_eq!(s, "2.0");
    }
}
