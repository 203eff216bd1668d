//! A stand-in for the part of Docker Hub's API a build's description sync calls
//! (`buildspecs/hub-description.sh`), answering as Docker Hub documents it:
//!
//! - `POST /v2/auth/token` with `{"identifier", "secret"}`: `200 {"access_token"}`, or
//!   `401` for any other user or token
//!   (<https://docs.docker.com/reference/api/hub/latest/#tag/authentication-api/operation/AuthCreateAccessToken>);
//! - `PATCH /v2/repositories/{namespace}/{repository}/` with `{"full_description"}` and
//!   `Authorization: Bearer <access token>`: `200` and the repository, `401` for another
//!   bearer, `404` for a repository that does not exist, `403` when the token may push but
//!   not manage repositories (a personal access token below "Read, Write, Delete":
//!   <https://docs.docker.com/security/access-tokens/reference/>), `400` for a description
//!   over `full_description`'s documented `maxLength` of 25,000 characters
//!   (<https://docs.docker.com/reference/api/hub/latest/#tag/repositories/operation/CreateRepository>).
//!
//! The reference documents no operation that edits a repository; this PATCH of the
//! repository's v2 path is the one Docker Hub's site sends. Error bodies have the
//! reference's `error` shape (`{"detail", "message"}`), or `ValueError`'s
//! (`{"fields", "text"}`) for a value refused.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// `full_description`'s documented `maxLength`.
pub const DESCRIPTION_LIMIT: usize = 25_000;
/// The one access token the stand-in issues (a JWT on Docker Hub, opaque to the build): a
/// test checks it never shows.
pub const ACCESS_TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmYWtlIn0.c3RhbmQtaW4";
/// Larger request bodies are refused unread.
const MAX_BODY_BYTES: u64 = 1024 * 1024;

/// Who may do what on the stand-in.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// The user and the personal access token `POST /v2/auth/token` accepts.
    pub username: String,
    pub token: String,
    /// Whether the token may manage repositories ("Read, Write, Delete"); without, edits
    /// are refused 403 as for a "Read & Write" token.
    pub may_edit: bool,
    /// The repositories that exist, `namespace/name`, with no description yet.
    pub repositories: Vec<String>,
    /// The longest description taken, in characters: [`DESCRIPTION_LIMIT`] as documented;
    /// lower to see Docker Hub refuse what a client let through.
    pub description_limit: usize,
}

impl HubOptions {
    /// `username` with `token`, allowed to edit `repositories`.
    pub fn new(username: &str, token: &str, repositories: &[&str]) -> HubOptions {
        HubOptions {
            username: username.to_owned(),
            token: token.to_owned(),
            may_edit: true,
            repositories: repositories.iter().map(|r| (*r).to_owned()).collect(),
            description_limit: DESCRIPTION_LIMIT,
        }
    }
}

#[derive(Default)]
struct State {
    /// `METHOD path` of every request, in order.
    requests: Vec<String>,
    /// Repository → its full description, once set.
    descriptions: BTreeMap<String, String>,
}

/// The stand-in, serving on a thread until dropped.
pub struct FakeDockerHub {
    port: u16,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    state: Arc<Mutex<State>>,
}

impl FakeDockerHub {
    /// Serves on a free loopback port.
    pub fn start(options: HubOptions) -> io::Result<FakeDockerHub> {
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(io::Error::other)?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or_else(|| io::Error::other("the server has no port"))?;
        let server = Arc::new(server);
        let state = Arc::new(Mutex::new(State::default()));
        let thread = {
            let (server, state) = (server.clone(), state.clone());
            std::thread::spawn(move || serve(&server, &options, &state))
        };
        Ok(FakeDockerHub {
            port,
            server,
            thread: Some(thread),
            state,
        })
    }

    /// `http://127.0.0.1:PORT`, the API root (the deployment's `hub_api_url`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The full description of `repository` (`namespace/name`), if one was set.
    pub fn description(&self, repository: &str) -> Option<String> {
        self.state.lock().expect("state").descriptions.get(repository).cloned()
    }

    /// Every request so far, as `POST /v2/auth/token`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().expect("state").requests.clone()
    }
}

impl Drop for FakeDockerHub {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(server: &tiny_http::Server, options: &HubOptions, state: &Mutex<State>) {
    for mut request in server.incoming_requests() {
        let (method, url) = (request.method().to_string(), request.url().to_owned());
        let authorization = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Authorization"))
            .map(|h| h.value.as_str().to_owned());
        let mut body = Vec::new();
        let read = request.as_reader().take(MAX_BODY_BYTES + 1).read_to_end(&mut body);
        let (status, answer) = if read.is_err() || body.len() as u64 > MAX_BODY_BYTES {
            error(413, "the request body is too large")
        } else {
            let mut state = state.lock().expect("state");
            state.requests.push(format!("{method} {url}"));
            answer(options, &mut state, &method, &url, authorization.as_deref(), &body)
        };
        let mut response = tiny_http::Response::from_data(answer.to_string()).with_status_code(status);
        if let Ok(h) = tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..]) {
            response.add_header(h);
        }
        let _ = request.respond(response);
    }
}

/// The reference's `error` schema.
fn error(status: u16, message: &str) -> (u16, Value) {
    (status, json!({ "detail": message, "message": message }))
}

fn answer(
    options: &HubOptions,
    state: &mut State,
    method: &str,
    url: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let body: Option<Value> = serde_json::from_slice(body).ok();
    let text = |name: &str| body.as_ref().and_then(|b| b.get(name)).and_then(Value::as_str);
    match (method, url) {
        ("POST", "/v2/auth/token") => match (text("identifier"), text("secret")) {
            (Some(user), Some(secret)) if user == options.username && secret == options.token => {
                (200, json!({ "access_token": ACCESS_TOKEN }))
            }
            (Some(_), Some(_)) => error(401, "Incorrect authentication credentials"),
            _ => (
                400,
                json!({ "fields": { "identifier": ["required"], "secret": ["required"] }, "text": "identifier and secret are required" }),
            ),
        },
        ("PATCH", path) if path.starts_with("/v2/repositories/") => {
            let repository = path["/v2/repositories/".len()..].trim_end_matches('/');
            if authorization != Some(&format!("Bearer {ACCESS_TOKEN}")) {
                return error(401, "authentication required");
            }
            if !options.repositories.iter().any(|r| r == repository) {
                return error(404, "object not found");
            }
            if !options.may_edit {
                return error(403, "access denied: insufficient scope");
            }
            let Some(description) = text("full_description") else {
                return (
                    400,
                    json!({ "fields": { "full_description": ["must be a string"] }, "text": "invalid request" }),
                );
            };
            if description.chars().count() > options.description_limit {
                let why = format!(
                    "Ensure this field has no more than {} characters.",
                    options.description_limit
                );
                return (400, json!({ "fields": { "full_description": [why] }, "text": why }));
            }
            state.descriptions.insert(repository.to_owned(), description.to_owned());
            let (namespace, name) = repository.split_once('/').unwrap_or(("", repository));
            (
                200,
                json!({ "namespace": namespace, "name": name, "full_description": description }),
            )
        }
        _ => error(404, "not found"),
    }
}
