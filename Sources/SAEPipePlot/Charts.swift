import Foundation

/// How values map onto an axis.
public enum AxisScale: Sendable { case linear, log10 }

/// Tick positions a person would choose: 1, 2 or 5 times a power of ten.
public enum Ticks {
    public static func nice(_ low: Double, _ high: Double, target: Int = 5) -> [Double] {
        guard low.isFinite, high.isFinite, high > low else { return [low] }
        let rough = (high - low) / Double(target)
        let power = pow(10, (log10(rough)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * power }.first { (high - low) / $0 <= Double(target) + 1 } ?? 10 * power
        // Multiples of the step, computed from integers so no rounding error accumulates.
        let first = Int((low / step - 1e-9).rounded(.up)), last = Int((high / step + 1e-9).rounded(.down))
        guard first <= last else { return [low] }
        // Steps below 1 divide by their (whole) reciprocal: 3 / 5 is exactly 0.6, 3 × 0.2 is not.
        return (first...last).map { k in step >= 1 ? Double(k) * step : Double(k) / (1 / step).rounded() }
    }

    /// Powers of ten inside [low, high] (both positive).
    public static func decades(_ low: Double, _ high: Double) -> [Double] {
        guard low > 0, high > low else { return [] }
        return Array(Int(log10(low).rounded(.up))...max(Int(log10(low).rounded(.up)), Int(log10(high).rounded(.down)))).map { pow(10, Double($0)) }
    }

    /// Log-axis ticks for ranges shorter than a few decades: 1, 2 and 5 times powers of ten
    /// (1, 2, 3, 5, 7 when that gives too few) inside [low, high].
    public static func logMantissas(_ low: Double, _ high: Double) -> [Double] {
        guard low > 0, high > low else { return [] }
        let powers = Int(log10(low).rounded(.down))...Int(log10(high).rounded(.down))
        for mantissas in [[1.0, 2, 5], [1.0, 2, 3, 5, 7]] {
            let (lowest, highest) = (low * (1 - 1e-9), high * (1 + 1e-9))
            var values: [Double] = []
            for power in powers {
                let scale: Double = pow(10, Double(power))
                values += mantissas.map { $0 * scale }.filter { $0 >= lowest && $0 <= highest }
            }
            if values.count >= 3 { return values }
        }
        return []
    }

    public static func label(_ value: Double, step: Double) -> String {
        if value == 0 { return "0" }
        // Large values as 500k, 1.5M; tiny ones (log-axis decades) as 1e-4.
        for (divisor, suffix) in [(1e9, "G"), (1e6, "M"), (1e4, "k")] where abs(value) >= divisor {
            let scaled = value / (divisor == 1e4 ? 1e3 : divisor)
            let text = String(format: "%.2f", scaled).replacingOccurrences(of: #"\.?0+$"#, with: "", options: .regularExpression)
            return text + suffix
        }
        if abs(value) < 1e-3 { return String(format: "%.0e", value).replacingOccurrences(of: "e-0", with: "e-") }
        let decimals = max(0, min(4, -Int(log10(step).rounded(.down))))
        return String(format: "%.\(decimals)f", value)
    }
}

/// One data layer of a chart.
public enum Series: Sendable {
    case line(name: String, points: [(Double, Double)], color: Color)
    case scatter(name: String, points: [(Double, Double)], color: Color, radius: Double)
    /// Bars spanning [x0, x1] up to y (histograms, bar charts).
    case bars(name: String, bars: [(x0: Double, x1: Double, y: Double)], color: Color)
    /// 95% intervals: a vertical whisker from y0 to y1 at x, and a horizontal one from x0 to x1 at y
    /// when x0 < x1 (unnamed: they belong to the series drawn with the same color).
    case errorBars(intervals: [ErrorBar], color: Color)

    public struct ErrorBar: Sendable {
        public var x, y, x0, x1, y0, y1: Double
        /// A vertical whisker only.
        public init(x: Double, y0: Double, y1: Double) { (self.x, self.y, self.x0, self.x1, self.y0, self.y1) = (x, (y0 + y1) / 2, x, x, y0, y1) }
        public init(x: Double, y: Double, x0: Double, x1: Double, y0: Double, y1: Double) {
            (self.x, self.y, self.x0, self.x1, self.y0, self.y1) = (x, y, x0, x1, y0, y1)
        }
    }

    public var name: String {
        switch self {
        case .line(let name, _, _), .scatter(let name, _, _, _), .bars(let name, _, _): return name
        case .errorBars: return ""
        }
    }
    var color: Color {
        switch self {
        case .line(_, _, let color), .scatter(_, _, let color, _), .bars(_, _, let color), .errorBars(_, let color): return color
        }
    }
    var points: [(Double, Double)] {
        switch self {
        case .line(_, let points, _), .scatter(_, let points, _, _): return points
        case .bars(_, let bars, _): return bars.flatMap { [($0.x0, 0), ($0.x1, $0.y)] }
        case .errorBars(let bars, _): return bars.flatMap { [($0.x0, $0.y0), ($0.x1, $0.y1)] }
        }
    }
}

/// Type sizes (points at 1×) of figures meant for a blog column: ticks stay readable when a
/// 1200-pixel figure is shown at half size on a phone.
public enum FigureType {
    public static let title = 26.0
    public static let subtitle = 16.0
    public static let axisTitle = 19.0
    public static let tick = 16.0
    public static let legend = 16.0
    public static let category = 17.0
    public static let annotation = 14.0
    public static let lineWidth = 2.8
}

/// A chart with axes, nice ticks, a title, axis titles and a legend.
public struct Chart {
    public var title: String
    /// A second line under the title: what the figure was made from (model, hook, SAE, budget).
    public var subtitle: String?
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var xScale: AxisScale = .linear
    public var yScale: AxisScale = .linear
    /// Draw y = x (for comparing two quantities on the same scale).
    public var diagonal = false
    /// Names of categories at x = 0.5, 1.5, … (bar charts); replaces numeric x ticks.
    public var xCategories: [String] = []
    /// Put the legend right of the plot instead of over it (for many series).
    public var legendOutside = false
    /// Where the legend box sits: top right or bottom right; nil picks the corner that
    /// covers fewer data points.
    public var legendAtBottom: Bool? = nil
    /// Short texts written beside data points (e.g. which variant a point is).
    public var annotations: [(x: Double, y: Double, text: String)] = []
    /// A square plot area, so that with `diagonal` y = x runs at 45°.
    public var equalAspect = false
    /// Texts in the plot's upper-left and lower-right corners (what each side of the diagonal means).
    public var cornerLabels: (upperLeft: String, lowerRight: String)?
    public var width: Double = 1200
    public var height: Double = 750

    public init(title: String, xLabel: String, yLabel: String, series: [Series]) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
    }

    public func render(scale: Double = 1, text: TextRenderer) -> Canvas {
        let canvas = Canvas(width: Int(width), height: Int(height), scale: scale)
        let named = series.filter { !$0.name.isEmpty }
        let type = FigureType.self
        let legendWidth = (named.map { text.width($0.name, size: type.legend, scale: scale) }.max() ?? 0) + 48
        // A legend outside the plot takes a right margin of its own.
        let outside = legendOutside && named.count > 1
        var plot = (left: 112.0, top: subtitle == nil ? 70.0 : 100.0, right: width - 36 - (outside ? legendWidth + 6 : 0), bottom: height - 92)
        if equalAspect {
            let side = min(plot.right - plot.left, plot.bottom - plot.top)
            let spare = (plot.right - plot.left) - side
            plot.left += spare / 2
            plot.right = plot.left + side
            plot.bottom = plot.top + side
        }
        func transform(_ value: Double, _ axis: AxisScale) -> Double? {
            axis == .linear ? value : value > 0 ? log10(value) : nil
        }
        let xs = series.flatMap { $0.points.compactMap { transform($0.0, xScale) } }
        var ys = series.flatMap { $0.points.compactMap { transform($0.1, yScale) } }
        if diagonal { ys += xs }
        var (xLow, xHigh) = xCategories.isEmpty ? (xs.min() ?? 0, xs.max() ?? 1) : (0, Double(xCategories.count))
        var (yLow, yHigh) = (ys.min() ?? 0, ys.max() ?? 1)
        if diagonal { (xLow, xHigh) = (min(xLow, yLow), max(xHigh, yHigh)); (yLow, yHigh) = (xLow, xHigh) }
        if xHigh <= xLow { (xLow, xHigh) = (xLow - 0.5, xHigh + 0.5) }
        // Marks at the extremes keep clear of the frame.
        if series.contains(where: { if case .scatter = $0 { return true } else { return false } }) {
            let pad = (xHigh - xLow) * 0.03
            (xLow, xHigh) = (xLow - pad, xHigh + pad)
            if diagonal { (yLow, yHigh) = (xLow, xHigh) }
        }
        if yHigh <= yLow { (yLow, yHigh) = (yLow - 0.5, yHigh + 0.5) }
        let yPad = (yHigh - yLow) * 0.05
        if yScale == .linear, series.contains(where: { if case .bars = $0 { return true } else { return false } }) {
            yLow = min(0, yLow)
            yHigh += yPad
        } else {
            (yLow, yHigh) = (yLow - yPad, yHigh + yPad)
        }
        let px = { (v: Double) in plot.left + (v - xLow) / (xHigh - xLow) * (plot.right - plot.left) }
        let py = { (v: Double) in plot.bottom - (v - yLow) / (yHigh - yLow) * (plot.bottom - plot.top) }

        // Grid and ticks.
        func ticks(_ low: Double, _ high: Double, _ axis: AxisScale) -> [(position: Double, label: String)] {
            if axis == .log10 {
                let decades = Ticks.decades(pow(10, low), pow(10, high))
                if decades.count >= 3 { return decades.map { (log10($0), Ticks.label($0, step: $0)) } }
                let mantissas = Ticks.logMantissas(pow(10, low), pow(10, high))
                if mantissas.count >= 3, mantissas.count <= 9 { return mantissas.map { (log10($0), Ticks.label($0, step: $0)) } }
                if decades.count == 2 { return decades.map { (log10($0), Ticks.label($0, step: $0)) } }
            }
            let values = Ticks.nice(axis == .log10 ? pow(10, low) : low, axis == .log10 ? pow(10, high) : high)
            let step = values.count > 1 ? values[1] - values[0] : 1
            return values.compactMap { v in transform(v, axis).map { ($0, Ticks.label(v, step: step)) } }
        }
        if xCategories.isEmpty {
            for (position, label) in ticks(xLow, xHigh, xScale) where position >= xLow && position <= xHigh {
                canvas.line(px(position), plot.top, px(position), plot.bottom, width: 1, color: .grid)
                text.draw(label, on: canvas, x: px(position), y: plot.bottom + 26, size: type.tick, color: .axis, anchor: .center)
            }
        } else {
            for (index, label) in xCategories.enumerated() {
                text.draw(label, on: canvas, x: px(Double(index) + 0.5), y: plot.bottom + 28, size: type.category, color: .axis, anchor: .center)
            }
        }
        for (position, label) in ticks(yLow, yHigh, yScale) where position >= yLow && position <= yHigh {
            canvas.line(plot.left, py(position), plot.right, py(position), width: 1, color: .grid)
            text.draw(label, on: canvas, x: plot.left - 10, y: py(position) + 5.5, size: type.tick, color: .axis, anchor: .right)
        }
        if diagonal { canvas.line(px(xLow), py(xLow), px(xHigh), py(xHigh), width: 1.5, color: .axis) }
        if let corners = cornerLabels {
            text.draw(corners.upperLeft, on: canvas, x: plot.left + 14, y: plot.top + 28, size: type.legend, color: .axis, anchor: .left)
            text.draw(corners.lowerRight, on: canvas, x: plot.right - 14, y: plot.bottom - 16, size: type.legend, color: .axis, anchor: .right)
        }

        // Data.
        for item in series {
            switch item {
            case .line(_, let points, let color):
                canvas.polyline(points.compactMap { p in
                    guard let x = transform(p.0, xScale), let y = transform(p.1, yScale) else { return nil }
                    return (px(x), py(y))
                }, width: type.lineWidth, color: color)
            case .scatter(_, let points, let color, let radius):
                for p in points {
                    guard let x = transform(p.0, xScale), let y = transform(p.1, yScale) else { continue }
                    canvas.disc(px(x), py(y), radius: radius, color: color, alpha: 0.55)
                }
            case .bars(_, let bars, let color):
                for bar in bars {
                    guard let x0 = transform(bar.x0, xScale), let x1 = transform(bar.x1, xScale), let y = transform(bar.y, yScale) else { continue }
                    let base = py(max(yLow, yScale == .linear ? 0 : yLow))
                    canvas.fillRect(x: px(x0) + 0.5, y: py(y), width: max(px(x1) - px(x0) - 1, 0.5), height: base - py(y), color: color, alpha: 0.8)
                }
            case .errorBars(let bars, let color):
                let ink = color.darker
                for bar in bars {
                    guard let x = transform(bar.x, xScale), let y = transform(bar.y, yScale) else { continue }
                    if let y0 = transform(bar.y0, yScale), let y1 = transform(bar.y1, yScale), bar.y1 > bar.y0 {
                        canvas.line(px(x), py(y0), px(x), py(y1), width: 2, color: ink)
                        canvas.line(px(x) - 7, py(y0), px(x) + 7, py(y0), width: 2, color: ink)
                        canvas.line(px(x) - 7, py(y1), px(x) + 7, py(y1), width: 2, color: ink)
                    }
                    if let x0 = transform(bar.x0, xScale), let x1 = transform(bar.x1, xScale), bar.x1 > bar.x0 {
                        canvas.line(px(x0), py(y), px(x1), py(y), width: 2, color: ink)
                        canvas.line(px(x0), py(y) - 7, px(x0), py(y) + 7, width: 2, color: ink)
                        canvas.line(px(x1), py(y) - 7, px(x1), py(y) + 7, width: 2, color: ink)
                    }
                }
            }
        }

        // Beside the point, or on its left where the text would cross the frame; moved up or down a
        // line where it would cover an earlier label (points at nearly the same place).
        var placed: [(text: String, x: Double, anchor: TextRenderer.Anchor, box: LabelBox)] = []
        for note in annotations {
            guard let x = transform(note.x, xScale), let y = transform(note.y, yScale) else { continue }
            let textWidth = text.width(note.text, size: type.annotation, scale: scale)
            let fitsRight = px(x) + 8 + textWidth <= width - 4
            let left = fitsRight ? px(x) + 8 : px(x) - 8 - textWidth
            placed.append((note.text, fitsRight ? px(x) + 8 : px(x) - 8, fitsRight ? .left : .right,
                           LabelBox(left: left, right: left + textWidth, baseline: py(y) - 7)))
        }
        let offsets = Chart.labelOffsets(placed.map(\.box), lineHeight: type.annotation * 1.25,
                                         top: plot.top + type.annotation, bottom: plot.bottom - 4)
        for (label, offset) in zip(placed, offsets) {
            text.draw(label.text, on: canvas, x: label.x, y: label.box.baseline + offset, size: type.annotation, color: .axis,
                      anchor: label.anchor)
        }

        // Frame, titles, legend.
        canvas.line(plot.left, plot.bottom, plot.right, plot.bottom, width: 1, color: .axis)
        canvas.line(plot.left, plot.top, plot.left, plot.bottom, width: 1, color: .axis)
        text.draw(title, on: canvas, x: width / 2, y: 40, size: type.title, anchor: .center)
        if let subtitle { text.draw(subtitle, on: canvas, x: width / 2, y: 72, size: type.subtitle, color: .axis, anchor: .center) }
        text.draw(xLabel, on: canvas, x: (plot.left + plot.right) / 2, y: plot.bottom + 68, size: type.axisTitle, color: .axis, anchor: .center)
        text.draw(yLabel, on: canvas, x: 28, y: (plot.top + plot.bottom) / 2, size: type.axisTitle, color: .axis, anchor: .center, rotated: true)
        if named.count > 1 {
            let boxWidth = legendWidth, x = outside ? plot.right + 10 : plot.right - boxWidth - 10
            let boxHeight = Double(named.count) * 26 + 12
            let corners = (top: plot.top + 6, bottom: plot.bottom - boxHeight - 6)
            func covered(_ top: Double) -> Int {
                // Data points, and the midpoints of line segments, inside the box.
                var positions: [(Double, Double)] = []
                for item in series {
                    let points = item.points.compactMap { p -> (Double, Double)? in
                        guard let x = transform(p.0, xScale), let y = transform(p.1, yScale) else { return nil }
                        return (px(x), py(y))
                    }
                    positions += points
                    if case .line = item { positions += zip(points, points.dropFirst()).map { (($0.0 + $1.0) / 2, ($0.1 + $1.1) / 2) } }
                }
                return positions.filter { $0.0 >= x && $0.0 <= x + boxWidth && $0.1 >= top && $0.1 <= top + boxHeight }.count
            }
            let top = outside ? corners.top : legendAtBottom.map { $0 ? corners.bottom : corners.top }
                ?? (covered(corners.bottom) < covered(corners.top) ? corners.bottom : corners.top)
            canvas.fillRect(x: x, y: top, width: boxWidth, height: boxHeight, color: .white, alpha: 0.85)
            for (index, item) in named.enumerated() {
                let y = top + 24 + Double(index) * 26
                if case .scatter = item {
                    canvas.disc(x + 21, y - 5.5, radius: 6, color: item.color, alpha: 0.8)
                } else {
                    canvas.line(x + 8, y - 5.5, x + 34, y - 5.5, width: 4, color: item.color)
                }
                text.draw(item.name, on: canvas, x: x + 40, y: y, size: type.legend)
            }
        }
        return canvas
    }
}

/// A grid of values as colored cells with the numbers written in.
public struct Heatmap {
    public var title: String
    public var rowTitle: String
    public var columnTitle: String
    public var rowLabels: [String]
    public var columnLabels: [String]
    public var values: [[Double]]
    public var range: ClosedRange<Double>?
    /// One colour scale per column (columns of different metrics), instead of `range`; no colour bar then,
    /// and each column's label says its range.
    public var columnRanges: [ClosedRange<Double>]?
    /// Decimals per column (default 3).
    public var columnDigits: [Int]?
    /// A second line under each value (its interval, or why it is missing).
    public var notes: [[String]] = []
    /// What the figure was made from, under the title.
    public var subtitle: String?

    public init(title: String, rowTitle: String, columnTitle: String, rowLabels: [String], columnLabels: [String], values: [[Double]]) {
        (self.title, self.rowTitle, self.columnTitle) = (title, rowTitle, columnTitle)
        (self.rowLabels, self.columnLabels, self.values) = (rowLabels, columnLabels, values)
    }

    public func render(scale: Double = 1, text: TextRenderer) -> Canvas {
        let type = FigureType.self
        let perColumn = columnRanges != nil
        let left = 260.0, top = (subtitle == nil ? 130.0 : 156.0) + (perColumn ? 26 : 0), colorBar = perColumn ? 40.0 : 150.0
        // At least 900 pixels wide at 1×, however few columns; many rows get shorter cells.
        let cell = max(150, (900 - left - colorBar) / Double(max(columnLabels.count, 1)))
        let rowHeight = rowLabels.count > 6 ? max(40, min(cell, 1500 / Double(rowLabels.count))) : cell
        let valueSize = rowHeight < 100 ? min(24, rowHeight * 0.55) : 30.0
        let width = left + cell * Double(columnLabels.count) + colorBar, height = top + rowHeight * Double(rowLabels.count) + 50
        let canvas = Canvas(width: Int(width), height: Int(height), scale: scale)
        let finite = values.flatMap { $0 }.filter(\.isFinite)
        let bounds = range ?? ((finite.min() ?? 0)...(max(finite.max() ?? 1, (finite.min() ?? 0) + 1e-9)))
        text.draw(title, on: canvas, x: width / 2, y: 40, size: type.title, anchor: .center)
        if let subtitle { text.draw(subtitle, on: canvas, x: width / 2, y: 72, size: type.subtitle, color: .axis, anchor: .center) }
        text.draw(columnTitle, on: canvas, x: left + cell * Double(columnLabels.count) / 2, y: top - 52 - (perColumn ? 26 : 0),
                  size: type.axisTitle, color: .axis, anchor: .center)
        text.draw(rowTitle, on: canvas, x: 30, y: top + rowHeight * Double(rowLabels.count) / 2, size: type.axisTitle, color: .axis,
                  anchor: .center, rotated: true)
        for (c, label) in columnLabels.enumerated() {
            let labelY = top - 14 - (perColumn ? 26 : 0)
            text.draw(label, on: canvas, x: left + cell * (Double(c) + 0.5), y: labelY, size: type.category, anchor: .center)
            if let ranges = columnRanges, ranges.indices.contains(c) {
                let digits = columnDigits?[c] ?? 3
                let span = String(format: "%.\(digits)f to %.\(digits)f", ranges[c].lowerBound, ranges[c].upperBound)
                text.draw(span, on: canvas, x: left + cell * (Double(c) + 0.5), y: labelY + 26, size: type.tick, color: .axis,
                          anchor: .center)
            }
        }
        for (r, label) in rowLabels.enumerated() {
            text.draw(label, on: canvas, x: left - 14, y: top + rowHeight * (Double(r) + 0.5) + 6, size: type.category, anchor: .right)
            for c in values[r].indices {
                let value = values[r][c]
                let columnBounds = columnRanges.flatMap { $0.indices.contains(c) ? $0[c] : nil } ?? bounds
                let spread = columnBounds.upperBound - columnBounds.lowerBound
                // Values equal at the printed precision (a TopK SAE's L0) share the middle colour, not the scale's ends.
                let resolution = 0.5 * pow(10, -Double(columnDigits?[c] ?? 3))
                let t = spread > resolution ? (value - columnBounds.lowerBound) / spread : 0.5
                // A value outside the range is not coloured as an extreme of the scale: it is flagged grey.
                let inRange = value.isFinite && columnBounds.contains(value)
                let color = inRange ? Color.ramp(t) : Color.grid
                canvas.fillRect(x: left + cell * Double(c) + 1, y: top + rowHeight * Double(r) + 1, width: cell - 2, height: rowHeight - 2,
                                color: color)
                let ink: Color = !inRange || t > 0.6 ? .black : .white
                let note = rowHeight >= 100 && notes.indices.contains(r) && notes[r].indices.contains(c) ? notes[r][c] : ""
                let center = top + rowHeight * (Double(r) + 0.5)
                let digits = columnDigits?[c] ?? 3
                text.draw(value.isFinite ? String(format: "%.\(digits)f", value) : "n/a", on: canvas, x: left + cell * (Double(c) + 0.5),
                          y: center + (note.isEmpty ? valueSize * 0.3 : 0), size: valueSize, color: ink, anchor: .center)
                if !note.isEmpty {
                    text.draw(note, on: canvas, x: left + cell * (Double(c) + 0.5), y: center + 32, size: type.tick, color: ink, anchor: .center)
                }
                if value.isFinite, !inRange, rowHeight >= 100 {
                    text.draw("outside range", on: canvas, x: left + cell * (Double(c) + 0.5), y: center + 56, size: type.tick, color: ink, anchor: .center)
                }
            }
        }
        guard !perColumn else { return canvas }
        // The colour bar: what a colour means, with ticks on the range.
        ColorBar.draw(on: canvas, text: text, left: left + cell * Double(columnLabels.count) + 30, top: top,
                      height: rowHeight * Double(rowLabels.count), range: bounds)
        return canvas
    }
}

/// A vertical colour ramp with ticks on its range (what a heatmap's colours mean).
enum ColorBar {
    static let width = 26.0

    static func draw(on canvas: Canvas, text: TextRenderer, left: Double, top: Double, height: Double, range: ClosedRange<Double>) {
        let type = FigureType.self
        let steps = 120
        for i in 0..<steps {
            let t = 1 - Double(i) / Double(steps - 1)
            canvas.fillRect(x: left, y: top + height * Double(i) / Double(steps), width: width, height: height / Double(steps) + 0.6,
                            color: Color.ramp(t))
        }
        let span = range.upperBound - range.lowerBound
        guard span > 0 else { return }
        let ticks = Ticks.nice(range.lowerBound, range.upperBound, target: 4)
        let step = ticks.count > 1 ? ticks[1] - ticks[0] : span
        for value in ticks where range.contains(value) {
            let y = top + height * (1 - (value - range.lowerBound) / span)
            canvas.line(left + width, y, left + width + 6, y, width: 1.5, color: .axis)
            text.draw(Ticks.label(value, step: step), on: canvas, x: left + width + 10, y: y + 5.5, size: type.tick, color: .axis, anchor: .left)
        }
    }
}

/// Where a point label's text sits: its horizontal extent and baseline.
public struct LabelBox: Sendable, Equatable {
    public var left: Double
    public var right: Double
    public var baseline: Double
    public init(left: Double, right: Double, baseline: Double) {
        self.left = left
        self.right = right
        self.baseline = baseline
    }
}

extension Chart {
    /// A vertical offset per label so that no two overlap where that can be had within `tries`
    /// lines. Labels are placed from the highest down, each on its own line or else pushed down one
    /// line at a time (then up), so they keep the vertical order of their points; a place must be
    /// clear of the labels placed before it, with its baseline within `top`...`bottom` (else a
    /// label keeps its own line).
    public static func labelOffsets(_ boxes: [LabelBox], lineHeight: Double, tries: Int = 4,
                                    top: Double = -.infinity, bottom: Double = .infinity) -> [Double] {
        var placed: [LabelBox] = []
        var offsets = [Double](repeating: 0, count: boxes.count)
        let steps = 1...max(1, tries)
        let candidates = [0.0] + steps.map { Double($0) * lineHeight } + steps.map { -Double($0) * lineHeight }
        for index in boxes.indices.sorted(by: { (boxes[$0].baseline, $0) < (boxes[$1].baseline, $1) }) {
            let box = boxes[index]
            let offset = candidates.first { offset in
                (offset == 0 || (top...bottom).contains(box.baseline + offset)) && !placed.contains { other in
                    box.left < other.right && other.left < box.right && abs(box.baseline + offset - other.baseline) < lineHeight
                }
            } ?? 0
            offsets[index] = offset
            placed.append(LabelBox(left: box.left, right: box.right, baseline: box.baseline + offset))
        }
        return offsets
    }
}
