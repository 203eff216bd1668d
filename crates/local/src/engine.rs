//! The container engine the build's `docker` commands reach: a running Docker engine if
//! there is one, otherwise podman, configured for a machine without one (rootful, no
//! systemd, no overlay mounts).

use crate::process::on_path;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Local mode's `docker` where podman stands in for a Docker engine.
const SHIM: &str = include_str!("docker-shim.sh");

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
    if !on_path("skopeo") {
        return Err("skopeo is not installed: local mode re-tags images with it, as `docker buildx imagetools \
             create` does on CodeBuild. Run 'make demo' as root on Debian, which installs it, or 'apt-get install skopeo'"
            .into());
    }
    // The buildspec says `docker` and `docker buildx`, as on CodeBuild; here podman and
    // skopeo answer (the shim says how).
    let shim = dir.join("bin/docker");
    std::fs::write(&shim, SHIM).map_err(|e| format!("cannot write {}: {e}", shim.display()))?;
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

#[cfg(test)]
mod tests {
    use super::SHIM;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    use std::process::Command;

    /// Stand-ins for podman and skopeo that record their argv, one line each; podman's build
    /// fails as buildah does when asked to write a cache the registry refuses.
    /// A push with `--digestfile F` writes a digest to F, as podman does.
    const PODMAN: &str = "#!/bin/bash\nprintf -v a ' [%s]' \"$@\"\necho \"podman$a\" >> \"$CALLS\"\n\
        case \" $* \" in *' build '*' --cache-to '*) echo 'Error: failed pushing cache to \"r/buildcache\": denied' >&2; exit 125 ;; esac\n\
        p=; for a; do if [ \"$p\" = --digestfile ]; then printf 'sha256:%064d' 7 > \"$a\"; fi; p=$a; done\n";
    const SKOPEO: &str = "#!/bin/bash\nprintf -v a ' [%s]' \"$@\"\necho \"skopeo$a\" >> \"$CALLS\"\n";

    fn shim(dir: &Path, args: &[&str]) -> (bool, Vec<String>) {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for (name, text) in [("docker", SHIM), ("podman", PODMAN), ("skopeo", SKOPEO)] {
            std::fs::write(bin.join(name), text).unwrap();
            std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let calls = dir.join("calls");
        let _ = std::fs::remove_file(&calls);
        let status = Command::new(bin.join("docker"))
            .args(args)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("CALLS", &calls)
            .env("CODEBUILD_SRC_DIR", "/src")
            .env("CONTAINERS_REGISTRIES_CONF", "/conf/registries.conf")
            .output()
            .unwrap();
        let calls = std::fs::read_to_string(&calls).unwrap_or_default();
        (status.status.success(), calls.lines().map(str::to_owned).collect())
    }

    /// A call's argv with the shim's temporary files (`/tmp/tmp.…`) as `TMP`.
    fn without_temporary_paths(call: &str) -> String {
        call.split(' ')
            .map(|arg| if arg.starts_with("[/tmp/tmp.") { "[TMP]" } else { arg })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn a_cache_that_cannot_be_written_is_a_warning_only_with_ignore_error() {
        let dir = std::env::temp_dir().join(format!("dockhand-shim-{}", std::process::id()));
        let build = |ignore: &str| {
            let to = format!("type=registry,ref=127.0.0.1:5000/acme/web:buildcache,mode=max{ignore}");
            shim(
                &dir,
                &[
                    "buildx",
                    "build",
                    "--builder",
                    "dockhand",
                    "--provenance",
                    "false",
                    "--file",
                    "./web/Dockerfile",
                    "--label",
                    "a=$(b)",
                    "--annotation",
                    "manifest:k=v",
                    "--cache-from",
                    "type=registry,ref=127.0.0.1:5000/acme/web:buildcache",
                    "--cache-to",
                    &to,
                    "--output",
                    "type=image,name=127.0.0.1:5000/acme/web:dockhand-k,push=true,oci-mediatypes=true",
                    "./web",
                ],
            )
        };
        let store = "[--root] [/src/.dockhand-podman] [--runroot] [/tmp/dockhand-podman-56c9e1c4b5360a5b]";
        let common = format!(
            "podman {store} [build] [--layers] [--format] [oci] [--file] [./web/Dockerfile] \
             [--iidfile] [TMP] [--cache-from] [127.0.0.1:5000/acme/web/buildcache]"
        );
        let (ok, calls) = build(",ignore-error=true");
        assert!(ok, "{calls:?}");
        assert_eq!(
            calls.iter().map(|c| without_temporary_paths(c)).collect::<Vec<_>>(),
            [
                format!("{common} [--cache-to] [127.0.0.1:5000/acme/web/buildcache] [./web]"),
                format!("{common} [./web]"),
                // The labels and annotations, in one step of their own on the built image.
                format!(
                    "podman {store} [build] [--quiet] [--layers=false] [--pull=never] [--format] [oci] \
                     [--label] [a=$(b)] [--annotation] [k=v] [--tag] [127.0.0.1:5000/acme/web:dockhand-k] \
                     [TMP]"
                ),
                format!("podman {store} [push] [127.0.0.1:5000/acme/web:dockhand-k]"),
            ]
        );
        let (ok, calls) = build("");
        assert!(
            !ok,
            "without ignore-error the build fails, as BuildKit's does: {calls:?}"
        );
        assert_eq!(calls.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A pinned base reaches podman's build as the very `--build-context` argument, and
    /// the digest podman pushed becomes buildx's metadata file.
    #[test]
    fn build_contexts_pass_to_podman_and_the_pushed_digest_becomes_the_metadata_file() {
        let dir = std::env::temp_dir().join(format!("dockhand-shim-bc-{}", std::process::id()));
        let metadata = dir.join("out/metadata.json");
        std::fs::create_dir_all(dir.join("out")).unwrap();
        let digest = format!("sha256:{}", "a".repeat(64));
        let context = format!("127.0.0.1:5000/acme/base=docker-image://127.0.0.1:5000/acme/base@{digest}");
        let metadata_arg = metadata.display().to_string();
        let (ok, calls) = shim(
            &dir,
            &[
                "buildx",
                "build",
                "--file",
                "./web/Dockerfile",
                "--build-context",
                &context,
                "--output",
                "type=image,name=127.0.0.1:5000/acme/web:dockhand-k,push=true",
                "--metadata-file",
                &metadata_arg,
                "./web",
            ],
        );
        assert!(ok, "{calls:?}");
        let calls: Vec<String> = calls.iter().map(|c| without_temporary_paths(c)).collect();
        let store = "[--root] [/src/.dockhand-podman] [--runroot] [/tmp/dockhand-podman-56c9e1c4b5360a5b]";
        // The pinned base is pulled and tagged with its FROM name first, for a FROM that
        // gives the name through an ARG (podman's --build-context matches the text as written).
        let pinned = format!("127.0.0.1:5000/acme/base@{digest}");
        assert_eq!(calls[0], format!("podman {store} [pull] [--quiet] [{pinned}]"));
        assert_eq!(
            calls[1],
            format!("podman {store} [tag] [{pinned}] [127.0.0.1:5000/acme/base]")
        );
        let calls = &calls[2..];
        assert_eq!(
            calls[0],
            format!(
                "podman {store} [build] [--layers] [--format] [oci] [--file] [./web/Dockerfile] \
                 [--build-context] [{context}] [--iidfile] [TMP] [./web]"
            )
        );
        assert_eq!(
            calls[2],
            format!("podman {store} [push] [--digestfile] [TMP] [127.0.0.1:5000/acme/web:dockhand-k]")
        );
        let written = std::fs::read_to_string(&metadata).unwrap();
        let json: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(json["containerimage.digest"], format!("sha256:{:064}", 7));

        // Several platforms: the manifest list's push gives the digest.
        let (ok, calls) = shim(
            &dir,
            &[
                "buildx",
                "build",
                "--platform",
                "linux/amd64,linux/arm64",
                "--build-context",
                &context,
                "--output",
                "type=image,name=r/a:k,push=true",
                "--metadata-file",
                &metadata_arg,
                ".",
            ],
        );
        assert!(ok, "{calls:?}");
        let calls = &calls[2..];
        assert!(
            calls[..2]
                .iter()
                .all(|c| c.contains(&format!("[--build-context] [{context}]"))),
            "{calls:?}"
        );
        assert!(
            calls[2].contains("[manifest] [push] [--all] [--digestfile]"),
            "{calls:?}"
        );
        assert!(
            std::fs::read_to_string(&metadata)
                .unwrap()
                .contains(&format!("{:064}", 7))
        );

        // Any other kind of build context is refused, as is a metadata file without a push.
        for args in [
            &[
                "buildx",
                "build",
                "--build-context",
                "base=../elsewhere",
                "--output",
                "type=image,name=r/a:k,push=true",
                ".",
            ][..],
            &[
                "buildx",
                "build",
                "--metadata-file",
                "m.json",
                "--output",
                "type=image,name=r/a:k",
                ".",
            ],
        ] {
            let (ok, calls) = shim(&dir, args);
            assert!(!ok && calls.is_empty(), "{args:?}: {calls:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn imagetools_create_is_a_digest_preserving_copy_and_anything_else_is_refused() {
        let dir = std::env::temp_dir().join(format!("dockhand-shim-it-{}", std::process::id()));
        let (ok, calls) = shim(
            &dir,
            &[
                "buildx",
                "imagetools",
                "create",
                "--prefer-index=false",
                "--tag",
                "r/a:v1",
                "--tag",
                "r/a:latest",
                "r/a:dockhand-k",
            ],
        );
        assert!(ok);
        let copy =
            "skopeo [--registries-conf] [/conf/registries.conf] [copy] [--quiet] [--all] [--preserve-digests] [--]";
        assert_eq!(
            calls,
            [
                format!("{copy} [docker://r/a:dockhand-k] [docker://r/a:v1]"),
                format!("{copy} [docker://r/a:dockhand-k] [docker://r/a:latest]"),
            ]
        );
        for args in [
            &["buildx", "imagetools", "inspect", "r/a:v1"][..],
            &["buildx", "bake"],
            &[
                "buildx",
                "build",
                "--secret",
                "id=x",
                "--output",
                "type=image,name=r/a:k",
                ".",
            ],
            &["buildx", "build", "--output", "type=local,dest=out", "."],
        ] {
            let (ok, calls) = shim(&dir, args);
            assert!(!ok && calls.is_empty(), "{args:?}: {calls:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
