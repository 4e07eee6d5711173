//! Test helpers shared by the providers' property tests.

use proptest::prelude::*;
use serde_json::Value;

/// Arbitrary JSON, nested up to `depth`, whose object keys are often `keys` and whose strings
/// are often `values`: the names and values a provider's normalizer reads, so the generated
/// payloads reach past its first checks.
pub(crate) fn json_like(
    keys: Vec<&'static str>,
    values: Vec<&'static str>,
    depth: u32,
) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        prop::sample::select(values).prop_map(Value::from),
    ];
    let key = prop_oneof![prop::sample::select(keys).prop_map(str::to_owned), "\\PC{0,8}"];
    leaf.prop_recursive(depth, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..10)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}
