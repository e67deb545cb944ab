//! A `numeric` in PostgreSQL's binary form, as its raw bytes (`numeric_send` and
//! `numeric_recv`), for tests that check the bytes themselves: the driver's own mapping,
//! `rust_decimal`, holds 28 digits and has no NaN or infinities.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

/// A `numeric` value as PostgreSQL's binary format, byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawNumeric(pub Vec<u8>);

impl ToSql for RawNumeric {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.put_slice(&self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for RawNumeric {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(RawNumeric(raw.to_vec()))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}
