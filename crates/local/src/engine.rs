//! The container engine the build's `docker` commands reach: a running Docker engine if
//! there is one, otherwise podman, configured for a machine without one (rootful, no
//! systemd, no overlay mounts).

use crate::process::on_path;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Engine {
    /// What the demo prints.
    pub name: &'static str,
    /// Put first on the build's PATH: holds `docker` when podman stands in for it.
    pub bin_dir: Option<PathBuf>,
    /// Variables the build's `docker` commands need.
    pub env: Vec<(String, String)>,
}

/// Chooses and configures the engine; `registry` is the local registry's `host:port`,
/// which speaks plain HTTP.
pub fn detect(dir: &Path, registry: &str) -> Result<Engine, String> {
    let docker_runs = on_path("docker")
        && Command::new("docker")
            .arg("info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if docker_runs {
        // Docker treats 127.0.0.0/8 registries as insecure (plain HTTP) by default.
        return Ok(Engine {
            name: "docker",
            bin_dir: None,
            env: vec![("DOCKER_CONFIG".into(), dir.join("docker-config").display().to_string())],
        });
    }
    if !on_path("podman") {
        return Err("no container engine: neither a running Docker engine nor podman. \
             Run 'make demo' as root on Debian, which installs podman, or 'apt-get install podman'"
            .into());
    }
    let write = |name: &str, text: String| -> Result<String, String> {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path.display().to_string())
    };
    std::fs::create_dir_all(dir.join("bin")).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let quote = |p: PathBuf| serde_json::to_string(&p.display().to_string()).expect("a string serializes");
    // vfs: plain directories, no overlay mounts; the storage is local mode's own.
    let storage = write(
        "storage.conf",
        format!(
            "[storage]\ndriver = \"vfs\"\nrunroot = {}\ngraphroot = {}\n",
            quote(dir.join("run")),
            quote(dir.join("graph"))
        ),
    )?;
    let registries = write(
        "registries.conf",
        format!("unqualified-search-registries = []\n\n[[registry]]\nlocation = \"{registry}\"\ninsecure = true\n"),
    )?;
    let containers = write(
        "containers.conf",
        "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n".into(),
    )?;
    // The buildspec says `docker`, as on CodeBuild; here podman answers.
    let shim = dir.join("bin/docker");
    std::fs::write(&shim, "#!/bin/sh\nexec podman \"$@\"\n")
        .map_err(|e| format!("cannot write {}: {e}", shim.display()))?;
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| format!("cannot make {} executable: {e}", shim.display()))?;
    Ok(Engine {
        name: "podman (vfs storage, chroot isolation)",
        bin_dir: Some(dir.join("bin")),
        env: vec![
            ("CONTAINERS_STORAGE_CONF".into(), storage),
            ("CONTAINERS_REGISTRIES_CONF".into(), registries),
            ("CONTAINERS_CONF".into(), containers),
            // No engine to run build steps in namespaces: chroot, which needs root.
            ("BUILDAH_ISOLATION".into(), "chroot".into()),
            ("REGISTRY_AUTH_FILE".into(), dir.join("auth.json").display().to_string()),
        ],
    })
}
