//! The listener: GitHub's webhook endpoint. Verifies, decodes, applies the ref rules and
//! publishes one BuildRequest; it never touches CodeBuild, so it answers in milliseconds.

mod secrets;

use dockhand_core::Deployment;
use dockhand_core::intake::{Intake, accept};
use dockhand_core::ports::{Publisher, SecretStore};
use dockhand_core::signature::{self, Secret, SignatureError};
use dockhand_core::trust::validate;
use dockhand_core::webhook::{self, Event, JsonStr};
use serde_json::{Value, json};

pub use secrets::SecretCache;

/// GitHub caps deliveries at 25 MB, but a Lambda request is at most 6 MB; pushes that big
/// are rare and are refused with 413 rather than half-read.
pub const DEFAULT_MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

pub struct Settings {
    /// The ref rules, the repositories built and the Git host their clone URLs name.
    pub deployment: Deployment,
    pub max_body_bytes: usize,
}

/// The parts of an HTTP request the listener reads.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub event: Option<&'a str>,
    pub delivery: Option<&'a str>,
    pub signature_256: Option<&'a str>,
    pub has_legacy_signature: bool,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

impl<'a> Delivery<'a> {
    pub fn from_headers(headers: &'a lambda_http::http::HeaderMap, body: &'a [u8]) -> Self {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Delivery {
            event: get("x-github-event"),
            delivery: get("x-github-delivery"),
            signature_256: get("x-hub-signature-256"),
            has_legacy_signature: headers.contains_key("x-hub-signature"),
            content_type: get("content-type"),
            body,
        }
    }
}

/// An HTTP answer: a status and a small JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    fn error(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "error": message.into() }),
        }
    }
}

/// What a verified delivery calls for.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Reply(Reply),
    /// Publish `message` to the build-requests topic, then answer `reply`.
    Publish {
        message: String,
        reply: Reply,
    },
}

/// Checks the signature over the exact raw body.
pub fn verify(d: &Delivery<'_>, secrets: &[Secret]) -> Result<(), SignatureError> {
    signature::verify(d.signature_256, d.has_legacy_signature, d.body, secrets)
}

/// Everything after the signature, with no I/O: decode, apply rules, encode the request.
pub fn interpret(d: &Delivery<'_>, deployment: &Deployment) -> Outcome {
    let Some(event_name) = d.event else {
        return Outcome::Reply(Reply::error(400, "missing X-GitHub-Event header"));
    };
    let delivery_id = d.delivery.unwrap_or("");
    // The commits' paths are borrowed from the payload, never copied: a push may name
    // a hundred thousand.
    let mut payload = Vec::new();
    let event = match webhook::parse_event_in::<JsonStr>(event_name, d.content_type, d.body, &mut payload) {
        Ok(event) => event,
        Err(e) => return Outcome::Reply(Reply::error(400, e.to_string())),
    };
    let push = match event {
        Event::Ping(ping) => {
            return Outcome::Reply(Reply {
                status: 200,
                body: json!({ "delivery": delivery_id, "event": "ping", "hook_id": ping.hook_id, "zen": ping.zen }),
            });
        }
        Event::Other(name) => {
            return Outcome::Reply(Reply {
                status: 202,
                body: json!({ "delivery": delivery_id, "ignored": name }),
            });
        }
        Event::Push(push) => push,
    };
    let accepted = match accept(&push, delivery_id, deployment) {
        Ok(Intake::Build(accepted)) => accepted,
        Ok(Intake::Ignored { reason }) => {
            return Outcome::Reply(Reply {
                status: 202,
                body: json!({ "delivery": delivery_id, "ref": push.git_ref, "ignored": reason }),
            });
        }
        Err(e) => return Outcome::Reply(Reply::error(400, e.to_string())),
    };
    let changed_paths = accepted.changes.len();
    let encoded = accepted.encode_for_sns();
    // What is published is checked as the spawner will check it.
    if let Ok((request, _)) = &encoded
        && let Err(e) = validate(request, deployment)
    {
        return Outcome::Reply(Reply::error(400, e.to_string()));
    }
    match encoded {
        Ok((request, message)) => Outcome::Publish {
            message,
            reply: Reply {
                status: 202,
                body: json!({
                    "delivery": request.delivery,
                    "ref": request.git_ref,
                    "commit": request.commit,
                    "tags": request.tags,
                    "changed_paths": changed_paths,
                    "reduced_to_directories": !request.changes.directories.is_empty(),
                }),
            },
        },
        Err(e) => Outcome::Reply(Reply::error(413, e.to_string())),
    }
}

/// The listener with its outside systems.
pub struct Listener<P, S> {
    pub settings: Settings,
    pub publisher: P,
    pub secrets: SecretCache<S>,
}

impl<P: Publisher, S: SecretStore> Listener<P, S> {
    pub async fn handle(&self, d: &Delivery<'_>) -> Reply {
        if d.body.len() > self.settings.max_body_bytes {
            return Reply::error(
                413,
                format!(
                    "body of {} bytes is over this listener's limit of {} bytes",
                    d.body.len(),
                    self.settings.max_body_bytes
                ),
            );
        }
        if let Err(reply) = self.check_signature(d).await {
            return reply;
        }
        match interpret(d, &self.settings.deployment) {
            Outcome::Reply(reply) => reply,
            Outcome::Publish { message, reply } => match self.publisher.publish(&message).await {
                Ok(()) => {
                    tracing::info!(delivery = d.delivery, body = %reply.body, "build request published");
                    reply
                }
                Err(e) => {
                    tracing::error!(delivery = d.delivery, error = %e, "could not publish the build request");
                    Reply::error(
                        502,
                        format!("could not queue the build request, redeliver it later: {e}"),
                    )
                }
            },
        }
    }

    async fn check_signature(&self, d: &Delivery<'_>) -> Result<(), Reply> {
        let unavailable = |e| {
            tracing::error!(error = %e, "could not read the webhook secrets");
            Reply::error(502, "could not read the webhook secret, redeliver later")
        };
        let secrets = self.secrets.current().await.map_err(unavailable)?;
        let mut result = verify(d, &secrets);
        if result == Err(SignatureError::Mismatch) {
            // Perhaps the secret was rotated since this container read it.
            if let Some(fresh) = self.secrets.refresh().await.map_err(unavailable)? {
                result = verify(d, &fresh);
            }
        }
        result.map_err(|e| {
            tracing::warn!(delivery = d.delivery, reason = %e, "rejected webhook");
            Reply::error(401, e.to_string())
        })
    }
}

/// Adapts the listener to lambda_http.
pub async fn handle_http<P: Publisher, S: SecretStore>(
    listener: &Listener<P, S>,
    request: lambda_http::Request,
) -> Result<lambda_http::Response<lambda_http::Body>, lambda_http::Error> {
    let body: &[u8] = request.body().as_ref();
    let delivery = Delivery::from_headers(request.headers(), body);
    let reply = listener.handle(&delivery).await;
    Ok(lambda_http::Response::builder()
        .status(reply.status)
        .header("content-type", "application/json")
        .body(lambda_http::Body::from(reply.body.to_string()))?)
}
