//! Kopia's HTML format (`--format=html`): one table row per snapshot (class
//! `snapshotstatus-<code>`), followed by optional rows for its error and failed entries.
//! Kopia renders it with `text/template`, so nothing is escaped; an HTML5 parser copes.

use scraper::{ElementRef, Html, Selector};

use super::Block;

pub(super) fn looks_like_html(body: &str) -> bool {
    let head = body
        .get(..body.len().min(200))
        .unwrap_or(body)
        .to_ascii_lowercase();
    head.starts_with("<!doctype html") || head.starts_with("<html") || head.starts_with("<p>")
}

pub(super) fn is_snapshot_report(body: &str) -> bool {
    body.contains("snapshotstatus-")
}

pub(super) fn is_generic_error(body: &str) -> bool {
    body.contains("<b>Operation:</b>")
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("the selectors here are valid CSS")
}

fn text_of(element: ElementRef<'_>) -> String {
    element
        .text()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn snapshot_blocks(body: &str) -> Vec<Block> {
    let document = Html::parse_document(body);
    let cells = selector("td");
    let entries = selector("li");
    let mut blocks: Vec<Block> = Vec::new();
    for row in document.select(&selector("tr")) {
        let Some(class) = row.value().attr("class") else {
            continue;
        };
        let Some(status) = class.strip_prefix("snapshotstatus-") else {
            continue;
        };
        let cells: Vec<String> = row.select(&cells).map(text_of).collect();
        if cells.len() >= 6 {
            blocks.push(Block {
                path: cells[0].clone(),
                status: Some(status.to_owned()),
                start: Some(cells[1].clone()),
                duration: Some(cells[2].clone()),
                // "456 B (↑ 56 B)": the delta follows in parentheses, as in the text format.
                size: Some(cells[3].clone()),
                files: Some(cells[4].clone()),
                dirs: Some(cells[5].clone()),
                ..Block::default()
            });
            continue;
        }
        let Some(block) = blocks.last_mut() else {
            continue;
        };
        let text = cells.join(" ");
        if let Some(error) = text.strip_prefix("Error:") {
            block.error = Some(error.trim().to_owned());
        } else if text.starts_with("Failed Entries:") {
            block.failed_entries = row.select(&entries).map(text_of).collect();
        }
    }
    blocks
}

/// The generic-error message's paragraphs as the `Label: value` lines of the text format.
pub(super) fn generic_error_lines(body: &str) -> String {
    let document = Html::parse_document(body);
    document
        .select(&selector("p, pre"))
        .map(text_of)
        .collect::<Vec<_>>()
        .join("\n")
}
