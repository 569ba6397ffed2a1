import Foundation
import SAEPipePlot
import XCTest

/// PNG output: valid files of the expected size, the same bytes for the same inputs, and
/// pixels where a simple chart puts them.
final class PlotTests: XCTestCase {
    func simpleChart() -> Chart {
        Chart(title: "Flat", xLabel: "x", yLabel: "y",
              series: [.line(name: "one", points: [(0, 1), (10, 1)], color: Color.palette[0]),
                       .line(name: "two", points: [(0, 0), (10, 2)], color: Color.palette[1])])
    }

    func testPNGIsValidSizedAndDeterministic() throws {
        let directory = try temporaryDirectory(self)
        let text = try TextRenderer()
        for scale in [1.0, 2.0] {
            try simpleChart().render(scale: scale, text: text).writePNG(to: "\(directory)/a.png")
            try simpleChart().render(scale: scale, text: try TextRenderer()).writePNG(to: "\(directory)/b.png")
            let a = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/a.png"))
            XCTAssertEqual(a, try Data(contentsOf: URL(fileURLWithPath: "\(directory)/b.png")), "same inputs, same bytes")
            XCTAssertEqual(Array(a.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "PNG signature")
            XCTAssertEqual(String(decoding: a[12..<16], as: UTF8.self), "IHDR")
            let width = a[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = a[20..<24].reduce(0) { $0 << 8 | Int($1) }
            XCTAssertEqual(width, Int(1200 * scale), "blog size: 1200 pixels wide at 1×")
            XCTAssertEqual(height, Int(750 * scale))
        }
    }

    func testPixelsOfASimpleChart() throws {
        let canvas = simpleChart().render(scale: 1, text: try TextRenderer())
        // The plot spans x 112…1164 and y 70…658; y runs from −0.1 to 2.1, so y = 1 sits at 364.
        let column = (356..<372).map { canvas.pixel(300, $0) }
        let target = Color.palette[0]
        let closest = column.map { max(abs(Int($0.r) - Int(target.r)), abs(Int($0.g) - Int(target.g)), abs(Int($0.b) - Int(target.b))) }.min()!
        XCTAssertLessThan(closest, 30, "the flat series is drawn in the first palette color at y = 1: \(column)")
        XCTAssertTrue(column.contains { $0 != .white && $0 != target }, "anti-aliased edges mix color and background")
        XCTAssertEqual(canvas.pixel(300, 200), .white, "background above the lines")
        XCTAssertEqual(canvas.pixel(5, 5), .white)
        let span = (356..<372).filter { canvas.pixel(300, $0) != .white }
        XCTAssertLessThanOrEqual(span.count, 5, "a 2.8-point line covers three or four pixel rows")
    }

    /// A raster heatmap: rows thinner than a pixel are averaged, columns keep their colours.
    func testRasterHeatmapAveragesRowsIntoPixels() throws {
        // 1380 rows over a 690-pixel plot, two to a pixel: the top half all [0, 1], the bottom half alternating [0, 1] and [1, 0].
        let values = (0..<1380).map { r in r < 690 || r % 2 == 0 ? [0.0, 1.0] : [1.0, 0.0] }
        var heatmap = RasterHeatmap(title: "t", rowTitle: "rows", columnTitle: "columns", columnLabels: ["a", "b"], values: values,
                                    range: 0...1, colorBarTitle: "value")
        heatmap.height = 900
        let canvas = heatmap.render(text: try TextRenderer())
        // The plot spans x 150…1010 (two 430-pixel columns) and y 100…790.
        XCTAssertEqual(canvas.pixel(300, 200), Color.ramp(0))
        XCTAssertEqual(canvas.pixel(800, 200), Color.ramp(1))
        let mixed = canvas.pixel(300, 700), half = Color.ramp(0.5)
        XCTAssertLessThan(abs(Int(mixed.g) - Int(half.g)) + abs(Int(mixed.r) - Int(half.r)), 12, "alternating rows average to the middle: \(mixed)")
    }

    func testTextIsAntiAliasedAndRotates() throws {
        let text = try TextRenderer()
        let canvas = Canvas(width: 200, height: 200)
        text.draw("Features", on: canvas, x: 20, y: 40, size: 20)
        var levels = Set<UInt8>()
        for y in 0..<200 { for x in 0..<200 { levels.insert(canvas.pixel(x, y).r) } }
        XCTAssertGreaterThan(levels.count, 10, "glyph edges have intermediate gray levels")
        let width = text.width("Features", size: 20, scale: 1)
        XCTAssertGreaterThan(width, 60)
        XCTAssertLessThan(width, 110)
        let rotated = Canvas(width: 200, height: 200)
        text.draw("Features", on: rotated, x: 100, y: 150, size: 20, rotated: true)
        var inked: [(Int, Int)] = []
        for y in 0..<200 { for x in 0..<200 where rotated.pixel(x, y) != .white { inked.append((x, y)) } }
        let spanY = (inked.map(\.1).max() ?? 0) - (inked.map(\.1).min() ?? 0)
        let spanX = (inked.map(\.0).max() ?? 0) - (inked.map(\.0).min() ?? 0)
        XCTAssertGreaterThan(spanY, spanX, "rotated text runs upward")
    }

    func testPointLabelsAtNearlyTheSamePlaceMoveApart() {
        let h = 17.5
        // Three labels on top of one another, one far to the right, one a line below the first.
        let boxes = [LabelBox(left: 100, right: 200, baseline: 50), LabelBox(left: 110, right: 210, baseline: 52),
                     LabelBox(left: 105, right: 190, baseline: 49), LabelBox(left: 400, right: 480, baseline: 50),
                     LabelBox(left: 100, right: 200, baseline: 50 + h)]
        let offsets = Chart.labelOffsets(boxes, lineHeight: h)
        XCTAssertEqual(offsets[2], 0, "the highest label keeps its place")
        XCTAssertEqual(offsets[3], 0, "a label clear of the others keeps its place")
        let placed = zip(boxes, offsets).map { LabelBox(left: $0.left, right: $0.right, baseline: $0.baseline + $1) }
        XCTAssertEqual([2, 0, 1, 4].map { placed[$0].baseline }, [2, 0, 1, 4].map { placed[$0].baseline }.sorted(),
                       "the labels keep their points' vertical order")
        for i in placed.indices {
            for j in placed.indices where j > i && placed[i].left < placed[j].right && placed[j].left < placed[i].right {
                XCTAssertGreaterThanOrEqual(abs(placed[i].baseline - placed[j].baseline), h, "labels \(i) and \(j) overlap")
            }
        }
        // Near the top of the plot the second label goes down instead of out of the frame.
        let nearTop = Chart.labelOffsets([LabelBox(left: 0, right: 50, baseline: 30), LabelBox(left: 0, right: 50, baseline: 30)],
                                         lineHeight: h, top: 25, bottom: 500)
        XCTAssertEqual(nearTop, [0, h])
    }

    func testNiceTicksAndLabels() {
        XCTAssertEqual(Ticks.nice(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1])
        XCTAssertEqual(Ticks.nice(3, 97), [20, 40, 60, 80])
        XCTAssertEqual(Ticks.decades(0.002, 0.5), [0.01, 0.1])
        XCTAssertEqual(Ticks.logMantissas(11.8, 218), [20, 50, 100, 200])
        XCTAssertEqual(Ticks.logMantissas(1.5, 6), [2, 3, 5])
        XCTAssertEqual(Ticks.label(1_500_000, step: 500_000), "1.5M")
        XCTAssertEqual(Ticks.label(500_000, step: 500_000), "500k")
        XCTAssertEqual(Ticks.label(0.25, step: 0.05), "0.25")
        XCTAssertEqual(Ticks.label(0.0001, step: 0.0001), "1e-4")
    }
}
