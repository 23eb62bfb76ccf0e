//! Printing results: text for people by default, JSON with `--json`.
//! Everything a command prints goes through [`write_stdout`], so a reader
//! that stops early (`jones dump svc | head -1`) ends `jones` quietly with
//! exit 0 instead of a panic on the broken pipe.

use std::io::Write;

use serde_json::Value;

/// Prints like `println!`, through [`write_stdout`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

/// Writes `text` to stdout. When the reader has gone (a broken pipe) the
/// process ends at once with exit 0: there is no one left to tell. Any
/// other write error ends it with exit 1 and a message on stderr.
pub fn write_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(text.as_bytes()) {
        stdout_failed(e);
    }
}

/// Flushes stdout, with [`write_stdout`]'s handling of errors.
pub fn flush_stdout() {
    if let Err(e) = std::io::stdout().lock().flush() {
        stdout_failed(e);
    }
}

fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("jones: cannot write to stdout: {e}");
    std::process::exit(1);
}

/// Prints `value` as pretty JSON.
pub fn print_json(value: &Value) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON serializes")
    );
}

/// The label of an environment path for people: `/` for the root.
pub fn env_label(env: &str) -> &str {
    if env.is_empty() { "/" } else { env }
}

/// Draws the environment tree returned by `GET /services/{svc}/envs`.
pub fn tree_text(node: &Value) -> String {
    let mut out = String::from("/ (root)\n");
    draw_children(node, "", &mut out);
    out
}

fn draw_children(node: &Value, prefix: &str, out: &mut String) {
    let children = node
        .get("children")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let count = children.len();
    for (i, child) in children.iter().enumerate() {
        let last = i + 1 == count;
        let name = child
            .get("name")
            .and_then(Value::as_str)
            .or_else(|| child.get("env").and_then(Value::as_str))
            .unwrap_or("?");
        out.push_str(&format!(
            "{prefix}{}{name}\n",
            if last { "└── " } else { "├── " }
        ));
        let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
        draw_children(child, &deeper, out);
    }
}

/// The items of a list response, whether a bare array or `{key: [...]}`.
pub fn items<'a>(value: &'a Value, key: &str) -> Vec<&'a Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => other
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn draws_a_tree() {
        let tree = json!({"env": "", "name": "", "children": [
            {"env": "parent", "name": "parent", "children": [
                {"env": "parent/child1", "name": "child1", "children": []},
                {"env": "parent/child2", "name": "child2", "children": [
                    {"env": "parent/child2/sub", "name": "sub", "children": []}]}]},
            {"env": "other", "name": "other", "children": []}]});
        assert_eq!(
            tree_text(&tree),
            "/ (root)\n├── parent\n│   ├── child1\n│   └── child2\n│       └── sub\n└── other\n"
        );
    }
}
