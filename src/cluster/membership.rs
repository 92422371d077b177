//! Adding and removing nodes at run time (issue #19), with openraft's joint consensus.
//!
//! An operator asks any member (`bleepstore cluster add-node` / `remove-node`, over the
//! authenticated peer transport). That node changes the groups one after the other, each on
//! its leader ([`change_group`], forwarded when the leader is elsewhere):
//!
//! * **Add:** the node joins as a learner and the call waits until its log has caught up
//!   (a snapshot, then entries), then the group moves through the joint configuration to
//!   one where it votes.
//! * **Remove:** the group moves through the joint configuration to one without the node,
//!   which stops taking part in it.
//!
//! Each step is idempotent, so a change cut off half-way (a leader lost, a timeout) is
//! finished by asking again. The data follows in the background: every node runs a repair
//! pass when its groups' membership changes, which fetches the files the new placement gives
//! it and removes the ones it no longer holds once their new place has them all
//! (`cluster::repair`).

use super::config::Member;
use super::network::{forward_group_change, ForwardError, MemberChange, Refusal};
use super::raft::{NodeId, TypeConfig};
use super::roster::node_addr;
use super::transport::{PeerClient, Secret};
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, Raft};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Longest a group's leader works on one change: a learner's catch-up may ship a snapshot of
/// the whole shard.
pub const GROUP_CHANGE_TIMEOUT_MS: u64 = 300_000;
/// Longest an operator's change of every group takes before it is reported as unfinished.
pub const MEMBERS_CHANGE_TIMEOUT_MS: u64 = 900_000;
/// How a node that does not vote refuses to carry out a change (the asker tries another).
pub const NOT_A_VOTER: &str = "not a voting member";
/// Pause between two tries while a group has no leader, or its leader just moved.
const RETRY_PAUSE_MS: u64 = 200;

/// Makes `change` in the group `raft` leads; refuses with `NotLeader` (nothing done) when it
/// does not lead it. Answers what it did.
pub async fn change_group(
    raft: &Raft<TypeConfig>,
    change: MemberChange,
) -> Result<String, Refusal> {
    let wait = Duration::from_millis(GROUP_CHANGE_TIMEOUT_MS);
    match tokio::time::timeout(wait, change_group_now(raft, change)).await {
        Ok(r) => r,
        Err(_) => Err(Refusal::Failed(format!(
            "{change}: not done within {GROUP_CHANGE_TIMEOUT_MS} ms (ask again to finish it)"
        ))),
    }
}

async fn change_group_now(
    raft: &Raft<TypeConfig>,
    change: MemberChange,
) -> Result<String, Refusal> {
    let (me, leader, membership) = {
        let m = raft.metrics();
        let m = m.borrow();
        (m.id, m.current_leader, m.membership_config.clone())
    };
    if leader != Some(me) {
        return Err(Refusal::NotLeader(leader));
    }
    let membership = membership.membership();
    let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
    let uniform = membership.get_joint_config().len() == 1;
    match change {
        MemberChange::Add { id, s3, peer } => {
            if uniform && voters.contains(&id) {
                return Ok(format!("node {id} votes already"));
            }
            if !voters.contains(&id) {
                let node = BasicNode::new(node_addr(&Member { s3, peer }));
                // Blocks until the learner's log has caught up with the leader's.
                raft.add_learner(id, node, true).await.map_err(refusal)?;
            }
            let add: BTreeSet<NodeId> = [id].into();
            raft.change_membership(ChangeMembers::AddVoterIds(add), false)
                .await
                .map_err(refusal)?;
            Ok(format!("node {id} added"))
        }
        MemberChange::Remove { id } => {
            let known = membership.get_node(&id).is_some();
            if !known {
                return Ok(format!("node {id} is no member"));
            }
            if voters.len() == 1 && voters.contains(&id) {
                return Err(Refusal::Failed(format!(
                    "node {id} is the only voter: a cluster cannot remove its last member"
                )));
            }
            if voters.contains(&id) {
                let remove: BTreeSet<NodeId> = [id].into();
                raft.change_membership(ChangeMembers::RemoveVoters(remove), false)
                    .await
                    .map_err(refusal)?;
            } else {
                // A learner left by an add cut short.
                let remove: BTreeSet<NodeId> = [id].into();
                raft.change_membership(ChangeMembers::RemoveNodes(remove), false)
                    .await
                    .map_err(refusal)?;
            }
            Ok(format!("node {id} removed"))
        }
    }
}

fn refusal(e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>) -> Refusal {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            Refusal::NotLeader(f.leader_id)
        }
        e => Refusal::Failed(e.to_string()),
    }
}

/// Checks a change before any group sees it: an added node's id and addresses are new (or
/// exactly those it has already: asking again finishes an add).
pub fn check_change(
    change: MemberChange,
    known: &std::collections::BTreeMap<NodeId, Member>,
) -> Result<(), String> {
    let MemberChange::Add { id, s3, peer } = change else {
        return Ok(());
    };
    if s3 == peer {
        return Err(format!("node {id}: the S3 and peer addresses are the same"));
    }
    for (other, m) in known {
        if *other == id {
            if m.peer != peer {
                return Err(format!(
                    "node {id} is known with peer address {} already",
                    m.peer
                ));
            }
            continue;
        }
        for addr in [s3, peer] {
            if addr == m.s3 || addr == m.peer {
                return Err(format!("address {addr} is node {other}'s already"));
            }
        }
    }
    Ok(())
}

/// Makes `change` in group `group` on its leader, wherever it is, retrying while the group
/// has no leader or it moves, until `deadline`.
pub async fn change_group_anywhere(
    raft: &Raft<TypeConfig>,
    group: u32,
    change: MemberChange,
    peer_of: impl Fn(NodeId) -> Option<SocketAddr>,
    secret: &Secret,
    deadline: Instant,
) -> Result<String, String> {
    let mut why = String::from("no leader known");
    loop {
        let me = raft.metrics().borrow().id;
        match raft.current_leader().await {
            Some(l) if l == me => match change_group(raft, change).await {
                Ok(done) => return Ok(done),
                Err(Refusal::NotLeader(_)) => why = "leadership moved".into(),
                Err(Refusal::Failed(e)) => return Err(e),
            },
            Some(l) => match peer_of(l) {
                None => why = format!("the leader, node {l}, has no known address"),
                Some(addr) => {
                    let mut client = PeerClient::new(addr, secret.clone());
                    let timeout = Duration::from_millis(GROUP_CHANGE_TIMEOUT_MS + 5_000);
                    match forward_group_change(&mut client, group, change, timeout).await {
                        Ok(done) => return Ok(done),
                        Err(ForwardError::NotLeader(_)) => {
                            why = format!("node {l} no longer leads")
                        }
                        Err(ForwardError::Unreachable(e)) => why = e,
                        Err(ForwardError::Unknown(e)) => return Err(format!("node {l}: {e}")),
                    }
                }
            },
            None => {}
        }
        if Instant::now() >= deadline {
            return Err(format!("not done in time: {why}"));
        }
        tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)).await;
    }
}

/// An operator's request (`bleepstore cluster add-node` / `remove-node`): sends `change` to
/// `via`, else to the configured nodes in turn (this node's first) until one takes it, over
/// the peer transport authenticated with `cluster.secret`; returns what every group did.
pub fn ask(
    spec: &super::config::ClusterSpec,
    via: Option<SocketAddr>,
    change: MemberChange,
) -> Result<String, String> {
    let subject = match change {
        MemberChange::Add { id, .. } | MemberChange::Remove { id } => id,
    };
    let mut targets: Vec<SocketAddr> = via.into_iter().collect();
    if targets.is_empty() {
        // This node first, unless the change is about it (a joining node asks the others).
        let mut order: Vec<(&NodeId, &Member)> = spec.nodes.iter().collect();
        order.sort_by_key(|(id, _)| **id != spec.node_id);
        targets.extend(
            order
                .into_iter()
                .filter(|(id, _)| **id != subject)
                .map(|(_, m)| m.peer),
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let timeout = Duration::from_millis(MEMBERS_CHANGE_TIMEOUT_MS + 10_000);
    let mut why = Vec::new();
    for addr in targets {
        let mut client = PeerClient::new(addr, spec.secret.clone());
        let asked = super::network::request_member_change(&mut client, change, timeout);
        match runtime.block_on(asked) {
            Ok(done) => return Ok(done),
            // Not reached, or not a member: the next node may take it.
            Err(ForwardError::Unreachable(e)) => why.push(format!("{addr}: {e}")),
            Err(ForwardError::Unknown(e)) if e.starts_with(NOT_A_VOTER) => {
                why.push(format!("{addr}: {e}"))
            }
            // It took the request: its answer stands.
            Err(e) => return Err(format!("{addr}: {e}")),
        }
    }
    Err(format!("no node took the request ({})", why.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::super::roster::test_member as member;
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn an_add_must_bring_new_addresses() {
        let known: BTreeMap<NodeId, Member> = (1..=3).map(|i| (i, member(i))).collect();
        let add = |id, m: Member| MemberChange::Add {
            id,
            s3: m.s3,
            peer: m.peer,
        };
        assert!(check_change(add(4, member(4)), &known).is_ok());
        // Asking again for a node already known the same way finishes it.
        assert!(check_change(add(3, member(3)), &known).is_ok());
        let err = check_change(add(4, member(2)), &known).unwrap_err();
        assert!(err.contains("node 2's already"), "{err}");
        let err = check_change(add(3, member(5)), &known).unwrap_err();
        assert!(err.contains("known with peer address"), "{err}");
        let same = Member {
            s3: member(4).s3,
            peer: member(4).s3,
        };
        assert!(check_change(add(4, same), &known).is_err());
        assert!(check_change(MemberChange::Remove { id: 9 }, &known).is_ok());
    }
}
