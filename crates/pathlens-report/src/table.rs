//! Reports as tables: named, typed columns and rows of JSON values, rendered
//! as JSON objects or RFC 4180 CSV with the same columns.

use serde_json::{Map, Value};

/// How a column's values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    Text,
    Integer,
    Number,
    /// A share between 0 and 1.
    Ratio,
}

/// One column of a report: the key of its values in each row, a label to
/// show, and how its values read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Column {
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: ColumnType,
    /// A metric that a comparison repeats for the other period, with its change.
    #[serde(skip)]
    pub compared: bool,
}

impl Column {
    pub fn text(key: &str, label: &str) -> Column {
        Column {
            key: key.into(),
            label: label.into(),
            kind: ColumnType::Text,
            compared: false,
        }
    }

    pub fn metric(key: &str, label: &str, kind: ColumnType) -> Column {
        Column {
            key: key.into(),
            label: label.into(),
            kind,
            compared: true,
        }
    }

    /// A number that describes a row rather than measures it (a level).
    pub fn attribute(key: &str, label: &str, kind: ColumnType) -> Column {
        Column {
            key: key.into(),
            label: label.into(),
            kind,
            compared: false,
        }
    }
}

/// Columns and rows; each row has one value per column.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

/// How rows of two periods are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Row i with row i (time buckets).
    Position,
    /// Rows with the same value in the first column (node id, user id…).
    FirstColumn,
}

impl Table {
    pub fn column_index(&self, key: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.key == key)
    }

    /// Adds, after each compared column, `<key>_previous` and `<key>_change`
    /// (relative change, null when the previous value is 0 and the current
    /// is not).
    pub fn with_comparison(self, previous: &Table, matching: Match) -> Table {
        let mut columns = Vec::new();
        for column in &self.columns {
            columns.push(column.clone());
            if column.compared {
                columns.push(Column::attribute(
                    &format!("{}_previous", column.key),
                    &format!("{} (previous)", column.label),
                    column.kind,
                ));
                columns.push(Column::attribute(
                    &format!("{}_change", column.key),
                    &format!("{} (change)", column.label),
                    ColumnType::Ratio,
                ));
            }
        }
        let by_key: std::collections::HashMap<String, &Vec<Value>> = previous
            .rows
            .iter()
            .filter_map(|r| r.first().map(|k| (k.to_string(), r)))
            .collect();
        let rows = self
            .rows
            .iter()
            .enumerate()
            .map(|(position, row)| {
                let other = match matching {
                    Match::Position => previous.rows.get(position),
                    Match::FirstColumn => row
                        .first()
                        .map(Value::to_string)
                        .and_then(|key| by_key.get(&key).copied()),
                };
                let mut joined = Vec::with_capacity(columns.len());
                for (index, column) in self.columns.iter().enumerate() {
                    joined.push(row[index].clone());
                    if column.compared {
                        // A row the previous period does not have had
                        // nothing then; a row it has keeps its value, null
                        // included (a rate over no plays).
                        let before = match other {
                            Some(r) => r[index].clone(),
                            None if matching == Match::FirstColumn => Value::from(0),
                            None => Value::Null,
                        };
                        joined.push(change(&row[index], &before));
                        joined.insert(joined.len() - 1, before);
                    }
                }
                joined
            })
            .collect();
        Table { columns, rows }
    }

    /// The rows as JSON objects keyed by column.
    pub fn json_rows(&self) -> Vec<Map<String, Value>> {
        self.rows
            .iter()
            .map(|row| {
                self.columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| (c.key.clone(), v.clone()))
                    .collect()
            })
            .collect()
    }

    /// RFC 4180 CSV: a header row of column keys, then the rows.
    pub fn to_csv(&self) -> String {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        let header: Vec<&str> = self.columns.iter().map(|c| c.key.as_str()).collect();
        // Writing to a Vec cannot fail.
        let _ = writer.write_record(&header);
        for row in &self.rows {
            let _ = writer.write_record(row.iter().map(cell_text));
        }
        String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    /// Sorts rows by a column (nulls last), then keeps one page.
    pub fn sort_and_page(
        &mut self,
        column: usize,
        descending: bool,
        page: usize,
        page_size: usize,
    ) {
        self.rows
            .sort_by(|a, b| match (a[column].is_null(), b[column].is_null()) {
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ => {
                    let ordering = compare_values(&a[column], &b[column]);
                    if descending {
                        ordering.reverse()
                    } else {
                        ordering
                    }
                }
            });
        let start = page
            .saturating_sub(1)
            .saturating_mul(page_size)
            .min(self.rows.len());
        let end = start.saturating_add(page_size).min(self.rows.len());
        self.rows = self.rows[start..end].to_vec();
    }
}

fn change(current: &Value, previous: &Value) -> Value {
    match (current.as_f64(), previous.as_f64()) {
        (Some(now), Some(before)) if before != 0.0 => Value::from((now - before) / before),
        (Some(0.0), Some(_)) => Value::from(0.0),
        _ => Value::Null,
    }
}

fn compare_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Value::String(x), Value::String(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(rows: Vec<Vec<Value>>) -> Table {
        Table {
            columns: vec![
                Column::text("id", "Id"),
                Column::metric("plays", "Plays", ColumnType::Integer),
            ],
            rows,
        }
    }

    #[test]
    fn csv_quotes_per_rfc_4180() {
        let csv = table(vec![
            vec![json!("a,\"b\""), json!(3)],
            vec![json!("c"), Value::Null],
        ])
        .to_csv();
        assert_eq!(csv, "id,plays\r\n\"a,\"\"b\"\"\",3\r\nc,\r\n");
    }

    #[test]
    fn comparison_adds_previous_and_change() {
        let current = table(vec![
            vec![json!("a"), json!(15)],
            vec![json!("b"), json!(4)],
        ]);
        let previous = table(vec![vec![json!("a"), json!(10)]]);
        let joined = current.with_comparison(&previous, Match::FirstColumn);
        let keys: Vec<&str> = joined.columns.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["id", "plays", "plays_previous", "plays_change"]);
        assert_eq!(
            joined.rows[0],
            vec![json!("a"), json!(15), json!(10), json!(0.5)]
        );
        assert_eq!(
            joined.rows[1],
            vec![json!("b"), json!(4), json!(0), Value::Null]
        );
    }

    #[test]
    fn sorting_puts_nulls_last_and_pages() {
        let mut rows = table(vec![
            vec![json!("a"), json!(1)],
            vec![json!("b"), Value::Null],
            vec![json!("c"), json!(5)],
        ]);
        rows.sort_and_page(1, true, 1, 2);
        assert_eq!(
            rows.rows,
            vec![vec![json!("c"), json!(5)], vec![json!("a"), json!(1)]]
        );
    }
}
