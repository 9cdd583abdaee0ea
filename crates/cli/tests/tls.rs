//! TLS on every connection (issue 15, item 5): the throwaway servers speak TLS with a
//! certificate for `localhost` signed by a test CA (scripts/servers.sh), so each mode's promise
//! is checked — including a verify-full / VERIFY_IDENTITY failure when the host name (here the
//! address 127.0.0.1) is not the certificate's, and a verify failure against another CA.

mod common;
use common::*;

fn tls_file(name: &str) -> String {
    format!("{}/{name}", env_url("FERRY_TEST_TLS_DIR"))
}

/// `url` with `127.0.0.1` replaced by `localhost` (the certificate's name).
fn by_name(url: &str) -> String {
    url.replacen("127.0.0.1", "localhost", 1)
}

fn with_query(url: &str, q: &str) -> String {
    format!("{url}{}{q}", if url.contains('?') { "&" } else { "?" })
}

#[test]
fn postgresql_sslmodes_encrypt_and_verify_as_libpq_does() {
    let db = unique("tls_pg");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b');");
    let dst = fresh_pg(&db);
    let ca = tls_file("ca.pem");
    // verify-full by the certificate's name, with a client certificate: loads and verifies.
    let full =
        with_query(&by_name(&dst), &format!("sslmode=verify-full&sslrootcert={ca}&sslcert={}&sslkey={}", tls_file("client.pem"), tls_file("client.key")));
    migrate_ok(&["--source", &src, "--target", &full, "--schema", "s", "--quiet"]);
    verify_equal(&["--source", &src, "--target", &full, "--schema", "s"]);
    // require: the handshake must happen (tokio-postgres refuses a server without TLS).
    let require = with_query(&dst, "sslmode=require");
    let r = ferry(&["verify", "--source", &src, "--target", &require, "--schema", "s"]);
    assert_eq!(r.status, 0, "require encrypts without checking the certificate:\n{}", r.all());
    // verify-full by address: the certificate is for localhost only.
    let wrong_host = with_query(&dst, &format!("sslmode=verify-full&sslrootcert={ca}"));
    let r = ferry(&["verify", "--source", &src, "--target", &wrong_host, "--schema", "s"]);
    assert_ne!(r.status, 0, "{}", r.all());
    assert!(r.all().to_lowercase().contains("certificate") && r.all().contains("127.0.0.1"), "{}", r.all());
    // verify-ca by address: the chain is checked, the name is not.
    let ca_only = with_query(&dst, &format!("sslmode=verify-ca&sslrootcert={ca}"));
    let r = ferry(&["verify", "--source", &src, "--target", &ca_only, "--schema", "s"]);
    assert_eq!(r.status, 0, "{}", r.all());
    // Another CA: refused.
    let other = with_query(&by_name(&dst), &format!("sslmode=verify-ca&sslrootcert={}", tls_file("other-ca.pem")));
    let r = ferry(&["verify", "--source", &src, "--target", &other, "--schema", "s"]);
    assert_ne!(r.status, 0, "{}", r.all());
    assert!(r.all().to_lowercase().contains("certificate"), "{}", r.all());
    // Without sslrootcert, verify modes say what is missing.
    let r = ferry(&["verify", "--source", &src, "--target", &with_query(&dst, "sslmode=verify-full"), "--schema", "s"]);
    assert!(r.all().contains("sslrootcert"), "{}", r.all());
}

#[test]
fn postgresql_source_and_its_replication_connection_use_tls() {
    let db = unique("tls_pgsrc");
    let src_db = format!("{db}_src");
    let src = fresh_pg(&src_db);
    psql(&src, "CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, v text); INSERT INTO app.t VALUES (1, 'a');");
    let source = format!("{}/{src_db}?schema=app&sslmode=verify-full&sslrootcert={}", by_name(&pg_base()), tls_file("ca.pem"));
    let dst = fresh_pg(&db);
    let r = ferry(&["sync", "--source", &source, "--target", &dst, "--schema", "app", "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    psql(&src, "INSERT INTO app.t VALUES (2, 'b')");
    let r = ferry(&["sync", "--source", &source, "--target", &dst, "--schema", "app", "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, "SELECT count(*) FROM app.t").trim(), "2", "streamed over the TLS replication connection");
    // The same source by address under verify-full: refused, on the first connection.
    let wrong = source.replacen("localhost", "127.0.0.1", 1);
    let r = ferry(&["plan", "--source", &wrong]);
    assert_ne!(r.status, 0, "{}", r.all());
    assert!(r.all().contains("PostgreSQL source"), "{}", r.all());
}

#[test]
fn mysql_ssl_modes_encrypt_and_verify_as_the_mysql_client_does() {
    let db = unique("tls_my");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a');");
    let dst = fresh_pg(&db);
    let ca = tls_file("ca.pem");
    let identity = with_query(&by_name(&src), &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"));
    migrate_ok(&["--source", &identity, "--target", &dst, "--schema", "s", "--quiet"]);
    let r = ferry(&["sync", "--source", &identity, "--target", &dst, "--schema", "s2", "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "the binlog stream runs over TLS too:\n{}", r.all());
    let r = ferry(&["plan", "--source", &with_query(&src, "ssl-mode=REQUIRED")]);
    assert_eq!(r.status, 0, "{}", r.all());
    let r = ferry(&["plan", "--source", &with_query(&src, &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"))]);
    assert_ne!(r.status, 0, "127.0.0.1 is not the certificate's name:\n{}", r.all());
    let r = ferry(&["plan", "--source", &with_query(&src, &format!("ssl-mode=VERIFY_CA&ssl-ca={ca}"))]);
    assert_eq!(r.status, 0, "VERIFY_CA checks the chain only:\n{}", r.all());
    let r = ferry(&["plan", "--source", &with_query(&by_name(&src), &format!("ssl-mode=VERIFY_CA&ssl-ca={}", tls_file("other-ca.pem")))]);
    assert_ne!(r.status, 0, "{}", r.all());
    let r = ferry(&["plan", "--source", &with_query(&src, "ssl-mode=VERIFY_CA")]);
    assert!(r.all().contains("ssl-ca"), "{}", r.all());
}
