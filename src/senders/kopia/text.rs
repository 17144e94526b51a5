//! Kopia's plain-text snapshot report: `Path:` blocks of `Key: value` lines.

use super::Block;

pub(super) fn snapshot_blocks(body: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut in_failed_entries = false;
    for line in body.lines() {
        if let Some(path) = line.strip_prefix("Path:") {
            blocks.push(Block {
                path: path.trim().to_owned(),
                ..Block::default()
            });
            in_failed_entries = false;
            continue;
        }
        if line.starts_with("Generated at ") {
            break;
        }
        let Some(block) = blocks.last_mut() else {
            continue;
        };
        let line = line.trim();
        if in_failed_entries {
            if let Some(entry) = line.strip_prefix("- ") {
                block.failed_entries.push(entry.to_owned());
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = Some(value.trim().to_owned());
        match key {
            "Status" => block.status = value,
            "Start" => block.start = value,
            "Duration" => block.duration = value,
            "Size" => block.size = value,
            "Files" => block.files = value,
            "Directories" => block.dirs = value,
            "Error" => block.error = value,
            "Failed Entries" => in_failed_entries = true,
            _ => {}
        }
    }
    blocks
}
