//! Downloads of files the platform points at (the screenshots of code extraction): a plain `GET` of an absolute
//! URL through its own service actor (pace, mailbox, timeout, 429/5xx classification, dry run, `/health`).
//! Error messages never contain the URL. Reported configured with the AWS credentials: code extraction is its one
//! user.

use super::http::{HttpService, Request};
use ingot_actors::service::ServiceError;

#[derive(Clone)]
pub struct Download {
    pub http: HttpService,
}

impl Download {
    pub fn new(http: HttpService) -> Download {
        Download { http }
    }

    /// The body at `url` (http or https). A dry run answers the dry-run marker.
    pub async fn get(&self, url: &str) -> Result<bytes::Bytes, ServiceError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ServiceError::Invalid {
                service: "download".into(),
                message: "not an http(s) URL".into(),
            });
        }
        let answer = self.http.send(Request::get(url)).await?;
        Ok(answer.body)
    }
}
