//! Images built on each other: which directory's image another directory's Dockerfile
//! starts from (`FROM`) or copies from (`COPY --from`, `RUN --mount=…,from=`).
//!
//! An edge runs from a dependent to its base when a reference the dependent's Dockerfile
//! names ([`crate::dockerfile`]) is the image this deployment pushes the base to: the same
//! registry host and repository once both are normalized as Docker reads them
//! ([`crate::image_ref`]), with any tag. When several directories push one repository (the
//! `suite` naming preset), the tag decides: the directory that pushes the tag the
//! reference names (`latest` when it names none), for the ref being built.
//!
//! Not edges, and said so in [`Graph::notes`]: a reference pinned by digest (it names one
//! image, whatever is built), a Dockerfile naming its own image (it builds on the image it
//! replaces), and a reference that matches several directories.

use crate::dockerfile::{ImageUse, Parsed};
use crate::image_ref;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

/// What the graph is made from, for one directory with a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The repository its image is pushed to (`host/path`, no tag); `None` when the
    /// directory cannot name an image.
    pub image: Option<String>,
    /// The tags it pushes for the ref being planned.
    pub tags: Vec<String>,
    /// Its Dockerfile as read; `None` when it was not read (the reason is in `unread`).
    pub dockerfile: Option<Parsed>,
    /// Why the Dockerfile was not read, if it was not.
    pub unread: Option<String>,
    /// Its Dockerfile is removed by the push: an image that names its image builds on the
    /// last one pushed, and is told so.
    pub removed: bool,
}

/// One base of a dependent: the directory, and the names the dependent's Dockerfile gives
/// it as written (after ARG expansion): what a build pins to the base's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    pub context: String,
    pub names: BTreeSet<String>,
}

/// A base of a planned build that the same push builds or re-tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseLink {
    pub context: String,
    /// The repository the base pushes (no tag).
    pub image: String,
    /// The names the dependent's Dockerfile gives it, after ARG expansion.
    pub names: Vec<String>,
}

/// The graph of one commit's Dockerfiles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    /// Every directory with a Dockerfile, and its image.
    images: BTreeMap<String, Option<String>>,
    /// dependent → base → the names as written.
    bases: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// base → dependents.
    dependents: BTreeMap<String, BTreeSet<String>>,
    /// directory → images named that are not built from this repository.
    external: BTreeMap<String, BTreeSet<String>>,
    /// directory → what a person should know about how its Dockerfile was read.
    notes: BTreeMap<String, Vec<String>>,
}

/// Where a use points.
enum Target<'a> {
    Dir(&'a str),
    External,
    /// Pinned by digest to an image of this repository: never rebuilt with it.
    Pinned(&'a str),
    Ambiguous(Vec<&'a str>),
    Removed(&'a str),
}

impl Graph {
    /// The graph of `nodes` (directory → node).
    pub fn new(nodes: &BTreeMap<String, Node>) -> Graph {
        // repository → (directory, tags) of every directory that pushes it.
        let mut producers: BTreeMap<String, Vec<(&str, &[String])>> = BTreeMap::new();
        let removed: BTreeSet<&str> = nodes
            .iter()
            .filter(|(_, n)| n.removed)
            .map(|(d, _)| d.as_str())
            .collect();
        for (dir, node) in nodes {
            if let Some(image) = &node.image
                && let Ok(parsed) = image_ref::parse(image)
            {
                producers.entry(parsed.name()).or_default().push((dir, &node.tags));
            }
        }
        let mut graph = Graph {
            images: nodes
                .iter()
                .filter(|(_, n)| !n.removed)
                .map(|(d, n)| (d.clone(), n.image.clone()))
                .collect(),
            ..Graph::default()
        };
        for (dir, node) in nodes.iter().filter(|(_, n)| !n.removed) {
            if let Some(why) = &node.unread {
                graph.note(
                    dir,
                    format!("its Dockerfile was not read ({why}): its bases are unknown"),
                );
            }
            let Some(parsed) = &node.dockerfile else { continue };
            for problem in &parsed.problems {
                graph.note(dir, problem.clone());
            }
            for image_use in &parsed.uses {
                match target(&producers, &removed, image_use) {
                    Ok(Target::Dir(base)) if base == dir => graph.note(
                        dir,
                        format!(
                            "line {}: {} is this directory's own image: it builds on the image it replaces, not in order",
                            image_use.line, image_use.reference
                        ),
                    ),
                    Ok(Target::Dir(base)) => {
                        graph
                            .bases
                            .entry(dir.clone())
                            .or_default()
                            .entry(base.to_owned())
                            .or_default()
                            .insert(image_use.reference.clone());
                        graph
                            .dependents
                            .entry(base.to_owned())
                            .or_default()
                            .insert(dir.clone());
                    }
                    Ok(Target::External) => {
                        graph
                            .external
                            .entry(dir.clone())
                            .or_default()
                            .insert(image_use.reference.clone());
                    }
                    Ok(Target::Pinned(base)) => graph.note(
                        dir,
                        format!(
                            "line {}: {} is {base}'s image pinned by digest: it is not rebuilt when {base} changes",
                            image_use.line, image_use.reference
                        ),
                    ),
                    Ok(Target::Removed(base)) => graph.note(
                        dir,
                        format!(
                            "line {}: {} is the image of {base}, whose Dockerfile this push removes: it builds on the image {base} pushed last",
                            image_use.line, image_use.reference
                        ),
                    ),
                    Ok(Target::Ambiguous(dirs)) => graph.note(
                        dir,
                        format!(
                            "line {}: {} could be the image of any of {dirs:?} (they push the same repository, and none pushes its tag for this ref): no edge",
                            image_use.line, image_use.reference
                        ),
                    ),
                    Err(why) => graph.note(
                        dir,
                        format!("line {}: {:?} {why}", image_use.line, image_use.reference),
                    ),
                }
            }
        }
        graph
    }

    fn note(&mut self, dir: &str, note: String) {
        self.notes.entry(dir.to_owned()).or_default().push(note);
    }

    /// Every directory with a Dockerfile.
    pub fn directories(&self) -> impl Iterator<Item = &str> {
        self.images.keys().map(String::as_str)
    }

    /// The image a directory pushes, when it can name one.
    pub fn image(&self, dir: &str) -> Option<&str> {
        self.images.get(dir).and_then(|i| i.as_deref())
    }

    /// The directories `dir` is built from.
    pub fn bases(&self, dir: &str) -> Vec<Base> {
        self.bases
            .get(dir)
            .map(|bases| {
                bases
                    .iter()
                    .map(|(context, names)| Base {
                        context: context.clone(),
                        names: names.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The directories built directly from `dir`.
    pub fn dependents(&self, dir: &str) -> impl Iterator<Item = &str> {
        self.dependents.get(dir).into_iter().flatten().map(String::as_str)
    }

    /// What a person should know about how `dir`'s Dockerfile was read.
    pub fn notes(&self, dir: &str) -> &[String] {
        self.notes.get(dir).map(Vec::as_slice).unwrap_or_default()
    }

    /// Every directory built, directly or not, from one of `changed` and not in it, with
    /// the directory of `changed` it was first reached from (breadth first, in order).
    pub fn dependents_of(&self, changed: &BTreeSet<String>) -> BTreeMap<String, String> {
        let mut reached: BTreeMap<String, String> = BTreeMap::new();
        let mut queue: VecDeque<(&str, &str)> = changed.iter().map(|c| (c.as_str(), c.as_str())).collect();
        while let Some((dir, origin)) = queue.pop_front() {
            for dependent in self.dependents(dir) {
                if changed.contains(dependent) || reached.contains_key(dependent) {
                    continue;
                }
                reached.insert(dependent.to_owned(), origin.to_owned());
                queue.push_back((dependent, origin));
            }
        }
        reached
    }

    /// The cycles: every set of two or more directories built from each other, each
    /// sorted, in order (Tarjan's strongly connected components, iteratively).
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let dirs: Vec<&str> = self.images.keys().map(String::as_str).collect();
        let position: BTreeMap<&str, usize> = dirs.iter().enumerate().map(|(i, d)| (*d, i)).collect();
        let successors: Vec<Vec<usize>> = dirs
            .iter()
            .map(|d| {
                self.bases
                    .get(*d)
                    .into_iter()
                    .flat_map(|b| b.keys())
                    .filter_map(|b| position.get(b.as_str()).copied())
                    .collect()
            })
            .collect();
        let n = dirs.len();
        let mut index = vec![usize::MAX; n];
        let mut low = vec![0; n];
        let mut on_stack = vec![false; n];
        let mut stack = Vec::new();
        let mut next = 0;
        let mut cycles = Vec::new();
        for root in 0..n {
            if index[root] != usize::MAX {
                continue;
            }
            // (node, next successor to visit)
            let mut work = vec![(root, 0usize)];
            index[root] = next;
            low[root] = next;
            next += 1;
            stack.push(root);
            on_stack[root] = true;
            while let Some(&mut (v, ref mut i)) = work.last_mut() {
                if let Some(&w) = successors[v].get(*i) {
                    *i += 1;
                    if index[w] == usize::MAX {
                        index[w] = next;
                        low[w] = next;
                        next += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        work.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                    continue;
                }
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut component = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        component.push(dirs[w].to_owned());
                        if w == v {
                            break;
                        }
                    }
                    if component.len() > 1 {
                        component.sort();
                        cycles.push(component);
                    }
                }
            }
        }
        cycles.sort();
        cycles
    }

    /// Graphviz DOT: an edge from each base to its dependents, labelled with the names the
    /// dependent gives it; external images are left out.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph images {\n  rankdir=LR;\n  node [shape=box];\n");
        for (dir, image) in &self.images {
            let label = match image {
                Some(image) => format!("{dir}\n{image}"),
                None => dir.clone(),
            };
            let _ = writeln!(out, "  {} [label={}];", dot_string(dir), dot_string(&label));
        }
        for (dependent, bases) in &self.bases {
            for base in bases.keys() {
                let _ = writeln!(out, "  {} -> {};", dot_string(base), dot_string(dependent));
            }
        }
        out.push_str("}\n");
        out
    }

    /// The graph for people: every directory with its image, what it is built from and
    /// what is built from it, and the notes.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (dir, image) in &self.images {
            let _ = writeln!(out, "{dir}: {}", image.as_deref().unwrap_or("(names no image)"));
            if let Some(bases) = self.bases.get(dir) {
                let list: Vec<&str> = bases.keys().map(String::as_str).collect();
                let _ = writeln!(out, "  built from: {}", list.join(", "));
            }
            let dependents: Vec<&str> = self.dependents(dir).collect();
            if !dependents.is_empty() {
                let _ = writeln!(out, "  rebuilds: {}", dependents.join(", "));
            }
            if let Some(external) = self.external.get(dir) {
                let list: Vec<&str> = external.iter().map(String::as_str).collect();
                let _ = writeln!(out, "  external: {}", list.join(", "));
            }
            for note in self.notes(dir) {
                let _ = writeln!(out, "  note: {note}");
            }
        }
        for cycle in self.cycles() {
            let _ = writeln!(out, "cycle: {} (none of them is ordered)", cycle.join(" <-> "));
        }
        out
    }

    /// The order of `dirs`: waves, each built after every earlier one; the directories of a
    /// cycle, and those built from them, are left out.
    pub fn waves(&self, dirs: &BTreeSet<String>) -> Vec<Vec<String>> {
        let mut left: BTreeSet<&str> = dirs.iter().map(String::as_str).collect();
        let mut waves = Vec::new();
        loop {
            let wave: Vec<String> = left
                .iter()
                .filter(|d| {
                    self.bases
                        .get(**d)
                        .is_none_or(|b| b.keys().all(|base| !left.contains(base.as_str())))
                })
                .map(|d| d.to_string())
                .collect();
            if wave.is_empty() {
                return waves;
            }
            for d in &wave {
                left.remove(d.as_str());
            }
            waves.push(wave);
        }
    }
}

/// Where one use points, among the repositories this deployment pushes.
fn target<'a>(
    producers: &'a BTreeMap<String, Vec<(&'a str, &'a [String])>>,
    removed: &BTreeSet<&str>,
    image_use: &ImageUse,
) -> Result<Target<'a>, String> {
    let reference = image_ref::parse(&image_use.reference)?;
    let Some(candidates) = producers.get(&reference.name()) else {
        return Ok(Target::External);
    };
    let tag = reference.tag.as_deref().unwrap_or("latest");
    let chosen: Vec<&str> = match candidates.as_slice() {
        [(dir, _)] => vec![*dir],
        several => {
            let by_tag: Vec<&str> = several
                .iter()
                .filter(|(_, tags)| tags.iter().any(|t| t == tag))
                .map(|(d, _)| *d)
                .collect();
            if by_tag.is_empty() {
                return Ok(Target::Ambiguous(several.iter().map(|(d, _)| *d).collect()));
            }
            by_tag
        }
    };
    match chosen.as_slice() {
        [dir] if removed.contains(dir) => Ok(Target::Removed(dir)),
        [dir] if reference.digest.is_some() => Ok(Target::Pinned(dir)),
        [dir] => Ok(Target::Dir(dir)),
        several => Ok(Target::Ambiguous(several.to_vec())),
    }
}

/// A DOT double-quoted string.
fn dot_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
