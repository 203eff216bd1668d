//! What people are told: one formatter for build results and for the spawner's own
//! problems, giving an email report, a one-line SMS and a subject SNS accepts.

use crate::plan::Skip;
use crate::request::BuildRequest;
use serde::Serialize;
use std::collections::BTreeMap;

/// SNS rejects subjects over 100 characters, or with anything but printable ASCII.
pub const MAX_SUBJECT: usize = 100;
/// One SMS: 140 characters, kept to ASCII so no carrier re-encodes it into two.
pub const MAX_SMS: usize = 140;
/// Statuses notified unless configured otherwise. FAULT and TIMED_OUT are failures too.
pub const DEFAULT_STATUSES: &[&str] = &["SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "STOPPED"];

/// A finished (or running) build as the notifier reads it back from the event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOutcome {
    pub project: String,
    pub build_id: String,
    pub status: String,
    pub repository: Option<String>,
    pub repository_url: Option<String>,
    pub commit: Option<String>,
    pub git_ref: Option<String>,
    pub context: Option<String>,
    pub image: Option<String>,
    pub tags: Vec<String>,
    pub commit_message: Option<String>,
    pub author: Option<String>,
    pub commit_url: Option<String>,
    pub duration_secs: Option<u64>,
    pub queued_secs: Option<u64>,
    /// The phase that did not succeed, and what CodeBuild said about it.
    pub failed_phase: Option<(String, String)>,
    pub logs_link: Option<String>,
}

/// A message ready for SNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub subject: String,
    pub email: String,
    pub sms: String,
    pub status: String,
    pub repository: String,
}

/// The SNS Publish request, with the SNS API's member names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublishRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_arn: Option<String>,
    pub subject: String,
    pub message: String,
    pub message_structure: String,
    pub message_attributes: BTreeMap<String, MessageAttribute>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageAttribute {
    pub data_type: String,
    pub string_value: String,
}

impl Notification {
    /// The Publish request: `MessageStructure=json` with `default`, `email` and `sms`, and the
    /// `status` and `repository` attributes subscriptions can filter on.
    pub fn publish_request(&self, topic_arn: Option<&str>) -> PublishRequest {
        let message = serde_json::json!({ "default": self.email, "email": self.email, "sms": self.sms });
        let attribute = |v: &str| MessageAttribute {
            data_type: "String".into(),
            string_value: v.into(),
        };
        PublishRequest {
            topic_arn: topic_arn.map(str::to_owned),
            subject: self.subject.clone(),
            message: message.to_string(),
            message_structure: "json".into(),
            message_attributes: BTreeMap::from([
                ("repository".to_owned(), attribute(&self.repository)),
                ("status".to_owned(), attribute(&self.status)),
            ]),
        }
    }
}

/// The report of one build.
pub fn build_notification(o: &BuildOutcome) -> Notification {
    let image = o
        .image
        .clone()
        .unwrap_or_else(|| format!("(no image recorded; build {})", o.build_id));
    let short_image = o.image.as_deref().map(short_image).unwrap_or("unknown image");
    let sha7 = o.commit.as_deref().map(|c| &c[..c.len().min(7)]).unwrap_or("-------");
    let first_line = o.commit_message.as_deref().map(first_line).unwrap_or_default();
    let succeeded = o.status == "SUCCEEDED";

    let mut email = String::new();
    let mut line = |label: &str, value: &str| {
        if !value.is_empty() {
            email.push_str(&format!("{label:<12}{value}\n"));
        }
    };
    line("Status:", &o.status);
    line("Image:", &image);
    let tags = o.tags.join(", ");
    line(
        "Tags:",
        &match o.status.as_str() {
            "SUCCEEDED" => format!("{tags} (pushed)"),
            "IN_PROGRESS" => format!("{tags} (building)"),
            _ => format!("{tags} (not pushed)"),
        },
    );
    line("Repository:", o.repository.as_deref().unwrap_or(""));
    line("Ref:", &clean_line(o.git_ref.as_deref().unwrap_or(""), 300));
    line("Commit:", format!("{sha7} {first_line}").trim_end());
    line("Author:", &clean_line(o.author.as_deref().unwrap_or(""), 200));
    line("Directory:", &clean_line(o.context.as_deref().unwrap_or(""), 300));
    let timing = match (o.duration_secs, o.queued_secs) {
        (Some(d), Some(q)) => format!("{} (queued {})", human(d), human(q)),
        (Some(d), None) => human(d),
        (None, Some(q)) => format!("queued {}", human(q)),
        (None, None) => String::new(),
    };
    line("Duration:", &timing);
    if !succeeded && let Some((phase, context)) = &o.failed_phase {
        email.push_str(&format!("\nFailed phase: {phase}\n"));
        if !context.is_empty() {
            email.push_str(&format!("  {}\n", clean_line(context, 2000)));
        }
    }
    email.push('\n');
    if let Some(link) = &o.logs_link {
        email.push_str(&format!("Logs:   {link}\n"));
    }
    if let Some(url) = commit_link(o) {
        email.push_str(&format!("Commit: {url}\n"));
    }
    email.push_str(&format!("Build:  {}\n", o.build_id));

    Notification {
        subject: subject(&format!("dockhand {}: {short_image} @{sha7} {first_line}", o.status)),
        sms: sms(&format!("dockhand {} {short_image} @{sha7}", o.status)),
        email: format!("dockhand build {} for {short_image}\n\n{email}", o.status),
        status: o.status.clone(),
        repository: attribute_value(o.repository.as_deref()),
    }
}

/// The spawner's problems with one push: directories it could not build, or the push as a whole.
pub fn skip_notification(request: &BuildRequest, skips: &[Skip]) -> Notification {
    let sha7 = &request.commit[..request.commit.len().min(7)];
    let mut email = format!(
        "dockhand could not build {} director{} of this push.\n\nRepository: {}\nRef:        {}\nCommit:     {sha7} {}\n\n",
        skips.len(),
        if skips.len() == 1 { "y" } else { "ies" },
        request.repository.full_name,
        clean_line(&request.git_ref, 300),
        request
            .head_commit
            .as_ref()
            .map(|h| first_line(&h.message))
            .unwrap_or_default(),
    );
    for skip in skips {
        email.push_str(&format!(
            "- {}: {}\n",
            clean_line(&skip.context, 300),
            clean_line(&skip.reason, 2000)
        ));
    }
    Notification {
        subject: subject(&format!("dockhand NOT BUILT: {} @{sha7}", request.repository.full_name)),
        sms: sms(&format!(
            "dockhand NOT BUILT {} @{sha7}: {} directories",
            request.repository.full_name,
            skips.len()
        )),
        email,
        status: "NOT_BUILT".into(),
        repository: attribute_value(Some(&request.repository.full_name)),
    }
}

fn attribute_value(s: Option<&str>) -> String {
    let v = clean_line(s.unwrap_or(""), 256);
    if v.is_empty() { "unknown".into() } else { v }
}

/// `docker.io/acme/web` reads as `acme/web`.
fn short_image(image: &str) -> &str {
    image.strip_prefix("docker.io/").unwrap_or(image)
}

fn commit_link(o: &BuildOutcome) -> Option<String> {
    if let Some(url) = &o.commit_url {
        return Some(url.clone());
    }
    let base = o.repository_url.as_deref()?.trim_end_matches(".git");
    base.starts_with("https://")
        .then(|| format!("{base}/commit/{}", o.commit.as_deref().unwrap_or("")))
}

fn first_line(message: &str) -> String {
    clean_line(message.lines().find(|l| !l.trim().is_empty()).unwrap_or(""), 200)
}

/// One line of display text: control characters and bidirectional overrides (which can make
/// text read backwards) removed, whitespace runs collapsed, at most `max` characters.
pub fn clean_line(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .collect();
    let collapsed = cleaned
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    ellipsize(&collapsed, max)
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}')
}

fn ellipsize(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(3)).collect();
    out.truncate(out.trim_end().len());
    out.push_str("...");
    out
}

fn ascii_line(s: &str, max: usize) -> String {
    let ascii: String = clean_line(s, usize::MAX)
        .chars()
        .filter(|c| (' '..='~').contains(c))
        .collect();
    ellipsize(
        ascii
            .split(' ')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
            .as_str(),
        max,
    )
}

/// A subject SNS accepts, whatever went into it.
pub fn subject(s: &str) -> String {
    let line = ascii_line(s, MAX_SUBJECT);
    if line.is_empty() { "dockhand".into() } else { line }
}

/// A one-line, one-message SMS.
pub fn sms(s: &str) -> String {
    ascii_line(s, MAX_SMS)
}

fn human(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests;
