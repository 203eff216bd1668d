//! Stand-in until the reader lands (graph-reader branch).

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

pub fn parse(reference: &str) -> Result<ImageRef, String> {
    let (rest, digest) = match reference.split_once('@') {
        Some((r, d)) => (r, Some(d.to_owned())),
        None => (reference, None),
    };
    let (name, tag) = match rest.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t.to_owned())),
        _ => (rest, None),
    };
    if name.is_empty() || name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("is not a reference".into());
    }
    let (domain, path) = match name.split_once('/') {
        Some((d, p)) if d.contains('.') || d.contains(':') || d == "localhost" => (d.to_owned(), p.to_owned()),
        _ => ("docker.io".to_owned(), name.to_owned()),
    };
    let domain = if domain == "index.docker.io" { "docker.io".to_owned() } else { domain };
    let path = if domain == "docker.io" && !path.contains('/') { format!("library/{path}") } else { path };
    Ok(ImageRef { domain, path, tag, digest })
}

impl ImageRef {
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
}
