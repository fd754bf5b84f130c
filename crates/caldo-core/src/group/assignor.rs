//! Partition assignors: who in a group consumes which partition.
//! Pure functions of (members, their subscriptions, partition counts, the
//! previous assignment), so every process computes the same answer.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::{Code, Error, Result};

/// A topic and one of its partitions.
pub type Tp = (String, u32);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Assignor {
    /// Balanced, and a partition moves only when it has to.
    #[default]
    CooperativeSticky,
    /// Per topic, contiguous runs of partitions (Kafka's RangeAssignor).
    Range,
    /// Every partition of every topic dealt in turn (Kafka's RoundRobinAssignor).
    Roundrobin,
}

impl Assignor {
    pub fn parse(name: &str) -> Result<Assignor> {
        match name {
            "cooperative-sticky" => Ok(Assignor::CooperativeSticky),
            "range" => Ok(Assignor::Range),
            "roundrobin" => Ok(Assignor::Roundrobin),
            other => Err(Error::new(
                Code::InvalidArg,
                format!(
                    "assignor must be 'cooperative-sticky', 'range' or 'roundrobin', got {other:?}"
                ),
            )),
        }
    }
}

/// A member's id and the topics it subscribes to.
pub struct Sub<'a> {
    pub id: &'a str,
    pub topics: &'a [String],
}

/// Assigns every partition of `partitions` (topic → count) to one member
/// subscribed to its topic. `members` must be sorted by id.
pub fn assign(
    kind: Assignor,
    members: &[Sub],
    partitions: &BTreeMap<String, u32>,
    previous: &BTreeMap<String, Vec<Tp>>,
) -> BTreeMap<String, Vec<Tp>> {
    let mut out: BTreeMap<String, Vec<Tp>> = members
        .iter()
        .map(|m| (m.id.to_string(), Vec::new()))
        .collect();
    let subscribed = |m: &Sub, topic: &str| m.topics.iter().any(|t| t == topic);
    match kind {
        Assignor::Range => {
            for (topic, &n) in partitions {
                let subs: Vec<&Sub> = members.iter().filter(|m| subscribed(m, topic)).collect();
                if subs.is_empty() {
                    continue;
                }
                let (each, extra) = (n as usize / subs.len(), n as usize % subs.len());
                let mut p = 0u32;
                for (i, m) in subs.iter().enumerate() {
                    let take = each + usize::from(i < extra);
                    let list = out.get_mut(m.id).unwrap();
                    for _ in 0..take {
                        list.push((topic.clone(), p));
                        p += 1;
                    }
                }
            }
        }
        Assignor::Roundrobin => {
            let mut turn = 0;
            for (topic, &n) in partitions {
                for p in 0..n {
                    let k = members.len();
                    if let Some(i) = (0..k)
                        .map(|j| (turn + j) % k)
                        .find(|&i| subscribed(&members[i], topic))
                    {
                        out.get_mut(members[i].id).unwrap().push((topic.clone(), p));
                        turn = i + 1;
                    }
                }
            }
        }
        Assignor::CooperativeSticky => sticky(members, partitions, previous, &mut out),
    }
    out
}

fn sticky(
    members: &[Sub],
    partitions: &BTreeMap<String, u32>,
    previous: &BTreeMap<String, Vec<Tp>>,
    out: &mut BTreeMap<String, Vec<Tp>>,
) {
    let all: Vec<Tp> = partitions
        .iter()
        .flat_map(|(t, &n)| (0..n).map(move |p| (t.clone(), p)))
        .collect();
    if members.is_empty() {
        return;
    }
    let eligible = |m: &Sub, tp: &Tp| {
        m.topics.contains(&tp.0) && partitions.get(&tp.0).is_some_and(|&n| tp.1 < n)
    };
    let base = all.len() / members.len();
    // How many members may hold one more than `base`.
    let mut extra = all.len() % members.len();
    let mut taken = BTreeSet::new();
    // Keep what each member had: up to `base` first, then the extra slots.
    for round in 0..2 {
        for m in members {
            for tp in previous.get(m.id).into_iter().flatten() {
                let have = out[m.id].len();
                let room = have < base || (round == 1 && have == base && extra > 0);
                if room && eligible(m, tp) && !taken.contains(tp) {
                    if have == base {
                        extra -= 1;
                    }
                    taken.insert(tp.clone());
                    out.get_mut(m.id).unwrap().push(tp.clone());
                }
            }
        }
    }
    // Hand out the rest to the least loaded eligible member.
    for tp in all.iter().filter(|tp| !taken.contains(*tp)) {
        let least = |capped: bool| {
            members
                .iter()
                .filter(|m| eligible(m, tp))
                .filter(|m| {
                    !capped || out[m.id].len() < base || (out[m.id].len() == base && extra > 0)
                })
                .min_by_key(|m| out[m.id].len())
                .map(|m| m.id)
        };
        // Uneven subscriptions can leave no member under its cap.
        if let Some(id) = least(true).or_else(|| least(false)) {
            if out[id].len() == base && extra > 0 {
                extra -= 1;
            }
            out.get_mut(id).unwrap().push(tp.clone());
        }
    }
    for list in out.values_mut() {
        list.sort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs<'a>(ids: &'a [String], topics: &'a [String]) -> Vec<Sub<'a>> {
        ids.iter().map(|id| Sub { id, topics }).collect()
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("m{i}")).collect()
    }

    fn counts(a: &BTreeMap<String, Vec<Tp>>) -> Vec<usize> {
        a.values().map(Vec::len).collect()
    }

    fn parts(n: u32) -> BTreeMap<String, u32> {
        BTreeMap::from([("t".to_string(), n)])
    }

    fn covers_once(a: &BTreeMap<String, Vec<Tp>>, n: u32) {
        let mut all: Vec<&Tp> = a.values().flatten().collect();
        all.sort();
        let want: Vec<Tp> = (0..n).map(|p| ("t".to_string(), p)).collect();
        assert_eq!(all, want.iter().collect::<Vec<_>>());
    }

    #[test]
    fn every_assignor_covers_each_partition_once_and_balances() {
        let topics = vec!["t".to_string()];
        for kind in [
            Assignor::Range,
            Assignor::Roundrobin,
            Assignor::CooperativeSticky,
        ] {
            for (m, n) in [(1, 8), (3, 8), (4, 8), (8, 3), (5, 5)] {
                let ids = ids(m);
                let a = assign(kind, &subs(&ids, &topics), &parts(n), &BTreeMap::new());
                covers_once(&a, n);
                let c = counts(&a);
                assert!(
                    c.iter().max().unwrap() - c.iter().min().unwrap() <= 1,
                    "{kind:?} {c:?}"
                );
            }
        }
    }

    #[test]
    fn range_gives_contiguous_runs() {
        let topics = vec!["t".to_string()];
        let ids = ids(3);
        let a = assign(
            Assignor::Range,
            &subs(&ids, &topics),
            &parts(8),
            &BTreeMap::new(),
        );
        let ps = |id: &str| a[id].iter().map(|tp| tp.1).collect::<Vec<_>>();
        assert_eq!(
            (ps("m0"), ps("m1"), ps("m2")),
            (vec![0, 1, 2], vec![3, 4, 5], vec![6, 7])
        );
    }

    #[test]
    fn sticky_moves_only_what_it_must() {
        let topics = vec!["t".to_string()];
        let one = ids(1);
        let a1 = assign(
            Assignor::CooperativeSticky,
            &subs(&one, &topics),
            &parts(8),
            &BTreeMap::new(),
        );
        assert_eq!(a1["m0"].len(), 8);
        // Three more join: m0 keeps 2 of its own, the others get 2 each.
        let four = ids(4);
        let a4 = assign(
            Assignor::CooperativeSticky,
            &subs(&four, &topics),
            &parts(8),
            &a1,
        );
        assert_eq!(counts(&a4), vec![2, 2, 2, 2]);
        assert!(a4["m0"].iter().all(|tp| a1["m0"].contains(tp)));
        // m2 leaves: the others keep all they had and split m2's two.
        let rest: Vec<String> = ["m0", "m1", "m3"].iter().map(|s| s.to_string()).collect();
        let a3 = assign(
            Assignor::CooperativeSticky,
            &subs(&rest, &topics),
            &parts(8),
            &a4,
        );
        covers_once(&a3, 8);
        for id in &rest {
            assert!(
                a4[id].iter().all(|tp| a3[id].contains(tp)),
                "{id} kept its partitions"
            );
        }
    }

    #[test]
    fn members_only_get_topics_they_subscribe_to() {
        let (ta, tb) = (
            vec!["a".to_string()],
            vec!["a".to_string(), "b".to_string()],
        );
        let members = [
            Sub {
                id: "m0",
                topics: &ta,
            },
            Sub {
                id: "m1",
                topics: &tb,
            },
        ];
        let parts = BTreeMap::from([("a".to_string(), 2), ("b".to_string(), 2)]);
        for kind in [
            Assignor::Range,
            Assignor::Roundrobin,
            Assignor::CooperativeSticky,
        ] {
            let a = assign(kind, &members, &parts, &BTreeMap::new());
            assert!(a["m0"].iter().all(|tp| tp.0 == "a"), "{kind:?}");
            assert_eq!(a.values().map(Vec::len).sum::<usize>(), 4);
        }
    }

    #[test]
    fn names_parse() {
        assert_eq!(Assignor::parse("range").unwrap(), Assignor::Range);
        assert_eq!(
            Assignor::parse("sticky").unwrap_err().code,
            Code::InvalidArg
        );
    }
}
