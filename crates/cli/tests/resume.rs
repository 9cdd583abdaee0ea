//! SIGKILL during a chunked load, then `--resume`: final counts and checksums equal the source,
//! and no chunk was loaded twice.

mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

const ROWS: u64 = 300_000;

fn checksum_mysql(db: &str) -> String {
    // Order-independent: the sum of each row's md5 (first 60 bits) over its text form.
    mysql(Some(db), "SELECT COUNT(*), SUM(CAST(CONV(SUBSTR(MD5(CONCAT_WS('|', id, v, IFNULL(n, ''))), 1, 15), 16, 10) AS UNSIGNED)) FROM big;")
        .trim()
        .to_string()
}

fn checksum_pg(url: &str) -> String {
    psql(url, "SELECT count(*), sum(('x' || substr(md5(concat_ws('|', id, v, coalesce(n::text, ''))), 1, 15))::bit(60)::bigint) FROM s.big").trim().to_string()
}

/// Chunks of schema `s` committed so far (0 before the state tables exist).
fn committed_chunks(dst: &str) -> u64 {
    psql_try(dst, "SELECT count(*) FROM ferry.load_chunks WHERE target_schema = 's'").ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0)
}

/// Starts `ferry migrate` and SIGKILLs it once `kill_at` chunks are committed (progress, not
/// time: a loaded machine only slows both sides); returns true when it finished first (and then
/// it must have succeeded).
fn run_and_kill(args: &[&str], dst: &str, kill_at: u64) -> bool {
    let log = std::env::temp_dir().join(format!("ferry-resume-{}.log", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .stdout(std::fs::File::create(log.with_extension("out")).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "ferry {args:?} failed ({status}):\n{}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default(),
                std::fs::read_to_string(log.with_extension("out")).unwrap_or_default()
            );
            return true;
        }
        if committed_chunks(dst) >= kill_at || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    false
}

#[test]
fn sigkill_at_random_points_then_resume_loads_every_chunk_once() {
    let db = unique("resume");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        &format!(
            "CREATE TABLE big (id INT PRIMARY KEY, v VARCHAR(60) NOT NULL, n DECIMAL(10,2) NULL);
             INSERT INTO big SELECT seq, CONCAT('row-', seq, '-', MD5(seq)), IF(seq % 7 = 0, NULL, seq / 4) FROM seq_1_to_{ROWS};
             CREATE TABLE small (id INT PRIMARY KEY, big_id INT, FOREIGN KEY (big_id) REFERENCES big (id));
             INSERT INTO small SELECT seq, seq * 3 FROM seq_1_to_1000;
             ANALYZE TABLE big, small;"
        ),
    );
    let want = checksum_mysql(&db);
    let dst = fresh_pg(&db);
    let base = ["migrate", "--source", &src, "--target", &dst, "--schema", "s", "--chunk-rows", "15000", "--workers", "2", "--quiet"];

    // Pseudo-random kill points (seeded by the process id, so runs differ).
    let mut seed = std::process::id() as u64 | 1;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut first = true;
    let mut finished = false;
    let mut kills = 0;
    let mut resumed_last = false;
    for _ in 0..4 {
        // Kill points by committed chunks (about 20 in all): a few more each run.
        let kill_at = committed_chunks(&dst) * (!first as u64) + 1 + next() % 3;
        let mut args: Vec<&str> = base.to_vec();
        if first {
            args.extend(["--if-exists", "drop"]);
        } else {
            args.push("--resume");
        }
        resumed_last = !first;
        finished = run_and_kill(&args, &dst, kill_at);
        if !finished {
            kills += 1;
        }
        // A kill before the run recorded its chunk plan leaves nothing to resume: start over.
        let has_run = psql(&dst, "SELECT count(*) FROM pg_tables WHERE schemaname = 'ferry' AND tablename = 'load_runs'").trim() == "1"
            && psql(&dst, "SELECT count(*) FROM ferry.load_runs WHERE target_schema = 's'").trim() == "1";
        first = !has_run;
        if finished {
            break;
        }
    }
    assert!(kills >= 1, "the load finished before any kill; the test proves nothing");
    if !finished {
        let mut args: Vec<&str> = base.to_vec();
        args.push(if first { "--if-exists" } else { "--resume" });
        if first {
            args.push("drop");
        }
        let r = ferry(&args);
        assert_eq!(r.status, 0, "final resume failed:\n{}", r.all());
        resumed_last = !first;
    }

    assert_eq!(checksum_pg(&dst), want, "target differs from source");
    let chunks = psql(&dst, "SELECT count(*), sum(rows) FROM ferry.load_chunks WHERE target_schema = 's' AND table_name = 'big'");
    let (n, rows) = chunks.trim().split_once('\t').unwrap();
    assert!(n.parse::<u32>().unwrap() >= 20, "the table was split into chunks");
    assert_eq!(rows, ROWS.to_string(), "recorded chunk rows add up to the table: none loaded twice");
    assert_eq!(psql(&dst, "SELECT status FROM ferry.load_runs WHERE target_schema = 's'").trim(), "done");
    // Keys built after the resumed load: no duplicate slipped in.
    assert_eq!(psql(&dst, "SELECT count(*) FROM pg_constraint WHERE conrelid = 's.big'::regclass AND contype = 'p'").trim(), "1");
    assert_eq!(psql(&dst, "SELECT convalidated FROM pg_constraint WHERE conrelid = 's.small'::regclass AND contype = 'f'").trim(), "t");
    // A resumed load cannot start a sync (its chunks span snapshots): the message says why.
    if resumed_last {
        let r = ferry(&["sync", "--source", &src, "--target", &dst, "--schema", "s", "--until-caught-up"]);
        assert_ne!(r.status, 0, "{}", r.all());
        assert!(r.all().contains("the full load was resumed") && !r.all().contains("grant RELOAD"), "{}", r.all());
    }
}
