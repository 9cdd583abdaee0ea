//! Text in MySQL's legacy character sets, decoded by ferry from the stored bytes.
//!
//! Asking the server to convert (`SET NAMES utf8mb4`) substitutes `?` for every character its
//! conversion table lacks (a `gbk` 0xA380 arrives as `?`), silently — and verify, reading the
//! same conversion on the source side, would call it equal. So columns in a charset that
//! [`decoder`] names are read as their stored bytes (`CAST(col AS BINARY)`, see
//! [`select_expr`]) and decoded here with `encoding_rs` (the WHATWG tables), strictly: a byte
//! sequence with no Unicode mapping is an error naming table, column and key
//! ([`decode`]), never a replacement character. The binlog carries the same stored bytes and
//! goes through the same [`decode`]. `utf8*`, `ascii` and `binary` need no decoding; `latin1`
//! (MySQL's is Windows-1252, all 256 bytes mapped) is decoded here too, from the binlog.
//! A charset ferry has no table for is read as bytes too and accepted only where plain
//! ([`decode_column`]); anything else is an error naming the key. Verify's
//! source side ([`verify_text_expr`]) checks, per value, that the server's UTF-8 text converts
//! back to the stored bytes, and otherwise yields a text no target value can equal (the stored
//! bytes in hex), so a lossy conversion shows as a difference, never as EQUAL.

use encoding_rs::Encoding;

/// How text of a column in character set `cs` reaches ferry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    /// Already UTF-8 (or plain ASCII / bytes).
    Utf8,
    /// Stored bytes decoded by ferry.
    Legacy(&'static Encoding),
    /// No decoder in ferry: the server converts (lossy where its table lacks a character).
    Server,
}

/// The decoder for MySQL character set `cs` (as `information_schema` names it).
pub fn decoder(cs: &str) -> Decoder {
    use encoding_rs::{
        BIG5, EUC_JP, EUC_KR, GB18030, GBK, IBM866, ISO_8859_13, ISO_8859_2, ISO_8859_7, ISO_8859_8, KOI8_R, KOI8_U, MACINTOSH, SHIFT_JIS, UTF_16BE, UTF_16LE,
        WINDOWS_1250, WINDOWS_1251, WINDOWS_1252, WINDOWS_1254, WINDOWS_1256, WINDOWS_1257, WINDOWS_874,
    };
    let enc: &'static Encoding = match cs.to_ascii_lowercase().as_str() {
        c if c.starts_with("utf8") || c == "ascii" || c == "binary" => return Decoder::Utf8,
        "latin1" => WINDOWS_1252,
        "gbk" | "gb2312" => GBK,
        "gb18030" => GB18030,
        "big5" => BIG5,
        "sjis" | "cp932" => SHIFT_JIS,
        "ujis" | "eucjpms" => EUC_JP,
        "euckr" => EUC_KR,
        "cp1250" => WINDOWS_1250,
        "cp1251" => WINDOWS_1251,
        "cp1256" => WINDOWS_1256,
        "cp1257" => WINDOWS_1257,
        "latin2" => ISO_8859_2,
        "latin5" => WINDOWS_1254,
        "latin7" => ISO_8859_13,
        "greek" => ISO_8859_7,
        "hebrew" => ISO_8859_8,
        "koi8r" => KOI8_R,
        "koi8u" => KOI8_U,
        "cp866" => IBM866,
        "macroman" => MACINTOSH,
        "tis620" => WINDOWS_874,
        "ucs2" | "utf16" => UTF_16BE,
        "utf16le" => UTF_16LE,
        _ => return Decoder::Server,
    };
    Decoder::Legacy(enc)
}

/// The snapshot reader reads this column's stored bytes and ferry decodes them
/// ([`decode_column`]): every charset except UTF-8 and latin1 (whose server conversion is exact
/// and cheaper) — those ferry has a table for, and those it has none for (refused unless plain).
pub fn read_raw(cs: Option<&str>) -> bool {
    match cs.map(decoder) {
        Some(Decoder::Legacy(e)) => e != encoding_rs::WINDOWS_1252,
        Some(Decoder::Server) => true,
        _ => false,
    }
}

/// Stored bytes of a column in charset `cs` as text: decoded strictly by ferry's table, or, for a
/// charset ferry has no table for, accepted only when every byte is plain ASCII outside the
/// positions 7-bit national sets redefine (`@[\]^\`{|}~`), else an error saying what to do.
pub fn decode_column(cs: &str, b: &[u8]) -> Result<String, String> {
    match decoder(cs) {
        Decoder::Utf8 => String::from_utf8(b.to_vec()).map_err(|e| format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to())),
        Decoder::Legacy(enc) => decode(enc, b),
        Decoder::Server => {
            let plain = |c: &u8| matches!(c, b'\t' | b'\n' | b'\r') || ((0x20..0x7f).contains(c) && !b"@[\\]^`{|}~".contains(c));
            match b.iter().position(|c| !plain(c)) {
                None => Ok(String::from_utf8(b.to_vec()).expect("ASCII")),
                Some(at) => Err(format!(
                    "byte 0x{:02X} at offset {at} in character set {cs}, which ferry has no decoding table for (the server's conversion could substitute '?'): convert the column to utf8mb4 on the source, or override its type to bytea",
                    b[at]
                )),
            }
        }
    }
}

/// What the snapshot reader selects for a text column.
pub fn select_expr(quoted: &str, cs: Option<&str>) -> String {
    if read_raw(cs) {
        format!("CAST({quoted} AS BINARY)")
    } else {
        quoted.to_string()
    }
}

/// Verify's canonical text of a text column in MySQL SQL: the server's UTF-8 conversion where
/// it converts back to exactly the stored bytes, else a marker with the stored bytes.
pub fn verify_text_expr(quoted: &str, cs: Option<&str>) -> String {
    let plain = format!("CONVERT({quoted} USING utf8mb4)");
    match cs {
        Some(cs) if !matches!(decoder(cs), Decoder::Utf8) && !cs.eq_ignore_ascii_case("latin1") && cs.chars().all(|c| c.is_ascii_alphanumeric()) => format!(
            "IF(CAST(CONVERT({plain} USING {cs}) AS BINARY) = CAST({quoted} AS BINARY), {plain}, CONCAT('stored bytes the server cannot convert: ', HEX({quoted})))"
        ),
        _ => plain,
    }
}

/// Decodes stored bytes strictly; Err says which bytes have no Unicode mapping.
pub fn decode(enc: &'static Encoding, b: &[u8]) -> Result<String, String> {
    match enc.decode_without_bom_handling_and_without_replacement(b) {
        Some(s) => Ok(s.into_owned()),
        None => {
            // Find the first bad sequence for the message.
            let (text, _) = enc.decode_without_bom_handling(b);
            let at = text.find('\u{fffd}').map(|i| enc.encode(&text[..i]).0.len()).unwrap_or(0);
            let bad: String = b[at..b.len().min(at + 4)].iter().map(|x| format!("{x:02X}")).collect();
            Err(format!(
                "bytes 0x{bad} at offset {at} have no Unicode character in {}: fix the data, or override the column type to bytea to keep the bytes",
                enc.name()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_text_is_decoded_strictly() {
        let Decoder::Legacy(gbk) = decoder("gbk") else { panic!() };
        assert_eq!(decode(gbk, &[0xC4, 0xE3, 0xBA, 0xC3]).unwrap(), "你好");
        // 0xA380, which MySQL's gbk table lacks, is U+E5C5 in the WHATWG (GB18030) table: kept,
        // reversibly, instead of the server's '?'.
        assert_eq!(decode(gbk, &[0x41, 0xA3, 0x80]).unwrap(), "A\u{e5c5}");
        // A lone lead byte has no character at all.
        assert!(decode(gbk, &[0x41, 0xC4]).unwrap_err().contains("0xC4 at offset 1"));
        let Decoder::Legacy(l1) = decoder("latin1") else { panic!() };
        assert_eq!(decode(l1, b"caf\xe9 \x80").unwrap(), "café €");
        assert_eq!(decoder("utf8mb4"), Decoder::Utf8);
        assert_eq!(decoder("armscii8"), Decoder::Server);
        assert_eq!(decode_column("armscii8", b"plain text").unwrap(), "plain text");
        assert!(decode_column("armscii8", &[0x41, 0xB2]).unwrap_err().contains("0xB2 at offset 1"));
        assert!(decode_column("swe7", b"a[b").is_err(), "7-bit national positions are not plain");
        assert_eq!(select_expr("`t`", Some("gbk")), "CAST(`t` AS BINARY)");
        assert_eq!(select_expr("`t`", Some("latin1")), "`t`");
    }
}
