//! A row as a JSON object: each column under its selected name, converted by its PostgreSQL
//! type. Bodies that are their row (alerts, thresholds, zones) are written once as a column
//! list, so a new column is one edit to the SELECT.

use chrono::{DateTime, Utc};
use postgres::types::Type;
use postgres::Row;
use serde_json::{Map, Value};

use crate::params::rfc3339;

/// Every column of `row`, `null` where SQL has NULL.
pub(crate) fn row_json(row: &Row) -> Map<String, Value> {
    row.columns()
        .iter()
        .enumerate()
        .map(|(i, column)| (column.name().to_owned(), cell(row, i, column.type_())))
        .collect()
}

fn cell(row: &Row, i: usize, ty: &Type) -> Value {
    match *ty {
        Type::BOOL => row.get::<_, Option<bool>>(i).into(),
        Type::INT2 => row.get::<_, Option<i16>>(i).into(),
        Type::INT4 => row.get::<_, Option<i32>>(i).into(),
        Type::INT8 => row.get::<_, Option<i64>>(i).into(),
        Type::FLOAT4 => row.get::<_, Option<f32>>(i).into(),
        Type::FLOAT8 => row.get::<_, Option<f64>>(i).into(),
        Type::TIMESTAMPTZ => row.get::<_, Option<DateTime<Utc>>>(i).map(rfc3339).into(),
        Type::JSON | Type::JSONB => row.get::<_, Option<Value>>(i).unwrap_or(Value::Null),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => row.get::<_, Option<Vec<String>>>(i).into(),
        _ => match row.try_get::<_, Option<String>>(i) {
            Ok(text) => text.into(),
            Err(error) => {
                log::warn!("row_json_unsupported_column type={ty} error={error}");
                Value::Null
            }
        },
    }
}
