//! A stand-in for GitHub's repository webhook endpoints, for one repository, answering in
//! the JSON shapes and with the statuses GitHub documents
//! (https://docs.github.com/en/rest/repos/webhooks):
//!
//! - `GET /repos/{owner}/{repo}/hooks` ("List repository webhooks"), paged by `page` and
//!   `per_page` with a `link` header, as GitHub pages lists
//!   (https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api);
//! - `GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries` ("List deliveries for a
//!   repository webhook"): newest first, `per_page` up to 100 (default 30), paged by a
//!   `cursor` that only the `link` header gives ("Used for pagination: the starting delivery
//!   from which the page of deliveries is fetched. Refer to the link header for the next and
//!   previous page cursors"). The links point at `/repositories/{repository_id}/…`, which
//!   the stand-in also serves, so a client that builds its own next URL instead of following
//!   the link is caught. A cursor it never gave is answered `400 Bad Request`, one of the
//!   two errors the endpoint documents (400 and 422; which one GitHub gives for a bad cursor
//!   is not documented);
//! - `GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}` ("Get a delivery
//!   for a repository webhook"), with the request and response;
//! - `POST /repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}/attempts`
//!   ("Redeliver a delivery for a repository webhook"): `202 Accepted` with `{}`, and a new
//!   delivery of the same guid (`redelivery: true`) answered as [`HooksSetup::redelivered`]
//!   says; or the refusal set for that delivery (`400`, `404`, `422`), and `404` for a
//!   delivery it does not have.
//!
//! It is no kinder than GitHub about who asks: no `Authorization` is `401 Requires
//! authentication`; another token `401 Bad credentials`; a token that cannot see the
//! repository `404 Not Found` (GitHub does not confirm that a private repository exists); a
//! token without the "Webhooks" permission, or with read-only access asked to redeliver,
//! `403 Resource not accessible by personal access token` with
//! `X-Accepted-GitHub-Permissions`
//! (https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api). On
//! request the first redeliveries meet GitHub's secondary rate limit (`403` with
//! `retry-after`).

use crate::{Answer, RequestUrl};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

const DOCS_WEBHOOKS: &str = "https://docs.github.com/rest/repos/webhooks";

/// What the token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAccess {
    /// It cannot see the repository at all: 404 for everything.
    NoRepository,
    /// It sees the repository but lacks the "Webhooks" permission: 403.
    NoWebhooks,
    /// "Webhooks": read-only: lists, and is refused redeliveries with 403.
    Read,
    /// "Webhooks": read and write.
    Write,
}

/// One delivery the stand-in has, as GitHub records it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeDelivery {
    pub id: u64,
    pub guid: String,
    pub delivered_at: SystemTime,
    pub redelivery: bool,
    /// The receiver's status code; 0 when there was no answer.
    pub status_code: i64,
    /// GitHub's status text: `OK`, `Invalid HTTP Response: 502`, `failed to connect`.
    pub status: String,
    pub event: String,
    pub action: Option<String>,
    /// What the receiver answered.
    pub response: String,
}

impl FakeDelivery {
    /// A push delivered `ago` before now and answered `status_code` (0: no answer), with
    /// GitHub's status text for it.
    pub fn push(id: u64, guid: &str, ago: Duration, status_code: i64) -> Self {
        FakeDelivery {
            id,
            guid: guid.to_owned(),
            delivered_at: SystemTime::now() - ago,
            redelivery: false,
            status_code,
            status: status_text(status_code),
            event: "push".into(),
            action: None,
            response: String::new(),
        }
    }

    pub fn redelivery(mut self) -> Self {
        self.redelivery = true;
        self
    }
}

/// GitHub's `status` for a receiver's answer.
pub fn status_text(status_code: i64) -> String {
    match status_code {
        0 => "failed to connect".into(),
        200..=299 => "OK".into(),
        code => format!("Invalid HTTP Response: {code}"),
    }
}

/// One webhook of the repository and its deliveries (any order: they are listed newest
/// first).
#[derive(Debug, Clone)]
pub struct FakeHook {
    pub id: u64,
    pub url: String,
    pub events: Vec<String>,
    pub deliveries: Vec<FakeDelivery>,
}

/// Everything the stand-in answers from.
#[derive(Debug, Clone)]
pub struct HooksSetup {
    /// `owner/name`.
    pub repository: String,
    pub repository_id: u64,
    /// The one token GitHub knows.
    pub token: String,
    pub access: TokenAccess,
    pub hooks: Vec<FakeHook>,
    /// Redeliveries of these delivery ids are refused with this status (400, 404 or 422).
    pub refuse: HashMap<u64, u16>,
    /// The first this many redeliveries meet the secondary rate limit: 403 with
    /// `retry-after: 1`.
    pub secondary_rate_limited: usize,
    /// How the receiver answers a redelivery GitHub accepted: its status code (0 for no
    /// answer).
    pub redelivered: i64,
}

impl HooksSetup {
    pub fn new(repository: &str, token: &str, hooks: Vec<FakeHook>) -> Self {
        HooksSetup {
            repository: repository.to_owned(),
            repository_id: 1_296_269,
            token: token.to_owned(),
            access: TokenAccess::Write,
            hooks,
            refuse: HashMap::new(),
            secondary_rate_limited: 0,
            redelivered: 202,
        }
    }
}

/// The stand-in, serving on a thread until dropped.
pub struct FakeHooks {
    port: u16,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    state: Arc<Mutex<State>>,
}

struct State {
    setup: HooksSetup,
    base: String,
    log: Vec<String>,
    redelivered: Vec<u64>,
    posts: usize,
}

impl FakeHooks {
    pub fn start(setup: HooksSetup) -> io::Result<Self> {
        let (server, port) = crate::bind_loopback()?;
        let state = Arc::new(Mutex::new(State {
            setup,
            base: format!("http://127.0.0.1:{port}"),
            log: Vec::new(),
            redelivered: Vec::new(),
            posts: 0,
        }));
        let thread = {
            let (server, state) = (server.clone(), state.clone());
            std::thread::spawn(move || serve(&server, &state))
        };
        Ok(FakeHooks {
            port,
            server,
            thread: Some(thread),
            state,
        })
    }

    /// `http://127.0.0.1:PORT`, the API root (`GITHUB_API_URL`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far, as `GET /repos/o/n/hooks?per_page=100`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().expect("state").log.clone()
    }

    /// The delivery ids GitHub accepted to redeliver, in order.
    pub fn redelivered(&self) -> Vec<u64> {
        self.state.lock().expect("state").redelivered.clone()
    }
}

impl Drop for FakeHooks {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(server: &tiny_http::Server, state: &Mutex<State>) {
    for request in server.incoming_requests() {
        let authorization = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Authorization"))
            .map(|h| h.value.as_str().to_owned());
        let answer = {
            let mut state = state.lock().expect("state");
            state.log.push(format!("{} {}", request.method(), request.url()));
            state.answer(request.method(), request.url(), authorization.as_deref())
        };
        answer.send(request);
    }
}

fn error(status: u16, message: &str) -> Answer {
    Answer::json(
        status,
        json!({ "message": message, "documentation_url": DOCS_WEBHOOKS, "status": status.to_string() }),
    )
}

fn forbidden(permission: &str) -> Answer {
    let mut answer = error(403, "Resource not accessible by personal access token");
    answer
        .headers
        .push(("X-Accepted-GitHub-Permissions".into(), format!("webhooks={permission}")));
    answer
}

impl State {
    fn answer(&mut self, method: &tiny_http::Method, url: &str, authorization: Option<&str>) -> Answer {
        let token = &self.setup.token;
        match authorization {
            None => return error(401, "Requires authentication"),
            Some(given) if given != format!("Bearer {token}") && given != format!("token {token}") => {
                return error(401, "Bad credentials");
            }
            Some(_) => {}
        }
        let Some(request) = RequestUrl::parse(url) else {
            return Answer::not_found();
        };
        let param = |name: &str| request.param(name);
        let segments = request.segments();
        let rest = match segments.as_slice() {
            // GitHub's owner and repository names are case-insensitive.
            ["repos", owner, name, rest @ ..]
                if format!("{owner}/{name}").eq_ignore_ascii_case(&self.setup.repository) =>
            {
                rest
            }
            ["repositories", id, rest @ ..] if *id == self.setup.repository_id.to_string() => rest,
            _ => return Answer::not_found(),
        };
        let writes = *method == tiny_http::Method::Post;
        match self.setup.access {
            TokenAccess::NoRepository => return Answer::not_found(),
            TokenAccess::NoWebhooks => return forbidden(if writes { "write" } else { "read" }),
            TokenAccess::Read if writes => return forbidden("write"),
            TokenAccess::Read | TokenAccess::Write => {}
        }
        let number = |text: &str| -> Option<u64> { text.parse().ok() };
        let per_page = param("per_page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        match (method, rest) {
            (tiny_http::Method::Get, ["hooks"]) => {
                let page = param("page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(1).max(1);
                self.hooks(page, per_page)
            }
            (tiny_http::Method::Get, ["hooks", hook, "deliveries"]) => match number(hook) {
                Some(hook) => self.deliveries(hook, per_page, param("cursor")),
                None => Answer::not_found(),
            },
            (tiny_http::Method::Get, ["hooks", hook, "deliveries", id]) => match (number(hook), number(id)) {
                (Some(hook), Some(id)) => self.delivery(hook, id),
                _ => Answer::not_found(),
            },
            (tiny_http::Method::Post, ["hooks", hook, "deliveries", id, "attempts"]) => {
                match (number(hook), number(id)) {
                    (Some(hook), Some(id)) => self.redeliver(hook, id),
                    _ => Answer::not_found(),
                }
            }
            _ => Answer::not_found(),
        }
    }

    fn repos(&self, path: &str) -> String {
        format!("{}/repos/{}{path}", self.base, self.setup.repository)
    }

    fn hooks(&self, page: usize, per_page: usize) -> Answer {
        let all = &self.setup.hooks;
        let items: Vec<Value> = all
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|h| {
                json!({
                    "type": "Repository", "id": h.id, "name": "web", "active": true, "events": h.events,
                    "config": { "content_type": "json", "insecure_ssl": "0", "url": h.url },
                    "updated_at": "2026-11-01T10:00:00Z", "created_at": "2026-11-01T10:00:00Z",
                    "url": self.repos(&format!("/hooks/{}", h.id)),
                    "test_url": self.repos(&format!("/hooks/{}/test", h.id)),
                    "ping_url": self.repos(&format!("/hooks/{}/pings", h.id)),
                    "deliveries_url": self.repos(&format!("/hooks/{}/deliveries", h.id)),
                    "last_response": { "code": null, "status": "unused", "message": null }
                })
            })
            .collect();
        let mut answer = Answer::json(200, Value::Array(items));
        let last = all.len().div_ceil(per_page).max(1);
        let link = |page: usize, rel: &str| {
            format!(
                "<{}?per_page={per_page}&page={page}>; rel=\"{rel}\"",
                self.repos("/hooks")
            )
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(link(page - 1, "prev"));
        }
        if page < last {
            links.push(link(page + 1, "next"));
            links.push(link(last, "last"));
        }
        if !links.is_empty() {
            answer.headers.push(("Link".into(), links.join(", ")));
        }
        answer
    }

    fn hook(&self, id: u64) -> Option<&FakeHook> {
        self.setup.hooks.iter().find(|h| h.id == id)
    }

    /// The hook's deliveries, newest first.
    fn newest_first(hook: &FakeHook) -> Vec<&FakeDelivery> {
        let mut all: Vec<&FakeDelivery> = hook.deliveries.iter().collect();
        all.sort_by_key(|d| std::cmp::Reverse((d.delivered_at, d.id)));
        all
    }

    fn deliveries(&self, hook_id: u64, per_page: usize, cursor: Option<&str>) -> Answer {
        let Some(hook) = self.hook(hook_id) else {
            return Answer::not_found();
        };
        let all = Self::newest_first(hook);
        let start = match cursor {
            None => 0,
            Some(cursor) => {
                let at = cursor
                    .strip_prefix("v1_")
                    .and_then(|id| id.parse::<u64>().ok())
                    .and_then(|id| all.iter().position(|d| d.id == id));
                match at {
                    Some(at) => at,
                    None => return error(400, "Bad Request"),
                }
            }
        };
        let page: Vec<Value> = all.iter().skip(start).take(per_page).map(|d| self.simple(d)).collect();
        let mut answer = Answer::json(200, Value::Array(page));
        let link = |at: usize, rel: &str| {
            format!(
                "<{}/repositories/{}/hooks/{hook_id}/deliveries?per_page={per_page}&cursor=v1_{}>; rel=\"{rel}\"",
                self.base, self.setup.repository_id, all[at].id
            )
        };
        let mut links = Vec::new();
        if start > 0 {
            links.push(link(start.saturating_sub(per_page), "prev"));
        }
        if start + per_page < all.len() {
            links.push(link(start + per_page, "next"));
        }
        if !links.is_empty() {
            answer.headers.push(("Link".into(), links.join(", ")));
        }
        answer
    }

    /// "Simple webhook delivery".
    fn simple(&self, d: &FakeDelivery) -> Value {
        json!({
            "id": d.id,
            "guid": d.guid,
            "delivered_at": dockhand_core::time::rfc3339(unix(d.delivered_at)),
            "redelivery": d.redelivery,
            "duration": 0.27,
            "status": d.status,
            "status_code": d.status_code,
            "event": d.event,
            "action": d.action,
            "installation_id": null,
            "repository_id": self.setup.repository_id,
            "throttled_at": null,
        })
    }

    fn delivery(&self, hook_id: u64, id: u64) -> Answer {
        let Some(hook) = self.hook(hook_id) else {
            return Answer::not_found();
        };
        let Some(d) = hook.deliveries.iter().find(|d| d.id == id) else {
            return Answer::not_found();
        };
        let mut detail = self.simple(d);
        detail["url"] = json!(hook.url);
        detail["request"] = json!({
            "headers": {
                "Accept": "*/*",
                "X-GitHub-Delivery": d.guid,
                "X-GitHub-Event": d.event,
                "X-GitHub-Hook-ID": hook_id.to_string(),
                "X-GitHub-Hook-Installation-Target-ID": self.setup.repository_id.to_string(),
                "X-GitHub-Hook-Installation-Target-Type": "repository",
                "User-Agent": "GitHub-Hookshot/044aadd",
                "content-type": "application/json"
            },
            "payload": { "ref": "refs/heads/main", "repository": { "id": self.setup.repository_id } }
        });
        detail["response"] = json!({
            "headers": { "Content-Type": "application/json" },
            "payload": d.response
        });
        Answer::json(200, detail)
    }

    fn redeliver(&mut self, hook_id: u64, id: u64) -> Answer {
        self.posts += 1;
        if self.posts <= self.setup.secondary_rate_limited {
            let mut answer = error(
                403,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            );
            answer.headers.push(("retry-after".into(), "1".into()));
            return answer;
        }
        let Some(hook) = self.setup.hooks.iter_mut().find(|h| h.id == hook_id) else {
            return Answer::not_found();
        };
        let Some(original) = hook.deliveries.iter().find(|d| d.id == id).cloned() else {
            return Answer::not_found();
        };
        if let Some(&status) = self.setup.refuse.get(&id) {
            return match status {
                422 => Answer::json(
                    422,
                    json!({ "message": "Validation Failed", "errors": [{ "resource": "Hook", "code": "custom", "message": "This delivery cannot be redelivered" }], "documentation_url": DOCS_WEBHOOKS, "status": "422" }),
                ),
                404 => Answer::not_found(),
                other => error(other, "Bad Request"),
            };
        }
        let next_id = hook.deliveries.iter().map(|d| d.id).max().unwrap_or(0) + 1;
        let code = self.setup.redelivered;
        hook.deliveries.push(FakeDelivery {
            id: next_id,
            delivered_at: SystemTime::now(),
            redelivery: true,
            status_code: code,
            status: status_text(code),
            response: String::new(),
            ..original
        });
        self.redelivered.push(id);
        Answer::json(202, json!({}))
    }
}

/// Seconds since the epoch; a time before it reads as the epoch.
fn unix(t: SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
