//! A line diff of two JSON values, for `jones env edit`'s conflicts.

use serde_json::Value;

/// Pretty JSON with sorted keys, so only real changes differ.
pub fn canonical(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&map[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string_pretty(&sorted(value)).expect("JSON serializes")
}

/// A unified-style diff (`-`/`+`/` ` lines) from `before` to `after`.
pub fn diff(before: &Value, after: &Value, labels: (&str, &str)) -> String {
    let a = canonical(before);
    let b = canonical(after);
    let x: Vec<&str> = a.lines().collect();
    let y: Vec<&str> = b.lines().collect();
    // Longest common subsequence, filled from the end.
    let mut lcs = vec![vec![0u32; y.len() + 1]; x.len() + 1];
    for i in (0..x.len()).rev() {
        for j in (0..y.len()).rev() {
            lcs[i][j] = if x[i] == y[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = format!("--- {}\n+++ {}\n", labels.0, labels.1);
    let (mut i, mut j) = (0, 0);
    while i < x.len() || j < y.len() {
        if i < x.len() && j < y.len() && x[i] == y[j] {
            out.push_str(&format!("  {}\n", x[i]));
            i += 1;
            j += 1;
        } else if j == y.len() || (i < x.len() && lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("- {}\n", x[i]));
            i += 1;
        } else {
            out.push_str(&format!("+ {}\n", y[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shows_changed_lines_only_as_changes() {
        let text = diff(
            &json!({"a": 1, "b": 2}),
            &json!({"b": 2, "a": 3}),
            ("server", "edit"),
        );
        assert_eq!(
            text,
            "--- server\n+++ edit\n  {\n-   \"a\": 1,\n+   \"a\": 3,\n    \"b\": 2\n  }\n"
        );
    }

    #[test]
    fn key_order_is_not_a_change() {
        let text = diff(
            &json!({"a": 1, "b": 2}),
            &json!({"b": 2, "a": 1}),
            ("x", "y"),
        );
        assert!(
            !text.lines().skip(2).any(|l| l.starts_with(['-', '+'])),
            "{text}"
        );
    }
}
