//! AWS S3 and Textract: SigV4 against AWS's published known answers (the SigV4 test suite's `get-vanilla` and
//! the S3 documentation's `PUT Object` example), the exact signed requests, AWS's error shapes (throttling as a
//! 400 with a code, S3's XML errors, 503 SlowDown with Retry-After, 5xx), malformed answers, not configured, and
//! secrets never in errors.

use super::*;
use ingot::config::Secret;
use ingot::integrations::aws::{S3, SigningStyle, Textract, encode_key, lines, sign_request};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn auth(headers: &[(String, String)]) -> String {
    headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone())
        .expect("authorization header")
}

/// AWS SigV4 test suite, `get-vanilla`: `GET /` to example.amazonaws.com, 2015-08-30T12:36:00Z.
#[test]
fn sigv4_test_suite_get_vanilla() {
    let added = sign_request(
        "AKIDEXAMPLE",
        &Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        None,
        "us-east-1",
        "service",
        SigningStyle::Standard,
        "GET",
        "https://example.amazonaws.com/",
        &[],
        b"",
        at(1_440_938_160),
    )
    .unwrap();
    assert_eq!(
        auth(&added),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
    assert!(added.contains(&("x-amz-date".into(), "20150830T123600Z".into())));
}

/// The S3 documentation's signed `PUT Object` example (Signature Version 4, header-based auth):
/// `PUT /test$file.text` on examplebucket, "Welcome to Amazon S3.", 2013-05-24T00:00:00Z.
#[test]
fn sigv4_s3_documented_put_object() {
    let added = sign_request(
        "AKIAIOSFODNN7EXAMPLE",
        &Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        None,
        "us-east-1",
        "s3",
        SigningStyle::S3,
        "PUT",
        &format!(
            "https://examplebucket.s3.amazonaws.com/{}",
            encode_key("test$file.text")
        ),
        &[
            ("date".into(), "Fri, 24 May 2013 00:00:00 GMT".into()),
            ("x-amz-storage-class".into(), "REDUCED_REDUNDANCY".into()),
        ],
        b"Welcome to Amazon S3.",
        at(1_369_353_600),
    )
    .unwrap();
    assert_eq!(
        auth(&added),
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
         SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, \
         Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    );
    assert!(added.contains(&(
        "x-amz-content-sha256".into(),
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072".into()
    )));
}

const SECRET: &str = "SECRETKEY/abc+xyz";
const TOKEN: &str = "SESSIONTOKEN123";

fn aws_settings(s3: &str, textract: &str) -> ingot::integrations::config::IntegrationsConfig {
    settings(&[
        ("AWS_REGION", "eu-west-1"),
        ("AWS_BUCKET_NAME", "screens"),
        ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", TOKEN),
        ("AWS_S3_BASE_URL", s3),
        ("AWS_TEXTRACT_BASE_URL", textract),
    ])
}

fn no_secret(e: &ServiceError) {
    let shown = format!("{e} {e:?} {}", StepError::from(e.clone()).message());
    assert!(!shown.contains(SECRET) && !shown.contains(TOKEN), "{shown}");
}

#[tokio::test]
async fn s3_puts_a_signed_object_path_style() {
    let s = fake().await;
    let cfg = aws_settings(&s.uri(), &s.uri());
    let s3 = S3::new(http("s3", &cfg.aws.s3_base_url()), &cfg.aws, false);
    Mock::given(method("PUT"))
        .and(path("/screens/ocr/1700000000000.png"))
        .respond_with(ResponseTemplate::new(200).insert_header("etag", "\"e1\""))
        .expect(1)
        .mount(&s)
        .await;
    let png = bytes::Bytes::from_static(b"\x89PNG fake");
    let put = s3
        .put_object("ocr/1700000000000.png", png.clone(), "image/png")
        .await
        .unwrap();
    assert_eq!(
        (put.bucket.as_str(), put.key.as_str()),
        ("screens", "ocr/1700000000000.png")
    );
    let reqs = s.received_requests().await.unwrap();
    let r = &reqs[0];
    let h = |n: &str| r.headers.get(n).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(r.body, png.to_vec());
    assert_eq!(h("content-type").as_deref(), Some("image/png"));
    assert_eq!(h("x-amz-content-sha256"), Some(hex::encode(Sha256::digest(&png))));
    assert_eq!(h("x-amz-security-token").as_deref(), Some(TOKEN));
    let date = h("x-amz-date").unwrap();
    let authz = h("authorization").unwrap();
    assert!(
        authz.starts_with(&format!(
            "AWS4-HMAC-SHA256 Credential=AKIDTEST/{}/eu-west-1/s3/aws4_request, \
             SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=",
            &date[..8]
        )),
        "{authz}"
    );
    s.verify().await;
    s.reset().await;

    // 503 SlowDown with Retry-After: rate limited; 500: unavailable; 403 AccessDenied: rejected with AWS's words.
    let p = "/screens/k.png";
    let put = || s3.put_object("k.png", bytes::Bytes::from_static(b"x"), "image/png");
    Mock::given(path(p))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("retry-after", "7")
                .set_body_string(
                    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
                ),
        )
        .mount(&s)
        .await;
    assert_rate_limited(put().await.unwrap_err(), 7);
    s.reset().await;
    Mock::given(path(p))
        .respond_with(ResponseTemplate::new(500).set_body_string("<Error><Code>InternalError</Code></Error>"))
        .up_to_n_times(1)
        .mount(&s)
        .await;
    Mock::given(path(p))
        .respond_with(ResponseTemplate::new(200))
        .mount(&s)
        .await;
    assert_unavailable(put().await.unwrap_err());
    put().await.expect("succeeds after the 5xx");
    s.reset().await;
    Mock::given(path(p))
        .respond_with(ResponseTemplate::new(403).set_body_string(
            "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message><AWSAccessKeyId>AKIDTEST</AWSAccessKeyId></Error>",
        ))
        .mount(&s)
        .await;
    let e = put().await.unwrap_err();
    no_secret(&e);
    assert_rejected(e, 403, "SignatureDoesNotMatch: The request signature");
    s.reset().await;
    Mock::given(path(p))
        .respond_with(ResponseTemplate::new(200).set_delay(TIMEOUT * 4))
        .mount(&s)
        .await;
    assert_timeout(put().await.unwrap_err());

    let none = S3::new(http("s3", &s.uri()), &settings(&[]).aws, false);
    let e = none
        .put_object("k", bytes::Bytes::new(), "image/png")
        .await
        .unwrap_err();
    assert_not_configured(e, &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
}

#[tokio::test]
async fn textract_detects_text_with_a_signed_json_call() {
    let s = fake().await;
    let cfg = aws_settings(&s.uri(), &s.uri());
    let tx = Textract::new(http("textract", &cfg.aws.textract.base_url), &cfg.aws, false);
    let blocks = json!({"DocumentMetadata": {"Pages": 1}, "Blocks": [
        {"BlockType": "PAGE", "Id": "p"},
        {"BlockType": "LINE", "Id": "l1", "Text": "fn main() {"},
        {"BlockType": "WORD", "Id": "w1", "Text": "fn"},
        {"BlockType": "LINE", "Id": "l2", "Text": "}"},
    ]});
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header("x-amz-target", "Textract.DetectDocumentText"))
        .and(header("content-type", "application/x-amz-json-1.1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(blocks.clone()))
        .expect(1)
        .mount(&s)
        .await;
    let got = tx.detect_document_text("screens", "ocr/1.png").await.unwrap();
    assert_eq!(lines(&got), "fn main() {\n}");
    let r = &s.received_requests().await.unwrap()[0];
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap(),
        json!({"Document": {"S3Object": {"Bucket": "screens", "Name": "ocr/1.png"}}})
    );
    let authz = r.headers.get("authorization").unwrap().to_str().unwrap();
    assert!(
        authz.contains("/eu-west-1/textract/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature="),
        "{authz}"
    );
    s.verify().await;
    s.reset().await;

    let call = || tx.detect_document_text("screens", "k");
    // Throttling is a 400 with a code.
    Mock::given(path("/"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("retry-after", "3")
                .set_body_json(json!({"__type": "com.amazonaws.textract#ProvisionedThroughputExceededException", "message": "Rate exceeded"})),
        )
        .mount(&s)
        .await;
    assert_rate_limited(call().await.unwrap_err(), 3);
    s.reset().await;
    Mock::given(path("/"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"__type": "InvalidS3ObjectException", "Message": "Unable to get object metadata from S3"}),
        ))
        .mount(&s)
        .await;
    let e = call().await.unwrap_err();
    no_secret(&e);
    assert_rejected(e, 400, "InvalidS3ObjectException: Unable to get object");
    s.reset().await;
    Mock::given(path("/"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"__type": "InternalServerError"})))
        .up_to_n_times(1)
        .mount(&s)
        .await;
    Mock::given(path("/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(blocks))
        .mount(&s)
        .await;
    assert_unavailable(call().await.unwrap_err());
    assert_eq!(call().await.unwrap().len(), 4);
    s.reset().await;
    Mock::given(path("/"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{{{"))
        .mount(&s)
        .await;
    assert_bad_response(call().await.unwrap_err());
    s.reset().await;
    Mock::given(path("/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"DocumentMetadata": {}})))
        .mount(&s)
        .await;
    assert_bad_response(call().await.unwrap_err());
}
