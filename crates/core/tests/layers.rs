//! The modules of the core and of the runner form layers: each uses only modules its
//! `lib.rs` declares before it, and nothing of the crate root, so there is no cycle and
//! `lib.rs` reads from the leaves up. Read from the sources' `crate::` paths (in `use`
//! lines and inline), comments and test modules left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn core() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn runner() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../runner/src")
}

/// The modules `lib.rs` declares, in order; test-only ones are left out.
fn declared(lib: &str) -> Vec<String> {
    let mut test_only = false;
    let mut modules = Vec::new();
    for line in lib.lines().map(str::trim) {
        if line.starts_with("#[cfg(test)]") {
            test_only = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("pub mod ").or(line.strip_prefix("mod "))
            && !test_only
        {
            modules.push(rest.split(';').next().unwrap().trim().to_owned());
        }
        test_only = false;
    }
    modules
}

/// The source of a module without comments and without its `#[cfg(test)]` items.
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut skipping_test = false;
    let mut depth = 0i32;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if skipping_test {
            depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
            if depth <= 0 && (line.contains('}') || line.trim_end().ends_with(';')) {
                skipping_test = false;
            }
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]") {
            skipping_test = true;
            depth = 0;
            // The item follows: `mod tests;` ends at once, `mod tests {` at its brace.
            if let Some(next) = lines.next() {
                depth = next.matches('{').count() as i32 - next.matches('}').count() as i32;
                if depth <= 0 {
                    skipping_test = false;
                }
            }
            continue;
        }
        let line = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Everything `code` names at the top of the crate: `crate::a`, `crate::{a, b::c}` and the
/// like give `a` and `b`.
fn uses(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => items.push(std::mem::take(&mut item)),
                    _ if depth == 0 => item.push(c),
                    _ => {}
                }
            }
            items.push(item);
            found.extend(
                items
                    .iter()
                    .map(|i| i.trim().split("::").next().unwrap().trim().to_owned()),
            );
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            found.insert(name);
        }
    }
    found.remove("self");
    found
}

/// What every module names at the top of the crate, from its file and its directory.
fn graph(src: &Path, modules: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for module in modules {
        let mut text = std::fs::read_to_string(src.join(format!("{module}.rs"))).unwrap();
        // Its submodules, at any depth.
        let mut dirs = vec![src.join(module)];
        while let Some(dir) = dirs.pop() {
            if !dir.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                // Unit tests (`tests.rs`) may use anything; every other submodule counts.
                } else if path.file_name().unwrap() != "tests.rs" {
                    text.push_str(&std::fs::read_to_string(path).unwrap());
                }
            }
        }
        let mut deps = uses(&code(&text));
        deps.remove(module);
        graph.insert(module.clone(), deps);
    }
    graph
}

/// What breaks the layers of the crate at `src`, and its graph in layer order.
fn layering(src: &Path) -> (Vec<String>, Vec<String>) {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let modules = declared(&lib);
    let graph = graph(src, &modules);
    let mut problems = Vec::new();
    for (position, module) in modules.iter().enumerate() {
        for dep in &graph[module] {
            match modules.iter().position(|m| m == dep) {
                Some(at) if at > position => problems.push(format!("{module} uses {dep}, declared after it")),
                Some(_) => {}
                None => problems.push(format!(
                    "{module} uses crate::{dep} of the crate root; name the module that defines it"
                )),
            }
        }
    }
    let layers = modules
        .iter()
        .map(|m| format!("{m} -> {}", graph[m].iter().cloned().collect::<Vec<_>>().join(" ")))
        .collect();
    (problems, layers)
}

#[test]
fn every_module_uses_only_the_modules_declared_before_it() {
    for (name, src, at_least) in [("core", core(), 25), ("runner", runner(), 9)] {
        let (problems, layers) = layering(&src);
        assert!(layers.len() >= at_least, "{name}'s lib.rs declares {layers:?}");
        assert!(
            problems.is_empty(),
            "{name}'s layers are broken (move the shared item down, or the module up):\n{}\n\nthe graph:\n{}",
            problems.join("\n"),
            layers.join("\n")
        );
        // The graph in layer order, for whoever reads the test's output.
        println!("{name}:\n{}\n", layers.join("\n"));
    }
}

#[test]
fn the_reader_sees_paths_and_groups_and_skips_comments_and_tests() {
    let text = "use crate::{a::X, b::{self, Y}};\n// crate::c in a comment\nfn f() { crate::d::g() }\n#[cfg(test)]\nmod tests {\n    use crate::c::Z;\n}\n";
    assert_eq!(
        uses(&code(text)),
        ["a", "b", "d"].iter().map(|s| s.to_string()).collect()
    );
    assert!(uses(&code("#[cfg(test)]\nmod tests;\nuse crate::c;\n")).contains("c"));
    assert_eq!(
        declared("mod a;\npub mod b; // b\n#[cfg(test)]\nmod testing;\nmod c;\n"),
        ["a", "b", "c"]
    );
}
