//! A real container registry with htpasswd authentication (Debian's `docker-registry`),
//! and what local mode reads back from it through the Registry HTTP API v2.

use crate::process::{Service, free_port, on_path};
use crate::strings;
use base64::Engine as _;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

pub struct Registry {
    _service: Service,
    /// `127.0.0.1:PORT`, as image names carry it.
    pub host: String,
    pub user: String,
    password: String,
}

impl Registry {
    /// Starts a registry storing under `dir`, accepting `user` with `password` only.
    pub fn start(dir: &Path, user: &str, password: &str) -> Result<Registry, String> {
        if !on_path("docker-registry") {
            return Err(
                "Debian's docker-registry is not installed: run 'make demo' as root, which installs it, \
                 or 'apt-get install docker-registry'"
                    .into(),
            );
        }
        if !on_path("htpasswd") {
            return Err("htpasswd is not installed: 'apt-get install apache2-utils'".into());
        }
        std::fs::create_dir_all(dir.join("data")).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        // The password goes to htpasswd on stdin, never on a command line.
        let mut child = Command::new("htpasswd")
            .args(["-niB", user])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run htpasswd: {e}"))?;
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(format!("{password}\n").as_bytes())
            .map_err(|e| format!("cannot write to htpasswd: {e}"))?;
        let out = child.wait_with_output().map_err(|e| format!("htpasswd: {e}"))?;
        if !out.status.success() {
            return Err(format!("htpasswd failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let htpasswd = dir.join("htpasswd");
        std::fs::write(&htpasswd, &out.stdout).map_err(|e| format!("cannot write {}: {e}", htpasswd.display()))?;
        let port = free_port();
        // JSON strings are YAML scalars, so paths are quoted whatever they hold.
        let quote = |p: &Path| serde_json::to_string(&p.display().to_string()).expect("a string serializes");
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: dockhand-local\n    path: {}\n",
            quote(&dir.join("data")),
            quote(&htpasswd)
        );
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config).map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
        let mut command = Command::new("docker-registry");
        command.arg("serve").arg(&config_path);
        let mut service = Service::spawn("the registry (docker-registry)", command, &dir.join("registry.log"))?;
        service.wait_for_port(port, Duration::from_secs(30))?;
        Ok(Registry {
            _service: service,
            host: format!("127.0.0.1:{port}"),
            user: user.to_owned(),
            password: password.to_owned(),
        })
    }

    fn get(&self, path: &str, accept: Option<&str>) -> Result<ureq::http::Response<ureq::Body>, String> {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.user, self.password));
        let mut request =
            ureq::get(format!("http://{}{path}", self.host)).header("Authorization", format!("Basic {auth}"));
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        request
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .map_err(|e| format!("registry {}{path}: {e}", self.host))
    }

    /// Every repository in the registry.
    pub fn repositories(&self) -> Result<Vec<String>, String> {
        let mut response = self.get("/v2/_catalog", None)?;
        let body = json(&mut response, "registry catalog")?;
        Ok(strings(&body["repositories"]))
    }

    /// The tags of `repository` (`acme/web`), sorted; none if it does not exist.
    pub fn tags(&self, repository: &str) -> Result<Vec<String>, String> {
        let mut response = self.get(&format!("/v2/{repository}/tags/list"), None)?;
        if response.status() == 404 {
            return Ok(Vec::new());
        }
        let body = json(&mut response, &format!("registry tags of {repository}"))?;
        let mut tags = strings(&body["tags"]);
        tags.sort();
        Ok(tags)
    }

    /// The manifest (an image's, or an index of several platforms') of `repository:tag`.
    pub fn manifest(&self, repository: &str, tag: &str) -> Result<serde_json::Value, String> {
        let mut response = self.get(&format!("/v2/{repository}/manifests/{tag}"), Some(MANIFESTS))?;
        if response.status() != 200 {
            return Err(format!("registry: {repository}:{tag} answered {}", response.status()));
        }
        json(&mut response, &format!("the manifest of {repository}:{tag}"))
    }

    /// The image configuration of `repository:tag` (an image manifest's `config` blob):
    /// its labels are `["config"]["Labels"]`.
    pub fn config(&self, repository: &str, tag: &str) -> Result<serde_json::Value, String> {
        let manifest = self.manifest(repository, tag)?;
        let digest = manifest["config"]["digest"]
            .as_str()
            .ok_or_else(|| format!("{repository}:{tag} is not an image manifest: {manifest}"))?;
        let mut response = self.get(&format!("/v2/{repository}/blobs/{digest}"), None)?;
        json(&mut response, &format!("the configuration of {repository}:{tag}"))
    }

    /// The manifest digest of `repository:tag`.
    pub fn digest(&self, repository: &str, tag: &str) -> Result<String, String> {
        let response = self.get(&format!("/v2/{repository}/manifests/{tag}"), Some(MANIFESTS))?;
        if response.status() != 200 {
            return Err(format!("registry: {repository}:{tag} answered {}", response.status()));
        }
        response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| format!("registry: no digest for {repository}:{tag}"))
    }
}

/// Every manifest kind a push of dockhand's may leave: OCI and Docker, image and index.
const MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, \
                         application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";

fn json(response: &mut ureq::http::Response<ureq::Body>, what: &str) -> Result<serde_json::Value, String> {
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("{what}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{what}: {e}: {text}"))
}
