//! MySQL's parsed SQL (sqlparser's AST, MySQL dialect) written out as PostgreSQL by
//! [`Renderer`]: every node it knows is rendered with PostgreSQL's semantics, every other node is
//! refused by name ([`Refused`]) — so nothing reaches the target with MySQL's meaning by accident.
//!
//! Names: tables and columns resolve through the query's scopes (FROM bindings, innermost first,
//! then outer queries for correlated subqueries, then the trigger's NEW/OLD rows) to the names
//! the plan gave them ([`TargetNames`]); everything else goes through the identifier rule. Every
//! identifier is double-quoted, so case and spaces survive.
//!
//! Grouping: MySQL without ONLY_FULL_GROUP_BY lets a grouped query select columns it neither
//! groups nor aggregates (one value per group); PostgreSQL accepts that only for columns of a
//! table whose primary key is grouped. [`Renderer::select`] adds the other ones to GROUP BY and
//! says so — the same rows whenever they depend on the grouped key, the only case where
//! MySQL's answer is defined.

use super::functions;
use ferry_model::{Schema, TargetNames};
use sqlparser::ast::*;

/// The construct that stopped a conversion, for the action item.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused(pub String);

pub type R<T> = Result<T, Refused>;

pub fn refuse<T>(what: impl Into<String>) -> R<T> {
    Err(Refused(what.into()))
}

/// A PostgreSQL identifier, always quoted (the model's standard quoting).
pub use ferry_model::sqltext::standard_identifier as q;

/// A PostgreSQL string literal.
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// What a FROM entry (or NEW/OLD) stands for.
#[derive(Debug, Clone)]
enum Binding {
    /// A migrated table (source name).
    Table(String),
    /// A view or derived table: its output columns (source names).
    Columns(Vec<String>),
    /// A trigger's NEW or OLD row of source table `.0`.
    Row(String),
}

#[derive(Debug, Clone)]
struct Entry {
    /// The qualifier as the source writes it (alias, or table name).
    qualifier: String,
    /// The qualifier as rendered.
    rendered: String,
    binding: Binding,
}

/// A column reference seen while rendering a SELECT, for the GROUP BY check.
#[derive(Debug, Clone)]
struct ColRef {
    entry: usize,
    column: String,
    text: String,
    in_aggregate: bool,
}

#[derive(Debug, Default)]
struct Level {
    entries: Vec<Entry>,
    aggregate_depth: u32,
    /// Rendering the parts evaluated after grouping (select list, HAVING, ORDER BY) or the
    /// GROUP BY itself: the column references seen are kept for the check.
    after_grouping: bool,
    refs: Vec<ColRef>,
}

pub struct Renderer<'a> {
    pub names: &'a dyn TargetNames,
    pub schema: &'a Schema,
    levels: Vec<Level>,
    /// Variables and parameters of the routine or trigger being converted (lower case).
    pub vars: Vec<String>,
    /// A routine's NOT FOUND handler, as PL/pgSQL run when a `SELECT … INTO` finds no row.
    pub not_found: Option<String>,
    pub warnings: Vec<String>,
}

impl<'a> Renderer<'a> {
    pub fn new(names: &'a dyn TargetNames, schema: &'a Schema) -> Self {
        Renderer { names, schema, levels: Vec::new(), vars: Vec::new(), not_found: None, warnings: Vec::new() }
    }

    pub fn warn(&mut self, w: impl Into<String>) {
        let w = w.into();
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// Binds NEW and OLD to the trigger's table for the statements of its body.
    pub fn bind_rows(&mut self, table: &str) {
        let mut level = Level::default();
        for (qualifier, rendered) in [("new", "NEW"), ("old", "OLD")] {
            level.entries.push(Entry { qualifier: qualifier.into(), rendered: rendered.into(), binding: Binding::Row(table.to_string()) });
        }
        self.levels.push(level);
    }

    // ---- names -------------------------------------------------------------------------

    /// `db.table` or `table` → the target's qualified name, with what the name binds to.
    fn relation(&self, name: &ObjectName) -> R<(String, Binding)> {
        let parts: Vec<&str> = name.0.iter().map(|p| p.as_ident().map(|i| i.value.as_str()).unwrap_or("")).collect();
        let (db, table) = match parts.as_slice() {
            [t] => (None, *t),
            [d, t] => (Some(*d), *t),
            _ => return refuse(format!("the name {name}")),
        };
        if let Some(d) = db {
            if !d.eq_ignore_ascii_case(&self.schema.name) {
                return refuse(format!("table `{d}`.`{table}` of another database"));
            }
        }
        let target = q(self.names.schema());
        if let Some(t) = self.names.table(table) {
            return Ok((format!("{target}.{}", q(&t)), Binding::Table(table.to_string())));
        }
        if let Some((v, cols)) = self.schema.view_columns.iter().find(|(v, _)| v.eq_ignore_ascii_case(table)) {
            return Ok((format!("{target}.{}", q(&self.names.ident(v))), Binding::Columns(cols.iter().map(|c| c.name.clone()).collect())));
        }
        refuse(format!("table `{table}`, which is not migrated"))
    }

    fn target_column(&self, binding: &Binding, column: &str) -> Option<String> {
        match binding {
            Binding::Table(t) | Binding::Row(t) => self.names.column(t, column).map(|c| c.name),
            Binding::Columns(cols) => cols.iter().find(|c| c.eq_ignore_ascii_case(column)).map(|c| self.names.ident(c)),
        }
    }

    /// A column whose target type is boolean.
    fn boolean_column(&self, binding: &Binding, column: &str) -> bool {
        match binding {
            Binding::Table(t) | Binding::Row(t) => self.names.column(t, column).is_some_and(|c| c.boolean),
            Binding::Columns(_) => false,
        }
    }

    /// Finds `column` (qualified by `qualifier` or not): (level, entry index).
    fn resolve(&self, qualifier: Option<&str>, column: &str) -> Option<(usize, usize)> {
        for (li, level) in self.levels.iter().enumerate().rev() {
            let found: Vec<usize> = level
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| qualifier.is_none_or(|qq| e.qualifier.eq_ignore_ascii_case(qq)))
                .filter(|(_, e)| self.target_column(&e.binding, column).is_some())
                .map(|(i, _)| i)
                .collect();
            if let Some(&i) = found.first() {
                return Some((li, i));
            }
            if qualifier.is_some_and(|qq| level.entries.iter().any(|e| e.qualifier.eq_ignore_ascii_case(qq))) {
                return None;
            }
        }
        None
    }

    fn column_ref(&mut self, qualifier: Option<&str>, column: &str) -> R<String> {
        if qualifier.is_none() && self.vars.iter().any(|v| v.eq_ignore_ascii_case(column)) {
            return Ok(column.to_ascii_lowercase());
        }
        let Some((li, ei)) = self.resolve(qualifier, column) else {
            return match qualifier {
                Some(qq) => refuse(format!("column `{qq}`.`{column}`, which no table of the query has")),
                // An output column's alias (ORDER BY total) or a name PostgreSQL resolves.
                None => Ok(q(&self.names.ident(column))),
            };
        };
        let entry = &self.levels[li].entries[ei];
        let col = self.target_column(&entry.binding, column).unwrap_or_default();
        let text = match (qualifier, &entry.binding) {
            (_, Binding::Row(_)) => format!("{}.{}", entry.rendered, q(&col)),
            (Some(_), _) => format!("{}.{}", entry.rendered, q(&col)),
            (None, _) => q(&col),
        };
        let in_aggregate = self.levels[li].aggregate_depth > 0;
        if self.levels[li].after_grouping {
            self.levels[li].refs.push(ColRef { entry: ei, column: column.to_string(), text: text.clone(), in_aggregate });
        }
        Ok(text)
    }

    fn is_boolean_ref(&self, qualifier: Option<&str>, column: &str) -> bool {
        self.resolve(qualifier, column).is_some_and(|(li, ei)| self.boolean_column(&self.levels[li].entries[ei].binding, column))
    }

    /// The target's qualified name of a table the statement writes, and its source name.
    pub fn relation_of(&self, name: &ObjectName) -> R<(String, String)> {
        let (rendered, binding) = self.relation(name)?;
        match binding {
            Binding::Table(t) => Ok((rendered, t)),
            _ => refuse(format!("a write into the view {name}")),
        }
    }

    /// Runs `f` with `from` bound, as a statement's FROM would bind it.
    pub fn scoped<T>(&mut self, from: &TableWithJoins, f: impl FnOnce(&mut Renderer<'a>, &str) -> R<T>) -> R<T> {
        self.levels.push(Level::default());
        let out = self.join_tree(from).and_then(|s| f(self, &s));
        self.levels.pop();
        out
    }

    /// A `SELECT … INTO` target: a variable of the routine.
    fn select_into_target(&self, t: &Expr) -> R<String> {
        match t {
            Expr::Identifier(i) if self.vars.iter().any(|v| v.eq_ignore_ascii_case(&i.value)) => Ok(i.value.to_ascii_lowercase()),
            other => refuse(format!("SELECT … INTO {other}")),
        }
    }

    pub fn expr_is_boolean(&self, e: &Expr) -> bool {
        self.is_boolean(e)
    }

    // ---- expressions -------------------------------------------------------------------

    /// `e` where PostgreSQL needs a boolean: MySQL tests any number for truth.
    pub fn condition(&mut self, e: &Expr) -> R<String> {
        let text = self.expr(e)?;
        Ok(if self.is_boolean(e) { text } else { format!("({text}) <> 0") })
    }

    fn is_boolean(&self, e: &Expr) -> bool {
        match e {
            Expr::Nested(x) => self.is_boolean(x),
            Expr::BinaryOp { op, .. } => matches!(
                op,
                BinaryOperator::Eq
                    | BinaryOperator::NotEq
                    | BinaryOperator::Lt
                    | BinaryOperator::LtEq
                    | BinaryOperator::Gt
                    | BinaryOperator::GtEq
                    | BinaryOperator::And
                    | BinaryOperator::Or
                    | BinaryOperator::Spaceship
            ),
            Expr::UnaryOp { op: UnaryOperator::Not, .. } => true,
            Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::IsTrue(_)
            | Expr::IsFalse(_)
            | Expr::IsNotTrue(_)
            | Expr::IsNotFalse(_)
            | Expr::IsDistinctFrom(..)
            | Expr::IsNotDistinctFrom(..)
            | Expr::InList { .. }
            | Expr::InSubquery { .. }
            | Expr::Between { .. }
            | Expr::Like { .. }
            | Expr::ILike { .. }
            | Expr::RLike { .. }
            | Expr::Exists { .. } => true,
            Expr::Value(v) => matches!(v.value, Value::Boolean(_)),
            Expr::Identifier(i) => self.is_boolean_ref(None, &i.value),
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => self.is_boolean_ref(Some(&parts[parts.len() - 2].value), &parts[parts.len() - 1].value),
            _ => false,
        }
    }

    /// A value where MySQL would use a number and the expression is a boolean on the target
    /// (a boolean column in arithmetic, `SUM(active)`): as 0/1.
    fn numeric(&mut self, e: &Expr) -> R<String> {
        let text = self.expr(e)?;
        Ok(if self.is_boolean(e) { format!("({text})::int") } else { text })
    }

    pub fn exprs(&mut self, es: &[Expr]) -> R<Vec<String>> {
        es.iter().map(|e| self.expr(e)).collect()
    }

    pub fn expr(&mut self, e: &Expr) -> R<String> {
        Ok(match e {
            Expr::Identifier(i) => self.column_ref(None, &i.value)?,
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [qq, c] => self.column_ref(Some(&qq.value), &c.value)?,
                [db, t, c] if db.value.eq_ignore_ascii_case(&self.schema.name) => self.column_ref(Some(&t.value), &c.value)?,
                _ => return refuse(format!("the name {e}")),
            },
            Expr::Value(v) => value(&v.value)?,
            Expr::Prefixed { value: v, .. } => self.expr(v)?,
            Expr::Nested(x) => format!("({})", self.expr(x)?),
            Expr::BinaryOp { left, op, right } => self.binary(left, op, right)?,
            Expr::UnaryOp { op, expr } => match op {
                UnaryOperator::Not => format!("NOT {}", self.condition_nested(expr)?),
                UnaryOperator::Minus => format!("-{}", self.numeric(expr)?),
                UnaryOperator::Plus => self.numeric(expr)?,
                other => return refuse(format!("operator {other}")),
            },
            Expr::IsNull(x) => format!("{} IS NULL", self.expr(x)?),
            Expr::IsNotNull(x) => format!("{} IS NOT NULL", self.expr(x)?),
            Expr::IsTrue(x) => format!("{} IS TRUE", self.condition_nested(x)?),
            Expr::IsFalse(x) => format!("{} IS FALSE", self.condition_nested(x)?),
            Expr::IsNotTrue(x) => format!("{} IS NOT TRUE", self.condition_nested(x)?),
            Expr::IsNotFalse(x) => format!("{} IS NOT FALSE", self.condition_nested(x)?),
            Expr::IsDistinctFrom(a, b) => format!("{} IS DISTINCT FROM {}", self.expr(a)?, self.expr(b)?),
            Expr::IsNotDistinctFrom(a, b) => format!("{} IS NOT DISTINCT FROM {}", self.expr(a)?, self.expr(b)?),
            Expr::InList { expr, list, negated } => {
                format!("{} {}IN ({})", self.expr(expr)?, if *negated { "NOT " } else { "" }, self.exprs(list)?.join(", "))
            }
            Expr::InSubquery { expr, subquery, negated } => {
                format!("{} {}IN ({})", self.expr(expr)?, if *negated { "NOT " } else { "" }, self.query(subquery)?)
            }
            Expr::Between { expr, negated, low, high } => {
                format!("{} {}BETWEEN {} AND {}", self.expr(expr)?, if *negated { "NOT " } else { "" }, self.expr(low)?, self.expr(high)?)
            }
            Expr::Like { negated, any: false, expr, pattern, escape_char } => {
                self.warn("LIKE compares case-sensitively in PostgreSQL (MySQL's default collations do not): ILIKE where case must not matter");
                let esc = match escape_char {
                    Some(c) => format!(" ESCAPE {}", self.expr(c)?),
                    // MySQL's default escape is the backslash, PostgreSQL's too.
                    None => String::new(),
                };
                format!("{} {}LIKE {}{esc}", self.expr(expr)?, if *negated { "NOT " } else { "" }, self.expr(pattern)?)
            }
            Expr::RLike { negated, expr, pattern, .. } => {
                format!("{} {}~* {}", self.expr(expr)?, if *negated { "!" } else { "" }, self.expr(pattern)?)
            }
            Expr::Case { operand, conditions, else_result, .. } => {
                let mut s = String::from("CASE");
                if let Some(o) = operand {
                    s.push(' ');
                    s.push_str(&self.expr(o)?);
                }
                for w in conditions {
                    let c = if operand.is_some() { self.expr(&w.condition)? } else { self.condition(&w.condition)? };
                    s.push_str(&format!(" WHEN {c} THEN {}", self.expr(&w.result)?));
                }
                if let Some(e) = else_result {
                    s.push_str(&format!(" ELSE {}", self.expr(e)?));
                }
                s.push_str(" END");
                s
            }
            Expr::Cast { expr, data_type, .. } => format!("CAST({} AS {})", self.expr(expr)?, cast_type(data_type)?),
            Expr::Convert { expr, data_type: Some(t), .. } => format!("CAST({} AS {})", self.expr(expr)?, cast_type(t)?),
            // `CONVERT(x USING utf8mb4)`: PostgreSQL's text is one encoding already.
            Expr::Convert { expr, data_type: None, charset: Some(_), .. } => self.expr(expr)?,
            Expr::Exists { subquery, negated } => format!("{}EXISTS ({})", if *negated { "NOT " } else { "" }, self.query(subquery)?),
            Expr::Subquery(sub) => format!("({})", self.query(sub)?),
            Expr::Function(f) => functions::call(self, f)?,
            Expr::Extract { field, expr, .. } => format!("CAST(EXTRACT({} FROM {}) AS integer)", extract_field(field)?, self.expr(expr)?),
            Expr::Substring { expr, substring_from, substring_for, .. } => {
                let mut args = vec![self.expr(expr)?];
                if let Some(f) = substring_from {
                    args.push(self.expr(f)?);
                }
                if let Some(f) = substring_for {
                    args.push(self.expr(f)?);
                }
                functions::substr(self, args, substring_from.as_deref())
            }
            Expr::Trim { trim_where, trim_what, expr, trim_characters: None } => {
                let side = match trim_where {
                    Some(TrimWhereField::Leading) => "LEADING ",
                    Some(TrimWhereField::Trailing) => "TRAILING ",
                    Some(TrimWhereField::Both) => "BOTH ",
                    None => "",
                };
                match trim_what {
                    Some(w) => format!("TRIM({side}{} FROM {})", self.expr(w)?, self.expr(expr)?),
                    None if side.is_empty() => format!("TRIM({})", self.expr(expr)?),
                    None => format!("TRIM({side}FROM {})", self.expr(expr)?),
                }
            }
            Expr::Position { expr, r#in } => format!("strpos({}, {})", self.expr(r#in)?, self.expr(expr)?),
            Expr::Interval(_) => return refuse("an INTERVAL outside date arithmetic"),
            Expr::Collate { expr, collation } => {
                self.warn(format!("COLLATE {collation} dropped: PostgreSQL has no MySQL collations"));
                self.expr(expr)?
            }
            Expr::Tuple(items) => format!("({})", self.exprs(items)?.join(", ")),
            other => return refuse(format!("the expression `{other}`")),
        })
    }

    fn condition_nested(&mut self, e: &Expr) -> R<String> {
        let c = self.condition(e)?;
        Ok(if matches!(e, Expr::Nested(_) | Expr::Identifier(_) | Expr::CompoundIdentifier(_)) { c } else { format!("({c})") })
    }

    fn binary(&mut self, left: &Expr, op: &BinaryOperator, right: &Expr) -> R<String> {
        // Date arithmetic: `d + INTERVAL n unit`.
        if let (BinaryOperator::Plus | BinaryOperator::Minus, Expr::Interval(iv)) = (op, right) {
            let sign = if matches!(op, BinaryOperator::Plus) { "+" } else { "-" };
            return Ok(format!("{} {sign} {}", self.expr(left)?, self.interval(iv)?));
        }
        if let (BinaryOperator::Plus, Expr::Interval(iv)) = (op, left) {
            return Ok(format!("{} + {}", self.expr(right)?, self.interval(iv)?));
        }
        Ok(match op {
            BinaryOperator::And => format!("{} AND {}", self.condition_nested(left)?, self.condition_nested(right)?),
            BinaryOperator::Or => format!("{} OR {}", self.condition_nested(left)?, self.condition_nested(right)?),
            BinaryOperator::Xor => format!("{} <> {}", self.condition_nested(left)?, self.condition_nested(right)?),
            BinaryOperator::Spaceship => format!("{} IS NOT DISTINCT FROM {}", self.expr(left)?, self.expr(right)?),
            BinaryOperator::MyIntegerDivide => format!("div({}, {})", self.numeric(left)?, self.numeric(right)?),
            BinaryOperator::Divide => {
                self.warn(
                    "`/` divides as numeric (MySQL never divides integers to an integer); MySQL rounds the quotient to 4 more decimals, PostgreSQL keeps more",
                );
                format!("{}::numeric / {}", self.numeric_operand(left)?, self.numeric_operand(right)?)
            }
            BinaryOperator::Modulo => format!("mod({}, {})", self.numeric(left)?, self.numeric(right)?),
            BinaryOperator::StringConcat => {
                // MySQL's default sql_mode reads `||` as OR.
                self.warn("`||` read as OR, as MySQL's default sql_mode does (PIPES_AS_CONCAT not assumed)");
                format!("{} OR {}", self.condition_nested(left)?, self.condition_nested(right)?)
            }
            BinaryOperator::Plus | BinaryOperator::Minus | BinaryOperator::Multiply => {
                format!("{} {op} {}", self.numeric(left)?, self.numeric(right)?)
            }
            BinaryOperator::Eq | BinaryOperator::NotEq | BinaryOperator::Lt | BinaryOperator::LtEq | BinaryOperator::Gt | BinaryOperator::GtEq => {
                // A boolean column compared with a number (`active = 1`).
                let (lb, rb) = (self.is_boolean(left), self.is_boolean(right));
                let l = if lb && !rb { format!("({})::int", self.expr(left)?) } else { self.expr(left)? };
                let r = if rb && !lb { format!("({})::int", self.expr(right)?) } else { self.expr(right)? };
                format!("{l} {op} {r}")
            }
            BinaryOperator::BitwiseAnd | BinaryOperator::BitwiseOr => format!("{} {op} {}", self.numeric(left)?, self.numeric(right)?),
            other => return refuse(format!("operator {other}")),
        })
    }

    fn numeric_operand(&mut self, e: &Expr) -> R<String> {
        let s = self.numeric(e)?;
        Ok(if matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_) | Expr::Nested(_) | Expr::Function(_)) {
            s
        } else {
            format!("({s})")
        })
    }

    /// `INTERVAL n unit` → `n * INTERVAL '1 unit'` (any expression for n).
    pub fn interval(&mut self, iv: &Interval) -> R<String> {
        let unit = match &iv.leading_field {
            Some(f) => interval_unit(f)?,
            None => return refuse("an INTERVAL without a unit"),
        };
        if iv.last_field.is_some() {
            return refuse(format!("the compound interval {iv}"));
        }
        Ok(format!("({}) * INTERVAL '1 {unit}'", self.expr(&iv.value)?))
    }

    pub(super) fn enter_aggregate(&mut self) {
        if let Some(l) = self.levels.last_mut() {
            l.aggregate_depth += 1;
        }
    }

    pub(super) fn leave_aggregate(&mut self) {
        if let Some(l) = self.levels.last_mut() {
            l.aggregate_depth -= 1;
        }
    }

    // ---- queries -----------------------------------------------------------------------

    pub fn query(&mut self, query: &Query) -> R<String> {
        if query.with.is_some() {
            return refuse("WITH (common table expressions)");
        }
        if !query.locks.is_empty() {
            return refuse("FOR UPDATE / LOCK IN SHARE MODE");
        }
        let order = query.order_by.as_ref();
        let mut s = match query.body.as_ref() {
            SetExpr::Select(sel) => self.select(sel, order)?,
            other => {
                let body = self.set_expr(other)?;
                match order {
                    Some(o) => format!("{body} ORDER BY {}", self.order_by_plain(o)?),
                    None => body,
                }
            }
        };
        match &query.limit_clause {
            None => {}
            Some(LimitClause::LimitOffset { limit, offset, limit_by }) => {
                if !limit_by.is_empty() {
                    return refuse("LIMIT BY");
                }
                if let Some(l) = limit {
                    s.push_str(&format!(" LIMIT {}", self.expr(l)?));
                }
                if let Some(o) = offset {
                    s.push_str(&format!(" OFFSET {}", self.expr(&o.value)?));
                }
            }
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => s.push_str(&format!(" LIMIT {} OFFSET {}", self.expr(limit)?, self.expr(offset)?)),
        }
        Ok(s)
    }

    fn set_expr(&mut self, body: &SetExpr) -> R<String> {
        match body {
            SetExpr::Select(sel) => self.select(sel, None),
            SetExpr::Query(q) => Ok(format!("({})", self.query(q)?)),
            SetExpr::SetOperation { op, set_quantifier, left, right } => {
                let quant = match set_quantifier {
                    SetQuantifier::All => " ALL",
                    SetQuantifier::Distinct => " DISTINCT",
                    SetQuantifier::None => "",
                    other => return refuse(format!("{op} {other}")),
                };
                Ok(format!("{} {op}{quant} {}", self.set_expr(left)?, self.set_expr(right)?))
            }
            other => refuse(format!("the query form `{other}`")),
        }
    }

    fn order_by_plain(&mut self, o: &OrderBy) -> R<String> {
        match &o.kind {
            OrderByKind::Expressions(list) => Ok(list.iter().map(|x| self.order_item(x)).collect::<R<Vec<_>>>()?.join(", ")),
            OrderByKind::All(_) => refuse("ORDER BY ALL"),
        }
    }

    pub fn order_item(&mut self, x: &OrderByExpr) -> R<String> {
        let mut s = self.expr(&x.expr)?;
        let desc = match &x.options.sort {
            Some(OrderBySort::Asc) => {
                s.push_str(" ASC");
                false
            }
            Some(OrderBySort::Desc) => {
                s.push_str(" DESC");
                true
            }
            Some(OrderBySort::Using(op)) => return refuse(format!("ORDER BY … USING {op}")),
            None => false,
        };
        // MySQL sorts NULLs first ascending and last descending; PostgreSQL the other way.
        match (x.options.nulls_first, desc) {
            (Some(true), _) => s.push_str(" NULLS FIRST"),
            (Some(false), _) | (None, true) => s.push_str(" NULLS LAST"),
            (None, false) => s.push_str(" NULLS FIRST"),
        }
        Ok(s)
    }

    fn join_tree(&mut self, t: &TableWithJoins) -> R<String> {
        let mut s = self.factor(&t.relation)?;
        for j in &t.joins {
            let (kw, c) = match &j.join_operator {
                JoinOperator::Join(c) | JoinOperator::Inner(c) => ("JOIN", Some(c)),
                JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => ("LEFT JOIN", Some(c)),
                JoinOperator::Right(c) | JoinOperator::RightOuter(c) => ("RIGHT JOIN", Some(c)),
                JoinOperator::CrossJoin(c) => ("CROSS JOIN", Some(c)),
                JoinOperator::StraightJoin(c) => {
                    self.warn("STRAIGHT_JOIN is a plain JOIN in PostgreSQL (the planner orders joins)");
                    ("JOIN", Some(c))
                }
                other => return refuse(format!("the join {other:?}")),
            };
            let right = self.factor(&j.relation)?;
            let cond = match c {
                Some(JoinConstraint::On(e)) => format!(" ON {}", self.condition(e)?),
                Some(JoinConstraint::Using(cols)) => {
                    let cols: Vec<String> = cols.iter().map(|c| q(&self.names.ident(&c.to_string().replace('`', "")))).collect();
                    format!(" USING ({})", cols.join(", "))
                }
                Some(JoinConstraint::Natural) => return refuse("NATURAL JOIN"),
                Some(JoinConstraint::None) | None => String::new(),
            };
            // MySQL's `JOIN t` without ON is a cross join.
            let kw = if cond.is_empty() && kw == "JOIN" { "CROSS JOIN" } else { kw };
            s.push_str(&format!(" {kw} {right}{cond}"));
        }
        Ok(s)
    }

    fn factor(&mut self, f: &TableFactor) -> R<String> {
        match f {
            TableFactor::Table { name, alias, args: None, .. } => {
                let (rendered, binding) = self.relation(name)?;
                let last = name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()).unwrap_or_default();
                let (qualifier, shown, text) = match alias {
                    Some(a) => {
                        if !a.columns.is_empty() {
                            return refuse("a table alias with column names");
                        }
                        let shown = q(&self.names.ident(&a.name.value));
                        (a.name.value.clone(), shown.clone(), format!("{rendered} {shown}"))
                    }
                    None => {
                        let shown = rendered.rsplit_once('.').map(|(_, t)| t.to_string()).unwrap_or(rendered.clone());
                        (last, shown, rendered)
                    }
                };
                self.bind(Entry { qualifier, rendered: shown, binding });
                Ok(text)
            }
            TableFactor::Derived { lateral: false, subquery, alias: Some(a), .. } => {
                // A derived table sees only the enclosing queries, not its FROM siblings.
                let sql = self.query(subquery)?;
                let columns = output_names(subquery);
                let shown = q(&self.names.ident(&a.name.value));
                self.bind(Entry { qualifier: a.name.value.clone(), rendered: shown.clone(), binding: Binding::Columns(columns) });
                Ok(format!("({sql}) {shown}"))
            }
            TableFactor::NestedJoin { table_with_joins, alias: None } => Ok(format!("({})", self.join_tree(table_with_joins)?)),
            other => refuse(format!("the FROM item `{other}`")),
        }
    }

    fn set_after_grouping(&mut self, on: bool) {
        if let Some(l) = self.levels.last_mut() {
            l.after_grouping = on;
        }
    }

    fn bind(&mut self, e: Entry) {
        if let Some(l) = self.levels.last_mut() {
            l.entries.push(e);
        }
    }

    /// One SELECT, with the ORDER BY of its query (resolved in its scope).
    pub fn select(&mut self, sel: &Select, order: Option<&OrderBy>) -> R<String> {
        self.levels.push(Level::default());
        let out = self.select_in_scope(sel, order);
        self.levels.pop();
        out
    }

    fn select_in_scope(&mut self, sel: &Select, order: Option<&OrderBy>) -> R<String> {
        if sel.top.is_some() || !sel.lateral_views.is_empty() || sel.qualify.is_some() || !sel.named_window.is_empty() {
            return refuse("a SELECT clause PostgreSQL does not have");
        }
        let from: Vec<String> = sel.from.iter().map(|t| self.join_tree(t)).collect::<R<_>>()?;
        let mut s = String::from("SELECT ");
        match &sel.distinct {
            None => {}
            Some(Distinct::Distinct) => s.push_str("DISTINCT "),
            Some(other) => return refuse(format!("{other}")),
        }
        self.set_after_grouping(true);
        let mut items = Vec::new();
        for item in &sel.projection {
            items.push(match item {
                SelectItem::UnnamedExpr(e) => self.expr(e)?,
                SelectItem::ExprWithAlias { expr, alias } => format!("{} AS {}", self.expr(expr)?, q(&self.names.ident(&alias.value))),
                SelectItem::Wildcard(_) => "*".to_string(),
                SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(n), _) => {
                    let qq = n.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()).unwrap_or_default();
                    let shown = self.levels.last().and_then(|l| l.entries.iter().find(|e| e.qualifier.eq_ignore_ascii_case(&qq))).map(|e| e.rendered.clone());
                    match shown {
                        Some(r) => format!("{r}.*"),
                        None => return refuse(format!("{n}.*")),
                    }
                }
                other => return refuse(format!("the select item `{other}`")),
            });
        }
        s.push_str(&items.join(", "));
        if let Some(into) = &sel.into {
            if into.temporary || into.unlogged || into.table {
                return refuse("SELECT … INTO a table");
            }
            let targets: Vec<String> = into.targets.iter().map(|t| self.select_into_target(t)).collect::<R<_>>()?;
            s.push_str(&format!(" INTO {}", targets.join(", ")));
        }
        if !from.is_empty() {
            s.push_str(" FROM ");
            s.push_str(&from.join(", "));
        }
        self.set_after_grouping(false);
        if let Some(w) = &sel.selection {
            s.push_str(&format!(" WHERE {}", self.condition(w)?));
        }
        self.set_after_grouping(true);
        let groups: Vec<String> = match &sel.group_by {
            GroupByExpr::Expressions(list, modifiers) => {
                if !modifiers.is_empty() {
                    return refuse("GROUP BY … WITH ROLLUP");
                }
                let mut g = Vec::new();
                for e in list {
                    // `GROUP BY 2` (a position) stays a position.
                    g.push(self.expr(e)?);
                }
                g
            }
            GroupByExpr::All(_) => return refuse("GROUP BY ALL"),
        };
        let having = match &sel.having {
            Some(h) => Some(self.condition(h)?),
            None => None,
        };
        let order = match order {
            Some(o) => Some(self.order_by_plain(o)?),
            None => None,
        };
        if !groups.is_empty() {
            let extra = self.ungrouped_columns(&groups);
            let mut all = groups.clone();
            if !extra.is_empty() {
                self.warn(format!(
                    "GROUP BY gains {}: MySQL let the query select them ungrouped (one value per group); the rows are the same where they depend on the grouped key",
                    extra.join(", ")
                ));
                all.extend(extra);
            }
            s.push_str(&format!(" GROUP BY {}", all.join(", ")));
        }
        if let Some(h) = having {
            s.push_str(&format!(" HAVING {h}"));
        }
        if let Some(o) = order {
            s.push_str(&format!(" ORDER BY {o}"));
        }
        Ok(s)
    }

    /// Column references outside aggregates that PostgreSQL would refuse in a grouped query:
    /// not grouped themselves, and not of a table whose whole primary key is grouped.
    fn ungrouped_columns(&self, groups: &[String]) -> Vec<String> {
        let Some(level) = self.levels.last() else { return vec![] };
        let grouped: Vec<&ColRef> = level.refs.iter().filter(|r| groups.contains(&r.text)).collect();
        let pk_grouped = |entry: usize| -> bool {
            let Binding::Table(t) = &level.entries[entry].binding else { return false };
            let Some(table) = self.schema.table(t) else { return false };
            let Some(pk) = &table.primary_key else { return false };
            pk.columns.iter().all(|c| grouped.iter().any(|g| g.entry == entry && g.column.eq_ignore_ascii_case(c)))
        };
        let mut out: Vec<String> = Vec::new();
        for r in &level.refs {
            if r.in_aggregate || groups.contains(&r.text) || out.contains(&r.text) || pk_grouped(r.entry) {
                continue;
            }
            out.push(r.text.clone());
        }
        out
    }
}

/// The output column names of a query (aliases, else column names), source spelling.
fn output_names(query: &Query) -> Vec<String> {
    let mut body = query.body.as_ref();
    loop {
        match body {
            SetExpr::Select(s) => {
                return s
                    .projection
                    .iter()
                    .map(|i| match i {
                        SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                        SelectItem::UnnamedExpr(Expr::Identifier(i)) => i.value.clone(),
                        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(p)) => p.last().map(|i| i.value.clone()).unwrap_or_default(),
                        other => other.to_string(),
                    })
                    .collect()
            }
            SetExpr::SetOperation { left, .. } => body = left,
            SetExpr::Query(q) => body = q.body.as_ref(),
            _ => return vec![],
        }
    }
}

fn value(v: &Value) -> R<String> {
    Ok(match v {
        Value::Number(n, _) => n.to_string(),
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) | Value::NationalStringLiteral(s) => lit(s),
        Value::Boolean(b) => if *b { "true" } else { "false" }.to_string(),
        Value::Null => "NULL".to_string(),
        Value::HexStringLiteral(h) => format!("'\\x{h}'::bytea"),
        other => return refuse(format!("the literal {other}")),
    })
}

fn interval_unit(f: &DateTimeField) -> R<&'static str> {
    Ok(match f {
        DateTimeField::Year | DateTimeField::Years => "year",
        DateTimeField::Month | DateTimeField::Months => "month",
        DateTimeField::Week(_) | DateTimeField::Weeks => "week",
        DateTimeField::Day | DateTimeField::Days => "day",
        DateTimeField::Hour | DateTimeField::Hours => "hour",
        DateTimeField::Minute | DateTimeField::Minutes => "minute",
        DateTimeField::Second | DateTimeField::Seconds => "second",
        DateTimeField::Microsecond | DateTimeField::Microseconds => "microsecond",
        DateTimeField::Quarter => return refuse("INTERVAL … QUARTER"),
        other => return refuse(format!("the interval unit {other}")),
    })
}

pub(super) fn extract_field(f: &DateTimeField) -> R<&'static str> {
    Ok(match f {
        DateTimeField::Year => "YEAR",
        DateTimeField::Month => "MONTH",
        DateTimeField::Day => "DAY",
        DateTimeField::Hour => "HOUR",
        DateTimeField::Minute => "MINUTE",
        DateTimeField::Second => "SECOND",
        DateTimeField::Quarter => "QUARTER",
        DateTimeField::Week(_) => "WEEK",
        other => return refuse(format!("EXTRACT({other})")),
    })
}

/// A MySQL CAST/CONVERT target type in PostgreSQL.
fn cast_type(t: &DataType) -> R<String> {
    Ok(match t {
        DataType::Char(_) | DataType::Character(_) | DataType::Varchar(_) | DataType::Text => "text".into(),
        DataType::Signed | DataType::SignedInteger => "bigint".into(),
        DataType::Unsigned | DataType::UnsignedInteger => "numeric(20,0)".into(),
        DataType::Int(_) | DataType::Integer(_) => "integer".into(),
        DataType::BigInt(_) => "bigint".into(),
        DataType::Decimal(info) | DataType::Numeric(info) | DataType::Dec(info) => match info {
            ExactNumberInfo::None => "numeric(10,0)".into(),
            ExactNumberInfo::Precision(p) => format!("numeric({p},0)"),
            ExactNumberInfo::PrecisionAndScale(p, s) => format!("numeric({p},{s})"),
        },
        DataType::Date => "date".into(),
        DataType::Datetime(p) => format!("timestamp({})", p.unwrap_or(0).min(6)),
        DataType::Time(p, _) => format!("time({})", p.unwrap_or(0).min(6)),
        DataType::Double(_) | DataType::DoublePrecision => "double precision".into(),
        DataType::Float(_) | DataType::Real => "real".into(),
        DataType::Binary(_) | DataType::Varbinary(_) => "bytea".into(),
        DataType::JSON => "jsonb".into(),
        other => return refuse(format!("CAST(… AS {other})")),
    })
}
