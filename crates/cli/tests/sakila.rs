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
    assert!(has("action", "view film_list", "view"));
    assert!(has("action", "trigger ins_film", "trigger"));
    assert!(has("action", "procedure rewards_report", "procedure"));
    assert!(has("action", "function get_customer_balance", "function"));
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
