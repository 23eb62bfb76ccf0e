//! The Jones web editor: its static assets, embedded in the binary.
//!
//! `jones-server` serves [`asset`] at `/`; the page talks to the server's
//! HTTP API under `/api/v1`. The assets are plain ES modules and CSS with no
//! build step, so neither building nor running Jones needs Node.
//!
//! ```
//! let index = jones_ui::asset("").expect("the index page");
//! assert_eq!(index.content_type, "text/html; charset=utf-8");
//! assert!(jones_ui::asset("../Cargo.toml").is_none());
//! ```

#![warn(missing_docs)]

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// The file's bytes.
    pub body: &'static [u8],
    /// Its `Content-Type`.
    pub content_type: &'static str,
}

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)) as &[u8])),*]
    };
}

/// Every embedded file, by its path below `/`.
const FILES: &[(&str, &[u8])] = embed![
    "index.html",
    "style.css",
    "app.js",
    "api.js",
    "associations.js",
    "diff.js",
    "dom.js",
    "envpanel.js",
    "history.js",
    "live.js",
    "lookup.js",
    "merge3.js",
    "names.js",
    "pins.js",
    "review.js",
    "rollback.js",
    "rollout.js",
    "schema.js",
    "service.js",
    "services.js",
    "signin.js",
    "tree.js",
    "vendor/vanilla-jsoneditor/standalone.js",
    "vendor/vanilla-jsoneditor/LICENSE.md",
];

/// The asset at `path` (relative to `/`; `""` is the index page), if any.
///
/// Unknown paths that look like pages of the single-page app (no file
/// extension) get the index page, so deep links work.
pub fn asset(path: &str) -> Option<Asset> {
    let path = path.trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    if let Some((name, body)) = FILES.iter().find(|(name, _)| *name == path) {
        return Some(Asset {
            body,
            content_type: content_type(name),
        });
    }
    let last = path.rsplit('/').next().unwrap_or(path);
    if !last.contains('.') && !path.split('/').any(|s| s == "..") {
        return asset("index.html");
    }
    None
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: &str) -> &'static str {
        std::str::from_utf8(asset(name).unwrap().body).unwrap()
    }

    fn own_files() -> impl Iterator<Item = &'static str> {
        FILES
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| !name.starts_with("vendor/"))
    }

    #[test]
    fn every_module_import_is_embedded() {
        for name in own_files().filter(|n| n.ends_with(".js")) {
            for line in text(name).lines().filter(|l| l.starts_with("import ")) {
                let target = line
                    .rsplit(" from ")
                    .next()
                    .unwrap()
                    .trim_matches(|c| c == '\'' || c == ';' || c == '"');
                let target = target.strip_prefix("./").unwrap_or(target);
                assert!(
                    FILES.iter().any(|(n, _)| *n == target),
                    "{name} imports {target}, which is not embedded"
                );
            }
        }
    }

    #[test]
    fn the_page_loads_only_embedded_files() {
        let index = text("index.html");
        for src in ["/app.js", "/style.css"] {
            assert!(index.contains(src), "index.html does not load {src}");
            assert!(asset(src).is_some());
        }
        for name in own_files() {
            let body = text(name);
            assert!(
                !body.contains("http://") && !body.contains("https://"),
                "{name} refers to another host"
            );
        }
    }

    #[test]
    fn deep_links_get_the_page_and_unknown_files_do_not() {
        assert_eq!(
            asset("/services/demo").unwrap().body,
            asset("").unwrap().body
        );
        assert!(asset("missing.js").is_none());
        assert!(asset("../secret").is_none());
        assert_eq!(
            asset("app.js").unwrap().content_type,
            "text/javascript; charset=utf-8"
        );
    }
}
