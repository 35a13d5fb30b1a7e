//! The compromise closure: a secret and every secret it implies, transitively, each once.

use std::collections::{BTreeSet, VecDeque};

/// Secrets reachable from `start` over `implies`, in breadth-first order with each level
/// sorted, so the same library always yields the same plan. Cycles in `implies` are fine:
/// each secret appears once.
pub(crate) fn implied_closure<F>(start: &str, implies: F) -> Vec<String>
where
    F: Fn(&str) -> Vec<String>,
{
    let mut order = vec![start.to_string()];
    let mut seen: BTreeSet<String> = BTreeSet::from([start.to_string()]);
    let mut queue = VecDeque::from([start.to_string()]);
    while let Some(current) = queue.pop_front() {
        let mut next: Vec<String> = implies(&current);
        next.sort();
        for secret in next {
            if seen.insert(secret.clone()) {
                order.push(secret.clone());
                queue.push_back(secret);
            }
        }
    }
    order
}

/// The first pair of secrets in `set` that declare a conflict (in either direction).
pub(crate) fn first_conflict<F>(set: &[String], conflicts: F) -> Option<(String, String)>
where
    F: Fn(&str) -> Vec<String>,
{
    for (i, a) in set.iter().enumerate() {
        for b in &set[i + 1..] {
            if conflicts(a).contains(b) || conflicts(b).contains(a) {
                return Some((a.clone(), b.clone()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> impl Fn(&str) -> Vec<String> {
        let edges: Vec<(String, String)> = edges
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        move |s| {
            edges
                .iter()
                .filter(|(a, _)| a == s)
                .map(|(_, b)| b.clone())
                .collect()
        }
    }

    #[test]
    fn closure_is_transitive_and_ordered() {
        let implies = graph(&[("db", "app-key"), ("app-key", "mfa"), ("jwt", "session")]);
        assert_eq!(implied_closure("db", &implies), ["db", "app-key", "mfa"]);
        assert_eq!(implied_closure("jwt", &implies), ["jwt", "session"]);
        assert_eq!(implied_closure("session", &implies), ["session"]);
    }

    #[test]
    fn closure_tolerates_cycles_and_lists_each_secret_once() {
        let implies = graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("b", "a")]);
        assert_eq!(implied_closure("a", &implies), ["a", "b", "c"]);
    }

    #[test]
    fn conflicts_are_found_in_either_direction() {
        let conflicts = graph(&[("mfa", "app-key")]);
        let set = vec!["app-key".to_string(), "jwt".to_string(), "mfa".to_string()];
        assert_eq!(
            first_conflict(&set, &conflicts),
            Some(("app-key".into(), "mfa".into()))
        );
        assert_eq!(first_conflict(&set[..2], &conflicts), None);
    }
}
