//! The converter on hand-written MySQL: names through the plan's renames, MySQL's semantics
//! kept, unknown constructs refused by name.

use super::*;
use ferry_model::{Column, DataType, Key, Table, TargetColumn};
use std::collections::HashMap;

/// Table `Orders` → `orders`, its column `CustID` → `cust_id`, `Active` a boolean, `Qty` an integer.
struct Names {
    columns: HashMap<(&'static str, &'static str), (&'static str, bool)>,
}

impl Names {
    fn new() -> Self {
        let mut columns = HashMap::new();
        for (t, c, to, b) in [
            ("Orders", "Id", "id", false),
            ("Orders", "CustID", "cust_id", false),
            ("Orders", "Active", "active", true),
            ("Orders", "Qty", "qty", false),
            ("Orders", "Note", "note", false),
            ("customers", "id", "id", false),
            ("customers", "name", "name", false),
            ("customers", "created", "created", false),
            ("audit", "order_id", "order_id", false),
            ("audit", "what", "what", false),
        ] {
            columns.insert((t, c), (to, b));
        }
        Names { columns }
    }
}

impl TargetNames for Names {
    fn schema(&self) -> &str {
        "shop"
    }
    fn table(&self, table: &str) -> Option<String> {
        match table {
            "Orders" | "orders" => Some("orders".into()),
            "customers" => Some("clients".into()),
            "audit" => Some("audit".into()),
            _ => None,
        }
    }
    fn column(&self, table: &str, column: &str) -> Option<TargetColumn> {
        let t = if table.eq_ignore_ascii_case("orders") { "Orders" } else { table };
        self.columns.iter().find(|((tt, c), _)| *tt == t && c.eq_ignore_ascii_case(column)).map(|(_, (n, b))| TargetColumn { name: n.to_string(), boolean: *b })
    }
    fn ident(&self, name: &str) -> String {
        name.to_ascii_lowercase()
    }
    fn ferry_session(&self) -> &str {
        "ferry_session()"
    }
}

fn schema(objects: Vec<SourceObject>) -> Schema {
    let col = |n: &str| Column::new(n, DataType::Int { bytes: 4, unsigned: false, display_width: None }, "int");
    Schema {
        name: "shop".into(),
        server_version: "MariaDB 10.11".into(),
        tables: vec![
            Table {
                name: "Orders".into(),
                columns: vec![col("Id"), col("CustID")],
                primary_key: Some(Key { name: "PRIMARY".into(), columns: vec!["Id".into()] }),
                ..Default::default()
            },
            Table {
                name: "customers".into(),
                columns: vec![col("id"), col("name")],
                primary_key: Some(Key { name: "PRIMARY".into(), columns: vec!["id".into()] }),
                ..Default::default()
            },
        ],
        view_columns: vec![("v".into(), vec![col("A"), col("b")])],
        objects,
        ..Default::default()
    }
}

fn view(body: &str) -> ConvertedObject {
    let o = SourceObject { kind: ObjectKind::View, name: "v".into(), table: None, sql: format!("CREATE VIEW `v` AS {body}") };
    let s = schema(vec![o.clone()]);
    convert_objects(&s, &Names::new()).remove(0)
}

fn sql(c: &ConvertedObject) -> &str {
    assert!(c.refused.is_none(), "refused: {:?}", c.refused);
    &c.statements[0]
}

#[test]
fn a_view_names_tables_and_columns_as_the_plan_does() {
    let c = view("select `o`.`CustID` AS `A`, `shop`.`customers`.`name` AS `b` from (`shop`.`Orders` `o` join `shop`.`customers` on(`o`.`CustID` = `shop`.`customers`.`id`))");
    assert_eq!(
        sql(&c),
        "CREATE VIEW \"shop\".\"v\" (\"a\", \"b\") AS SELECT \"o\".\"cust_id\" AS \"a\", \"clients\".\"name\" AS \"b\" FROM (\"shop\".\"orders\" \"o\" JOIN \"shop\".\"clients\" ON (\"o\".\"cust_id\" = \"clients\".\"id\"))"
    );
    assert_eq!(c.outcome(), ferry_model::Outcome::Converted);
    let check = c.view.unwrap();
    assert_eq!((check.target.as_str(), check.target_columns.clone(), check.ordered), ("v", vec!["a".to_string(), "b".to_string()], false));
}

#[test]
fn functions_keep_mysql_semantics() {
    let c = view("select concat(`Note`, '-', `Qty`) AS `A`, ifnull(`Note`, 'x') AS `b` from `Orders`");
    assert!(sql(&c).contains("(CAST(\"note\" AS text) || '-' || CAST(\"qty\" AS text)) AS \"a\""), "CONCAT is NULL when an argument is: {}", sql(&c));
    assert!(sql(&c).contains("COALESCE(\"note\", 'x')"));

    // IF tests a number for truth; a boolean column as it is.
    let c = view("select if(`Active`, 1, 0) AS `A`, if(`Qty`, 1, 0) AS `b` from `Orders`");
    assert!(sql(&c).contains("CASE WHEN \"active\" THEN 1 ELSE 0 END"), "{}", sql(&c));
    assert!(sql(&c).contains("CASE WHEN (\"qty\") <> 0 THEN 1 ELSE 0 END"), "{}", sql(&c));

    let c = view("select group_concat(distinct `Note` order by `Note` DESC separator '; ') AS `A`, count(0) AS `b` from `Orders` where `Qty` <=> NULL");
    assert!(sql(&c).contains("string_agg(DISTINCT CAST(\"note\" AS text), '; ' ORDER BY CAST(\"note\" AS text) DESC)"), "{}", sql(&c));
    assert!(c.warnings.iter().all(|w| !w.contains("DISTINCT")), "ordered by the value itself: as MySQL orders it");
    assert!(sql(&c).contains("\"qty\" IS NOT DISTINCT FROM NULL"), "{}", sql(&c));

    let c = view("select `Qty` DIV 2 AS `A`, date_format(`Note`, '%Y-%m') AS `b` from `Orders` order by `Qty` limit 5, 10");
    assert!(sql(&c).contains("div(\"qty\", 2)"));
    assert!(sql(&c).contains("to_char(\"note\", 'YYYY-MM')"));
    assert!(sql(&c).ends_with("ORDER BY \"qty\" NULLS FIRST LIMIT 10 OFFSET 5"), "MySQL sorts NULLs first: {}", sql(&c));
    assert!(c.view.unwrap().ordered);
}

#[test]
fn a_grouped_view_gains_the_columns_mysql_let_it_leave_ungrouped() {
    // customers.name depends on the grouped key (PostgreSQL accepts it); Orders.Note does not.
    let c = view("select `customers`.`name` AS `A`, `o`.`Note` AS `b`, sum(`o`.`Qty`) AS `c` from (`customers` join `Orders` `o` on(`o`.`CustID` = `customers`.`id`)) group by `customers`.`id`");
    assert!(sql(&c).ends_with("GROUP BY \"clients\".\"id\", \"o\".\"note\""), "{}", sql(&c));
    assert!(c.warnings.iter().any(|w| w.contains("GROUP BY gains \"o\".\"note\"")), "{:?}", c.warnings);
}

#[test]
fn unknown_constructs_are_refused_by_name() {
    assert_eq!(view("select soundex(`Note`) AS `A`, 1 AS `b` from `Orders`").refused.as_deref(), Some("function SOUNDEX"));
    assert_eq!(view("select `x`.`y` AS `A`, 1 AS `b` from `other`.`x`").refused.as_deref(), Some("table `other`.`x` of another database"));
    assert_eq!(view("select 1 AS `A`, 2 AS `b` from `gone`").refused.as_deref(), Some("table `gone`, which is not migrated"));
    let c = view("select 1 AS `A`, 2 AS `b` from `Orders` group by `Qty` with rollup");
    assert_eq!(c.refused.as_deref(), Some("GROUP BY … WITH ROLLUP"));
    assert!(c.statements.is_empty(), "nothing half-converted is created");
}

#[test]
fn a_trigger_becomes_a_function_and_a_trigger_quiet_in_ferry_sessions() {
    let body = "BEGIN\n  IF NEW.Qty < 0 THEN\n    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'negative quantity';\n  END IF;\n  SET NEW.Note = CONCAT('by ', CURRENT_USER());\n  INSERT INTO audit (order_id, what) VALUES (NEW.Id, 'insert');\nEND";
    let o = SourceObject {
        kind: ObjectKind::Trigger,
        name: "Orders_bi".into(),
        table: Some("Orders".into()),
        sql: format!("CREATE TRIGGER `Orders_bi` BEFORE INSERT ON `Orders` FOR EACH ROW {body}"),
    };
    let c = convert_objects(&schema(vec![o.clone()]), &Names::new()).remove(0);
    assert_eq!(c.refused.as_deref(), Some("function CURRENT_USER"));

    let o = SourceObject { sql: o.sql.replace("CONCAT('by ', CURRENT_USER())", "UPPER(NEW.Note)"), ..o };
    let c = convert_objects(&schema(vec![o]), &Names::new()).remove(0);
    assert!(c.refused.is_none(), "{:?}", c.refused);
    assert_eq!(
        c.statements[0],
        "CREATE OR REPLACE FUNCTION \"shop\".\"orders_bi_fn\"() RETURNS trigger LANGUAGE plpgsql AS $ferry$\nBEGIN\n  IF ferry_session() THEN\n    RETURN NEW;\n  END IF;\n  IF NEW.\"qty\" < 0 THEN\n    RAISE EXCEPTION USING ERRCODE = '45000', MESSAGE = 'negative quantity';\n  END IF;\n  NEW.\"note\" := upper(NEW.\"note\");\n  INSERT INTO \"shop\".\"audit\" (\"order_id\", \"what\") VALUES (NEW.\"id\", 'insert');\n  RETURN NEW;\nEND\n$ferry$"
    );
    assert_eq!(c.statements[1], "CREATE TRIGGER \"orders_bi\" BEFORE INSERT ON \"shop\".\"orders\" FOR EACH ROW EXECUTE FUNCTION \"shop\".\"orders_bi_fn\"()");
}

#[test]
fn a_function_keeps_its_parameters_variables_and_not_found_handler() {
    let sql = "CREATE DEFINER=`root`@`localhost` FUNCTION `qty_of`(p_id INT, p_min DECIMAL(5,2) UNSIGNED) RETURNS int(11)\n    READS SQL DATA\n    DETERMINISTIC\nBEGIN\n  DECLARE v, w INT DEFAULT 0;\n  DECLARE EXIT HANDLER FOR NOT FOUND RETURN -1;\n  SELECT Qty INTO v FROM Orders WHERE Id = p_id;\n  WHILE w < 3 DO SET w = w + 1; END WHILE;\n  RETURN v + w;\nEND";
    let o = SourceObject { kind: ObjectKind::Function, name: "qty_of".into(), table: None, sql: sql.into() };
    let c = convert_objects(&schema(vec![o]), &Names::new()).remove(0);
    assert!(c.refused.is_none(), "{:?}", c.refused);
    assert_eq!(
        c.statements[0],
        "CREATE OR REPLACE FUNCTION \"shop\".\"qty_of\"(p_id integer, p_min numeric(5,2)) RETURNS integer LANGUAGE plpgsql AS $ferry$\n#variable_conflict use_variable\nDECLARE\n  v integer := 0;\n  w integer := 0;\nBEGIN\n  SELECT \"qty\" INTO v FROM \"shop\".\"orders\" WHERE \"id\" = p_id;\n  IF NOT FOUND THEN\n    RETURN -1;\n  END IF;\n  WHILE w < 3 LOOP\n    w := w + 1;\n  END LOOP;\n  RETURN v + w;\nEND\n$ferry$"
    );
    assert_eq!(c.outcome(), ferry_model::Outcome::Warnings, "SELECT … INTO differs on several rows");

    // A procedure answering the client with rows is not PL/pgSQL.
    let p = "CREATE PROCEDURE `list_orders`(IN p_id INT)\nBEGIN\n  SELECT * FROM Orders WHERE Id = p_id;\nEND";
    let o = SourceObject { kind: ObjectKind::Procedure, name: "list_orders".into(), table: None, sql: p.into() };
    let c = convert_objects(&schema(vec![o]), &Names::new()).remove(0);
    assert!(c.refused.unwrap().starts_with("a SELECT that returns rows to the client"));
}

#[test]
fn signals_become_calls_before_parsing() {
    assert_eq!(
        plpgsql::rewrite_signals("IF x THEN SIGNAL SQLSTATE VALUE '45000' SET MESSAGE_TEXT = CONCAT('bad ', x), MYSQL_ERRNO = 1001; END IF").unwrap(),
        "IF x THEN CALL __ferry_signal('45000', CONCAT('bad ', x)); END IF"
    );
    assert!(plpgsql::rewrite_signals("SIGNAL my_condition").is_err());
}

#[test]
fn mysql_8_casts_and_conversions_with_character_sets_read() {
    let c = view("select cast(`Qty` as char charset utf8mb4) AS `A`, convert(`Note` using utf8mb4) AS `b` from `Orders`");
    assert_eq!(sql(&c), "CREATE VIEW \"shop\".\"v\" (\"a\", \"b\") AS SELECT CAST(\"qty\" AS text) AS \"a\", \"note\" AS \"b\" FROM \"shop\".\"orders\"");
    assert_eq!(strip_cast_charsets("cast(a as char(10) character set latin1)"), "cast(a as char(10) )");
    assert_eq!(strip_cast_charsets("select 'charset x'"), "select 'charset x'", "strings untouched");
}

#[test]
fn quotes_inside_strings_survive_the_token_passes() {
    let o = SourceObject {
        kind: ObjectKind::Trigger,
        name: "q".into(),
        table: Some("Orders".into()),
        sql: "CREATE TRIGGER `q` BEFORE INSERT ON `Orders` FOR EACH ROW BEGIN SET NEW.Note = 'it''s'; IF NEW.Qty < 0 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'can''t'; END IF; END".into(),
    };
    let c = convert_objects(&schema(vec![o]), &Names::new()).remove(0);
    assert!(c.refused.is_none(), "{:?}", c.refused);
    assert!(c.statements[0].contains("NEW.\"note\" := 'it''s';") && c.statements[0].contains("MESSAGE = 'can''t'"), "{}", c.statements[0]);
}
