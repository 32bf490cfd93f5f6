//! Page-table geometry: levels and entries per table, as a model's parameters.

crate::params! {
    /// Page-table geometry of a scenario (small, so loom stays exhaustive) or of a property
    /// test (the real one).
    pub struct Geometry {
        /// Levels of tables, the root being level `levels` and leaves level 1.
        levels: u32 = 2, 2..=5,
        /// Entries per table (a power of two).
        entries: u32 = 4, 2..=512,
    }
}

impl Geometry {
    /// x86-64 4-level paging: 4 levels of 512 entries, 48-bit IOVA.
    pub const REAL: Geometry = Geometry {
        levels: 4,
        entries: 512,
    };

    /// Index bits per level.
    pub fn bits(&self) -> u32 {
        self.entries.trailing_zeros()
    }

    /// Bytes covered by one entry at `level` (1 = a 4 KiB page).
    pub fn span(&self, level: u32) -> u64 {
        1u64 << (12 + (level - 1) * self.bits())
    }

    /// Size of the IOVA space.
    pub fn space(&self) -> u64 {
        self.span(self.levels) * self.entries as u64
    }

    /// Index of `iova` in a table of `level`.
    pub fn index(&self, iova: u64, level: u32) -> usize {
        ((iova >> (12 + (level - 1) * self.bits())) & (self.entries as u64 - 1)) as usize
    }

    /// Most tables a full tree can have (every level fully populated).
    pub fn max_tables(&self) -> u64 {
        (0..self.levels).map(|l| (self.entries as u64).pow(l)).sum()
    }
}

/// Refuse a geometry no hardware has: entries not a power of two, or an IOVA space wider
/// than 57 bits (5-level paging). Returns (parameter index, what was expected).
pub fn check(geo: &Geometry) -> Result<(), (usize, String)> {
    if !geo.entries.is_power_of_two() {
        return Err((
            1,
            format!(
                "entries = {}; expected a power of two from 2 to 512",
                geo.entries
            ),
        ));
    }
    if 12 + geo.bits() * geo.levels > 57 {
        return Err((0, "the geometry spans more than a 57-bit IOVA space".into()));
    }
    Ok(())
}
