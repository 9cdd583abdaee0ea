//! Sakila end to end: plan, migrate, row counts, the GEOMETRY column, sequences, re-runs.

mod common;
use common::*;

const TABLES: [&str; 16] = [
    "actor",
    "address",
    "category",
    "city",
    "country",
    "customer",
    "film",
    "film_actor",
    "film_category",
    "film_text",
    "inventory",
    "language",
    "payment",
    "rental",
    "staff",
    "store",
];

fn count_mysql(db: &str, t: &str) -> u64 {
    mysql(Some(db), &format!("SELECT COUNT(*) FROM `{t}`")).trim().parse().unwrap()
}

fn count_pg(url: &str, schema: &str, t: &str) -> u64 {
    psql(url, &format!("SELECT COUNT(*) FROM \"{schema}\".\"{t}\"")).trim().parse().unwrap()
}

#[test]
fn sakila_migrates_with_equal_counts_and_geometry_fallback() {
    let db = unique("sakila");
    let src = load_sakila(&db);
    let dst = fresh_pg(&db);

    // plan writes nothing and lists what needs a person.
    let plan = ferry(&["plan", "--source", &src, "--target", &dst, "--schema", "sakila", "--json"]);
    assert_eq!(plan.status, 0, "{}", plan.all());
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let items = json["assessment"]["items"].as_array().unwrap();
    let has = |sev: &str, obj: &str, needle: &str| {
        items.iter().any(|i| i["severity"] == sev && i["object"].as_str().unwrap().starts_with(obj) && i["message"].as_str().unwrap().contains(needle))
    };
    assert!(has("warning", "address.location", "WKB"), "geometry fallback must be in the assessment");
    assert!(has("action", "address index idx_location", "PostGIS"));
    assert!(has("warning", "view film_list", "GROUP_CONCAT without ORDER BY"));
    assert!(has("info", "trigger ins_film", "converted to PostgreSQL"));
    assert!(has("action", "procedure rewards_report", "not converted"));
    assert!(has("info", "function get_customer_balance", "converted to PostgreSQL"));
    assert!(has("warning", "film_text index idx_title_description", "FULLTEXT"));
    assert!(items.iter().any(|i| i["object"] == "view film_list" && i["sql"].as_str().unwrap().contains("CREATE VIEW")));
    assert_eq!(psql(&dst, "SELECT count(*) FROM pg_namespace WHERE nspname = 'sakila'").trim(), "0", "plan must not write");

    let r = migrate_ok(&["--source", &src, "--target", &dst, "--schema", "sakila", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["tables"].as_array().unwrap().len(), 16);
    for t in TABLES {
        assert_eq!(count_pg(&dst, "sakila", t), count_mysql(&db, t), "row count of {t}");
        let rep = report["tables"].as_array().unwrap().iter().find(|x| x["target"] == t).unwrap();
        assert_eq!(rep["rows"].as_u64().unwrap(), count_mysql(&db, t));
        assert!(rep["bytes"].as_u64().unwrap() > 0);
    }
    assert_eq!(count_pg(&dst, "sakila", "rental"), 16044);

    // GEOMETRY without PostGIS: bytea holding the WKB MySQL's ST_AsWKB gives.
    assert_eq!(
        psql(&dst, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'sakila.address'::regclass AND attname = 'location'").trim(),
        "bytea"
    );
    let pg_wkb = psql(&dst, "SELECT encode(location, 'hex') FROM sakila.address WHERE address_id = 1").trim().to_string();
    let my_wkb = mysql(Some(&db), "SELECT LOWER(HEX(ST_AsWKB(location))) FROM address WHERE address_id = 1").trim().to_string();
    assert_eq!(pg_wkb, my_wkb);

    // Types, keys, FKs, enum and set.
    assert_eq!(
        psql(&dst, "SELECT rating::text, array_to_string(special_features, '|') FROM sakila.film WHERE film_id = 1").trim(),
        "PG\tDeleted Scenes|Behind the Scenes"
    );
    let fks = psql(
        &dst,
        "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'sakila' AND contype = 'f' AND convalidated",
    );
    let my_fks = mysql(Some(&db), &format!("SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = '{db}'"));
    assert_eq!(fks.trim(), my_fks.trim(), "every FK created and validated");
    assert_eq!(psql(&dst, "SELECT confdeltype, confupdtype FROM pg_constraint WHERE conname = 'fk_payment_rental'").trim(), "n\tc");
    assert_eq!(psql(&dst, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'sakila' AND indexdef LIKE '%gin%to_tsvector%'").trim(), "1");
    assert_eq!(
        psql(&dst, "SELECT obj_description('sakila.film'::regclass) IS NULL, active::text FROM sakila.customer WHERE customer_id = 1").trim(),
        "t\ttrue",
        "tinyint(1) holding only 0/1 becomes boolean"
    );

    // Identity restarted past the source's AUTO_INCREMENT; ON UPDATE trigger works.
    let id = psql(&dst, "INSERT INTO sakila.actor (first_name, last_name) VALUES ('A', 'B') RETURNING actor_id");
    assert_eq!(id.trim(), "201");
    let changed = psql(
        &dst,
        "UPDATE sakila.actor SET first_name = 'C' WHERE actor_id = 1; SELECT last_update > now() - interval '1 minute' FROM sakila.actor WHERE actor_id = 1",
    );
    assert_eq!(changed.trim(), "t");

    // verify: the migrated schema equals the source…
    let vargs = ["--source", src.as_str(), "--target", dst.as_str(), "--schema", "sakila"];
    // …except for the two rows just written in the target, found with their keys and columns.
    let (status, report) = verify_json(&vargs);
    assert_eq!(status, 1, "{report:#}");
    let actor = report["tables"].as_array().unwrap().iter().find(|t| t["target"] == "actor").unwrap();
    assert_eq!(actor["status"], "differs", "{actor:#}");
    assert_eq!((actor["missing"].as_u64(), actor["extra"].as_u64(), actor["changed"].as_u64()), (Some(0), Some(1), Some(1)), "{actor:#}");
    assert_eq!(actor["sample_extra"][0], "201");
    assert_eq!(actor["sample_changed"][0][0], "1");
    let cols: Vec<&str> = actor["sample_changed"][0][1].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(cols, ["first_name", "last_update"]);
    for t in report["tables"].as_array().unwrap().iter().filter(|t| t["target"] != "actor") {
        assert!(t["status"] == "equal" || t["status"] == "equal_without_key", "{t:#}");
    }
    // --repair puts the source's rows back, and the next verify is clean.
    let mut repair = vargs.to_vec();
    repair.push("--repair");
    let (status, report) = verify_json(&repair);
    assert_eq!(status, 0, "{report:#}");
    let actor = report["tables"].as_array().unwrap().iter().find(|t| t["target"] == "actor").unwrap();
    assert_eq!(actor["repaired"], 2);
    assert_eq!(psql(&dst, "SELECT count(*), max(actor_id) FROM sakila.actor").trim(), "200\t200");
    assert_eq!(psql(&dst, "SELECT first_name FROM sakila.actor WHERE actor_id = 1").trim(), "PENELOPE");
    let report = verify_equal(&vargs);
    assert_eq!(hash_mismatches(&report), Vec::<String>::new(), "equal on the chunk hashes alone");

    // Re-runs: fail by default, drop and truncate give the same result.
    let again = ferry(&["migrate", "--source", &src, "--target", &dst, "--schema", "sakila"]);
    assert_ne!(again.status, 0);
    assert!(again.all().contains("already has planned tables") && again.all().contains("--if-exists"), "{}", again.all());
    for mode in ["drop", "truncate"] {
        migrate_ok(&["--source", &src, "--target", &dst, "--schema", "sakila", "--if-exists", mode, "--quiet"]);
        for t in TABLES {
            assert_eq!(count_pg(&dst, "sakila", t), count_mysql(&db, t), "{mode}: row count of {t}");
        }
        assert_eq!(
            psql(&dst, "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'sakila' AND contype = 'f'")
                .trim(),
            my_fks.trim()
        );
    }
}

/// Sakila's code on the target: the 7 views and 6 triggers created and working, the 3 functions
/// converted and returning what MariaDB returns, the 3 procedures listed with the construct that
/// stopped each; `verify --objects` proves every view's rows and the listed calls, and sees a
/// view that returns other rows.
#[test]
fn sakila_views_triggers_and_functions_are_converted_and_proven_by_verify_objects() {
    let db = unique("sakila_code");
    let src = load_sakila(&db);
    let dst = fresh_pg(&db);
    let cfg = write_config(
        &format!("{db}.toml"),
        "[target]\nschema = \"sakila\"\n[checks]\ncalls = [\"get_customer_balance(1, '2005-08-01')\", \"get_customer_balance(148, '2005-08-30')\", \"inventory_in_stock(1)\", \"inventory_in_stock(2047)\", \"inventory_held_by_customer(2047)\", \"inventory_held_by_customer(1)\"]\n",
    );
    let cfg = cfg.to_str().unwrap();

    let plan = ferry(&["plan", "--source", &src, "--target", &dst, "--config", cfg, "--json"]);
    assert_eq!(plan.status, 0, "{}", plan.all());
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let code = json["assessment"]["code"].as_array().unwrap();
    let count = |kind: &str| {
        let c = code.iter().find(|c| c["kind"] == kind).unwrap_or_else(|| panic!("no {kind} in {code:?}"));
        (c["converted"].as_u64().unwrap() + c["with_warnings"].as_u64().unwrap(), c["not_converted"].as_u64().unwrap())
    };
    assert_eq!(count("view"), (7, 0));
    assert_eq!(count("trigger"), (6, 0));
    assert_eq!(count("function"), (3, 0));
    assert_eq!(count("procedure"), (0, 3));
    // The counts are the items': one per object, by its outcome.
    let items = json["assessment"]["items"].as_array().unwrap();
    let procedures: Vec<&serde_json::Value> = items.iter().filter(|i| i["object"].as_str().unwrap().starts_with("procedure ")).collect();
    assert_eq!(procedures.len(), 3);
    for p in &procedures {
        assert_eq!(p["severity"], "action");
        assert!(p["message"].as_str().unwrap().contains("not converted: "), "the construct that stopped it is named: {p}");
    }
    assert!(
        procedures.iter().any(|p| p["object"] == "procedure film_in_stock" && p["message"].as_str().unwrap().contains("returns rows to the client")),
        "{procedures:?}"
    );
    let converted = items.iter().filter(|i| i["message"].as_str().unwrap().starts_with("converted to PostgreSQL")).count();
    assert_eq!(converted, 16, "7 views, 6 triggers, 3 functions");

    let r = migrate_ok(&["--source", &src, "--target", &dst, "--config", cfg, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["objects"]["created"].as_array().unwrap().len(), 16, "{:#}", report["objects"]);
    assert!(report["objects"]["failed"].as_array().unwrap().is_empty(), "{:#}", report["objects"]);

    // The triggers work for the application…
    let film_text = |title: &str| psql(&dst, &format!("SELECT count(*) FROM sakila.film_text WHERE title = '{title}'")).trim().to_string();
    psql(&dst, "INSERT INTO sakila.film (title, language_id) VALUES ('FERRY ONE', 1)");
    assert_eq!(film_text("FERRY ONE"), "1", "ins_film: an insert into film creates its film_text row");
    psql(&dst, "UPDATE sakila.film SET title = 'FERRY TWO' WHERE title = 'FERRY ONE'");
    assert_eq!((film_text("FERRY ONE"), film_text("FERRY TWO")), ("0".into(), "1".into()), "upd_film");
    psql(&dst, "DELETE FROM sakila.film WHERE title = 'FERRY TWO'");
    assert_eq!(film_text("FERRY TWO"), "0", "del_film");
    let created = psql(
        &dst,
        "INSERT INTO sakila.customer (store_id, first_name, last_name, address_id, active) VALUES (1, 'A', 'B', 1, true) RETURNING create_date IS NOT NULL",
    );
    assert_eq!(created.lines().next().unwrap().trim(), "t", "customer_create_date sets create_date on insert");
    psql(&dst, "DELETE FROM sakila.customer WHERE first_name = 'A' AND last_name = 'B'");
    // payment_date and rental_date: the date given is replaced by the time of the insert.
    let paid = psql(
        &dst,
        "INSERT INTO sakila.payment (customer_id, staff_id, amount, payment_date) VALUES (1, 1, 1.00, '2000-01-01') RETURNING payment_date > '2001-01-01'",
    );
    assert_eq!(paid.lines().next().unwrap().trim(), "t", "payment_date sets the payment's date on insert");
    let rented = psql(
        &dst,
        "INSERT INTO sakila.rental (rental_date, inventory_id, customer_id, staff_id) VALUES ('2000-01-01', 1, 1, 1) RETURNING rental_date > '2001-01-01'",
    );
    assert_eq!(rented.lines().next().unwrap().trim(), "t", "rental_date sets the rental's date on insert");
    psql(&dst, "DELETE FROM sakila.payment WHERE amount = 1.00 AND payment_date > '2020-01-01'; DELETE FROM sakila.rental WHERE rental_date > '2020-01-01'");
    // …and stay quiet in ferry's own sessions, which copy what the source's triggers did.
    psql(&dst, "SET ferry.applying = 'on'; INSERT INTO sakila.film (film_id, title, language_id) VALUES (5000, 'FERRY QUIET', 1); DELETE FROM sakila.film WHERE film_id = 5000");
    assert_eq!(film_text("FERRY QUIET"), "0");

    // Every view returns MariaDB's rows, every call MariaDB's value.
    let v = ferry(&["verify", "--objects", "--source", &src, "--target", &dst, "--config", cfg, "--json"]);
    assert_eq!(v.status, 0, "{}", v.all());
    let vj: serde_json::Value = serde_json::from_str(&v.stdout).unwrap();
    let objects = vj["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 7 + 6, "{objects:#?}");
    for o in objects {
        assert_eq!(o["equal"], true, "{o}");
    }
    let views: Vec<&str> = objects.iter().filter_map(|o| o["object"].as_str()).filter(|o| o.starts_with("view ")).collect();
    for name in ["actor_info", "customer_list", "film_list", "nicer_but_slower_film_list", "sales_by_film_category", "sales_by_store", "staff_list"] {
        assert!(views.contains(&format!("view {name}").as_str()), "{views:?}");
    }
    let rows = |o: &str| objects.iter().find(|x| x["object"] == o).unwrap()["target_rows"].as_u64().unwrap();
    assert_eq!(rows("view film_list"), mysql(Some(&db), "SELECT COUNT(*) FROM film_list").trim().parse::<u64>().unwrap());

    // A view returning other rows, and one in another order, are differences.
    psql(
        &dst,
        "ALTER VIEW sakila.sales_by_film_category RENAME TO sales_old; CREATE VIEW sakila.sales_by_film_category AS SELECT * FROM sakila.sales_old ORDER BY total_sales ASC",
    );
    psql(&dst, "ALTER VIEW sakila.staff_list RENAME TO staff_list_old; CREATE VIEW sakila.staff_list AS SELECT * FROM sakila.staff_list_old WHERE \"id\" = 1");
    let v = ferry(&["verify", "--objects", "--source", &src, "--target", &dst, "--config", cfg, "--json"]);
    assert_eq!(v.status, 1, "{}", v.all());
    let vj: serde_json::Value = serde_json::from_str(&v.stdout).unwrap();
    let staff = vj["objects"].as_array().unwrap().iter().find(|o| o["object"] == "view staff_list").unwrap().clone();
    assert_eq!(staff["equal"], false);
    assert_eq!(staff["detail"], "1 row(s) only on the source, 0 only on the target", "{staff}");
    let sales = vj["objects"].as_array().unwrap().iter().find(|o| o["object"] == "view sales_by_film_category").unwrap().clone();
    assert_eq!(sales["equal"], false);
    assert!(sales["detail"].as_str().unwrap().starts_with("the same rows in a different order"), "{sales}");
}
