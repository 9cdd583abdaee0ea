//! A live SQL Server over TDS (FERRY_TEST_MSSQL_URL; skipped without it). ferry's own runs used
//! Babelfish for PostgreSQL as the server: where it differs from SQL Server (no `WITH NOCHECK`,
//! no filtered indexes, no `rowversion` without an escape hatch, lower-cased catalog names,
//! hashed index names) a test accepts both and says which it saw, never the reverse.

mod common;
use common::*;

const TYPES: &str = "CREATE TABLE dbo.T (id int IDENTITY(10,5) PRIMARY KEY, b bit, ti tinyint, si smallint, bi bigint, d decimal(38,10), m money, sm smallmoney, r real, f float, c char(5), vc varchar(20), nc nchar(4), nv nvarchar(max), tx text, ntx ntext, bn binary(4), vb varbinary(max), img image, dt date, tm time(7), dtm datetime, sdt smalldatetime, dt2 datetime2(7), dto datetimeoffset(7), g uniqueidentifier, x xml, sv sql_variant, total AS (si * 2) PERSISTED)
GO
INSERT INTO dbo.T (b, ti, si, bi, d, m, sm, r, f, c, vc, nc, nv, tx, ntx, bn, vb, img, dt, tm, dtm, sdt, dt2, dto, g, x, sv) VALUES (1, 255, -32768, 9223372036854775807, 1234567890123456789012345678.0123456789, -922337203685477.5808, 214748.3647, 3.4e38, 1.7976931348623157e308, 'ab', 'héllo', N'日本', N'x''y', 'old text', N'ñ', 0x01020304, 0xdeadbeef, 0x00ff, '0001-01-01', '23:59:59.9999990', '1753-01-01 00:00:00.003', '2079-06-06 23:59', '9999-12-31 23:59:59.9999990', '2020-03-01 01:30:00.25 +02:00', '6F9619FF-8B86-D011-B42D-00C04FC964FF', '<a b=\"1\">t</a>', 42)
GO
INSERT INTO dbo.T (b, ti, si, bi, d, m, sm, r, f, dt, dtm, dt2) VALUES (0, 0, 32767, -9223372036854775808, -0.0000000001, 922337203685477.5807, -214748.3648, -1.5, 2.5e-308, '9999-12-31', '9999-12-31 23:59:59.997', '2020-01-01 10:00:00.5')
GO
INSERT INTO dbo.T (b) VALUES (NULL)
GO
";

/// Every type family of the map through migrate and verify, each value as the target holds it,
/// and verify not blind to a change in any family; repair restores them.
#[test]
fn every_type_family_migrates_and_verifies_over_tds() {
    let Some(server) = mssql_server() else { return };
    let db = unique("mssql_types_live");
    let src = fresh_mssql(&server, &db);
    tsql(&src, TYPES);
    let dst = fresh_pg(&db);
    let cfg = write_config(&db, "[target]\nschema = \"public\"\n");
    let cfg = cfg.to_str().unwrap();
    let plan = ferry(&["plan", "--config", cfg, "--source", &src, "--target", &dst]);
    assert_eq!(plan.status, 0, "{}", plan.all());
    for expect in [
        "\"m\" numeric(19,4)",
        "\"ti\" smallint",
        "\"dto\" timestamp with time zone",
        "\"g\" uuid",
        "\"x\" xml",
        "\"dt2\" timestamp without time zone",
        "\"sv\" text",
    ] {
        assert!(plan.stdout.contains(expect), "{expect}: {}", plan.stdout);
    }
    assert!(plan.stdout.contains("computed column → generated column"), "the computed column is computed by the target: {}", plan.stdout);
    migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst, "--quiet"]);
    let row = |id: u32| psql(&dst, &format!("SELECT row_to_json(t)::text FROM public.t t WHERE id = {id}"));
    let first: serde_json::Value = serde_json::from_str(&row(10)).unwrap();
    let expect = serde_json::json!({
        "id": 10, "b": true, "ti": 255, "si": -32768, "bi": 9223372036854775807i64,
        "c": "ab   ", "vc": "héllo", "nc": "日本  ", "nv": "x'y", "tx": "old text", "ntx": "ñ",
        "bn": "\\x01020304", "vb": "\\xdeadbeef", "img": "\\x00ff", "dt": "0001-01-01", "tm": "23:59:59.999999",
        "dtm": "1753-01-01T00:00:00.003", "sdt": "2079-06-06T23:59:00", "dt2": "9999-12-31T23:59:59.999999",
        "g": "6f9619ff-8b86-d011-b42d-00c04fc964ff", "x": "<a b=\"1\">t</a>", "sv": "42", "total": -65536
    });
    // Decimals, money and floats are compared as text below (JSON numbers lose digits).
    for (k, v) in expect.as_object().unwrap() {
        assert_eq!(&first[k], v, "column {k}");
    }
    let exact = psql(&dst, "SELECT d::text, m::text, sm::text, r::text, f::text, dto AT TIME ZONE 'UTC' FROM public.t WHERE id = 10");
    assert_eq!(
        exact.trim(),
        "1234567890123456789012345678.0123456789\t-922337203685477.5808\t214748.3647\t3.4e+38\t1.7976931348623157e+308\t2020-02-29 23:30:00.25"
    );
    let second = psql(&dst, "SELECT b, bi, d::text, m::text, r, f, dtm, dt2 FROM public.t WHERE id = 15");
    assert_eq!(second.trim(), "f\t-9223372036854775808\t-0.0000000001\t922337203685477.5807\t-1.5\t2.5e-308\t9999-12-31 23:59:59.997\t2020-01-01 10:00:00.5");
    assert_eq!(psql(&dst, "SELECT count(*) FROM public.t WHERE id = 20 AND b IS NULL AND m IS NULL AND g IS NULL").trim(), "1");
    assert_eq!(psql(&dst, "SELECT attgenerated FROM pg_attribute WHERE attrelid = 'public.t'::regclass AND attname = 'total'").trim(), "s");
    verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
    // One change per family; verify names each column, repair restores every one.
    let changes = [
        ("b", "b = NOT b"),
        ("bi", "bi = bi - 1"),
        ("m", "m = m + 0.0001"),
        ("r", "r = r / 2"),
        ("f", "f = f / 2"),
        ("nc", "nc = '日'"),
        ("vb", "vb = '\\x00'"),
        ("tm", "tm = tm - interval '1 microsecond'"),
        ("dtm", "dtm = dtm - interval '1 ms'"),
        ("dto", "dto = dto + interval '1 hour'"),
        ("g", "g = gen_random_uuid()"),
        ("x", "x = '<a/>'"),
    ];
    for (col, set) in changes {
        psql(&dst, &format!("UPDATE public.t SET {set} WHERE id = 10"));
        let (status, r) = verify_json(&["--config", cfg, "--source", &src, "--target", &dst]);
        assert_eq!(status, 1, "a change of {col} is found: {r:#}");
        assert!(r.to_string().contains(&format!("\"{col}\"")), "{col} named: {r:#}");
        let repair = ferry(&["verify", "--repair", "--config", cfg, "--source", &src, "--target", &dst]);
        assert!(repair.status <= 1, "{}", repair.all());
        verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
    }
}

/// A datetime2(7) value whose 100 ns digit PostgreSQL cannot hold: the plan counts it (an
/// action item), migrate stops the table naming table, column and key — never rounded silently —
/// and a type override to text keeps every digit (SQL Server's own text of the value).
#[test]
fn a_100ns_digit_is_counted_refused_with_its_key_or_kept_as_text() {
    let Some(server) = mssql_server() else { return };
    let db = unique("mssql_100ns");
    let src = fresh_mssql(&server, &db);
    tsql(&src, "CREATE TABLE dbo.E (id int PRIMARY KEY, at datetime2(7))\nGO\nINSERT INTO dbo.E VALUES (1, '2020-01-01 00:00:00.1234560'), (2, '2020-01-01 00:00:00.1234567')\nGO\n");
    // Babelfish keeps datetime2 in a PostgreSQL timestamp: it rounds the digit away on insert.
    let kept = tsql(&src, "SELECT DATEPART(nanosecond, at) % 1000 FROM dbo.E WHERE id = 2")[0][0].contains("Some(700)");
    let dst = fresh_pg(&db);
    if kept {
        let plan = ferry(&["plan", "--source", &src, "--target", &dst]);
        assert!(plan.stdout.contains("1 rows hold a digit beyond the microsecond"), "{}", plan.all());
        let out = ferry(&["migrate", "--source", &src, "--target", &dst, "--quiet"]);
        assert_ne!(out.status, 0, "{}", out.all());
        let all = out.all();
        assert!(all.contains("table E") && all.contains("column at") && all.contains("(2)") && all.contains("100 ns"), "{all}");
    } else {
        eprintln!("this server does not keep 100 ns digits: only the text override is checked");
    }
    let cfg = write_config(&db, "[target]\nschema = \"public\"\n[tables.E.columns.at]\ntype = \"text\"\n");
    let cfg = cfg.to_str().unwrap();
    migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst, "--quiet", "--if-exists", "drop"]);
    let text = psql(&dst, "SELECT at FROM public.e WHERE id = 2");
    // A server that rounded on insert (Babelfish: .123457) is read as it holds it.
    assert!(text.trim().starts_with("2020-01-01 00:00:00.12345"), "{text}");
    if kept {
        assert_eq!(text.trim(), "2020-01-01 00:00:00.1234567");
    }
    verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
}

/// Keys, defaults, identity, comments, INCLUDE indexes and listed objects carry over; where the
/// server has them, filtered indexes become partial and untrusted foreign keys NOT VALID.
#[test]
fn structure_carries_over_from_the_catalog() {
    let Some(server) = mssql_server() else { return };
    let db = unique("mssql_struct");
    let src = fresh_mssql(&server, &db);
    tsql(
        &src,
        "CREATE TABLE dbo.P (id int IDENTITY(1,1) PRIMARY KEY, code nvarchar(10) NOT NULL CONSTRAINT UQ_P_code UNIQUE, status tinyint NOT NULL DEFAULT ((1)), created datetime2(3) DEFAULT (sysdatetime()), g uniqueidentifier DEFAULT (newid()), at datetimeoffset(3))
GO
CREATE TABLE dbo.C (id bigint IDENTITY(100,10) PRIMARY KEY, p_id int, qty int CONSTRAINT CK_C_qty CHECK (qty > 0), note nvarchar(50), twice AS (qty * 2), CONSTRAINT CK_C_note CHECK (len(note) > 0))
GO
INSERT INTO dbo.P (code, at) VALUES (N'a', '2020-03-01 01:30:00.250 +02:00'), (N'b', NULL)
GO
INSERT INTO dbo.C (p_id, qty, note) VALUES (1, 5, N'x'), (99, 1, N'orphan')
GO
CREATE INDEX IX_C_note ON dbo.C (p_id DESC) INCLUDE (note)
GO
EXEC sp_addextendedproperty @name = N'MS_Description', @value = N'child rows', @level0type = N'SCHEMA', @level0name = N'dbo', @level1type = N'TABLE', @level1name = N'C'
GO
EXEC sp_addextendedproperty @name = N'MS_Description', @value = N'how many', @level0type = N'SCHEMA', @level0name = N'dbo', @level1type = N'TABLE', @level1name = N'C', @level2type = N'COLUMN', @level2name = N'qty'
GO
CREATE VIEW dbo.V AS SELECT id, qty FROM dbo.C
GO
",
    );
    // SQL Server has both; Babelfish refuses WITH NOCHECK and ignores filters.
    let untrusted =
        tsql_try(&src, "ALTER TABLE dbo.C WITH NOCHECK ADD CONSTRAINT FK_C_P FOREIGN KEY (p_id) REFERENCES dbo.P (id) ON DELETE CASCADE\nGO\n").is_ok();
    let filtered = tsql_try(&src, "CREATE INDEX IX_C_big ON dbo.C (qty) WHERE qty > 1\nGO\n").is_ok()
        && tsql(&src, "SELECT CAST(has_filter AS int) FROM sys.indexes WHERE name = 'IX_C_big'").first().is_some_and(|r| r[0].contains("Some(1)"));
    eprintln!("server: untrusted foreign keys {untrusted}, filtered indexes {filtered}");
    let dst = fresh_pg(&db);
    let cfg = write_config(&db, "[target]\nschema = \"public\"\n[tables.P.columns.at]\nkeep_offset = true\n");
    let cfg = cfg.to_str().unwrap();
    let plan = ferry(&["plan", "--config", cfg, "--source", &src, "--target", &dst]);
    assert_eq!(plan.status, 0, "{}", plan.all());
    assert!(plan.stdout.contains("CREATE VIEW dbo.V"), "the view is listed with its T-SQL: {}", plan.stdout);
    migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst, "--quiet"]);
    verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
    // keep_offset: the instant, and beside it the offset it was written with.
    assert_eq!(psql(&dst, "SELECT at AT TIME ZONE 'UTC', at_offset FROM public.p WHERE id = 1").trim(), "2020-02-29 23:30:00.25\t120");
    assert_eq!(psql(&dst, "SELECT at_offset IS NULL FROM public.p WHERE id = 2").trim(), "t");
    psql(&dst, "UPDATE public.p SET at_offset = 60 WHERE id = 1");
    let (status, r) = verify_json(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert_eq!(status, 1, "a changed offset is found: {r:#}");
    psql(&dst, "UPDATE public.p SET at_offset = 120 WHERE id = 1");
    // Identity continues past the source's last value; defaults translated.
    assert_eq!(psql(&dst, "INSERT INTO public.c (p_id, qty) VALUES (1, 2) RETURNING id").lines().next().unwrap().trim(), "120");
    assert_eq!(
        psql(&dst, "INSERT INTO public.p (code) VALUES ('c') RETURNING id, status, created IS NOT NULL, g IS NOT NULL").lines().next().unwrap().trim(),
        "3\t1\tt\tt"
    );
    // The unique constraint and the check hold on the target.
    assert!(psql_try(&dst, "INSERT INTO public.p (code) VALUES ('a')").is_err(), "UQ_P_code carried");
    // keep_offset on a column that is no datetimeoffset is refused by the plan.
    let wrong = write_config(&format!("{db}_wrong"), "[target]\nschema = \"public\"\n[tables.P.columns.code]\nkeep_offset = true\n");
    let refused = ferry(&["plan", "--config", wrong.to_str().unwrap(), "--source", &src, "--target", &dst]);
    assert_ne!(refused.status, 0);
    assert!(refused.all().contains("keep_offset"), "{}", refused.all());
    assert!(psql_try(&dst, "INSERT INTO public.c (qty) VALUES (0)").is_err(), "CK_C_qty carried");
    assert!(psql_try(&dst, "INSERT INTO public.c (qty, note) VALUES (1, '  ')").is_err(), "CK_C_note translated (LEN → length(rtrim()))");
    assert_eq!(psql(&dst, "SELECT twice FROM public.c WHERE id = 100").trim(), "10", "the computed column is computed by the target");
    assert_eq!(psql(&dst, "SELECT obj_description('public.c'::regclass), col_description('public.c'::regclass, 3)").trim(), "child rows\thow many");
    let defs = psql(&dst, "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'c' ORDER BY indexname");
    assert!(defs.contains("(p_id DESC) INCLUDE (note)"), "{defs}");
    if filtered {
        assert!(defs.contains("WHERE (qty > 1)"), "{defs}");
    }
    if untrusted {
        assert_eq!(psql(&dst, "SELECT convalidated FROM pg_constraint WHERE conname = 'fk_c_p'").trim(), "f", "an untrusted key stays NOT VALID");
    }
}

/// A table keyed by a uniqueidentifier loads in key ranges SQL Server sampled in its own order
/// (the GUID order is not its text's): every row exactly once, verify equal.
#[test]
fn a_uniqueidentifier_key_chunks_in_the_servers_order() {
    let Some(server) = mssql_server() else { return };
    let db = unique("mssql_guid");
    let src = fresh_mssql(&server, &db);
    tsql(
        &src,
        "CREATE TABLE dbo.K (id uniqueidentifier NOT NULL PRIMARY KEY DEFAULT (newid()), n int NOT NULL)\nGO\n\
         INSERT INTO dbo.K (n) SELECT TOP (5000) ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) FROM sys.all_columns a CROSS JOIN sys.all_columns b\nGO\n",
    );
    let _ = tsql_try(&src, "UPDATE STATISTICS dbo.K\nGO\n"); // Babelfish has no UPDATE STATISTICS
    let dst = fresh_pg(&db);
    let cfg = write_config(&db, "[target]\nschema = \"public\"\n[migrate]\nchunk_rows = 700\n");
    let cfg = cfg.to_str().unwrap();
    let out = migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out.stdout[out.stdout.find('{').unwrap()..]).unwrap();
    let chunks = report["tables"][0]["chunks"].as_u64().unwrap_or(0);
    eprintln!("chunks: {chunks}");
    assert!(chunks >= 7, "read in key ranges: {report:#}");
    assert_eq!(psql(&dst, "SELECT count(*), count(DISTINCT id), sum(n) FROM public.k").trim(), "5000\t5000\t12502500");
    verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
}

/// A `sql_variant` is text by default; overridden to jsonb it keeps its base type beside its
/// value (`{"type": …, "value": …}`), and verify compares that document.
#[test]
fn a_sql_variant_overridden_to_jsonb_keeps_its_base_type() {
    let Some(server) = mssql_server() else { return };
    let db = unique("mssql_variant");
    let src = fresh_mssql(&server, &db);
    tsql(&src, "CREATE TABLE dbo.V (id int PRIMARY KEY, v sql_variant)\nGO\nINSERT INTO dbo.V VALUES (1, CAST(42 AS int)), (2, CAST(N'say \"hi\"' AS nvarchar(20))), (3, NULL)\nGO\n");
    let dst = fresh_pg(&db);
    let cfg = write_config(&db, "[target]\nschema = \"public\"\n[tables.V.columns.v]\ntype = \"jsonb\"\n");
    let cfg = cfg.to_str().unwrap();
    migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst, "--quiet"]);
    let docs = psql(&dst, "SELECT v->>'type', v->>'value' FROM public.v ORDER BY id");
    assert_eq!(docs.lines().collect::<Vec<_>>(), ["int\t42", "nvarchar\tsay \"hi\"", "\t"], "NULL stays NULL");
    verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
}
