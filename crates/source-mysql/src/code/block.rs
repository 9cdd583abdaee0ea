//! MySQL's compound statements read from sqlparser's tokens ([`parse_block`]): sqlparser reads
//! single statements and expressions but not MySQL's `LOOP`, `REPEAT`, labels, cursors or
//! `CASE` statements, so the control flow is taken apart here and every plain statement and
//! condition is handed to sqlparser ([`render`] renders the tree as PL/pgSQL).
//!
//! Only keywords at the start of a statement are control flow; a `CASE` or `IF(…)` inside a
//! statement stays part of that statement's text, and a condition runs to its `THEN`/`DO`/
//! `END REPEAT` with `CASE … END` expressions inside it counted, so neither is cut short.

use super::plpgsql;
use super::render::{Refused, Renderer, R};
use sqlparser::ast::Statement;
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

/// One statement of a body.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// A plain statement (`SET`, `INSERT`, `SELECT … INTO`, `RETURN`…), as text.
    Sql(String),
    If {
        arms: Vec<(String, Vec<Stmt>)>,
        otherwise: Option<Vec<Stmt>>,
    },
    Case {
        operand: Option<String>,
        arms: Vec<(String, Vec<Stmt>)>,
        otherwise: Option<Vec<Stmt>>,
    },
    While {
        label: Option<String>,
        condition: String,
        body: Vec<Stmt>,
    },
    Loop {
        label: Option<String>,
        body: Vec<Stmt>,
    },
    Repeat {
        label: Option<String>,
        body: Vec<Stmt>,
        until: String,
    },
    Block {
        label: Option<String>,
        body: Vec<Stmt>,
    },
    Leave(String),
    Iterate(String),
    Open(String),
    Close(String),
    Fetch {
        cursor: String,
        into: Vec<String>,
    },
}

struct Reader {
    /// Tokens without white space, each with its text.
    tokens: Vec<(Token, String)>,
    at: usize,
}

fn refused<T>(what: impl Into<String>) -> R<T> {
    Err(Refused(what.into()))
}

impl Reader {
    fn new(sql: &str) -> R<Self> {
        let tokens = Tokenizer::new(&MySqlDialect {}, sql).tokenize().map_err(|e| Refused(format!("the SQL could not be read: {e}")))?;
        // Comments are white space to the tokenizer; `#` comments are MySQL's too.
        let tokens = tokens.into_iter().filter(|t| !matches!(t, Token::Whitespace(_))).map(|t| (t.clone(), super::token_sql(&t))).collect();
        Ok(Reader { tokens, at: 0 })
    }

    fn peek_word(&self, k: usize) -> Option<String> {
        match self.tokens.get(self.at + k) {
            Some((Token::Word(w), _)) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        }
    }

    fn is(&self, k: usize, w: &str) -> bool {
        self.peek_word(k).as_deref() == Some(w)
    }

    fn expect(&mut self, w: &str) -> R<()> {
        if self.is(0, w) {
            self.at += 1;
            Ok(())
        } else {
            refused(format!("`{w}` expected at `{}`", self.context()))
        }
    }

    fn context(&self) -> String {
        self.tokens[self.at.min(self.tokens.len())..].iter().take(6).map(|(_, s)| s.as_str()).collect::<Vec<_>>().join(" ")
    }

    fn semicolon(&mut self) {
        if matches!(self.tokens.get(self.at), Some((Token::SemiColon, _))) {
            self.at += 1;
        }
    }

    fn name(&mut self) -> R<String> {
        match self.tokens.get(self.at) {
            Some((Token::Word(w), _)) => {
                self.at += 1;
                Ok(w.value.clone())
            }
            _ => refused(format!("a name expected at `{}`", self.context())),
        }
    }

    /// Text up to (not including) the first of `stops` at depth 0 outside CASE … END.
    fn until(&mut self, stops: &[&str]) -> R<String> {
        let (mut depth, mut cases, start) = (0i32, 0i32, self.at);
        while self.at < self.tokens.len() {
            match &self.tokens[self.at].0 {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                Token::SemiColon if depth == 0 && cases == 0 => break,
                Token::Word(w) if w.quote_style.is_none() && depth == 0 => {
                    let u = w.value.to_ascii_uppercase();
                    if u == "CASE" {
                        cases += 1;
                    } else if u == "END" && cases > 0 {
                        cases -= 1;
                    } else if cases == 0 && stops.contains(&u.as_str()) {
                        break;
                    }
                }
                _ => {}
            }
            self.at += 1;
        }
        Ok(self.tokens[start..self.at].iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>().join(" "))
    }

    /// Statements until one of the closing words (not consumed).
    fn statements(&mut self, closing: &[&str]) -> R<Vec<Stmt>> {
        let mut out = Vec::new();
        loop {
            if self.at >= self.tokens.len() {
                return refused("a body that ends before its END");
            }
            if closing.iter().any(|c| self.is(0, c)) {
                return Ok(out);
            }
            out.push(self.statement()?);
        }
    }

    fn end(&mut self, what: &str, label: &Option<String>) -> R<()> {
        self.expect("END")?;
        if !what.is_empty() {
            self.expect(what)?;
        }
        if label.as_ref().is_some_and(|l| self.peek_word(0).is_some_and(|w| w.eq_ignore_ascii_case(l))) {
            self.at += 1;
        }
        self.semicolon();
        Ok(())
    }

    fn statement(&mut self) -> R<Stmt> {
        let label = if matches!(self.tokens.get(self.at + 1), Some((Token::Colon, _))) && self.peek_word(0).is_some() {
            let l = self.name()?;
            self.at += 1;
            Some(l)
        } else {
            None
        };
        let Some(first) = self.peek_word(0) else {
            let text = self.until(&[])?;
            self.semicolon();
            return Ok(Stmt::Sql(text));
        };
        let s = match first.as_str() {
            "BEGIN" => {
                self.at += 1;
                if self.is(0, "DECLARE") {
                    return refused("DECLARE in a nested BEGIN … END block");
                }
                let body = self.statements(&["END"])?;
                self.end("", &label)?;
                Stmt::Block { label, body }
            }
            "IF" => {
                self.at += 1;
                let mut arms = Vec::new();
                let mut otherwise = None;
                let cond = self.until(&["THEN"])?;
                self.expect("THEN")?;
                arms.push((cond, self.statements(&["ELSEIF", "ELSE", "END"])?));
                loop {
                    if self.is(0, "ELSEIF") {
                        self.at += 1;
                        let cond = self.until(&["THEN"])?;
                        self.expect("THEN")?;
                        arms.push((cond, self.statements(&["ELSEIF", "ELSE", "END"])?));
                    } else if self.is(0, "ELSE") {
                        self.at += 1;
                        otherwise = Some(self.statements(&["END"])?);
                    } else {
                        break;
                    }
                }
                self.end("IF", &None)?;
                Stmt::If { arms, otherwise }
            }
            "CASE" => {
                self.at += 1;
                let operand = if self.is(0, "WHEN") { None } else { Some(self.until(&["WHEN"])?) };
                let mut arms = Vec::new();
                let mut otherwise = None;
                while self.is(0, "WHEN") {
                    self.at += 1;
                    let cond = self.until(&["THEN"])?;
                    self.expect("THEN")?;
                    arms.push((cond, self.statements(&["WHEN", "ELSE", "END"])?));
                }
                if self.is(0, "ELSE") {
                    self.at += 1;
                    otherwise = Some(self.statements(&["END"])?);
                }
                self.end("CASE", &None)?;
                Stmt::Case { operand, arms, otherwise }
            }
            "WHILE" => {
                self.at += 1;
                let condition = self.until(&["DO"])?;
                self.expect("DO")?;
                let body = self.statements(&["END"])?;
                self.end("WHILE", &label)?;
                Stmt::While { label, condition, body }
            }
            "LOOP" => {
                self.at += 1;
                let body = self.statements(&["END"])?;
                self.end("LOOP", &label)?;
                Stmt::Loop { label, body }
            }
            "REPEAT" => {
                self.at += 1;
                let body = self.statements(&["UNTIL"])?;
                self.expect("UNTIL")?;
                let until = self.until(&["END"])?;
                self.end("REPEAT", &label)?;
                Stmt::Repeat { label, body, until }
            }
            // One keyword and one name: `LEAVE l`, `ITERATE l`, `OPEN c`, `CLOSE c`.
            "LEAVE" | "ITERATE" | "OPEN" | "CLOSE" => {
                self.at += 1;
                let n = self.name()?;
                self.semicolon();
                match first.as_str() {
                    "LEAVE" => Stmt::Leave(n),
                    "ITERATE" => Stmt::Iterate(n),
                    "OPEN" => Stmt::Open(n),
                    _ => Stmt::Close(n),
                }
            }
            "FETCH" => {
                self.at += 1;
                if self.is(0, "NEXT") {
                    self.at += 1;
                }
                if self.is(0, "FROM") {
                    self.at += 1;
                }
                let cursor = self.name()?;
                self.expect("INTO")?;
                let mut into = vec![self.name()?];
                while matches!(self.tokens.get(self.at), Some((Token::Comma, _))) {
                    self.at += 1;
                    into.push(self.name()?);
                }
                self.semicolon();
                Stmt::Fetch { cursor, into }
            }
            "DECLARE" => return refused("DECLARE after the first statement of the body"),
            _ if label.is_some() => return refused(format!("a label on `{first}`")),
            _ => {
                let text = self.until(&[])?;
                self.semicolon();
                Stmt::Sql(text)
            }
        };
        Ok(s)
    }
}

/// Reads `BEGIN … END` (or one statement) into statements.
pub fn parse_block(sql: &str) -> R<Vec<Stmt>> {
    let mut r = Reader::new(sql)?;
    let stmts = if r.is(0, "BEGIN") {
        r.at += 1;
        let body = r.statements(&["END"])?;
        r.end("", &None)?;
        body
    } else {
        vec![r.statement()?]
    };
    if r.at < r.tokens.len() {
        return refused(format!("text after the body's END: `{}`", r.context()));
    }
    Ok(stmts)
}

/// The PL/pgSQL of `stmts` at `indent`; `body_label` is the routine's own label (LEAVE of it
/// ends the routine).
pub fn render(r: &mut Renderer, stmts: &[Stmt], indent: usize, body_label: Option<&str>) -> R<String> {
    let p = " ".repeat(indent);
    let mut out = String::new();
    let label_of = |l: &Option<String>| l.as_ref().map(|l| format!("{p}<<{}>>\n", l.to_ascii_lowercase())).unwrap_or_default();
    for s in stmts {
        match s {
            Stmt::Sql(text) => {
                let sql = plpgsql::rewrite_signals(&super::strip_cast_charsets(text))?;
                let mut parsed = Parser::parse_sql(&MySqlDialect {}, &sql).map_err(|e| Refused(format!("`{text}` ({e})")))?;
                let [stmt]: [Statement; 1] = std::mem::take(&mut parsed).try_into().map_err(|_| Refused(format!("`{text}`")))?;
                out.push_str(&plpgsql::statement(r, &stmt, indent)?);
            }
            Stmt::If { arms, otherwise } => {
                for (i, (cond, body)) in arms.iter().enumerate() {
                    let c = condition(r, cond)?;
                    out.push_str(&format!("{p}{} {c} THEN\n", if i == 0 { "IF" } else { "ELSIF" }));
                    out.push_str(&render(r, body, indent + 2, body_label)?);
                }
                if let Some(body) = otherwise {
                    out.push_str(&format!("{p}ELSE\n{}", render(r, body, indent + 2, body_label)?));
                }
                out.push_str(&format!("{p}END IF;\n"));
            }
            Stmt::Case { operand, arms, otherwise } => {
                let head = match operand {
                    Some(o) => format!("CASE {}", r.expr(&expr(o)?)?),
                    None => "CASE".to_string(),
                };
                out.push_str(&format!("{p}{head}\n"));
                for (when, body) in arms {
                    let w = if operand.is_some() { r.expr(&expr(when)?)? } else { condition(r, when)? };
                    out.push_str(&format!("{p}  WHEN {w} THEN\n{}", render(r, body, indent + 4, body_label)?));
                }
                if let Some(body) = otherwise {
                    out.push_str(&format!("{p}  ELSE\n{}", render(r, body, indent + 4, body_label)?));
                }
                out.push_str(&format!("{p}END CASE;\n"));
            }
            Stmt::While { label, condition: c, body } => {
                let c = condition(r, c)?;
                out.push_str(&format!("{}{p}WHILE {c} LOOP\n{}{p}END LOOP;\n", label_of(label), render(r, body, indent + 2, body_label)?));
            }
            Stmt::Loop { label, body } => {
                out.push_str(&format!("{}{p}LOOP\n{}{p}END LOOP;\n", label_of(label), render(r, body, indent + 2, body_label)?));
            }
            Stmt::Repeat { label, body, until } => {
                let c = condition(r, until)?;
                out.push_str(&format!("{}{p}LOOP\n{}{p}  EXIT WHEN {c};\n{p}END LOOP;\n", label_of(label), render(r, body, indent + 2, body_label)?));
            }
            Stmt::Block { label, body } => {
                out.push_str(&format!("{}{p}BEGIN\n{}{p}END;\n", label_of(label), render(r, body, indent + 2, body_label)?));
            }
            Stmt::Leave(l) if body_label.is_some_and(|b| b.eq_ignore_ascii_case(l)) => out.push_str(&format!("{p}RETURN;\n")),
            Stmt::Leave(l) => out.push_str(&format!("{p}EXIT {};\n", l.to_ascii_lowercase())),
            Stmt::Iterate(l) => out.push_str(&format!("{p}CONTINUE {};\n", l.to_ascii_lowercase())),
            Stmt::Open(c) => out.push_str(&format!("{p}OPEN {};\n", c.to_ascii_lowercase())),
            Stmt::Close(c) => out.push_str(&format!("{p}CLOSE {};\n", c.to_ascii_lowercase())),
            Stmt::Fetch { cursor, into } => {
                for v in into {
                    if !r.vars.iter().any(|x| x.eq_ignore_ascii_case(v)) {
                        return refused(format!("FETCH INTO {v}, which is not a variable"));
                    }
                }
                let vars: Vec<String> = into.iter().map(|v| v.to_ascii_lowercase()).collect();
                out.push_str(&format!("{p}FETCH {} INTO {};\n", cursor.to_ascii_lowercase(), vars.join(", ")));
                if let Some(h) = &r.not_found {
                    out.push_str(&format!("{p}IF NOT FOUND THEN\n{h}{p}END IF;\n"));
                }
            }
        }
    }
    Ok(out)
}

fn expr(text: &str) -> R<sqlparser::ast::Expr> {
    let stripped = super::strip_cast_charsets(text);
    Parser::new(&MySqlDialect {}).try_with_sql(&stripped).and_then(|mut p| p.parse_expr()).map_err(|e| Refused(format!("`{text}` ({e})")))
}

fn condition(r: &mut Renderer, text: &str) -> R<String> {
    let e = expr(text)?;
    r.condition(&e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_flow_is_read_around_plain_statements() {
        let body = "BEGIN
          read_loop: LOOP
            FETCH NEXT FROM c INTO v;
            IF done THEN LEAVE read_loop; END IF;
            CASE WHEN v > 1 THEN SET w = CASE WHEN v > 2 THEN 1 ELSE 0 END; ELSE SET w = 0; END CASE;
          END LOOP read_loop;
          REPEAT SET v = v - 1; UNTIL v <= 0 END REPEAT;
        END";
        let stmts = parse_block(body).unwrap();
        assert_eq!(stmts.len(), 2);
        let Stmt::Loop { label: Some(l), body } = &stmts[0] else { panic!("{stmts:?}") };
        assert_eq!(l, "read_loop");
        assert_eq!(body[0], Stmt::Fetch { cursor: "c".into(), into: vec!["v".into()] });
        assert_eq!(body[1], Stmt::If { arms: vec![("done".into(), vec![Stmt::Leave("read_loop".into())])], otherwise: None });
        let Stmt::Case { operand: None, arms, otherwise: Some(_) } = &body[2] else { panic!("{body:?}") };
        assert_eq!(arms[0].1, vec![Stmt::Sql("SET w = CASE WHEN v > 2 THEN 1 ELSE 0 END".into())], "a CASE expression stays in its statement");
        assert_eq!(stmts[1], Stmt::Repeat { label: None, body: vec![Stmt::Sql("SET v = v - 1".into())], until: "v <= 0".into() });
    }
}
