//! Plain-text tables drawn by comfy-table: no borders, columns padded to their widest cell
//! and two spaces apart, no trailing spaces.

use comfy_table::{presets::NOTHING, CellAlignment, ContentArrangement};

/// Spaces after each column (the last one's are trimmed).
const GAP: u16 = 2;

/// A table: an optional header row, then rows of cells; some columns right-aligned.
#[derive(Debug)]
pub struct Table {
    inner: comfy_table::Table,
    right: Vec<usize>,
}

impl Table {
    /// A table whose first row is `header`.
    pub fn new<S: AsRef<str>>(header: &[S]) -> Self {
        let mut table = Self::untitled();
        table
            .inner
            .set_header(header.iter().map(|h| h.as_ref().to_string()));
        table
    }

    /// A table without a header row (e.g. `key  value` lines).
    pub fn untitled() -> Self {
        let mut inner = comfy_table::Table::new();
        inner
            .load_preset(NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled);
        Self {
            inner,
            right: Vec::new(),
        }
    }

    /// Right-aligns the given columns (numbers).
    pub fn align_right(mut self, columns: &[usize]) -> Self {
        self.right.extend_from_slice(columns);
        self
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.inner.add_row(cells);
    }

    /// Whether it has no rows (the header aside).
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The table as lines, each ending in a newline, without trailing spaces.
    pub fn render(mut self) -> String {
        for (i, column) in self.inner.column_iter_mut().enumerate() {
            column.set_padding((0, GAP));
            if self.right.contains(&i) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        self.inner
            .lines()
            .map(|line| format!("{}\n", line.trim_end()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut table = Table::new(&["ID", "NAME", "SIZE"]).align_right(&[2]);
        table.row(cells(&["0", "alpha", "5"]));
        table.row(cells(&["12", "b", "1024"]));
        table.row(cells(&["7", "ünï", "33"]));
        assert_eq!(
            table.render(),
            "ID  NAME   SIZE\n\
             0   alpha     5\n\
             12  b      1024\n\
             7   ünï      33\n"
        );
    }

    #[test]
    fn untitled_tables_have_no_header_and_no_trailing_spaces() {
        let mut table = Table::untitled();
        table.row(cells(&["state", "running"]));
        table.row(cells(&["vCPUs", "4", ""]));
        assert!(!table.is_empty());
        assert_eq!(table.render(), "state  running\nvCPUs  4\n");
        assert_eq!(Table::untitled().render(), "");
        let header_only = Table::new(&["A", "B"]);
        assert!(header_only.is_empty());
        assert_eq!(header_only.render(), "A  B\n");
    }
}
