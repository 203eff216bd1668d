//! Orders: builds someone asked for (`dockhand build`) or the schedule asked for (the
//! scheduled refresh), sent to the requests queue as `{"order": {…}}` and planned by the
//! spawner like a push; and the record the spawner keeps of each order's plan, which
//! `dockhand build --wait` follows.

use crate::config::is_github_name;
use crate::request::is_commit_id;
use crate::trust::{check_path, check_ref};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderKind {
    Manual,
    Refresh,
}

/// A build someone asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// `[a-z0-9-]`, 8 to 64 characters: [`new_id`].
    pub id: String,
    pub kind: OrderKind,
    /// `owner/name`.
    pub repository: String,
    /// A full ref, or a bare name (a branch, then a tag); absent: the default branch.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// A full commit id; absent: the ref's head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Repository-relative directories ("." for the root); empty: every image.
    #[serde(default)]
    pub directories: Vec<String>,
    /// Who asked: free text, at most [`MAX_BY`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// When it was asked, Unix seconds.
    pub at: u64,
}

/// The requests queue's message of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderMessage {
    pub order: Order,
}

/// The ledger item of an order's plan is `order#<id>`.
pub const ORDER_RECORD_PREFIX: &str = "order#";

/// How many characters `by` may have.
pub const MAX_BY: usize = 100;

/// What the spawner planned for an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub commit: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    #[serde(default)]
    pub builds: Vec<OrderedBuild>,
    #[serde(default)]
    pub skipped: Vec<OrderedSkip>,
    /// Why the order could not be planned at all.
    #[serde(default)]
    pub refused: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderedBuild {
    pub context: String,
    pub image: String,
    /// The build's key in the ledger.
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderedSkip {
    pub context: String,
    pub reason: String,
}

impl Order {
    /// Every field as the contract allows it; the message says which is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let id_ok = (8..=64).contains(&self.id.len())
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(format!(
                "order id {:?} is not 8 to 64 of a-z, 0-9 and -",
                shorten(&self.id)
            ));
        }
        match self.repository.split_once('/') {
            Some((owner, name)) if is_github_name(owner) && is_github_name(name) => {}
            _ => {
                return Err(format!(
                    "repository {:?} is not OWNER/NAME (letters, digits, . _ -)",
                    shorten(&self.repository)
                ));
            }
        }
        if let Some(git_ref) = &self.git_ref {
            let full = if git_ref.starts_with("refs/") {
                git_ref.clone()
            } else {
                format!("refs/heads/{git_ref}")
            };
            check_ref(&full).map_err(|e| format!("ref: {e}"))?;
        }
        if let Some(commit) = &self.commit
            && !(commit.len() == 40 && is_commit_id(commit))
        {
            return Err(format!(
                "commit {:?} is not a full commit id (40 hexadecimal digits)",
                shorten(commit)
            ));
        }
        for (i, directory) in self.directories.iter().enumerate() {
            check_path(directory).map_err(|why| format!("directory {:?} {why}", shorten(directory)))?;
            if self.directories[..i].contains(directory) {
                return Err(format!("directory {:?} is named twice", shorten(directory)));
            }
        }
        if let Some(by) = &self.by
            && (by.chars().count() > MAX_BY || by.chars().any(char::is_control))
        {
            return Err(format!(
                "by {:?} is longer than {MAX_BY} characters or has a control character",
                shorten(by)
            ));
        }
        Ok(())
    }
}

/// A new order id: `m-` (manual) or `r-` (refresh) and 32 hexadecimal digits of 16 random
/// bytes (from /dev/urandom; where it cannot be read, of a hash of the time, the process
/// and a counter).
pub fn new_id(kind: &OrderKind) -> String {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let digest = Sha256::new()
            .chain_update(now.to_le_bytes())
            .chain_update(std::process::id().to_le_bytes())
            .chain_update(count.to_le_bytes())
            .finalize();
        bytes.copy_from_slice(&digest[..16]);
    }
    let prefix = match kind {
        OrderKind::Manual => "m-",
        OrderKind::Refresh => "r-",
    };
    format!("{prefix}{}", hex::encode(bytes))
}

fn shorten(s: &str) -> String {
    s.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order() -> Order {
        Order {
            id: "m-5f1c0b6a2e9d4c7f8a1b3c5d7e9f0a12".into(),
            kind: OrderKind::Manual,
            repository: "owner/name".into(),
            git_ref: Some("refs/heads/main".into()),
            commit: Some("3e8a1f5c0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f".into()),
            directories: vec!["web".into(), "api".into()],
            by: Some("alice".into()),
            at: 1_764_662_400,
        }
    }

    #[test]
    fn an_order_message_has_the_contracts_shape_and_reads_back() {
        let message = OrderMessage { order: order() };
        let text = serde_json::to_value(&message).unwrap();
        assert_eq!(
            text,
            json!({"order": {
                "id": "m-5f1c0b6a2e9d4c7f8a1b3c5d7e9f0a12", "kind": "manual", "repository": "owner/name",
                "ref": "refs/heads/main", "commit": "3e8a1f5c0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f",
                "directories": ["web", "api"], "by": "alice", "at": 1_764_662_400
            }})
        );
        assert_eq!(serde_json::from_value::<OrderMessage>(text).unwrap(), message);
    }

    #[test]
    fn absent_fields_are_left_out_and_read_as_absent() {
        let bare = Order {
            kind: OrderKind::Refresh,
            git_ref: None,
            commit: None,
            directories: vec![],
            by: None,
            ..order()
        };
        let text = serde_json::to_value(&bare).unwrap();
        assert_eq!(
            text,
            json!({"id": "m-5f1c0b6a2e9d4c7f8a1b3c5d7e9f0a12", "kind": "refresh", "repository": "owner/name",
                   "directories": [], "at": 1_764_662_400})
        );
        let read: Order = serde_json::from_value(
            json!({"id": bare.id, "kind": "refresh", "repository": "owner/name", "at": 1_764_662_400}),
        )
        .unwrap();
        assert_eq!(read, bare);
    }

    #[test]
    fn an_order_record_reads_back() {
        let text = r#"{"commit":"abc","ref":"refs/heads/main",
            "builds":[{"context":"web","image":"acme/web","key":"k1"}],
            "skipped":[{"context":"api","reason":"no Dockerfile"}],"refused":null}"#;
        let record: OrderRecord = serde_json::from_str(text).unwrap();
        assert_eq!(record.builds[0].key, "k1");
        assert_eq!(record.skipped[0].reason, "no Dockerfile");
        let again: OrderRecord = serde_json::from_str(&serde_json::to_string(&record).unwrap()).unwrap();
        assert_eq!(again, record);
        let refused: OrderRecord =
            serde_json::from_str(r#"{"commit":null,"ref":null,"refused":"not listed"}"#).unwrap();
        assert_eq!(refused.refused.as_deref(), Some("not listed"));
        assert!(refused.builds.is_empty() && refused.skipped.is_empty());
    }

    #[test]
    fn validation_names_the_wrong_field() {
        assert_eq!(order().validate(), Ok(()));
        let bare_ref = Order {
            git_ref: Some("release/1.2".into()),
            ..order()
        };
        assert_eq!(bare_ref.validate(), Ok(()));
        let cases: Vec<(Order, &str)> = vec![
            (
                Order {
                    id: "M-1".into(),
                    ..order()
                },
                "order id",
            ),
            (
                Order {
                    repository: "owner".into(),
                    ..order()
                },
                "repository",
            ),
            (
                Order {
                    repository: "o/n/x".into(),
                    ..order()
                },
                "repository",
            ),
            (
                Order {
                    git_ref: Some("a..b".into()),
                    ..order()
                },
                "ref:",
            ),
            (
                Order {
                    commit: Some("abc".into()),
                    ..order()
                },
                "commit",
            ),
            (
                Order {
                    directories: vec!["../x".into()],
                    ..order()
                },
                "directory",
            ),
            (
                Order {
                    directories: vec!["/x".into()],
                    ..order()
                },
                "directory",
            ),
            (
                Order {
                    directories: vec!["a".into(), "a".into()],
                    ..order()
                },
                "twice",
            ),
            (
                Order {
                    by: Some("x".repeat(101)),
                    ..order()
                },
                "by",
            ),
            (
                Order {
                    by: Some("a\u{1b}b".into()),
                    ..order()
                },
                "by",
            ),
        ];
        for (order, field) in cases {
            let e = order.validate().unwrap_err();
            assert!(e.contains(field), "{e} should name {field}");
        }
    }

    #[test]
    fn ids_are_prefixed_valid_and_distinct() {
        let a = new_id(&OrderKind::Manual);
        let b = new_id(&OrderKind::Manual);
        assert!(a.starts_with("m-") && a.len() == 34, "{a}");
        assert!(new_id(&OrderKind::Refresh).starts_with("r-"));
        assert_ne!(a, b);
        assert_eq!(Order { id: a, ..order() }.validate(), Ok(()));
    }
}
