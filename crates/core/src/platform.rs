//! Target platforms of an image build (`platforms` in the deployment configuration and in
//! `.dockhand.yml`): `os/arch[/variant]`, from the set BuildKit builds and registries
//! serve. Empty means the build host's own architecture.

/// The platforms dockhand accepts, as `docker buildx build --platform` spells them
/// (https://docs.docker.com/build/building/multi-platform/).
pub const PLATFORMS: &[&str] = &[
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/arm/v6",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
];

/// The environment variable that carries the platforms to the build, comma-joined; absent
/// for the build host's own architecture.
pub const PLATFORMS_VARIABLE: &str = "DOCKHAND_PLATFORMS";

/// Checks a list of platforms: each one known, none twice. The error says what to write.
pub fn check_platforms(platforms: &[String]) -> Result<(), String> {
    for (i, platform) in platforms.iter().enumerate() {
        if !PLATFORMS.contains(&platform.as_str()) {
            let shown: String = platform.chars().take(64).collect();
            return Err(format!(
                "the platform {shown:?} is not one dockhand builds; write os/arch[/variant], one of {}",
                PLATFORMS.join(", ")
            ));
        }
        if platforms[..i].contains(platform) {
            return Err(format!("the platform {platform} is listed twice; list each once"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn known_platforms_pass_and_others_say_what_to_write() {
        assert_eq!(check_platforms(&[]), Ok(()));
        assert_eq!(check_platforms(&list(PLATFORMS)), Ok(()));
        for bad in [
            "linux/AMD64",
            "linux/amd64 ",
            "amd64",
            "windows/amd64",
            "linux/arm",
            "linux/amd64,linux/arm64",
            "",
            "linux/arm64/v8\n",
        ] {
            let e = check_platforms(&list(&[bad])).unwrap_err();
            assert!(
                e.contains("os/arch[/variant]") && e.contains("linux/arm/v7"),
                "{bad:?}: {e}"
            );
        }
        let e = check_platforms(&list(&["linux/arm64", "linux/amd64", "linux/arm64"])).unwrap_err();
        assert!(e.contains("linux/arm64 is listed twice"), "{e}");
    }

    #[test]
    fn no_accepted_platform_holds_a_comma_or_anything_a_shell_reads() {
        for p in PLATFORMS {
            assert!(
                p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'/'),
                "{p}"
            );
        }
    }
}
