//! A crate's module tree read with `syn`, and each file's imports resolved to the files
//! that define what they name. Used by `import_cycles.rs`; it only reads sources (through
//! the `read` function it is given) and never judges the graph it yields.
//!
//! What counts as an import of file A on file B:
//! - a `use` item of A (every leaf of nested groups, `self` leaves and globs included),
//!   and a path of two or more segments in A's code (types, calls, patterns), whose first
//!   segment is `crate`, `super`, `self`, a child module, or a name a `use` of A's module
//!   brought in, and which resolves to something B defines;
//! - resolution walks modules from the crate root and follows `use` items (re-exports, also
//!   private ones, which children see) to the file that defines the item; a path that ends
//!   at a module resolves to that module's file; a name not found (a macro-made item, an
//!   enum variant through a glob) resolves to the module's own file;
//! - paths inside macro invocations are not read (their tokens are not Rust syntax yet);
//!   extern crates and `std` make no edge.
//!
//! Test code is left out: a module or any item under `#[cfg(test)]` (or a `cfg` that
//! names `test`), since a test reaches into what it tests by design.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use syn::visit::Visit;

/// One module: a file, or an inline `mod m { ... }` inside one.
struct Module {
    path: Vec<String>,
    file: usize,
    parent: Option<usize>,
    children: BTreeMap<String, usize>,
    items: BTreeSet<String>,
    /// Names `use` items bring in, with the path they name as written.
    uses: BTreeMap<String, Vec<String>>,
    globs: Vec<Vec<String>>,
    /// Paths this module refers to, as written (from `use` items and from code).
    refs: Vec<Vec<String>>,
}

/// A crate read from its root file: files, and the imports between them.
pub struct CrateGraph {
    /// Each file (relative to the directory the crate root was read from, as given), with
    /// the module path of the module it defines.
    pub files: Vec<(PathBuf, Vec<String>)>,
    /// (from, to) file indices, each with one path that makes it (for the report).
    pub imports: BTreeMap<(usize, usize), String>,
}

/// Read the crate whose root file is `root` (`lib.rs` or `main.rs`); `read` returns a
/// file's text, or `None` if it does not exist.
pub fn read_crate(root: &Path, read: &dyn Fn(&Path) -> Option<String>) -> Result<CrateGraph> {
    let mut tree = Tree::default();
    tree.add_file(root, Vec::new(), None, read)?;
    let mut imports = BTreeMap::new();
    for m in 0..tree.modules.len() {
        for raw in tree.modules[m].refs.clone() {
            let Some(absolute) = tree.absolute(m, &raw, 0) else {
                continue;
            };
            let Some(to) = tree.resolve(&absolute, false, 0) else {
                continue;
            };
            let from = tree.modules[m].file;
            if from != to {
                imports.entry((from, to)).or_insert_with(|| raw.join("::"));
            }
        }
    }
    Ok(CrateGraph {
        files: tree.files,
        imports,
    })
}

#[derive(Default)]
struct Tree {
    modules: Vec<Module>,
    files: Vec<(PathBuf, Vec<String>)>,
}

const MAX_DEPTH: usize = 16;

impl Tree {
    fn add_file(
        &mut self,
        file: &Path,
        path: Vec<String>,
        parent: Option<usize>,
        read: &dyn Fn(&Path) -> Option<String>,
    ) -> Result<usize> {
        let text = read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let ast =
            syn::parse_file(&text).with_context(|| format!("cannot parse {}", file.display()))?;
        let file_index = self.files.len();
        self.files.push((file.to_path_buf(), path.clone()));
        // Children of `a/mod.rs`, `lib.rs` or `main.rs` live beside it; those of `a.rs` in `a/`.
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let dir = file.parent().unwrap_or(Path::new(""));
        let child_dir = if parent.is_none() || stem == "mod" {
            dir.to_path_buf()
        } else {
            dir.join(stem)
        };
        self.add_module(&ast.items, path, file_index, parent, &child_dir, read)
    }

    fn add_module(
        &mut self,
        items: &[syn::Item],
        path: Vec<String>,
        file: usize,
        parent: Option<usize>,
        child_dir: &Path,
        read: &dyn Fn(&Path) -> Option<String>,
    ) -> Result<usize> {
        let index = self.modules.len();
        self.modules.push(Module {
            path: path.clone(),
            file,
            parent,
            children: BTreeMap::new(),
            items: BTreeSet::new(),
            uses: BTreeMap::new(),
            globs: Vec::new(),
            refs: Vec::new(),
        });
        let mut scan = Scan::default();
        for item in items {
            scan.visit_item(item);
        }
        let Scan {
            items: names,
            uses,
            globs,
            refs,
            modules,
        } = scan;
        let m = &mut self.modules[index];
        (m.items, m.uses, m.globs, m.refs) = (names, uses, globs, refs);
        for module in modules {
            let name = module.ident.to_string();
            let mut child_path = path.clone();
            child_path.push(name.clone());
            let child = match &module.content {
                Some((_, inner)) => self.add_module(
                    inner,
                    child_path,
                    file,
                    Some(index),
                    &child_dir.join(&name),
                    read,
                )?,
                None => {
                    let found = module_file(module, child_dir, &name, read)?;
                    self.add_file(&found, child_path, Some(index), read)?
                }
            };
            self.modules[index].children.insert(name, child);
        }
        Ok(index)
    }

    /// A path as written in module `m`, from the crate root; `None` if it leaves the crate.
    fn absolute(&self, m: usize, raw: &[String], depth: usize) -> Option<Vec<String>> {
        let module = &self.modules[m];
        let first = raw.first()?;
        let rest = &raw[1..];
        let mut base = match first.as_str() {
            "crate" => Vec::new(),
            "self" => module.path.clone(),
            "super" => {
                let mut up = self.modules[module.parent?].path.clone();
                let mut rest = rest;
                while rest.first().map(String::as_str) == Some("super") {
                    up.pop()?;
                    rest = &rest[1..];
                }
                up.extend(rest.iter().cloned());
                return Some(up);
            }
            name if module.children.contains_key(name) => {
                let mut p = module.path.clone();
                p.push(name.to_string());
                p
            }
            name => {
                let alias = module.uses.get(name)?;
                if depth >= MAX_DEPTH || alias.as_slice() == raw {
                    return None;
                }
                self.absolute(m, alias, depth + 1)?
            }
        };
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The file that defines what an absolute path names. `strict`: `None` when a name is
    /// not found instead of the module's own file (for trying globs).
    fn resolve(&self, path: &[String], strict: bool, depth: usize) -> Option<usize> {
        let mut m = 0;
        for (i, segment) in path.iter().enumerate() {
            let module = &self.modules[m];
            if let Some(&child) = module.children.get(segment) {
                m = child;
                continue;
            }
            if module.items.contains(segment) {
                return Some(module.file);
            }
            if depth >= MAX_DEPTH {
                return (!strict).then_some(module.file);
            }
            if let Some(alias) = module.uses.get(segment) {
                // A re-export of something outside the crate makes no edge.
                let mut target = self.absolute(m, alias, 0)?;
                target.extend(path[i + 1..].iter().cloned());
                return self.resolve(&target, strict, depth + 1);
            }
            for glob in &module.globs {
                let Some(mut target) = self.absolute(m, glob, 0) else {
                    continue;
                };
                target.extend(path[i..].iter().cloned());
                if let Some(found) = self.resolve(&target, true, depth + 1) {
                    return Some(found);
                }
            }
            return (!strict).then_some(module.file);
        }
        Some(self.modules[m].file)
    }
}

/// `mod name;` in a module whose children live in `dir`: `#[path]`, `name.rs` or `name/mod.rs`.
fn module_file(
    module: &syn::ItemMod,
    dir: &Path,
    name: &str,
    read: &dyn Fn(&Path) -> Option<String>,
) -> Result<PathBuf> {
    for attr in &module.attrs {
        if attr.path().is_ident("path")
            && let syn::Meta::NameValue(value) = &attr.meta
            && let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &value.value
        {
            return Ok(dir.join(s.value()));
        }
    }
    let candidates = [
        dir.join(format!("{name}.rs")),
        dir.join(name).join("mod.rs"),
    ];
    candidates
        .iter()
        .find(|c| read(c).is_some())
        .cloned()
        .with_context(|| {
            format!(
                "module `{name}`: neither {} nor {} exists",
                candidates[0].display(),
                candidates[1].display()
            )
        })
}

/// Whether attributes put an item under test only (`#[cfg(test)]`, `#[cfg(all(test, ..))]`).
fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        let mut test = false;
        if attr.path().is_ident("cfg") {
            // Any `test` inside the predicate; `not(test)` is rare enough to ignore.
            let _ = attr.parse_nested_meta(|meta| {
                test |= names_test(&meta);
                Ok(())
            });
        }
        test
    })
}

fn names_test(meta: &syn::meta::ParseNestedMeta) -> bool {
    if meta.path.is_ident("test") {
        return true;
    }
    let mut found = false;
    let _ = meta.parse_nested_meta(|inner| {
        found |= names_test(&inner);
        Ok(())
    });
    found
}

/// What one module's items declare and refer to (not descending into its child modules).
#[derive(Default)]
struct Scan<'a> {
    items: BTreeSet<String>,
    uses: BTreeMap<String, Vec<String>>,
    globs: Vec<Vec<String>>,
    refs: Vec<Vec<String>>,
    modules: Vec<&'a syn::ItemMod>,
}

impl<'a> Scan<'a> {
    fn visit_item(&mut self, item: &'a syn::Item) {
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Const(i) => &i.attrs,
            syn::Item::Enum(i) => &i.attrs,
            syn::Item::ExternCrate(i) => &i.attrs,
            syn::Item::Fn(i) => &i.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Macro(i) => &i.attrs,
            syn::Item::Mod(i) => &i.attrs,
            syn::Item::Static(i) => &i.attrs,
            syn::Item::Struct(i) => &i.attrs,
            syn::Item::Trait(i) => &i.attrs,
            syn::Item::Type(i) => &i.attrs,
            syn::Item::Union(i) => &i.attrs,
            syn::Item::Use(i) => &i.attrs,
            _ => &[],
        };
        if is_test_only(attrs) {
            return;
        }
        let name = match item {
            syn::Item::Const(i) => Some(&i.ident),
            syn::Item::Enum(i) => Some(&i.ident),
            syn::Item::Fn(i) => Some(&i.sig.ident),
            syn::Item::Macro(i) => i.ident.as_ref(),
            syn::Item::Static(i) => Some(&i.ident),
            syn::Item::Struct(i) => Some(&i.ident),
            syn::Item::Trait(i) => Some(&i.ident),
            syn::Item::Type(i) => Some(&i.ident),
            syn::Item::Union(i) => Some(&i.ident),
            _ => None,
        };
        if let Some(name) = name {
            self.items.insert(name.to_string());
        }
        match item {
            syn::Item::Mod(module) => self.modules.push(module),
            syn::Item::Use(u) => self.use_tree(&u.tree, Vec::new()),
            other => syn::visit::visit_item(&mut Refs(self), other),
        }
    }

    fn use_tree(&mut self, tree: &syn::UseTree, prefix: Vec<String>) {
        let with = |name: &syn::Ident| {
            let mut p = prefix.clone();
            p.push(name.to_string());
            p
        };
        match tree {
            syn::UseTree::Path(p) => self.use_tree(&p.tree, with(&p.ident)),
            syn::UseTree::Name(n) if n.ident == "self" => self.bring(prefix.clone(), prefix),
            syn::UseTree::Name(n) => self.bring(with(&n.ident), with(&n.ident)),
            syn::UseTree::Rename(r) if r.ident == "self" => {
                self.bring(prefix.clone(), with(&r.rename));
            }
            syn::UseTree::Rename(r) => self.bring(with(&r.ident), with(&r.rename)),
            syn::UseTree::Glob(_) => {
                self.refs.push(prefix.clone());
                self.globs.push(prefix);
            }
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(tree, prefix.clone());
                }
            }
        }
    }

    /// `use path as <last segment of name>;`
    fn bring(&mut self, path: Vec<String>, name: Vec<String>) {
        if let Some(name) = name.last()
            && name != "_"
        {
            self.uses.insert(name.clone(), path.clone());
        }
        self.refs.push(path);
    }
}

/// The paths in an item's code; nested items go back through `Scan::visit_item`.
struct Refs<'s, 'a>(&'s mut Scan<'a>);

impl<'ast, 's> Visit<'ast> for Refs<'s, 'ast> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        self.0.visit_item(item);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_test_only(&f.attrs) {
            syn::visit::visit_impl_item_fn(self, f);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() && path.segments.len() >= 2 {
            let raw = path.segments.iter().map(|s| s.ident.to_string()).collect();
            self.0.refs.push(raw);
        }
        syn::visit::visit_path(self, path);
    }
}
