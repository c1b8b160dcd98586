//! Properties of the layered merge, over generated document trees: later
//! layers win, earlier values not overridden stay, the grouping of layers
//! does not matter, and an empty layer changes nothing.
//!
//! Trees are generated with every key path of one kind at every layer (a
//! map at depth 0 and 1, a value at depth 2), as configuration layers are:
//! a key that is a map in one layer and a value in another is the one case
//! where grouping matters (see `value::merge`).

use micro_config::value::{lookup, merge};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const KEYS: [&str; 3] = ["a", "b", "c"];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z]{0,4}".prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        prop::collection::vec(any::<u8>(), 0..3).prop_map(|v| json!(v)),
    ]
}

fn map_of(inner: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(KEYS.to_vec()), inner), 0..4).prop_map(|entries| {
        Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<Map<_, _>>(),
        )
    })
}

/// A layer: maps of maps of leaves (or an empty key, `null`, at any depth).
fn layer() -> impl Strategy<Value = Value> {
    let level1 = prop_oneof![1 => Just(Value::Null), 4 => map_of(leaf())];
    map_of(level1)
}

/// Every path to a leaf of `tree` with its value (nulls included).
fn leaves(tree: &Value) -> Vec<(Vec<String>, Value)> {
    let mut out = Vec::new();
    fn walk(node: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Value)>) {
        match node {
            Value::Object(map) => {
                for (key, value) in map {
                    path.push(key.clone());
                    walk(value, path, out);
                    path.pop();
                }
            }
            other => out.push((path.clone(), other.clone())),
        }
    }
    walk(tree, &mut Vec::new(), &mut out);
    out
}

fn merged(layers: &[&Value]) -> Value {
    layers.iter().fold(json!({}), |mut acc, layer| {
        merge(&mut acc, (*layer).clone());
        acc
    })
}

fn at<'v>(tree: &'v Value, path: &[String]) -> Option<&'v Value> {
    lookup(tree, path.iter().map(String::as_str))
}

proptest! {
    #[test]
    fn a_later_layer_wins_wherever_it_sets_a_value(a in layer(), b in layer()) {
        let result = merged(&[&a, &b]);
        for (path, value) in leaves(&b) {
            if !value.is_null() {
                prop_assert_eq!(at(&result, &path), Some(&value), "at {:?}", path);
            }
        }
    }

    #[test]
    fn an_earlier_value_stays_where_the_later_layer_sets_nothing(a in layer(), b in layer()) {
        let result = merged(&[&a, &b]);
        for (path, value) in leaves(&a) {
            let overridden = (1..=path.len()).any(|n| at(&b, &path[..n]).is_some_and(|v| !v.is_null() && !v.is_object()));
            if !overridden && !value.is_null() {
                prop_assert_eq!(at(&result, &path), Some(&value), "at {:?}", path);
            }
        }
    }

    #[test]
    fn grouping_layers_does_not_change_the_result(a in layer(), b in layer(), c in layer()) {
        let left = { let mut ab = merged(&[&a, &b]); merge(&mut ab, c.clone()); ab };
        let right = { let mut bc = b.clone(); merge(&mut bc, c.clone()); merged(&[&a, &bc]) };
        prop_assert_eq!(left, right);
    }

    #[test]
    fn an_empty_layer_changes_nothing(a in layer()) {
        let base = merged(&[&a]);
        prop_assert_eq!(merged(&[&a, &Value::Null]), base.clone());
        prop_assert_eq!(merged(&[&a, &json!({})]), base.clone());
        prop_assert_eq!(merged(&[&json!({}), &a]), base);
    }

    #[test]
    fn merging_a_layer_onto_itself_changes_nothing(a in layer()) {
        let once = merged(&[&a]);
        prop_assert_eq!(merged(&[&a, &a]), once);
    }
}
