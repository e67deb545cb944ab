//! SQL types ([`ScalarType`]) and relation schemas ([`RelationDesc`]), and
//! their mapping to Arrow types (what DataFusion's planner reasons about) and
//! PostgreSQL type OIDs (what the wire reports).

use datafusion_common::arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
use serde::{Deserialize, Serialize};

/// The SQL type of a value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScalarType {
    /// `boolean`.
    Bool,
    /// `smallint`.
    Int16,
    /// `integer`.
    Int32,
    /// `bigint`.
    Int64,
    /// `real`.
    Float32,
    /// `double precision`.
    Float64,
    /// `numeric(p, s)`; `None` where the type modifier was omitted.
    Numeric {
        /// Total significant digits.
        precision: Option<u8>,
        /// Digits after the decimal point.
        scale: Option<u8>,
    },
    /// `text`.
    Text,
    /// `varchar(n)`.
    VarChar(Option<u32>),
    /// `char(n)` (`bpchar`).
    Char(Option<u32>),
    /// `bytea`.
    Bytea,
    /// `date`.
    Date,
    /// `time(p)`: `p` digits of fractional seconds (0 ..= 6), `None`
    /// where the type modifier was omitted (all six, but reported without
    /// a modifier, as in PostgreSQL).
    Time(Option<u8>),
    /// `timestamp(p)`; `p` as for [`ScalarType::Time`].
    Timestamp(Option<u8>),
    /// `timestamptz(p)`; `p` as for [`ScalarType::Time`].
    TimestampTz(Option<u8>),
    /// `interval [fields] [(p)]`: `interval`, `interval(3)`, `interval
    /// year to month`, `interval day to second(2)`. PostgreSQL keeps both
    /// in the type modifier; a value of the type has nothing below its
    /// last field, and its seconds rounded to `p` digits
    /// (`strconv::apply_typmod`).
    ///
    /// # Invariants
    ///
    /// With fields, a precision only where the last field is `SECOND`, as
    /// PostgreSQL's grammar allows it (checked where the type is read,
    /// `sql::types`).
    Interval {
        /// The fields, `None` for all of them.
        fields: Option<IntervalFields>,
        /// The seconds' precision, as for [`ScalarType::Time`].
        precision: Option<u8>,
    },
    /// `jsonb`.
    Jsonb,
    /// `uuid`.
    Uuid,
    /// A one-dimensional array of the element type (`integer[]`), with
    /// lower bound 1. The element type is never itself an array.
    Array(Box<ScalarType>),
    /// `regtype`: a type's OID (a `Datum::Int64`), written as the type's
    /// name ([`regtype_name`]). It is what `pg_typeof` returns.
    RegType,
    /// `name`: an identifier (a `Datum::String`), as `current_schema()`
    /// returns it.
    Name,
    /// `json`: JSON text kept as written ([`Datum::Json`](super::Datum::Json)).
    /// Last, so that serialized types keep their variant indexes.
    Json,
}

/// The fields an `interval` type names (`interval day to hour`), which
/// PostgreSQL keeps in the type modifier: a literal's number without a unit
/// is the last field, and what lies below the last field is dropped
/// (`strconv::adjust_interval`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IntervalFields {
    /// `YEAR`.
    Year,
    /// `MONTH`.
    Month,
    /// `DAY`.
    Day,
    /// `HOUR`.
    Hour,
    /// `MINUTE`.
    Minute,
    /// `SECOND`.
    Second,
    /// `YEAR TO MONTH`.
    YearToMonth,
    /// `DAY TO HOUR`.
    DayToHour,
    /// `DAY TO MINUTE`.
    DayToMinute,
    /// `DAY TO SECOND`.
    DayToSecond,
    /// `HOUR TO MINUTE`.
    HourToMinute,
    /// `HOUR TO SECOND`.
    HourToSecond,
    /// `MINUTE TO SECOND`.
    MinuteToSecond,
}

impl ScalarType {
    /// `interval`, without fields or precision.
    pub const INTERVAL: ScalarType = ScalarType::Interval {
        fields: None,
        precision: None,
    };
}

impl IntervalFields {
    /// The fields as `format_type` writes them (`day to hour`).
    pub fn name(self) -> &'static str {
        match self {
            IntervalFields::Year => "year",
            IntervalFields::Month => "month",
            IntervalFields::Day => "day",
            IntervalFields::Hour => "hour",
            IntervalFields::Minute => "minute",
            IntervalFields::Second => "second",
            IntervalFields::YearToMonth => "year to month",
            IntervalFields::DayToHour => "day to hour",
            IntervalFields::DayToMinute => "day to minute",
            IntervalFields::DayToSecond => "day to second",
            IntervalFields::HourToMinute => "hour to minute",
            IntervalFields::HourToSecond => "hour to second",
            IntervalFields::MinuteToSecond => "minute to second",
        }
    }
}

/// The Arrow field metadata key that holds a field's exact SQL type.
pub const TYPE_METADATA_KEY: &str = "freshet.type";

/// `json` travels through DataFusion's planner as a dictionary of `Utf8`
/// keyed by `Int16`, told apart from `jsonb`'s (keyed by `Int8`) and from
/// text, as nothing else produces it.
pub fn json_arrow_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int16), Box::new(DataType::Utf8))
}

/// Arrow has no JSON type; `jsonb` travels through DataFusion's planner as
/// a dictionary of `Utf8` keyed by `Int8`, which neither Freshet's types nor
/// DataFusion's functions produce (DataFusion's string functions do produce
/// `LargeUtf8` and `Utf8View`, so those stay text).
pub fn jsonb_arrow_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8))
}

impl ScalarType {
    /// The PostgreSQL name of the type, as `format_type` prints it.
    pub fn name(&self) -> String {
        match self {
            ScalarType::Bool => "boolean".into(),
            ScalarType::Int16 => "smallint".into(),
            ScalarType::Int32 => "integer".into(),
            ScalarType::Int64 => "bigint".into(),
            ScalarType::Float32 => "real".into(),
            ScalarType::Float64 => "double precision".into(),
            ScalarType::Numeric {
                precision: Some(p),
                scale,
            } => {
                format!("numeric({},{})", p, scale.unwrap_or(0))
            }
            ScalarType::Numeric { .. } => "numeric".into(),
            ScalarType::Text => "text".into(),
            ScalarType::VarChar(Some(n)) => format!("character varying({n})"),
            ScalarType::VarChar(None) => "character varying".into(),
            ScalarType::Char(Some(n)) => format!("character({n})"),
            // `bpchar` without a length: unbounded.
            ScalarType::Char(None) => "bpchar".into(),
            ScalarType::Bytea => "bytea".into(),
            ScalarType::Date => "date".into(),
            ScalarType::Time(p) => format!("time{} without time zone", precision_suffix(*p)),
            ScalarType::Timestamp(p) => {
                format!("timestamp{} without time zone", precision_suffix(*p))
            }
            ScalarType::TimestampTz(p) => {
                format!("timestamp{} with time zone", precision_suffix(*p))
            }
            ScalarType::Interval {
                fields: None,
                precision,
            } => format!("interval{}", precision_suffix(*precision)),
            ScalarType::Interval {
                fields: Some(fields),
                precision,
            } => format!("interval {}{}", fields.name(), precision_suffix(*precision)),
            ScalarType::Jsonb => "jsonb".into(),
            ScalarType::Uuid => "uuid".into(),
            ScalarType::Array(elem) => format!("{}[]", elem.name()),
            ScalarType::RegType => "regtype".into(),
            ScalarType::Name => "name".into(),
            ScalarType::Json => "json".into(),
        }
    }

    /// The PostgreSQL type OID.
    pub fn oid(&self) -> u32 {
        match self {
            ScalarType::Bool => 16,
            ScalarType::Int16 => 21,
            ScalarType::Int32 => 23,
            ScalarType::Int64 => 20,
            ScalarType::Float32 => 700,
            ScalarType::Float64 => 701,
            ScalarType::Numeric { .. } => 1700,
            ScalarType::Text => 25,
            ScalarType::VarChar(_) => 1043,
            ScalarType::Char(_) => 1042,
            ScalarType::Bytea => 17,
            ScalarType::Date => 1082,
            ScalarType::Time(_) => 1083,
            ScalarType::Timestamp(_) => 1114,
            ScalarType::TimestampTz(_) => 1184,
            ScalarType::Interval { .. } => 1186,
            ScalarType::Jsonb => 3802,
            ScalarType::Uuid => 2950,
            ScalarType::Array(elem) => elem.array_oid(),
            ScalarType::RegType => 2206,
            ScalarType::Name => 19,
            ScalarType::Json => 114,
        }
    }

    /// The OID of the array type whose elements are of this type
    /// (PostgreSQL's `typarray`): `int4` → `_int4` (1007).
    pub fn array_oid(&self) -> u32 {
        match self {
            ScalarType::Bool => 1000,
            ScalarType::Int16 => 1005,
            ScalarType::Int32 => 1007,
            ScalarType::Int64 => 1016,
            ScalarType::Float32 => 1021,
            ScalarType::Float64 => 1022,
            ScalarType::Numeric { .. } => 1231,
            ScalarType::Text => 1009,
            ScalarType::VarChar(_) => 1015,
            ScalarType::Char(_) => 1014,
            ScalarType::Bytea => 1001,
            ScalarType::Date => 1182,
            ScalarType::Time(_) => 1183,
            ScalarType::Timestamp(_) => 1115,
            ScalarType::TimestampTz(_) => 1185,
            ScalarType::Interval { .. } => 1187,
            ScalarType::Jsonb => 3807,
            ScalarType::Uuid => 2951,
            // Arrays of arrays are multidimensional arrays, whose type is
            // the element's array type again.
            ScalarType::Array(elem) => elem.array_oid(),
            ScalarType::RegType => 2211,
            ScalarType::Name => 1003,
            ScalarType::Json => 199,
        }
    }

    /// The fractional-second precision of a date/time type with a type
    /// modifier (`timestamp(3)` → 3).
    pub fn datetime_precision(&self) -> Option<u8> {
        match self {
            ScalarType::Time(p)
            | ScalarType::Timestamp(p)
            | ScalarType::TimestampTz(p)
            | ScalarType::Interval { precision: p, .. } => *p,
            _ => None,
        }
    }

    /// The type without a date/time precision (`timestamp(3)` →
    /// `timestamp`), as PostgreSQL names types where it leaves out type
    /// modifiers (`pg_typeof`, `information_schema.columns.data_type`).
    pub fn without_modifier(&self) -> ScalarType {
        match self {
            ScalarType::Time(_) => ScalarType::Time(None),
            ScalarType::Timestamp(_) => ScalarType::Timestamp(None),
            ScalarType::TimestampTz(_) => ScalarType::TimestampTz(None),
            ScalarType::Interval { .. } => ScalarType::INTERVAL,
            other => other.clone(),
        }
    }

    /// The element type, if this is an array type.
    pub fn element_type(&self) -> Option<&ScalarType> {
        match self {
            ScalarType::Array(elem) => Some(elem),
            _ => None,
        }
    }

    /// Whether values of this type are strings (`text`, `varchar`, `char`).
    pub fn is_string(&self) -> bool {
        matches!(
            self,
            ScalarType::Text | ScalarType::VarChar(_) | ScalarType::Char(_)
        )
    }

    /// Whether this is one of PostgreSQL's numeric types (the integers,
    /// the floats and `numeric`).
    pub fn is_number(&self) -> bool {
        matches!(
            self,
            ScalarType::Int16
                | ScalarType::Int32
                | ScalarType::Int64
                | ScalarType::Float32
                | ScalarType::Float64
                | ScalarType::Numeric { .. }
        )
    }

    /// The Arrow type DataFusion's planner sees for this type.
    pub fn to_arrow(&self) -> DataType {
        match self {
            ScalarType::Bool => DataType::Boolean,
            ScalarType::Int16 => DataType::Int16,
            ScalarType::Int32 => DataType::Int32,
            ScalarType::Int64 | ScalarType::RegType => DataType::Int64,
            ScalarType::Float32 => DataType::Float32,
            ScalarType::Float64 => DataType::Float64,
            // Arrow's type is a label for DataFusion's planner: values are
            // Freshet's `Numeric`, of any width. A precision past
            // Decimal128's 38 rides in the field's metadata (`to_field`).
            ScalarType::Numeric { precision, scale } => match precision {
                Some(p) if *p <= 38 => DataType::Decimal128(*p, scale.unwrap_or(0) as i8),
                Some(_) => DataType::Decimal128(38, scale.unwrap_or(0).min(38) as i8),
                None => DataType::Decimal128(38, 10),
            },
            ScalarType::Text | ScalarType::VarChar(_) | ScalarType::Char(_) | ScalarType::Name => {
                DataType::Utf8
            }
            ScalarType::Bytea => DataType::Binary,
            ScalarType::Date => DataType::Date32,
            ScalarType::Time(_) => DataType::Time64(TimeUnit::Microsecond),
            ScalarType::Timestamp(_) => DataType::Timestamp(TimeUnit::Microsecond, None),
            ScalarType::TimestampTz(_) => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
            }
            ScalarType::Interval { .. } => DataType::Interval(IntervalUnit::MonthDayNano),
            ScalarType::Jsonb => jsonb_arrow_type(),
            ScalarType::Json => json_arrow_type(),
            ScalarType::Uuid => DataType::FixedSizeBinary(16),
            ScalarType::Array(elem) => {
                DataType::List(std::sync::Arc::new(elem.to_field("item", true)))
            }
        }
    }

    /// An Arrow field of this type. The exact SQL type (with modifiers such
    /// as `varchar(10)`, which Arrow types cannot tell apart) rides along in
    /// the field's metadata, which DataFusion's planner carries through
    /// column references and casts.
    pub fn to_field(
        &self,
        name: &str,
        nullable: bool,
    ) -> datafusion_common::arrow::datatypes::Field {
        // Only where the Arrow type loses information: DataFusion insists
        // on equal metadata across the rows of a VALUES list. A numeric
        // with a type modifier is marked so, because every decimal type
        // DataFusion's coercion derives (`1` and `2.5` unify to
        // `Decimal128(11, 1)`) is PostgreSQL's unconstrained `numeric`,
        // whose values keep their own scale.
        let mut metadata = std::collections::HashMap::new();
        if matches!(
            self,
            ScalarType::VarChar(_)
                | ScalarType::Char(_)
                | ScalarType::RegType
                | ScalarType::Name
                | ScalarType::Time(Some(_))
                | ScalarType::Timestamp(Some(_))
                | ScalarType::TimestampTz(Some(_))
                | ScalarType::Interval {
                    fields: Some(_),
                    ..
                }
                | ScalarType::Interval {
                    precision: Some(_),
                    ..
                }
                | ScalarType::Numeric {
                    precision: Some(_),
                    ..
                }
        ) && let Ok(json) = serde_json::to_string(self)
        {
            metadata.insert(TYPE_METADATA_KEY.to_string(), json);
        }
        datafusion_common::arrow::datatypes::Field::new(name, self.to_arrow(), nullable)
            .with_metadata(metadata)
    }

    /// The SQL type of an Arrow field: the exact type from its metadata when
    /// that still describes the field's Arrow type, else from the Arrow type.
    pub fn from_field(
        field: &datafusion_common::arrow::datatypes::Field,
    ) -> Result<ScalarType, String> {
        if let Some(json) = field.metadata().get(TYPE_METADATA_KEY)
            && let Ok(typ) = serde_json::from_str::<ScalarType>(json)
            && typ.to_arrow() == *field.data_type()
        {
            return Ok(typ);
        }
        ScalarType::from_arrow(field.data_type())
    }

    /// The SQL type for an Arrow type that DataFusion's planner produced
    /// (a decimal type is the unconstrained `numeric`).
    pub fn from_arrow(data_type: &DataType) -> Result<ScalarType, String> {
        Ok(match data_type {
            DataType::Boolean => ScalarType::Bool,
            DataType::Int8 | DataType::Int16 | DataType::UInt8 => ScalarType::Int16,
            DataType::Int32 | DataType::UInt16 => ScalarType::Int32,
            DataType::Int64 | DataType::UInt32 => ScalarType::Int64,
            DataType::UInt64 => ScalarType::Numeric {
                precision: None,
                scale: None,
            },
            DataType::Float16 | DataType::Float32 => ScalarType::Float32,
            DataType::Float64 => ScalarType::Float64,
            DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Decimal256(..) => ScalarType::Numeric {
                // A type modifier is known only from a field's metadata
                // (`from_field`).
                precision: None,
                scale: None,
            },
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => {
                ScalarType::Text
            }
            t if *t == jsonb_arrow_type() => ScalarType::Jsonb,
            t if *t == json_arrow_type() => ScalarType::Json,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => ScalarType::Bytea,
            DataType::FixedSizeBinary(16) => ScalarType::Uuid,
            DataType::Date32 | DataType::Date64 => ScalarType::Date,
            // As for decimals, a precision is known only from a field's
            // metadata.
            DataType::Time32(_) | DataType::Time64(_) => ScalarType::Time(None),
            DataType::Timestamp(_, None) => ScalarType::Timestamp(None),
            DataType::Timestamp(_, Some(_)) => ScalarType::TimestampTz(None),
            DataType::Interval(_) | DataType::Duration(_) => ScalarType::INTERVAL,
            DataType::List(elem) | DataType::LargeList(elem) | DataType::FixedSizeList(elem, _) => {
                let elem = ScalarType::from_field(elem)?;
                if matches!(elem, ScalarType::Array(_)) {
                    return Err("multidimensional arrays are not supported".into());
                }
                ScalarType::Array(Box::new(elem))
            }
            other => return Err(format!("type {other} is not supported")),
        })
    }
}

/// The types [`regtype_name`] names: every base type (whose array types
/// it names too).
const NAMED_TYPES: &[ScalarType] = &[
    ScalarType::Bool,
    ScalarType::Int16,
    ScalarType::Int32,
    ScalarType::Int64,
    ScalarType::Float32,
    ScalarType::Float64,
    ScalarType::Numeric {
        precision: None,
        scale: None,
    },
    ScalarType::Text,
    ScalarType::VarChar(None),
    ScalarType::Char(None),
    ScalarType::Bytea,
    ScalarType::Date,
    ScalarType::Time(None),
    ScalarType::Timestamp(None),
    ScalarType::TimestampTz(None),
    ScalarType::INTERVAL,
    ScalarType::Jsonb,
    ScalarType::Uuid,
    ScalarType::RegType,
    ScalarType::Name,
    ScalarType::Json,
];

/// The OID of PostgreSQL's `unknown`, the type of an untyped literal.
pub const UNKNOWN_OID: i64 = 705;

impl ScalarType {
    /// The type's name as `regtype` writes it: without a type modifier
    /// (`numeric`, `character varying`, `character`, `integer[]`).
    pub fn regtype_name(&self) -> String {
        match self {
            ScalarType::Numeric { .. } => "numeric".into(),
            ScalarType::VarChar(_) => "character varying".into(),
            ScalarType::Char(_) => "character".into(),
            ScalarType::Array(elem) => format!("{}[]", elem.regtype_name()),
            other => other.without_modifier().name(),
        }
    }
}

/// A `regtype`'s text: the name of the type with OID `oid`, `-` for OID 0,
/// or the number where there is no such type, as PostgreSQL writes one.
pub fn regtype_name(oid: i64) -> String {
    if oid == 0 {
        return "-".into();
    }
    if oid == UNKNOWN_OID {
        return "unknown".into();
    }
    for t in NAMED_TYPES {
        if i64::from(t.oid()) == oid {
            return t.regtype_name();
        }
        if i64::from(t.array_oid()) == oid {
            return format!("{}[]", t.regtype_name());
        }
    }
    oid.to_string()
}

/// The OID of the type a `regtype` input names (`integer`, `int4`,
/// `character varying`, `text[]`), if Freshet has it.
pub fn regtype_oid(name: &str) -> Option<i64> {
    let name = name.trim().to_lowercase();
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    if let Some(elem) = name.strip_suffix("[]") {
        let elem = regtype_oid(elem)?;
        return NAMED_TYPES
            .iter()
            .find(|t| i64::from(t.oid()) == elem)
            .map(|t| i64::from(t.array_oid()));
    }
    let alias = match name {
        "int" | "int4" => "integer",
        "int2" => "smallint",
        "int8" => "bigint",
        "float4" => "real",
        "float8" | "float" => "double precision",
        "bool" => "boolean",
        "varchar" => "character varying",
        "char" | "bpchar" => "character",
        "decimal" => "numeric",
        "time" => "time without time zone",
        "timestamp" => "timestamp without time zone",
        "timestamptz" => "timestamp with time zone",
        "unknown" => return Some(UNKNOWN_OID),
        other => other,
    };
    NAMED_TYPES
        .iter()
        .find(|t| t.regtype_name() == alias)
        .map(|t| i64::from(t.oid()))
}

/// The most fractional-second digits a date/time type keeps
/// (PostgreSQL's `MAX_TIMESTAMP_PRECISION`, `MAX_INTERVAL_PRECISION`).
pub const MAX_DATETIME_PRECISION: u8 = 6;

/// `(p)` for a type modifier `p`, nothing without one.
fn precision_suffix(p: Option<u8>) -> String {
    p.map(|p| format!("({p})")).unwrap_or_default()
}

/// One column of a relation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ColumnDesc {
    /// The column name.
    pub name: String,
    /// The column type.
    pub typ: ScalarType,
    /// Whether the column may hold `NULL`.
    pub nullable: bool,
}

/// The schema of a relation: its columns in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct RelationDesc {
    /// The columns.
    pub columns: Vec<ColumnDesc>,
}

impl RelationDesc {
    /// The arity of the relation.
    pub fn arity(&self) -> usize {
        self.columns.len()
    }

    /// The Arrow schema DataFusion plans against.
    pub fn to_arrow_schema(&self) -> datafusion_common::arrow::datatypes::Schema {
        datafusion_common::arrow::datatypes::Schema::new(
            self.columns
                .iter()
                .map(|c| c.typ.to_field(&c.name, c.nullable))
                .collect::<Vec<_>>(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every named type's name reads back as its OID, arrays included, and
    /// the spellings PostgreSQL accepts name the same type.
    #[test]
    fn regtype_names_round_trip() {
        for t in NAMED_TYPES {
            let oid = i64::from(t.oid());
            assert_eq!(regtype_oid(&regtype_name(oid)), Some(oid), "{t:?}");
            let array = i64::from(t.array_oid());
            assert_eq!(regtype_oid(&regtype_name(array)), Some(array), "{t:?}[]");
        }
        assert_eq!(regtype_name(23), "integer");
        assert_eq!(regtype_name(1043), "character varying");
        assert_eq!(regtype_name(1007), "integer[]");
        assert_eq!(regtype_name(UNKNOWN_OID), "unknown");
        assert_eq!(regtype_name(999_999), "999999");
        assert_eq!(regtype_oid("int4"), Some(23));
        assert_eq!(regtype_oid(" pg_catalog.INT8 "), Some(20));
        assert_eq!(regtype_oid("varchar[]"), Some(1015));
        assert_eq!(regtype_oid("no_such_type"), None);
    }

    /// `regtype` and `name` keep their identity through an Arrow field.
    #[test]
    fn regtype_and_name_fields_round_trip() {
        for t in [ScalarType::RegType, ScalarType::Name] {
            assert_eq!(ScalarType::from_field(&t.to_field("x", true)), Ok(t));
        }
    }
}
