//! The text tables of the status commands (`peers`, `tunnels`, `routes`): every column
//! as wide as its widest cell (the title included, also when it is not printed), two
//! spaces between columns, the columns listed in `right_aligned` (counts) aligned
//! right, the others left, and no trailing spaces.

use std::fmt::Write as _;

/// The lines of a table with `titles`, the title line first when `with_titles`.
pub(crate) fn render<const N: usize>(
    titles: [&str; N],
    with_titles: bool,
    rows: &[[String; N]],
    right_aligned: &[usize],
) -> String {
    let mut widths = titles.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; N]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if right_aligned.contains(&i) {
                let _ = write!(text, "{cell:>w$}  ");
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    if with_titles {
        line(titles);
    }
    for row in rows {
        line(row.each_ref().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_take_the_widest_cell_and_counts_align_right() {
        let rows = [
            ["a".to_string(), "1".to_string(), "x".to_string()],
            ["long".to_string(), "1234".to_string(), String::new()],
        ];
        let text = render(["NAME", "N", "NOTE"], true, &rows, &[1]);
        assert_eq!(text, "NAME     N  NOTE\na        1  x\nlong  1234\n");
        let bare = render(["NAME", "N", "NOTE"], false, &rows, &[1]);
        assert_eq!(bare, "a        1  x\nlong  1234\n");
    }
}
