//! MySQL stored functions and procedures as PL/pgSQL ([`routine`]).
//!
//! sqlparser reads neither a MySQL routine's header (parameters, RETURNS, characteristics) nor
//! the DECLAREs of its body, so both are taken apart here on sqlparser's tokens; the body's
//! statements are then parsed by sqlparser (as the body of a compound statement) and rendered
//! like a trigger's ([`super::plpgsql`]). What is kept and why:
//! - Parameters keep their names and modes (IN/OUT/INOUT); types map as the columns' do.
//! - `DECLARE v type [DEFAULT e]` → the PL/pgSQL DECLARE section; cursors likewise.
//! - `DECLARE {EXIT|CONTINUE} HANDLER FOR NOT FOUND s` → after every `SELECT … INTO` and `FETCH`,
//!   `IF NOT FOUND THEN s [; RETURN] END IF` — the one handler PL/pgSQL's FOUND can stand for;
//!   any other handler or condition refuses the routine by name.
//! - A local variable wins over a column of the same name, as in MySQL
//!   (`#variable_conflict use_variable`).
//! - `LEAVE` of the routine's own label → `RETURN`.
//! - A statement returning rows to the client (a bare SELECT in a procedure) has no PL/pgSQL
//!   equivalent: the routine is refused naming it.

use super::render::{q, Refused, Renderer, R};
use super::{block, is_word};
use ferry_model::TargetNames;
use sqlparser::ast::{DataType, ExactNumberInfo, Statement};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

fn refused<T>(what: impl Into<String>) -> R<T> {
    Err(Refused(what.into()))
}

/// A token's text, as written.
fn text(tokens: &[Token]) -> String {
    tokens.iter().map(super::token_sql).collect::<String>().trim().to_string()
}

fn word_value(t: &Token) -> Option<&str> {
    match t {
        Token::Word(w) => Some(&w.value),
        _ => None,
    }
}

/// Splits `tokens` at top-level commas.
fn split_commas(tokens: &[Token]) -> Vec<&[Token]> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => {
                out.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if tokens[start..].iter().any(|t| !matches!(t, Token::Whitespace(_))) {
        out.push(&tokens[start..]);
    }
    out
}

/// A MySQL declared type (parameter, RETURNS, DECLARE) as PostgreSQL's.
pub fn declared_type(t: &str) -> R<String> {
    // CHARSET / COLLATE clauses after a string type say nothing PostgreSQL keeps.
    let upper = t.to_ascii_uppercase();
    let cut = ["CHARSET", "CHARACTER SET", "COLLATE"].iter().filter_map(|k| upper.find(k)).min().unwrap_or(t.len());
    let t = t[..cut].trim();
    let ty = Parser::new(&MySqlDialect {}).try_with_sql(t).and_then(|mut p| p.parse_data_type()).map_err(|_| Refused(format!("the type {t}")))?;
    let exact = |i: &ExactNumberInfo| match i {
        ExactNumberInfo::None => "numeric".to_string(),
        ExactNumberInfo::Precision(p) => format!("numeric({p},0)"),
        ExactNumberInfo::PrecisionAndScale(p, s) => format!("numeric({p},{s})"),
    };
    Ok(match &ty {
        DataType::Bool | DataType::Boolean | DataType::TinyInt(Some(1)) => "boolean".into(),
        DataType::TinyInt(_) | DataType::TinyIntUnsigned(_) | DataType::SmallInt(_) => "smallint".into(),
        DataType::SmallIntUnsigned(_) | DataType::MediumInt(_) | DataType::MediumIntUnsigned(_) | DataType::Int(_) | DataType::Integer(_) => "integer".into(),
        DataType::IntUnsigned(_) | DataType::IntegerUnsigned(_) | DataType::BigInt(_) => "bigint".into(),
        DataType::BigIntUnsigned(_) => "numeric(20,0)".into(),
        DataType::Decimal(i) | DataType::Numeric(i) | DataType::Dec(i) | DataType::DecimalUnsigned(i) | DataType::DecUnsigned(i) => exact(i),
        DataType::Float(_) | DataType::FloatUnsigned(_) | DataType::Real => "real".into(),
        DataType::Double(_) | DataType::DoubleUnsigned(_) | DataType::DoublePrecision | DataType::DoublePrecisionUnsigned => "double precision".into(),
        DataType::Char(Some(l)) | DataType::Character(Some(l)) | DataType::Varchar(Some(l)) => format!("varchar({l})"),
        DataType::Char(None) | DataType::Character(None) => "varchar(1)".into(),
        DataType::Text | DataType::TinyText | DataType::MediumText | DataType::LongText | DataType::Enum(..) | DataType::Set(_) => "text".into(),
        DataType::Date => "date".into(),
        DataType::Datetime(p) => format!("timestamp({})", p.unwrap_or(0).min(6)),
        DataType::Timestamp(p, _) => format!("timestamptz({})", p.unwrap_or(0).min(6)),
        DataType::Time(p, _) => format!("time({})", p.unwrap_or(0).min(6)),
        DataType::Binary(_) | DataType::Varbinary(_) | DataType::Blob(_) | DataType::TinyBlob | DataType::MediumBlob | DataType::LongBlob => "bytea".into(),
        DataType::JSON => "jsonb".into(),
        DataType::Custom(n, _) if n.to_string().eq_ignore_ascii_case("year") => "smallint".into(),
        other => return refused(format!("the type {other}")),
    })
}

/// A routine's header, taken apart.
struct Header {
    function: bool,
    name: String,
    params: Vec<(String, String, String)>,
    returns: Option<String>,
    label: Option<String>,
    body: Vec<Token>,
}

const CHARACTERISTICS: [&str; 9] = ["LANGUAGE", "DETERMINISTIC", "NOT", "CONTAINS", "NO", "READS", "MODIFIES", "SQL", "COMMENT"];

fn header(sql: &str) -> R<Header> {
    let tokens = Tokenizer::new(&MySqlDialect {}, sql).tokenize().map_err(|e| Refused(format!("the SQL could not be read: {e}")))?;
    let solid: Vec<usize> = (0..tokens.len()).filter(|&i| !matches!(tokens[i], Token::Whitespace(_))).collect();
    let at = |k: usize| solid.get(k).map(|&i| &tokens[i]);
    let kind = (0..solid.len())
        .find(|&k| at(k).is_some_and(|t| is_word(t, "FUNCTION") || is_word(t, "PROCEDURE")))
        .ok_or_else(|| Refused("a routine header the converter cannot read".into()))?;
    let function = at(kind).is_some_and(|t| is_word(t, "FUNCTION"));
    let mut k = kind + 1;
    let mut name = word_value(at(k).unwrap_or(&Token::EOF)).unwrap_or_default().to_string();
    while at(k + 1) == Some(&Token::Period) {
        k += 2;
        name = word_value(at(k).unwrap_or(&Token::EOF)).unwrap_or_default().to_string();
    }
    k += 1;
    if at(k) != Some(&Token::LParen) {
        return refused("a routine header the converter cannot read");
    }
    let open = solid[k];
    let mut depth = 0;
    let mut close = open;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    close = i;
                    break;
                }
            }
            _ => {}
        }
    }
    let mut params = Vec::new();
    for p in split_commas(&tokens[open + 1..close]) {
        let words: Vec<&Token> = p.iter().filter(|t| !matches!(t, Token::Whitespace(_))).collect();
        let (mode, rest) = match words.first() {
            Some(t) if is_word(t, "IN") || is_word(t, "OUT") || is_word(t, "INOUT") => (word_value(t).unwrap_or_default().to_ascii_uppercase(), &words[1..]),
            _ => ("IN".to_string(), &words[..]),
        };
        let Some(pname) = rest.first().and_then(|t| word_value(t)) else { return refused("a parameter the converter cannot read") };
        let ty = rest[1..].iter().map(|t| super::token_sql(t)).collect::<Vec<_>>().join(" ");
        params.push((mode, pname.to_string(), declared_type(&ty)?));
    }
    let mut i = close + 1;
    let skip_ws = |mut i: usize| {
        while i < tokens.len() && matches!(tokens[i], Token::Whitespace(_)) {
            i += 1;
        }
        i
    };
    let mut returns = None;
    i = skip_ws(i);
    if function {
        if !tokens.get(i).is_some_and(|t| is_word(t, "RETURNS")) {
            return refused("a function without RETURNS");
        }
        let start = i + 1;
        let mut end = start;
        while end < tokens.len() {
            let t = &tokens[end];
            if CHARACTERISTICS.iter().any(|c| is_word(t, c)) || is_word(t, "BEGIN") || is_word(t, "RETURN") || is_body_label(&tokens, end) {
                break;
            }
            end += 1;
        }
        returns = Some(declared_type(&text(&tokens[start..end]))?);
        i = end;
    }
    // Characteristics.
    loop {
        i = skip_ws(i);
        let Some(t) = tokens.get(i) else { break };
        if is_word(t, "COMMENT") {
            i = skip_ws(i + 1) + 1;
        } else if CHARACTERISTICS.iter().any(|c| is_word(t, c))
            || is_word(t, "DATA")
            || is_word(t, "SECURITY")
            || is_word(t, "DEFINER")
            || is_word(t, "INVOKER")
        {
            i += 1;
        } else {
            break;
        }
    }
    let mut label = None;
    if is_body_label(&tokens, i) {
        label = word_value(&tokens[i]).map(str::to_string);
        i = skip_ws(i + 1) + 1;
    }
    Ok(Header { function, name, params, returns, label, body: tokens[i..].to_vec() })
}

/// `label:` followed by BEGIN or a loop.
fn is_body_label(tokens: &[Token], i: usize) -> bool {
    matches!(tokens.get(i), Some(Token::Word(_))) && tokens.get(i + 1) == Some(&Token::Colon)
}

/// One DECLARE of the body, read.
enum Declare {
    Vars { names: Vec<String>, ty: String, default: Option<String> },
    Cursor { name: String, query: String },
    NotFound { exit: bool, statement: String },
}

/// Takes the leading DECLAREs out of the body's outer BEGIN block.
fn declarations(body: &[Token]) -> R<(Vec<Declare>, Vec<Token>)> {
    let solid = |from: usize| (from..body.len()).find(|&j| !matches!(body[j], Token::Whitespace(_)));
    let Some(b) = solid(0).filter(|&j| is_word(&body[j], "BEGIN")) else {
        // A one-statement body.
        let mut wrapped = Tokenizer::new(&MySqlDialect {}, "BEGIN ").tokenize().unwrap_or_default();
        wrapped.extend_from_slice(body);
        wrapped.extend(Tokenizer::new(&MySqlDialect {}, "; END").tokenize().unwrap_or_default());
        return Ok((vec![], wrapped));
    };
    let mut out = Vec::new();
    let mut i = b + 1;
    let mut kept: Vec<Token> = body[..=b].to_vec();
    while let Some(d) = solid(i).filter(|&j| is_word(&body[j], "DECLARE")) {
        let end = (d..body.len()).find(|&j| body[j] == Token::SemiColon).ok_or_else(|| Refused("a DECLARE without its `;`".into()))?;
        let words: Vec<&Token> = body[d + 1..end].iter().filter(|t| !matches!(t, Token::Whitespace(_))).collect();
        let w = |k: usize, s: &str| words.get(k).is_some_and(|t| is_word(t, s));
        if (w(0, "EXIT") || w(0, "CONTINUE")) && w(1, "HANDLER") && w(2, "FOR") && w(3, "NOT") && w(4, "FOUND") {
            // The handler's statement: the tokens after FOUND.
            let found = (d..end).find(|&j| is_word(&body[j], "FOUND")).unwrap_or(end);
            let statement = text(&body[found + 1..end]);
            if statement.to_ascii_uppercase().starts_with("BEGIN") {
                return refused("a NOT FOUND handler with a BEGIN … END body");
            }
            out.push(Declare::NotFound { exit: w(0, "EXIT"), statement });
        } else if w(1, "HANDLER") {
            return refused(format!("the handler `DECLARE {}`", text(&body[d + 1..end])));
        } else if w(1, "CONDITION") {
            return refused("DECLARE … CONDITION");
        } else if w(1, "CURSOR") && w(2, "FOR") {
            let f = (d..end).find(|&j| is_word(&body[j], "FOR")).unwrap_or(end);
            out.push(Declare::Cursor { name: word_value(words[0]).unwrap_or_default().to_string(), query: text(&body[f + 1..end]) });
        } else {
            let default_at = (d..end).find(|&j| is_word(&body[j], "DEFAULT"));
            let decl_end = default_at.unwrap_or(end);
            let parts = split_commas(&body[d + 1..decl_end]);
            let mut names: Vec<String> = Vec::new();
            let mut ty = String::new();
            for (n, p) in parts.iter().enumerate() {
                let ws: Vec<&Token> = p.iter().filter(|t| !matches!(t, Token::Whitespace(_))).collect();
                let Some(name) = ws.first().and_then(|t| word_value(t)) else { return refused("a DECLARE the converter cannot read") };
                names.push(name.to_string());
                if n == parts.len() - 1 {
                    ty = ws[1..].iter().map(|t| super::token_sql(t)).collect::<Vec<_>>().join(" ");
                }
            }
            out.push(Declare::Vars { names, ty, default: default_at.map(|j| text(&body[j + 1..end])) });
        }
        i = end + 1;
    }
    kept.extend_from_slice(&body[i..]);
    Ok((out, kept))
}

/// Parses an expression of the body (a DEFAULT, a handler's statement).
fn parse_expr(sql: &str) -> R<sqlparser::ast::Expr> {
    Parser::new(&MySqlDialect {}).try_with_sql(sql).and_then(|mut p| p.parse_expr()).map_err(|e| Refused(format!("`{sql}` ({e})")))
}

/// Converts one routine; `Ok` holds its `CREATE` statement.
pub fn routine(names: &dyn TargetNames, sql: &str, r: &mut Renderer) -> R<String> {
    let h = header(sql)?;
    r.vars = h.params.iter().map(|(_, n, _)| n.to_ascii_lowercase()).collect();
    let (declare, code) = body(r, &h.body, h.label.as_deref(), if h.function { "RETURN NULL" } else { "RETURN" })?;
    let params: Vec<String> = h
        .params
        .iter()
        .map(|(mode, n, ty)| if h.function { format!("{} {ty}", n.to_ascii_lowercase()) } else { format!("{mode} {} {ty}", n.to_ascii_lowercase()) })
        .collect();
    let name = format!("{}.{}", q(names.schema()), q(&names.ident(&h.name)));
    let head = match &h.returns {
        Some(ret) => format!("CREATE OR REPLACE FUNCTION {name}({}) RETURNS {ret}", params.join(", ")),
        None => format!("CREATE OR REPLACE PROCEDURE {name}({})", params.join(", ")),
    };
    Ok(format!("{head} LANGUAGE plpgsql AS $ferry$\n#variable_conflict use_variable\n{declare}BEGIN\n{code}END\n$ferry$"))
}

/// A routine's or trigger's body (its tokens from `BEGIN`, or one statement) as PL/pgSQL: the
/// DECLARE section (empty, or `DECLARE` and its lines) and the statements. `exit` ends the
/// routine from an EXIT handler; `label` is the body's own label.
pub fn body(r: &mut Renderer, tokens: &[Token], label: Option<&str>, exit: &str) -> R<(String, String)> {
    let (decls, rest) = declarations(tokens)?;
    let mut declare = String::new();
    for d in &decls {
        match d {
            Declare::Vars { names: vs, ty, default } => {
                let pg = declared_type(ty)?;
                r.vars.extend(vs.iter().map(|v| v.to_ascii_lowercase()));
                let init = match default {
                    Some(e) => format!(" := {}", r.expr(&parse_expr(e)?)?),
                    None => String::new(),
                };
                for v in vs {
                    declare.push_str(&format!("  {} {pg}{init};\n", v.to_ascii_lowercase()));
                }
            }
            Declare::Cursor { name, query } => {
                let parsed = Parser::parse_sql(&MySqlDialect {}, query).map_err(|e| Refused(format!("the cursor query ({e})")))?;
                let Some(Statement::Query(qq)) = parsed.first() else { return refused("a cursor over something other than a SELECT") };
                declare.push_str(&format!("  {} CURSOR FOR {};\n", name.to_ascii_lowercase(), r.query(qq)?));
            }
            Declare::NotFound { exit: is_exit, statement } => {
                let stmts = block::parse_block(statement)?;
                let mut text = block::render(r, &stmts, 4, label)?;
                if *is_exit && !text.trim_start().starts_with("RETURN") {
                    text.push_str(&format!("    {exit};\n"));
                }
                r.not_found = Some(text);
            }
        }
    }
    let stmts = block::parse_block(&text(&rest))?;
    let code = block::render(r, &stmts, 2, label)?;
    let declare = if declare.is_empty() { String::new() } else { format!("DECLARE\n{declare}") };
    Ok((declare, code))
}
