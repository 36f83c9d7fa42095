//! Congestion levels in SQL, generated from [`CongestionLevel::ALL`] so that a new level changes
//! the queries with it.

use contract::CongestionLevel;

/// `CASE ... END`: the level in `column` as its rank, 0 for the lowest.
pub(crate) fn rank_sql(column: &str) -> String {
    let arms: String = CongestionLevel::ALL
        .iter()
        .enumerate()
        .map(|(rank, level)| format!(" WHEN '{}' THEN {rank}", level.as_str()))
        .collect();
    format!("CASE {column}{arms} END")
}

/// The rank [`rank_sql`] gives `level`.
pub(crate) fn rank(level: CongestionLevel) -> i32 {
    CongestionLevel::ALL
        .iter()
        .position(|l| *l == level)
        .and_then(|i| i32::try_from(i).ok())
        .unwrap_or(0)
}

/// The level of a rank [`rank_sql`] gave.
pub(crate) fn from_rank(rank: i32) -> Option<CongestionLevel> {
    usize::try_from(rank)
        .ok()
        .and_then(|i| CongestionLevel::ALL.get(i))
        .copied()
}

/// The column alias of a level's count: `low`, `moderate`, ...
pub(crate) fn alias(level: CongestionLevel) -> String {
    level.as_str().to_ascii_lowercase()
}

/// `count(*) FILTER (WHERE congestion_level = 'LOW') AS low, ...` for every level.
pub(crate) fn counts_sql() -> String {
    CongestionLevel::ALL
        .iter()
        .map(|level| {
            format!(
                "count(*) FILTER (WHERE congestion_level = '{}') AS {}",
                level.as_str(),
                alias(*level)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_the_level_order() {
        assert_eq!(
            rank_sql("congestion_level"),
            "CASE congestion_level WHEN 'LOW' THEN 0 WHEN 'MODERATE' THEN 1 WHEN 'HIGH' THEN 2 \
             WHEN 'SEVERE' THEN 3 END"
        );
        for level in CongestionLevel::ALL {
            assert_eq!(from_rank(rank(level)), Some(level));
        }
        assert_eq!(from_rank(-1), None);
        assert!(counts_sql().contains("congestion_level = 'SEVERE') AS severe"));
    }
}
