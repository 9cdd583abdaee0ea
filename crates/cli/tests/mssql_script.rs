//! SQL Server's type families through a T-SQL script (`mssql-script:`): each lands in its
//! documented PostgreSQL type with its value, verify proves it from the script's literals, and
//! a literal its column cannot hold stops the table naming table, column and row.

mod common;
use common::*;

const SCRIPT: &str = "SET ANSI_NULLS ON
GO
SET QUOTED_IDENTIFIER ON
GO
CREATE TABLE [dbo].[Family] (
  [Id] INT NOT NULL,
  [Flag] BIT NULL, [Tiny] TINYINT NULL, [Small] SMALLINT NULL, [Big] BIGINT NULL,
  [Amount] NUMERIC(12,3) NULL, [Cash] MONEY NULL, [Ratio] FLOAT NULL,
  [Code] CHAR(3) NULL, [Name] NVARCHAR(40) NULL, [Body] NVARCHAR(MAX) NULL,
  [Raw] VARBINARY(MAX) NULL, [Day] DATE NULL, [At] DATETIME NULL, [Precise] DATETIME2(6) NULL,
  [Zoned] DATETIMEOFFSET(3) NULL, [Clock] TIME(3) NULL, [Guid] UNIQUEIDENTIFIER NULL,
  [Note] NVARCHAR(20) NOT NULL DEFAULT (N'none'),
  CONSTRAINT [PK_Family] PRIMARY KEY CLUSTERED ([Id])
);
GO
CREATE PROCEDURE [dbo].[Noop] AS SELECT 1;
GO
INSERT INTO [dbo].[Family] ([Id], [Flag], [Tiny], [Small], [Big], [Amount], [Cash], [Ratio], [Code], [Name], [Body], [Raw], [Day], [At], [Precise], [Zoned], [Clock], [Guid])
VALUES (1, 1, 255, -32768, 9223372036854775807, 123456789.125, 922337203685477.5807, 1.5, N'abc', N'Zoë ''quoted''', N'long text', 0x00FF10, '2024-02-29', '2009-01-01T10:11:12.123', '2024-01-02 03:04:05.123456', '2020-03-01 01:30:00.250 +02:00', '13:05:09.500', '6F9619FF-8B86-D011-B42D-00C04FC964FF'),
       (2, 0, 0, 0, -1, -0.001, 0, -2.25, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
GO
";

#[test]
fn sql_server_type_families_from_a_script_load_and_verify() {
    let db = unique("mssql_types");
    let file = std::env::temp_dir().join(format!("{db}.sql"));
    std::fs::write(&file, SCRIPT).unwrap();
    let src = format!("mssql-script:{}", file.display());
    let dst = fresh_pg(&db);

    let plan = ferry(&["plan", "--source", &src, "--target", &dst, "--json"]);
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap_or_else(|_| panic!("{}", plan.all()));
    let items = json["assessment"]["items"].as_array().unwrap();
    assert!(items.iter().any(|i| i["object"] == "procedure Noop" && i["severity"] == "action"), "listed, not dropped: {items:#?}");

    migrate_ok(&["--source", &src, "--target", &dst, "--quiet"]);
    let schema = db.clone();
    let types = psql(
        &dst,
        &format!("SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '\"{schema}\".family'::regclass AND attnum > 0"),
    );
    assert_eq!(
        types.trim(),
        "id integer, flag boolean, tiny smallint, small smallint, big bigint, amount numeric(12,3), cash numeric(19,4), ratio double precision, \
         code character(3), name character varying(40), body text, raw bytea, day date, at timestamp(3) without time zone, \
         precise timestamp without time zone, zoned timestamp(3) with time zone, clock time(3) without time zone, guid uuid, note character varying(20)"
    );
    let row = psql(
        &dst,
        &format!(
            "SET timezone = 'UTC'; SELECT flag, tiny, small, big, amount, cash, ratio, code, name, encode(raw, 'hex'), day, at, precise, zoned, clock, guid, note FROM \"{schema}\".family WHERE id = 1"
        ),
    );
    assert_eq!(
        row.trim(),
        "t|255|-32768|9223372036854775807|123456789.125|922337203685477.5807|1.5|abc|Zoë 'quoted'|00ff10|2024-02-29|2009-01-01 10:11:12.123|2024-01-02 03:04:05.123456|2020-02-29 23:30:00.25+00|13:05:09.5|6f9619ff-8b86-d011-b42d-00c04fc964ff|none"
            .replace('|', "\t")
    );
    verify_equal(&["--source", &src, "--target", &dst]);

    // A literal the column cannot hold: an error naming table, column and row, nothing loaded.
    let bad = file.with_extension("bad.sql");
    std::fs::write(&bad, SCRIPT.replace("-32768", "'not a number'")).unwrap();
    let dst2 = fresh_pg(&format!("{db}_bad"));
    let r = ferry(&["migrate", "--source", &format!("mssql-script:{}", bad.display()), "--target", &dst2, "--quiet"]);
    assert_ne!(r.status, 0);
    assert!(r.all().contains("table Family, column Small, row 1 of its INSERT"), "{}", r.all());
}

/// What SSMS "Generate Scripts" (schema and data) writes migrates and verifies as it is.
#[test]
fn an_ssms_generated_script_migrates_and_verifies() {
    let script = "USE [Shop]
GO
/****** Object:  Table [dbo].[Item]    Script Date: 12/4/2026 10:00:00 AM ******/
SET ANSI_NULLS ON
GO
SET QUOTED_IDENTIFIER ON
GO
CREATE TABLE [dbo].[Item](
\t[Id] [int] IDENTITY(1,1) NOT NULL,
\t[Name] [nvarchar](40) NOT NULL,
\t[Price] [numeric](10, 2) NULL,
\t[Added] [datetime] NULL,
 CONSTRAINT [PK_Item] PRIMARY KEY CLUSTERED 
(
\t[Id] ASC
)WITH (PAD_INDEX = OFF, STATISTICS_NORECOMPUTE = OFF, IGNORE_DUP_KEY = OFF, ALLOW_ROW_LOCKS = ON, ALLOW_PAGE_LOCKS = ON) ON [PRIMARY]
) ON [PRIMARY]
GO
CREATE TABLE [dbo].[Tag](
\t[ItemId] [int] NOT NULL,
\t[Tag] [nvarchar](10) NOT NULL
) ON [PRIMARY]
GO
SET IDENTITY_INSERT [dbo].[Item] ON 
GO
INSERT [dbo].[Item] ([Id], [Name], [Price], [Added]) VALUES (1, N'it''s', CAST(0.99 AS Numeric(10, 2)), CAST(N'2009-01-01T00:00:00.000' AS DateTime))
GO
INSERT [dbo].[Item] ([Id], [Name], [Price], [Added]) VALUES (7, N'b', NULL, NULL)
GO
SET IDENTITY_INSERT [dbo].[Item] OFF
GO
INSERT [dbo].[Tag] ([ItemId], [Tag]) VALUES (1, N'x')
GO
ALTER TABLE [dbo].[Tag]  WITH CHECK ADD  CONSTRAINT [FK_Tag_Item] FOREIGN KEY([ItemId])
REFERENCES [dbo].[Item] ([Id])
ON DELETE CASCADE
GO
ALTER TABLE [dbo].[Tag] CHECK CONSTRAINT [FK_Tag_Item]
GO
";
    let db = unique("mssql_ssms");
    let file = std::env::temp_dir().join(format!("{db}.sql"));
    std::fs::write(&file, script).unwrap();
    let src = format!("mssql-script:{}", file.display());
    let dst = fresh_pg(&db);
    let plan = ferry(&["plan", "--source", &src, "--target", &dst, "--json"]);
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap_or_else(|_| panic!("{}", plan.all()));
    let actions: Vec<&serde_json::Value> = json["assessment"]["items"].as_array().unwrap().iter().filter(|i| i["severity"] == "action").collect();
    assert!(actions.is_empty(), "nothing of an SSMS script is left unread: {actions:#?}");
    migrate_ok(&["--source", &src, "--target", &dst, "--quiet"]);
    assert_eq!(psql(&dst, "SELECT name || '|' || price || '|' || added FROM shop.item WHERE id = 1").trim(), "it's|0.99|2009-01-01 00:00:00");
    assert_eq!(psql(&dst, "SELECT confdeltype FROM pg_constraint WHERE conname = 'fk_tag_item'").trim(), "c", "ON DELETE CASCADE kept");
    assert_eq!(
        psql(&dst, "INSERT INTO shop.item (name) VALUES ('next') RETURNING id").lines().next().unwrap().trim(),
        "8",
        "the identity continues past the script's ids"
    );
    psql(&dst, "DELETE FROM shop.item WHERE name = 'next'");
    verify_equal(&["--source", &src, "--target", &dst]);
}
