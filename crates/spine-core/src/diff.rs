//! `diff(old, new, tracked_fields)`: the field-level changes of a lifecycle `updated` event, listing
//! only the tracked fields whose value changed.

use crate::event::Change;
use serde_json::{Map, Value};

/// The changes between two versions of an object. With an empty `tracked_fields`, every
/// top-level field of either side is tracked, in sorted order; otherwise only the named fields,
/// in the order given. A field missing on one side reads as `null`.
pub fn diff(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    tracked_fields: &[&str],
) -> Vec<Change> {
    let fields: Vec<&str> = if tracked_fields.is_empty() {
        let mut all: Vec<&str> = old.keys().chain(new.keys()).map(String::as_str).collect();
        all.sort_unstable();
        all.dedup();
        all
    } else {
        tracked_fields.to_vec()
    };
    fields
        .into_iter()
        .filter_map(|field| {
            let before = old.get(field).cloned().unwrap_or(Value::Null);
            let after = new.get(field).cloned().unwrap_or(Value::Null);
            (before != after).then(|| Change { field: field.to_owned(), old: before, new: after })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn lists_only_changed_tracked_fields() {
        let old = obj(json!({"title": "a", "state": "open", "n": 1}));
        let new = obj(json!({"title": "b", "state": "open", "n": 2}));
        let changes = diff(&old, &new, &["state", "title"]);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "title");
        assert_eq!(changes[0].old, json!("a"));
        assert_eq!(changes[0].new, json!("b"));
    }

    #[test]
    fn empty_tracking_means_all_fields_and_missing_is_null() {
        let changes = diff(&obj(json!({"a": 1})), &obj(json!({"b": 2})), &[]);
        let fields: Vec<_> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["a", "b"]);
        assert_eq!(changes[0].new, Value::Null);
    }

    fn arb_map() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::btree_map("[a-d]", 0i64..3, 0..4)
            .prop_map(|m| m.into_iter().map(|(k, v)| (k, json!(v))).collect())
    }

    proptest! {
        #[test]
        fn applying_the_diff_to_old_gives_new(old in arb_map(), new in arb_map()) {
            let mut patched = old.clone();
            for c in diff(&old, &new, &[]) {
                prop_assert_ne!(&c.old, &c.new);
                if c.new.is_null() { patched.remove(&c.field); } else { patched.insert(c.field, c.new); }
            }
            prop_assert_eq!(patched, new);
        }

        #[test]
        fn diff_with_itself_is_empty(m in arb_map()) {
            prop_assert!(diff(&m, &m, &[]).is_empty());
        }
    }
}
