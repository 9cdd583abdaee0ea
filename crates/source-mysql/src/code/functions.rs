//! MySQL's functions in PostgreSQL, one arm each, with MySQL's semantics kept where the two
//! differ (`CONCAT` is NULL when any argument is, `LENGTH` counts bytes, `GROUP_CONCAT` becomes
//! `string_agg` with its order and separator, `IF` tests a number for truth). A function not in
//! this table is refused by name ([`call`]): the object stays an action item naming it. The same
//! table is documented in `docs/code-conversion.md`; keep the two in step.

use super::render::{lit, q, refuse, Renderer, R};
use sqlparser::ast::*;

/// Functions whose arguments are aggregated (a column inside is not an ungrouped column).
const AGGREGATES: [&str; 14] =
    ["COUNT", "SUM", "AVG", "MIN", "MAX", "GROUP_CONCAT", "STD", "STDDEV", "STDDEV_POP", "STDDEV_SAMP", "VARIANCE", "VAR_POP", "VAR_SAMP", "BIT_OR"];

/// `SUBSTR(s, pos[, len])`: the same 1-based positions; MySQL counts a negative start from the end.
pub(super) fn substr(r: &mut Renderer, args: Vec<String>, from: Option<&Expr>) -> String {
    if !from.is_some_and(is_positive_literal) {
        r.warn("SUBSTRING with a start that is not a positive constant: MySQL counts a negative start from the end, PostgreSQL does not");
    }
    format!("substr({})", args.join(", "))
}

fn is_positive_literal(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if !n.starts_with('-') && n != "0"))
}

fn literal_int(e: &Expr) -> Option<i64> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => literal_int(expr).map(|n| -n),
        _ => None,
    }
}

fn literal_str(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// Functions whose PostgreSQL result is text already.
const TEXT_RESULTS: [&str; 16] = [
    "CONCAT",
    "CONCAT_WS",
    "UPPER",
    "UCASE",
    "LOWER",
    "LCASE",
    "SUBSTR",
    "SUBSTRING",
    "LEFT",
    "RIGHT",
    "TRIM",
    "REPLACE",
    "LPAD",
    "RPAD",
    "GROUP_CONCAT",
    "DATE_FORMAT",
];

/// `e` as text for a concatenation: literals and text-valued functions as they are, the rest cast.
fn as_text(r: &mut Renderer, e: &Expr) -> R<String> {
    let s = r.expr(e)?;
    let text_function = matches!(e, Expr::Function(f) if TEXT_RESULTS.iter().any(|n| f.name.to_string().eq_ignore_ascii_case(n)));
    Ok(if literal_str(e).is_some() || text_function { s } else { format!("CAST({s} AS text)") })
}

pub fn call(r: &mut Renderer, f: &Function) -> R<String> {
    let name = f.name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()).unwrap_or_default();
    let upper = name.to_ascii_uppercase();
    if f.over.is_some() {
        return refuse(format!("the window function {upper}(…) OVER"));
    }
    if f.filter.is_some() || !f.within_group.is_empty() {
        return refuse(format!("{upper}(…) FILTER / WITHIN GROUP"));
    }
    let (list, distinct, clauses): (Vec<&FunctionArg>, bool, &[FunctionArgumentClause]) = match &f.args {
        FunctionArguments::None => (vec![], false, &[]),
        FunctionArguments::List(l) => (l.args.iter().collect(), matches!(l.duplicate_treatment, Some(DuplicateTreatment::Distinct)), &l.clauses),
        FunctionArguments::Subquery(_) => return refuse(format!("{upper}(subquery)")),
    };
    let mut args: Vec<&Expr> = Vec::new();
    let mut star = false;
    for a in &list {
        match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => args.push(e),
            FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => star = true,
            other => return refuse(format!("the argument `{other}` of {upper}")),
        }
    }
    let aggregate = AGGREGATES.contains(&upper.as_str());
    if aggregate {
        r.enter_aggregate();
    }
    let out = scalar_or_aggregate(r, &upper, &args, star, distinct, clauses);
    if aggregate {
        r.leave_aggregate();
    }
    if !clauses.is_empty() && upper != "GROUP_CONCAT" {
        return refuse(format!("{upper} with ORDER BY / SEPARATOR"));
    }
    match out {
        Err(e) if e.0 == "unknown" => user_function(r, &name, &args),
        other => other,
    }
}

/// A call of the source database's own stored function: the converted one on the target.
fn user_function(r: &mut Renderer, name: &str, args: &[&Expr]) -> R<String> {
    let own = r.schema.objects.iter().any(|o| o.kind == ferry_model::ObjectKind::Function && o.name.eq_ignore_ascii_case(name));
    if !own {
        return refuse(format!("function {}", name.to_ascii_uppercase()));
    }
    let a: Vec<String> = args.iter().map(|e| r.expr(e)).collect::<R<_>>()?;
    Ok(format!("{}.{}({})", q(r.names.schema()), q(&r.names.ident(name)), a.join(", ")))
}

fn n_args(upper: &str, args: &[&Expr], range: std::ops::RangeInclusive<usize>) -> R<()> {
    if range.contains(&args.len()) {
        Ok(())
    } else {
        refuse(format!("{upper} with {} arguments", args.len()))
    }
}

fn scalar_or_aggregate(r: &mut Renderer, upper: &str, args: &[&Expr], star: bool, distinct: bool, clauses: &[FunctionArgumentClause]) -> R<String> {
    let d = if distinct { "DISTINCT " } else { "" };
    let plain = |r: &mut Renderer, pg: &str| -> R<String> {
        let a: Vec<String> = args.iter().map(|e| r.expr(e)).collect::<R<_>>()?;
        Ok(format!("{pg}({d}{})", a.join(", ")))
    };
    let numeric = |r: &mut Renderer, pg: &str| -> R<String> {
        let a: Vec<String> = args.iter().map(|e| r.expr(e).map(|s| if r_is_bool(r, e) { format!("({s})::int") } else { s })).collect::<R<_>>()?;
        Ok(format!("{pg}({d}{})", a.join(", ")))
    };
    Ok(match upper {
        // Aggregates.
        "COUNT" if star => "count(*)".to_string(),
        "COUNT" if args.len() > 1 => return refuse("COUNT(DISTINCT a, b) over several columns"),
        "COUNT" => plain(r, "count")?,
        "SUM" | "MIN" | "MAX" => numeric(r, &upper.to_ascii_lowercase())?,
        "AVG" => {
            r.warn("AVG keeps more decimals in PostgreSQL (MySQL rounds an integer average to 4)");
            numeric(r, "avg")?
        }
        "STD" | "STDDEV" | "STDDEV_POP" => numeric(r, "stddev_pop")?,
        "STDDEV_SAMP" => numeric(r, "stddev_samp")?,
        "VARIANCE" | "VAR_POP" => numeric(r, "var_pop")?,
        "VAR_SAMP" => numeric(r, "var_samp")?,
        "BIT_OR" => numeric(r, "bit_or")?,
        "GROUP_CONCAT" => group_concat(r, args, distinct, clauses)?,

        // Nulls and conditions.
        "IFNULL" => {
            n_args(upper, args, 2..=2)?;
            plain(r, "COALESCE")?
        }
        "COALESCE" => plain(r, "COALESCE")?,
        "NULLIF" => plain(r, "NULLIF")?,
        "IF" => {
            n_args(upper, args, 3..=3)?;
            format!("CASE WHEN {} THEN {} ELSE {} END", r.condition(args[0])?, r.expr(args[1])?, r.expr(args[2])?)
        }
        "ISNULL" => {
            n_args(upper, args, 1..=1)?;
            format!("({} IS NULL)", r.expr(args[0])?)
        }
        "GREATEST" | "LEAST" => {
            r.warn(format!("{upper} ignores NULL arguments in PostgreSQL; MySQL returns NULL"));
            plain(r, &upper.to_ascii_lowercase())?
        }

        // Strings.
        "CONCAT" => {
            if args.is_empty() {
                return refuse("CONCAT()");
            }
            // `||` keeps MySQL's NULL-if-any-NULL; PostgreSQL's concat() would skip NULLs.
            let parts: Vec<String> = args.iter().map(|e| as_text(r, e)).collect::<R<_>>()?;
            format!("({})", parts.join(" || "))
        }
        "CONCAT_WS" => plain(r, "concat_ws")?,
        "UPPER" | "UCASE" => plain(r, "upper")?,
        "LOWER" | "LCASE" => plain(r, "lower")?,
        "SUBSTR" | "SUBSTRING" | "MID" => {
            n_args(upper, args, 2..=3)?;
            let a: Vec<String> = args.iter().map(|e| r.expr(e)).collect::<R<_>>()?;
            substr(r, a, Some(args[1]))
        }
        "LENGTH" | "OCTET_LENGTH" => plain(r, "octet_length")?,
        "CHAR_LENGTH" | "CHARACTER_LENGTH" => plain(r, "char_length")?,
        "LEFT" | "RIGHT" | "LPAD" | "RPAD" | "REPLACE" | "REVERSE" | "REPEAT" | "LTRIM" | "RTRIM" | "TRIM" | "ASCII" | "MD5" => {
            plain(r, &upper.to_ascii_lowercase())?
        }
        "LOCATE" | "POSITION" => {
            n_args(upper, args, 2..=2)?;
            format!("strpos({}, {})", r.expr(args[1])?, r.expr(args[0])?)
        }
        "INSTR" => {
            n_args(upper, args, 2..=2)?;
            format!("strpos({}, {})", r.expr(args[0])?, r.expr(args[1])?)
        }
        "SPACE" => {
            n_args(upper, args, 1..=1)?;
            format!("repeat(' ', {})", r.expr(args[0])?)
        }
        "SUBSTRING_INDEX" => {
            n_args(upper, args, 3..=3)?;
            let Some(n) = literal_int(args[2]) else { return refuse("SUBSTRING_INDEX with a count that is not a constant") };
            let (s, delim) = (r.expr(args[0])?, r.expr(args[1])?);
            let parts = format!("string_to_array({s}, {delim})");
            match n {
                0 => "''".to_string(),
                n if n > 0 => format!("array_to_string(({parts})[1:{n}], {delim})"),
                n => format!("array_to_string(({parts})[array_length({parts}, 1) - {}:], {delim})", -n - 1),
            }
        }
        "FIND_IN_SET" => {
            n_args(upper, args, 2..=2)?;
            let (x, set) = (r.expr(args[0])?, r.expr(args[1])?);
            format!("CASE WHEN {x} IS NULL OR {set} IS NULL THEN NULL ELSE coalesce(array_position(string_to_array({set}, ','), {x}), 0) END")
        }
        "ELT" => {
            if args.len() < 2 {
                return refuse("ELT with fewer than 2 arguments");
            }
            let a: Vec<String> = args[1..].iter().map(|e| as_text(r, e)).collect::<R<_>>()?;
            format!("(ARRAY[{}])[{}]", a.join(", "), r.expr(args[0])?)
        }
        "FIELD" => {
            if args.len() < 2 {
                return refuse("FIELD with fewer than 2 arguments");
            }
            let a: Vec<String> = args[1..].iter().map(|e| r.expr(e)).collect::<R<_>>()?;
            format!("coalesce(array_position(ARRAY[{}], {}), 0)", a.join(", "), r.expr(args[0])?)
        }
        "UUID" => "CAST(gen_random_uuid() AS text)".to_string(),

        // Dates and times. MySQL's NOW() has no fraction unless asked; sessions' time zone.
        "NOW" | "CURRENT_TIMESTAMP" | "LOCALTIMESTAMP" | "LOCALTIME" | "SYSDATE" => match args.first().and_then(|a| literal_int(a)) {
            Some(p) => format!("LOCALTIMESTAMP({})", p.min(6)),
            None => "LOCALTIMESTAMP(0)".to_string(),
        },
        "CURDATE" | "CURRENT_DATE" => "CURRENT_DATE".to_string(),
        "CURTIME" | "CURRENT_TIME" => "LOCALTIME(0)".to_string(),
        "UTC_TIMESTAMP" => "CAST(now() AT TIME ZONE 'UTC' AS timestamp(0))".to_string(),
        "UNIX_TIMESTAMP" if args.is_empty() => "CAST(extract(epoch from now()) AS bigint)".to_string(),
        "DATE" => {
            n_args(upper, args, 1..=1)?;
            format!("CAST({} AS date)", r.expr(args[0])?)
        }
        "TIME" => {
            n_args(upper, args, 1..=1)?;
            format!("CAST({} AS time)", r.expr(args[0])?)
        }
        "YEAR" | "MONTH" | "DAY" | "DAYOFMONTH" | "HOUR" | "MINUTE" | "SECOND" | "QUARTER" | "DAYOFYEAR" | "DAYOFWEEK" | "WEEKDAY" => {
            n_args(upper, args, 1..=1)?;
            let x = r.expr(args[0])?;
            match upper {
                "DAYOFMONTH" => format!("CAST(EXTRACT(DAY FROM {x}) AS integer)"),
                "DAYOFYEAR" => format!("CAST(EXTRACT(DOY FROM {x}) AS integer)"),
                // MySQL: 1 = Sunday … 7 = Saturday; PostgreSQL's DOW: 0 = Sunday.
                "DAYOFWEEK" => format!("(CAST(EXTRACT(DOW FROM {x}) AS integer) + 1)"),
                // MySQL: 0 = Monday … 6 = Sunday.
                "WEEKDAY" => format!("(CAST(EXTRACT(ISODOW FROM {x}) AS integer) - 1)"),
                field => format!("CAST(EXTRACT({field} FROM {x}) AS integer)"),
            }
        }
        "DATEDIFF" => {
            n_args(upper, args, 2..=2)?;
            format!("(CAST({} AS date) - CAST({} AS date))", r.expr(args[0])?, r.expr(args[1])?)
        }
        "DATE_ADD" | "DATE_SUB" | "ADDDATE" | "SUBDATE" => {
            n_args(upper, args, 2..=2)?;
            let sign = if upper.contains("SUB") { "-" } else { "+" };
            let d = r.expr(args[0])?;
            let iv = match args[1] {
                Expr::Interval(iv) => r.interval(iv)?,
                // ADDDATE(d, n): n days.
                n => format!("({}) * INTERVAL '1 day'", r.expr(n)?),
            };
            format!("({d} {sign} {iv})")
        }
        "TIMESTAMPDIFF" => {
            n_args(upper, args, 3..=3)?;
            let unit = match args[0] {
                Expr::Identifier(i) => i.value.to_ascii_uppercase(),
                other => other.to_string().to_ascii_uppercase(),
            };
            let seconds = match unit.as_str() {
                "SECOND" => 1,
                "MINUTE" => 60,
                "HOUR" => 3600,
                "DAY" => 86400,
                "WEEK" => 604800,
                other => return refuse(format!("TIMESTAMPDIFF({other}, …)")),
            };
            let (a, b) = (r.expr(args[1])?, r.expr(args[2])?);
            format!("CAST(trunc(extract(epoch from CAST({b} AS timestamp) - CAST({a} AS timestamp)) / {seconds}) AS bigint)")
        }
        // Days since year 0, as MySQL counts them (proleptic Gregorian on both sides).
        "TO_DAYS" => {
            n_args(upper, args, 1..=1)?;
            format!("(CAST({} AS date) - DATE '0001-01-01' + 366)", r.expr(args[0])?)
        }
        "FROM_DAYS" => {
            n_args(upper, args, 1..=1)?;
            format!("(DATE '0001-01-01' + ({} - 366))", r.expr(args[0])?)
        }
        "LAST_DAY" => {
            n_args(upper, args, 1..=1)?;
            format!("CAST(date_trunc('month', {}) + INTERVAL '1 month' - INTERVAL '1 day' AS date)", r.expr(args[0])?)
        }
        "STR_TO_DATE" => {
            n_args(upper, args, 2..=2)?;
            let Some(fmt) = literal_str(args[1]) else { return refuse("STR_TO_DATE with a format that is not a constant") };
            let pg = lit(&date_format(fmt)?);
            let has_time = ["%H", "%k", "%h", "%I", "%l", "%i", "%s", "%S", "%f", "%p", "%T", "%r"].iter().any(|t| fmt.contains(t));
            if has_time {
                format!("CAST(to_timestamp({}, {pg}) AS timestamp)", r.expr(args[0])?)
            } else {
                format!("to_date({}, {pg})", r.expr(args[0])?)
            }
        }
        "DATE_FORMAT" => {
            n_args(upper, args, 2..=2)?;
            let Some(fmt) = literal_str(args[1]) else { return refuse("DATE_FORMAT with a format that is not a constant") };
            format!("to_char({}, {})", r.expr(args[0])?, lit(&date_format(fmt)?))
        }

        // Numbers.
        "ROUND" | "FLOOR" | "ABS" | "SIGN" | "MOD" | "SQRT" | "EXP" | "LN" | "PI" | "POWER" => numeric(r, &upper.to_ascii_lowercase())?,
        "CEIL" | "CEILING" => numeric(r, "ceil")?,
        "POW" => numeric(r, "power")?,
        "LOG10" => numeric(r, "log")?,
        "TRUNCATE" => numeric(r, "trunc")?,
        "RAND" if args.is_empty() => "random()".to_string(),
        _ => return refuse("unknown"),
    })
}

fn r_is_bool(r: &Renderer, e: &Expr) -> bool {
    r.expr_is_boolean(e)
}

/// `GROUP_CONCAT([DISTINCT] a[, b…] [ORDER BY …] [SEPARATOR s])` → `string_agg`.
fn group_concat(r: &mut Renderer, args: &[&Expr], distinct: bool, clauses: &[FunctionArgumentClause]) -> R<String> {
    if args.is_empty() {
        return refuse("GROUP_CONCAT()");
    }
    let parts: Vec<String> = args.iter().map(|e| as_text(r, e)).collect::<R<_>>()?;
    let value = if parts.len() == 1 { parts[0].clone() } else { format!("({})", parts.join(" || ")) };
    let mut sep = lit(",");
    let mut order: Option<&[OrderByExpr]> = None;
    for c in clauses {
        match c {
            FunctionArgumentClause::Separator(v) => {
                sep = match &v.value {
                    Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => lit(s),
                    other => return refuse(format!("SEPARATOR {other}")),
                }
            }
            FunctionArgumentClause::OrderBy(o) => order = Some(o),
            other => return refuse(format!("GROUP_CONCAT(… {other})")),
        }
    }
    if !r.schema.server_version.starts_with("MariaDB") {
        r.warn("GROUP_CONCAT is cut at group_concat_max_len (1024 bytes by default on MySQL); string_agg is not");
    }
    let order = match order {
        None => String::new(),
        // With DISTINCT PostgreSQL orders only by the aggregated value itself.
        Some(o) if distinct => {
            let desc = o.first().is_some_and(|x| matches!(x.options.sort, Some(OrderBySort::Desc)));
            let by_itself = args.len() == 1 && o.len() == 1 && &o[0].expr == args[0];
            if !by_itself {
                r.warn("GROUP_CONCAT(DISTINCT … ORDER BY …) orders by the concatenated value in PostgreSQL (it allows no other order with DISTINCT)");
            }
            format!(" ORDER BY {value}{}", if desc { " DESC" } else { "" })
        }
        Some(o) => format!(" ORDER BY {}", o.iter().map(|x| r.order_item(x)).collect::<R<Vec<_>>>()?.join(", ")),
    };
    Ok(format!("string_agg({}{value}, {sep}{order})", if distinct { "DISTINCT " } else { "" }))
}

/// A MySQL `DATE_FORMAT` pattern as a PostgreSQL `to_char` one; an unknown specifier refuses.
pub fn date_format(fmt: &str) -> R<String> {
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            // Letters outside specifiers are literal text in to_char only when quoted.
            if c.is_ascii_alphabetic() {
                out.push('"');
                out.push(c);
                out.push('"');
            } else {
                out.push(c);
            }
            continue;
        }
        let Some(s) = chars.next() else { return refuse("DATE_FORMAT pattern ending in %") };
        out.push_str(match s {
            'Y' => "YYYY",
            'y' => "YY",
            'm' => "MM",
            'c' => "FMMM",
            'd' => "DD",
            'e' => "FMDD",
            'H' => "HH24",
            'k' => "FMHH24",
            'h' | 'I' => "HH12",
            'l' => "FMHH12",
            'i' => "MI",
            's' | 'S' => "SS",
            'f' => "US",
            'p' => "AM",
            'M' => "FMMonth",
            'b' => "Mon",
            'W' => "FMDay",
            'a' => "Dy",
            'j' => "DDD",
            'T' => "HH24:MI:SS",
            'r' => "HH12:MI:SS AM",
            '%' => "%",
            other => return refuse(format!("DATE_FORMAT specifier %{other}")),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_format_patterns_become_to_char_patterns() {
        assert_eq!(date_format("%Y-%m-%d %H:%i:%s").unwrap(), "YYYY-MM-DD HH24:MI:SS");
        assert_eq!(date_format("%d %M %Y at %T").unwrap(), "DD FMMonth YYYY \"a\"\"t\" HH24:MI:SS");
        assert_eq!(date_format("100%%").unwrap(), "100%");
        assert_eq!(date_format("%U").unwrap_err().0, "DATE_FORMAT specifier %U");
    }
}
