//! The contract crate against the real schema: the `congestion_thresholds` CHECK constraints
//! accept exactly the thresholds `Thresholds::validate` accepts, the level CHECK lists exactly
//! the contract's levels, and what the schema's triggers NOTIFY decodes as the contract says.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use contract::notice::{CameraNotice, Notice};
use contract::{Channel, CongestionLevel, Thresholds};
use e2e_tests::db::TestDb;
use fallible_iterator::FallibleIterator;
use postgres::Client;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Whether the table takes these thresholds (rolled back either way).
fn table_accepts(client: &mut Client, t: &Thresholds) -> bool {
    let mut tx = client.transaction().expect("begin");
    let result = tx.execute(
        "UPDATE congestion_thresholds SET moderate = $1, high = $2, severe = $3,
             speed_weight = $4, density_weight = $5, lane_capacity_per_window = $6",
        &[
            &t.moderate,
            &t.high,
            &t.severe,
            &t.speed_weight,
            &t.density_weight,
            &t.lane_capacity_per_window,
        ],
    );
    match result {
        Ok(_) => true,
        Err(e) => {
            let state = e.code().map(|c| c.code().to_owned());
            assert_eq!(
                state.as_deref(),
                Some("23514"),
                "only a CHECK may refuse: {e}"
            );
            false
        }
    }
}

/// Values where the rules change, and ordinary ones. JSON carries only finite numbers, so
/// those are the domain both must agree on.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::sample::select(vec![
            -1.0,
            0.0,
            1e-9,
            0.35,
            0.55,
            0.75,
            1.0,
            1.0 + 1e-9,
            2.0
        ]),
        -0.5f64..1.5,
    ]
}

#[test]
fn threshold_checks_of_the_table_match_validate() {
    let db = TestDb::migrated("contract_thresholds");
    let client = RefCell::new(db.client());
    let mut runner = TestRunner::new(Config {
        cases: 2_000,
        ..Config::default()
    });
    let strategy = (value(), value(), value(), value(), value(), value());
    let accepted = Cell::new(0u32);
    runner
        .run(
            &strategy,
            |(moderate, high, severe, speed, density, capacity)| {
                let t = Thresholds {
                    moderate,
                    high,
                    severe,
                    speed_weight: speed,
                    density_weight: density,
                    lane_capacity_per_window: capacity,
                };
                let table = table_accepts(&mut client.borrow_mut(), &t);
                accepted.set(accepted.get() + u32::from(table));
                prop_assert_eq!(table, t.validate().is_ok(), "{:?}: {:?}", t, t.validate());
                Ok(())
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    // Both outcomes were exercised, not only refusals.
    assert!(accepted.get() > 0, "no accepted case among the samples");
    assert!(table_accepts(
        &mut client.borrow_mut(),
        &Thresholds::default()
    ));
}

#[test]
fn level_check_of_the_table_lists_the_contract_levels() {
    let db = TestDb::migrated("contract_levels");
    let mut client = db.client();
    let check: String = client
        .query_one(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint
             WHERE conrelid = 'traffic_metrics'::regclass AND contype = 'c'
               AND pg_get_constraintdef(oid) LIKE '%congestion_level%'",
            &[],
        )
        .expect("the congestion_level CHECK")
        .get(0);
    let listed: Vec<String> = check
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    let levels: Vec<String> = CongestionLevel::ALL
        .iter()
        .map(|l| l.as_str().to_owned())
        .collect();
    assert_eq!(listed, levels, "{check}");
}

#[test]
fn trigger_notifications_decode_as_the_contract_says() {
    let db = TestDb::migrated("contract_triggers");
    let mut listener = db.client();
    listener
        .batch_execute(&Channel::listen_statement(&Channel::ALL))
        .expect("listen");
    let mut writer = db.client();
    writer
        .batch_execute(
            "UPDATE congestion_thresholds SET high = 0.6;
             INSERT INTO cameras (camera_id) VALUES ('cam_contract');",
        )
        .expect("write settings");
    let mut received = Vec::new();
    let mut notifications = listener.notifications();
    let mut iter = notifications.timeout_iter(Duration::from_secs(5));
    while received.len() < 2 {
        let Some(n) = iter.next().expect("notifications") else {
            break;
        };
        received.push(
            Notice::decode(n.channel(), n.payload())
                .unwrap_or_else(|e| panic!("{} {:?}: {e}", n.channel(), n.payload())),
        );
    }
    assert!(
        matches!(received.first(), Some(Notice::Thresholds(t)) if t.updated_at.is_some()),
        "{received:?}"
    );
    assert_eq!(
        received.get(1),
        Some(&Notice::Camera(CameraNotice {
            camera_id: "cam_contract".into()
        }))
    );
}
