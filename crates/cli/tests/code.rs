//! MySQL code on the target: routines with cursors, loops, CASE and handlers, a view over a
//! view and a function, a trigger with its own variables — converted, created, and returning on
//! PostgreSQL what they return on MariaDB.

mod common;
use common::*;

const SCHEMA: &str = "
CREATE TABLE item (id INT PRIMARY KEY, qty INT NOT NULL, price DECIMAL(8,2) NOT NULL, active TINYINT(1) NOT NULL DEFAULT 1, note VARCHAR(40));
CREATE TABLE item_log (id INT AUTO_INCREMENT PRIMARY KEY, item_id INT, what VARCHAR(40));
INSERT INTO item VALUES (1, 3, 2.50, 1, 'a'), (2, 0, 10.00, 0, NULL), (3, 7, 1.25, 1, 'c');
DELIMITER //
CREATE FUNCTION stock_class(p_qty INT) RETURNS VARCHAR(10) DETERMINISTIC
BEGIN
  DECLARE v VARCHAR(10);
  CASE
    WHEN p_qty = 0 THEN SET v = 'none';
    WHEN p_qty < 5 THEN SET v = 'low';
    ELSE SET v = 'ok';
  END CASE;
  RETURN v;
END //
CREATE FUNCTION countdown(p_n INT) RETURNS INT DETERMINISTIC
BEGIN
  DECLARE steps INT DEFAULT 0;
  REPEAT
    SET p_n = p_n - 2;
    SET steps = steps + 1;
  UNTIL p_n <= 0 END REPEAT;
  RETURN steps;
END //
CREATE PROCEDURE total_value(OUT p_total DECIMAL(10,2))
BEGIN
  DECLARE done INT DEFAULT 0;
  DECLARE v_qty INT;
  DECLARE v_price DECIMAL(8,2);
  DECLARE c CURSOR FOR SELECT qty, price FROM item WHERE active;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1;
  SET p_total = 0;
  OPEN c;
  read_loop: LOOP
    FETCH c INTO v_qty, v_price;
    IF done THEN
      LEAVE read_loop;
    END IF;
    SET p_total = p_total + v_qty * v_price;
  END LOOP;
  CLOSE c;
END //
CREATE TRIGGER item_bu BEFORE UPDATE ON item FOR EACH ROW
BEGIN
  DECLARE changed INT DEFAULT 0;
  IF NEW.qty <> OLD.qty THEN
    SET changed = 1;
  END IF;
  IF changed = 1 THEN
    INSERT INTO item_log (item_id, what) VALUES (NEW.id, CONCAT('qty ', OLD.qty, ' -> ', NEW.qty));
  END IF;
  IF NEW.qty < 0 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'negative stock';
  END IF;
END //
DELIMITER ;
CREATE VIEW item_class AS SELECT id, stock_class(qty) AS class, IF(active, 'yes', 'no') AS on_sale FROM item;
CREATE VIEW low_items AS SELECT id, class FROM item_class WHERE class = 'low' ORDER BY id;
";

#[test]
fn mysql_routines_with_cursors_loops_and_case_return_what_mariadb_returns() {
    let db = unique("code_routines");
    let src = fresh_mysql(&db);
    mysql(Some(&db), SCHEMA);
    let dst = fresh_pg(&db);
    let cfg = write_config(&db, "[checks]\ncalls = [\"stock_class(0)\", \"stock_class(3)\", \"stock_class(9)\", \"countdown(7)\", \"countdown(1)\"]\n");
    let cfg = cfg.to_str().unwrap();

    let plan = ferry(&["plan", "--source", &src, "--target", &dst, "--config", cfg, "--json"]);
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap_or_else(|_| panic!("{}", plan.all()));
    let code = json["assessment"]["code"].as_array().unwrap();
    for c in code {
        assert_eq!(c["not_converted"], 0, "every object converts: {c}\n{:#}", json["assessment"]["items"]);
    }
    let r = migrate_ok(&["--source", &src, "--target", &dst, "--config", cfg, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(report["objects"]["failed"].as_array().unwrap().is_empty(), "{:#}", report["objects"]);
    assert_eq!(report["objects"]["created"].as_array().unwrap().len(), 6, "{:#}", report["objects"]);

    // The procedure's cursor loop: the same total on both sides.
    let my_total = mysql(Some(&db), "CALL total_value(@t); SELECT @t;");
    let pg_total = psql(&dst, &format!("CALL \"{db}\".total_value(NULL)"));
    assert_eq!(pg_total.trim(), my_total.trim(), "3 × 2.50 + 7 × 1.25");

    // The views (one over the other, calling the function) and the calls, proven.
    let v = ferry(&["verify", "--objects", "--source", &src, "--target", &dst, "--config", cfg, "--json"]);
    let vj: serde_json::Value = serde_json::from_str(&v.stdout).unwrap_or_else(|_| panic!("{}", v.all()));
    let objects = vj["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 2 + 5, "{objects:#?}");
    assert!(objects.iter().all(|o| o["equal"] == true), "{objects:#?}");
    assert_eq!(v.status, 0, "{}", v.all());

    // The trigger: its log row, its SIGNAL.
    psql(&dst, &format!("UPDATE \"{db}\".item SET qty = 4 WHERE id = 1"));
    assert_eq!(psql(&dst, &format!("SELECT what FROM \"{db}\".item_log")).trim(), "qty 3 -> 4");
    let refused = psql_try(&dst, &format!("UPDATE \"{db}\".item SET qty = -1 WHERE id = 1")).unwrap_err();
    assert!(refused.contains("negative stock"), "{refused}");
}
