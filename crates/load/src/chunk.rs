//! The chunk pipeline: a lane reads one chunk from its snapshot reader, converts and encodes the
//! rows, and streams them into a COPY that commits together with the chunk's state row. Reader,
//! encoder and COPY run concurrently, joined by bounded channels.

use crate::{ChunkDone, Job};
use bytes::Bytes;
use ferry_model::{ErrorKind, SnapshotReader, Source};
use ferry_plan::{ConversionStats, Plan, TablePlan};
use ferry_progress::Progress;
use ferry_target_postgres::copy_binary::{self, BinaryKind};
use ferry_target_postgres::copy_text;
use ferry_target_postgres::state::ChunkRecord;
use ferry_target_postgres::PgTarget;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) struct Lane<S: Source> {
    pub source: Arc<S>,
    pub reader: S::Reader,
    pub plan: Arc<Plan>,
    pub target_url: String,
    pub queue: Arc<Mutex<VecDeque<Job>>>,
    pub failed: Arc<Mutex<HashMap<usize, String>>>,
    pub done: tokio::sync::mpsc::UnboundedSender<ChunkDone>,
    pub progress: Arc<Progress>,
    pub binary: bool,
}

const FLUSH_BYTES: usize = 1 << 19;

/// A lane's session on a Citus coordinator: its COPY reaches each worker over one connection
/// (placements share it, switching every `citus.copy_switchover_threshold`).
pub(crate) const CITUS_LANE_SETTINGS: &str = "SET citus.max_adaptive_executor_pool_size = 1";

impl<S: Source> Lane<S> {
    pub async fn run(mut self) {
        let mut target: Option<PgTarget> = None;
        loop {
            let job = {
                let mut q = self.queue.lock().unwrap();
                let failed = self.failed.lock().unwrap();
                // Skip chunks of tables that already failed.
                loop {
                    match q.pop_front() {
                        Some(j) if failed.contains_key(&j.table) => continue,
                        other => break other,
                    }
                }
            };
            let Some(job) = job else { break };
            let t = &self.plan.tables[job.table];
            let started = Instant::now();
            let mut attempt = 0;
            let outcome = loop {
                attempt += 1;
                if target.is_none() {
                    match PgTarget::connect(&self.target_url).await {
                        Ok(c) => {
                            if self.plan.citus.is_some() {
                                // One connection per worker for this lane's COPY: Citus opens
                                // up to citus.max_adaptive_executor_pool_size (16) per worker per
                                // COPY otherwise, lanes × that in all, and on a small cluster the
                                // extra connections cost more than they bring (docs/benchmarks.md).
                                if let Err(e) = c.batch(CITUS_LANE_SETTINGS).await {
                                    break Err((e.kind, e.message, false));
                                }
                            }
                            target = Some(c)
                        }
                        Err(e) if e.kind.is_transient() && attempt < 4 => {
                            tokio::time::sleep(backoff(attempt)).await;
                            continue;
                        }
                        Err(e) => break Err((e.kind, e.message, false)),
                    }
                }
                let conn = target.as_ref().unwrap();
                let r = load_chunk(&mut self.reader, conn, t, &self.plan.target_schema, &job, self.binary, &self.progress, job.table).await;
                match r {
                    Err((kind, msg, from_source)) if kind.is_transient() && attempt < 4 => {
                        tracing::warn!("{} chunk {}: {msg}; retrying", t.target.qualified(), job.chunk_id);
                        if from_source {
                            // The snapshot connection is gone: continue on a fresh one.
                            match self.source.open_snapshot(1).await {
                                Ok((mut r, _)) if !r.is_empty() => {
                                    self.reader = r.remove(0);
                                    self.progress.println(&format!(
                                        "warning: {}: source connection lost; chunk {} re-read outside the original snapshot",
                                        t.target.qualified(),
                                        job.chunk_id
                                    ));
                                }
                                _ => {}
                            }
                        } else {
                            target = None;
                        }
                        tokio::time::sleep(backoff(attempt)).await;
                    }
                    other => break other,
                }
            };
            let seconds = started.elapsed().as_secs_f64();
            let msg = match outcome {
                Ok((rows, bytes, stats)) => ChunkDone { table: job.table, rows, bytes, started, seconds, stats, error: None },
                Err((_, message, _)) => {
                    self.failed.lock().unwrap().entry(job.table).or_insert_with(|| message.clone());
                    self.progress.println(&format!("FAILED {}: {message}", t.target.qualified()));
                    ChunkDone { table: job.table, rows: 0, bytes: 0, started, seconds, stats: ConversionStats::default(), error: Some(message) }
                }
            };
            if self.done.send(msg).is_err() {
                break;
            }
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * (1 << attempt.min(6)))
}

enum Encoder<'a> {
    Binary(&'a [BinaryKind]),
    Text,
}

/// Loads one chunk. The error says whether it came from the source (the reader must be replaced).
#[allow(clippy::too_many_arguments)]
async fn load_chunk<R: SnapshotReader>(
    reader: &mut R,
    target: &PgTarget,
    t: &TablePlan,
    schema: &str,
    job: &Job,
    binary: bool,
    progress: &Progress,
    table_index: usize,
) -> Result<(u64, u64, ConversionStats), (ErrorKind, String, bool)> {
    // PostgreSQL into PostgreSQL with unchanged types: the source's binary COPY data as is.
    if binary && reader.supports_raw() && t.raw_copy_eligible() {
        let columns: Vec<usize> = t.converter.columns.iter().map(|c| c.source_index).collect();
        let (byte_tx, byte_rx) = tokio::sync::mpsc::channel::<Result<Bytes, String>>(4);
        let bytes_sent = AtomicU64::new(0);
        let copy_sql = t.copy_sql(true);
        let none = std::sync::Mutex::new(Vec::new());
        let copy =
            target.copy_chunk(&copy_sql, byte_rx, ChunkRecord { schema, table: &t.target.name, chunk_id: job.chunk_id, bytes: &bytes_sent, quarantine: &none });
        let bytes_ref = &bytes_sent;
        let read = async move {
            let r = reader.read_raw(&t.source, &columns, &job.range, byte_tx.clone(), bytes_ref).await;
            if let Err(e) = &r {
                let _ = byte_tx.send(Err(e.message.clone())).await;
            }
            drop(byte_tx);
            r
        };
        let (read_res, copy_res) = tokio::join!(read, copy);
        if let Err(e) = read_res {
            return Err((e.kind, e.message, true));
        }
        return match copy_res {
            Ok(rows) => {
                progress.rows(table_index, rows);
                Ok((rows, bytes_sent.load(Ordering::Relaxed), ConversionStats::default()))
            }
            Err(e) => Err((e.kind, e.message, false)),
        };
    }
    let encoder = match (&t.binary, binary) {
        (Some(kinds), true) => Encoder::Binary(kinds),
        _ => Encoder::Text,
    };
    let copy_sql = t.copy_sql(matches!(encoder, Encoder::Binary(_)));
    let (row_tx, mut row_rx) = tokio::sync::mpsc::channel(4);
    let (byte_tx, byte_rx) = tokio::sync::mpsc::channel::<Result<Bytes, String>>(4);
    let bytes_sent = AtomicU64::new(0);
    // Cells the source set aside, handed to the COPY's transaction once the encoder is done.
    let set_aside = std::sync::Mutex::new(Vec::new());
    let copy = target.copy_chunk(
        &copy_sql,
        byte_rx,
        ChunkRecord { schema, table: &t.target.name, chunk_id: job.chunk_id, bytes: &bytes_sent, quarantine: &set_aside },
    );
    let read = reader.read(&t.source, &job.range, row_tx);
    let enc_tx = byte_tx.clone();
    let bytes_ref = &bytes_sent;
    let encode = async move {
        let byte_tx = enc_tx;
        let mut stats = ConversionStats::default();
        let mut ordinal = 0u64;
        let mut buf = Vec::with_capacity(FLUSH_BYTES * 2);
        if let Encoder::Binary(_) = encoder {
            buf.extend_from_slice(copy_binary::HEADER);
        }
        while let Some(batch) = row_rx.recv().await {
            let n = batch.len() as u64;
            for row in batch {
                ordinal += 1;
                let converted = match t.converter.convert(row, ordinal, &mut stats) {
                    Ok(r) => r,
                    Err(e) => {
                        let col = &t.source.columns[t.converter.columns[e.column].source_index].name;
                        return Err(format!("table `{}`, column `{col}`, {}: {}", t.source.name, e.key, e.message));
                    }
                };
                let r = match encoder {
                    Encoder::Binary(kinds) => copy_binary::encode_row(kinds, &converted, &mut buf).map_err(|(i, e)| (i, e.to_string())),
                    Encoder::Text => copy_text::encode_row(&converted, &mut buf).map_err(|(i, e)| (i, e.to_string())),
                };
                if let Err((i, e)) = r {
                    let col = &t.source.columns[t.converter.columns[i].source_index].name;
                    let key = t.converter.describe_target_row(&converted, ordinal);
                    return Err(format!("table `{}`, column `{col}`, {key}: {e}", t.source.name));
                }
                drop(converted);
                // A full piece leaves at once, not at the end of the batch: with wide rows a
                // batch is megabytes, and the lane holds one piece, not one batch, encoded.
                if buf.len() >= FLUSH_BYTES {
                    bytes_ref.fetch_add(buf.len() as u64, Ordering::Relaxed);
                    let chunk = Bytes::from(std::mem::replace(&mut buf, Vec::with_capacity(FLUSH_BYTES * 2)));
                    if byte_tx.send(Ok(chunk)).await.is_err() {
                        return Err("the COPY stopped".into());
                    }
                }
            }
            progress.rows(table_index, n);
        }
        if let Encoder::Binary(_) = encoder {
            buf.extend_from_slice(copy_binary::TRAILER);
        }
        if !buf.is_empty() {
            bytes_ref.fetch_add(buf.len() as u64, Ordering::Relaxed);
            if byte_tx.send(Ok(Bytes::from(buf))).await.is_err() {
                return Err("the COPY stopped".into());
            }
        }
        Ok(stats)
    };
    // The COPY is committed only when both the read and the encoding succeeded; otherwise it
    // is aborted, so a failed chunk never leaves part of its rows.
    let set_aside_ref = &set_aside;
    let read_and_encode = async move {
        let (r, e) = tokio::join!(read, encode);
        if let Ok(stats) = &e {
            *set_aside_ref.lock().expect("quarantine list") = t.quarantine_rows(&stats.quarantined);
        }
        let failure = match (&r, &e) {
            (Err(re), _) => Some(re.message.clone()),
            (_, Err(ee)) => Some(ee.clone()),
            _ => None,
        };
        if let Some(f) = failure {
            let _ = byte_tx.send(Err(f)).await;
        }
        drop(byte_tx);
        (r, e)
    };
    let ((read_res, encode_res), copy_res) = tokio::join!(read_and_encode, copy);
    if let Err(e) = read_res {
        return Err((e.kind, e.message, true));
    }
    let stats = encode_res.map_err(|m| (ErrorKind::BadData, m, false))?;
    match copy_res {
        Ok(rows) => Ok((rows, bytes_sent.load(Ordering::Relaxed), stats)),
        Err(e) => Err((e.kind, e.message, false)),
    }
}
