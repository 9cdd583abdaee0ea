//! Decoding pgoutput (protocol version 1) messages: pure functions over bytes.
//!
//! Values arrive in PostgreSQL's text form, which is what the PostgreSQL source reads and
//! writes everywhere, so a change converts exactly like a snapshot row. A TOASTed value an
//! update did not change is not sent ('u'); [`Tuple::fill_unchanged`] takes it from the old
//! image when the table's replica identity is FULL, and otherwise the change is refused with
//! what to do (the engine never writes a guessed value).

use bytes::{Buf, Bytes};

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    /// A TOASTed value the change did not touch (not sent).
    Unchanged,
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tuple(pub Vec<Cell>);

impl Tuple {
    /// Replaces unchanged TOAST cells with the old image's values; false if one stays unknown.
    pub fn fill_unchanged(&mut self, old: Option<&Tuple>) -> bool {
        for (i, c) in self.0.iter_mut().enumerate() {
            if *c == Cell::Unchanged {
                match old.and_then(|o| o.0.get(i)) {
                    Some(v) if *v != Cell::Unchanged => *c = v.clone(),
                    _ => return false,
                }
            }
        }
        true
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RelationColumn {
    pub name: String,
    /// Part of the replica identity (key).
    pub key: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Begin {
        final_lsn: u64,
        time_us: i64,
    },
    Commit {
        end_lsn: u64,
        time_us: i64,
    },
    Relation {
        id: u32,
        namespace: String,
        name: String,
        replica_identity: u8,
        columns: Vec<RelationColumn>,
    },
    Insert {
        relation: u32,
        new: Tuple,
    },
    /// `old`: the key ('K') or the whole old row ('O', replica identity FULL), when sent.
    Update {
        relation: u32,
        old: Option<Tuple>,
        key_only: bool,
        new: Tuple,
    },
    Delete {
        relation: u32,
        old: Tuple,
        key_only: bool,
    },
    Truncate {
        relations: Vec<u32>,
    },
    /// A logical decoding message (`pg_logical_emit_message`): ferry's markers.
    Logical {
        prefix: String,
        content: Vec<u8>,
    },
    /// Type and origin messages: nothing to apply.
    Other,
}

fn err(what: &str) -> String {
    format!("pgoutput: truncated or malformed {what} message")
}

fn cstring(b: &mut Bytes) -> Result<String, String> {
    let end = b.iter().position(|&c| c == 0).ok_or_else(|| err("string"))?;
    let s = String::from_utf8_lossy(&b[..end]).into_owned();
    b.advance(end + 1);
    Ok(s)
}

fn need(b: &Bytes, n: usize, what: &str) -> Result<(), String> {
    if b.remaining() < n {
        Err(err(what))
    } else {
        Ok(())
    }
}

fn tuple(b: &mut Bytes) -> Result<Tuple, String> {
    need(b, 2, "tuple")?;
    let n = b.get_u16() as usize;
    let mut cells = Vec::with_capacity(n);
    for _ in 0..n {
        need(b, 1, "tuple")?;
        match b.get_u8() {
            b'n' => cells.push(Cell::Null),
            b'u' => cells.push(Cell::Unchanged),
            b't' | b'b' => {
                need(b, 4, "tuple")?;
                let len = b.get_u32() as usize;
                need(b, len, "tuple")?;
                let v = b.split_to(len);
                cells.push(Cell::Text(String::from_utf8(v.to_vec()).map_err(|_| "pgoutput: a value is not UTF-8".to_string())?));
            }
            other => return Err(format!("pgoutput: unknown tuple cell kind {other}")),
        }
    }
    Ok(Tuple(cells))
}

/// Decodes one pgoutput message.
pub fn decode(mut b: Bytes) -> Result<Message, String> {
    need(&b, 1, "empty")?;
    let tag = b.get_u8();
    Ok(match tag {
        b'B' => {
            need(&b, 20, "begin")?;
            let final_lsn = b.get_u64();
            let time_us = b.get_i64();
            Message::Begin { final_lsn, time_us }
        }
        b'C' => {
            need(&b, 25, "commit")?;
            let _flags = b.get_u8();
            let _commit_lsn = b.get_u64();
            let end_lsn = b.get_u64();
            let time_us = b.get_i64();
            Message::Commit { end_lsn, time_us }
        }
        b'R' => {
            need(&b, 4, "relation")?;
            let id = b.get_u32();
            let namespace = cstring(&mut b)?;
            let name = cstring(&mut b)?;
            need(&b, 3, "relation")?;
            let replica_identity = b.get_u8();
            let n = b.get_u16() as usize;
            let mut columns = Vec::with_capacity(n);
            for _ in 0..n {
                need(&b, 1, "relation")?;
                let flags = b.get_u8();
                let name = cstring(&mut b)?;
                need(&b, 8, "relation")?;
                let _type_oid = b.get_u32();
                let _typmod = b.get_i32();
                columns.push(RelationColumn { name, key: flags & 1 == 1 });
            }
            Message::Relation { id, namespace, name, replica_identity, columns }
        }
        b'I' => {
            need(&b, 5, "insert")?;
            let relation = b.get_u32();
            let _n = b.get_u8();
            Message::Insert { relation, new: tuple(&mut b)? }
        }
        b'U' => {
            need(&b, 5, "update")?;
            let relation = b.get_u32();
            let mut kind = b.get_u8();
            let mut old = None;
            let mut key_only = false;
            if kind == b'K' || kind == b'O' {
                key_only = kind == b'K';
                old = Some(tuple(&mut b)?);
                need(&b, 1, "update")?;
                kind = b.get_u8();
            }
            if kind != b'N' {
                return Err(err("update"));
            }
            Message::Update { relation, old, key_only, new: tuple(&mut b)? }
        }
        b'D' => {
            need(&b, 5, "delete")?;
            let relation = b.get_u32();
            let kind = b.get_u8();
            Message::Delete { relation, key_only: kind == b'K', old: tuple(&mut b)? }
        }
        b'T' => {
            need(&b, 5, "truncate")?;
            let n = b.get_u32() as usize;
            let _options = b.get_u8();
            need(&b, 4 * n, "truncate")?;
            Message::Truncate { relations: (0..n).map(|_| b.get_u32()).collect() }
        }
        b'M' => {
            need(&b, 9, "message")?;
            let _flags = b.get_u8();
            let _lsn = b.get_u64();
            let prefix = cstring(&mut b)?;
            need(&b, 4, "message")?;
            let len = b.get_u32() as usize;
            need(&b, len, "message")?;
            Message::Logical { prefix, content: b.split_to(len).to_vec() }
        }
        _ => Message::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};

    fn cell(b: &mut BytesMut, v: Option<&str>) {
        match v {
            None => b.put_u8(b'n'),
            Some(s) => {
                b.put_u8(b't');
                b.put_u32(s.len() as u32);
                b.put_slice(s.as_bytes());
            }
        }
    }

    #[test]
    fn relation_insert_update_delete_truncate() {
        let mut r = BytesMut::new();
        r.put_u8(b'R');
        r.put_u32(42);
        r.put_slice(b"app\0person\0");
        r.put_u8(b'f');
        r.put_u16(2);
        r.put_u8(1);
        r.put_slice(b"id\0");
        r.put_u32(20);
        r.put_i32(-1);
        r.put_u8(0);
        r.put_slice(b"name\0");
        r.put_u32(25);
        r.put_i32(-1);
        assert_eq!(
            decode(r.freeze()).unwrap(),
            Message::Relation {
                id: 42,
                namespace: "app".into(),
                name: "person".into(),
                replica_identity: b'f',
                columns: vec![RelationColumn { name: "id".into(), key: true }, RelationColumn { name: "name".into(), key: false }]
            }
        );
        let mut i = BytesMut::new();
        i.put_u8(b'I');
        i.put_u32(42);
        i.put_u8(b'N');
        i.put_u16(2);
        cell(&mut i, Some("1"));
        cell(&mut i, Some("é\"x"));
        assert_eq!(decode(i.freeze()).unwrap(), Message::Insert { relation: 42, new: Tuple(vec![Cell::Text("1".into()), Cell::Text("é\"x".into())]) });
        let mut u = BytesMut::new();
        u.put_u8(b'U');
        u.put_u32(42);
        u.put_u8(b'O');
        u.put_u16(2);
        cell(&mut u, Some("1"));
        cell(&mut u, Some("long"));
        u.put_u8(b'N');
        u.put_u16(2);
        cell(&mut u, Some("2"));
        u.put_u8(b'u');
        let Message::Update { old, mut new, key_only, .. } = decode(u.freeze()).unwrap() else { panic!() };
        assert!(!key_only);
        assert!(new.fill_unchanged(old.as_ref()), "unchanged TOAST comes from the old image");
        assert_eq!(new.0[1], Cell::Text("long".into()));
        let mut missing = Tuple(vec![Cell::Unchanged]);
        assert!(!missing.fill_unchanged(None));
        let mut d = BytesMut::new();
        d.put_u8(b'D');
        d.put_u32(42);
        d.put_u8(b'K');
        d.put_u16(2);
        cell(&mut d, Some("2"));
        cell(&mut d, None);
        assert_eq!(decode(d.freeze()).unwrap(), Message::Delete { relation: 42, key_only: true, old: Tuple(vec![Cell::Text("2".into()), Cell::Null]) });
        let mut t = BytesMut::new();
        t.put_u8(b'T');
        t.put_u32(2);
        t.put_u8(0);
        t.put_u32(42);
        t.put_u32(43);
        assert_eq!(decode(t.freeze()).unwrap(), Message::Truncate { relations: vec![42, 43] });
        assert!(decode(Bytes::from_static(b"I\0\0")).is_err(), "a short message is an error, never a guess");
        let mut m = BytesMut::new();
        m.put_u8(b'M');
        m.put_u8(1);
        m.put_u64(7);
        m.put_slice(b"ferry_caught_up\0");
        m.put_u32(3);
        m.put_slice(b"abc");
        assert_eq!(decode(m.freeze()).unwrap(), Message::Logical { prefix: "ferry_caught_up".into(), content: b"abc".to_vec() });
    }
}
