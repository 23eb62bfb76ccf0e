//! Printing results: text for people by default, JSON with `--json`.

use serde_json::Value;

/// Prints `value` as pretty JSON.
pub fn print_json(value: &Value) {
    println!(
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
