//! [`RocksStore`]: the [`StateStore`] on one RocksDB database.

use std::path::{Path, PathBuf};

use journey_core::store::{Entries, Op, StateStore, StoreError, Table, WriteBatch};
use rocksdb::{
    properties, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, Direction, ErrorKind,
    FlushOptions, IteratorMode, Options, ReadOptions, WriteBatch as RocksBatch, WriteOptions, DB,
};

use crate::keys::{
    decode_offset, decode_partition, encode_offset, offset_key, partition_prefix, prefix_successor,
    state_key, PARTITION_LEN,
};
use crate::StoreOptions;

/// Name of the column family that holds input offsets.
pub const OFFSETS_CF: &str = "offsets";

/// Column families this store uses: one per [`Table`], then [`OFFSETS_CF`].
fn cf_names() -> impl Iterator<Item = &'static str> {
    Table::ALL.into_iter().map(Table::name).chain([OFFSETS_CF])
}

/// The RocksDB state store. See the crate docs for the layout.
pub struct RocksStore {
    db: DB,
    write_opts: WriteOptions,
    path: PathBuf,
    sync_writes: bool,
}

impl std::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.path)
            .field("sync_writes", &self.sync_writes)
            .finish()
    }
}

// The trait requires it; checked here so a change of `DB`'s thread mode fails loudly.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RocksStore>();
};

impl RocksStore {
    /// Opens (or creates) the database at `path`, creating missing column
    /// families.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] if the database cannot be opened: another process
    /// holds its lock, the directory is not writable, or the files are
    /// corrupt.
    pub fn open(path: &Path, opts: &StoreOptions) -> Result<Self, StoreError> {
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        // Flush all column families together, so an idle one never pins old
        // WAL files and on-disk tables are consistent across families even
        // without the WAL.
        db_opts.set_atomic_flush(true);
        db_opts.set_max_open_files(opts.max_open_files);
        db_opts.set_keep_log_file_num(10);

        let mut names: Vec<String> = cf_names().map(str::to_string).collect();
        // Column families written by a newer version must be opened too, or RocksDB refuses to open.
        if let Ok(existing) = DB::list_cf(&db_opts, path) {
            for name in existing {
                if name != rocksdb::DEFAULT_COLUMN_FAMILY_NAME && !names.contains(&name) {
                    tracing::warn!(column_family = %name, "state store has an unknown column family; leaving it untouched");
                    names.push(name);
                }
            }
        }
        let descriptors = names
            .into_iter()
            .map(|name| ColumnFamilyDescriptor::new(name, cf_options(opts)));
        let db = DB::open_cf_descriptors(&db_opts, path, descriptors)
            .map_err(|e| io_error("open", &e))?;

        let mut write_opts = WriteOptions::default();
        write_opts.set_sync(opts.sync_writes);
        tracing::info!(path = %path.display(), sync_writes = opts.sync_writes, "state store opened");
        Ok(Self {
            db,
            write_opts,
            path: path.to_path_buf(),
            sync_writes: opts.sync_writes,
        })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Approximate bytes held by the store: table files on disk plus
    /// in-memory write buffers, over all column families (the WAL and RocksDB
    /// log files are not counted). Best effort: a family whose size cannot be
    /// read counts as 0. For `journey status` and the store-size metric.
    pub fn approximate_size_bytes(&self) -> u64 {
        let mut total = 0u64;
        for name in cf_names() {
            let Some(cf) = self.db.cf_handle(name) else {
                continue;
            };
            for prop in [
                properties::TOTAL_SST_FILES_SIZE,
                properties::CUR_SIZE_ALL_MEM_TABLES,
            ] {
                match self.db.property_int_value_cf(cf, prop) {
                    Ok(Some(v)) => total = total.saturating_add(v),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(column_family = name, error = %e, "cannot read state store size")
                    }
                }
            }
        }
        total
    }

    /// Every stored offset as `(topic, partition, next_offset)`, ordered by
    /// partition (numerically), then topic. Used at startup to seek the
    /// consumer and by `journey status`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] on a read error or a malformed offset entry.
    pub fn partitions_with_offsets(&self) -> Result<Vec<(String, i32, i64)>, StoreError> {
        let cf = self.cf(OFFSETS_CF)?;
        let mut out = Vec::new();
        for item in self.db.iterator_cf(cf, IteratorMode::Start) {
            let (key, value) = item.map_err(|e| io_error("read offsets", &e))?;
            let partition = decode_partition(&key)
                .ok_or_else(|| StoreError::Io("malformed offset key: too short".to_string()))?;
            let topic = String::from_utf8(key[PARTITION_LEN..].to_vec()).map_err(|_| {
                StoreError::Io(format!(
                    "malformed offset key of partition {partition}: topic is not utf-8"
                ))
            })?;
            out.push((topic, partition, offset_value(partition, &value)?));
        }
        Ok(out)
    }

    /// Syncs the WAL and flushes all write buffers to table files, waiting
    /// for completion. Call before a clean shutdown or handing partitions
    /// over, so that even a machine crash afterwards loses nothing.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] if the WAL cannot be synced or a flush fails.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db
            .flush_wal(true)
            .map_err(|e| io_error("sync wal", &e))?;
        let cfs = self.all_cfs()?;
        self.db
            .flush_cfs_opt(&cfs, &FlushOptions::default())
            .map_err(|e| io_error("flush", &e))
    }

    fn cf(&self, name: &str) -> Result<&ColumnFamily, StoreError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StoreError::Io(format!("column family {name} is missing")))
    }

    fn table_cf(&self, table: Table) -> Result<&ColumnFamily, StoreError> {
        self.cf(table.name())
    }

    fn all_cfs(&self) -> Result<Vec<&ColumnFamily>, StoreError> {
        cf_names().map(|name| self.cf(name)).collect()
    }
}

impl StateStore for RocksStore {
    fn get(&self, table: Table, partition: i32, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let cf = self.table_cf(table)?;
        let value = self
            .db
            .get_pinned_cf(cf, state_key(partition, key))
            .map_err(|e| io_error("get", &e))?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn scan(&self, table: Table, partition: i32, prefix: &[u8]) -> Result<Entries, StoreError> {
        let cf = self.table_cf(table)?;
        let start = state_key(partition, prefix);
        let mut read_opts = ReadOptions::default();
        if let Some(upper) = prefix_successor(&start) {
            read_opts.set_iterate_upper_bound(upper);
        }
        let mut out = Vec::new();
        for item in self.db.iterator_cf_opt(
            cf,
            read_opts,
            IteratorMode::From(&start, Direction::Forward),
        ) {
            let (key, value) = item.map_err(|e| io_error("scan", &e))?;
            // Only reachable without an upper bound (an all-0xFF start key).
            if !key.starts_with(&start) {
                break;
            }
            out.push((key[PARTITION_LEN..].to_vec(), value.into_vec()));
        }
        Ok(out)
    }

    fn write(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut rocks = RocksBatch::default();
        for op in &batch.ops {
            match op {
                Op::Put {
                    table,
                    partition,
                    key,
                    value,
                } => {
                    rocks.put_cf(self.table_cf(*table)?, state_key(*partition, key), value);
                }
                Op::Delete {
                    table,
                    partition,
                    key,
                } => {
                    rocks.delete_cf(self.table_cf(*table)?, state_key(*partition, key));
                }
                Op::Offset {
                    topic,
                    partition,
                    next_offset,
                } => {
                    rocks.put_cf(
                        self.cf(OFFSETS_CF)?,
                        offset_key(topic, *partition),
                        encode_offset(*next_offset),
                    );
                }
            }
        }
        self.db
            .write_opt(rocks, &self.write_opts)
            .map_err(|e| io_error("write batch", &e))
    }

    fn offset(&self, topic: &str, partition: i32) -> Result<Option<i64>, StoreError> {
        let cf = self.cf(OFFSETS_CF)?;
        let value = self
            .db
            .get_pinned_cf(cf, offset_key(topic, partition))
            .map_err(|e| io_error("read offset", &e))?;
        value.map(|v| offset_value(partition, &v)).transpose()
    }

    fn drop_partition(&self, partition: i32) -> Result<(), StoreError> {
        let prefix = partition_prefix(partition);
        let mut rocks = RocksBatch::default();
        for cf in self.all_cfs()? {
            match prefix_successor(&prefix) {
                Some(end) => rocks.delete_range_cf(cf, &prefix[..], &end[..]),
                // Partition i32::MAX: no key bounds its range, so delete key by key.
                None => {
                    for item in self
                        .db
                        .iterator_cf(cf, IteratorMode::From(&prefix, Direction::Forward))
                    {
                        let (key, _) = item.map_err(|e| io_error("drop partition", &e))?;
                        rocks.delete_cf(cf, key);
                    }
                }
            }
        }
        self.db
            .write_opt(rocks, &self.write_opts)
            .map_err(|e| io_error("drop partition", &e))?;
        tracing::info!(partition, "state store partition dropped");
        Ok(())
    }
}

fn cf_options(opts: &StoreOptions) -> Options {
    let mut cf = Options::default();
    cf.set_write_buffer_size(opts.write_buffer_size_bytes);
    cf.set_compression_type(if opts.compression {
        DBCompressionType::Lz4
    } else {
        DBCompressionType::None
    });
    cf
}

fn offset_value(partition: i32, value: &[u8]) -> Result<i64, StoreError> {
    decode_offset(value).ok_or_else(|| {
        StoreError::Io(format!(
            "malformed offset of partition {partition}: {} bytes, expected 8",
            value.len()
        ))
    })
}

/// Maps a RocksDB error to [`StoreError::Io`], naming the operation.
///
/// RocksDB's I/O messages (file, errno such as "No space left on device")
/// are kept: operators need them. Corruption messages are replaced, since
/// some of them quote internal keys, which may hold personal data; RocksDB
/// writes the details to the `LOG` file in the database directory.
fn io_error(operation: &str, err: &rocksdb::Error) -> StoreError {
    match err.kind() {
        ErrorKind::Corruption => StoreError::Io(format!(
            "{operation}: corruption detected (details in the database LOG file)"
        )),
        _ => StoreError::Io(format!("{operation}: {err}")),
    }
}
