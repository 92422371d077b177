//! The layer graph, written in one place and enforced.
//!
//! Reads every `.rs` file of the library under `src/` (the binaries `src/main.rs` and
//! `src/bin/` are separate crates at the very top and may import anything), extracts every
//! reference to another module of the crate — `use crate::…` trees (nested groups, `self`,
//! renames, several lines), `crate::…`/`super::…` paths in expressions and types, and
//! `#[cfg(test)]` code too — maps each to the unit of [`LAYERS`] it lands in, and fails on:
//! * an edge that goes to the same layer or up, unless it is listed in [`KNOWN_DEBT`];
//! * a [`KNOWN_DEBT`] entry that no longer occurs (delete it: the list only shrinks);
//! * a module that no unit of [`LAYERS`] holds.
//!
//! Run alone with `cargo test --release --test layers`; `-- --nocapture` prints the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A unit of the graph: a name, the module paths it holds (a top-level module, or a submodule
/// where a module is split between layers today; the longest prefix wins), and, when not
/// empty, the only units that may import it.
type Unit = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

/// The target layering (issue #16), top to bottom: a unit may import units of the layers below
/// its own (and, if that unit names its callers, only as one of them), never a unit of its own
/// layer or one above.
const LAYERS: &[&[Unit]] = &[
    // Boot, per-core listeners, router, operational endpoints.
    &[("server", &["server"], &[])],
    // S3 API semantics: parse a request, call the engine, render XML.
    &[("s3", &["s3"], &[])],
    // SigV4/SigV2, users.
    &[("auth", &["auth"], &[])],
    // Objects, multipart, copy, deletes, recovery, reapers: the only caller of meta and storage.
    &[("engine", &["engine"], &[])],
    // Cluster mode (issue #19): the peer transport, the Raft groups (openraft) whose entries
    // are meta's commands. Below the engine, which will propose through it (the `MetaLog`
    // seam), and the boot, which will start it.
    &[("cluster", &["cluster"], &["engine", "server"])],
    // Object bytes: one `DataStore` trait (local O_DIRECT files, the gateways, the cache).
    // The stores speak in the records meta defines (`DataLoc`, `Segment`, `ObjectMeta`), so
    // they sit above it. Only the engine uses them, and the server, which opens them at boot.
    &[("storage", &["storage"], &["engine", "server"])],
    // Metadata shards: redb, the commands, the tables and the record types.
    &[(
        "meta",
        &["meta"],
        &["engine", "server", "storage", "cluster"],
    )],
    // Per-core mesh, offload, key locks, body budget, MD5 batching.
    &[("runtime", &["runtime"], &[])],
    // The wire: request heads, bodies, chunked framing, responses.
    &[("http", &["http"], &[])],
    // MD5 (scalar and in SIMD lanes), the S3 additional checksums, the SigV4 primitives.
    &[("hash", &["hash"], &[])],
    // Metrics and the log: called from every layer.
    &[("telemetry", &["observe"], &[])],
    // Leaves: typed errors, configuration, deterministic test data, the global allocator
    // (the server binary installs it; metrics read its pool).
    &[
        ("error", &["error"], &[]),
        ("io_alloc", &["io_alloc"], &[]),
        ("config", &["config"], &[]),
        ("test_support", &["test_support"], &[]),
    ],
];

/// Edges that break [`LAYERS`] and are tolerated for now, as (from unit, to unit, why). Empty
/// since issue #16 removed the last two; an entry must still occur (the test fails when one
/// is gone), so the list only shrinks.
const KNOWN_DEBT: &[(&str, &str, &str)] = &[];

/// One module reference: the line it is written on, and the absolute path it names.
#[derive(Debug)]
struct Reference {
    line: usize,
    path: Vec<String>,
}

#[test]
fn imports_follow_the_layer_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect_rs(&root, &mut files);
    files.sort();
    assert!(
        files.len() > 50,
        "found only {} files under src/",
        files.len()
    );

    let units: Vec<(&str, usize, &[&str], &[&str])> = LAYERS
        .iter()
        .enumerate()
        .flat_map(|(rank, us)| us.iter().map(move |(n, p, c)| (*n, rank, *p, *c)))
        .collect();

    let mut problems = Vec::new();
    // (from unit, to unit) -> first place it is written.
    let mut edges: BTreeMap<(&str, &str), String> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(&root).unwrap();
        let module = module_of(rel);
        if module.is_empty() {
            continue; // lib.rs: the module list.
        }
        let Some(from) = unit_of(&module, &units) else {
            problems.push(format!(
                "{}: module {} is in no unit of LAYERS",
                rel.display(),
                module.join("::")
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for r in references(&module, &text) {
            let at = format!("{}:{}", rel.display(), r.line);
            let Some(to) = unit_of(&r.path, &units) else {
                problems.push(format!(
                    "{at}: crate::{} is in no unit of LAYERS",
                    r.path.join("::")
                ));
                continue;
            };
            if to.0 != from.0 {
                edges.entry((from.0, to.0)).or_insert(at);
            }
        }
    }

    let unit = |name: &str| *units.iter().find(|u| u.0 == name).unwrap();
    let mut used_debt = BTreeSet::new();
    for ((from, to), at) in &edges {
        let (f, t) = (unit(from), unit(to));
        let ok = t.1 > f.1 && (t.3.is_empty() || t.3.contains(from));
        let label = if ok { "" } else { "  <- against the layers" };
        println!("{from:>14} -> {to:<14} ({at}){label}");
        if ok {
            continue;
        }
        match KNOWN_DEBT.iter().position(|(f, t, _)| f == from && t == to) {
            Some(i) => {
                used_debt.insert(i);
            }
            None => problems.push(format!(
                "new edge against the layers: {from} -> {to} (first at {at}); import from a \
                 lower layer instead, or move the code"
            )),
        }
    }
    for (i, (f, t, why)) in KNOWN_DEBT.iter().enumerate() {
        if !used_debt.contains(&i) {
            problems.push(format!(
                "KNOWN_DEBT entry {f} -> {t} ({why}) no longer occurs: delete it"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "layer check failed:\n  {}",
        problems.join("\n  ")
    );
}

/// The unit holding a module path: the one with the longest matching prefix.
fn unit_of<'a>(
    path: &[String],
    units: &[(&'a str, usize, &'a [&'a str], &'a [&'a str])],
) -> Option<(&'a str, usize, &'a [&'a str], &'a [&'a str])> {
    units
        .iter()
        .flat_map(|u| u.2.iter().map(move |p| (u, *p)))
        .filter(|(_, p)| {
            let segs: Vec<&str> = p.split("::").collect();
            segs.len() <= path.len() && segs.iter().zip(path).all(|(a, b)| a == b)
        })
        .max_by_key(|(_, p)| p.len())
        .map(|(u, _)| *u)
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            // src/bin/: the bench binary, a crate of its own.
            if !(dir.ends_with("src") && name == "bin") {
                collect_rs(&path, out);
            }
        } else if name.ends_with(".rs") && !(dir.ends_with("src") && name == "main.rs") {
            out.push(path);
        }
    }
}

/// The module a file under src/ defines: `s3/xml/parse.rs` -> [s3, xml, parse],
/// `meta/mod.rs` -> [meta], `lib.rs` -> [].
fn module_of(rel: &Path) -> Vec<String> {
    let mut segs: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let last = segs.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        segs.push(stem.to_string());
    }
    segs
}

/// Source with comments, string and char literals blanked (newlines kept, for line numbers).
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, c: u8| out.push(if c == b'\n' { b'\n' } else { b' ' });
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                blank(&mut out, b[i]);
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if (c == b'r' || c == b'b')
            && !prev_is_ident(b, i)
            && raw_string_start(b, i).is_some()
        {
            let (open_len, hashes) = raw_string_start(b, i).unwrap();
            let mut j = i + open_len;
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            while j < b.len() && !b[j..].starts_with(&close) {
                j += 1;
            }
            let end = (j + close.len()).min(b.len());
            for &x in &b[i..end] {
                blank(&mut out, x);
            }
            i = end;
        } else if c == b'"' {
            blank(&mut out, c);
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                if i < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            if i < b.len() {
                blank(&mut out, b[i]);
                i += 1;
            }
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}'), or a lifetime/label ('a) which is kept.
            let end = if b.get(i + 1) == Some(&b'\\') {
                b[i + 3..]
                    .iter()
                    .position(|&x| x == b'\'')
                    .map(|p| i + 3 + p + 1)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 3)
            } else {
                // Multi-byte UTF-8 char literal.
                std::str::from_utf8(&b[i + 1..(i + 6).min(b.len())])
                    .ok()
                    .or_else(|| std::str::from_utf8(&b[i + 1..(i + 5).min(b.len())]).ok())
                    .and_then(|s| s.chars().next())
                    .filter(|ch| ch.len_utf8() > 1 && b.get(i + 1 + ch.len_utf8()) == Some(&b'\''))
                    .map(|ch| i + 1 + ch.len_utf8() + 1)
            };
            match end {
                Some(e) => {
                    for &x in &b[i..e] {
                        blank(&mut out, x);
                    }
                    i = e;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn prev_is_ident(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// `r"`, `r#"`, `br##"`…: the length of the opening and the number of `#`.
fn raw_string_start(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if b[j] == b'b' {
        j += 1;
    }
    if b.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let hashes = b[j..].iter().take_while(|&&x| x == b'#').count();
    j += hashes;
    (b.get(j) == Some(&b'"')).then_some((j + 1 - i, hashes))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Punct(char),
    PathSep,
}

/// Identifiers, `::` and single punctuation, each with its line.
fn tokens(s: &str) -> Vec<(Tok, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            let start = i;
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &s[start..i];
            // `$crate` in a macro is the crate root.
            let word = if word == "$crate" { "crate" } else { word };
            out.push((Tok::Ident(word.trim_start_matches("r#").to_string()), line));
        } else if c == b':' && b.get(i + 1) == Some(&b':') {
            out.push((Tok::PathSep, line));
            i += 2;
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
        } else {
            out.push((Tok::Punct(c as char), line));
            i += 1;
        }
    }
    out
}

/// Every crate-internal module path a file names, resolved to an absolute path.
fn references(module: &[String], src: &str) -> Vec<Reference> {
    let toks = tokens(&strip(src));
    let mut out = Vec::new();
    // Inline modules (`mod tests { … }`) shift what `self`/`super` mean: a stack of
    // (name, brace depth at which it closes).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let here = |inline: &Vec<(String, usize)>| -> Vec<String> {
        module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(n, _)| n.clone()))
            .collect()
    };
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(w) if w == "mod" => {
                if let (Some((Tok::Ident(name), _)), Some((Tok::Punct('{'), _))) =
                    (toks.get(i + 1), toks.get(i + 2))
                {
                    inline.push((name.clone(), depth + 1));
                    depth += 1;
                    i += 3;
                    continue;
                }
            }
            Tok::Ident(w) if w == "use" => {
                let end = toks[i..]
                    .iter()
                    .position(|(t, _)| *t == Tok::Punct(';'))
                    .map_or(toks.len(), |p| i + p);
                let cur = here(&inline);
                let mut paths = Vec::new();
                expand_use(&toks[i + 1..end], Vec::new(), &mut paths);
                for (p, line) in paths {
                    if let Some(abs) = resolve(&p, &cur) {
                        out.push(Reference { line, path: abs });
                    }
                }
                i = end + 1;
                continue;
            }
            Tok::Ident(w) if (w == "crate" || w == "super" || w == "self") => {
                // A path in an expression, type or attribute: `crate::a::b`, `super::x`.
                let preceded_by_sep = i > 0 && toks[i - 1].0 == Tok::PathSep;
                if !preceded_by_sep && toks.get(i + 1).map(|t| &t.0) == Some(&Tok::PathSep) {
                    let line = toks[i].1;
                    let mut p = vec![w.clone()];
                    let mut j = i + 1;
                    while let (Some((Tok::PathSep, _)), Some((Tok::Ident(n), _))) =
                        (toks.get(j), toks.get(j + 1))
                    {
                        p.push(n.clone());
                        j += 2;
                    }
                    if let Some(abs) = resolve(&p, &here(&inline)) {
                        out.push(Reference { line, path: abs });
                    }
                    i = j;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Expands a use tree (the tokens between `use` and `;`) into flat paths with their lines.
fn expand_use(toks: &[(Tok, usize)], prefix: Vec<String>, out: &mut Vec<(Vec<String>, usize)>) {
    // Split the tree at top-level commas.
    let mut start = 0;
    let mut depth = 0;
    let mut items = Vec::new();
    for (k, (t, _)) in toks.iter().enumerate() {
        match t {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => depth -= 1,
            Tok::Punct(',') if depth == 0 => {
                items.push(&toks[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    items.push(&toks[start..]);
    for item in items {
        let mut path = prefix.clone();
        let mut k = 0;
        let mut line = item.first().map_or(0, |t| t.1);
        while k < item.len() {
            match &item[k].0 {
                Tok::Ident(w) if w == "as" => break,
                Tok::Ident(w) if w == "self" && !path.is_empty() => k += 1,
                Tok::Ident(w) => {
                    line = item[k].1;
                    path.push(w.clone());
                    k += 1;
                }
                Tok::PathSep => k += 1,
                Tok::Punct('*') => break,
                Tok::Punct('{') => {
                    // The matching close brace ends this item.
                    let close = item.len() - 1;
                    expand_use(&item[k + 1..close], path.clone(), out);
                    path.clear();
                    break;
                }
                _ => k += 1,
            }
        }
        if !path.is_empty() {
            out.push((path, line));
        }
    }
}

/// An absolute module path (without `crate`) for a path starting with `crate`, `super` or
/// `self`; `None` for anything else (std, extern crates, local names).
fn resolve(p: &[String], here: &[String]) -> Option<Vec<String>> {
    let first = p.first()?;
    let mut base: Vec<String> = match first.as_str() {
        "crate" => Vec::new(),
        "super" | "self" => here.to_vec(),
        _ => return None,
    };
    let mut rest = &p[1..];
    if first == "super" {
        base.pop()?;
        while rest.first().map(String::as_str) == Some("super") {
            base.pop()?;
            rest = &rest[1..];
        }
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

#[test]
fn parser_reads_nested_groups_and_relative_paths() {
    let src = r#"
        use crate::{a::b, c::{d, e::{self, F}}};
        use super::super::g::H;
        // use crate::commented::Out;
        /* crate::block::Comment */
        const S: &str = "crate::in_string::X";
        fn f<'a>(x: &'a u8) -> char { let _ = crate::expr::call(); 'c' }
        #[cfg(test)]
        mod tests {
            use super::*;
            use super::super::sibling::Y;
            fn t() { crate::test_only::z(); }
        }
        pub(crate) use self::inner::Z;
    "#;
    let here = vec!["top".to_string(), "mid".to_string(), "leaf".to_string()];
    let got: Vec<String> = references(&here, src)
        .into_iter()
        .map(|r| r.path.join("::"))
        .collect();
    assert_eq!(
        got,
        vec![
            "a::b",
            "c::d",
            "c::e",
            "c::e::F",
            "top::g::H",
            "expr::call",
            "top::mid::leaf",
            "top::mid::sibling::Y",
            "test_only::z",
            "top::mid::leaf::inner::Z",
        ]
    );
}
