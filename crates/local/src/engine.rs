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
    let containers = write("containers.conf", containers_conf(on_path("runc")))?;
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

/// podman's configuration for the containers a build runs (`docker run`, Compose's
/// services): limits any machine grants, since a sandbox such as gVisor refuses podman's
/// default raise (nofile 1048576) and so every container; and runc where installed, which
/// runs where crun cannot ("cgroups in hybrid mode not supported").
fn containers_conf(runc: bool) -> String {
    let runtime = if runc { "runtime = \"runc\"\n" } else { "" };
    format!(
        "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\n\
         [engine]\n{runtime}cgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n"
    )
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
    /// skopeo's raw manifest is 19 bytes.
    const SKOPEO: &str = "#!/bin/bash\nprintf -v a ' [%s]' \"$@\"\necho \"skopeo$a\" >> \"$CALLS\"\n\
        case \" $* \" in *' inspect --raw '*) printf '{\"schemaVersion\":2}' ;; esac\n";
    /// podman-compose records its argv too, with whether it was told to be this shim's
    /// podman; `up` prints a service's line in colour and ends as its sut did, here with 3.
    const PODMAN_COMPOSE: &str = "#!/bin/bash\nprintf -v a ' [%s]' \"$@\"\n\
        echo \"podman-compose$a${DOCKHAND_SHIM_AS_PODMAN:+ (as podman)}\" >> \"$CALLS\"\n\
        case \" $* \" in *' up '*) printf '\\033[1;32m[sut] |\\033[0m sut: ok\\n'; exit 3 ;; *' --version '*) echo 'podman-compose version 1.6.0' ;; esac\n";

    fn shim(dir: &Path, args: &[&str]) -> (bool, Vec<String>) {
        let (out, calls) = shim_with(dir, args, &[]);
        (out.status.success(), calls)
    }

    /// Runs the shim as the build's `docker` with `env`; answers its output and the calls
    /// the stand-ins recorded.
    fn shim_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (std::process::Output, Vec<String>) {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for (name, text) in [
            ("docker", SHIM),
            ("podman", PODMAN),
            ("skopeo", SKOPEO),
            ("podman-compose", PODMAN_COMPOSE),
        ] {
            std::fs::write(bin.join(name), text).unwrap();
            std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let calls = dir.join("calls");
        let _ = std::fs::remove_file(&calls);
        let out = Command::new(bin.join("docker"))
            .args(args)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("CALLS", &calls)
            .env("CODEBUILD_SRC_DIR", "/src")
            .env("CONTAINERS_REGISTRIES_CONF", "/conf/registries.conf")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let calls = std::fs::read_to_string(&calls).unwrap_or_default();
        (out, calls.lines().map(str::to_owned).collect())
    }

    const STORE: &str = "[--root] [/src/.dockhand-podman] [--runroot] [/tmp/dockhand-podman-56c9e1c4b5360a5b]";

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

    /// Hub mode's build: the image goes into the build's store under both tags, nothing is
    /// pushed; `docker push` then prints the Docker CLI's line with podman's digest.
    #[test]
    fn a_loaded_build_is_tagged_in_the_store_and_docker_push_prints_its_digest() {
        let dir = std::env::temp_dir().join(format!("dockhand-shim-load-{}", std::process::id()));
        let (ok, calls) = shim(
            &dir,
            &[
                "buildx",
                "build",
                "--builder",
                "dockhand",
                "--progress",
                "plain",
                "--file",
                "./hooked/Dockerfile",
                "--build-arg",
                "A=$(b)",
                "--platform",
                "linux/amd64",
                "--label",
                "k=v",
                "--load",
                "--tag",
                "r:5000/acme/hooked:latest",
                "--tag",
                "r:5000/acme/hooked:dockhand-k",
                "./hooked",
            ],
        );
        assert!(ok, "{calls:?}");
        let calls: Vec<String> = calls.iter().map(|c| without_temporary_paths(c)).collect();
        assert_eq!(
            calls,
            [
                format!(
                    "podman {STORE} [build] [--layers] [--format] [oci] [--file] [./hooked/Dockerfile] \
                     [--build-arg] [A=$(b)] [--platform] [linux/amd64] [--iidfile] [TMP] [./hooked]"
                ),
                format!(
                    "podman {STORE} [build] [--quiet] [--layers=false] [--pull=never] [--format] [oci] \
                     [--label] [k=v] [--tag] [r:5000/acme/hooked:latest] [--tag] [r:5000/acme/hooked:dockhand-k] [TMP]"
                ),
            ]
        );

        let (out, calls) = shim_with(&dir, &["push", "r:5000/acme/hooked:dockhand-k"], &[]);
        assert!(out.status.success(), "{calls:?}");
        let calls: Vec<String> = calls.iter().map(|c| without_temporary_paths(c)).collect();
        let digest = format!("sha256:{:064}", 7);
        assert_eq!(
            calls,
            [
                format!("podman {STORE} [push] [--digestfile] [TMP] [r:5000/acme/hooked:dockhand-k]"),
                format!(
                    "skopeo [--registries-conf] [/conf/registries.conf] [inspect] [--raw] [docker://r:5000/acme/hooked@{digest}]"
                ),
            ]
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("dockhand-k: digest: {digest} size: 19\n")
        );
        // A name without a tag is pushed as `latest`, as the Docker CLI does.
        let (out, _) = shim_with(&dir, &["push", "r:5000/acme/hooked"], &[]);
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("latest: digest: sha256:"));

        // Several platforms cannot be loaded; --load needs a tag and goes alone.
        for args in [
            &[
                "buildx",
                "build",
                "--platform",
                "linux/amd64,linux/arm64",
                "--load",
                "--tag",
                "r/a:k",
                ".",
            ][..],
            &["buildx", "build", "--load", "."],
            &[
                "buildx",
                "build",
                "--load",
                "--tag",
                "r/a:k",
                "--output",
                "type=image,name=r/a:k,push=true",
                ".",
            ],
            &["push", "--all-tags", "r/a"],
        ] {
            let (ok, calls) = shim(&dir, args);
            assert!(!ok && calls.is_empty(), "{args:?}: {calls:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn image_inspect_answers_dockers_id_and_podmans_status() {
        let dir = std::env::temp_dir().join(format!("dockhand-shim-inspect-{}", std::process::id()));
        shim_with(&dir, &["version"], &[]);
        let podman =
            "#!/bin/bash\ncase \"$*\" in *missing*) echo 'Error: image not known' >&2; exit 125 ;; esac\necho 4f2a\n";
        std::fs::write(dir.join("bin/podman"), podman).unwrap();
        let inspect = |reference: &str| {
            Command::new(dir.join("bin/docker"))
                .args(["image", "inspect", "--format", "{{.Id}}", reference])
                .env("PATH", format!("{}:/usr/bin:/bin", dir.join("bin").display()))
                .output()
                .unwrap()
        };
        let found = inspect("r/a:latest");
        assert!(found.status.success());
        assert_eq!(String::from_utf8_lossy(&found.stdout), "sha256:4f2a\n");
        let missing = inspect("r/a:missing");
        assert_eq!(missing.status.code(), Some(125));
        assert_eq!(String::from_utf8_lossy(&missing.stdout), "");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Compose is podman-compose with the shim as its podman (so the build's store), the
    /// services built before `up`, and the sut's exit status passed through; `logs` prints
    /// as Docker Compose does.
    #[test]
    fn compose_runs_podman_compose_in_the_builds_store_and_passes_the_suts_status() {
        let dir = std::env::temp_dir().join(format!("dockhand-shim-compose-{}", std::process::id()));
        let shim_path = dir.join("bin/docker").display().to_string();
        let project = ["compose", "--project-name", "p-1", "--file", "docker-compose.test.yml"];
        let with = |rest: &[&'static str]| -> Vec<&str> { project.iter().chain(rest).copied().collect() };
        let pc = format!(
            "podman-compose [--podman-path] [{shim_path}] [--project-name] [p-1] [--file] [docker-compose.test.yml]"
        );

        let (out, calls) = shim_with(
            &dir,
            &with(&[
                "up",
                "--build",
                "--abort-on-container-exit",
                "--exit-code-from",
                "sut",
                "sut",
            ]),
            &[],
        );
        assert_eq!(out.status.code(), Some(3), "{calls:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "[sut] | sut: ok\n");
        assert_eq!(
            calls,
            [
                format!("{pc} [build] (as podman)"),
                format!("{pc} [up] [--abort-on-container-exit] [--exit-code-from] [sut] [sut] (as podman)"),
            ]
        );

        let (out, calls) = shim_with(&dir, &with(&["down", "--volumes", "--remove-orphans"]), &[]);
        assert!(out.status.success());
        assert_eq!(
            calls,
            [format!("{pc} [down] [--volumes] [--remove-orphans] (as podman)")]
        );

        let (out, _) = shim_with(&dir, &["compose", "version"], &[]);
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "Docker Compose version (local mode: podman-compose version 1.6.0)\n"
        );

        // podman-compose's podman: this shim, which is podman in the build's store.
        let (out, calls) = shim_with(
            &dir,
            &["create", "--name", "p-1_sut_1", "img"],
            &[("DOCKHAND_SHIM_AS_PODMAN", "1")],
        );
        assert!(out.status.success());
        assert_eq!(calls, [format!("podman {STORE} [create] [--name] [p-1_sut_1] [img]")]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn compose_logs_prints_each_line_as_docker_compose_does() {
        let dir = std::env::temp_dir().join(format!("dockhand-shim-logs-{}", std::process::id()));
        let podman = "#!/bin/bash\nprintf -v a ' [%s]' \"$@\"\necho \"podman$a\" >> \"$CALLS\"\n\
            case \"$*\" in *' ps '*) echo p-1_sut_1 ;; *' logs '*) echo 'checking'; echo 'sut: no greeting' >&2; printf 'last' ;; esac\n";
        shim_with(&dir, &["version"], &[]);
        std::fs::write(dir.join("bin/podman"), podman).unwrap();
        let calls = dir.join("calls");
        let _ = std::fs::remove_file(&calls);
        let out = Command::new(dir.join("bin/docker"))
            .args(["compose", "-p", "p-1", "-f", "t.yml", "logs", "--no-color", "sut"])
            .env("PATH", format!("{}:/usr/bin:/bin", dir.join("bin").display()))
            .env("CALLS", &calls)
            .env("CODEBUILD_SRC_DIR", "/src")
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "sut-1  | checking\nsut-1  | sut: no greeting\nsut-1  | last\n"
        );
        let calls = std::fs::read_to_string(&calls).unwrap();
        assert_eq!(
            calls.lines().collect::<Vec<_>>(),
            [
                format!(
                    "podman {STORE} [ps] [--all] [--format] [{{{{.Names}}}}] \
                     [--filter] [label=com.docker.compose.project=p-1] [--filter] [label=com.docker.compose.service=sut]"
                ),
                format!("podman {STORE} [logs] [p-1_sut_1]"),
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
