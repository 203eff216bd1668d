//! A repository's webhooks and their deliveries: which hook points where, what GitHub
//! delivered to it lately and how that went, and redelivering what failed.
//!
//! GitHub never redelivers a failed delivery by itself
//! (https://docs.github.com/en/webhooks/using-webhooks/handling-failed-webhook-deliveries);
//! these are the REST endpoints a person or a script uses for it
//! (https://docs.github.com/en/rest/repos/webhooks): list a repository's webhooks, list a
//! webhook's deliveries (newest first, paged by a cursor that GitHub puts in the `link`
//! header), get one delivery, and redeliver one (`POST …/attempts`, answered `202`).
//! GitHub keeps deliveries for [`RETENTION_DAYS`] days (7 on GitHub Enterprise Server);
//! nothing older can be listed or redelivered.
//!
//! The JSON shapes are GitHub's documented ones ("Simple webhook delivery" in a listing,
//! "Webhook delivery" for one); the pure parts (reading times and `link` headers, which
//! deliveries still failed) are tested here, the requests against the stand-in in
//! `dockhand_local::github::hooks`.

use crate::status::Access;
use crate::{GitHub, JSON, MAX_JSON_BYTES, validate};
pub use dockhand_core::time::{rfc3339, unix_seconds};
use dockhand_core::tree::HostError;
use hyper::{HeaderMap, Method};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// How many days GitHub keeps a webhook's deliveries on github.com: "you can redeliver
/// webhook deliveries that occurred in the past 3 days" (7 on GitHub Enterprise Server),
/// https://docs.github.com/en/webhooks/testing-and-troubleshooting-webhooks/redelivering-webhooks.
pub const RETENTION_DAYS: u64 = 3;

/// The most results GitHub gives on one page ("The number of results per page (max 100)").
pub const PER_PAGE: usize = 100;

/// The most pages of deliveries one listing reads: 10,000 deliveries, far more than a
/// dockhand webhook (push events only) receives in GitHub's three days.
pub const MAX_DELIVERY_PAGES: usize = 100;

/// The most pages of webhooks one listing reads (a repository has a few).
pub const MAX_HOOK_PAGES: usize = 10;

/// One repository webhook, as "List repository webhooks" answers it: the parts dockhand
/// reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Hook {
    pub id: u64,
    /// `web` for a webhook.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub config: HookConfig,
}

/// A webhook's `config`: where its payloads go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct HookConfig {
    /// The payload URL.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
}

/// One delivery of a webhook: GitHub's "Simple webhook delivery" (a listing's items), every
/// field it documents.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Delivery {
    pub id: u64,
    /// The event's id, the `X-GitHub-Delivery` header; the same for every redelivery of it.
    pub guid: String,
    /// RFC 3339, such as `2019-06-03T00:57:16Z`.
    pub delivered_at: String,
    pub redelivery: bool,
    /// Seconds spent delivering.
    pub duration: f64,
    /// `OK`, or what went wrong ("Invalid HTTP Response: 502", "failed to connect", …).
    pub status: String,
    /// The receiver's HTTP status (0 or absent when there was no answer).
    #[serde(default)]
    pub status_code: i64,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<u64>,
    pub repository_id: Option<u64>,
    #[serde(default)]
    pub throttled_at: Option<String>,
}

/// One delivery with what was sent and answered: GitHub's "Webhook delivery" ("Get a
/// delivery for a repository webhook").
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: Delivery,
    /// The URL delivered to.
    #[serde(default)]
    pub url: Option<String>,
    pub request: DeliveryRequest,
    pub response: DeliveryResponse,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeliveryRequest {
    pub headers: Option<serde_json::Map<String, serde_json::Value>>,
    pub payload: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeliveryResponse {
    pub headers: Option<serde_json::Map<String, serde_json::Value>>,
    /// The receiver's answer, as text.
    pub payload: Option<String>,
}

impl Delivery {
    /// Whether the receiver took it: GitHub's status is `OK` (a failed delivery "will have
    /// a `status` value that is not `OK`",
    /// https://docs.github.com/en/webhooks/using-webhooks/handling-failed-webhook-deliveries),
    /// or the receiver answered 2xx. dockhand's listener answers `202` to a push it ignores
    /// (another branch, a repository it does not build): that is a success too.
    pub fn succeeded(&self) -> bool {
        self.status == "OK" || (200..300).contains(&self.status_code)
    }

    /// `delivered_at` in Unix seconds; `None` if it is not an RFC 3339 time.
    pub fn delivered_unix(&self) -> Option<i64> {
        unix_seconds(&self.delivered_at)
    }

    /// `push`, or `event.action` when the event has an action.
    pub fn event_action(&self) -> String {
        match &self.action {
            Some(action) if !action.is_empty() => format!("{}.{action}", self.event),
            _ => self.event.clone(),
        }
    }
}

/// The deliveries of one webhook since a moment, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Deliveries {
    /// Newest first (by `delivered_at`, then id), each once.
    pub deliveries: Vec<Delivery>,
    /// Pages read.
    pub pages: usize,
    /// The listing stopped at [`MAX_DELIVERY_PAGES`] while GitHub had more: deliveries
    /// older than the oldest here may have been left unread.
    pub capped: bool,
}

/// One event (a guid) of which at least one delivery failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure<'a> {
    pub guid: &'a str,
    /// Its failed deliveries, newest first: the first is the one to redeliver.
    pub failed: Vec<&'a Delivery>,
    /// Its newest successful delivery: a failed event later redelivered successfully has
    /// recovered, and is not failed any more.
    pub recovered_by: Option<&'a Delivery>,
}

impl<'a> Failure<'a> {
    /// The newest failed delivery.
    pub fn latest(&self) -> &'a Delivery {
        self.failed[0]
    }

    pub fn recovered(&self) -> bool {
        self.recovered_by.is_some()
    }
}

/// The events with a failed delivery among `deliveries`, newest failure first, each with
/// whether a delivery of the same guid succeeded (the event recovered). Events all of whose
/// deliveries succeeded are not listed.
pub fn failures(deliveries: &[Delivery]) -> Vec<Failure<'_>> {
    let mut ordered: Vec<&Delivery> = deliveries.iter().collect();
    ordered.sort_by_key(|d| std::cmp::Reverse((d.delivered_unix(), d.id)));
    let mut by_guid: HashMap<&str, Failure<'_>> = HashMap::new();
    let mut order = Vec::new();
    for d in ordered {
        let entry = by_guid.entry(&d.guid).or_insert_with(|| {
            order.push(d.guid.as_str());
            Failure {
                guid: &d.guid,
                failed: Vec::new(),
                recovered_by: None,
            }
        });
        if d.succeeded() {
            entry.recovered_by.get_or_insert(d);
        } else {
            entry.failed.push(d);
        }
    }
    let mut failures: Vec<Failure<'_>> = order
        .into_iter()
        .filter_map(|guid| by_guid.remove(guid))
        .filter(|f| !f.failed.is_empty())
        .collect();
    failures.sort_by_key(|f| std::cmp::Reverse((f.latest().delivered_unix(), f.latest().id)));
    failures
}

/// What GitHub said to a redelivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redelivery {
    /// `202 Accepted`: GitHub delivers the same payload again, under the same guid.
    Accepted,
    /// GitHub refused this one (`400`, `404` — gone, or older than GitHub keeps — or `422`);
    /// others may still be redelivered.
    Refused { status: u16, message: String },
}

impl GitHub {
    /// Every webhook of `repository` (`owner/name`), following the `link` header's next
    /// page (https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api).
    pub async fn repository_hooks(&self, repository: &str) -> Result<Vec<Hook>, HostError> {
        let repository = validate::repository(repository)?;
        let mut url = format!("{}/repos/{repository}/hooks?per_page={PER_PAGE}", self.api);
        let mut hooks = Vec::new();
        for _ in 0..MAX_HOOK_PAGES {
            let (page, next): (Vec<Hook>, _) = self.page(&url).await?;
            hooks.extend(page);
            match next {
                Some(next) => url = next,
                None => return Ok(hooks),
            }
        }
        Err(HostError::OverBudget(format!(
            "{repository} has more than {} webhooks",
            MAX_HOOK_PAGES * PER_PAGE
        )))
    }

    /// The deliveries of webhook `hook_id` of `repository` delivered at or after `since`
    /// (Unix seconds), newest first. Pages are read as GitHub documents them: 100 a page,
    /// the next page at the URL the `link` header names with `rel="next"` (its `cursor`
    /// parameter says where it starts), until a page reaches back past `since`, there is no
    /// next page, or [`MAX_DELIVERY_PAGES`] were read.
    pub async fn hook_deliveries(&self, repository: &str, hook_id: u64, since: i64) -> Result<Deliveries, HostError> {
        let repository = validate::repository(repository)?;
        let mut url = format!(
            "{}/repos/{repository}/hooks/{hook_id}/deliveries?per_page={PER_PAGE}",
            self.api
        );
        let mut listing = Deliveries {
            deliveries: Vec::new(),
            pages: 0,
            capped: false,
        };
        let mut seen = HashSet::new();
        loop {
            let (page, next): (Vec<Delivery>, _) = self.page(&url).await?;
            listing.pages += 1;
            let mut reached_since = false;
            for delivery in page {
                let Some(at) = delivery.delivered_unix() else {
                    return Err(HostError::Unavailable(format!(
                        "GET {url} answered a delivery whose delivered_at {:?} is not an RFC 3339 time",
                        delivery.delivered_at
                    )));
                };
                if at < since {
                    reached_since = true;
                } else if seen.insert(delivery.id) {
                    listing.deliveries.push(delivery);
                }
            }
            match next {
                _ if reached_since => break,
                None => break,
                Some(_) if listing.pages >= MAX_DELIVERY_PAGES => {
                    listing.capped = true;
                    break;
                }
                Some(next) => url = next,
            }
        }
        listing
            .deliveries
            .sort_by_key(|d| std::cmp::Reverse((d.delivered_unix(), d.id)));
        Ok(listing)
    }

    /// One delivery with its request and response ("Get a delivery for a repository
    /// webhook").
    pub async fn hook_delivery(
        &self,
        repository: &str,
        hook_id: u64,
        delivery_id: u64,
    ) -> Result<DeliveryDetail, HostError> {
        let repository = validate::repository(repository)?;
        let url = format!(
            "{}/repos/{repository}/hooks/{hook_id}/deliveries/{delivery_id}",
            self.api
        );
        let answer = self
            .call(&Method::GET, &url, JSON, MAX_JSON_BYTES, Access::ReadWebhooks, &[])
            .await
            .map_err(over_budget)?;
        serde_json::from_slice(&answer.body).map_err(|e| unreadable(&url, &e))
    }

    /// Asks GitHub to deliver delivery `delivery_id` of webhook `hook_id` again ("Redeliver
    /// a delivery for a repository webhook": `POST …/deliveries/{id}/attempts`, answered
    /// `202`). At least [`crate::Policy::mutation_pause`] passes between two redeliveries.
    /// A refusal of this delivery is an answer ([`Redelivery::Refused`]); a token that may
    /// not redeliver, a rate limit or an unavailable GitHub is an error, which every other
    /// redelivery would meet too.
    pub async fn redeliver(&self, repository: &str, hook_id: u64, delivery_id: u64) -> Result<Redelivery, HostError> {
        let repository = validate::repository(repository)?;
        let url = format!(
            "{}/repos/{repository}/hooks/{hook_id}/deliveries/{delivery_id}/attempts",
            self.api
        );
        self.pause_before_mutation().await;
        let answer = self
            .call(
                &Method::POST,
                &url,
                JSON,
                MAX_JSON_BYTES,
                Access::WriteWebhooks,
                &[400, 404, 422],
            )
            .await
            .map_err(over_budget)?;
        Ok(match answer.status {
            200..=299 => Redelivery::Accepted,
            status => Redelivery::Refused {
                status,
                message: crate::status::message(&answer.body),
            },
        })
    }

    /// Waits until [`crate::Policy::mutation_pause`] has passed since the last request that
    /// changed something, and counts this one as the last.
    pub(crate) async fn pause_before_mutation(&self) {
        let wait = {
            let mut last = self.last_mutation.lock().expect("the last mutation's time");
            let now = Instant::now();
            let next = last.map_or(now, |at| (at + self.policy.mutation_pause).max(now));
            *last = Some(next);
            next - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// One page of a listing at `url` and the next page's URL, if GitHub names one under
    /// this API root (the token is never sent anywhere else).
    async fn page<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<(Vec<T>, Option<String>), HostError> {
        let answer = self
            .call(&Method::GET, url, JSON, MAX_JSON_BYTES, Access::ReadWebhooks, &[])
            .await
            .map_err(over_budget)?;
        let items: Vec<T> = serde_json::from_slice(&answer.body).map_err(|e| unreadable(url, &e))?;
        let next = match next_link(&answer.headers) {
            Some(next) if next.starts_with(&format!("{}/", self.api)) => Some(next),
            Some(next) => {
                return Err(HostError::Unavailable(format!(
                    "GET {url} named a next page outside {} ({next:?}); not followed",
                    self.api
                )));
            }
            None => None,
        };
        Ok((items, next))
    }
}

fn over_budget(e: HostError) -> HostError {
    match e {
        HostError::FileTooLarge { path, limit, .. } => HostError::OverBudget(format!(
            "{path} answered more than the {limit} bytes dockhand reads of one answer"
        )),
        other => other,
    }
}

fn unreadable(url: &str, e: &serde_json::Error) -> HostError {
    HostError::Unavailable(format!(
        "GET {url} answered something that is not the JSON GitHub documents: {e}"
    ))
}

/// The URL of the `link` header's `rel="next"` entry (RFC 8288:
/// `<url>; rel="next", <url>; rel="last"`), if there is one.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(hyper::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|value| {
            let mut rest = value;
            while let Some(open) = rest.find('<') {
                let close = open + rest[open..].find('>')?;
                let target = &rest[open + 1..close];
                let params_end = rest[close..].find(',').map_or(rest.len(), |i| close + i);
                let params = &rest[close + 1..params_end];
                let is_next = params.split(';').any(|p| {
                    let Some((name, value)) = p.split_once('=') else {
                        return false;
                    };
                    name.trim().eq_ignore_ascii_case("rel")
                        && value
                            .trim()
                            .trim_matches('"')
                            .split_ascii_whitespace()
                            .any(|r| r.eq_ignore_ascii_case("next"))
                });
                if is_next {
                    return Some(target.to_owned());
                }
                rest = &rest[params_end..];
            }
            None
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;
    use serde_json::json;

    /// GitHub's documented example of "List deliveries for a repository webhook": the same
    /// guid delivered, then redelivered.
    fn documented_listing() -> serde_json::Value {
        json!([
            {
                "id": 12345678, "guid": "0b989ba4-242f-11e5-81e1-c7b6966d2516",
                "delivered_at": "2019-06-03T00:57:16Z", "redelivery": false, "duration": 0.27,
                "status": "OK", "status_code": 200, "event": "issues", "action": "opened",
                "installation_id": 123, "repository_id": 456, "throttled_at": "2019-06-03T00:57:16Z"
            },
            {
                "id": 123456789, "guid": "0b989ba4-242f-11e5-81e1-c7b6966d2516",
                "delivered_at": "2019-06-04T00:57:16Z", "redelivery": true, "duration": 0.28,
                "status": "OK", "status_code": 200, "event": "issues", "action": "opened",
                "installation_id": 123, "repository_id": 456, "throttled_at": null
            }
        ])
    }

    fn delivery(id: u64, guid: &str, at: &str, status_code: i64, redelivery: bool) -> Delivery {
        Delivery {
            id,
            guid: guid.into(),
            delivered_at: at.into(),
            redelivery,
            duration: 0.1,
            status: if (200..300).contains(&status_code) {
                "OK".into()
            } else if status_code == 0 {
                "failed to connect".into()
            } else {
                format!("Invalid HTTP Response: {status_code}")
            },
            status_code,
            event: "push".into(),
            action: None,
            installation_id: None,
            repository_id: Some(1),
            throttled_at: None,
        }
    }

    #[test]
    fn reads_githubs_documented_shapes() {
        let listing: Vec<Delivery> = serde_json::from_value(documented_listing()).unwrap();
        assert_eq!(listing.len(), 2);
        assert_eq!(listing[0].throttled_at.as_deref(), Some("2019-06-03T00:57:16Z"));
        assert_eq!(listing[1].throttled_at, None);
        assert!(listing[1].redelivery && listing[1].succeeded());
        assert_eq!(listing[0].event_action(), "issues.opened");
        assert_eq!(listing[0].delivered_unix(), Some(1_559_523_436));
        // throttled_at is optional; action, installation_id and repository_id are nullable.
        let minimal: Delivery = serde_json::from_value(json!({
            "id": 1, "guid": "g", "delivered_at": "2026-12-01T10:00:00Z", "redelivery": false,
            "duration": 10.0, "status": "timed out", "status_code": 0, "event": "push",
            "action": null, "installation_id": null, "repository_id": null
        }))
        .unwrap();
        assert!(!minimal.succeeded());
        assert_eq!(minimal.event_action(), "push");
        // "Get a delivery": the same fields, the URL, the request and the response.
        let detail: DeliveryDetail = serde_json::from_value(json!({
            "id": 12345678, "guid": "0b989ba4-242f-11e5-81e1-c7b6966d2516",
            "delivered_at": "2019-06-03T00:57:16Z", "redelivery": false, "duration": 0.27,
            "status": "OK", "status_code": 200, "event": "issues", "action": "opened",
            "installation_id": 123, "repository_id": 456, "url": "https://www.example.com",
            "throttled_at": "2019-06-03T00:57:16Z",
            "request": { "headers": { "X-GitHub-Event": "issues" }, "payload": { "action": "opened" } },
            "response": { "headers": { "Content-Type": "text/html;charset=utf-8" }, "payload": "ok" }
        }))
        .unwrap();
        assert_eq!(detail.delivery.id, 12345678);
        assert_eq!(detail.response.payload.as_deref(), Some("ok"));
        assert_eq!(detail.request.headers.unwrap()["X-GitHub-Event"], "issues");
        // GitHub's hook listing example.
        let hooks: Vec<Hook> = serde_json::from_value(json!([{
            "type": "Repository", "id": 12345678, "name": "web", "active": true,
            "events": ["push", "pull_request"],
            "config": { "content_type": "json", "insecure_ssl": "0", "url": "https://example.com/webhook" },
            "updated_at": "2019-06-03T00:57:16Z", "created_at": "2019-06-03T00:57:16Z",
            "url": "https://api.github.com/repos/octocat/Hello-World/hooks/12345678",
            "last_response": { "code": null, "status": "unused", "message": null }
        }]))
        .unwrap();
        assert_eq!(hooks[0].config.url.as_deref(), Some("https://example.com/webhook"));
        assert_eq!(hooks[0].events, ["push", "pull_request"]);
    }

    #[test]
    fn a_202_is_a_success_and_anything_not_ok_a_failure() {
        let accepted = delivery(1, "a", "2026-12-01T10:00:00Z", 202, false);
        assert!(accepted.succeeded());
        for code in [0, 301, 400, 401, 413, 500, 502] {
            assert!(
                !delivery(1, "a", "2026-12-01T10:00:00Z", code, false).succeeded(),
                "{code}"
            );
        }
    }

    #[test]
    fn failed_events_recover_when_a_redelivery_succeeds() {
        let deliveries = [
            delivery(7, "recovered", "2026-12-01T12:00:00Z", 202, true),
            delivery(6, "twice", "2026-12-01T11:30:00Z", 502, true),
            delivery(5, "ignored", "2026-12-01T11:00:00Z", 202, false),
            delivery(4, "twice", "2026-12-01T10:30:00Z", 0, false),
            delivery(3, "recovered", "2026-12-01T10:00:00Z", 502, false),
            delivery(2, "once", "2026-12-01T09:00:00Z", 401, false),
            delivery(1, "fine", "2026-12-01T08:00:00Z", 200, false),
        ];
        let found = failures(&deliveries);
        let summary: Vec<(&str, Vec<u64>, Option<u64>)> = found
            .iter()
            .map(|f| {
                (
                    f.guid,
                    f.failed.iter().map(|d| d.id).collect(),
                    f.recovered_by.map(|d| d.id),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("twice", vec![6, 4], None),
                ("recovered", vec![3], Some(7)),
                ("once", vec![2], None),
            ]
        );
        assert_eq!(found[0].latest().id, 6);
        assert!(found[1].recovered() && !found[0].recovered());
        // The order given does not matter.
        let mut reversed = deliveries.to_vec();
        reversed.reverse();
        assert_eq!(failures(&reversed), found);
        assert!(failures(&[]).is_empty());
    }

    fn link(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(hyper::header::LINK, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn next_links() {
        let next = "https://api.github.com/repositories/1/hooks/2/deliveries?per_page=100&cursor=v1_18";
        assert_eq!(
            next_link(&link(&format!(
                "<https://api.github.com/repositories/1/hooks/2/deliveries?per_page=100>; rel=\"prev\", <{next}>; rel=\"next\""
            ))),
            Some(next.to_owned())
        );
        assert_eq!(next_link(&link(&format!("<{next}>; rel=next"))), Some(next.to_owned()));
        assert_eq!(
            next_link(&link(&format!("<{next}>; title=\"x\"; REL=\"last next\""))),
            Some(next.to_owned())
        );
        assert_eq!(next_link(&link(&format!("<{next}>; rel=\"prev\""))), None);
        assert_eq!(next_link(&link(&format!("<{next}>; rel=\"nextpage\""))), None);
        assert_eq!(next_link(&link("garbage")), None);
        assert_eq!(next_link(&link("<unclosed; rel=\"next\"")), None);
        assert_eq!(next_link(&HeaderMap::new()), None);
    }
}
