//! Plain-text tables for the terminal.
//!
//! Rates print as percentages (changes with their sign), counts as they are,
//! other numbers with one decimal. A table wider than the terminal (its
//! `COLUMNS`, else 100 characters) is printed one row at a time instead,
//! one line per figure; with a comparison, each figure's line holds its
//! value, the previous period's and the change.

use serde_json::Value;

/// How a column's values print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text or whole numbers, as they are.
    Plain,
    /// A share (0.418 → 41.8 %); a change column shows its sign.
    Ratio,
    /// A measure, with one decimal.
    Number,
}

impl Kind {
    /// The kind of a report column's `type`.
    pub fn of(name: &str) -> Kind {
        match name {
            "ratio" => Kind::Ratio,
            "number" => Kind::Number,
            _ => Kind::Plain,
        }
    }
}

/// One column: the row key, its header, how it prints.
#[derive(Debug, Clone)]
pub struct Column {
    pub key: String,
    pub label: String,
    pub kind: Kind,
}

impl Column {
    pub fn plain(key: &str, label: &str) -> Column {
        Column {
            key: key.to_string(),
            label: label.to_string(),
            kind: Kind::Plain,
        }
    }
}

/// The width tables must fit.
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&w: &usize| w >= 40)
        .unwrap_or(100)
}

/// Renders `rows` (JSON objects) under `columns`.
pub fn render(columns: &[Column], rows: &[Value]) -> String {
    render_within(columns, rows, terminal_width())
}

fn render_within(columns: &[Column], rows: &[Value], width: usize) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|c| cell(c, row)).collect())
        .collect();
    let headers: Vec<String> = columns.iter().map(|c| c.label.clone()).collect();
    let fits = |table: &String| table.lines().all(|line| line.chars().count() <= width);
    let table = aligned(&headers, &cells);
    if fits(&table) {
        return table;
    }
    // Headers of several words on two lines; then several rows as tables
    // of a few columns each (the first column repeated), one row as a line
    // per figure.
    let table = aligned_two_line(&headers, &cells);
    if fits(&table) {
        return table;
    }
    if rows.len() > 1
        && let Some(parts) = in_parts(&headers, &cells, width)
    {
        return parts;
    }
    vertical(columns, rows)
}

/// The table as several tables, each of the first column and as many of
/// the next as fit `width`; `None` when even one column beside the first
/// does not fit.
fn in_parts(headers: &[String], cells: &[Vec<String>], width: usize) -> Option<String> {
    let pick = |indexes: &[usize]| -> String {
        let headers: Vec<String> = indexes.iter().map(|&i| headers[i].clone()).collect();
        let cells: Vec<Vec<String>> = cells
            .iter()
            .map(|row| indexes.iter().map(|&i| row[i].clone()).collect())
            .collect();
        aligned_two_line(&headers, &cells)
    };
    let fits = |table: &String| table.lines().all(|line| line.chars().count() <= width);
    let mut parts = Vec::new();
    let mut group = vec![0];
    for index in 1..headers.len() {
        let mut wider = group.clone();
        wider.push(index);
        if fits(&pick(&wider)) {
            group = wider;
        } else if group.len() > 1 {
            parts.push(pick(&group));
            group = vec![0, index];
            if !fits(&pick(&group)) {
                return None;
            }
        } else {
            return None;
        }
    }
    parts.push(pick(&group));
    Some(parts.join("\n"))
}

/// A header split at the space nearest its middle (unchanged without one).
fn halves(header: &str) -> (String, String) {
    let middle = header.chars().count() / 2;
    let split = header
        .char_indices()
        .filter(|(_, c)| *c == ' ')
        .map(|(i, _)| i)
        .min_by_key(|i| i.abs_diff(middle));
    match split {
        Some(i) => (header[..i].to_string(), header[i + 1..].to_string()),
        None => (header.to_string(), String::new()),
    }
}

/// As [`aligned`], with each header on two lines.
fn aligned_two_line(headers: &[String], cells: &[Vec<String>]) -> String {
    let (first, second): (Vec<String>, Vec<String>) = headers.iter().map(|h| halves(h)).unzip();
    if second.iter().all(String::is_empty) {
        return aligned(headers, cells);
    }
    let mut rows = vec![second];
    rows.extend(cells.iter().cloned());
    let table = aligned(&first, &rows);
    // `aligned` put the rule under the first line: move it under the second.
    let mut lines: Vec<&str> = table.lines().collect();
    if lines.len() >= 3 {
        lines.swap(1, 2);
    }
    lines.join("\n") + "\n"
}

/// Columns padded to their widest cell, two spaces apart.
fn aligned(headers: &[String], cells: &[Vec<String>]) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, header)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([header.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: &[String]| -> String {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(headers)];
    out.push(line(
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    ));
    for row in cells {
        out.push(line(row));
    }
    out.join("\n") + "\n"
}

/// One block per row: a line per figure, with its previous value and change
/// beside it when the report compares.
fn vertical(columns: &[Column], rows: &[Value]) -> String {
    let find = |key: &str| columns.iter().find(|c| c.key == key);
    let compares = columns.iter().any(|c| c.key.ends_with("_previous"));
    let mut out = String::new();
    for (index, row) in rows.iter().enumerate() {
        if rows.len() > 1 {
            out += &format!("— row {} of {} —\n", index + 1, rows.len());
        }
        let mut lines = Vec::new();
        for column in columns {
            if column.key.ends_with("_previous") || column.key.ends_with("_change") {
                continue;
            }
            let mut line = vec![column.label.clone(), cell(column, row)];
            if compares {
                for suffix in ["_previous", "_change"] {
                    let key = format!("{}{suffix}", column.key);
                    line.push(find(&key).map_or(String::new(), |c| cell(c, row)));
                }
            }
            lines.push(line);
        }
        let headers: &[&str] = if compares {
            &["figure", "value", "previous", "change"]
        } else {
            &["figure", "value"]
        };
        let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        out += &aligned(&headers, &lines);
        if index + 1 < rows.len() {
            out += "\n";
        }
    }
    out
}

/// The cell of `column` in `row`. A change against a previous value of 0
/// is "new", or "—" when the value stayed 0.
fn cell(column: &Column, row: &Value) -> String {
    let value = &row[&column.key];
    if let Some(base) = column.key.strip_suffix("_change")
        && row[format!("{base}_previous")].as_f64() == Some(0.0)
    {
        return if value.as_f64() == Some(0.0) || value.is_null() && row[base].as_f64() == Some(0.0)
        {
            "—".into()
        } else {
            "new".into()
        };
    }
    match value {
        Value::Null => "—".into(),
        Value::String(text) => instant(text).unwrap_or_else(|| text.clone()),
        Value::Number(number) => match (column.kind, number.as_f64()) {
            (Kind::Ratio, Some(share)) if column.key.ends_with("_change") => {
                format!("{:+.1} %", share * 100.0)
            }
            (Kind::Ratio, Some(share)) => format!("{:.1} %", share * 100.0),
            (Kind::Number, Some(measure)) => format!("{measure:.1}"),
            (Kind::Plain, Some(float)) if number.is_f64() => format!("{float:.3}"),
            _ => number.to_string(),
        },
        other => other.to_string(),
    }
}

/// An RFC 3339 instant to the minute (`2026-01-01 00:00`, with its offset
/// unless it is UTC); `None` for any other text.
fn instant(text: &str) -> Option<String> {
    let at = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    Some(if at.offset().local_minus_utc() == 0 {
        at.format("%Y-%m-%d %H:%M").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M%:z").to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn column(key: &str, label: &str, kind: Kind) -> Column {
        Column {
            key: key.into(),
            label: label.into(),
            kind,
        }
    }

    #[test]
    fn rates_are_percentages_and_changes_carry_their_sign() {
        let columns = [
            column("completion", "Completion", Kind::Ratio),
            column("completion_change", "Completion (change)", Kind::Ratio),
            column("minutes", "Minutes", Kind::Number),
        ];
        let text = render_within(
            &columns,
            &[json!({"completion": 0.418, "completion_change": -0.05, "minutes": 12.345})],
            100,
        );
        assert!(text.contains("41.8 %"), "{text}");
        assert!(text.contains("-5.0 %"), "{text}");
        assert!(text.contains("12.3"), "{text}");
    }

    #[test]
    fn a_wide_comparison_turns_into_one_line_per_figure() {
        let mut columns = Vec::new();
        let mut row = serde_json::Map::new();
        for name in [
            "impressions",
            "plays",
            "unique_viewers",
            "minutes_viewed",
            "sessions",
        ] {
            columns.push(column(name, &format!("Player {name}"), Kind::Plain));
            columns.push(column(
                &format!("{name}_previous"),
                &format!("Player {name} (previous)"),
                Kind::Plain,
            ));
            columns.push(column(
                &format!("{name}_change"),
                &format!("Player {name} (change)"),
                Kind::Ratio,
            ));
            row.insert(name.into(), json!(120));
            row.insert(format!("{name}_previous"), json!(100));
            row.insert(format!("{name}_change"), json!(0.2));
        }
        let text = render_within(&columns, &[Value::Object(row)], 100);
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
        let plays = text
            .lines()
            .find(|l| l.starts_with("Player plays"))
            .expect("a line for plays");
        assert!(
            plays.contains("120") && plays.contains("100") && plays.contains("+20.0 %"),
            "{plays}"
        );
        assert_eq!(text.lines().next().unwrap().split_whitespace().count(), 4);
    }

    #[test]
    fn long_headers_go_on_two_lines_before_the_table_turns() {
        let columns: Vec<Column> = (0..6)
            .map(|i| {
                column(
                    &format!("k{i}"),
                    &format!("Quite Long Header {i}"),
                    Kind::Plain,
                )
            })
            .collect();
        let row: serde_json::Map<String, Value> =
            (0..6).map(|i| (format!("k{i}"), json!(i))).collect();
        let text = render_within(&columns, &[Value::Object(row)], 80);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{text}");
        assert!(lines[0].starts_with("Quite Long"), "{text}");
        assert!(lines[1].starts_with("Header 0"), "{text}");
        assert!(lines[2].starts_with("---"), "{text}");
        assert_eq!(lines.len(), 4, "{text}");
    }

    #[test]
    fn a_wide_table_of_several_rows_comes_in_parts_that_fit() {
        let columns: Vec<Column> = (0..8)
            .map(|i| column(&format!("k{i}"), &format!("Header{i}"), Kind::Plain))
            .collect();
        let rows: Vec<Value> = (0..3)
            .map(|r| {
                Value::Object(
                    (0..8)
                        .map(|i| (format!("k{i}"), json!(format!("value-{r}-{i}-xxxxxxxx"))))
                        .collect(),
                )
            })
            .collect();
        let text = render_within(&columns, &rows, 60);
        assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");
        // Every part starts with the first column, and every column shows.
        let parts: Vec<&str> = text.split("\n\n").collect();
        assert!(parts.len() > 1, "{text}");
        assert!(parts.iter().all(|p| p.starts_with("Header0")), "{text}");
        for i in 0..8 {
            assert!(text.contains(&format!("Header{i}")), "{text}");
        }
    }

    #[test]
    fn changes_from_zero_are_new_or_nothing() {
        let columns = [
            column("plays", "Plays", Kind::Plain),
            column("plays_previous", "Plays (previous)", Kind::Plain),
            column("plays_change", "Plays (change)", Kind::Ratio),
        ];
        let rows = [
            json!({"plays": 0, "plays_previous": 0, "plays_change": 0.0}),
            json!({"plays": 5, "plays_previous": 0, "plays_change": null}),
            json!({"plays": 5, "plays_previous": 4, "plays_change": 0.25}),
        ];
        let text = render_within(&columns, &rows, 100);
        let changes: Vec<&str> = text
            .lines()
            .skip(2)
            .map(|l| l.split_whitespace().last().unwrap())
            .collect();
        assert_eq!(changes, ["—", "new", "%"], "{text}");
        assert!(text.contains("+25.0 %"), "{text}");
    }

    #[test]
    fn instants_print_to_the_minute() {
        let columns = [
            column("at", "At", Kind::Plain),
            column("local", "Local", Kind::Plain),
        ];
        let text = render_within(
            &columns,
            &[json!({"at": "2026-01-01T00:00:00+00:00", "local": "2026-03-29T03:00:00+02:00"})],
            100,
        );
        assert!(
            text.contains("2026-01-01 00:00  2026-03-29 03:00+02:00"),
            "{text}"
        );
    }

    #[test]
    fn a_narrow_table_stays_a_table() {
        let columns = [
            column("id", "Id", Kind::Plain),
            column("n", "N", Kind::Plain),
        ];
        let text = render_within(&columns, &[json!({"id": "a", "n": 1})], 100);
        assert_eq!(text, "Id  N\n--  -\na   1\n");
    }
}
