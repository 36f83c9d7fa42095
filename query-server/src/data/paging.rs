//! `limit`/`offset` paging, the same on every list: fetch one row more than the page holds, so
//! `next_offset` is set only when another page really exists.

use postgres::types::ToSql;
use postgres::{GenericClient, Row};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::params::Params;

/// What a list accepts: the default and largest `limit`, and the deepest `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) default: i64,
    pub(crate) max: i64,
    pub(crate) max_offset: i64,
}

const INT32_MAX: i64 = i32::MAX as i64;

impl Limits {
    /// Per-camera lists: deployments have tens to thousands of cameras, so one default page
    /// holds them all.
    pub(crate) const CAMERAS: Limits = Limits {
        default: 1000,
        max: 10_000,
        max_offset: INT32_MAX,
    };
    /// Admin lists: the tables are small, so one page normally holds everything.
    pub(crate) const ADMIN: Limits = Limits {
        default: 1000,
        max: 10_000,
        max_offset: INT32_MAX,
    };
    /// Alert lists; the deepest offset keeps `offset + limit` far from overflow.
    pub(crate) const ALERTS: Limits = Limits {
        default: 100,
        max: 1000,
        max_offset: 1_000_000_000,
    };
    /// One camera's window history: the largest page holds one day of 5-second windows
    /// (17,280).
    pub(crate) const HISTORY: Limits = Limits {
        default: 1000,
        max: 20_000,
        max_offset: INT32_MAX,
    };
}

/// One page of a list, as the client asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) limit: i64,
    pub(crate) offset: i64,
}

impl Page {
    pub(crate) fn parse(params: &Params, limits: Limits) -> Result<Self, ApiError> {
        Ok(Self {
            limit: params.int("limit", limits.default, 1, limits.max)?,
            offset: params.int("offset", 0, 0, limits.max_offset)?,
        })
    }

    /// What to pass as SQL `LIMIT`: one extra row tells whether another page exists.
    pub(crate) fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Runs `sql`, whose `LIMIT $1 OFFSET $2` take this page (one row more than `limit`, see
    /// [`Page::fetch`]), with `extra` as `$3`, `$4`, ...
    pub(crate) fn query(
        &self,
        client: &mut impl GenericClient,
        sql: &str,
        extra: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        let fetch = self.fetch();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&fetch, &self.offset];
        params.extend_from_slice(extra);
        client.query(sql, &params)
    }

    /// The same window over an in-memory list: items to skip, then items to take.
    pub(crate) fn window(&self) -> (usize, usize) {
        let skip = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let take = usize::try_from(self.fetch()).unwrap_or(usize::MAX);
        (skip, take)
    }

    /// Cuts `items` (up to [`Page::fetch`] of them) to the page and returns `next_offset`.
    pub(crate) fn cut<T>(&self, items: &mut Vec<T>) -> Option<i64> {
        let more = items.len() as i64 > self.limit;
        items.truncate(usize::try_from(self.limit).unwrap_or(0));
        more.then_some(self.offset + self.limit)
    }

    /// The list body: `items` (at most `limit` of them), `count`, `limit`, `offset` and
    /// `next_offset` (null on the last page).
    pub(crate) fn body(&self, mut items: Vec<Value>) -> Value {
        let next_offset = self.cut(&mut items);
        json!({
            "count": items.len(),
            "limit": self.limit,
            "offset": self.offset,
            "next_offset": next_offset,
            "items": items,
        })
    }

    /// The admin lists' body: the same without `count`, as their documented schema has it.
    pub(crate) fn uncounted_body(&self, items: Vec<Value>) -> Value {
        let mut body = self.body(items);
        if let Some(fields) = body.as_object_mut() {
            fields.remove("count");
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_offset_only_when_the_extra_row_came() {
        let page = Page {
            limit: 2,
            offset: 4,
        };
        assert_eq!(page.fetch(), 3);
        let full = page.body(vec![json!(1), json!(2), json!(3)]);
        assert_eq!(full["items"], json!([1, 2]));
        assert_eq!(full["count"], 2);
        assert_eq!(full["next_offset"], 6);
        let last = page.uncounted_body(vec![json!(1)]);
        assert_eq!(last["next_offset"], Value::Null);
        assert!(last.get("count").is_none());
        assert_eq!(page.window(), (4, 3));
    }

    #[test]
    fn limits_are_checked_by_name() {
        let params = Params::parse(Some("limit=0"));
        let error = Page::parse(&params, Limits::ALERTS).expect_err("limit 0");
        assert!(error.message.contains("'limit'"));
        let params = Params::parse(Some("offset=1000000001"));
        assert!(Page::parse(&params, Limits::ALERTS).is_err());
        let default = Page::parse(&Params::default(), Limits::HISTORY).expect("defaults");
        assert_eq!((default.limit, default.offset), (1000, 0));
    }
}
