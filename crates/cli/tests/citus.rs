//! Citus targets. Citus is not a Debian package, so the plan is tested against golden files (the
//! DDL with the distribution calls in order, the assessment's classification, and the message a
//! user sees for a table whose key lacks the distribution column); the end-to-end migrate runs
//! when CITUS_URL names a Citus coordinator (see README).

mod common;
use common::*;

const CONFIG: &str = r#"
[target]
schema = "chinook"

[rules]
identifiers = "snake_case"

[target.citus]
reference = ["Genre", "MediaType", "Artist", "Album", "Playlist", "Employee", "Customer"]

[target.citus.distributed]
Invoice = { column = "InvoiceId" }
InvoiceLine = { column = "InvoiceId", colocate_with = "Invoice" }
Track = { column = "TrackId" }
PlaylistTrack = { column = "TrackId", colocate_with = "Track" }
"#;

#[test]
fn citus_plan_orders_distribution_and_refuses_a_key_without_the_column() {
    let db = unique("citus_plan");
    let src = load_chinook_mysql(&db);
    let cfg = write_config(&db, CONFIG);
    let plan = ferry(&["plan", "--config", cfg.to_str().unwrap(), "--source", &src]);
    assert_eq!(plan.status, 0, "{}", plan.all());
    golden("citus-chinook-plan.txt", &plan.stdout.replace(&db, "<db>"));
    assert!(
        plan.stdout
            .contains("invoice_line: citus: needs the column added — its primary key (invoice_line_id) does not contain the distribution column invoice_id"),
        "{}",
        plan.stdout
    );
    // The order Citus needs: referenced reference tables first, colocated tables after theirs.
    let pos = |s: &str| plan.stdout.find(s).unwrap_or_else(|| panic!("{s} missing"));
    assert!(pos("create_reference_table('\"chinook\".\"employee\"')") < pos("create_reference_table('\"chinook\".\"customer\"')"));
    assert!(pos("create_distributed_table('\"chinook\".\"track\"'") < pos("create_distributed_table('\"chinook\".\"playlist_track\"'"));
    // migrate refuses before writing anything, naming the table, the key and what to do.
    let dst = fresh_pg(&db);
    let m = ferry(&["migrate", "--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst]);
    assert_eq!(m.status, 2, "{}", m.all());
    let error = &m.stderr[m.stderr.find("error:").expect("an error")..];
    golden("citus-chinook-refusal.txt", &error.replace(&db, "<db>"));
    assert_eq!(psql(&dst, "SELECT count(*) FROM pg_namespace WHERE nspname = 'chinook'"), "0\n", "nothing was written");
}

/// Sakila into Citus: rental and payment distributed by customer_id (not in their keys), the
/// rest reference tables.
const SAKILA: &str = r#"
[target.citus]
reference = ["actor", "address", "category", "city", "country", "customer", "film", "film_actor", "film_category", "film_text", "inventory", "language", "staff", "store"]

[target.citus.distributed]
rental = { column = "customer_id" }
payment = { column = "customer_id", colocate_with = "rental" }
"#;

/// The same, made to work without changing the source: keys extended on the target, the FK
/// actions Citus cannot run downgraded, shard count chosen.
fn sakila_citus(schema: &str) -> String {
    format!("[target]\nschema = \"{schema}\"\n")
        + &SAKILA
            .replace("reference = [", "downgrade_fk_actions = true\nreference = [")
            .replace("rental = { column = \"customer_id\" }", "rental = { column = \"customer_id\", extend_key = true, shard_count = 8 }")
            .replace("colocate_with = \"rental\" }", "colocate_with = \"rental\", extend_key = true }")
}

/// Every problem of every table at once, each with what to do: keys without the distribution
/// column, FK actions Citus cannot run, a local table referencing a distributed one,
/// shard_count with colocate_with.
#[test]
fn citus_plan_lists_every_problem_of_sakila_at_once_with_what_to_do() {
    let db = unique("citus_sakila_plan");
    let src = load_sakila(&db);
    let refused = SAKILA
        .replace("\"film_text\", ", "")
        .replace("\"inventory\", ", "")
        .replace("colocate_with = \"rental\" }", "colocate_with = \"rental\", shard_count = 4 }");
    let cfg = write_config(&db, &refused);
    let plan = ferry(&["plan", "--config", cfg.to_str().unwrap(), "--source", &src]);
    assert_eq!(plan.status, 2, "shard_count with colocate_with is a config problem:\n{}", plan.all());
    assert!(plan.all().contains("shard_count and colocate_with together"), "{}", plan.all());
    let cfg = write_config(&db, &refused.replace(", shard_count = 4", ""));
    let plan = ferry(&["plan", "--config", cfg.to_str().unwrap(), "--source", &src]);
    assert_eq!(plan.status, 0, "{}", plan.all());
    let items: Vec<&str> =
        plan.stdout.lines().filter(|l| l.contains("citus:") && !l.contains("citus: reference") && !l.contains("citus: local table")).collect();
    golden("citus-sakila-problems.txt", &(items.join("\n") + "\n"));
    let dst = fresh_pg(&db);
    let m = ferry(&["migrate", "--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst]);
    assert_eq!(m.status, 2, "{}", m.all());
    let error = &m.stderr[m.stderr.find("error:").expect("an error")..];
    golden("citus-sakila-refusal.txt", &error.replace(&db, "<db>"));
    // rental: both keys (primary key and the unique rental_date index has customer_id); the
    // FK actions of rental → customer; inventory local while rental references it.
    for want in [
        "rental: citus: needs the column added — its primary key (rental_id) does not contain the distribution column customer_id",
        "rental: citus: needs the column added — foreign key fk_rental_customer → customer has ON UPDATE CASCADE",
        "rental: citus: needs the column added — foreign key fk_rental_inventory → inventory is not allowed by Citus between a distributed table and a local table",
        "payment: citus: needs the column added — foreign key fk_payment_rental → rental does not include the distribution column customer_id",
    ] {
        assert!(plan.stdout.contains(want), "missing `{want}`:\n{}", items.join("\n"));
    }
}

/// extend_key, downgrade_fk_actions and shard_count as the plan shows them: the keys and the
/// foreign keys between the colocated tables gain customer_id, actions become NO ACTION (action
/// items), identities become bigint, the ON UPDATE trigger is created the way Citus accepts.
#[test]
fn citus_plan_extends_keys_downgrades_actions_and_widens_identities_for_sakila() {
    let db = unique("citus_sakila_ext");
    let src = load_sakila(&db);
    let cfg = write_config(&db, &sakila_citus("sakila"));
    let plan = ferry(&["plan", "--config", cfg.to_str().unwrap(), "--source", &src]);
    assert_eq!(plan.status, 0, "{}", plan.all());
    let out = &plan.stdout;
    for want in [
        "SELECT create_distributed_table('\"sakila\".\"rental\"', 'customer_id', shard_count => 8);",
        "SELECT create_distributed_table('\"sakila\".\"payment\"', 'customer_id', colocate_with => '\"sakila\".\"rental\"');",
        "ADD CONSTRAINT \"rental_pkey\" PRIMARY KEY (\"rental_id\", \"customer_id\")",
        "ADD CONSTRAINT \"payment_pkey\" PRIMARY KEY (\"payment_id\", \"customer_id\")",
        "FOREIGN KEY (\"rental_id\", \"customer_id\") REFERENCES \"sakila\".\"rental\" (\"rental_id\", \"customer_id\") ON DELETE NO ACTION ON UPDATE NO ACTION",
        "\"rental_id\" bigint GENERATED BY DEFAULT AS IDENTITY",
        "SET citus.enable_unsafe_triggers = on;\nCREATE TRIGGER \"rental_on_update\"",
        "rental: citus: primary key extended to (rental_id, customer_id) on the target only",
        "payment: citus: foreign key fk_payment_rental → rental: ON DELETE SET NULL became ON DELETE NO ACTION",
        "rental: citus: identity column rental_id widened to bigint",
    ] {
        assert!(out.contains(want), "missing `{want}`:\n{out}");
    }
    assert!(!out.contains("needs the column added") && !out.contains("refused"), "{out}");
}

/// `[target.citus]` against a database without Citus: refused before anything is written.
#[test]
fn citus_config_against_plain_postgresql_is_refused_before_writing() {
    let db = unique("citus_plain");
    let src = load_sakila(&db);
    let cfg = write_config(&db, &sakila_citus(&db));
    let dst = fresh_pg(&db);
    let m = ferry(&["migrate", "--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst]);
    assert_eq!(m.status, 2, "{}", m.all());
    assert!(m.stderr.contains("the target database has no `citus` extension") && m.stderr.contains("nothing was written"), "{}", m.all());
    assert_eq!(psql(&dst, "SELECT count(*) FROM pg_namespace WHERE nspname IN ('ferry', 'sakila')"), "0\n", "nothing was written");
}

fn citus_url() -> Option<String> {
    match std::env::var("CITUS_URL") {
        Ok(u) => Some(u),
        Err(_) => {
            eprintln!("CITUS_URL is not set: the Citus end-to-end tests do not run (the plan is covered by golden files)");
            None
        }
    }
}

/// Shards of `schema.table` per worker node: every table on more than one node.
fn shard_nodes(citus: &str, schema: &str, table: &str) -> u64 {
    psql(citus, &format!("SELECT count(DISTINCT nodeport) FROM citus_shards WHERE table_name = '\"{schema}\".\"{table}\"'::regclass")).trim().parse().unwrap()
}

/// End to end on a real Citus coordinator (CITUS_URL=postgres://…, workers added): Sakila from
/// MariaDB with rental and payment distributed by customer_id (keys extended on the target),
/// migrate, verify, sync under writes that insert, update and delete parents and children and
/// move a rental to another customer, one SIGKILL, verify, cutover.
#[test]
fn citus_sakila_migrates_syncs_and_cuts_over_on_a_real_cluster() {
    let Some(citus) = citus_url() else { return };
    let mut db = unique("citus_sakila");
    let src = load_sakila(&db);
    let cfg = write_config(&db, &sakila_citus(&db));
    let cfg = cfg.to_str().unwrap();
    let _ = psql_try(&citus, &format!("DROP SCHEMA IF EXISTS \"{db}\" CASCADE; DELETE FROM ferry.sync_state WHERE target_schema = '{db}'"));
    migrate_ok(&["--config", cfg, "--source", &src, "--target", &citus, "--if-exists", "drop"]);
    verify_equal(&["--config", cfg, "--source", &src, "--target", &citus]);
    let kinds = psql(
        &citus,
        &format!(
            "SELECT citus_table_type, count(*), count(DISTINCT colocation_id) FROM citus_tables WHERE table_name::text LIKE '{db}.%' GROUP BY 1 ORDER BY 1"
        ),
    );
    assert_eq!(kinds, "distributed\t2\t1\nreference\t14\t1\n", "rental and payment colocated, the rest reference tables");
    assert_eq!(psql(&citus, &format!("SELECT shard_count FROM citus_tables WHERE table_name = '\"{db}\".\"rental\"'::regclass")), "8\n");
    assert!(shard_nodes(&citus, &db, "payment") >= 2, "payment's shards on both workers");
    // Sync into a second schema: first the initial state, then writes while it streams, one
    // SIGKILL.
    let live = format!("{db}_live");
    let _ = psql_try(&citus, &format!("DROP SCHEMA IF EXISTS \"{live}\" CASCADE; DELETE FROM ferry.sync_state WHERE target_schema = '{live}'"));
    let cfg = write_config(&live, &sakila_citus(&live));
    let cfg = cfg.to_str().unwrap();
    let src_db = std::mem::replace(&mut db, live);
    let r = ferry(&["sync", "--config", cfg, "--source", &src, "--target", &citus, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    let writes = {
        let db = src_db.clone();
        std::thread::spawn(move || {
            for i in 0..40 {
                mysql(
                    Some(&db),
                    &format!(
                        "BEGIN;
                         INSERT INTO rental (rental_date, inventory_id, customer_id, staff_id) VALUES (NOW() + INTERVAL {i} SECOND, {inv}, {c}, 1);
                         INSERT INTO payment (customer_id, staff_id, rental_id, amount, payment_date) VALUES ({c}, 1, LAST_INSERT_ID(), 1.99, NOW());
                         UPDATE payment SET amount = amount + 1 WHERE payment_id = {p};
                         UPDATE rental SET customer_id = {to} WHERE rental_id = {r};
                         UPDATE payment SET customer_id = {to} WHERE rental_id = {r};
                         DELETE FROM payment WHERE payment_id = {d};
                         UPDATE customer SET last_name = CONCAT(last_name, 'x') WHERE customer_id = {c};
                         COMMIT;",
                        inv = 1 + i * 7,
                        c = 1 + i * 13 % 599,
                        p = 100 + i,
                        to = 599 - i,
                        r = 1000 + i,
                        d = 5000 + i,
                    ),
                );
            }
        })
    };
    let kills = sigkill_while(&writes, || spawn_sync_with(&["--config", cfg, "--source", &src, "--target", &citus, "--batch-rows", "50"]), 1500, 2000);
    writes.join().unwrap();
    assert!(kills >= 1, "sync was killed at least once");
    let r = ferry(&["sync", "--config", cfg, "--source", &src, "--target", &citus, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    verify_equal(&["--config", cfg, "--source", &src, "--target", &citus]);
    assert_eq!(
        psql(&citus, &format!("SELECT customer_id FROM \"{db}\".rental WHERE rental_id = 1000")),
        "599\n",
        "the rental moved to its new customer's shard"
    );
    let c = ferry(&["cutover", "--config", cfg, "--source", &src, "--target", &citus]);
    assert_eq!(c.status, 0, "{}", c.all());
    assert!(c.stdout.contains("target equals source"), "{}", c.stdout);
    // After cutover the application inserts through Citus with default (bigint identity) ids.
    let id =
        psql(&citus, &format!("INSERT INTO \"{db}\".rental (rental_date, inventory_id, customer_id, staff_id) VALUES (now(), 1, 3, 1) RETURNING rental_id"));
    assert!(id.trim().parse::<i64>().unwrap() > 16049, "{id}");
}

/// Chinook from PostgreSQL into Citus: invoice_line distributed with invoice (key extended),
/// track and playlist_track colocated, migrate and verify equal, then sync while it changes.
#[test]
fn citus_chinook_from_postgresql_migrates_and_syncs_on_a_real_cluster() {
    let Some(citus) = citus_url() else { return };
    let db = unique("citus_chinook");
    let src_db = format!("{db}_src");
    let src = fresh_pg(&src_db);
    let text = chinook_pg_script();
    psql(&src, &text);
    let source = pg_source(&src_db, "public");
    let cfg = write_config(
        &db,
        &format!(
            "[target]\nschema = \"{db}\"\n\n[target.citus]\nreference = [\"genre\", \"media_type\", \"artist\", \"album\", \"playlist\", \"employee\", \"customer\", \"track\"]\n\n[target.citus.distributed]\ninvoice = {{ column = \"invoice_id\" }}\ninvoice_line = {{ column = \"invoice_id\", colocate_with = \"invoice\", extend_key = true }}\nplaylist_track = {{ column = \"playlist_id\" }}\n"
        ),
    );
    let cfg = cfg.to_str().unwrap();
    migrate_ok(&["--config", cfg, "--source", &source, "--target", &citus, "--if-exists", "drop"]);
    verify_equal(&["--config", cfg, "--source", &source, "--target", &citus]);
    let kinds = psql(&citus, &format!("SELECT citus_table_type, count(*) FROM citus_tables WHERE table_name::text LIKE '{db}.%' GROUP BY 1 ORDER BY 1"));
    assert_eq!(kinds, "distributed\t3\nreference\t8\n");
    assert!(shard_nodes(&citus, &db, "invoice_line") >= 2);
    let live = format!("{db}_live");
    let cfg = write_config(&live, &std::fs::read_to_string(cfg).unwrap().replace(&format!("schema = \"{db}\""), &format!("schema = \"{live}\"")));
    let cfg = cfg.to_str().unwrap();
    let r = ferry(&["sync", "--config", cfg, "--source", &source, "--target", &citus, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    for i in 0..20 {
        psql(
            &src,
            &format!(
                "BEGIN; INSERT INTO invoice_line VALUES ({}, {}, {}, 0.99, 1); UPDATE invoice_line SET quantity = quantity + 1 WHERE invoice_line_id = {}; DELETE FROM invoice_line WHERE invoice_line_id = {}; UPDATE track SET unit_price = unit_price + 0.01 WHERE track_id = {}; DELETE FROM playlist_track WHERE playlist_id = 1 AND track_id = (SELECT min(track_id) FROM playlist_track WHERE playlist_id = 1); COMMIT;",
                100000 + i,
                1 + i,
                i + 1,
                10 + i,
                1000 + i,
                i * 13 + 1
            ),
        );
    }
    let r = ferry(&["sync", "--config", cfg, "--source", &source, "--target", &citus, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    verify_equal(&["--config", cfg, "--source", &source, "--target", &citus]);
}

/// Schema-based sharding: the whole target schema is one distributed schema, distributed after
/// its tables exist; mixing it with table lists is refused. On a real cluster the tables are
/// single-shard `schema` tables and verify equal.
#[test]
fn citus_schema_based_sharding_distributes_the_whole_schema() {
    let db = unique("citus_schema");
    let src = load_chinook_mysql(&db);
    let bad = write_config(&db, "[target.citus]\nschema_based = true\nreference = [\"Genre\"]\n");
    let plan = ferry(&["plan", "--config", bad.to_str().unwrap(), "--source", &src]);
    assert_eq!(plan.status, 2, "{}", plan.all());
    assert!(plan.all().contains("schema_based = true distributes the whole schema"), "{}", plan.all());
    let cfg = write_config(&db, &format!("[target]\nschema = \"{db}\"\n\n[rules]\nidentifiers = \"snake_case\"\n\n[target.citus]\nschema_based = true\n"));
    let cfg = cfg.to_str().unwrap();
    let plan = ferry(&["plan", "--config", cfg, "--source", &src]);
    assert_eq!(plan.status, 0, "{}", plan.all());
    assert!(plan.stdout.contains(&format!("SELECT citus_schema_distribute('\"{db}\"');")), "{}", plan.stdout);
    assert!(plan.stdout.contains("invoice_line: citus: schema-distributed"), "{}", plan.stdout);
    let Some(citus) = citus_url() else { return };
    migrate_ok(&["--config", cfg, "--source", &src, "--target", &citus, "--if-exists", "drop"]);
    verify_equal(&["--config", cfg, "--source", &src, "--target", &citus]);
    let kinds = psql(&citus, &format!("SELECT citus_table_type, count(*), count(DISTINCT colocation_id), max(shard_count) FROM citus_tables WHERE table_name::text LIKE '{db}.%' GROUP BY 1"));
    assert_eq!(kinds, "schema\t11\t1\t1\n");
}
