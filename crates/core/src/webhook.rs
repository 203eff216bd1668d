//! The GitHub webhook events dockhand reads, and how their bodies arrive.
//!
//! Only the fields dockhand uses are modelled; everything else in a payload is ignored,
//! so GitHub adding fields never breaks a delivery.

use serde::Deserialize;
use std::borrow::Cow;

/// A delivery dockhand understands; `S` is the string type of a push's commit list (see
/// [`PushEvent`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Event<S = String> {
    Ping(PingEvent),
    Push(Box<PushEvent<S>>),
    /// Any other event type, by its `X-GitHub-Event` name.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PingEvent {
    pub zen: String,
    #[serde(default)]
    pub hook_id: Option<u64>,
}

/// A push. `S` is the string type of its commit list, which is most of a big push: owned
/// `String`s, or in the listener [`JsonStr`]s borrowed from the payload, so that a push of
/// a hundred thousand paths is decoded without copying them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de> + Default"))]
pub struct PushEvent<S = String> {
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
    pub commits: Vec<Commit<S>>,
    #[serde(default)]
    pub head_commit: Option<Commit>,
    pub repository: Repository,
    #[serde(default)]
    pub pusher: Option<Pusher>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de> + Default"))]
pub struct Commit<S = String> {
    pub id: S,
    #[serde(default)]
    pub message: S,
    #[serde(default)]
    pub timestamp: Option<S>,
    #[serde(default)]
    pub url: Option<S>,
    #[serde(default)]
    pub author: Option<Person<S>>,
    #[serde(default)]
    pub added: Vec<S>,
    #[serde(default)]
    pub modified: Vec<S>,
    #[serde(default)]
    pub removed: Vec<S>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct Person<S = String> {
    #[serde(default)]
    pub name: Option<S>,
    #[serde(default)]
    pub email: Option<S>,
    #[serde(default)]
    pub username: Option<S>,
}

/// A JSON string borrowed from the document, or, when it has escapes, unescaped into an
/// owned copy. (serde borrows a `Cow<str>` only as a field of its own, never in a `Vec`.)
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct JsonStr<'a>(pub Cow<'a, str>);

impl std::ops::Deref for JsonStr<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonStr<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = JsonStr<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Borrowed(s)))
            }

            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Owned(s.to_owned())))
            }

            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
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
    parse_event_in(event, content_type, body, &mut Vec::new())
}

/// [`parse_event`], a push's commit list read with strings `S`, which may borrow from the
/// payload ([`JsonStr`] does). The payload is the body itself or, for a form-encoded body,
/// its `payload` field, decoded into `payload`.
pub fn parse_event_in<'a, S: Deserialize<'a> + Default>(
    event: &str,
    content_type: Option<&str>,
    body: &'a [u8],
    payload: &'a mut Vec<u8>,
) -> Result<Event<S>, BodyError> {
    if !matches!(event, "ping" | "push") {
        return Ok(Event::Other(event.to_owned()));
    }
    let json: &'a [u8] = match payload_json(content_type, body)? {
        Cow::Borrowed(json) => json,
        Cow::Owned(json) => {
            *payload = json;
            payload
        }
    };
    Ok(match event {
        "ping" => Event::Ping(decode(event, json)?),
        _ => Event::Push(Box::new(decode(event, json)?)),
    })
}

fn decode<'a, T: Deserialize<'a>>(event: &str, json: &'a [u8]) -> Result<T, BodyError> {
    // Read from a slice, serde_json checks the UTF-8 of each string it keeps, one at a time:
    // on a push of 150,000 paths that took longer than checking the whole document at once
    // and reading it as a str. A document that is not UTF-8 is read from the slice as
    // before, so it is refused, or not, with the same error.
    let decoded = match std::str::from_utf8(json) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(json),
    };
    decoded.map_err(|e| BodyError::Invalid {
        event: event.to_owned(),
        detail: e.to_string(),
    })
}

impl<S> PushEvent<S> {
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

    /// Each commit's strings read as `JsonStr` and as `String`, side by side.
    fn both_ways(content_type: &str, body: &[u8]) -> (PushEvent, Vec<Commit<String>>) {
        let Event::Push(owned) = parse_event("push", Some(content_type), body).unwrap() else {
            panic!()
        };
        let mut payload = Vec::new();
        let Event::Push(borrowed) = parse_event_in::<JsonStr>("push", Some(content_type), body, &mut payload).unwrap()
        else {
            panic!()
        };
        let s = |j: &JsonStr| j.to_string();
        let all = |v: &Vec<JsonStr>| v.iter().map(s).collect::<Vec<_>>();
        let copied = borrowed
            .commits
            .iter()
            .map(|c| Commit {
                id: s(&c.id),
                message: s(&c.message),
                timestamp: c.timestamp.as_ref().map(s),
                url: c.url.as_ref().map(s),
                author: c.author.as_ref().map(|a| Person {
                    name: a.name.as_ref().map(s),
                    email: a.email.as_ref().map(s),
                    username: a.username.as_ref().map(s),
                }),
                added: all(&c.added),
                modified: all(&c.modified),
                removed: all(&c.removed),
            })
            .collect();
        assert_eq!(borrowed.head_commit, owned.head_commit);
        assert_eq!(borrowed.repository, owned.repository);
        (*owned, copied)
    }

    #[test]
    fn borrowed_strings_are_unescaped_like_owned_ones() {
        let body = PUSH.replace(
            r#""added":["web/Dockerfile"]"#,
            r#""added":["web/Dockerfile","we\"ird/a\\b","caf\u00e9/x y","tab\there","plain/é"],
               "author":{"name":"Zo\u00eb","email":null}"#,
        );
        for (content_type, body) in [
            ("application/json", body.clone()),
            (
                "application/x-www-form-urlencoded",
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("payload", &body)
                    .finish(),
            ),
        ] {
            let (owned, borrowed) = both_ways(content_type, body.as_bytes());
            assert_eq!(owned.commits, borrowed);
            assert_eq!(
                owned.commits[0].added,
                ["web/Dockerfile", "we\"ird/a\\b", "café/x y", "tab\there", "plain/é"]
            );
            assert_eq!(owned.commits[0].author.as_ref().unwrap().name.as_deref(), Some("Zoë"));
        }
        // Strings without escapes point into the body; only escaped ones are copied.
        let mut payload = Vec::new();
        let Ok(Event::Push(push)) = parse_event_in::<JsonStr>("push", None, body.as_bytes(), &mut payload) else {
            panic!()
        };
        let borrowed: Vec<bool> = push.commits[0]
            .added
            .iter()
            .map(|p| matches!(p.0, Cow::Borrowed(_)))
            .collect();
        assert_eq!(borrowed, [true, false, false, false, true]);
        let range = body.as_bytes().as_ptr_range();
        assert!(range.contains(&push.commits[0].added[0].as_ptr()));
    }

    #[test]
    fn borrowed_and_owned_commits_refuse_the_same_payloads() {
        for (from, to) in [
            (r#""id":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","#, ""),
            (r#""message":"Add web""#, r#""message":null"#),
            (r#""added":["web/Dockerfile"]"#, r#""added":[1]"#),
            (
                r#""added":["web/Dockerfile"]"#,
                r#""added":["web/Dockerfile"],"author":{"name":7}"#,
            ),
        ] {
            let body = PUSH.replacen(from, to, 1);
            assert_ne!(body, PUSH);
            let owned = parse_event("push", None, body.as_bytes());
            let mut payload = Vec::new();
            let borrowed = parse_event_in::<JsonStr>("push", None, body.as_bytes(), &mut payload);
            assert!(owned.is_err(), "{to}");
            assert_eq!(borrowed.map(|_| ()), owned.map(|_| ()), "{to}");
        }
    }

    #[test]
    fn bodies_that_are_not_utf8_are_read_as_from_a_slice() {
        // A stray byte where serde_json skips the value, and one in a path it reads.
        for (from, to, accepted) in [
            (r#""unknown":[1,2,3]"#, r#""unknown":"@""#, true),
            ("web/Dockerfile", "web/@", false),
        ] {
            let mut body = PUSH.replacen(from, to, 1).into_bytes();
            let at = body.iter().position(|b| *b == b'@').unwrap();
            body[at] = 0xff;
            let reference = serde_json::from_slice::<PushEvent>(&body).map_err(|e| e.to_string());
            let decoded = match parse_event("push", None, &body) {
                Ok(Event::Push(push)) => Ok(*push),
                Ok(other) => panic!("{other:?}"),
                Err(BodyError::Invalid { detail, .. }) => Err(detail),
                Err(e) => panic!("{e}"),
            };
            assert_eq!(decoded, reference);
            assert_eq!(decoded.is_ok(), accepted, "{decoded:?}");
        }
    }

    #[test]
    fn other_events_are_named_not_parsed() {
        assert_eq!(
            parse_event("issues", None, b"garbage"),
            Ok(Event::Other("issues".into()))
        );
    }
}
