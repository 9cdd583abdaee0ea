//! `ferry verify` against injected differences: every real difference is found with its key and
//! column and put right by `--repair`; every non-difference (equal values written differently)
//! stays quiet.

mod common;
use common::*;
use std::collections::BTreeMap;

/// One column of every type family, 40 rows of ordinary values.
const SETUP: &str = "
CREATE TABLE fam (
  id INT PRIMARY KEY, i INT, bu BIGINT UNSIGNED, flag TINYINT(1), d DECIMAL(10,2), n DECIMAL(10,3),
  f FLOAT, dbl DOUBLE, c CHAR(5), v VARCHAR(20), t TEXT, b VARBINARY(8), bl BLOB,
  dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL, tm TIME(6), y YEAR,
  e ENUM('red','green','blue'), s SET('x','y','z'), j JSON, bit BIT(10), g GEOMETRY NULL
);
INSERT INTO fam
SELECT seq, CAST(seq AS SIGNED) * 7 - 100, seq * 1000000007, seq % 2, seq + 0.10, seq + 0.100,
       seq / 4, seq / 3, CONCAT('c', seq), CONCAT('v', seq), REPEAT('t', seq), UNHEX(LPAD(HEX(seq), 8, '0')),
       UNHEX(REPEAT('ab', seq)), '2020-01-01' + INTERVAL seq DAY,
       '2020-01-01 10:00:00.123456' + INTERVAL seq HOUR, '2021-06-01 00:00:00.5' + INTERVAL seq MINUTE,
       SEC_TO_TIME(seq * 3601.25), 1990 + seq, ELT(1 + seq % 3, 'red', 'green', 'blue'),
       ELT(1 + seq % 3, 'x', 'x,y', 'y,z'), JSON_OBJECT('k', seq, 'arr', JSON_ARRAY(1, 'two', 3.5), 'ok', seq % 2 = 0),
       seq * 3, ST_GeomFromText(CONCAT('POINT(', seq, ' 1)'))
FROM seq_1_to_40;
UPDATE fam SET v = '' WHERE id = 20;
CREATE TABLE nokey (a INT, b VARCHAR(10));
INSERT INTO nokey VALUES (1, 'one'), (2, 'two'), (2, 'two');
";

/// `n` is widened to an unscaled numeric, so 1.100 and 1.1 are the same number there.
const CONFIG: &str = "[target]\nschema = \"t\"\n[tables.fam.columns.n]\ntype = \"numeric\"\n";

#[test]
fn injected_differences_are_found_and_repaired_and_equal_values_stay_quiet() {
    let db = unique("verify_inject");
    let src = fresh_mysql(&db);
    mysql(Some(&db), SETUP);
    let dst = fresh_pg(&db);
    let cfg = write_config(&db, CONFIG);
    let cfg = cfg.to_str().unwrap();
    migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst, "--quiet"]);
    // Small chunks, so the differences sit in different chunks and bisection has work to do.
    let args = ["--config", cfg, "--source", src.as_str(), "--target", dst.as_str(), "--chunk-rows", "16"];
    verify_equal(&args);

    // Real differences: (key, column) → the target-side change.
    let real: Vec<(u32, &str, &str)> = vec![
        (1, "i", "i = i + 1"),
        (2, "bu", "bu = bu - 1"),
        (3, "flag", "flag = NOT flag"),
        (4, "d", "d = 5.11"),
        (5, "f", "f = f + 0.001"),
        (6, "dbl", "dbl = dbl * (1 + 1e-15)"),
        (7, "c", "c = 'c7x'"),
        (8, "v", "v = v || ' '"),
        (9, "t", "t = upper(t)"),
        (10, "b", "b = '\\x00000000'::bytea"),
        (11, "bl", "bl = bl || '\\x00'::bytea"),
        (12, "dt", "dt = dt + 1"),
        (13, "dtm", "dtm = dtm + interval '1 microsecond'"),
        (14, "ts", "ts = ts - interval '1 microsecond'"),
        (15, "tm", "tm = tm + interval '1 microsecond'"),
        (16, "y", "y = y + 1"),
        (17, "e", "e = 'red'"),
        (18, "s", "s = '{z}'"),
        (19, "j", "j = jsonb_set(j, '{k}', '\"19\"')"),
        (20, "v", "v = NULL"),
        (21, "bit", "bit = B'1111111111'"),
        (22, "g", "g = g || '\\x00'::bytea"),
        (23, "n", "n = 24.101"),
        (24, "j", "j = j - 'ok'"),
        (25, "v", "v = ''"),
    ];
    // Non-differences: the same values written another way.
    let quiet_target = [
        "UPDATE t.fam SET d = 31.1 WHERE id = 31",    // numeric(10,2): 31.1 is 31.10
        "UPDATE t.fam SET n = 32.1 WHERE id = 32",    // unscaled numeric: 32.1 = 32.100
        "UPDATE t.fam SET c = 'c33  ' WHERE id = 33", // CHAR padding
        "UPDATE t.fam SET j = '{\"ok\": true, \"arr\": [1.0, \"two\", 3.50], \"k\": 34}' WHERE id = 34", // key order, 1 = 1.0
        "UPDATE t.fam SET ts = ts WHERE id = 35",
    ];
    // And in the source: a JSON document rewritten with other key order and spacing.
    mysql(Some(&db), "UPDATE fam SET j = '{ \"ok\" : true, \"k\": 36, \"arr\": [1, \"two\", 3.5] }' WHERE id = 36");
    let mut sql = String::new();
    let types: BTreeMap<String, String> =
        psql(&dst, "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 't.fam'::regclass AND attnum > 0")
            .lines()
            .map(|l| {
                let (a, b) = l.split_once('\t').unwrap();
                (a.to_string(), b.to_string())
            })
            .collect();
    for (id, col, set) in &real {
        // flag is boolean only when the probe chose it; the e/s/y columns have their own types.
        let set = match (*col, types[*col].as_str()) {
            ("flag", "smallint") => "flag = 1 - flag".to_string(),
            ("e", ty) if ty != "text" && !ty.starts_with("character") => format!("e = 'red'::{ty}"),
            _ => set.to_string(),
        };
        sql.push_str(&format!("UPDATE t.fam SET {set} WHERE id = {id};\n"));
    }
    for q in quiet_target {
        sql.push_str(q);
        sql.push_str(";\n");
    }
    sql.push_str("DELETE FROM t.fam WHERE id = 40;\n");
    sql.push_str("CREATE TEMP TABLE x AS SELECT * FROM t.fam WHERE id = 39; UPDATE x SET id = 41; INSERT INTO t.fam SELECT * FROM x;\n");
    sql.push_str("UPDATE t.nokey SET b = 'TWO' WHERE ctid = (SELECT min(ctid) FROM t.nokey WHERE a = 2);\n");
    psql(&dst, &sql);

    let (status, report) = verify_json(&args);
    assert_eq!(status, 1, "{report:#}");
    let fam = table(&report, "fam");
    assert_eq!(fam["status"], "differs");
    assert_eq!(fam["missing"], 1, "{fam:#}");
    assert_eq!(fam["sample_missing"][0], "40");
    assert_eq!(fam["extra"], 1, "{fam:#}");
    assert_eq!(fam["sample_extra"][0], "41");
    let changed: BTreeMap<u32, Vec<String>> = fam["sample_changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c[0].as_str().unwrap().parse().unwrap(), c[1].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect()))
        .collect();
    let expected: BTreeMap<u32, Vec<String>> = real.iter().map(|(id, col, _)| (*id, vec![col.to_string()])).collect();
    assert_eq!(fam["changed"].as_u64().unwrap() as usize, real.len(), "{fam:#}");
    // The report keeps 20 samples, smallest keys first.
    let first: BTreeMap<u32, Vec<String>> = expected.iter().take(20).map(|(k, v)| (*k, v.clone())).collect();
    assert_eq!(changed, first, "changed rows and columns");
    let nokey = table(&report, "nokey");
    assert_eq!(nokey["status"], "differs_without_key", "{nokey:#}");

    // Text report names the keys too.
    let text = ferry(&["verify", "--config", cfg, "--source", &src, "--target", &dst]);
    assert_eq!(text.status, 1);
    assert!(text.stdout.contains("missing in target (key): 40") && text.stdout.contains("extra in target (key): 41"), "{}", text.stdout);

    // --repair: exactly the differing keys, then the table verifies equal.
    let mut repair = args.to_vec();
    repair.push("--repair");
    let (_, report) = verify_json(&repair);
    let fam = table(&report, "fam");
    assert_eq!(fam["status"], "equal", "{fam:#}");
    assert_eq!(fam["repaired"].as_u64().unwrap() as usize, real.len() + 2);
    assert_eq!(psql(&dst, "SELECT count(*), max(id) FROM t.fam").trim(), "40\t40");
    assert_eq!(psql(&dst, "SELECT v IS NULL, v FROM t.fam WHERE id = 20").trim(), "f");
    // The quiet rows were left as they were (not rewritten).
    assert_eq!(psql(&dst, "SELECT c FROM t.fam WHERE id = 33").trim_end_matches('\n'), "c33  ");
    // The key-less table cannot be repaired row by row; it stays reported.
    assert_eq!(table(&report, "nokey")["status"], "differs_without_key");
    psql(&dst, "UPDATE t.nokey SET b = 'two' WHERE b = 'TWO'");
    verify_equal(&args);
}

/// A range bigger than the leaf size is halved until the differing rows sit in small ranges:
/// only those are fetched, and the difference is still found with its key.
#[test]
fn bisection_narrows_a_large_range_to_the_differing_rows() {
    let db = unique("verify_bisect");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE big (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL); INSERT INTO big SELECT seq, CONCAT('v', seq) FROM seq_1_to_20000;");
    let dst = fresh_pg(&db);
    let args = ["--source", src.as_str(), "--target", dst.as_str(), "--schema", "t", "--chunk-rows", "20000"];
    migrate_ok(&args);
    verify_equal(&args);
    psql(&dst, "UPDATE t.big SET v = 'changed' WHERE id = 13579; DELETE FROM t.big WHERE id = 42");
    let (status, report) = verify_json(&args);
    assert_eq!(status, 1);
    let big = table(&report, "big");
    assert_eq!((big["missing"].as_u64(), big["changed"].as_u64(), big["extra"].as_u64()), (Some(1), Some(1), Some(0)), "{big:#}");
    assert_eq!(big["sample_missing"][0], "42");
    assert_eq!(big["sample_changed"][0][0], "13579");
    assert!(big["bisections"].as_u64().unwrap() >= 2, "{big:#}");
    // Two leaves of at most 2,000 rows each were diffed row by row, not the 20,000.
    assert!(big["rows_diffed"].as_u64().unwrap() <= 4000, "{big:#}");
    assert_eq!(big["source_rows"], 20000);
}

fn table<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["tables"].as_array().unwrap().iter().find(|t| t["target"] == name).unwrap_or_else(|| panic!("no table {name} in {report:#}"))
}
