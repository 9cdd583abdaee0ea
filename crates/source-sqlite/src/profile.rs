//! Types by profile, not by name. SQLite's declared type only sets an affinity
//! ([`affinity`], SQLite's own substring rules) and any cell may hold any storage class, so the
//! type a column gets on PostgreSQL is chosen from what it stores: one pass per table reads
//! every cell as stored and counts, per column, the cells of each storage class and measures
//! them ([`Profiler`] → [`Profile`]), and [`choose`] picks the type that holds every stored value, starting from what
//! the declared type intends and widening where the values disagree — never narrowing below
//! what is stored, and always saying why ([`Choice::note`]) when the result is not what the
//! declared type says. Guarantee: every stored cell has a lossless reading in the chosen type
//! (`read::convert` refuses, naming the row, any cell written after the profile that has not).

use ferry_model::{BadText, CellRule, DataType, DateForm, OddCells};

/// SQLite's column affinity, from the declared type (§3.1 of SQLite's datatype page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affinity {
    Integer,
    Text,
    Blob,
    Real,
    Numeric,
}

pub fn affinity(declared: &str) -> Affinity {
    let d = declared.to_ascii_uppercase();
    if d.contains("INT") {
        Affinity::Integer
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        Affinity::Text
    } else if d.contains("BLOB") || d.trim().is_empty() {
        Affinity::Blob
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        Affinity::Real
    } else {
        Affinity::Numeric
    }
}

/// What one column stores, measured over every row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    pub ints: u64,
    pub reals: u64,
    pub texts: u64,
    pub blobs: u64,
    pub int_min: Option<i64>,
    pub int_max: Option<i64>,
    pub real_min: Option<f64>,
    pub real_max: Option<f64>,
    /// Longest text, in characters.
    pub text_max_chars: Option<u64>,
    /// ISO 8601 texts the reader reads as dates (`dates::parse_text`).
    pub iso_texts: u64,
    /// ISO texts longer than a date (a time part).
    pub timed_texts: u64,
    /// ISO texts with a time zone (`Z`, `±HH:MM`).
    pub zoned_texts: u64,
    /// Most fractional-second digits of an ISO text.
    pub frac_digits: u8,
    /// ISO texts whose time of day is not midnight.
    pub non_midnight: u64,
    /// Reals that are not exact at the declared scale (`NUMERIC(10,2)` holding `0.125`).
    pub beyond_scale: u64,
    /// Numbers too large for the declared precision.
    pub beyond_precision: u64,
    /// Texts that are valid JSON.
    pub json_texts: u64,
    /// Texts holding a NUL character or bytes that are not UTF-8.
    pub bad_texts: u64,
    /// The first such row's rowid or key text, for the note.
    pub bad_text_row: Option<String>,
    /// Blobs that are UTF-8 text without NUL (readable as text).
    pub utf8_blobs: u64,
    /// A sample of a text cell in a numeric column (what made it text).
    pub text_sample: Option<String>,
    /// Texts that read as numbers (what a numeric column's reader accepts).
    pub number_texts: u64,
}

impl Profile {
    pub fn non_null(&self) -> u64 {
        self.ints + self.reals + self.texts + self.blobs
    }

    /// The profile of `self`'s rows followed by `later`'s (the first bad row and the sample
    /// stay `self`'s when it has them).
    pub fn merge(self, later: Profile) -> Profile {
        fn opt<T: Copy>(a: Option<T>, b: Option<T>, f: fn(T, T) -> T) -> Option<T> {
            match (a, b) {
                (Some(x), Some(y)) => Some(f(x, y)),
                (x, y) => x.or(y),
            }
        }
        Profile {
            ints: self.ints + later.ints,
            reals: self.reals + later.reals,
            texts: self.texts + later.texts,
            blobs: self.blobs + later.blobs,
            int_min: opt(self.int_min, later.int_min, i64::min),
            int_max: opt(self.int_max, later.int_max, i64::max),
            real_min: opt(self.real_min, later.real_min, f64::min),
            real_max: opt(self.real_max, later.real_max, f64::max),
            text_max_chars: opt(self.text_max_chars, later.text_max_chars, u64::max),
            iso_texts: self.iso_texts + later.iso_texts,
            timed_texts: self.timed_texts + later.timed_texts,
            zoned_texts: self.zoned_texts + later.zoned_texts,
            frac_digits: self.frac_digits.max(later.frac_digits),
            non_midnight: self.non_midnight + later.non_midnight,
            beyond_scale: self.beyond_scale + later.beyond_scale,
            beyond_precision: self.beyond_precision + later.beyond_precision,
            json_texts: self.json_texts + later.json_texts,
            bad_texts: self.bad_texts + later.bad_texts,
            bad_text_row: self.bad_text_row.or(later.bad_text_row),
            utf8_blobs: self.utf8_blobs + later.utf8_blobs,
            text_sample: self.text_sample.or(later.text_sample),
            number_texts: self.number_texts + later.number_texts,
        }
    }
}

/// What the declared type says beyond its affinity.
#[derive(Debug, Clone, PartialEq)]
enum Intent {
    Int {
        bytes: u8,
    },
    Bool,
    Decimal {
        precision: u32,
        scale: u32,
    },
    Double,
    Varchar {
        len: u32,
    },
    Text,
    Blob,
    Date,
    DateTime,
    Json,
    /// No declared type: the values decide.
    Any,
}

fn type_args(declared: &str) -> Vec<u32> {
    declared
        .split_once('(')
        .map(|(_, rest)| rest.trim_end().trim_end_matches(')').split(',').filter_map(|a| a.trim().parse().ok()).collect())
        .unwrap_or_default()
}

fn intent(declared: &str) -> Intent {
    let d = declared.trim().to_ascii_uppercase();
    let base = d.split('(').next().unwrap_or("").trim().to_string();
    let args = type_args(&d);
    match affinity(&d) {
        Affinity::Integer => match base.as_str() {
            "BIGINT" | "INT8" | "UNSIGNED BIG INT" => Intent::Int { bytes: 8 },
            "SMALLINT" | "INT2" | "TINYINT" => Intent::Int { bytes: 2 },
            // INTEGER, INT, MEDIUMINT…: 4 bytes when the values fit (checked by the caller).
            _ => Intent::Int { bytes: 4 },
        },
        Affinity::Text => match (base.as_str(), args.first()) {
            (b, Some(n)) if b.contains("CHAR") => Intent::Varchar { len: *n },
            _ => Intent::Text,
        },
        Affinity::Blob if base.is_empty() => Intent::Any,
        Affinity::Blob => Intent::Blob,
        Affinity::Real => Intent::Double,
        Affinity::Numeric => match base.as_str() {
            "BOOL" | "BOOLEAN" | "BIT" => Intent::Bool,
            "DATE" => Intent::Date,
            "DATETIME" | "TIMESTAMP" | "TIMESTAMPTZ" => Intent::DateTime,
            "JSON" | "JSONB" => Intent::Json,
            "DECIMAL" | "NUMERIC" | "MONEY" if args.len() == 2 && args[0] >= args[1] && args[0] > 0 => Intent::Decimal { precision: args[0], scale: args[1] },
            "DECIMAL" | "NUMERIC" if args.len() == 1 && args[0] > 0 => Intent::Decimal { precision: args[0], scale: 0 },
            _ => Intent::Any,
        },
    }
}

/// The chosen type, how numeric date cells are read, and why the type is not the declared one.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub data_type: DataType,
    pub stored_as: Option<String>,
    pub note: Option<String>,
    /// Cells the type does not hold are set aside (`odd_cells = "quarantine"`): so many.
    pub quarantined: u64,
    /// Text the type cannot hold is replaced (`invalid_text = "replace"`).
    pub replace_bad_text: bool,
}

/// Julian day numbers of 0001-01-01 and 9999-12-31.
const JULIAN_MIN: f64 = 1_721_425.5;
const JULIAN_MAX: f64 = 5_373_484.5;

fn fits(bytes: u8, p: &Profile) -> bool {
    let (lo, hi) = match bytes {
        2 => (i16::MIN as i64, i16::MAX as i64),
        4 => (i32::MIN as i64, i32::MAX as i64),
        _ => (i64::MIN, i64::MAX),
    };
    p.int_min.is_none_or(|m| m >= lo) && p.int_max.is_none_or(|m| m <= hi)
}

fn int_type(bytes: u8) -> DataType {
    DataType::Int { bytes, unsigned: false, display_width: None }
}

/// The type of a column declared `declared` whose cells `p` measured, under the user's `rule`:
/// - `date_form` makes it a date column whose numbers are read in that form;
/// - `invalid_text` other than `bytea` keeps a text column text despite bytes text cannot
///   hold (the reader stops at them, or replaces them and sets the raw cell aside);
/// - `odd_cells = "quarantine"` keeps the declared type: the cells it cannot hold are counted
///   and set aside by the reader instead of widening the type.
pub fn choose(declared: &str, p: &Profile, rule: CellRule) -> Choice {
    let forced = rule.date_form.map(|f| (f, forced_declared(declared)));
    let declared_as = forced.as_ref().map(|(_, d)| d.as_str()).unwrap_or(declared);
    let intent = intent(declared_as);
    let mut p = p.clone();
    let mut notes = Vec::new();
    let mut replace_bad_text = false;
    if p.bad_texts > 0 && rule.bad_text != BadText::Bytea {
        let at = p.bad_text_row.as_deref().map(|r| format!(", first at {r}")).unwrap_or_default();
        if rule.bad_text == BadText::Replace {
            replace_bad_text = true;
            notes.push(format!(
                "{} text cells hold a NUL or bytes that are not UTF-8{at}: each bad sequence becomes U+FFFD, the raw cell kept in ferry.quarantine (invalid_text = \"replace\")",
                p.bad_texts
            ));
        } else {
            notes
                .push(format!("{} text cells hold a NUL or bytes that are not UTF-8{at}: the load stops at the first (invalid_text = \"error\")", p.bad_texts));
        }
        // What remains to decide the type: those cells as if they were text.
        p.bad_texts = 0;
    }
    let mut quarantined = 0;
    if rule.odd_cells == OddCells::Quarantine {
        let (kept, odd) = without_odd(&intent, &p, rule.date_form);
        if odd > 0 {
            let sample = p.text_sample.as_deref().map(|s| format!(" (e.g. '{s}')")).unwrap_or_default();
            quarantined = odd;
            p = kept;
            notes.push(format!(
                "{odd} cells{sample} are not what the declared type holds: NULL on the target, each kept raw in ferry.quarantine (odd_cells = \"quarantine\")"
            ));
        }
    }
    let mut c = match forced {
        Some((form, _)) => forced_dates(form, &intent, &p, declared),
        None => choose_widening(declared, &p),
    };
    c.quarantined = quarantined;
    c.replace_bad_text = replace_bad_text;
    if !notes.is_empty() {
        let shown = if declared.trim().is_empty() { "no declared type".to_string() } else { format!("declared {declared}") };
        let mut all = c.note.take().map(|n| vec![n]).unwrap_or_else(|| vec![format!("{shown} → {}", type_label(&c.data_type))]);
        all.extend(notes);
        c.note = Some(all.join("; "));
    }
    c
}

/// What a column forced to a date form is declared as, for its intent: a date type stays
/// itself, anything else is read as DATETIME.
fn forced_declared(declared: &str) -> String {
    match intent(declared) {
        Intent::Date | Intent::DateTime => declared.to_string(),
        _ => "DATETIME".to_string(),
    }
}

/// A date column whose numbers are read in `form` (`date_form` rule): texts must be ISO 8601,
/// numbers (unless `iso`) are read in the form — what the reader then converts, or refuses.
fn forced_dates(form: DateForm, intent: &Intent, p: &Profile, declared: &str) -> Choice {
    let shown = if declared.trim().is_empty() { "no declared type".to_string() } else { format!("declared {declared}") };
    let numbers = p.ints + p.reals;
    let stored_as = form.stored_as();
    let mut fsp = p.frac_digits.min(6);
    if stored_as.is_some() && numbers > 0 && (p.reals > 0 || form != DateForm::UnixSeconds) {
        fsp = fsp.max(3);
    }
    let instant = p.zoned_texts > 0 || matches!(form, DateForm::UnixSeconds | DateForm::UnixMillis);
    let date_only = *intent == Intent::Date && p.non_midnight == 0 && (numbers == 0 || stored_as.is_none());
    let data_type = date_type(date_only, instant, fsp);
    let mut why = vec![format!("date_form = \"{}\"", form.label())];
    if numbers > 0 && stored_as.is_none() {
        why.push(format!("{numbers} numbers are not ISO 8601 texts and cannot be read"));
    }
    let odd_texts = p.texts - p.iso_texts.min(p.texts);
    if odd_texts > 0 {
        why.push(format!("{odd_texts} texts are not ISO 8601 dates and cannot be read"));
    }
    Choice {
        data_type: data_type.clone(),
        stored_as: stored_as.map(str::to_string),
        note: Some(format!("{shown}, {} → {}", why.join("; "), type_label(&data_type))),
        quarantined: 0,
        replace_bad_text: false,
    }
}

/// A date column's type: `date` when every cell is a day, `timestamptz` when a cell names an
/// instant (a zone, a unix time), else `timestamp`, with `fsp` fractional digits.
fn date_type(date_only: bool, instant: bool, fsp: u8) -> DataType {
    if date_only {
        DataType::Date
    } else if instant {
        DataType::Timestamp { fsp }
    } else {
        DataType::DateTime { fsp }
    }
}

/// `p` without the cells a column of `intent` cannot hold, and how many those are.
fn without_odd(intent: &Intent, p: &Profile, form: Option<DateForm>) -> (Profile, u64) {
    let mut q = p.clone();
    let non_utf8_blobs = p.blobs - p.utf8_blobs.min(p.blobs);
    let odd = match intent {
        Intent::Int { .. } | Intent::Bool => {
            q.texts = 0;
            q.blobs = 0;
            q.reals = 0;
            q.real_min = None;
            q.real_max = None;
            p.texts + p.blobs + p.reals
        }
        Intent::Double => {
            q.texts = 0;
            q.blobs = 0;
            p.texts + p.blobs
        }
        Intent::Decimal { .. } => {
            q.texts = p.number_texts;
            q.blobs = 0;
            (p.texts - p.number_texts.min(p.texts)) + p.blobs
        }
        Intent::Date | Intent::DateTime => {
            let mut odd = (p.texts - p.iso_texts.min(p.texts)) + p.blobs;
            q.texts = p.iso_texts;
            q.blobs = 0;
            if form == Some(DateForm::Iso) {
                odd += p.ints + p.reals;
                q.ints = 0;
                q.reals = 0;
                (q.int_min, q.int_max, q.real_min, q.real_max) = (None, None, None, None);
            }
            odd
        }
        Intent::Json => {
            q.texts = p.json_texts;
            q.json_texts = p.json_texts;
            q.blobs = 0;
            q.ints = 0;
            q.reals = 0;
            (p.texts - p.json_texts.min(p.texts)) + p.blobs + p.ints + p.reals
        }
        Intent::Text | Intent::Varchar { .. } => {
            q.blobs = p.utf8_blobs.min(p.blobs);
            non_utf8_blobs
        }
        Intent::Blob | Intent::Any => 0,
    };
    if odd > 0 && !matches!(intent, Intent::Text | Intent::Varchar { .. }) {
        q.text_sample = None;
    }
    (q, odd)
}

/// The type that holds what `p` found in a column declared `declared`, widening it where the
/// values disagree.
pub fn choose_widening(declared: &str, p: &Profile) -> Choice {
    let plain = |data_type| Choice { data_type, stored_as: None, note: None, quarantined: 0, replace_bad_text: false };
    let noted = |data_type, note: String| Choice { data_type, stored_as: None, note: Some(note), quarantined: 0, replace_bad_text: false };
    let shown = if declared.trim().is_empty() { "no declared type".to_string() } else { format!("declared {declared}") };
    let texts_note = || match &p.text_sample {
        Some(s) => format!("{} texts (e.g. '{s}')", p.texts),
        None => format!("{} texts", p.texts),
    };
    // Text that PostgreSQL text cannot hold: the bytes are kept.
    if p.bad_texts > 0 {
        let at = p.bad_text_row.as_deref().map(|r| format!(", first at {r}")).unwrap_or_default();
        return noted(
            DataType::Blob { max_bytes: u64::MAX },
            format!("{shown}, {} text cells hold a NUL or bytes that are not UTF-8{at} → bytea, so no byte is lost; a type override to text refuses those rows instead", p.bad_texts),
        );
    }
    // Blobs among other values: bytea holds them all (numbers and texts as their text's bytes).
    let non_utf8_blobs = p.blobs - p.utf8_blobs.min(p.blobs);
    let intent = intent(declared);
    if p.blobs > 0 && intent != Intent::Blob && (non_utf8_blobs > 0 || !matches!(intent, Intent::Text | Intent::Varchar { .. } | Intent::Any)) {
        if p.blobs == p.non_null() && intent == Intent::Any {
            return plain(DataType::Blob { max_bytes: u64::MAX });
        }
        return noted(
            DataType::Blob { max_bytes: u64::MAX },
            format!("{shown}, {} cells hold BLOBs → bytea (other cells as the bytes of their text)", p.blobs),
        );
    }
    let numbers = p.ints + p.reals;
    match intent {
        Intent::Blob => {
            if p.blobs < p.non_null() {
                noted(
                    DataType::Blob { max_bytes: u64::MAX },
                    format!("{shown}, {} cells hold text or numbers → bytea, as the bytes of their text", p.non_null() - p.blobs),
                )
            } else {
                plain(DataType::Blob { max_bytes: u64::MAX })
            }
        }
        Intent::Text | Intent::Varchar { .. } | Intent::Any if p.texts + p.blobs == p.non_null() => {
            let blobs = if p.blobs > 0 { format!("; {} UTF-8 BLOBs read as text", p.blobs) } else { String::new() };
            match intent {
                Intent::Varchar { len } => match p.text_max_chars {
                    Some(m) if m > len as u64 => {
                        noted(DataType::Text { max_bytes: u64::MAX }, format!("{shown}, holds values up to {m} characters → text{blobs}"))
                    }
                    _ if p.blobs > 0 => noted(DataType::Varchar { len }, format!("{shown}{blobs}")),
                    _ => plain(DataType::Varchar { len }),
                },
                _ if p.blobs > 0 => noted(DataType::Text { max_bytes: u64::MAX }, format!("{shown}{blobs}")),
                _ => plain(DataType::Text { max_bytes: u64::MAX }),
            }
        }
        _ if p.texts > 0 && matches!(intent, Intent::Date | Intent::DateTime) && p.iso_texts == p.texts => dates(&intent, p, &shown),
        // Texts that are not what the declared type intends: text holds them all.
        _ if p.texts > 0 && !(intent == Intent::Json && p.json_texts == p.texts && numbers == 0) => {
            let why = if numbers > 0 { format!("{shown}, {numbers} numbers and {}", texts_note()) } else { format!("{shown}, {}", texts_note()) };
            noted(DataType::Text { max_bytes: u64::MAX }, format!("{why} → text (numbers as their shortest exact text)"))
        }
        Intent::Json => plain(DataType::Json),
        Intent::Date | Intent::DateTime if numbers > 0 => dates(&intent, p, &shown),
        Intent::Date => plain(DataType::Date),
        Intent::DateTime => plain(DataType::DateTime { fsp: 0 }),
        Intent::Bool => match (p.reals, p.int_min, p.int_max) {
            (0, min, max) if min.is_none_or(|m| m >= 0) && max.is_none_or(|m| m <= 1) => plain(DataType::Bool),
            (0, _, _) => noted(int_type(8), format!("{shown}, holds integers other than 0 and 1 → bigint")),
            _ => noted(DataType::Double { unsigned: false }, format!("{shown}, holds {} non-integer numbers → double precision", p.reals)),
        },
        Intent::Int { bytes } => {
            if p.reals > 0 {
                return noted(DataType::Double { unsigned: false }, format!("{shown}, {} cells hold non-integer numbers → double precision", p.reals));
            }
            let chosen = [bytes, 4, 8].into_iter().filter(|b| *b >= bytes).find(|b| fits(*b, p)).unwrap_or(8);
            if chosen != bytes {
                noted(
                    int_type(chosen),
                    format!(
                        "{shown}, holds values from {} to {} → {}",
                        p.int_min.unwrap_or(0),
                        p.int_max.unwrap_or(0),
                        if chosen == 4 { "integer" } else { "bigint" }
                    ),
                )
            } else {
                plain(int_type(chosen))
            }
        }
        Intent::Decimal { precision, scale } => {
            if p.beyond_scale > 0 || p.beyond_precision > 0 {
                let what = if p.beyond_scale > 0 {
                    format!("{} numbers have more than {scale} decimal places", p.beyond_scale)
                } else {
                    format!("{} numbers exceed {precision} digits", p.beyond_precision)
                };
                if p.reals == 0 {
                    noted(DataType::Decimal { precision: 1001, scale: 0, unsigned: false }, format!("{shown}, {what} → numeric"))
                } else {
                    noted(DataType::Double { unsigned: false }, format!("{shown}, {what} → double precision, which holds each stored REAL exactly"))
                }
            } else {
                plain(DataType::Decimal { precision, scale, unsigned: false })
            }
        }
        Intent::Double => plain(DataType::Double { unsigned: false }),
        Intent::Any | Intent::Text | Intent::Varchar { .. } => {
            // Numbers only (texts were handled above).
            if p.reals == 0 {
                let t = int_type(8);
                if matches!(intent, Intent::Any) {
                    plain(t)
                } else {
                    noted(t, format!("{shown}, holds only integers → bigint"))
                }
            } else if p.int_min.is_some_and(|m| m.unsigned_abs() > 1 << 53) || p.int_max.is_some_and(|m| m.unsigned_abs() > 1 << 53) {
                noted(DataType::Decimal { precision: 1001, scale: 0, unsigned: false }, format!("{shown}, holds integers beyond 2^53 and reals → numeric"))
            } else {
                noted(DataType::Double { unsigned: false }, format!("{shown}, holds {} integers and {} reals → double precision", p.ints, p.reals))
            }
        }
    }
}

/// A date column: ISO texts, and numbers as unix seconds, unix milliseconds or julian days.
fn dates(intent: &Intent, p: &Profile, shown: &str) -> Choice {
    let mut forms = Vec::new();
    let mut stored_as = None;
    let mut fsp = p.frac_digits.min(6);
    let mut instant = p.zoned_texts > 0;
    // Every number a day of years 1 to 9999 as a julian day number (a whole one is stored as
    // an integer by the column's affinity): julian. As unix seconds they would all fall in
    // January to March 1970.
    let julian = |x: f64| (JULIAN_MIN..=JULIAN_MAX).contains(&x);
    let all_julian = [p.int_min.map(|v| v as f64), p.int_max.map(|v| v as f64), p.real_min, p.real_max].into_iter().flatten().all(julian);
    if p.ints + p.reals > 0 && all_julian {
        stored_as = Some("julianday");
        forms.push(format!("{} julian day numbers", p.ints + p.reals));
        fsp = fsp.max(3);
    } else if p.ints + p.reals > 0 {
        let biggest = p.int_min.map(|m| m.unsigned_abs()).max(p.int_max.map(|m| m.unsigned_abs())).unwrap_or(0) as f64;
        let biggest = biggest.max(p.real_min.map(f64::abs).unwrap_or(0.0)).max(p.real_max.map(f64::abs).unwrap_or(0.0));
        instant = true;
        if biggest < 1e11 {
            stored_as = Some("unixepoch");
            forms.push(format!("{} unix times in seconds", p.ints + p.reals));
            if p.reals > 0 {
                // SQLite reads unix times to the millisecond.
                fsp = fsp.max(3);
            }
        } else {
            stored_as = Some("unixepoch-ms");
            forms.push(format!("{} unix times in milliseconds", p.ints + p.reals));
            fsp = fsp.max(3);
        }
    }
    if p.texts > 0 {
        forms.insert(0, format!("{} ISO 8601 texts", p.texts));
    }
    let date_only = *intent == Intent::Date && p.non_midnight == 0 && stored_as.is_none();
    let data_type = date_type(date_only, instant, fsp);
    let mut notes = Vec::new();
    if stored_as.is_some() {
        notes.push(format!("stored as {}", forms.join(" and ")));
    }
    if *intent == Intent::Date && !date_only {
        notes.push(format!("{} values have a time of day", p.non_midnight.max(p.ints + p.reals)));
    }
    if p.zoned_texts > 0 {
        notes.push(format!("{} texts carry a time zone, read as the instant in UTC", p.zoned_texts));
    }
    let note = (!notes.is_empty()).then(|| format!("{shown}, {} → {}", notes.join("; "), type_label(&data_type)));
    Choice { data_type, stored_as: stored_as.map(str::to_string), note, quarantined: 0, replace_bad_text: false }
}

fn type_label(t: &DataType) -> String {
    match t {
        DataType::Date => "date".into(),
        DataType::Timestamp { fsp } => format!("timestamp({fsp}) with time zone"),
        DataType::DateTime { fsp } => format!("timestamp({fsp})"),
        other => format!("{other:?}"),
    }
}

/// Profiles one column from its stored cells, one at a time ([`Profiler::add`]): the cells are
/// read as SQLite stores them (`ValueRef`), so the profile sees exactly what the reader will.
/// Measures only what the declared type's intent needs (date forms for date types, JSON for
/// JSON, scale fits for decimals).
pub struct Profiler {
    intent: Intent,
    p: Profile,
}

impl Profiler {
    pub fn new(declared: &str, rule: CellRule) -> Self {
        let intent = match rule.date_form {
            Some(_) => intent(&forced_declared(declared)),
            None => intent(declared),
        };
        Profiler { intent, p: Profile::default() }
    }

    /// Adds one cell; `row` names its row (called only for the first bad text).
    pub fn add(&mut self, v: rusqlite::types::ValueRef<'_>, row: impl FnOnce() -> String) {
        use rusqlite::types::ValueRef as V;
        let p = &mut self.p;
        let (precision, scale) = match self.intent {
            Intent::Decimal { precision, scale } => (precision as usize, scale as usize),
            _ => (0, 0),
        };
        let too_wide = |int_digits: usize, frac_digits: usize, p: &mut Profile| {
            if precision > 0 {
                if frac_digits > scale {
                    p.beyond_scale += 1;
                } else if int_digits > precision - scale {
                    p.beyond_precision += 1;
                }
            }
        };
        match v {
            V::Null => {}
            V::Integer(i) => {
                p.ints += 1;
                p.int_min = Some(p.int_min.map_or(i, |m| m.min(i)));
                p.int_max = Some(p.int_max.map_or(i, |m| m.max(i)));
                if precision > 0 {
                    let (int, frac) = crate::read::decimal_digits(&i.to_string());
                    too_wide(int, frac, p);
                }
            }
            V::Real(f) => {
                p.reals += 1;
                p.real_min = Some(p.real_min.map_or(f, |m| m.min(f)));
                p.real_max = Some(p.real_max.map_or(f, |m| m.max(f)));
                if precision > 0 {
                    let (int, frac) = crate::read::decimal_digits(&crate::read::real_text(f));
                    too_wide(int, frac, p);
                }
            }
            V::Text(b) => {
                p.texts += 1;
                let Some(text) = std::str::from_utf8(b).ok().filter(|t| !t.contains('\0')) else {
                    p.bad_texts += 1;
                    if p.bad_text_row.is_none() {
                        p.bad_text_row = Some(row());
                    }
                    return;
                };
                let chars = b.iter().filter(|x| (**x & 0xC0) != 0x80).count() as u64;
                p.text_max_chars = Some(p.text_max_chars.map_or(chars, |m| m.max(chars)));
                let date = matches!(self.intent, Intent::Date | Intent::DateTime);
                let iso = date.then(|| crate::dates::parse_text_zoned(text)).flatten();
                if let Some((d, zoned)) = iso {
                    p.iso_texts += 1;
                    p.timed_texts += (text.trim().len() > 10) as u64;
                    p.zoned_texts += zoned as u64;
                    p.frac_digits = p.frac_digits.max(crate::dates::fraction_digits(text));
                    p.non_midnight += (d.hour != 0 || d.minute != 0 || d.second != 0 || d.micros != 0) as u64;
                } else if matches!(self.intent, Intent::Decimal { .. }) && crate::read::is_number(text) {
                    p.number_texts += 1;
                } else if !matches!(self.intent, Intent::Text | Intent::Varchar { .. } | Intent::Blob) && p.text_sample.is_none() {
                    p.text_sample = Some(text.chars().take(20).collect());
                }
                if self.intent == Intent::Json && serde_json::from_str::<serde_json::Value>(text).is_ok() {
                    p.json_texts += 1;
                }
            }
            V::Blob(b) => {
                p.blobs += 1;
                if std::str::from_utf8(b).is_ok_and(|t| !t.contains('\0')) {
                    p.utf8_blobs += 1;
                }
            }
        }
    }

    pub fn finish(self) -> Profile {
        self.p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(declared: &str, p: &Profile) -> Choice {
        choose(declared, p, CellRule::default())
    }

    fn ints(min: i64, max: i64) -> Profile {
        Profile { ints: 10, int_min: Some(min), int_max: Some(max), ..Default::default() }
    }

    #[test]
    fn parts_merge_into_the_profile_of_one_pass() {
        let cells: Vec<rusqlite::types::Value> = vec![1.into(), "x".to_string().into(), 7.into(), 2.5.into(), "yy".to_string().into(), (-3).into()];
        let run = |cells: &[rusqlite::types::Value]| {
            let mut p = Profiler::new("INTEGER", CellRule::default());
            for c in cells {
                p.add(c.into(), || "row".into());
            }
            p.finish()
        };
        let whole = run(&cells);
        assert_eq!(run(&cells[..2]).merge(run(&cells[2..])), whole);
        assert_eq!(whole.text_sample.as_deref(), Some("x"));
        assert_eq!((whole.int_min, whole.int_max, whole.reals, whole.texts), (Some(-3), Some(7), 1, 2));
    }

    #[test]
    fn affinity_follows_sqlites_substring_rules() {
        assert_eq!(affinity("INTEGER"), Affinity::Integer);
        assert_eq!(affinity("BIGINT UNSIGNED"), Affinity::Integer);
        assert_eq!(affinity("POINT"), Affinity::Integer, "contains INT, as SQLite reads it");
        assert_eq!(affinity("NVARCHAR(160)"), Affinity::Text);
        assert_eq!(affinity("CLOB"), Affinity::Text);
        assert_eq!(affinity(""), Affinity::Blob);
        assert_eq!(affinity("DOUBLE PRECISION"), Affinity::Real);
        assert_eq!(affinity("FLOATING POINT"), Affinity::Integer, "INT wins over FLOA");
        assert_eq!(affinity("DECIMAL(10,2)"), Affinity::Numeric);
        assert_eq!(affinity("DATETIME"), Affinity::Numeric);
    }

    #[test]
    fn integers_get_the_smallest_type_that_holds_them() {
        assert_eq!(pick("INTEGER", &ints(1, 3503)).data_type, int_type(4));
        let c = pick("INTEGER", &ints(1, 5_000_000_000));
        assert_eq!(c.data_type, int_type(8));
        assert!(c.note.unwrap().contains("5000000000"));
        assert_eq!(pick("SMALLINT", &ints(0, 70000)).data_type, int_type(4));
        assert_eq!(pick("BIGINT", &ints(0, 1)).data_type, int_type(8));
    }

    #[test]
    fn text_in_an_integer_column_widens_it_to_text_and_says_so() {
        let p = Profile { texts: 1, text_sample: Some("toto".into()), ..ints(1, 9) };
        let c = pick("INTEGER", &p);
        assert_eq!(c.data_type, DataType::Text { max_bytes: u64::MAX });
        let note = c.note.unwrap();
        assert!(note.contains("'toto'") && note.contains("→ text"), "{note}");
    }

    #[test]
    fn an_overlong_varchar_becomes_text() {
        let p = Profile { texts: 5, text_max_chars: Some(40), ..Default::default() };
        let c = pick("VARCHAR(20)", &p);
        assert_eq!(c.data_type, DataType::Text { max_bytes: u64::MAX });
        assert!(c.note.unwrap().contains("up to 40 characters"));
        let p = Profile { texts: 5, text_max_chars: Some(20), ..Default::default() };
        assert_eq!(
            pick("NVARCHAR(20)", &p),
            Choice { data_type: DataType::Varchar { len: 20 }, stored_as: None, note: None, quarantined: 0, replace_bad_text: false }
        );
    }

    #[test]
    fn decimals_keep_their_scale_only_when_every_value_fits_it() {
        let p = Profile { reals: 3, ints: 1, ..Default::default() };
        assert_eq!(pick("NUMERIC(10,2)", &p).data_type, DataType::Decimal { precision: 10, scale: 2, unsigned: false });
        let p = Profile { reals: 3, beyond_scale: 1, ..Default::default() };
        assert_eq!(pick("NUMERIC(10,2)", &p).data_type, DataType::Double { unsigned: false });
    }

    #[test]
    fn dates_are_recognised_in_each_form() {
        let iso = Profile { texts: 4, iso_texts: 4, timed_texts: 4, ..Default::default() };
        assert_eq!(pick("DATETIME", &iso).data_type, DataType::DateTime { fsp: 0 });
        assert_eq!(pick("DATETIME", &iso).note, None);
        let day = Profile { texts: 4, iso_texts: 4, ..Default::default() };
        assert_eq!(pick("DATE", &day).data_type, DataType::Date);
        let secs = pick("DATETIME", &ints(0, 1_700_000_000));
        assert_eq!((secs.data_type, secs.stored_as.as_deref()), (DataType::Timestamp { fsp: 0 }, Some("unixepoch")));
        let ms = pick("TIMESTAMP", &ints(0, 1_700_000_000_000));
        assert_eq!((ms.data_type, ms.stored_as.as_deref()), (DataType::Timestamp { fsp: 3 }, Some("unixepoch-ms")));
        let jd = Profile { reals: 2, real_min: Some(2_451_545.0), real_max: Some(2_460_000.25), ..Default::default() };
        let jd = pick("DATE", &jd);
        assert_eq!((jd.data_type, jd.stored_as.as_deref()), (DataType::DateTime { fsp: 3 }, Some("julianday")));
        let junk = Profile { texts: 2, iso_texts: 1, text_sample: Some("yesterday".into()), ..Default::default() };
        assert_eq!(pick("DATE", &junk).data_type, DataType::Text { max_bytes: u64::MAX });
    }

    #[test]
    fn bytes_text_cannot_hold_become_bytea_with_their_row() {
        let p = Profile { texts: 3, bad_texts: 1, bad_text_row: Some("rowid 7".into()), ..Default::default() };
        let c = pick("TEXT", &p);
        assert_eq!(c.data_type, DataType::Blob { max_bytes: u64::MAX });
        assert!(c.note.unwrap().contains("rowid 7"));
    }

    #[test]
    fn untyped_columns_take_the_type_of_their_values() {
        assert_eq!(pick("", &ints(1, 2)).data_type, int_type(8));
        assert_eq!(pick("", &Profile { ints: 1, reals: 1, ..Default::default() }).data_type, DataType::Double { unsigned: false });
        assert_eq!(pick("", &Profile { texts: 1, ints: 1, ..Default::default() }).data_type, DataType::Text { max_bytes: u64::MAX });
        assert_eq!(pick("", &Profile { blobs: 2, ..Default::default() }).data_type, DataType::Blob { max_bytes: u64::MAX });
        assert_eq!(pick("BOOLEAN", &ints(0, 1)).data_type, DataType::Bool);
        assert_eq!(pick("BOOLEAN", &ints(0, 2)).data_type, int_type(8));
    }

    fn ruled(odd_cells: OddCells, bad_text: BadText, date_form: Option<DateForm>) -> CellRule {
        CellRule { odd_cells, bad_text, date_form, read_as_text: false, keep_offset: false, read_as_json: false }
    }

    #[test]
    fn quarantine_keeps_the_declared_type_and_counts_the_odd_cells() {
        let p = Profile { texts: 2, text_sample: Some("toto".into()), ..ints(1, 9) };
        let c = choose("INTEGER", &p, ruled(OddCells::Quarantine, BadText::Bytea, None));
        assert_eq!((c.data_type.clone(), c.quarantined), (int_type(4), 2));
        let note = c.note.unwrap();
        assert!(note.contains("2 cells (e.g. 'toto')") && note.contains("ferry.quarantine"), "{note}");
        // Nothing odd: nothing counted, nothing said.
        let c = choose("INTEGER", &ints(1, 9), ruled(OddCells::Quarantine, BadText::Bytea, None));
        assert_eq!((c.quarantined, c.note), (0, None));
    }

    #[test]
    fn bad_text_stays_text_under_replace_and_error() {
        let p = Profile { texts: 3, bad_texts: 1, bad_text_row: Some("rowid 7".into()), ..Default::default() };
        let c = choose("TEXT", &p, ruled(OddCells::Widen, BadText::Replace, None));
        assert_eq!((c.data_type.clone(), c.replace_bad_text), (DataType::Text { max_bytes: u64::MAX }, true));
        assert!(c.note.unwrap().contains("U+FFFD"));
        let c = choose("TEXT", &p, ruled(OddCells::Widen, BadText::Error, None));
        assert_eq!((c.data_type.clone(), c.replace_bad_text), (DataType::Text { max_bytes: u64::MAX }, false));
        assert!(c.note.unwrap().contains("stops at the first"));
    }

    #[test]
    fn a_forced_date_form_reads_an_integer_column_as_dates() {
        let c = choose("INTEGER", &ints(0, 1_700_000_000), ruled(OddCells::Widen, BadText::Bytea, Some(DateForm::UnixSeconds)));
        assert_eq!((c.data_type, c.stored_as.as_deref()), (DataType::Timestamp { fsp: 0 }, Some("unixepoch")));
        // Without the rule the same numbers are integers: the profile alone cannot tell.
        assert_eq!(pick("INTEGER", &ints(0, 1_700_000_000)).data_type, int_type(4));
        let ms = choose("INTEGER", &ints(0, 1_700_000_000_000), ruled(OddCells::Widen, BadText::Bytea, Some(DateForm::UnixMillis)));
        assert_eq!((ms.data_type, ms.stored_as.as_deref()), (DataType::Timestamp { fsp: 3 }, Some("unixepoch-ms")));
        // `iso` with numbers: said, and under quarantine the numbers are the odd cells.
        let mixed = Profile { texts: 2, iso_texts: 2, timed_texts: 2, ..ints(86400, 86400) };
        let c = choose("DATETIME", &mixed, ruled(OddCells::Widen, BadText::Bytea, Some(DateForm::Iso)));
        assert!(c.note.unwrap().contains("numbers are not ISO 8601"));
        let c = choose("DATETIME", &mixed, ruled(OddCells::Quarantine, BadText::Bytea, Some(DateForm::Iso)));
        assert_eq!((c.data_type, c.stored_as, c.quarantined), (DataType::DateTime { fsp: 0 }, None, 10));
    }
}
