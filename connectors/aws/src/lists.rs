//! CCF's AWS usage-type and unit lists (`packages/aws/src/lib/CostAndUsageTypes.ts`, app
//! snapshot b7a049c7, 2024-03), copied as data. How each list is matched is part of the method
//! and is said at each list; see `classify` for the order they are applied in.

/// Line item types that carry physical usage; every other type is excluded.
pub const LINE_ITEM_TYPES: [&str; 3] = ["Usage", "DiscountedUsage", "SavingsPlanCoveredUsage"];

/// Split cost allocation operations (CUDOS `summary_view.sql`): they re-express EC2 instance
/// usage already billed on the instance's own line.
pub const SPLIT_COST_OPERATIONS: [&str; 2] = ["EKSPod-EC2", "ECSTask-EC2"];

/// Dropped usage types. Matched by `endsWith` OR `includes`.
pub const UNSUPPORTED_USAGE_TYPES: [&str; 6] = [
    "EMR-EKS-EC2-GBHours",
    "APS3-EMR-EKS-EC2-vCPUHours",
    "ECS-EC2-GB-Hours",
    "ECS-EC2-vCPU-Hours",
    "Dollar",
    "HostBoxUsage",
];

/// Usage types CCF cannot map to a quantity: estimated by ratio. Matched by `endsWith` OR
/// `includes`.
pub const UNKNOWN_USAGE_TYPES: [&str; 45] = [
    "AmazonEKS-Hours:perCluster",
    "SoftwareUsage",
    "BundleUsage",
    "Small-Directory-Usage",
    "Std-MicrosoftAD-DC-Usage",
    "InactivePipelines",
    "Lambda-Provisioned",
    "ets-hd-success",
    "ets-sd-success",
    "BuildDuration",
    "Build-Min",
    "AW-HW-User-Usage",
    "TransitGateway-Hours",
    "VpcEndpoint-Hours",
    "VPN-Usage-Hours",
    "NatGateway-Hours",
    "NatGateway-Bytes",
    "LoadBalancerUsage",
    "IdleAddress",
    "UnusedStaticIP",
    "AdditionalAddress",
    "ResolverNetworkInterface",
    "DataScanned",
    "FastSnapshotRestore",
    "GMD-Metrics",
    "Dollar",
    "Airflow-SmallEnvironment",
    "MemoryStore-ByteHrs",
    "Output-SD-Hours",
    "Output-HD-Hours",
    "Output-FullHD-Hours",
    "Input-Standard-Hours",
    "Airflow-SmallWorker",
    "AppRunner-Provisioned-GB-hours",
    "ApiGatewayCacheUsage",
    "PortUsage",
    "SharedMsftAD-Usage",
    "Kafka.mcu.general",
    "SnapshotArchiveStorage",
    "PaidPrivateCA",
    "Firehose-VpcDelivery-Hours",
    "Airflow-MediumEnvironment",
    "IPAddressManager-IP-Hours",
    "Gateway:VTL-Storage",
    "Aurora:ServerlessV2Usage",
];

/// Pricing units billed per instance-hour (or vCPU-, DPU-, ACU-hour): compute.
pub const COMPUTE_UNITS: [&str; 6] = ["Hrs", "Hours", "hours", "vCPU-Hours", "DPU-Hour", "ACU-Hr"];

/// Pricing units of stored data: storage. `GB-Hours` is per hour, the rest per month.
pub const STORAGE_UNITS: [&str; 5] = ["GB-Mo", "GB-Month", "GB-Mp", "GB-month", "GB-Hours"];

/// Pricing units of Lambda: seconds of execution (or GB-seconds), 1 vCPU assumed.
pub const LAMBDA_UNITS: [&str; 3] = ["seconds", "Second", "Lambda-GB-Second"];

/// Pricing units of transferred data: networking.
pub const NETWORK_UNITS: [&str; 2] = ["GB", "GigaBytes"];

/// Services whose storage CCF assumes is SSD (unless the usage type says `Backup`). Matched
/// against the product code with `endsWith`.
pub const SSD_SERVICES: [&str; 14] = [
    "AmazonDocDB",
    "AmazonDynamoDB",
    "AmazonEFS",
    "AmazonES",
    "AmazonSimpleDB",
    "AmazonSageMaker",
    "AWSIoTAnalytics",
    "AmazonKinesisAnalytics",
    "AmazonMQ",
    "AmazonECS",
    "AmazonLightsail",
    "AmazonNeptune",
    "AmazonFSx",
    "AmazonKinesis",
];

/// SSD storage usage types. Matched with `endsWith`.
pub const SSD_USAGE_TYPES: [&str; 24] = [
    "VolumeUsage.gp2",
    "VolumeUsage.io2",
    "VolumeUsage.io1",
    "VolumeUsage.gp3",
    "VolumeUsage.piops",
    "GP2-Storage",
    "PIOPS-Storage",
    "Aurora:StorageUsage",
    "Kafka.Storage.GP2",
    "ES:Magnetic-Storage",
    "TimedPITRStorage-ByteHrs",
    "ECS-EC2-GB-Hours",
    "Lambda-GB-Second",
    "Lambda-Edge-GB-Second",
    "RDS:Multi-AZ-StorageUsage",
    "Fargate-GB-Hours",
    "dc2.large",
    "dc2.8xlarge",
    "ra3.xlplus",
    "ra3.4xlarge",
    "ra3.16xlarge",
    "Storage.SSD.50",
    "Storage.MultiAZ:SSD",
    "RDS:GP3-Storage",
];

/// HDD storage usage types. Matched with `endsWith`, after the SSD tests.
pub const HDD_USAGE_TYPES: [&str; 53] = [
    "VolumeUsage.st1",
    "VolumeUsage.sc1",
    "VolumeUsage",
    "SnapshotUsage",
    "TimedStorage-ByteHrs",
    "RDS:StorageUsage",
    "GlacierByteHrs",
    "Aurora:BackupUsage",
    "RDS:ChargedBackupUsage",
    "TimedStorage-RRS-ByteHrs",
    "ElastiCache:BackupUsage",
    "BackupUsage",
    "Redshift:PaidSnapshots",
    "TimedStorage-SIA-ByteHrs",
    "EarlyDelete-SIA",
    "TimedStorage-GlacierStaging",
    "TimedStorage-SIA-SmObjects",
    "TimedStorage-GDA-ByteHrs",
    "TimedStorage-GDA-Staging",
    "TimedStorage-ZIA-ByteHrs",
    "TimedStorage-INT-FA-ByteHrs",
    "EarlyDelete-GDA",
    "ProcessedStorage-ByteHrs",
    "EarlyDelete-ZIA",
    "EarlyDelete-ByteHrs",
    "TimedStorage-ZIA-SmObjects",
    "TimedStorage-INT-IA-ByteHrs",
    "EarlyDelete-SIA-SmObjects",
    "EarlyDelete-ZIA-SmObjects",
    "QS-Enterprise-SPICE",
    "TimedBackupStorage-ByteHrs",
    "DurableApplicationBackups",
    "dc1.large",
    "dc1.8xlarge",
    "ds2.xlarge",
    "ds2.8xlarge",
    "EU-TimedStorage-GDA-Staging",
    "BytesDeleted-STANDARD",
    "BytesDeleted-SIA",
    "BytesDeleted-INT",
    "BytesDeleted-GDA",
    "OverwriteBytes-Put-GLACIER",
    "OverwriteBytes-Put-RRS",
    "BackupUsage.MultiAZ",
    "ColdStorage-ByteHrs-EFS",
    "WarmStorage-ByteHrs-EFS",
    "WarmStorage-ByteHrs-DynamoDB",
    "MagneticStore-ByteHrs",
    "ColdStorage-ByteHrs-DynamoDB",
    "WarmStorage-ByteHrs-S3",
    "AMP:MetricStorageByteHrs",
    "TimedStorage-INT-AIA-ByteHrs",
    "TimedStorage-GIR-ByteHrs",
];

/// Usage types whose GB-month amount CCF divides by 2^40 as if it were byte-hours. Matched
/// with `endsWith`.
pub const BYTE_HOURS_USAGE_TYPES: [&str; 8] = [
    "ByteHrs",
    "SmObjects",
    "EarlyDelete-GDA",
    "EarlyDelete-SIA",
    "EarlyDelete-ZIA",
    "GlacierByteHrs",
    "ByteHrs-EFS",
    "ByteHrs-DynamoDB",
];

/// Transfer usage types counted as networking (between data centres). Matched with `endsWith`.
pub const NETWORKING_USAGE_TYPES: [&str; 14] = [
    "AWS-Out-Bytes",
    "DataTransfer-Out-Bytes",
    "DataTransfer-Regional-Bytes",
    "TotalDataXfer-Out-Bytes",
    "Egress-Bytes",
    "UploadBytes",
    "UPLOAD",
    "ExportDataSize-Bytes",
    "DOWNLOAD",
    "Data-Bytes-Out",
    "VpcEndpoint-Bytes",
    "TransitGateway-Bytes",
    "Retrieval",
    "BilledBytes",
];

/// CCF's `containsAny` patterns for usage types billed directly in vCPU-hours.
pub const VCPU_HOUR_USAGE_TYPES: [&str; 2] = ["Fargate-vCPU-Hours", "CPUCredits"];

/// Every list above by a stable name, in its order, for `carbonledger factors export`: the
/// SQL form of the method (`carbonledger sql`) joins them as one table instead of repeating
/// them, and matches each as said at the list.
pub fn classification_lists() -> [(&'static str, &'static [&'static str]); 13] {
    [
        ("line_item_types", &LINE_ITEM_TYPES),
        ("split_cost_operations", &SPLIT_COST_OPERATIONS),
        ("unsupported_usage_types", &UNSUPPORTED_USAGE_TYPES),
        ("unknown_usage_types", &UNKNOWN_USAGE_TYPES),
        ("compute_units", &COMPUTE_UNITS),
        ("storage_units", &STORAGE_UNITS),
        ("lambda_units", &LAMBDA_UNITS),
        ("network_units", &NETWORK_UNITS),
        ("ssd_services", &SSD_SERVICES),
        ("ssd_usage_types", &SSD_USAGE_TYPES),
        ("hdd_usage_types", &HDD_USAGE_TYPES),
        ("byte_hours_usage_types", &BYTE_HOURS_USAGE_TYPES),
        ("networking_usage_types", &NETWORKING_USAGE_TYPES),
    ]
}

/// `VCPU_HOUR_USAGE_TYPES`, matched as `\bpattern\b` (CCF's `containsAny`).
pub fn vcpu_hour_usage_types() -> &'static [&'static str] {
    &VCPU_HOUR_USAGE_TYPES
}

/// `endsWithAny(list, s)`.
pub fn ends_with_any(list: &[&str], s: &str) -> bool {
    list.iter().any(|x| s.ends_with(x))
}

/// The first entry that `s` ends with or includes (CCF's unsupported/unknown test).
pub fn ends_with_or_includes<'a>(list: &[&'a str], s: &str) -> Option<&'a str> {
    list.iter()
        .copied()
        .find(|x| s.ends_with(x) || s.contains(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_is_by_suffix_or_substring_as_in_ccf() {
        assert!(ends_with_any(
            &HDD_USAGE_TYPES,
            "USW2-TimedStorage-GlacierByteHrs"
        ));
        assert!(!ends_with_any(
            &NETWORKING_USAGE_TYPES,
            "CAN1-USE1-AWS-In-Bytes"
        ));
        assert_eq!(
            ends_with_or_includes(&UNKNOWN_USAGE_TYPES, "USE1-NatGateway-Hours"),
            Some("NatGateway-Hours")
        );
        assert_eq!(
            ends_with_or_includes(&UNSUPPORTED_USAGE_TYPES, "USE1-HostBoxUsage:m5.large"),
            Some("HostBoxUsage")
        );
        assert_eq!(
            ends_with_or_includes(&UNKNOWN_USAGE_TYPES, "USE1-BoxUsage:m5.large"),
            None
        );
    }
}
