//! What an image is made of, as one key: an image whose key was pushed before is given its
//! new tags without a build (a re-tag, [`crate::retag`]).
//!
//! The key is SHA-256 over length-prefixed parts: a version, the git tree id of the build
//! context at the commit (equal ids mean every file below is equal), the Dockerfile's path,
//! the Dockerfile's blob id when it lies outside the context, the build arguments, the
//! platforms, whether the build runs the autotests beside the Dockerfile, and the revision
//! of the buildspec compiled in (so a change to how images are built changes every key).
//! An image pushed by a build whose tests were off (a branch, under `autotest:
//! default_branch`) has another key than a tested one: a ref whose tests must run is never
//! given, by a re-tag, an image that was never tested. When the context's tree id is unknown (a plan from the push
//! payload alone, or a listing without tree ids), the key is made over the commit instead:
//! it never matches another commit's, and the image is built.
//!
//! Every image build pushes the immutable tag [`key_tag`] besides its own tags and labels
//! the image `dev.dockhand.image-key`; when it succeeds the notifier records
//! [`record_key`] in the ledger table. The re-tag job copies the key tag to the new tags.

use crate::tree::ObjectId;
use sha2::{Digest, Sha256};

/// The environment variable carrying an image build's key (64 hex digits).
pub const IMAGE_KEY_VARIABLE: &str = "DOCKHAND_IMAGE_KEY";
/// The environment variable carrying the tag the build pushes under its key.
pub const KEY_TAG_VARIABLE: &str = "DOCKHAND_KEY_TAG";
/// Every key tag starts so: no ref rule gives a tag this prefix by accident.
pub const KEY_TAG_PREFIX: &str = "dockhand-";
/// The label every image build sets to its key.
pub const KEY_LABEL: &str = "dev.dockhand.image-key";
/// The ledger items recording pushed images start so; build keys are plain hex.
pub const RECORD_PREFIX: &str = "image#";
/// How long an image's record is kept after its last build (DynamoDB's TTL removes it):
/// an image not built for this long is built again, in case its key tag is gone.
pub const RECORD_DAYS: u64 = 90;

/// What the build context is, as far as the planner knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context<'a> {
    /// The git tree id of the context directory at the commit.
    Tree(ObjectId),
    /// Unknown: the key is made over the commit id, so it is this commit's alone.
    Commit(&'a str),
}

/// The parts of an image's key.
#[derive(Debug, Clone, Copy)]
pub struct ImageInputs<'a> {
    pub context: Context<'a>,
    /// The Dockerfile, relative to the repository root.
    pub dockerfile: &'a str,
    /// The Dockerfile's blob id, when the Dockerfile is outside the context (inside it,
    /// the context's tree id covers it).
    pub dockerfile_blob: Option<ObjectId>,
    /// `DOCKHAND_BUILD_ARGS` as rendered: `KEY=value` lines.
    pub build_args: &'a str,
    pub platforms: &'a [String],
    /// The keys of the images of this repository it is built from ([`crate::graph`]):
    /// a new base makes a new image. Empty for an image built from none.
    pub bases: &'a [String],
    /// Whether the build runs the directory's autotests before it pushes
    /// ([`crate::start_build::runs_tests`]).
    pub autotest: bool,
}

/// The key of an image: 64 hexadecimal digits.
pub fn image_key(inputs: &ImageInputs<'_>) -> String {
    image_key_with(inputs, crate::buildspec::revision())
}

/// The key, with the buildspec revision given.
fn image_key_with(inputs: &ImageInputs<'_>, revision: &str) -> String {
    let context = match inputs.context {
        Context::Tree(id) => format!("tree:{id}"),
        Context::Commit(commit) => format!("commit:{commit}"),
    };
    let blob = inputs.dockerfile_blob.map(|b| b.to_string()).unwrap_or_default();
    let platforms = inputs.platforms.join(",");
    let mut h = Sha256::new();
    for part in [
        "dockhand-image-v1",
        &context,
        inputs.dockerfile,
        &blob,
        inputs.build_args,
        &platforms,
        revision,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    // Only when there are bases, so the key of an image built from none is unchanged.
    if !inputs.bases.is_empty() {
        let mut bases = inputs.bases.to_vec();
        bases.sort();
        let bases = format!("bases:{}", bases.join(","));
        h.update((bases.len() as u64).to_be_bytes());
        h.update(bases.as_bytes());
    }
    // Only when off, so the key of a tested image (the default) is made as before.
    if !inputs.autotest {
        let untested = "autotest:off";
        h.update((untested.len() as u64).to_be_bytes());
        h.update(untested.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The immutable tag every build of this key pushes: `dockhand-` and the key's first 32
/// hexadecimal digits (128 bits; a Docker tag holds at most 128 characters).
pub fn key_tag(key: &str) -> String {
    format!("{KEY_TAG_PREFIX}{}", &key[..key.len().min(32)])
}

/// True for a key as [`image_key`] makes them.
pub fn is_image_key(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// True for a tag as [`key_tag`] makes them.
pub fn is_key_tag(tag: &str) -> bool {
    tag.strip_prefix(KEY_TAG_PREFIX)
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// The ledger item recording that `repository` (`registry/path`, no tag) holds an image
/// pushed under `key`.
pub fn record_key(repository: &str, key: &str) -> String {
    format!("{RECORD_PREFIX}{repository}#{key}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn oid(byte: u8) -> ObjectId {
        [byte; 20].into()
    }

    fn base<'a>(platforms: &'a [String]) -> ImageInputs<'a> {
        ImageInputs {
            context: Context::Tree(oid(1)),
            dockerfile: "web/Dockerfile",
            dockerfile_blob: None,
            build_args: "A=1",
            platforms,
            bases: &[],
            autotest: true,
        }
    }

    #[test]
    fn the_same_inputs_give_the_same_key_and_every_part_changes_it() {
        let none: Vec<String> = vec![];
        let arm = vec!["linux/arm64".to_owned()];
        let both = vec!["linux/amd64".to_owned(), "linux/arm64".to_owned()];
        let bases_one = vec!["1".repeat(64)];
        let bases_two = vec!["2".repeat(64), "1".repeat(64)];
        let key = image_key(&base(&none));
        assert_eq!(key, image_key(&base(&none)));
        assert!(is_image_key(&key));
        let variants = [
            ImageInputs {
                context: Context::Tree(oid(2)),
                ..base(&none)
            },
            ImageInputs {
                context: Context::Commit(&"01".repeat(20)),
                ..base(&none)
            },
            ImageInputs {
                dockerfile: "web/Dockerfile.prod",
                ..base(&none)
            },
            ImageInputs {
                dockerfile_blob: Some(oid(3)),
                ..base(&none)
            },
            ImageInputs {
                build_args: "A=2",
                ..base(&none)
            },
            ImageInputs {
                build_args: "",
                ..base(&none)
            },
            base(&arm),
            base(&both),
            ImageInputs {
                bases: &bases_one,
                ..base(&none)
            },
            ImageInputs {
                bases: &bases_two,
                ..base(&none)
            },
            // Untested is another image than tested, whatever else is equal.
            ImageInputs {
                autotest: false,
                ..base(&none)
            },
            ImageInputs {
                autotest: false,
                bases: &bases_one,
                ..base(&none)
            },
        ];
        let mut seen = std::collections::BTreeSet::from([key.clone()]);
        for v in &variants {
            assert!(seen.insert(image_key(v)), "{v:?} collides");
        }
        // The bases' order does not matter.
        let reordered = vec!["1".repeat(64), "2".repeat(64)];
        assert_eq!(
            image_key(&ImageInputs {
                bases: &bases_two,
                ..base(&none)
            }),
            image_key(&ImageInputs {
                bases: &reordered,
                ..base(&none)
            })
        );
        // The buildspec's revision is a part too.
        assert_ne!(image_key_with(&base(&none), "x"), image_key_with(&base(&none), "y"));
        assert_eq!(
            image_key(&base(&none)),
            image_key_with(&base(&none), crate::buildspec::revision())
        );
        // A tree id and a commit id with the same hex are different contexts.
        let hex = oid(1).to_string();
        assert_ne!(
            key,
            image_key(&ImageInputs {
                context: Context::Commit(&hex),
                ..base(&none)
            })
        );
    }

    #[test]
    fn a_key_tag_is_a_short_docker_tag_of_the_key() {
        let key = "0123456789abcdef".repeat(4);
        assert_eq!(key_tag(&key), "dockhand-0123456789abcdef0123456789abcdef");
        assert!(is_key_tag(&key_tag(&key)));
        assert!(crate::docker_ref::validate_tag(&key_tag(&key)).is_ok());
        for bad in [
            "dockhand-",
            "latest",
            "dockhand-0123456789ABCDEF0123456789abcdef",
            "dockhand-0123456789abcdef0123456789abcde",
        ] {
            assert!(!is_key_tag(bad), "{bad}");
        }
        assert_eq!(
            record_key("docker.io/acme/web", &key),
            format!("image#docker.io/acme/web#{key}")
        );
    }

    proptest! {
        /// Parts never run into each other: moving text from one part to the next changes
        /// the key.
        #[test]
        fn parts_are_length_prefixed(a in "[a-zA-Z=/._-]{0,12}", b in "[a-zA-Z=/._-]{1,12}") {
            let none: Vec<String> = vec![];
            let one = ImageInputs { dockerfile: &a, build_args: &b, ..base(&none) };
            let joined = format!("{a}{b}");
            let other = ImageInputs { dockerfile: &joined, build_args: "", ..base(&none) };
            prop_assert_ne!(image_key(&one), image_key(&other));
        }
    }
}
