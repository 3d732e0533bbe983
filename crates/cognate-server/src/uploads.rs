//! The upload URL of user import jobs, `PUT /user-import/{jobId}/{capability}`: what
//! CreateUserImportJob hands out as `PreSignedUrl`, served by Cognate itself on its public
//! URL. It takes AWS's documented upload command unchanged
//! (`curl -T users.csv -H "x-amz-server-side-encryption:aws:kms" "$PRE_SIGNED_URL"`; the
//! encryption header is accepted and needs nothing, the file being in Cognate's database)
//! and answers as S3 does: an empty 200, or an XML `<Error>` with S3's codes. The body is
//! read frame by frame into [`crate::services::user_imports::Upload`], never collected.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;

use crate::AppState;
use crate::services::user_imports::{UploadError, begin_upload};

/// Receives one job's CSV file.
pub async fn put(
    State(state): State<AppState>,
    Path((job_id, capability)): Path<(String, String)>,
    request: Request,
) -> Response {
    let content_length =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let mut upload = match begin_upload(&state, &job_id, &capability, content_length).await {
        Ok(u) => u,
        Err(e) => return s3_error(&e),
    };
    let mut body: Body = request.into_body();
    let outcome = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| UploadError::Incomplete)?;
            if let Ok(data) = frame.into_data() {
                upload.push(&data).await?;
            }
        }
        upload.finish().await
    }
    .await;
    match outcome {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => {
            upload.abandon().await;
            s3_error(&e)
        }
    }
}

/// S3's error shape: `<Error><Code>…</Code><Message>…</Message></Error>`.
fn s3_error(e: &UploadError) -> Response {
    let (status, code) = match e {
        UploadError::Denied | UploadError::Expired | UploadError::AlreadyUsed => {
            (StatusCode::FORBIDDEN, "AccessDenied")
        }
        UploadError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "EntityTooLarge"),
        UploadError::Incomplete => (StatusCode::BAD_REQUEST, "IncompleteBody"),
        UploadError::Empty | UploadError::NotUtf8(_) | UploadError::NulByte(_) | UploadError::LineTooLong(_) => {
            (StatusCode::BAD_REQUEST, "InvalidArgument")
        }
        UploadError::Store(err) => {
            tracing::error!(error = %err, "storing a user import upload failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "InternalError")
        }
    };
    let message = match e {
        UploadError::Store(_) => "We encountered an internal error. Please try again.".to_owned(),
        other => other.to_string(),
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message></Error>",
        escape(&message)
    );
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
