//! What the S3 and Cost Explorer sources share: loading the SDK configuration from the
//! standard AWS chain, retries with backoff, counting the requests sent, and turning SDK
//! failures into one clear [`SourceError::Api`] per request.
//!
//! Credentials are never read, logged or formatted here: the SDK resolves them itself, and
//! errors carry only the AWS error code and message, which never contain a secret.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::{BoxError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use carbonledger_usage::SourceError;

/// How to reach AWS (or an S3- and Cost-Explorer-compatible endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// An endpoint replacing AWS's own (`http://127.0.0.1:5000` for moto, a MinIO URL).
    pub endpoint_url: Option<String>,
    /// The region for S3 requests; `None` takes it from the chain (`AWS_REGION`, the
    /// profile), else `us-east-1`. Cost Explorer always uses `us-east-1`, its only endpoint.
    pub region: Option<String>,
    /// Attempts per request, the first included (throttling and 5xx are retried).
    pub max_attempts: u32,
    /// The first backoff; later ones grow exponentially (with jitter) up to 20 s.
    pub initial_backoff: Duration,
    /// How long a request may wait for the connection and for the first byte of the answer,
    /// and a download for its next bytes (an attempt as a whole gets four times this). A
    /// stalled server is then a timeout that is retried like a 5xx, never a run that hangs.
    pub timeout: Duration,
}

impl Default for Connection {
    fn default() -> Self {
        Connection {
            endpoint_url: None,
            region: None,
            max_attempts: 8,
            initial_backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(60),
        }
    }
}

/// Cost Explorer's one endpoint region.
pub const COST_EXPLORER_REGION: &str = "us-east-1";

impl Connection {
    /// The SDK configuration: credentials and region from the standard chain, retries,
    /// timeouts and the endpoint from `self`.
    pub async fn load(&self, region: Option<&str>) -> aws_config::SdkConfig {
        let retry = RetryConfig::standard()
            .with_max_attempts(self.max_attempts.max(1))
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(Duration::from_secs(20));
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.timeout)
            .read_timeout(self.timeout)
            .operation_attempt_timeout(self.timeout * 4)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry)
            .timeout_config(timeouts);
        if let Some(region) = region.map(str::to_owned).or_else(|| self.region.clone()) {
            loader = loader.region(Region::new(region));
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        if config.region().is_none() {
            // No region anywhere in the chain: S3 still needs one to sign with.
            return config
                .into_builder()
                .region(Region::new(COST_EXPLORER_REGION))
                .build();
        }
        config
    }
}

/// Counts the attempts (requests on the wire, retries included) of the clients it is
/// installed in.
#[derive(Debug, Default, Clone)]
pub struct RequestCounter {
    attempts: Arc<AtomicU64>,
}

impl RequestCounter {
    /// Requests sent so far, retries included.
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "carbonledger-request-counter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// AWS error codes that mean the credentials were missing, wrong, expired or not allowed.
const AUTH_CODES: [&str; 14] = [
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "ExpiredTokenException",
    "TokenRefreshRequired",
    "AccessDenied",
    "AccessDeniedException",
    "AuthFailure",
    "AllAccessDisabled",
];

/// Error codes of throttling that outlasted the retries.
const THROTTLING_CODES: [&str; 6] = [
    "LimitExceededException",
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "SlowDown",
    "RequestLimitExceeded",
];

/// The standard chain, as tried, for messages about credentials. Names environment
/// variables and files, never their values.
pub fn chain_description() -> String {
    let set = |name: &str| {
        if std::env::var_os(name).is_some() {
            "set"
        } else {
            "not set"
        }
    };
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".to_owned());
    format!(
        "credentials come from the standard AWS chain, tried in this order: environment \
         (AWS_ACCESS_KEY_ID {}), profile `{profile}` in ~/.aws/config and ~/.aws/credentials \
         (static keys, SSO, credential_process, assume-role), web identity token \
         (AWS_WEB_IDENTITY_TOKEN_FILE {}), ECS container credentials, EC2 instance metadata",
        set("AWS_ACCESS_KEY_ID"),
        set("AWS_WEB_IDENTITY_TOKEN_FILE"),
    )
}

/// What kind of failure an SDK error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No credentials, or credentials AWS refused.
    Auth,
    /// Throttled on every attempt.
    Throttled,
    /// The addressed thing does not exist (bucket, key).
    NotFound,
    /// The endpoint could not be reached, or timed out.
    Unreachable,
    Other,
}

/// The kind of `err` and a message for the user.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> (Failure, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = without_userinfo(&DisplayErrorContext(err).to_string());
    let code = err.code().unwrap_or_default();
    let message = err.message().unwrap_or_default();
    if AUTH_CODES.contains(&code) {
        let text = format!(
            "AWS refused the credentials ({code}{}); {}",
            if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            },
            chain_description()
        );
        return (Failure::Auth, text);
    }
    let status = err.raw_response().map(|r| r.status().as_u16());
    if status == Some(403) && code.is_empty() {
        // An error body the SDK could not parse (some S3-compatible stores send XML to
        // JSON protocols): the status alone says the credentials were refused.
        let text = format!(
            "AWS refused the credentials (HTTP 403 Forbidden, no error code); {}",
            chain_description()
        );
        return (Failure::Auth, text);
    }
    let lower = detail.to_ascii_lowercase();
    if lower.contains("no credentials") || lower.contains("credentialsnotloaded") {
        let text = format!(
            "no AWS credentials were found; {} (none of them gave credentials)",
            chain_description()
        );
        return (Failure::Auth, text);
    }
    if THROTTLING_CODES.contains(&code) {
        return (
            Failure::Throttled,
            format!("still throttled after every retry ({code}: {message})"),
        );
    }
    if matches!(
        code,
        "NoSuchBucket" | "NoSuchKey" | "NotFound" | "ResourceNotFoundException"
    ) {
        let what = if message.is_empty() { code } else { message };
        return (Failure::NotFound, format!("{code}: {what}"));
    }
    if matches!(
        err,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
    ) {
        return (
            Failure::Unreachable,
            format!("the endpoint could not be reached: {detail}"),
        );
    }
    let text = if code.is_empty() {
        detail
    } else {
        format!("{code}: {message}")
    };
    (Failure::Other, text)
}

/// `text` with the user and password of every URL in it (`http://user:secret@host`) masked:
/// the SDK's error chain can quote the endpoint URL, which may carry them.
fn without_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == ')')
            .unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(userinfo_end) => {
                out.push_str("***");
                rest = &tail[userinfo_end..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// `err` as the source error of `request`.
pub fn api_error<E>(request: impl Into<String>, err: &SdkError<E, HttpResponse>) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    SourceError::api(request, classify(err).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_error_text_lose_their_user_and_password() {
        assert_eq!(
            without_userinfo("connect to http://minio:s3cr3t@127.0.0.1:9000/b failed"),
            "connect to http://***@127.0.0.1:9000/b failed"
        );
        assert_eq!(
            without_userinfo("dispatch failure (https://s3.amazonaws.com/x) and http://h:1"),
            "dispatch failure (https://s3.amazonaws.com/x) and http://h:1"
        );
        assert_eq!(without_userinfo("no url here"), "no url here");
    }
}
