//! Plain-text tables: columns padded to their widest cell, two spaces apart.

/// How a column's cells sit in its width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// A table: an optional header row, then rows of cells.
#[derive(Clone, Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    right: Vec<usize>,
}

const GAP: &str = "  ";

impl Table {
    /// A table whose first row is `header`.
    pub fn new<S: AsRef<str>>(header: &[S]) -> Self {
        Self {
            header: header.iter().map(|h| h.as_ref().to_string()).collect(),
            ..Self::default()
        }
    }

    /// A table without a header row (e.g. `key  value` lines).
    pub fn untitled() -> Self {
        Self::default()
    }

    /// Right-aligns the given columns (numbers).
    pub fn align_right(mut self, columns: &[usize]) -> Self {
        self.right.extend_from_slice(columns);
        self
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether it has no rows (the header aside).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn align(&self, column: usize) -> Align {
        if self.right.contains(&column) {
            Align::Right
        } else {
            Align::Left
        }
    }

    fn all_rows(&self) -> impl Iterator<Item = &Vec<String>> {
        std::iter::once(&self.header)
            .filter(|h| !h.is_empty())
            .chain(self.rows.iter())
    }

    /// The table as lines, each ending in a newline, without trailing spaces.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = Vec::new();
        for row in self.all_rows() {
            for (i, cell) in row.iter().enumerate() {
                let width = cell.chars().count();
                match widths.get_mut(i) {
                    Some(w) => *w = (*w).max(width),
                    None => widths.push(width),
                }
            }
        }
        let mut out = String::new();
        for row in self.all_rows() {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (cell, &width))| match self.align(i) {
                    Align::Left => format!("{cell:<width$}"),
                    Align::Right => format!("{cell:>width$}"),
                })
                .collect();
            out.push_str(cells.join(GAP).trim_end());
            out.push('\n');
        }
        out
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
        assert_eq!(
            table.render(),
            "ID  NAME   SIZE\n\
             0   alpha     5\n\
             12  b      1024\n"
        );
    }

    #[test]
    fn untitled_tables_have_no_header_and_no_trailing_spaces() {
        let mut table = Table::untitled();
        table.row(cells(&["state", "running"]));
        table.row(cells(&["vCPUs", "4", ""]));
        assert_eq!(table.render(), "state  running\nvCPUs  4\n");
        assert!(!table.is_empty());
        assert_eq!(Table::untitled().render(), "");
        assert!(Table::new(&["A"]).is_empty());
    }
}
