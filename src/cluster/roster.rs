//! The membership as this node sees it now: who votes (and so holds data: the placement runs
//! over them) and every node whose address it knows (reads and copies can reach them).
//!
//! The configuration only seeds it. Once a group's log holds a membership, that membership
//! rules: a node added or removed at run time (`ClusterNode::change_members`, openraft's
//! joint consensus) shows here on every node as its Raft log applies the change, and a
//! restarted node reads it back from its log. Group 0's membership is the one followed; the
//! others reach the same one a moment later (a change goes through the groups in order).

use super::config::{ClusterSpec, Member};
use super::raft::NodeId;
use openraft::{BasicNode, Membership};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

/// One view of the membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    /// Members that vote: in joint consensus, the union of the old and the new set.
    pub voters: BTreeMap<NodeId, Member>,
    /// Every node whose address is known: the voters, learners (a node being added), the
    /// configured nodes and nodes removed since this process started (their data may still
    /// be read while it moves).
    pub known: BTreeMap<NodeId, Member>,
    /// Whether a membership change is under way (joint consensus, or a learner waiting).
    pub changing: bool,
}

/// How a member is written in the Raft membership (openraft's `BasicNode::addr`): the peer
/// address, a space, the S3 address. A bare peer address (an older log) still reads.
pub fn node_addr(m: &Member) -> String {
    format!("{} {}", m.peer, m.s3)
}

/// The peer address in a membership entry's `addr`.
pub fn peer_addr(addr: &str) -> Option<SocketAddr> {
    addr.split_whitespace().next()?.parse().ok()
}

/// The member a membership entry names; the S3 address falls back to `fallback`'s (the
/// configuration), else to the peer address (only /health shows it).
fn member_of(addr: &str, fallback: Option<&Member>) -> Option<Member> {
    let mut parts = addr.split_whitespace();
    let peer: SocketAddr = parts.next()?.parse().ok()?;
    let s3 = match parts.next().and_then(|s| s.parse().ok()) {
        Some(s3) => s3,
        None => fallback.map_or(peer, |f| f.s3),
    };
    Some(Member { s3, peer })
}

impl Roster {
    /// The configured membership, before any log says otherwise; a joining node does not
    /// vote until it is added.
    pub fn from_spec(spec: &ClusterSpec) -> Roster {
        let mut voters = spec.nodes.clone();
        if spec.join {
            voters.remove(&spec.node_id);
        }
        Roster {
            voters,
            known: spec.nodes.clone(),
            changing: spec.join,
        }
    }

    /// This view updated to a group's membership (an empty one, before the group formed,
    /// changes nothing).
    pub fn with_membership(&self, m: &Membership<NodeId, BasicNode>) -> Roster {
        let mut known = self.known.clone();
        for (id, node) in m.nodes() {
            if let Some(member) = member_of(&node.addr, self.known.get(id)) {
                known.insert(*id, member);
            }
        }
        let voters: BTreeMap<NodeId, Member> = m
            .voter_ids()
            .filter_map(|id| known.get(&id).map(|member| (id, *member)))
            .collect();
        if voters.is_empty() {
            return Roster {
                known,
                ..self.clone()
            };
        }
        let learners = m.learner_ids().next().is_some();
        Roster {
            voters,
            known,
            changing: m.get_joint_config().len() > 1 || learners,
        }
    }
}

/// The current [`Roster`], shared by everything on this node that needs it; replaced whole
/// on each change, so a reader holds one consistent view.
#[derive(Clone)]
pub struct RosterCell(Arc<RwLock<Arc<Roster>>>);

impl RosterCell {
    pub fn new(roster: Roster) -> RosterCell {
        RosterCell(Arc::new(RwLock::new(Arc::new(roster))))
    }

    pub fn get(&self) -> Arc<Roster> {
        match self.0.read() {
            Ok(r) => Arc::clone(&r),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Installs `roster`; true when it differs from the one before.
    pub fn set(&self, roster: Roster) -> bool {
        let mut cell = match self.0.write() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if **cell == roster {
            return false;
        }
        *cell = Arc::new(roster);
        true
    }
}

/// Node `i`'s addresses in tests: S3 on 9000 + i, peer on 9100 + i.
#[cfg(test)]
pub(super) fn test_member(i: u64) -> Member {
    Member {
        s3: SocketAddr::from(([127, 0, 0, 1], 9000 + i as u16)),
        peer: SocketAddr::from(([127, 0, 0, 1], 9100 + i as u16)),
    }
}

#[cfg(test)]
mod tests {
    use super::test_member as member;
    use super::*;
    use std::collections::BTreeSet;

    fn nodes(ids: &[u64]) -> BTreeMap<NodeId, BasicNode> {
        ids.iter()
            .map(|i| (*i, BasicNode::new(node_addr(&member(*i)))))
            .collect()
    }

    fn seed(ids: &[u64]) -> Roster {
        let m: BTreeMap<NodeId, Member> = ids.iter().map(|i| (*i, member(*i))).collect();
        Roster {
            voters: m.clone(),
            known: m,
            changing: false,
        }
    }

    #[test]
    fn an_address_carries_both_ports_and_a_bare_one_still_reads() {
        let m = member(1);
        assert_eq!(member_of(&node_addr(&m), None), Some(m));
        assert_eq!(peer_addr(&node_addr(&m)), Some(m.peer));
        // An older log: the peer address alone; the S3 address comes from the config.
        assert_eq!(member_of("127.0.0.1:9101", Some(&m)), Some(m));
        assert_eq!(member_of("node1:9101", None), None);
    }

    #[test]
    fn a_learner_is_known_but_holds_no_data_until_it_votes() {
        let before = seed(&[1, 2, 3]);
        let all = nodes(&[1, 2, 3, 4]);
        let voters: BTreeSet<u64> = [1, 2, 3].into();
        let m = Membership::new(vec![voters], all.clone());
        let r = before.with_membership(&m);
        assert_eq!(r.voters.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(r.known.get(&4), Some(&member(4)));
        assert!(r.changing);
        // Joint: the union votes.
        let joint = Membership::new(vec![[1, 2, 3].into(), [1, 2, 3, 4].into()], all.clone());
        let r = r.with_membership(&joint);
        assert_eq!(r.voters.len(), 4);
        assert!(r.changing);
        let done = Membership::new(vec![[1, 2, 3, 4].into()], all);
        let r = r.with_membership(&done);
        assert_eq!(r.voters.len(), 4);
        assert!(!r.changing);
    }

    #[test]
    fn a_removed_node_stays_known_and_stops_voting() {
        let before = seed(&[1, 2, 3]);
        let m = Membership::new(vec![[1, 2].into()], nodes(&[1, 2]));
        let r = before.with_membership(&m);
        assert_eq!(r.voters.keys().copied().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(r.known.get(&3), Some(&member(3)));
    }

    #[test]
    fn an_unformed_group_changes_nothing() {
        let before = seed(&[1, 2, 3]);
        let empty = Membership::new(vec![], BTreeMap::new());
        assert_eq!(before.with_membership(&empty), before);
        let cell = RosterCell::new(before.clone());
        assert!(!cell.set(before));
        assert!(cell.set(seed(&[1, 2])));
        assert_eq!(cell.get().voters.len(), 2);
    }
}
