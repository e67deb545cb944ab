//! SQLSTATE codes, as PostgreSQL defines them (Appendix A of its manual).

use serde::{Deserialize, Serialize};

/// A five-character SQLSTATE error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SqlState(pub [u8; 5]);

macro_rules! codes {
    ($($name:ident = $code:literal;)*) => {
        impl SqlState {
            $(
                #[doc = concat!("SQLSTATE `", stringify!($name), "`.")]
                pub const $name: SqlState = SqlState(*$code);
            )*
        }
    };
}

codes! {
    SUCCESSFUL_COMPLETION = b"00000";
    WARNING = b"01000";
    FEATURE_NOT_SUPPORTED = b"0A000";
    INVALID_PARAMETER_VALUE = b"22023";
    DATA_EXCEPTION = b"22000";
    STRING_DATA_RIGHT_TRUNCATION = b"22001";
    NUMERIC_VALUE_OUT_OF_RANGE = b"22003";
    NULL_VALUE_NOT_ALLOWED = b"22004";
    INVALID_DATETIME_FORMAT = b"22007";
    DATETIME_FIELD_OVERFLOW = b"22008";
    DIVISION_BY_ZERO = b"22012";
    INVALID_TEXT_REPRESENTATION = b"22P02";
    INVALID_BINARY_REPRESENTATION = b"22P03";
    CHARACTER_NOT_IN_REPERTOIRE = b"22021";
    INVALID_ESCAPE_SEQUENCE = b"22025";
    INVALID_REGULAR_EXPRESSION = b"2201B";
    INVALID_ROW_COUNT_IN_LIMIT_CLAUSE = b"2201W";
    INVALID_ROW_COUNT_IN_RESULT_OFFSET_CLAUSE = b"2201X";
    CARDINALITY_VIOLATION = b"21000";
    SEQUENCE_GENERATOR_LIMIT_EXCEEDED = b"2200H";
    OBJECT_NOT_IN_PREREQUISITE_STATE = b"55000";
    GENERATED_ALWAYS = b"428C9";
    NOT_NULL_VIOLATION = b"23502";
    UNIQUE_VIOLATION = b"23505";
    CHECK_VIOLATION = b"23514";
    FOREIGN_KEY_VIOLATION = b"23503";
    INVALID_FOREIGN_KEY = b"42830";
    INVALID_CURSOR_STATE = b"24000";
    ACTIVE_SQL_TRANSACTION = b"25001";
    NO_ACTIVE_SQL_TRANSACTION = b"25P01";
    IN_FAILED_SQL_TRANSACTION = b"25P02";
    INVALID_SAVEPOINT_SPECIFICATION = b"3B001";
    READ_ONLY_SQL_TRANSACTION = b"25006";
    INVALID_SQL_STATEMENT_NAME = b"26000";
    INVALID_CURSOR_NAME = b"34000";
    DUPLICATE_CURSOR = b"42P03";
    SYNTAX_ERROR = b"42601";
    INSUFFICIENT_PRIVILEGE = b"42501";
    UNDEFINED_COLUMN = b"42703";
    UNDEFINED_FUNCTION = b"42883";
    UNDEFINED_TABLE = b"42P01";
    UNDEFINED_OBJECT = b"42704";
    UNDEFINED_PARAMETER = b"42P02";
    DUPLICATE_ALIAS = b"42712";
    INVALID_SCHEMA_NAME = b"3F000";
    INVALID_CATALOG_NAME = b"3D000";
    DUPLICATE_SCHEMA = b"42P06";
    RESERVED_NAME = b"42939";
    DUPLICATE_COLUMN = b"42701";
    DUPLICATE_OBJECT = b"42710";
    DUPLICATE_TABLE = b"42P07";
    AMBIGUOUS_COLUMN = b"42702";
    AMBIGUOUS_FUNCTION = b"42725";
    DATATYPE_MISMATCH = b"42804";
    INDETERMINATE_DATATYPE = b"42P18";
    WRONG_OBJECT_TYPE = b"42809";
    GROUPING_ERROR = b"42803";
    INVALID_COLUMN_REFERENCE = b"42P10";
    INVALID_RECURSION = b"42P19";
    WINDOWING_ERROR = b"42P20";
    INVALID_PRECEDING_OR_FOLLOWING_SIZE = b"22013";
    PROGRAM_LIMIT_EXCEEDED = b"54000";
    T_R_SERIALIZATION_FAILURE = b"40001";
    CANNOT_COERCE = b"42846";
    INVALID_TABLE_DEFINITION = b"42P16";
    DEPENDENT_OBJECTS_STILL_EXIST = b"2BP01";
    PROTOCOL_VIOLATION = b"08P01";
    CONNECTION_EXCEPTION = b"08000";
    QUERY_CANCELED = b"57014";
    ADMIN_SHUTDOWN = b"57P01";
    IO_ERROR = b"58030";
    INTERNAL_ERROR = b"XX000";
    INVALID_PARAMETER_STATUS = b"22P04";
    BAD_COPY_FILE_FORMAT = b"22P04";
    CANT_CHANGE_RUNTIME_PARAM = b"55P02";
    UNDEFINED_PARAMETER_NAME = b"42704";
}

impl SqlState {
    /// The code as a `&str`.
    pub fn as_str(&self) -> &str {
        // SQLSTATE codes are ASCII by construction (the constants above).
        std::str::from_utf8(&self.0).unwrap_or("XX000")
    }
}

impl std::fmt::Display for SqlState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
