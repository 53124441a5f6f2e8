//! `cargo xtask import-cycles`: no import cycle and no upward import among the files of
//! `core/src`, `cli/src` and `xtask/src`. It reads sources only and changes nothing.
//!
//! Each crate is read from its root file with `syn` (`import_cycles/modules.rs` says
//! exactly which paths count as imports and how they are resolved to files: `use` items,
//! nested groups included, and `crate::`/`super::`/`self::`/child-module paths in code,
//! re-exports followed to the file that defines the item, test code left out). That
//! gives a graph of files; two findings fail the command:
//!
//! - **A cycle**: a strongly connected component of more than one file (petgraph's
//!   `tarjan_scc`), reported as a chain of files `a -> b -> ... -> a`, each step with a path
//!   that makes it. A cycle means neither file can be understood or changed without the
//!   other, and it hides which of them owns the shared idea.
//! - **An upward import**: a file that imports an item defined in the file of one of its
//!   ancestor modules (`actor/engine.rs` using something defined in `actor.rs`, or anything
//!   using an item defined in `lib.rs`/`main.rs` itself). The parent declares and uses its
//!   children; a child that reaches back into its parent is a cycle in waiting and puts
//!   shared items in the wrong place. Re-exports are followed first, so importing a leaf
//!   type through the crate root's or a parent's `pub use` (`crate::Error`,
//!   `super::Message`) is an import of the file that defines it, not of the root or parent:
//!   re-exporting is how a parent offers its children's items, and it is allowed.
//!
//! What it never does: read macro bodies (paths inside `format!`, `matches!` and the like
//! are not seen), or judge imports between crates (Cargo forbids cycles there).

mod modules;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use petgraph::algo::tarjan_scc;
use petgraph::graphmap::DiGraphMap;

pub use modules::{CrateGraph, read_crate};

use crate::report::{Counts, Report};
use crate::util;

/// The crates checked, by root file relative to the workspace.
pub const CRATE_ROOTS: [&str; 3] = ["core/src/lib.rs", "cli/src/main.rs", "xtask/src/main.rs"];

/// What is wrong with one crate's file graph.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// Each strongly connected component of more than one file, as a shortest cycle
    /// through it: files, the first repeated at the end, each step with a path.
    pub cycles: Vec<Cycle>,
    /// (importing file, ancestor's file, path).
    pub upward: Vec<(PathBuf, PathBuf, String)>,
}

impl Findings {
    pub fn is_clean(&self) -> bool {
        self.cycles.is_empty() && self.upward.is_empty()
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cycle {
    pub chain: Vec<(PathBuf, String)>,
    /// How many files the component holds (the chain may show fewer).
    pub component: usize,
}

/// Run the check on the workspace's crates; fails listing every finding.
pub fn check_workspace() -> Result<()> {
    let counts = check_crates()?;
    if counts.failed > 0 {
        bail!(
            "import cycles or upward imports in {} crates (listed above)",
            counts.failed
        );
    }
    Ok(())
}

/// The check as a suite of `cargo xtask test`: one test per crate, failed if it has any
/// finding.
pub fn suite() -> Result<Report> {
    Ok(Report {
        counts: check_crates()?,
        problem: None,
    })
}

/// Prints each crate's graph and findings; counts the crates without and with findings.
fn check_crates() -> Result<Counts> {
    let root = util::workspace_root();
    let read = |path: &Path| std::fs::read_to_string(root.join(path)).ok();
    let mut counts = Counts::default();
    for crate_root in CRATE_ROOTS {
        let graph = read_crate(Path::new(crate_root), &read)?;
        let findings = judge(&graph);
        println!(
            "{crate_root}: {} files, {} imports between files, {} cycles, {} upward imports",
            graph.files.len(),
            graph.imports.len(),
            findings.cycles.len(),
            findings.upward.len()
        );
        if findings.is_clean() {
            counts.passed += 1;
        } else {
            print!("{}", describe(&findings));
            counts.failed += 1;
        }
    }
    Ok(counts)
}

/// Cycles and upward imports of one crate's graph.
pub fn judge(graph: &CrateGraph) -> Findings {
    let mut edges = DiGraphMap::<usize, ()>::new();
    for index in 0..graph.files.len() {
        edges.add_node(index);
    }
    for &(from, to) in graph.imports.keys() {
        edges.add_edge(from, to, ());
    }
    let mut cycles: Vec<_> = tarjan_scc(&edges)
        .into_iter()
        .filter(|component| component.len() > 1)
        .map(|component| {
            let size = component.len();
            let chain = shortest_cycle(&edges, &component.into_iter().collect());
            let chain = chain
                .windows(2)
                .map(|step| {
                    (
                        graph.files[step[0]].0.clone(),
                        graph.imports[&(step[0], step[1])].clone(),
                    )
                })
                .chain(std::iter::once((
                    graph.files[chain[0]].0.clone(),
                    String::new(),
                )))
                .collect();
            Cycle {
                chain,
                component: size,
            }
        })
        .collect();
    cycles.sort();
    let upward = graph
        .imports
        .iter()
        .filter(|&(&(from, to), _)| {
            let (child, parent) = (&graph.files[from].1, &graph.files[to].1);
            parent.len() < child.len() && child.starts_with(parent)
        })
        .map(|(&(from, to), path)| {
            (
                graph.files[from].0.clone(),
                graph.files[to].0.clone(),
                path.clone(),
            )
        })
        .collect();
    Findings { cycles, upward }
}

/// A shortest cycle through the component's smallest node, staying inside the component:
/// the nodes in order, the first repeated at the end.
fn shortest_cycle(edges: &DiGraphMap<usize, ()>, component: &BTreeSet<usize>) -> Vec<usize> {
    let Some(&start) = component.first() else {
        return Vec::new();
    };
    let mut came_from = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for next in edges.neighbors(node) {
            if !component.contains(&next) {
                continue;
            }
            if next == start {
                let mut chain = vec![start, node];
                let mut at = node;
                while let Some(&before) = came_from.get(&at) {
                    chain.push(before);
                    at = before;
                }
                // `chain` is start, node, ..., start read backwards.
                chain.reverse();
                return chain;
            }
            if next != start && !came_from.contains_key(&next) {
                came_from.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    Vec::new()
}

/// The findings as lines for a terminal, empty when there are none.
pub fn describe(findings: &Findings) -> String {
    let mut out = String::new();
    for cycle in &findings.cycles {
        out.push_str(&format!("  cycle ({} files): ", cycle.component));
        for (file, path) in &cycle.chain {
            out.push_str(&file.display().to_string());
            if !path.is_empty() {
                out.push_str(&format!(" ({path}) -> "));
            }
        }
        out.push('\n');
    }
    for (child, parent, path) in &findings.upward {
        out.push_str(&format!(
            "  upward: {} imports {path} from its ancestor {}\n",
            child.display(),
            parent.display()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The findings for a crate made of `files` (path, text), rooted at `lib.rs`.
    fn findings(files: &[(&str, &str)]) -> (CrateGraph, Findings) {
        let files: HashMap<PathBuf, String> = files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect();
        let read = |p: &Path| files.get(p).cloned();
        let graph = read_crate(Path::new("lib.rs"), &read).unwrap();
        let findings = judge(&graph);
        (graph, findings)
    }

    fn edges(graph: &CrateGraph) -> Vec<(String, String)> {
        graph
            .imports
            .keys()
            .map(|&(a, b)| {
                let name = |i: usize| graph.files[i].0.display().to_string();
                (name(a), name(b))
            })
            .collect()
    }

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_string(), b.to_string())
    }

    #[test]
    fn two_files_importing_each_other_are_one_cycle() {
        let (_, f) = findings(&[
            ("lib.rs", "mod a; mod b; mod c;"),
            ("a.rs", "use crate::b::B; pub struct A;"),
            ("b.rs", "use crate::a::A; pub struct B;"),
            ("c.rs", "use crate::a::A;"),
        ]);
        let files: Vec<_> = f.cycles[0]
            .chain
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        assert_eq!(f.cycles.len(), 1);
        assert_eq!(files, ["a.rs", "b.rs", "a.rs"]);
        assert_eq!(f.cycles[0].chain[0].1, "crate::b::B");
        assert!(
            describe(&f)
                .contains("cycle (2 files): a.rs (crate::b::B) -> b.rs (crate::a::A) -> a.rs")
        );
    }

    #[test]
    fn a_longer_cycle_is_reported_as_its_chain() {
        let (_, f) = findings(&[
            ("lib.rs", "mod a; mod b; mod c;"),
            ("a.rs", "pub fn a() { crate::b::b() }"),
            ("b.rs", "pub fn b() { crate::c::c() }"),
            ("c.rs", "pub fn c() { crate::a::a() }"),
        ]);
        let files: Vec<_> = f.cycles[0]
            .chain
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        assert_eq!(files, ["a.rs", "b.rs", "c.rs", "a.rs"]);
    }

    #[test]
    fn a_chain_without_cycle_is_clean() {
        let (graph, f) = findings(&[
            ("lib.rs", "mod a; mod b; pub use a::A;"),
            ("a.rs", "use crate::b::{B, self}; pub struct A;"),
            ("b.rs", "pub struct B;"),
        ]);
        assert!(f.is_clean(), "{f:?}");
        assert_eq!(
            edges(&graph),
            [pair("lib.rs", "a.rs"), pair("a.rs", "b.rs")]
        );
    }

    #[test]
    fn nested_groups_super_self_and_child_paths_resolve_to_files() {
        let (graph, _) = findings(&[
            ("lib.rs", "mod x; mod y;"),
            ("x.rs", "mod inner; use self::inner::I; pub fn f() {}"),
            (
                "x/inner.rs",
                "use super::super::y::{Y, deep::{D}}; pub struct I;",
            ),
            ("y/mod.rs", "pub mod deep; pub struct Y;"),
            ("y/deep.rs", "pub struct D; fn g() { let _ = deep2::Z; }"),
        ]);
        assert_eq!(
            edges(&graph),
            [
                pair("x.rs", "x/inner.rs"),
                pair("x/inner.rs", "y/mod.rs"),
                pair("x/inner.rs", "y/deep.rs")
            ]
        );
    }

    #[test]
    fn a_child_using_its_parents_own_item_is_upward() {
        let (_, f) = findings(&[
            ("lib.rs", "mod actor; pub struct Root;"),
            ("actor.rs", "mod engine; pub struct Turn;"),
            (
                "actor/engine.rs",
                "use super::Turn; fn f(_: crate::Root) {}",
            ),
        ]);
        let upward: Vec<_> = f
            .upward
            .iter()
            .map(|(c, p, path)| {
                (
                    c.display().to_string(),
                    p.display().to_string(),
                    path.clone(),
                )
            })
            .collect();
        assert_eq!(
            upward,
            [
                (
                    "actor/engine.rs".into(),
                    "lib.rs".into(),
                    "crate::Root".into()
                ),
                (
                    "actor/engine.rs".into(),
                    "actor.rs".into(),
                    "super::Turn".into()
                ),
            ]
        );
        assert!(f.cycles.is_empty());
    }

    #[test]
    fn re_exports_through_root_or_parent_are_imports_of_the_defining_file() {
        let (graph, f) = findings(&[
            ("lib.rs", "mod error; mod lane; pub use error::Error;"),
            ("error.rs", "pub struct Error;"),
            ("lane/mod.rs", "mod plain; mod gate; pub use gate::*;"),
            ("lane/gate.rs", "pub struct Gate;"),
            ("lane/plain.rs", "use crate::Error; use super::Gate;"),
        ]);
        assert!(f.is_clean(), "{f:?}");
        assert!(edges(&graph).contains(&pair("lane/plain.rs", "error.rs")));
        assert!(edges(&graph).contains(&pair("lane/plain.rs", "lane/gate.rs")));
    }

    #[test]
    fn test_code_is_left_out() {
        let (graph, f) = findings(&[
            ("lib.rs", "mod a; mod b; #[cfg(test)] mod props;"),
            (
                "a.rs",
                "pub struct A; #[cfg(test)] mod tests { use crate::b::B; }",
            ),
            (
                "b.rs",
                "use crate::a::A; pub struct B; #[cfg(all(test, unix))] fn t() { crate::a::A; }",
            ),
            ("props.rs", "use crate::a::A; use crate::b::B;"),
        ]);
        assert!(f.is_clean(), "{f:?}");
        assert_eq!(edges(&graph), [pair("b.rs", "a.rs")]);
    }

    #[test]
    fn external_paths_make_no_edge() {
        let (graph, _) = findings(&[
            ("lib.rs", "mod a; pub use std::sync::Arc;"),
            (
                "a.rs",
                "use crate::Arc; use serde_json; fn f() { serde_json::json(); std::mem::drop(1); }",
            ),
        ]);
        assert!(graph.imports.is_empty());
    }

    #[test]
    fn a_missing_module_file_is_an_error_that_names_both_places() {
        let files: HashMap<PathBuf, String> =
            [(PathBuf::from("lib.rs"), "mod gone;".to_string())].into();
        let read = |p: &Path| files.get(p).cloned();
        let error = read_crate(Path::new("lib.rs"), &read).err().unwrap();
        assert!(
            format!("{error:#}").contains("gone.rs nor gone/mod.rs"),
            "{error:#}"
        );
    }
}
