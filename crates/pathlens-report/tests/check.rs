//! Comparing a report's JSON with the reference's rows: integers and text
//! exactly, other numbers within a relative 1e-9.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Whether two cell values agree.
pub fn same_value(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Number(a), Value::Number(e)) => {
            if e.is_f64() {
                let (a, e) = (
                    a.as_f64().unwrap_or(f64::NAN),
                    e.as_f64().unwrap_or(f64::NAN),
                );
                (a - e).abs() <= 1e-9 * a.abs().max(e.abs()) + 1e-12
            } else {
                // Integers must come out as the same integer.
                !a.is_f64() && a.as_i128() == e.as_i128()
            }
        }
        _ => actual == expected,
    }
}

fn row_text(row: &Map<String, Value>) -> String {
    serde_json::to_string(row).unwrap_or_default()
}

fn same_row(actual: &Value, expected: &Map<String, Value>) -> Result<(), String> {
    let Some(actual) = actual.as_object() else {
        return Err(format!("row is not an object: {actual}"));
    };
    let mut problems = Vec::new();
    for (key, want) in expected {
        match actual.get(key) {
            None => problems.push(format!("column {key} missing")),
            Some(got) if !same_value(got, want) => {
                problems.push(format!("{key}: got {got}, expected {want}"));
            }
            Some(_) => {}
        }
    }
    for key in actual.keys() {
        if !expected.contains_key(key) {
            problems.push(format!("unexpected column {key}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\n  actual:   {}\n  expected: {}",
            problems.join("; "),
            row_text(actual),
            row_text(expected)
        ))
    }
}

/// Checks the `rows` of `report` against `expected`: by position when `key`
/// is `None`, else as a set of rows identified by the `key` column.
pub fn same_rows(
    report: &Value,
    expected: &[Map<String, Value>],
    key: Option<&str>,
) -> Result<(), String> {
    let rows = report["rows"]
        .as_array()
        .ok_or_else(|| "report has no rows array".to_string())?;
    if rows.len() != expected.len() {
        let keys = |rows: Vec<String>| rows.join(", ");
        let show = |row: &Value| match key {
            Some(key) => row[key].to_string(),
            None => row.to_string(),
        };
        return Err(format!(
            "{} rows, expected {}\n  actual keys:   {}\n  expected keys: {}",
            rows.len(),
            expected.len(),
            keys(rows.iter().map(show).collect()),
            keys(
                expected
                    .iter()
                    .map(|r| show(&Value::Object(r.clone())))
                    .collect()
            )
        ));
    }
    match key {
        None => {
            for (index, (actual, want)) in rows.iter().zip(expected).enumerate() {
                same_row(actual, want).map_err(|e| format!("row {index}: {e}"))?;
            }
        }
        Some(key) => {
            let mut by_key: BTreeMap<String, &Value> = BTreeMap::new();
            for row in rows {
                if by_key.insert(row[key].to_string(), row).is_some() {
                    return Err(format!("two rows with {key} = {}", row[key]));
                }
            }
            for want in expected {
                let id = want[key].to_string();
                let actual = by_key
                    .get(&id)
                    .ok_or_else(|| format!("no row with {key} = {id}"))?;
                same_row(actual, want).map_err(|e| format!("row {key} = {id}: {e}"))?;
            }
        }
    }
    Ok(())
}

/// Checks that rows are in descending order of `column`, nulls last.
pub fn sorted_descending(report: &Value, column: &str) -> Result<(), String> {
    let rows = report["rows"].as_array().cloned().unwrap_or_default();
    for pair in rows.windows(2) {
        let (a, b) = (&pair[0][column], &pair[1][column]);
        let in_order = match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => a >= b,
            (Some(_), None) => true,
            (None, None) => true,
            (None, Some(_)) => false,
        };
        if !in_order {
            return Err(format!(
                "rows not sorted by {column} descending: {a} before {b}"
            ));
        }
    }
    Ok(())
}
