//! The final hop (`[reshape]`), as the story in the issue tells it: a legacy-style MariaDB schema
//! (abbreviated names, five lookup tables with integer and character keys referenced from four
//! tables, an EAV answers table with three forms) lands 1:1 in `landing` and is reshaped into
//! `ref`, `crm`, `sales` and `forms`: a merged lookup table with stable ids, expressions, a value
//! map, a lookup into another table, a filter, several tables into one, one table into two, a
//! whole table by the word rule, and an EAV pivot. Then sync under a write load that adds lookup
//! rows, new EAV attributes and a new form, and moves rows in and out of the filter, with SIGKILLs;
//! verify proves the landing against the source and every reshaped table against its mapping.

mod common;
use common::*;
use std::time::Duration;

const LEGACY_SCHEMA: &str = "
CREATE TABLE tblStat (st_cd VARCHAR(4) PRIMARY KEY, st_nm VARCHAR(40) NOT NULL, st_desc VARCHAR(200));
CREATE TABLE tblCtry (ctry_cd CHAR(2) PRIMARY KEY, ctry_nm VARCHAR(60) NOT NULL);
CREATE TABLE tblPayTp (pt_id INT PRIMARY KEY, pt_nm VARCHAR(40) NOT NULL);
CREATE TABLE tblProdCat (cat_id INT PRIMARY KEY, cat_nm VARCHAR(40) NOT NULL, cat_desc TEXT);
CREATE TABLE tblTier (tier_cd VARCHAR(3) PRIMARY KEY, tier_nm VARCHAR(40) NOT NULL);
CREATE TABLE tblCust (cust_id INT AUTO_INCREMENT PRIMARY KEY, first_nm VARCHAR(40), last_nm VARCHAR(40), st_cd VARCHAR(4) NOT NULL,
  ctry_cd CHAR(2), tier_cd VARCHAR(3), del_flg TINYINT NOT NULL DEFAULT 0, gender CHAR(1),
  FOREIGN KEY (st_cd) REFERENCES tblStat (st_cd), FOREIGN KEY (ctry_cd) REFERENCES tblCtry (ctry_cd), FOREIGN KEY (tier_cd) REFERENCES tblTier (tier_cd));
CREATE TABLE tblVend (vend_id INT PRIMARY KEY, vend_nm VARCHAR(60) NOT NULL, ctry_cd CHAR(2), st_cd VARCHAR(4),
  FOREIGN KEY (ctry_cd) REFERENCES tblCtry (ctry_cd), FOREIGN KEY (st_cd) REFERENCES tblStat (st_cd));
CREATE TABLE tblProd (prod_id INT PRIMARY KEY, prod_nm VARCHAR(80), cat_id INT, st_cd VARCHAR(4), price_amt DECIMAL(10,2),
  FOREIGN KEY (cat_id) REFERENCES tblProdCat (cat_id), FOREIGN KEY (st_cd) REFERENCES tblStat (st_cd));
CREATE TABLE tblOrd (ord_id INT AUTO_INCREMENT PRIMARY KEY, cust_id INT NOT NULL, pt_id INT, ord_dt DATETIME NOT NULL, st_cd VARCHAR(4),
  FOREIGN KEY (cust_id) REFERENCES tblCust (cust_id), FOREIGN KEY (pt_id) REFERENCES tblPayTp (pt_id), FOREIGN KEY (st_cd) REFERENCES tblStat (st_cd));
CREATE TABLE tblOrdLn (ord_id INT, ln_no INT, prod_id INT, qty INT, PRIMARY KEY (ord_id, ln_no),
  FOREIGN KEY (ord_id) REFERENCES tblOrd (ord_id) ON DELETE CASCADE, FOREIGN KEY (prod_id) REFERENCES tblProd (prod_id));
CREATE TABLE tblAns (case_id INT, form_cd VARCHAR(20), q_cd VARCHAR(120), ans_txt TEXT, PRIMARY KEY (case_id, form_cd, q_cd));

INSERT INTO tblStat VALUES ('A', 'active', 'in use'), ('I', 'inactive', NULL), ('P', 'pending', 'waiting'), ('Q', 'queued', NULL);
INSERT INTO tblCtry VALUES ('DE', 'Germany'), ('FR', 'France'), ('US', 'United States'), ('JP', 'Japan');
INSERT INTO tblPayTp VALUES (1, 'CARD'), (2, 'CASH'), (10, 'INVOICE');
INSERT INTO tblProdCat VALUES (1, 'Books', 'paper'), (2, 'Music', NULL), (3, 'Tools', 'hardware');
INSERT INTO tblTier VALUES ('G', 'gold'), ('S', 'silver'), ('BR', 'bronze');
INSERT INTO tblCust (cust_id, first_nm, last_nm, st_cd, ctry_cd, tier_cd, del_flg, gender)
  SELECT seq, CONCAT(' first', seq), CONCAT('LAST', seq, ' '), ELT(1 + seq % 3, 'A', 'I', 'P'), ELT(1 + seq % 5, 'DE', 'FR', 'US', 'JP', NULL),
         IF(seq % 4 = 0, NULL, ELT(1 + seq % 3, 'G', 'S', 'BR')), IF(seq % 10 = 0, 1, 0), ELT(1 + seq % 4, 'F', 'M', 'X', NULL) FROM seq_1_to_200;
INSERT INTO tblVend SELECT seq, CONCAT('Vendor ', seq), ELT(1 + seq % 4, 'DE', 'FR', 'US', 'JP'), 'A' FROM seq_1_to_20;
INSERT INTO tblProd SELECT seq, CONCAT('product ', seq), 1 + seq % 3, ELT(1 + seq % 2, 'A', 'I'), seq * 1.25 FROM seq_1_to_100;
INSERT INTO tblOrd SELECT seq, 1 + seq % 200, ELT(1 + seq % 3, 1, 2, 10), '2024-01-01' + INTERVAL seq HOUR, ELT(1 + seq % 3, 'A', 'I', 'P') FROM seq_1_to_500;
INSERT INTO tblOrdLn SELECT o.seq, l.seq, 1 + (o.seq * l.seq) % 100, l.seq FROM seq_1_to_500 o, seq_1_to_3 l;
INSERT INTO tblAns SELECT c.seq, ELT(1 + c.seq % 3, 'intake', 'follow-up', 'Exit Survey'), q.q, CONCAT('answer ', c.seq, '/', q.n)
  FROM seq_1_to_300 c JOIN (SELECT 1 n, 'Q1 Age?' q UNION ALL SELECT 2, 'Smoker (y/n)' UNION ALL SELECT 3, 'select' UNION ALL SELECT 4, 'First-Name'
  UNION ALL SELECT 5, 'first name' UNION ALL SELECT 6, REPEAT('very long question text ', 4)) q WHERE c.seq % 7 <> q.n;
";

/// The config of the story: the one README's "Reshaping on the way" shows, read from there so the
/// two cannot drift apart.
fn readme_config() -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let section = &readme[readme.find("### Reshaping on the way").expect("README section")..];
    let start = section.find("```toml\n").unwrap() + "```toml\n".len();
    section[start..start + section[start..].find("```").unwrap()].to_string()
}

fn config(name: &str) -> String {
    write_config(name, &readme_config()).to_str().unwrap().to_string()
}
#[test]
fn legacy_schema_reshaped_by_migrate_kept_exact_by_sync_under_sigkill_and_verified_through_the_mapping() {
    let db = unique("reshape_my");
    let src = fresh_mysql(&db);
    mysql(Some(&db), LEGACY_SCHEMA);
    let dst = fresh_pg(&db);
    let cfg = config(&db);

    let plan = ferry(&["plan", "--config", &cfg, "--source", &src, "--target", &dst]);
    assert_eq!(plan.status, 0, "{}", plan.all());
    assert!(plan.stdout.contains("ref.lookup — merged lookup (key id)"), "{}", plan.stdout);
    assert!(plan.stdout.contains("sales.order_line (key order_id, line_number)"), "{}", plan.stdout);
    assert!(plan.stderr.contains("reshape check: every mapping ran on the target"), "{}", plan.all());
    // The preview: landing rows (sampled from the source: nothing is migrated yet) and what the
    // mapping makes of them.
    let preview = &plan.stdout[plan.stdout.find("-- reshape preview").expect("a preview")..];
    let customer = &preview[preview.find("crm.customer ← tblcust").expect("customer preview")..];
    assert!(customer.contains("before: (1,\" first1\",\"LAST1 \",I,FR,S,0,M)"), "{customer}");
    assert!(customer.contains("after:  (1,\"First1 Last1\","), "{customer}");
    assert!(preview.contains("forms.form_*") && preview.contains("after:  forms.form_"), "{preview}");
    assert_eq!(psql(&dst, "SELECT count(*) FROM pg_namespace WHERE nspname IN ('landing', 'crm', 'ferry')").trim(), "0", "plan wrote nothing");

    let m = migrate_ok(&["--config", &cfg, "--source", &src, "--target", &dst]);
    assert!(m.stdout.contains("reshaped (from the landing schema \"landing\")"), "{}", m.stdout);
    // The landing and the reshaped design, side by side.
    assert_eq!(psql(&dst, "SELECT count(*) FROM landing.tblcust").trim(), "200");
    assert_eq!(psql(&dst, "SELECT count(*) FROM crm.customer").trim(), "180", "the filter keeps customers with del_flg = 0");
    assert_eq!(psql(&dst, "SELECT count(*), count(DISTINCT kind) FROM ref.lookup").trim(), "17\t5");
    assert_eq!(
        psql(
            &dst,
            "SELECT full_name, gender, country_name, (SELECT name FROM ref.lookup l WHERE l.id = c.status_id) FROM crm.customer c WHERE customer_id = 1"
        )
        .trim(),
        "First1 Last1\tmale\tFrance\tinactive"
    );
    assert_eq!(psql(&dst, "SELECT count(*) FROM crm.party").trim(), "220");
    assert_eq!(psql(&dst, "SELECT status, count(*) FROM sales.\"order\" GROUP BY 1 ORDER BY 1").trim(), "accepted\t166\ninvoiced\t167\npaid\t167");
    assert_eq!(
        psql(&dst, "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'sales' AND table_name = 'order_line'").trim(),
        "order_id,line_number,product_id,quantity"
    );
    // The pivot: a table per form, a column per question, names sanitised and kept.
    assert_eq!(
        psql(&dst, "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'forms'").trim(),
        "form_exit_survey,form_follow_up,form_intake"
    );
    let cols = psql(&dst, "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'forms' AND table_name = 'form_intake'");
    let cols: Vec<&str> = cols.trim().split(',').collect();
    assert_eq!(cols[0], "case_id");
    for want in ["q1_age", "smoker_y_n", "select_", "first_name"] {
        assert!(cols.contains(&want), "{want} in {cols:?}");
    }
    assert!(cols.iter().any(|c| c.starts_with("first_name_") && c.len() == "first_name_".len() + 6), "a collision gets a short hash: {cols:?}");
    assert!(cols.iter().any(|c| c.starts_with("very_long_question_text") && c.len() <= 63), "{cols:?}");
    assert_eq!(psql(&dst, "SELECT \"q1_age\" FROM forms.form_intake WHERE case_id = 3").trim(), "answer 3/1");
    // Provenance.
    assert_eq!(
        psql(&dst, "SELECT col_description('crm.customer'::regclass, 2)").trim(),
        "ferry: tblCust: initcap(trim(first_nm)) || ' ' || initcap(trim(last_nm))"
    );
    assert!(psql(&dst, "SELECT obj_description('crm.customer'::regclass)").contains("where del_flg = 0"));
    assert!(psql(&dst, "SELECT col_description('forms.form_intake'::regclass, 2)").contains("attribute"));
    let id_of_active = psql(&dst, "SELECT id FROM ref.lookup WHERE source_table = 'tblStat' AND original_id = 'A'");
    verify_equal(&["--config", &cfg, "--source", &src, "--target", &dst]);

    // Sync under a write load, killed now and then.
    let cfg2 = cfg.clone();
    let (s2, d2) = (src.clone(), dst.clone());
    let start_sync = move || spawn_sync_with(&["--config", &cfg2, "--source", &s2, "--target", &d2, "--batch-rows", "40"]);
    let gen_db = db.clone();
    let generator = std::thread::spawn(move || {
        for i in 0..140u32 {
            let c = i % 200 + 1;
            let sql = match i % 10 {
                // A new lookup row and a row using it, in one transaction.
                0 => format!("BEGIN; INSERT INTO tblStat VALUES ('N{i}', 'new {i}', NULL); INSERT INTO tblCust (first_nm, last_nm, st_cd, ctry_cd, gender) VALUES ('new', 'customer {i}', 'N{i}', 'JP', 'F'); COMMIT;"),
                // In and out of the filter.
                1 => format!("UPDATE tblCust SET del_flg = 1 - del_flg WHERE cust_id = {c};"),
                // New EAV attributes, and a changed answer.
                2 => format!(
                    "INSERT INTO tblAns SELECT case_id, form_cd, 'New question {}', 'new {i}' FROM tblAns WHERE case_id = {} LIMIT 1 ON DUPLICATE KEY UPDATE ans_txt = 'again {i}'; UPDATE tblAns SET ans_txt = 'changed {i}' WHERE case_id = {} AND q_cd = 'select';",
                    i % 3, (i % 300) + 1, (i * 7 % 300) + 1
                ),
                // A lookup's value changes: the customers' country_name follows.
                3 => format!("UPDATE tblCtry SET ctry_nm = CONCAT(ctry_nm, '+') WHERE ctry_cd = '{}';", ["DE", "FR", "US", "JP"][(i as usize / 10) % 4]),
                4 => format!("BEGIN; DELETE FROM tblOrdLn WHERE ord_id = {}; DELETE FROM tblOrd WHERE ord_id = {}; UPDATE tblCust SET last_nm = 'renamed {i}' WHERE cust_id = {c}; COMMIT;", i + 1, i + 1),
                // A new form: a new table in the middle of sync.
                5 if i == 55 => "INSERT INTO tblAns VALUES (1000, 'Late Form', 'Why late?', 'because'), (1000, 'Late Form', 'select', 'x');".to_string(),
                5 => format!("INSERT INTO tblPayTp VALUES ({}, 'pay {i}'); INSERT INTO tblOrd (cust_id, pt_id, ord_dt, st_cd) VALUES ({c}, {}, NOW(), 'Q');", 100 + i, 100 + i),
                6 => format!("DELETE FROM tblAns WHERE case_id = {} AND q_cd = 'Smoker (y/n)';", (i % 300) + 1),
                7 => format!("UPDATE tblProd SET cat_id = 1 + (cat_id % 3), price_amt = price_amt + 1 WHERE prod_id = {};", i % 100 + 1),
                8 => format!("INSERT INTO tblVend VALUES ({}, 'Vendor new {i}', 'FR', 'P'); UPDATE tblVend SET st_cd = 'I' WHERE vend_id = {};", 100 + i, i % 20 + 1),
                _ => format!("UPDATE tblCust SET gender = ELT(1 + {i} % 3, 'F', 'M', 'X'), tier_cd = 'G' WHERE cust_id = {};", (c + 50) % 200 + 1),
            };
            mysql(Some(&gen_db), &sql);
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let kills = sigkill_while(&generator, start_sync, 400, 1500);
    generator.join().unwrap();
    assert!(kills >= 1, "ferry was killed {kills} times");
    let r = ferry(&["sync", "--config", &cfg, "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    let stopped = psql(&dst, "SELECT table_name, last_error FROM ferry.sync_tables WHERE status <> 'streaming'");
    assert_eq!(stopped.trim(), "", "nothing stopped");

    let report = verify_equal(&["--config", &cfg, "--source", &src, "--target", &dst]);
    let reshaped = report["reshape"].as_array().unwrap();
    assert!(reshaped.len() >= 11, "{reshaped:?}");
    // And against the source directly, not only through ferry's own mapping.
    let kept = mysql(Some(&db), "SELECT count(*) FROM tblCust WHERE del_flg = 0");
    assert_eq!(psql(&dst, "SELECT count(*) FROM crm.customer").trim(), kept.trim());
    assert_eq!(psql(&dst, "SELECT count(*) FROM ref.lookup WHERE source_table = 'tblStat'").trim(), mysql(Some(&db), "SELECT count(*) FROM tblStat").trim());
    assert_eq!(psql(&dst, "SELECT id FROM ref.lookup WHERE source_table = 'tblStat' AND original_id = 'A'"), id_of_active, "lookup ids are stable");
    assert_eq!(
        psql(&dst, "SELECT count(*) FROM crm.customer c JOIN ref.lookup l ON l.id = c.status_id WHERE l.original_id LIKE 'N%'").trim(),
        mysql(Some(&db), "SELECT count(*) FROM tblCust WHERE st_cd LIKE 'N%' AND del_flg = 0").trim(),
        "new customers reference the new lookup rows' ids"
    );
    assert_eq!(
        psql(&dst, "SELECT count(*) FROM crm.customer WHERE country_name LIKE '%+'").trim(),
        mysql(Some(&db), "SELECT count(*) FROM tblCust c JOIN tblCtry t USING (ctry_cd) WHERE c.del_flg = 0 AND t.ctry_nm LIKE '%+'").trim()
    );
    assert_eq!(psql(&dst, "SELECT why_late FROM forms.form_late_form WHERE case_id = 1000").trim(), "because", "a new form became a table");
    let new_cols = psql(&dst, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'forms' AND column_name LIKE 'new_question_%'");
    assert!(new_cols.trim().parse::<u32>().unwrap() >= 3, "new attributes became columns: {new_cols}");

    let r = ferry(&["cutover", "--config", &cfg, "--source", &src, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
}

/// The PG → PG story on a smaller schema: pgoutput changes reach the reshaped tables, also
/// under a writer with SIGKILLs.
#[test]
fn postgres_source_reshaped_and_synced() {
    let db = unique("reshape_pg");
    let src_db = fresh_pg(&format!("{db}_src"));
    psql(
        &src_db,
        "CREATE SCHEMA legacy;
         CREATE TABLE legacy.t_kind (kind_cd text PRIMARY KEY, kind_nm text NOT NULL);
         CREATE TABLE legacy.t_unit (unit_id int PRIMARY KEY, unit_nm text NOT NULL);
         CREATE TABLE legacy.t_item (item_id int PRIMARY KEY, item_nm text, kind_cd text REFERENCES legacy.t_kind, unit_id int REFERENCES legacy.t_unit, active boolean NOT NULL DEFAULT true);
         CREATE TABLE legacy.t_attr (item_id int REFERENCES legacy.t_item, attr text, val text, PRIMARY KEY (item_id, attr));
         INSERT INTO legacy.t_kind VALUES ('a', 'alpha'), ('b', 'beta');
         INSERT INTO legacy.t_unit VALUES (1, 'kg'), (2, 'piece');
         INSERT INTO legacy.t_item SELECT g, 'item ' || g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, 1 + g % 2, g % 5 <> 0 FROM generate_series(1, 50) g;
         INSERT INTO legacy.t_attr SELECT i, a, a || ' of ' || i FROM generate_series(1, 50) i, unnest(ARRAY['Colour', 'Size', 'Weight (g)']) a;",
    );
    let src = pg_source(&format!("{db}_src"), "legacy");
    let dst = fresh_pg(&db);
    let cfg = write_config(
        &db,
        r#"
[target]
schema = "landing"
[reshape.lookups.codes]
into = "ref.code"
sources.t_kind = { id = "kind_cd", name = "kind_nm" }
sources.t_unit = { id = "unit_id", name = "upper(unit_nm)" }
[reshape.tables."catalog.item"]
from = "t_item"
where = "active"
[reshape.tables."catalog.item".columns]
item_id = "item_id"
name = "initcap(item_nm)"
kind_id = { lookup = "codes", source = "t_kind", column = "kind_cd" }
unit_id = { lookup = "codes", source = "t_unit", column = "unit_id" }
[reshape.pivots.attributes]
from = "t_attr"
entity = "item_id"
attribute = "attr"
value = "val"
into = "catalog.item_attributes"
[reshape.pivots.documents]
from = "t_attr"
entity = "item_id"
attribute = "attr"
value = "val"
into = "catalog.item_document"
jsonb = true
"#,
    );
    let cfg = cfg.to_str().unwrap();
    let r = ferry(&["sync", "--config", cfg, "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, "SELECT count(*) FROM catalog.item").trim(), "40");
    assert_eq!(psql(&dst, "SELECT colour, weight_g FROM catalog.item_attributes WHERE item_id = 7").trim(), "Colour of 7\tWeight (g) of 7");
    assert_eq!(psql(&dst, "SELECT document->>'Size' FROM catalog.item_document WHERE item_id = 7").trim(), "Size of 7");
    let xmin_of_9 = psql(&dst, "SELECT xmin FROM catalog.item WHERE item_id = 9");
    psql(
        &src_db,
        "UPDATE legacy.t_item SET item_nm = item_nm WHERE item_id = 9;
         INSERT INTO legacy.t_kind VALUES ('c', 'gamma');
         BEGIN; INSERT INTO legacy.t_item VALUES (100, 'new thing', 'c', 2, true); INSERT INTO legacy.t_attr VALUES (100, 'Colour', 'red'), (100, 'Material', 'wood'); COMMIT;
         UPDATE legacy.t_item SET active = NOT active WHERE item_id IN (5, 6);
         UPDATE legacy.t_unit SET unit_nm = 'gram' WHERE unit_id = 1;
         DELETE FROM legacy.t_attr WHERE item_id = 7 AND attr = 'Size';",
    );
    let r = ferry(&["sync", "--config", cfg, "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, "SELECT count(*) FROM catalog.item").trim(), "41", "5 came in, 6 went out, 100 is new");
    assert_eq!(psql(&dst, "SELECT material FROM catalog.item_attributes WHERE item_id = 100").trim(), "wood", "a new attribute became a column");
    assert_eq!(psql(&dst, "SELECT xmin FROM catalog.item WHERE item_id = 9"), xmin_of_9, "a refreshed row that did not change is not rewritten");
    assert_eq!(psql(&dst, "SELECT name FROM ref.code WHERE source_table = 't_unit' AND original_id = '1'").trim(), "GRAM");
    assert_eq!(psql(&dst, "SELECT document ? 'Size' FROM catalog.item_document WHERE item_id = 7").trim(), "f");
    assert_eq!(
        psql(&dst, "SELECT c.name FROM catalog.item i JOIN ref.code c ON c.id = i.kind_id WHERE item_id = 100").trim(),
        "gamma",
        "a lookup row inserted before its first use has its id"
    );
    // The same story under a writer, with SIGKILLs: new lookup rows used at once, new attributes,
    // rows in and out of the filter, a lookup's value changing.
    let writer_db = src_db.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..80u32 {
            let item = 200 + i;
            let sql = match i % 4 {
                0 => format!("BEGIN; INSERT INTO legacy.t_kind VALUES ('k{i}', 'kind {i}'); INSERT INTO legacy.t_item VALUES ({item}, 'thing {i}', 'k{i}', 1, true); COMMIT;"),
                1 => format!("INSERT INTO legacy.t_attr VALUES ({}, 'Extra {}', 'x{i}') ON CONFLICT (item_id, attr) DO UPDATE SET val = EXCLUDED.val;", 20 + i % 20, i % 5),
                2 => format!("UPDATE legacy.t_item SET active = NOT active WHERE item_id = {};", 20 + i % 20),
                _ => format!("UPDATE legacy.t_unit SET unit_nm = 'unit {i}' WHERE unit_id = {};", 1 + i % 2),
            };
            psql(&writer_db, &sql);
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let (c2, s2, d2) = (cfg.to_string(), src.clone(), dst.clone());
    let kills = sigkill_while(&writer, move || spawn_sync_with(&["--config", &c2, "--source", &s2, "--target", &d2, "--batch-rows", "10"]), 300, 900);
    writer.join().unwrap();
    assert!(kills >= 1, "killed {kills} times");
    let r = ferry(&["sync", "--config", cfg, "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, "SELECT count(*) FROM catalog.item WHERE item_id >= 200").trim(), "20");
    assert_eq!(
        psql(
            &dst,
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'catalog' AND table_name = 'item_attributes' AND column_name LIKE 'extra_%'"
        )
        .trim(),
        "5"
    );
    verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
    // A changed reshaped row is found by verify, named by its row.
    psql(&dst, "UPDATE catalog.item SET name = 'tampered' WHERE item_id = 8");
    let (status, report) = verify_json(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert_ne!(status, 0);
    let item = report["reshape"].as_array().unwrap().iter().find(|t| t["table"] == "catalog.item").unwrap().clone();
    assert_eq!((item["missing"].as_i64(), item["extra"].as_i64()), (Some(1), Some(1)), "{item}");
    let samples = item["samples"].to_string();
    assert!(samples.contains("item_id=8") && samples.contains("tampered"), "{samples}");
    // --repair rebuilds what differs from the landing, and repaired landing rows reach the
    // reshaped tables.
    psql(&dst, "UPDATE landing.t_item SET item_nm = 'wrong' WHERE item_id = 9");
    let (status, report) = verify_json(&["--config", cfg, "--source", &src, "--target", &dst, "--repair"]);
    assert_eq!(status, 0, "{}", serde_json::to_string_pretty(&report).unwrap());
    assert_eq!(psql(&dst, "SELECT name FROM catalog.item WHERE item_id IN (8, 9) ORDER BY item_id").trim(), "Item 8\nItem 9");
}

/// Mapping errors are found by `ferry plan` (names) or by the target (expressions), before a
/// row moves, each with a message a user can act on.
#[test]
fn plan_time_errors_name_the_mapping_and_what_to_change() {
    let db = unique("reshape_err");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "CREATE TABLE tblCust (cust_id INT PRIMARY KEY, cust_nm VARCHAR(40), customer_name VARCHAR(40), st_cd CHAR(1));
         CREATE TABLE tblStat (st_cd CHAR(1) PRIMARY KEY, st_nm VARCHAR(20));",
    );
    let dst = fresh_pg(&db);
    let run = |name: &str, reshape: &str| {
        let cfg = write_config(&format!("{db}_{name}"), &format!("[target]\nschema = \"landing\"\n{reshape}"));
        ferry(&["plan", "--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst])
    };

    // A bad expression: the target's own error, with the mapping named; nothing is left behind.
    let r = run("expr", "[reshape.tables.\"crm.customer\"]\nfrom = \"tblCust\"\ncolumns = { customer_id = \"cust_id\", name = \"initcap(cust_name_typo)\" }\n");
    assert_ne!(r.status, 0, "{}", r.all());
    assert!(r.stderr.contains("mapping crm.customer → table crm.customer"), "{}", r.stderr);
    assert!(r.stderr.contains("column \"cust_name_typo\" does not exist"), "{}", r.stderr);
    assert_eq!(psql(&dst, "SELECT count(*) FROM pg_namespace WHERE nspname IN ('crm', 'landing')").trim(), "0", "the check wrote nothing");

    // A type error in a filter.
    let r = run("type", "[reshape.tables.\"crm.customer\"]\nfrom = \"tblCust\"\nwhere = \"cust_nm > 5\"\n");
    assert_ne!(r.status, 0, "{}", r.all());
    assert!(r.stderr.contains("operator does not exist: character varying > integer"), "{}", r.stderr);

    // A collision after the word rule.
    let r = run(
        "collision",
        "[reshape]\nwords = { cust = \"customer\", nm = \"name\" }\n[[reshape.schemas]]\ntables = [\"tbl%\"]\nschema = \"crm\"\nstrip_prefix = \"tbl\"\n",
    );
    assert_ne!(r.status, 0, "{}", r.all());
    assert!(r.all().contains("columns cust_nm, customer_name of table \"tblCust\" all become \"customer_name\" after the word rule"), "{}", r.all());

    // A lookup without a source table, and a column naming a lookup that does not exist.
    let r = run(
        "lookup",
        "[reshape.lookups.codes]\ninto = \"ref.code\"\n[reshape.tables.\"crm.customer\"]\nfrom = \"tblCust\"\ncolumns = { customer_id = \"cust_id\", status_id = { lookup = \"states\", column = \"st_cd\" } }\n",
    );
    assert_ne!(r.status, 0, "{}", r.all());
    assert!(r.all().contains("[reshape.lookups.codes] has no source table: add [reshape.lookups.codes.sources.<source table>]"), "{}", r.all());
    assert!(r.all().contains("column \"status_id\": lookup = \"states\" names no [reshape.lookups.states]"), "{}", r.all());

    // A mapping from a table that is not migrated.
    let r = run("from", "[reshape.tables.\"crm.x\"]\nfrom = \"tblNope\"\n");
    assert_ne!(r.status, 0, "{}", r.all());
    assert!(r.all().contains("from = \"tblNope\" is not among the migrated tables (tblCust, tblStat)"), "{}", r.all());
}

/// `ferry run`: a user's own final-hop SQL, tried with --dry-run (every statement runs, is told
/// with its rows, a sample and errors at their line and column, then everything is rolled back),
/// then for real (whole or nothing).
#[test]
fn run_script_dry_run_reports_each_statement_and_leaves_nothing() {
    let db = unique("run_script");
    let dst = fresh_pg(&db);
    psql(&dst, "CREATE SCHEMA crm; CREATE TABLE crm.customer (id int PRIMARY KEY, name text, segment text); INSERT INTO crm.customer SELECT g, 'c' || g, NULL FROM generate_series(1, 10) g;");
    let script = std::env::temp_dir().join(format!("{db}.sql"));
    std::fs::write(
        &script,
        "-- the hand-written part; semicolons in 'strings; too'\n\
         UPDATE crm.customer SET segment = 'small; or not' WHERE id <= 4;\n\
         DELETE FROM crm.customer\n WHERE id = 10;\n\
         UPDATE crm.customer SET segmnt = 'x';\n\
         CREATE TABLE crm.segment AS SELECT DISTINCT segment FROM crm.customer;\n",
    )
    .unwrap();
    let file = script.to_str().unwrap();
    let r = ferry(&["run", file, "--dry-run", "--target", &dst]);
    assert_eq!(r.status, 1, "an error is a failure, also in a dry run:\n{}", r.all());
    assert!(r.stdout.contains("(dry run, rolled back): 4 statement(s), 1 error(s)"), "{}", r.stdout);
    let line = |n: &str| r.stdout.lines().find(|l| l.trim_start().starts_with(&format!("line {n} "))).unwrap_or_default().to_string();
    assert!(line("2").contains("4 row(s)"), "{}", r.stdout);
    assert!(r.stdout.contains("(1,c1,\"small; or not\")"), "a sample of the changed rows: {}", r.stdout);
    assert!(r.stdout.contains("(10,c10,)"), "a deleted row is shown as it was: {}", r.stdout);
    assert!(r.stdout.contains("ERROR at line 5, column 25: 42703: column \"segmnt\" of relation \"customer\" does not exist"), "{}", r.stdout);
    assert!(line("6").contains("2 row(s)"), "the statement after the error still ran: {}", r.stdout);
    assert_eq!(psql(&dst, "SELECT count(*), count(segment), to_regclass('crm.segment') IS NULL FROM crm.customer").trim(), "10\t0\tt", "nothing was kept");

    // For real, with the error: whole or nothing.
    let r = ferry(&["run", file, "--target", &dst]);
    assert_eq!(r.status, 1, "{}", r.all());
    assert!(r.stdout.contains("rolled back: nothing was changed"), "{}", r.stdout);
    assert_eq!(psql(&dst, "SELECT count(*), count(segment) FROM crm.customer").trim(), "10\t0");
    // Fixed, it commits.
    std::fs::write(&script, std::fs::read_to_string(&script).unwrap().replace("segmnt", "segment")).unwrap();
    let r = ferry(&["run", file, "--target", &dst, "--json"]);
    assert_eq!(r.status, 0, "{}", r.all());
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["committed"], true);
    assert_eq!(report["statements"][3]["rows"], 1);
    assert_eq!(psql(&dst, "SELECT count(*), count(DISTINCT segment) FROM crm.customer").trim(), "9\t1");
    assert_eq!(psql(&dst, "SELECT count(*) FROM crm.segment").trim(), "1");
}

/// `--schema-only` then `--data-only` leave the reshaped tables as one migrate does.
#[test]
fn schema_only_then_data_only_reshape_like_one_migrate() {
    let db = unique("reshape_parts");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "CREATE TABLE tblStat (st_cd CHAR(1) PRIMARY KEY, st_nm VARCHAR(20) NOT NULL);
         CREATE TABLE tblCust (cust_id INT PRIMARY KEY, cust_nm VARCHAR(40), st_cd CHAR(1), FOREIGN KEY (st_cd) REFERENCES tblStat (st_cd));
         INSERT INTO tblStat VALUES ('A', 'active'), ('I', 'inactive');
         INSERT INTO tblCust SELECT seq, CONCAT('c', seq), IF(seq % 2 = 0, 'A', 'I') FROM seq_1_to_30;",
    );
    let dst = fresh_pg(&db);
    let cfg = write_config(
        &db,
        "[target]\nschema = \"landing\"\n[reshape.lookups.codes]\ninto = \"ref.code\"\nsources.tblStat = { id = \"st_cd\", name = \"st_nm\" }\n\
         [reshape.tables.\"crm.customer\"]\nfrom = \"tblCust\"\ncolumns = { customer_id = \"cust_id\", name = \"upper(cust_nm)\", status_id = { lookup = \"codes\", column = \"st_cd\" } }\n",
    );
    let cfg = cfg.to_str().unwrap();
    migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst, "--schema-only"]);
    assert_eq!(psql(&dst, "SELECT count(*) FROM crm.customer").trim(), "0", "schema-only creates the reshaped tables, empty");
    migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst, "--data-only"]);
    assert_eq!(psql(&dst, "SELECT count(*), count(status_id) FROM crm.customer").trim(), "30\t30");
    verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
}

/// A refresh the target refuses stops only that reshaped table, with the error, in the batch's
/// transaction (the landing rows still commit); once the cause is gone, the next refresh
/// rebuilds the table whole from the landing and it streams again.
#[test]
fn a_failed_refresh_stops_its_table_and_a_later_batch_rebuilds_it() {
    let db = unique("reshape_heal");
    let src_db = fresh_pg(&format!("{db}_src"));
    psql(&src_db, "CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, v text); INSERT INTO app.t SELECT g, 'v' || g FROM generate_series(1, 20) g;");
    let src = pg_source(&format!("{db}_src"), "app");
    let dst = fresh_pg(&db);
    // 1 / (id - 999) fails for id 999 only: a stand-in for any row a mapping cannot take.
    let cfg = write_config(&db, "[target]\nschema = \"landing\"\n[reshape.tables.\"out.t\"]\nfrom = \"t\"\nwhere = \"1 / (id - 999) IS NOT NULL\"\n");
    let cfg = cfg.to_str().unwrap();
    let sync = || ferry(&["sync", "--config", cfg, "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    let r = sync();
    assert_eq!(r.status, 0, "{}", r.all());
    psql(&src_db, "INSERT INTO app.t VALUES (999, 'bad'), (21, 'v21');");
    let _ = sync();
    let state = psql(&dst, "SELECT status, last_error FROM ferry.sync_tables WHERE table_name = 'out.t'");
    assert!(state.starts_with("stopped\t") && state.contains("division by zero"), "{state}");
    assert_eq!(psql(&dst, "SELECT count(*) FROM landing.t").trim(), "22", "the landing rows committed");
    psql(&src_db, "DELETE FROM app.t WHERE id = 999; UPDATE app.t SET v = 'changed' WHERE id = 1;");
    let r = sync();
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, "SELECT status FROM ferry.sync_tables WHERE table_name = 'out.t'").trim(), "streaming");
    assert_eq!(psql(&dst, "SELECT count(*), max(v) FILTER (WHERE id = 1) FROM out.t").trim(), "21\tchanged");
    verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
}

/// A real schema through the word rule as a user would try it first: every Sakila table into
/// schema `app` (enums, a spatial column, composite keys, foreign keys among them), then sync
/// with writes on parents and children, verify equal through the mapping.
#[test]
fn sakila_whole_schema_by_pattern_migrates_syncs_and_verifies() {
    let db = unique("reshape_sakila");
    let src = load_sakila(&db);
    let dst = fresh_pg(&db);
    let cfg = write_config(&db, "[target]\nschema = \"landing\"\n[[reshape.schemas]]\ntables = [\"%\"]\nschema = \"app\"\n");
    let cfg = cfg.to_str().unwrap();
    let m = migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert!(!m.stdout.contains("FAILED"), "{}", m.stdout);
    assert_eq!(psql(&dst, "SELECT count(*) FROM app.rental").trim(), "16044");
    assert_eq!(
        psql(&dst, "SELECT count(*) FROM pg_constraint WHERE connamespace = 'app'::regnamespace AND contype = 'f'").trim(),
        psql(&dst, "SELECT count(*) FROM pg_constraint WHERE connamespace = 'landing'::regnamespace AND contype = 'f'").trim(),
        "the foreign keys among the moved tables came along"
    );
    let r = ferry(&["sync", "--config", cfg, "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    mysql(
        Some(&db),
        "INSERT INTO customer (store_id, first_name, last_name, address_id) VALUES (1, 'NEW', 'CUSTOMER', 1);
         UPDATE film SET rating = 'NC-17', title = 'RENAMED' WHERE film_id = 1;
         INSERT INTO rental (rental_date, inventory_id, customer_id, staff_id) VALUES (NOW(), 1, LAST_INSERT_ID(), 1);
         DELETE FROM payment WHERE payment_id = 1;",
    );
    let r = ferry(&["sync", "--config", cfg, "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, "SELECT title, rating FROM app.film WHERE film_id = 1").trim(), "RENAMED\tNC-17");
    verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
}

/// Chinook from PostgreSQL, every table into `music` with a word of its names replaced
/// (invoice → bill), synced and verified: the PG → PG final hop on a real schema.
#[test]
fn chinook_from_postgresql_renamed_by_the_word_rule_syncs_and_verifies() {
    let db = unique("reshape_chinook");
    let src_db = format!("{db}_src");
    let src = fresh_pg(&src_db);
    psql(&src, &chinook_pg_script());
    let source = pg_source(&src_db, "public");
    let dst = fresh_pg(&db);
    let cfg = write_config(
        &db,
        "[target]\nschema = \"landing\"\n[reshape]\nwords = { invoice = \"bill\" }\n[[reshape.schemas]]\ntables = [\"%\"]\nschema = \"music\"\n",
    );
    let cfg = cfg.to_str().unwrap();
    let r = ferry(&["sync", "--config", cfg, "--source", &source, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, "SELECT count(*) FROM music.bill_line").trim(), "2240");
    assert_eq!(
        psql(&dst, "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'music' AND table_name = 'bill_line'").trim(),
        "bill_line_id,bill_id,track_id,unit_price,quantity"
    );
    assert_eq!(
        psql(
            &dst,
            "SELECT count(*) FROM pg_constraint WHERE connamespace = 'music'::regnamespace AND contype = 'f' AND conrelid = 'music.bill_line'::regclass"
        )
        .trim(),
        "2",
        "its foreign keys came along"
    );
    psql(&src, "INSERT INTO artist (artist_id, name) VALUES (1000, 'New'); UPDATE album SET artist_id = 1000 WHERE album_id = 1; DELETE FROM invoice_line WHERE invoice_line_id = 1;");
    let r = ferry(&["sync", "--config", cfg, "--source", &source, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, "SELECT artist_id FROM music.album WHERE album_id = 1").trim(), "1000");
    verify_equal(&["--config", cfg, "--source", &source, "--target", &dst]);
}
