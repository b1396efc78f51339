//! The automatic tiled layout: panes arranged in a grid chosen for the session count and the
//! terminal's shape, none smaller than [`MIN_TILE`]; when they do not all fit, pages of
//! tiles. Pure, so it is tested without a terminal.

use ratatui::layout::Rect;

/// Terminal cells are about twice as tall as wide; a pane looks best near this many columns
/// per row of height.
const IDEAL_ASPECT: f64 = 2.6;

/// The smallest tile (columns, rows) that still shows a useful amount of output: smaller
/// tiles go to another page instead.
pub const MIN_TILE: (u16, u16) = (40, 8);

/// One page of tiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Which page (0-based) and how many there are.
    pub page: usize,
    pub pages: usize,
    /// Positions (in display order) of the panes on this page, first to last.
    pub first: usize,
    /// Their rectangles, in order.
    pub rects: Vec<Rect>,
}

/// How many tiles of at least [`MIN_TILE`] fit in `area` (at least one).
pub fn per_page(area: Rect) -> usize {
    let cols = (area.width / MIN_TILE.0).max(1) as usize;
    let rows = (area.height / MIN_TILE.1).max(1) as usize;
    cols * rows
}

/// The page of `count` tiles that holds position `at` (in display order), tiled in `area`.
pub fn page_of(area: Rect, count: usize, at: usize) -> Page {
    let per = per_page(area);
    let pages = count.div_ceil(per).max(1);
    let page = (at / per).min(pages - 1);
    let first = page * per;
    let on_page = count.saturating_sub(first).min(per);
    let limits = (
        (area.width / MIN_TILE.0).max(1) as usize,
        (area.height / MIN_TILE.1).max(1) as usize,
    );
    Page {
        page,
        pages,
        first,
        rects: tile_within(area, on_page, limits),
    }
}

/// Splits `area` into `count` pane rectangles, row by row, in session order. Rows of a grid
/// with empty slots in its last row let that row's panes share the full width.
pub fn tile(area: Rect, count: usize) -> Vec<Rect> {
    tile_within(area, count, (count, count))
}

/// [`tile`] with at most `limits` (columns, rows); `count` must fit in them.
fn tile_within(area: Rect, count: usize, limits: (usize, usize)) -> Vec<Rect> {
    if count == 0 {
        return Vec::new();
    }
    let (cols, rows) = grid_within(area, count, limits);
    let mut rects = Vec::with_capacity(count);
    let heights = split(area.height, rows);
    let mut y = area.y;
    let mut placed = 0;
    for (row, height) in heights.iter().enumerate() {
        let in_row = if row + 1 == rows {
            count - placed
        } else {
            cols
        };
        let widths = split(area.width, in_row);
        let mut x = area.x;
        for width in widths {
            rects.push(Rect::new(x, y, width, *height));
            x = x.saturating_add(width);
        }
        placed += in_row;
        y = y.saturating_add(*height);
    }
    rects
}

/// Columns and rows for `count` panes in `area`.
pub fn grid(area: Rect, count: usize) -> (usize, usize) {
    grid_within(area, count, (count, count))
}

fn grid_within(area: Rect, count: usize, (max_cols, max_rows): (usize, usize)) -> (usize, usize) {
    let (w, h) = (area.width.max(1) as f64, area.height.max(1) as f64);
    let mut best = (1, count, f64::INFINITY);
    for cols in 1..=count.min(max_cols.max(1)) {
        let rows = count.div_ceil(cols);
        if rows > max_rows.max(1) && cols < count.min(max_cols.max(1)) {
            continue;
        }
        let aspect = (w / cols as f64) / (h / rows as f64);
        let empty = (cols * rows - count) as f64;
        let score = (aspect / IDEAL_ASPECT).ln().abs() + empty * 0.35;
        if score < best.2 {
            best = (cols, rows, score);
        }
    }
    (best.0, best.1)
}

/// Splits `total` cells into `parts` sizes that differ by at most one.
fn split(total: u16, parts: usize) -> Vec<u16> {
    let parts = parts.max(1);
    let base = total as usize / parts;
    let extra = total as usize % parts;
    (0..parts)
        .map(|i| (base + usize::from(i < extra)) as u16)
        .collect()
}

/// A `width` x `height` rectangle in the middle of `area` (cut to fit), for pop-ups.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let (width, height) = (width.min(area.width), height.min(area.height));
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

/// The pane index under a position, if any.
pub fn hit(rects: &[Rect], column: u16, row: u16) -> Option<usize> {
    rects.iter().position(|r| {
        column >= r.x
            && column < r.x.saturating_add(r.width)
            && row >= r.y
            && row < r.y.saturating_add(r.height)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covers_exactly(area: Rect, rects: &[Rect]) {
        let total: u32 = rects.iter().map(|r| r.width as u32 * r.height as u32).sum();
        assert_eq!(total, area.width as u32 * area.height as u32);
        for (i, a) in rects.iter().enumerate() {
            for b in &rects[i + 1..] {
                assert!(a.intersection(*b).is_empty(), "{a:?} overlaps {b:?}");
            }
        }
    }

    #[test]
    fn one_pane_takes_everything() {
        let area = Rect::new(0, 0, 120, 40);
        assert_eq!(tile(area, 1), vec![area]);
    }

    #[test]
    fn two_panes_sit_side_by_side_on_a_wide_terminal() {
        let rects = tile(Rect::new(0, 0, 200, 50), 2);
        assert_eq!(rects[0], Rect::new(0, 0, 100, 50));
        assert_eq!(rects[1], Rect::new(100, 0, 100, 50));
        let tall = tile(Rect::new(0, 0, 80, 60), 2);
        assert_eq!(tall[0].width, 80, "a tall terminal stacks them");
    }

    #[test]
    fn five_panes_fill_the_screen_with_no_gap() {
        let area = Rect::new(0, 0, 160, 48);
        let rects = tile(area, 5);
        assert_eq!(rects.len(), 5);
        covers_exactly(area, &rects);
    }

    #[test]
    fn sixteen_panes_make_a_grid() {
        let area = Rect::new(0, 0, 240, 64);
        let rects = tile(area, 16);
        assert_eq!(rects.len(), 16);
        covers_exactly(area, &rects);
        assert_eq!(grid(area, 16), (4, 4));
    }

    #[test]
    fn tiny_and_empty_areas_do_not_panic() {
        for (w, h) in [(1, 1), (0, 0), (3, 1), (1, 7)] {
            for n in [1, 2, 5, 16, 100] {
                let rects = tile(Rect::new(0, 0, w, h), n);
                assert_eq!(rects.len(), n);
                covers_exactly(Rect::new(0, 0, w, h), &rects);
            }
        }
    }

    #[test]
    fn tiles_never_get_smaller_than_the_minimum_and_page_instead() {
        let area = Rect::new(0, 0, 160, 44);
        assert_eq!(per_page(area), 4 * 5);
        let first = page_of(area, 40, 0);
        assert_eq!((first.page, first.pages, first.first), (0, 2, 0));
        assert_eq!(first.rects.len(), 20);
        covers_exactly(area, &first.rects);
        for r in &first.rects {
            assert!(r.width >= MIN_TILE.0 && r.height >= MIN_TILE.1, "{r:?}");
        }
        let second = page_of(area, 40, 27);
        assert_eq!((second.page, second.first, second.rects.len()), (1, 20, 20));
        // A last page with fewer panes uses the whole area for them.
        let last = page_of(area, 41, 40);
        assert_eq!((last.page, last.pages, last.rects.len()), (2, 3, 1));
        assert_eq!(last.rects[0], area);
        // Few panes: one page, tiled as before.
        let few = page_of(Rect::new(0, 0, 240, 64), 16, 3);
        assert_eq!(
            (few.pages, few.rects),
            (1, tile(Rect::new(0, 0, 240, 64), 16))
        );
    }

    #[test]
    fn pages_of_tiny_terminals_hold_one_pane() {
        for (w, h) in [(0, 0), (10, 3), (39, 7)] {
            let page = page_of(Rect::new(0, 0, w, h), 5, 4);
            assert_eq!((page.page, page.pages, page.rects.len()), (4, 5, 1));
        }
        let none = page_of(Rect::new(0, 0, 80, 24), 0, 0);
        assert_eq!((none.pages, none.rects.len()), (1, 0));
    }

    #[test]
    fn hits_find_the_pane_under_the_mouse() {
        let rects = tile(Rect::new(0, 0, 200, 50), 2);
        assert_eq!(hit(&rects, 150, 10), Some(1));
        assert_eq!(hit(&rects, 0, 0), Some(0));
        assert_eq!(hit(&rects, 200, 0), None);
    }
}
