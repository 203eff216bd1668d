//! The GitHub webhook events dockhand reads, and how their bodies arrive.
//!
//! Only the fields dockhand uses are modelled; everything else in a payload is ignored,
//! so GitHub adding fields never breaks a delivery.

use serde::Deserialize;
use std::borrow::Cow;

/// A delivery dockhand understands.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Ping(PingEvent),
    Push(Box<PushEvent>),
    /// Any other event type, by its `X-GitHub-Event` name.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PingEvent {
    pub zen: String,
    #[serde(default)]
    pub hook_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PushEvent {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub before: String,
    pub after: String,
    #[serde(default)]
    pub created: bool,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub forced: bool,
    #[serde(default)]
    pub commits: Vec<Commit>,
    #[serde(default)]
    pub head_commit: Option<Commit>,
    pub repository: Repository,
    #[serde(default)]
    pub pusher: Option<Pusher>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Commit {
    pub id: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub author: Option<Person>,
    #[serde(default)]
    pub added: Vec<String>,
    #[serde(default)]
    pub modified: Vec<String>,
    #[serde(default)]
    pub removed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Person {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Repository {
    pub name: String,
    pub full_name: String,
    pub clone_url: String,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub private: bool,
    #[serde(default)]
    pub default_branch: Option<String>,
    pub owner: Owner,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Owner {
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Pusher {
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
}

/// Why a delivery's body could not be read. Each message names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("form-encoded body has no `payload` field")]
    NoPayloadField,
    #[error("unsupported Content-Type `{0}`: set the webhook's content type to application/json")]
    UnsupportedContentType(String),
    #[error("the {event} payload is not valid: {detail}")]
    Invalid { event: String, detail: String },
}

/// The JSON document of a delivery, whichever content type the webhook uses.
///
/// GitHub sends `application/json`, or `application/x-www-form-urlencoded` with the JSON
/// in a `payload` field. The signature always covers the raw body, so decode after verifying.
pub fn payload_json<'a>(content_type: Option<&str>, body: &'a [u8]) -> Result<Cow<'a, [u8]>, BodyError> {
    let media_type = content_type
        .map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media_type.as_str() {
        "application/x-www-form-urlencoded" => form_payload(body),
        "application/json" | "" => Ok(Cow::Borrowed(body)),
        other => Err(BodyError::UnsupportedContentType(other.chars().take(80).collect())),
    }
}

fn form_payload(body: &[u8]) -> Result<Cow<'_, [u8]>, BodyError> {
    form_urlencoded::parse(body)
        .find(|(key, _)| key == "payload")
        .map(|(_, value)| Cow::Owned(value.into_owned().into_bytes()))
        .ok_or(BodyError::NoPayloadField)
}

/// Decodes a delivery by its `X-GitHub-Event` name.
pub fn parse_event(event: &str, content_type: Option<&str>, body: &[u8]) -> Result<Event, BodyError> {
    match event {
        "ping" => Ok(Event::Ping(decode(event, &payload_json(content_type, body)?)?)),
        "push" => Ok(Event::Push(Box::new(decode(
            event,
            &payload_json(content_type, body)?,
        )?))),
        other => Ok(Event::Other(other.to_owned())),
    }
}

fn decode<T: serde::de::DeserializeOwned>(event: &str, json: &[u8]) -> Result<T, BodyError> {
    serde_json::from_slice(json).map_err(|e| BodyError::Invalid {
        event: event.to_owned(),
        detail: e.to_string(),
    })
}

impl PushEvent {
    /// The branch name for `refs/heads/…`, if this push is to a branch.
    pub fn branch(&self) -> Option<&str> {
        self.git_ref.strip_prefix("refs/heads/")
    }
}

/// The branch or tag name of a ref (`main` for `refs/heads/main`, `v1` for
/// `refs/tags/v1`), or the whole ref for any other kind.
pub fn ref_name(git_ref: &str) -> &str {
    git_ref
        .strip_prefix("refs/heads/")
        .or_else(|| git_ref.strip_prefix("refs/tags/"))
        .unwrap_or(git_ref)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUSH: &str = r#"{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000",
        "after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","created":true,"deleted":false,"forced":false,
        "commits":[{"id":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","message":"Add web",
          "added":["web/Dockerfile"],"modified":[],"removed":[]}],
        "head_commit":null,
        "repository":{"name":"images","full_name":"acme/images","clone_url":"https://github.com/acme/images.git",
          "private":false,"default_branch":"main","owner":{"login":"acme"},"unknown":[1,2,3]},
        "pusher":{"name":"octo","email":"octo@example.com"}}"#;

    #[test]
    fn json_and_form_bodies_decode_the_same() {
        let json = parse_event("push", Some("application/json"), PUSH.as_bytes()).unwrap();
        let form: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", PUSH)
            .finish();
        let from_form = parse_event("push", Some("application/x-www-form-urlencoded"), form.as_bytes()).unwrap();
        assert_eq!(json, from_form);
        let Event::Push(push) = json else { panic!("not a push") };
        assert_eq!(push.branch(), Some("main"));
        assert_eq!(push.commits[0].added, ["web/Dockerfile"]);
        assert_eq!(push.repository.owner.login.as_deref(), Some("acme"));
    }

    #[test]
    fn content_type_parameters_and_case_are_ignored() {
        let e = parse_event("push", Some("Application/JSON; charset=utf-8"), PUSH.as_bytes());
        assert!(matches!(e, Ok(Event::Push(_))));
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            parse_event("push", Some("application/x-www-form-urlencoded"), b"other=1"),
            Err(BodyError::NoPayloadField)
        );
        assert!(matches!(
            parse_event("push", Some("text/plain"), b"{}"),
            Err(BodyError::UnsupportedContentType(t)) if t == "text/plain"
        ));
        let Err(BodyError::Invalid { detail, .. }) = parse_event("push", None, br#"{"ref":"x"}"#) else {
            panic!("expected an invalid payload")
        };
        assert!(detail.contains("missing field"), "{detail}");
        let Err(e) = parse_event("push", None, b"not json") else {
            panic!()
        };
        assert!(e.to_string().starts_with("the push payload is not valid"), "{e}");
    }

    #[test]
    fn other_events_are_named_not_parsed() {
        assert_eq!(
            parse_event("issues", None, b"garbage"),
            Ok(Event::Other("issues".into()))
        );
    }
}
