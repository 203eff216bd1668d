//! Stand-in until the reader lands (graph-reader branch): FROM lines only.

/// The most of a Dockerfile that is read.
pub const MAX_DOCKERFILE_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UseKind {
    From,
    CopyFrom,
    MountFrom,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageUse {
    pub reference: String,
    pub line: usize,
    pub kind: UseKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    pub uses: Vec<ImageUse>,
    pub problems: Vec<String>,
}

pub fn read(text: &[u8], _build_args: &[(String, String)]) -> Parsed {
    let text = String::from_utf8_lossy(text);
    let mut stages = Vec::new();
    let mut uses = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first().is_some_and(|w| w.eq_ignore_ascii_case("from")) {
            let words: Vec<&str> = words[1..].iter().filter(|w| !w.starts_with("--")).copied().collect();
            if let Some(image) = words.first() {
                if !stages.iter().any(|s: &String| s.eq_ignore_ascii_case(image)) && *image != "scratch" {
                    uses.push(ImageUse {
                        reference: image.to_string(),
                        line: i + 1,
                        kind: UseKind::From,
                    });
                }
                if words.len() == 3 {
                    stages.push(words[2].to_owned());
                }
            }
        }
    }
    Parsed {
        uses,
        problems: Vec::new(),
    }
}
