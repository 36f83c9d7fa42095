//! The traffic report as a PDF: a pure function from [`ReportData`] to bytes, so the layout is
//! testable without a database or a server.
//!
//! Text uses the standard Type1 fonts Helvetica and Helvetica-Bold (WinAnsiEncoding): nothing
//! is embedded, every PDF reader has them, and the text stays extractable (search, copy, tests).
//! The chart is plain vector graphics (rectangles and lines), so it stays sharp at any zoom.

use chrono::{DateTime, Utc};
use contract::CongestionLevel;
use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, ObjectId, Stream};

/// Everything the report shows, already computed and (for the KPIs) formatted.
#[derive(Debug, Clone)]
pub(crate) struct ReportData {
    pub(crate) title: String,
    pub(crate) period_start: DateTime<Utc>,
    pub(crate) period_end: DateTime<Utc>,
    pub(crate) generated_at: DateTime<Utc>,
    /// Label and formatted value, in display order.
    pub(crate) kpis: Vec<(String, String)>,
    /// Congestion level and the number of camera-wide windows at that level.
    pub(crate) levels: Vec<(CongestionLevel, i64)>,
    pub(crate) cameras: Vec<CameraLine>,
    pub(crate) series: Series,
}

#[derive(Debug, Clone)]
pub(crate) struct CameraLine {
    pub(crate) camera_id: String,
    pub(crate) windows: i64,
    pub(crate) vehicles: i64,
    pub(crate) avg_speed_kmh: Option<f64>,
    pub(crate) avg_congestion_score: Option<f64>,
    pub(crate) max_congestion_score: Option<f64>,
    pub(crate) high_or_severe_windows: i64,
}

/// Vehicles and average congestion score per fixed-size time bucket from `period_start`.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) bucket_seconds: i64,
    /// Only buckets with data; `bucket` is the index from `period_start`.
    pub(crate) points: Vec<SeriesPoint>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct SeriesPoint {
    pub(crate) bucket: i64,
    pub(crate) vehicles: i64,
    pub(crate) avg_congestion_score: Option<f64>,
}

const PAGE_W: f64 = 595.0;
const PAGE_H: f64 = 842.0;
const MARGIN: f64 = 50.0;
const REGULAR: &str = "F1";
const BOLD: &str = "F2";

/// Renders the report; fails only if the document cannot be serialised.
pub(crate) fn render(data: &ReportData) -> Result<Vec<u8>, lopdf::Error> {
    let mut pages = PageWriter::new();
    title_block(&mut pages, data);
    kpi_table(&mut pages, data);
    level_distribution(&mut pages, data);
    chart(&mut pages, data);
    camera_table(&mut pages, data);
    assemble(pages.finish(), &data.title)
}

fn title_block(p: &mut PageWriter, data: &ReportData) {
    p.text(MARGIN, p.y, 20.0, BOLD, &data.title);
    p.y -= 20.0;
    p.text(
        MARGIN,
        p.y,
        10.0,
        REGULAR,
        &format!(
            "Period: {} to {} (UTC)",
            stamp(data.period_start),
            stamp(data.period_end)
        ),
    );
    p.y -= 13.0;
    p.text(
        MARGIN,
        p.y,
        8.0,
        REGULAR,
        &format!("Generated {}", stamp(data.generated_at)),
    );
    p.y -= 26.0;
}

fn kpi_table(p: &mut PageWriter, data: &ReportData) {
    heading(p, "Key figures");
    let row_h = 15.0;
    let width = 300.0;
    for (i, (label, value)) in data.kpis.iter().enumerate() {
        p.ensure(row_h);
        if i % 2 == 0 {
            p.fill_rect(MARGIN, p.y - 4.0, width, row_h, (0.94, 0.95, 0.97));
        }
        p.text(MARGIN + 4.0, p.y, 9.0, REGULAR, label);
        p.text_right(MARGIN + width - 4.0, p.y, 9.0, BOLD, value);
        p.y -= row_h;
    }
    p.y -= 16.0;
}

fn level_color(level: CongestionLevel) -> (f64, f64, f64) {
    match level {
        CongestionLevel::Low => (0.30, 0.69, 0.31),
        CongestionLevel::Moderate => (0.98, 0.75, 0.18),
        CongestionLevel::High => (0.96, 0.49, 0.13),
        CongestionLevel::Severe => (0.83, 0.18, 0.18),
    }
}

fn level_distribution(p: &mut PageWriter, data: &ReportData) {
    let total: i64 = data.levels.iter().map(|(_, n)| *n).sum();
    p.ensure(30.0 + 16.0 * data.levels.len() as f64);
    heading(p, "Congestion level distribution (camera-wide windows)");
    let bar_max = 260.0;
    for (level, n) in &data.levels {
        let share = if total > 0 {
            *n as f64 / total as f64
        } else {
            0.0
        };
        p.text(MARGIN + 4.0, p.y, 9.0, REGULAR, level.as_str());
        p.fill_rect(MARGIN + 80.0, p.y - 2.0, bar_max, 10.0, (0.92, 0.92, 0.92));
        if share > 0.0 {
            p.fill_rect(
                MARGIN + 80.0,
                p.y - 2.0,
                (bar_max * share).max(1.0),
                10.0,
                level_color(*level),
            );
        }
        p.text(
            MARGIN + 90.0 + bar_max,
            p.y,
            9.0,
            REGULAR,
            &format!("{n} ({:.1}%)", share * 100.0),
        );
        p.y -= 16.0;
    }
    p.y -= 14.0;
}

fn chart(p: &mut PageWriter, data: &ReportData) {
    let plot_h = 150.0;
    p.ensure(plot_h + 70.0);
    heading(
        p,
        &format!(
            "Vehicles per {} (bars) and average congestion score (line, right axis 0-1)",
            bucket_label(data.series.bucket_seconds)
        ),
    );
    let left = MARGIN + 30.0;
    let right = PAGE_W - MARGIN - 25.0;
    let top = p.y - 4.0;
    let bottom = top - plot_h;
    let plot_w = right - left;
    let span = (data.period_end - data.period_start).num_seconds().max(1) as f64;
    let buckets = (span / data.series.bucket_seconds.max(1) as f64)
        .ceil()
        .max(1.0);
    let slot = plot_w / buckets;
    let max_vehicles = data
        .series
        .points
        .iter()
        .map(|pt| pt.vehicles)
        .max()
        .unwrap_or(0)
        .max(1) as f64;

    // Frame, gridlines and axis labels.
    p.fill_rect(left, bottom, plot_w, plot_h, (0.98, 0.98, 0.98));
    for step in 0..=4 {
        let y = bottom + plot_h * step as f64 / 4.0;
        p.line(left, y, right, y, 0.4, 0.85);
        let vehicles = max_vehicles * step as f64 / 4.0;
        p.text_right(left - 4.0, y - 3.0, 7.0, REGULAR, &format!("{vehicles:.0}"));
        p.text(
            right + 4.0,
            y - 3.0,
            7.0,
            REGULAR,
            &format!("{:.2}", step as f64 / 4.0),
        );
    }
    p.line(left, bottom, left, top, 0.8, 0.3);
    p.line(left, bottom, right, bottom, 0.8, 0.3);

    for pt in &data.series.points {
        let x = left + slot * pt.bucket as f64;
        let h = plot_h * pt.vehicles as f64 / max_vehicles;
        if h > 0.0 && x < right {
            let w = (slot * 0.8).max(0.5);
            p.fill_rect(x + slot * 0.1, bottom, w, h, (0.26, 0.52, 0.96));
        }
    }
    let line_points: Vec<(f64, f64)> = data
        .series
        .points
        .iter()
        .filter_map(|pt| {
            pt.avg_congestion_score.map(|s| {
                (
                    left + slot * (pt.bucket as f64 + 0.5),
                    bottom + plot_h * s.clamp(0.0, 1.0),
                )
            })
        })
        .collect();
    p.polyline(&line_points, 1.2, (0.83, 0.18, 0.18));

    p.text(left, bottom - 12.0, 7.0, REGULAR, &stamp(data.period_start));
    p.text_right(right, bottom - 12.0, 7.0, REGULAR, &stamp(data.period_end));
    if data.series.points.is_empty() {
        p.text(
            left + plot_w / 2.0 - 30.0,
            bottom + plot_h / 2.0,
            9.0,
            REGULAR,
            "No data in this period",
        );
    }
    p.y = bottom - 36.0;
}

fn camera_table(p: &mut PageWriter, data: &ReportData) {
    let alerting = CongestionLevel::ALERTING.map(|l| l.as_str()).join("+");
    let columns: [(&str, f64); 7] = [
        ("Camera", MARGIN + 4.0),
        ("Windows", 215.0),
        ("Vehicles", 275.0),
        ("Avg speed km/h", 355.0),
        ("Avg score", 415.0),
        ("Max score", 475.0),
        (&alerting, PAGE_W - MARGIN - 4.0),
    ];
    let header = |p: &mut PageWriter| {
        p.fill_rect(
            MARGIN,
            p.y - 4.0,
            PAGE_W - 2.0 * MARGIN,
            15.0,
            (0.85, 0.88, 0.93),
        );
        for (i, (name, x)) in columns.iter().enumerate() {
            if i == 0 {
                p.text(*x, p.y, 8.0, BOLD, name);
            } else {
                p.text_right(*x, p.y, 8.0, BOLD, name);
            }
        }
        p.y -= 15.0;
    };
    p.ensure(60.0);
    heading(p, "Per camera");
    header(p);
    if data.cameras.is_empty() {
        p.text(
            MARGIN + 4.0,
            p.y,
            9.0,
            REGULAR,
            "No camera data in this period",
        );
        p.y -= 14.0;
    }
    for (i, cam) in data.cameras.iter().enumerate() {
        if p.ensure(14.0) {
            header(p);
        }
        if i % 2 == 1 {
            p.fill_rect(
                MARGIN,
                p.y - 4.0,
                PAGE_W - 2.0 * MARGIN,
                14.0,
                (0.96, 0.96, 0.96),
            );
        }
        let cells = [
            cam.camera_id.clone(),
            cam.windows.to_string(),
            cam.vehicles.to_string(),
            opt(cam.avg_speed_kmh, 1),
            opt(cam.avg_congestion_score, 3),
            opt(cam.max_congestion_score, 3),
            cam.high_or_severe_windows.to_string(),
        ];
        for (c, ((_, x), cell)) in columns.iter().zip(cells.iter()).enumerate() {
            if c == 0 {
                p.text(*x, p.y, 8.5, REGULAR, cell);
            } else {
                p.text_right(*x, p.y, 8.5, REGULAR, cell);
            }
        }
        p.y -= 14.0;
    }
}

fn heading(p: &mut PageWriter, text: &str) {
    p.text(MARGIN, p.y, 12.0, BOLD, text);
    p.y -= 18.0;
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn bucket_label(seconds: i64) -> String {
    match seconds {
        s if s % 86_400 == 0 => plural(s / 86_400, "day"),
        s if s % 3_600 == 0 => plural(s / 3_600, "hour"),
        s if s % 60 == 0 => plural(s / 60, "minute"),
        s => plural(s, "second"),
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        unit.to_owned()
    } else {
        format!("{n}-{unit}")
    }
}

/// Approximate Helvetica advance widths (per 1000 em), enough to right-align numbers.
fn text_width(text: &str, size: f64) -> f64 {
    let units: f64 = text
        .chars()
        .map(|c| match c {
            '0'..='9' => 556.0,
            ' ' | '.' | ',' | ':' | 'i' | 'l' | 'I' | 'j' | 't' | 'f' => 278.0,
            '-' | '(' | ')' | 'r' => 333.0,
            'A'..='Z' => 667.0,
            'm' | 'w' => 833.0,
            _ => 540.0,
        })
        .sum();
    units * size / 1000.0
}

/// Text for a WinAnsi-encoded standard font: anything outside printable ASCII becomes `?`.
fn ascii(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c as u8
            } else {
                b'?'
            }
        })
        .collect()
}

/// Accumulates drawing operations page by page, with a top-down cursor `y`.
struct PageWriter {
    done: Vec<Vec<Operation>>,
    ops: Vec<Operation>,
    y: f64,
}

impl PageWriter {
    fn new() -> Self {
        Self {
            done: Vec::new(),
            ops: Vec::new(),
            y: PAGE_H - MARGIN,
        }
    }

    /// Starts a new page when less than `height` is left; true if it did.
    fn ensure(&mut self, height: f64) -> bool {
        if self.y - height >= MARGIN {
            return false;
        }
        self.done.push(std::mem::take(&mut self.ops));
        self.y = PAGE_H - MARGIN;
        true
    }

    fn finish(mut self) -> Vec<Vec<Operation>> {
        self.done.push(self.ops);
        self.done
    }

    fn text(&mut self, x: f64, y: f64, size: f64, font: &str, text: &str) {
        self.ops.extend([
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec![Object::Name(font.into()), size.into()]),
            Operation::new("Td", vec![x.into(), y.into()]),
            Operation::new(
                "Tj",
                vec![Object::String(ascii(text), lopdf::StringFormat::Literal)],
            ),
            Operation::new("ET", vec![]),
        ]);
    }

    fn text_right(&mut self, right: f64, y: f64, size: f64, font: &str, text: &str) {
        let x = right - text_width(text, size);
        self.text(x, y, size, font, text);
    }

    fn fill_rect(&mut self, x: f64, y: f64, w: f64, h: f64, (r, g, b): (f64, f64, f64)) {
        self.ops.extend([
            Operation::new("q", vec![]),
            Operation::new("rg", vec![r.into(), g.into(), b.into()]),
            Operation::new("re", vec![x.into(), y.into(), w.into(), h.into()]),
            Operation::new("f", vec![]),
            Operation::new("Q", vec![]),
        ]);
    }

    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, width: f64, gray: f64) {
        self.ops.extend([
            Operation::new("q", vec![]),
            Operation::new("G", vec![gray.into()]),
            Operation::new("w", vec![width.into()]),
            Operation::new("m", vec![x1.into(), y1.into()]),
            Operation::new("l", vec![x2.into(), y2.into()]),
            Operation::new("S", vec![]),
            Operation::new("Q", vec![]),
        ]);
    }

    fn polyline(&mut self, points: &[(f64, f64)], width: f64, (r, g, b): (f64, f64, f64)) {
        let Some(((x0, y0), rest)) = points.split_first() else {
            return;
        };
        self.ops.extend([
            Operation::new("q", vec![]),
            Operation::new("RG", vec![r.into(), g.into(), b.into()]),
            Operation::new("w", vec![width.into()]),
        ]);
        self.ops
            .push(Operation::new("m", vec![(*x0).into(), (*y0).into()]));
        for (x, y) in rest {
            self.ops
                .push(Operation::new("l", vec![(*x).into(), (*y).into()]));
        }
        self.ops.push(Operation::new("S", vec![]));
        // A lone point would draw nothing: mark every point with a small square.
        for (x, y) in points {
            self.ops.extend([
                Operation::new("rg", vec![r.into(), g.into(), b.into()]),
                Operation::new(
                    "re",
                    vec![(x - 1.5).into(), (y - 1.5).into(), 3.0.into(), 3.0.into()],
                ),
                Operation::new("f", vec![]),
            ]);
        }
        self.ops.push(Operation::new("Q", vec![]));
    }
}

fn assemble(pages: Vec<Vec<Operation>>, title: &str) -> Result<Vec<u8>, lopdf::Error> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font = |base: &str| {
        dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => Object::Name(base.into()),
            "Encoding" => "WinAnsiEncoding",
        }
    };
    let regular_id = doc.add_object(font("Helvetica"));
    let bold_id = doc.add_object(font("Helvetica-Bold"));
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { REGULAR => regular_id, BOLD => bold_id },
    });
    let mut kids: Vec<Object> = Vec::with_capacity(pages.len());
    for operations in pages {
        let content = Content { operations }.encode()?;
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        let page_id: ObjectId = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "Resources" => resources_id,
        });
        kids.push(page_id.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "MediaBox" => vec![0.into(), 0.into(), PAGE_W.into(), PAGE_H.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    let info_id = doc.add_object(dictionary! {
        "Title" => Object::String(ascii(title), lopdf::StringFormat::Literal),
        "Producer" => Object::string_literal("traffic query-server"),
    });
    doc.trailer.set("Root", catalog_id);
    doc.trailer.set("Info", info_id);
    doc.compress();
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample(cameras: usize) -> ReportData {
        let start = Utc
            .with_ymd_and_hms(2026, 5, 1, 8, 0, 0)
            .single()
            .expect("valid date");
        ReportData {
            title: "Traffic analytics report".into(),
            period_start: start,
            period_end: start + chrono::Duration::hours(1),
            generated_at: start + chrono::Duration::hours(2),
            kpis: vec![
                ("Total vehicles".into(), "12345".into()),
                ("Average speed (km/h)".into(), "42.7".into()),
            ],
            levels: CongestionLevel::ALL
                .into_iter()
                .zip([10, 5, 2, 1])
                .collect(),
            cameras: (0..cameras)
                .map(|i| CameraLine {
                    camera_id: format!("cam_{i:03}"),
                    windows: 720,
                    vehicles: 4115,
                    avg_speed_kmh: Some(41.25),
                    avg_congestion_score: Some(0.4321),
                    max_congestion_score: None,
                    high_or_severe_windows: 3,
                })
                .collect(),
            series: Series {
                bucket_seconds: 300,
                points: (0..12)
                    .map(|b| SeriesPoint {
                        bucket: b,
                        vehicles: 100 + b * 7,
                        avg_congestion_score: Some(0.05 * b as f64),
                    })
                    .collect(),
            },
        }
    }

    #[test]
    fn renders_an_extractable_pdf() {
        let bytes = render(&sample(3)).expect("render");
        assert!(bytes.starts_with(b"%PDF-1.5"));
        let doc = Document::load_mem(&bytes).expect("loads");
        assert_eq!(doc.get_pages().len(), 1);
        let text = doc.extract_text(&[1]).expect("text");
        for needle in [
            "Traffic analytics report",
            "Total vehicles",
            "12345",
            "42.7",
            "cam_002",
            "SEVERE",
            "5-minute",
            "2026-05-01 08:00:00",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from {text}");
        }
    }

    #[test]
    fn long_camera_tables_continue_on_new_pages() {
        let bytes = render(&sample(120)).expect("render");
        let doc = Document::load_mem(&bytes).expect("loads");
        let pages = doc.get_pages().len() as u32;
        assert!(pages >= 3, "{pages} pages");
        let last = doc.extract_text(&[pages]).expect("text");
        assert!(last.contains("cam_119"), "{last}");
        assert!(last.contains("Camera"), "header repeated: {last}");
    }

    #[test]
    fn empty_period_still_renders() {
        let mut data = sample(0);
        data.series.points.clear();
        data.levels.iter_mut().for_each(|(_, n)| *n = 0);
        let bytes = render(&data).expect("render");
        let doc = Document::load_mem(&bytes).expect("loads");
        let text = doc.extract_text(&[1]).expect("text");
        assert!(text.contains("No data in this period"), "{text}");
        assert!(text.contains("No camera data"), "{text}");
    }

    #[test]
    fn non_ascii_text_is_replaced() {
        assert_eq!(ascii("Straße 1"), b"Stra?e 1".to_vec());
    }
}
