//! A metadata shard's redb database as a group's state machine ([`Applier`]).
//!
//! A committed batch is applied the way the local group commit applies one (`MetaCmd::apply`
//! in order, in one write transaction), and the Raft position is written in that same
//! transaction, committed with `Durability::Immediate`: after a crash the shard and its
//! position agree, and Raft re-applies exactly the entries after it. The replies (one
//! `S3Result<MetaReply>` per command) travel back to the proposer as bincode.
//!
//! `MetaCmd::apply` is deterministic (times, ids and version proposals travel inside the
//! command; nothing reads a clock, a RNG or a local file), so every replica computes the same
//! state and the same replies. A storage-level failure (a poisoned transaction) fails the
//! whole apply: nothing of the batch commits and openraft stops the group on this node,
//! rather than letting this replica diverge.
//!
//! A snapshot is every metadata table as (key, value) rows; installing one replaces the
//! tables' contents in one transaction with the snapshot's position.

use super::raft::{Applier, ClusterError};
use crate::error::S3Result;
use crate::meta::commands::{MetaCmd, MetaReply};
use crate::meta::tables::{BUCKETS, BUCKET_CONFIGS, INFO, OBJECTS, PARTS, UPLOADS, VERSIONS};
use redb::{
    Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where the shard keeps its Raft position (one row), beside the metadata tables.
const POSITION: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_position");
const POSITION_KEY: &str = "applied";

/// One table's rows in a snapshot: its name, then (bincode key, value) pairs.
#[derive(Serialize, Deserialize)]
struct TableRows {
    name: String,
    rows: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Decodes what [`ShardApplier::apply`] answered for a batch: one result per command.
pub fn decode_replies(bytes: &[u8]) -> Result<Vec<S3Result<MetaReply>>, ClusterError> {
    bincode::deserialize(bytes).map_err(|e| ClusterError::new(format!("undecodable replies: {e}")))
}

/// A shard's database as the state machine of its group.
pub struct ShardApplier {
    db: Arc<Database>,
}

impl ShardApplier {
    /// `db` is the shard's open database (shared with the reads on its core).
    pub fn new(db: Arc<Database>) -> ShardApplier {
        ShardApplier { db }
    }
}

fn db_err(what: &str, e: impl std::fmt::Display) -> ClusterError {
    ClusterError::new(format!("{what}: {e}"))
}

/// Runs `$body` once per metadata table, with `$def` its definition and `$key` its key type
/// (a macro: each table has its own key type).
macro_rules! each_table {
    ($def:ident, $key:ident => $body:block) => {{
        {
            let $def = BUCKETS;
            type $key<'a> = &'a str;
            $body
        }
        {
            let $def = OBJECTS;
            type $key<'a> = (&'a str, &'a str);
            $body
        }
        {
            let $def = UPLOADS;
            type $key<'a> = (&'a str, &'a str, &'a str);
            $body
        }
        {
            let $def = PARTS;
            type $key<'a> = (&'a str, u32);
            $body
        }
        {
            let $def = INFO;
            type $key<'a> = &'a str;
            $body
        }
        {
            let $def = VERSIONS;
            type $key<'a> = (&'a str, &'a str, u64);
            $body
        }
        {
            let $def = BUCKET_CONFIGS;
            type $key<'a> = (&'a str, u8);
            $body
        }
    }};
}

fn dump_tables(txn: &redb::ReadTransaction) -> Result<Vec<TableRows>, ClusterError> {
    let mut tables = Vec::new();
    each_table!(def, K => {
        let table = txn.open_table(def).map_err(|e| db_err("snapshot", e))?;
        let mut rows = Vec::new();
        for row in table.iter().map_err(|e| db_err("snapshot", e))? {
            let (k, v) = row.map_err(|e| db_err("snapshot", e))?;
            let key: K<'_> = k.value();
            let key = bincode::serialize(&key).map_err(|e| db_err("snapshot key", e))?;
            rows.push((key, v.value().to_vec()));
        }
        tables.push(TableRows { name: def.name().to_string(), rows });
    });
    Ok(tables)
}

fn load_tables(txn: &redb::WriteTransaction, tables: &[TableRows]) -> Result<(), ClusterError> {
    each_table!(def, K => {
        txn.delete_table(def).map_err(|e| db_err("install", e))?;
        let mut table = txn.open_table(def).map_err(|e| db_err("install", e))?;
        let rows = tables.iter().find(|t| t.name == def.name());
        for (k, v) in rows.map(|t| t.rows.as_slice()).unwrap_or_default() {
            let key: K<'_> = bincode::deserialize(k).map_err(|e| db_err("snapshot key", e))?;
            table.insert(key, v.as_slice()).map_err(|e| db_err("install", e))?;
        }
    });
    Ok(())
}

fn write_position(txn: &redb::WriteTransaction, position: &[u8]) -> Result<(), ClusterError> {
    let mut table = txn
        .open_table(POSITION)
        .map_err(|e| db_err("position", e))?;
    table
        .insert(POSITION_KEY, position)
        .map_err(|e| db_err("position", e))?;
    Ok(())
}

/// Refuses a shard that holds metadata it never got through Raft (a single-node data
/// directory turned into a cluster node): its replica would silently differ from the others.
pub fn check_joinable(db: &Database, shard: u32) -> Result<(), ClusterError> {
    let txn = db.begin_read().map_err(|e| db_err("read", e))?;
    let applied = match txn.open_table(POSITION) {
        Ok(t) => t
            .get(POSITION_KEY)
            .map_err(|e| db_err("read the position", e))?
            .is_some(),
        Err(redb::TableError::TableDoesNotExist(_)) => false,
        Err(e) => return Err(db_err("open the position", e)),
    };
    if applied {
        return Ok(());
    }
    let mut empty = true;
    each_table!(def, K => {
        let table = txn.open_table(def).map_err(|e| db_err("read", e))?;
        let _: Option<K<'_>> = None;
        empty &= table.is_empty().map_err(|e| db_err("read", e))?;
    });
    if empty {
        Ok(())
    } else {
        Err(ClusterError::new(format!(
            "metadata shard {shard} holds records written outside the cluster (a single-node \
             data directory?): cluster mode needs a data directory that is new or was always \
             a cluster node's"
        )))
    }
}

impl Applier for ShardApplier {
    fn position(&self) -> Result<Option<Vec<u8>>, ClusterError> {
        let txn = self.db.begin_read().map_err(|e| db_err("read", e))?;
        let table = match txn.open_table(POSITION) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(db_err("open the position", e)),
        };
        let row = table
            .get(POSITION_KEY)
            .map_err(|e| db_err("read the position", e))?;
        Ok(row.map(|v| v.value().to_vec()))
    }

    fn apply(&mut self, batch: &[MetaCmd], position: &[u8]) -> Result<Vec<u8>, ClusterError> {
        let mut txn = self.db.begin_write().map_err(|e| db_err("begin", e))?;
        txn.set_durability(Durability::Immediate);
        let mut replies: Vec<S3Result<MetaReply>> = Vec::with_capacity(batch.len());
        for cmd in batch {
            let r = cmd.clone().apply(&txn);
            if let Err(e) = &r {
                if e.poisons_transaction() {
                    // Dropping the transaction aborts it: nothing of this batch is applied.
                    return Err(ClusterError::new(format!("apply a batch: {e}")));
                }
            }
            replies.push(r);
        }
        write_position(&txn, position)?;
        txn.commit().map_err(|e| db_err("commit", e))?;
        bincode::serialize(&replies).map_err(|e| db_err("encode replies", e))
    }

    fn snapshot(&self) -> Result<Vec<u8>, ClusterError> {
        let txn = self.db.begin_read().map_err(|e| db_err("read", e))?;
        bincode::serialize(&dump_tables(&txn)?).map_err(|e| db_err("encode snapshot", e))
    }

    fn install(&mut self, snapshot: &[u8], position: &[u8]) -> Result<(), ClusterError> {
        let tables: Vec<TableRows> =
            bincode::deserialize(snapshot).map_err(|e| db_err("undecodable snapshot", e))?;
        let mut txn = self.db.begin_write().map_err(|e| db_err("begin", e))?;
        txn.set_durability(Durability::Immediate);
        // On an error the transaction is dropped (aborted): the old state stays.
        load_tables(&txn, &tables)?;
        write_position(&txn, position)?;
        txn.commit().map_err(|e| db_err("commit", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::types::BucketMeta;

    #[test]
    fn a_shard_with_records_from_outside_the_cluster_is_refused() {
        let (_dir, db) = crate::meta::tables::test_db();
        check_joinable(&db, 0).expect("an empty shard may join");
        let txn = db.begin_write().unwrap();
        let cmd = MetaCmd::CreateBucket {
            meta: BucketMeta::test_new("b", "o"),
            configs: vec![],
        };
        cmd.apply(&txn).unwrap();
        txn.commit().unwrap();
        let e = check_joinable(&db, 3).expect_err("written outside Raft");
        assert!(e.to_string().contains("shard 3"), "{e}");

        // The same record applied through the group (with a position) is fine.
        let (_dir2, db2) = crate::meta::tables::test_db();
        let mut applier = ShardApplier::new(Arc::new(db2));
        let cmd = MetaCmd::CreateBucket {
            meta: BucketMeta::test_new("b", "o"),
            configs: vec![],
        };
        let replies = applier.apply(&[cmd], b"position").unwrap();
        assert_eq!(decode_replies(&replies).unwrap().len(), 1);
        check_joinable(&applier.db, 0).expect("applied through Raft");
        assert_eq!(
            applier.position().unwrap().as_deref(),
            Some(&b"position"[..])
        );
    }
}
