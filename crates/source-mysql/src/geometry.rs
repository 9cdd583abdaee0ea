//! MySQL's internal geometry format into the model's (EWKB), where the reader decodes a value:
//! MySQL stores a 4-byte little-endian SRID followed by WKB; EWKB is WKB with the SRID flag
//! (0x20000000) in the type word and the SRID after it (plain WKB when the SRID is 0), which
//! PostGIS reads as is. Kept by [`to_ewkb`].

#[cfg(test)]
fn to_ewkb_hex(b: &[u8]) -> Result<String, String> {
    Ok(to_ewkb(b)?.iter().map(|x| format!("{x:02x}")).collect())
}

/// MySQL internal geometry → EWKB.
pub fn to_ewkb(b: &[u8]) -> Result<Vec<u8>, String> {
    if b.len() < 9 {
        return Err("geometry value too short".into());
    }
    let srid = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let wkb = &b[4..];
    let little = wkb[0] == 1;
    let ty = if little { u32::from_le_bytes([wkb[1], wkb[2], wkb[3], wkb[4]]) } else { u32::from_be_bytes([wkb[1], wkb[2], wkb[3], wkb[4]]) };
    let mut out = Vec::with_capacity(wkb.len() + 4);
    out.push(wkb[0]);
    if srid == 0 {
        out.extend_from_slice(&wkb[1..]);
    } else {
        let flagged = ty | 0x2000_0000;
        if little {
            out.extend_from_slice(&flagged.to_le_bytes());
            out.extend_from_slice(&srid.to_le_bytes());
        } else {
            out.extend_from_slice(&flagged.to_be_bytes());
            out.extend_from_slice(&srid.to_be_bytes());
        }
        out.extend_from_slice(&wkb[5..]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ewkb_sets_srid_flag_and_srid_zero_stays_plain_wkb() {
        // SRID 4326, little-endian POINT(1 2)
        let mut b = 4326u32.to_le_bytes().to_vec();
        b.push(1);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&1f64.to_le_bytes());
        b.extend_from_slice(&2f64.to_le_bytes());
        let hex = to_ewkb_hex(&b).unwrap();
        assert!(hex.starts_with("0101000020e6100000"), "{hex}");
        b[..4].copy_from_slice(&0u32.to_le_bytes());
        let mut w = vec![1];
        w.extend_from_slice(&1u32.to_le_bytes());
        w.extend_from_slice(&1f64.to_le_bytes());
        w.extend_from_slice(&2f64.to_le_bytes());
        assert_eq!(to_ewkb(&b).unwrap(), w);
        assert!(to_ewkb(&[0, 0, 0]).is_err());
    }
}
