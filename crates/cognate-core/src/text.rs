//! Rules for text that comes from outside.
//!
//! Control characters (C0, DEL, C1) other than tab, line feed and carriage return are refused at parse
//! time on every surface: they have no place in a name, id, password or setting, PostgreSQL
//! cannot store U+0000 in text at all, and both backends must answer alike.

/// Whether `c` is refused in input: a control character (C0, DEL or C1, Unicode's `Cc`)
/// other than `\t`, `\n` and `\r`.
pub fn is_forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Whether `s` contains a refused control character.
pub fn has_forbidden_control(s: &str) -> bool {
    s.chars().any(is_forbidden_control)
}

/// The JSON path (`a.b[2]`) of the first string, or object key, in `value` holding a
/// refused control character; `None` when there is none.
pub fn find_control_in_json(value: &serde_json::Value) -> Option<String> {
    fn walk(value: &serde_json::Value, path: &mut String) -> bool {
        match value {
            serde_json::Value::String(s) => has_forbidden_control(s),
            serde_json::Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            serde_json::Value::Object(map) => map.iter().any(|(key, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key.chars().filter(|c| !is_forbidden_control(*c)).collect::<String>());
                let found = has_forbidden_control(key) || walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = String::new();
    walk(value, &mut path).then(|| if path.is_empty() { "(the body)".to_owned() } else { path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_found_with_their_path() {
        assert!(has_forbidden_control("a\u{0}b"));
        assert!(has_forbidden_control("\u{1b}[31m"));
        assert!(has_forbidden_control("x\u{7f}"));
        assert!(has_forbidden_control("a\u{85}b"), "C1 controls too");
        assert!(!has_forbidden_control("line\none\ttab\r"));
        assert!(!has_forbidden_control("Zoë 山田 🚀"));
        let v = serde_json::json!({"A": "ok", "B": [{"C": "x"}, {"D": "bad\u{0}"}]});
        assert_eq!(find_control_in_json(&v).as_deref(), Some("B[1].D"));
        let v = serde_json::json!({"ke\u{0}y": 1});
        assert_eq!(find_control_in_json(&v).as_deref(), Some("key"));
        assert_eq!(find_control_in_json(&serde_json::json!({"A": ["fine", 1, null]})), None);
        assert_eq!(find_control_in_json(&serde_json::json!("\u{0}")).as_deref(), Some("(the body)"));
    }
}
