//! AWS S3 (`PutObject`) and Textract (`DetectDocumentText`), for code extraction from screenshots. Two service
//! actors (`s3`, `textract`), each with its rate, mailbox, timeout, dry run and `/health` figures like every client.
//!
//! - Requests are signed with AWS Signature Version 4 by the `aws-sigv4` crate (AWS's own signer), at send time
//!   (a retry signs again, so `X-Amz-Date` is always fresh). S3 signs the payload's SHA-256
//!   (`x-amz-content-sha256`) with single URI encoding; Textract is an AWS JSON 1.1 service (`X-Amz-Target`).
//! - Credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, for temporary credentials,
//!   `AWS_SESSION_TOKEN` (sent as `x-amz-security-token`). The `Authorization` header and the token are secret
//!   values: redacted in dry-run records, never in errors.
//! - Errors: AWS reports throttling with a 400 and an error code (`ThrottlingException`,
//!   `ProvisionedThroughputExceededException`, S3's `503 SlowDown`, ...): those are rate limited (Retry-After, else
//!   5 s); 5xx are unavailable; other 4xx are rejected with AWS's `Code: Message` (JSON `__type`/`message` or S3's
//!   XML `<Code>`/`<Message>`).
//! - Endpoints: S3 uses virtual-hosted URLs (`https://<bucket>.s3.<region>.amazonaws.com/<key>`); with
//!   `AWS_S3_BASE_URL` set it uses path-style URLs (`<base>/<bucket>/<key>`), as S3-compatible servers expect.

use super::classify::{DEFAULT_429_WAIT, retry_after};
use super::config::Endpoint;
use super::http::{HttpService, Request};
use super::require;
use crate::config::Secret;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
    sign,
};
use aws_sigv4::sign::v4;
use ingot_actors::service::ServiceError;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// The AWS settings.
#[derive(Debug, Clone)]
pub struct AwsConfig {
    pub region: String,
    pub bucket: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    /// `base_url` empty: the regional virtual-hosted endpoint.
    pub s3: Endpoint,
    pub textract: Endpoint,
}

impl AwsConfig {
    /// Whether the credentials are present.
    pub fn configured(&self) -> bool {
        self.access_key_id.is_some() && self.secret_access_key.is_some()
    }

    /// The base URL objects are addressed under: `<base>/<bucket>` (path style) or the bucket's own host.
    pub fn s3_base_url(&self) -> String {
        if self.s3.base_url.is_empty() {
            format!("https://{}.s3.{}.amazonaws.com", self.bucket, self.region)
        } else {
            format!("{}/{}", self.s3.base_url, self.bucket)
        }
    }

    fn require(&self, service: &str, dry_run: bool) -> Result<(), ServiceError> {
        require(
            service,
            dry_run,
            &[
                ("AWS_ACCESS_KEY_ID", self.access_key_id.is_some()),
                ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.is_some()),
            ],
        )
    }
}

/// How a request is signed: the service's signing name and its URI/payload conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningStyle {
    /// S3: single URI encoding, no path normalization, `x-amz-content-sha256` signed.
    S3,
    /// Every other service (Textract): double URI encoding, normalized path, no payload header.
    Standard,
}

/// SigV4 for one request: the headers to add (`authorization`, `x-amz-date`, and `x-amz-content-sha256` /
/// `x-amz-security-token` when they apply). `headers` are the request's other headers, all signed (the host is
/// taken from `url`). The error never contains the secret key.
#[allow(clippy::too_many_arguments)]
pub fn sign_request(
    access_key_id: &str,
    secret_access_key: &Secret,
    session_token: Option<&Secret>,
    region: &str,
    service: &str,
    style: SigningStyle,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    time: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let identity = aws_credential_types::Credentials::new(
        access_key_id,
        secret_access_key.expose(),
        session_token.map(|t| t.expose().to_string()),
        None,
        "ingot",
    )
    .into();
    let mut settings = SigningSettings::default();
    if style == SigningStyle::S3 {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| format!("signing parameters: {e}"))?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| format!("request cannot be signed: {e}"))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| format!("signing failed: {e}"))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// AWS error codes that mean "slow down".
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
];

/// `(code, message)` of an AWS error body: JSON (`__type` / `code`, `message` / `Message`) or XML
/// (`<Code>`, `<Message>`).
pub fn error_parts(body: &[u8]) -> (Option<String>, Option<String>) {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let code = v["__type"]
            .as_str()
            .or_else(|| v["code"].as_str())
            .or_else(|| v["Code"].as_str())
            .map(|c| c.rsplit('#').next().unwrap_or(c).to_string());
        let message = v["message"]
            .as_str()
            .or_else(|| v["Message"].as_str())
            .map(str::to_string);
        return (code, message);
    }
    let text = String::from_utf8_lossy(body);
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].trim().to_string())
    };
    (tag("Code"), tag("Message"))
}

/// Maps a non-2xx AWS answer to its error (see the module doc).
pub fn classify(service: &str, status: u16, headers: &HeaderMap, body: &[u8]) -> Result<(), ServiceError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let service = service.to_string();
    let (code, message) = error_parts(body);
    let message = match (&code, message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.clone(),
        (None, Some(m)) => m,
        (None, None) => format!("HTTP {status}"),
    };
    let message: String = message.chars().take(300).collect();
    let throttled = status == 429 || code.as_deref().is_some_and(|c| THROTTLING.contains(&c));
    if throttled {
        return Err(ServiceError::RateLimited {
            service,
            message,
            retry_after: retry_after(headers, body).unwrap_or(DEFAULT_429_WAIT),
        });
    }
    match status {
        408 | 500..=599 => Err(ServiceError::Unavailable {
            service,
            message,
            retry_after: if status == 503 {
                retry_after(headers, body)
            } else {
                None
            },
        }),
        _ => Err(ServiceError::Rejected {
            service,
            status,
            message,
        }),
    }
}

/// Signs `req` (whose body is `body`) for `service` and adds the signature's headers.
fn signed(
    http: &HttpService,
    cfg: &AwsConfig,
    service: &str,
    style: SigningStyle,
    mut req: Request,
    body: &[u8],
) -> Result<Request, ServiceError> {
    let (Some(id), Some(secret)) = (&cfg.access_key_id, &cfg.secret_access_key) else {
        // Dry run without credentials: nothing is sent, so nothing is signed.
        return Ok(req);
    };
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .filter_map(|(k, v)| match v {
            super::http::Val::Plain(v) => Some((k.clone(), v.clone())),
            super::http::Val::Secret(_) => None,
        })
        .collect();
    let added = sign_request(
        id,
        secret,
        cfg.session_token.as_ref(),
        &cfg.region,
        service,
        style,
        req.method.as_str(),
        &http.url(&req.path),
        &headers,
        body,
        SystemTime::now(),
    )
    .map_err(|message| ServiceError::Invalid {
        service: http.name().to_string(),
        message,
    })?;
    for (k, v) in added {
        req = if k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("x-amz-security-token") {
            req.secret_header(&k, v)
        } else {
            req.header(&k, v)
        };
    }
    Ok(req)
}

/// An object key as S3 expects it in the path: every byte but unreserved characters and `/` percent-encoded
/// (the form SigV4 signs for S3).
pub fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What `PutObject` answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PutObject {
    pub bucket: String,
    pub key: String,
    /// The object's ETag (empty in a dry run).
    pub etag: String,
}

#[derive(Clone)]
pub struct S3 {
    pub http: HttpService,
    cfg: AwsConfig,
    dry_run: bool,
}

impl S3 {
    pub fn new(http: HttpService, cfg: &AwsConfig, dry_run: bool) -> S3 {
        S3 {
            http: http.with_classifier(classify),
            cfg: cfg.clone(),
            dry_run,
        }
    }

    pub fn bucket(&self) -> &str {
        &self.cfg.bucket
    }

    /// `PUT /<key>` with the bytes.
    pub async fn put_object(
        &self,
        key: &str,
        data: bytes::Bytes,
        content_type: &str,
    ) -> Result<PutObject, ServiceError> {
        self.cfg.require("s3", self.dry_run)?;
        let req = Request::new(Method::PUT, key.to_string())
            .header("content-type", content_type)
            .bytes(data.clone(), content_type);
        let req = signed(&self.http, &self.cfg, "s3", SigningStyle::S3, req, &data)?;
        // `content-type` is both a signed header and the body's type: send it once.
        let req = Request {
            headers: req
                .headers
                .into_iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
                .collect(),
            ..req
        };
        let _ = self.http.send(req).await?;
        Ok(PutObject {
            bucket: self.cfg.bucket.clone(),
            key: key.to_string(),
            etag: String::new(),
        })
    }
}

/// One Textract block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Block {
    #[serde(rename = "BlockType")]
    pub block_type: String,
    #[serde(rename = "Text")]
    pub text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Detected {
    #[serde(rename = "Blocks")]
    blocks: Option<Vec<Block>>,
    #[serde(rename = "dryRun")]
    dry_run: bool,
}

#[derive(Clone)]
pub struct Textract {
    pub http: HttpService,
    cfg: AwsConfig,
    dry_run: bool,
}

impl Textract {
    pub fn new(http: HttpService, cfg: &AwsConfig, dry_run: bool) -> Textract {
        Textract {
            http: http.with_classifier(classify),
            cfg: cfg.clone(),
            dry_run,
        }
    }

    /// `DetectDocumentText` on an S3 object: its blocks (pages, lines, words).
    pub async fn detect_document_text(&self, bucket: &str, key: &str) -> Result<Vec<Block>, ServiceError> {
        self.cfg.require("textract", self.dry_run)?;
        let body = serde_json::to_vec(&serde_json::json!({"Document": {"S3Object": {"Bucket": bucket, "Name": key}}}))
            .expect("JSON");
        let req = Request::post("")
            .header("x-amz-target", "Textract.DetectDocumentText")
            .header("content-type", "application/x-amz-json-1.1");
        let req = signed(&self.http, &self.cfg, "textract", SigningStyle::Standard, req, &body)?;
        let req = Request {
            headers: req
                .headers
                .into_iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
                .collect(),
            ..req
        }
        .bytes(body.into(), "application/x-amz-json-1.1");
        let d: Detected = self.http.json(req).await?;
        match d.blocks {
            Some(b) => Ok(b),
            None if d.dry_run => Ok(Vec::new()),
            None => Err(ServiceError::BadResponse {
                service: "textract".into(),
                message: "no Blocks in the answer".into(),
            }),
        }
    }
}

/// The detected text: the `LINE` blocks' texts, one per line, in Textract's order.
pub fn lines(blocks: &[Block]) -> String {
    blocks
        .iter()
        .filter(|b| b.block_type == "LINE")
        .filter_map(|b| b.text.as_deref())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_parts(br#"{"__type":"com.amazonaws.textract#ThrottlingException","message":"Rate exceeded"}"#),
            (Some("ThrottlingException".into()), Some("Rate exceeded".into()))
        );
        assert_eq!(
            error_parts(b"<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"),
            (Some("SlowDown".into()), Some("Please reduce your request rate.".into()))
        );
        let h = HeaderMap::new();
        assert!(
            classify("textract", 400, &h, br#"{"__type":"ThrottlingException"}"#)
                .unwrap_err()
                .is_rate_limited()
        );
        let e = classify(
            "s3",
            403,
            &h,
            b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
        )
        .unwrap_err();
        assert_eq!(e.status(), Some(403));
        assert!(e.to_string().contains("AccessDenied: Access Denied"), "{e}");
    }

    #[test]
    fn lines_are_the_line_blocks() {
        let b = |t: &str, s: &str| Block {
            block_type: t.into(),
            text: Some(s.into()),
        };
        let blocks = vec![
            Block {
                block_type: "PAGE".into(),
                text: None,
            },
            b("LINE", "fn main() {"),
            b("WORD", "fn"),
            b("LINE", "}"),
        ];
        assert_eq!(lines(&blocks), "fn main() {\n}");
    }

    /// SigV4 known answers published by AWS. Each expected signature is copied as published.
    #[allow(clippy::too_many_arguments)]
    fn signed_at(
        secret: &str,
        access_key_id: &str,
        region: &str,
        service: &str,
        style: SigningStyle,
        url: &str,
        headers: &[(String, String)],
        time: SystemTime,
    ) -> Vec<(String, String)> {
        sign_request(
            access_key_id,
            &Secret::new(secret),
            None,
            region,
            service,
            style,
            "GET",
            url,
            headers,
            b"",
            time,
        )
        .unwrap()
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
    }

    /// The SigV4 test suite's `get-vanilla` case (https://docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html;
    /// the suite is kept in github.com/awslabs/aws-c-auth, tests/aws-signing-test-suite/v4/get-vanilla, and quoted
    /// in github.com/awslabs/aws-crt-python, test/test_auth.py `test_signing_sigv4_headers`): the Standard style
    /// (Textract's).
    #[test]
    fn sigv4_get_vanilla() {
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160); // 20150830T123600Z
        let headers = signed_at(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "AKIDEXAMPLE",
            "us-east-1",
            "service",
            SigningStyle::Standard,
            "https://example.amazonaws.com/",
            &[],
            time,
        );
        assert_eq!(header(&headers, "x-amz-date"), "20150830T123600Z");
        assert_eq!(
            header(&headers, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    /// Amazon S3's documented example "GET Object" (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html,
    /// section "Example: GET Object"): the S3 style, with the signed `x-amz-content-sha256` of the empty body.
    #[test]
    fn sigv4_s3_get_object_example() {
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_369_353_600); // 20130524T000000Z
        let headers = signed_at(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "AKIAIOSFODNN7EXAMPLE",
            "us-east-1",
            "s3",
            SigningStyle::S3,
            "https://examplebucket.s3.amazonaws.com/test.txt",
            &[("range".to_string(), "bytes=0-9".to_string())],
            time,
        );
        assert_eq!(
            header(&headers, "x-amz-content-sha256"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let authorization = header(&headers, "authorization");
        assert!(
            authorization
                .starts_with("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"),
            "{authorization}"
        );
        assert!(
            authorization.contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"),
            "{authorization}"
        );
        assert!(
            authorization.ends_with("Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
            "{authorization}"
        );
    }
}
