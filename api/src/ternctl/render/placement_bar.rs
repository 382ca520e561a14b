//! The bar showing how a guest node's resident pages split between host nodes: one character
//! per host node (its number: `0`-`9`, then `a`-`z`), `?` for pages whose node is unknown.

/// Cells in a bar (5% each).
pub const BAR_WIDTH: usize = 20;
/// The character for resident pages whose host node the kernel would not tell.
pub const UNKNOWN_SYMBOL: char = '?';
/// The character filling the bar of a guest node with nothing resident.
pub const EMPTY_SYMBOL: char = '.';

/// The character for host node `node`: `0`-`9`, `a`-`z` for 10-35, `#` beyond.
pub fn node_symbol(node: u32) -> char {
    char::from_digit(node, 36).unwrap_or('#')
}

/// A share of the bar: its character and the pages it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// What it is drawn with.
    pub symbol: char,
    /// How many pages.
    pub pages: u64,
}

/// How many of `width` cells each count gets: in proportion, rounded so they add up to
/// `width` (largest remainders first), and at least one for every non-zero count (taken
/// from the widest) so that no share vanishes. All zero when every count is.
pub fn cells(pages: &[u64], width: usize) -> Vec<usize> {
    let total: u128 = pages.iter().map(|&p| u128::from(p)).sum();
    if total == 0 {
        return vec![0; pages.len()];
    }
    let scaled = |p: u64| u128::from(p) * width as u128;
    let mut cells: Vec<usize> = pages
        .iter()
        .map(|&p| usize::try_from(scaled(p) / total).unwrap_or(width))
        .collect();
    let mut by_remainder: Vec<usize> = (0..pages.len()).collect();
    by_remainder.sort_by_key(|&i| std::cmp::Reverse(scaled(pages[i]) % total));
    let short = width.saturating_sub(cells.iter().sum());
    for &i in by_remainder.iter().take(short) {
        cells[i] += 1;
    }
    for i in 0..pages.len() {
        if pages[i] > 0 && cells[i] == 0 {
            let widest = (0..cells.len())
                .filter(|&j| cells[j] > 1)
                .max_by_key(|&j| cells[j]);
            if let Some(widest) = widest {
                cells[widest] -= 1;
                cells[i] += 1;
            }
        }
    }
    cells
}

/// `[00000000000000001111]`: the segments in order, `width` cells between brackets; all
/// [`EMPTY_SYMBOL`] when no segment has pages.
pub fn bar(segments: &[Segment], width: usize) -> String {
    let pages: Vec<u64> = segments.iter().map(|s| s.pages).collect();
    let mut inside: String = segments
        .iter()
        .zip(cells(&pages, width))
        .flat_map(|(s, n)| std::iter::repeat_n(s.symbol, n))
        .collect();
    if inside.is_empty() {
        inside = std::iter::repeat_n(EMPTY_SYMBOL, width).collect();
    }
    format!("[{inside}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(symbol: char, pages: u64) -> Segment {
        Segment { symbol, pages }
    }

    #[test]
    fn every_host_node_has_its_own_character() {
        let symbols: String = [0, 1, 9, 10, 35, 36].into_iter().map(node_symbol).collect();
        assert_eq!(symbols, "019az#");
    }

    #[test]
    fn cells_are_proportional_and_fill_the_width() {
        assert_eq!(cells(&[5, 1], 24), vec![20, 4]);
        assert_eq!(cells(&[1, 1, 1], 20), vec![7, 7, 6]);
        assert_eq!(cells(&[0, 7], 20), vec![0, 20]);
        assert_eq!(cells(&[0, 0], 20), vec![0, 0]);
        assert_eq!(cells(&[u64::MAX, u64::MAX], 20), vec![10, 10]);
    }

    #[test]
    fn a_tiny_share_still_gets_a_cell() {
        assert_eq!(cells(&[1000, 1], 20), vec![19, 1]);
        assert_eq!(cells(&[1000, 1, 1, 1], 20), vec![17, 1, 1, 1]);
    }

    #[test]
    fn bars_draw_each_share_with_its_character() {
        let bar = |segments: &[Segment]| bar(segments, BAR_WIDTH);
        assert_eq!(
            bar(&[segment('0', 500), segment('1', 100)]),
            "[00000000000000000111]"
        );
        assert_eq!(
            bar(&[
                segment('0', 1),
                segment('1', 1),
                segment('2', 1),
                segment('3', 1)
            ]),
            "[00000111112222233333]"
        );
        assert_eq!(
            bar(&[segment('1', 90), segment(UNKNOWN_SYMBOL, 10)]),
            "[111111111111111111??]"
        );
        assert_eq!(bar(&[segment('0', 0)]), "[....................]");
        assert_eq!(bar(&[]), "[....................]");
    }
}
