import Foundation

/// A grid too large for numbered cells (thousands of rows): every row a thin band of colour
/// across its columns, with column labels, a row-axis title and a colour bar.
public struct RasterHeatmap {
    public var title: String
    public var subtitle: String?
    public var rowTitle: String
    public var columnTitle: String
    public var columnLabels: [String]
    /// Rows of equal length, one per drawn row, top to bottom.
    public var values: [[Double]]
    public var range: ClosedRange<Double>
    public var colorBarTitle: String
    /// Marks down the left edge: (row index, text), e.g. where each group of rows starts.
    public var rowMarks: [(row: Int, text: String)] = []
    public var width: Double = 1200
    public var height: Double = 900

    public init(title: String, rowTitle: String, columnTitle: String, columnLabels: [String], values: [[Double]],
                range: ClosedRange<Double>, colorBarTitle: String) {
        (self.title, self.rowTitle, self.columnTitle, self.columnLabels) = (title, rowTitle, columnTitle, columnLabels)
        (self.values, self.range, self.colorBarTitle) = (values, range, colorBarTitle)
    }

    public func render(scale: Double = 1, text: TextRenderer) -> Canvas {
        let type = FigureType.self
        let canvas = Canvas(width: Int(width), height: Int(height), scale: scale)
        let left = 150.0, right = 190.0, top = subtitle == nil ? 100.0 : 126.0, bottom = 110.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        text.draw(title, on: canvas, x: width / 2, y: 40, size: type.title, anchor: .center)
        if let subtitle { text.draw(subtitle, on: canvas, x: width / 2, y: 72, size: type.subtitle, color: .axis, anchor: .center) }
        let columns = max(columnLabels.count, 1), rows = max(values.count, 1)
        let cellWidth = plotWidth / Double(columns), rowHeight = plotHeight / Double(rows)
        let spread = range.upperBound - range.lowerBound
        // Rows thinner than a pixel share one: each pixel row shows the mean of the rows it covers.
        let pixelRows = min(rows, Int(plotHeight.rounded()))
        for pixel in 0..<pixelRows {
            let first = pixel * rows / pixelRows, last = max(first + 1, (pixel + 1) * rows / pixelRows)
            let y0 = top + Double(first) * rowHeight, y1 = top + Double(last) * rowHeight
            for c in 0..<columns {
                let cells = values[first..<last].compactMap { c < $0.count && $0[c].isFinite ? $0[c] : nil }
                guard !cells.isEmpty else { continue }
                let mean = cells.reduce(0, +) / Double(cells.count)
                let t = spread > 0 ? (mean - range.lowerBound) / spread : 0.5
                canvas.fillRect(x: left + Double(c) * cellWidth, y: y0, width: cellWidth + 0.5, height: y1 - y0 + 0.5, color: Color.ramp(t))
            }
        }
        canvas.line(left, top + plotHeight, left + plotWidth, top + plotHeight, width: 1.5, color: .axis)
        canvas.line(left, top, left, top + plotHeight, width: 1.5, color: .axis)
        // Column labels: all when they fit, else every n-th.
        let every = max(1, Int((Double(columns) * 34 / plotWidth).rounded(.up)))
        for (c, label) in columnLabels.enumerated() where c % every == 0 {
            let x = left + (Double(c) + 0.5) * cellWidth
            canvas.line(x, top + plotHeight, x, top + plotHeight + 6, width: 1.5, color: .axis)
            text.draw(label, on: canvas, x: x, y: top + plotHeight + 28, size: type.tick, color: .axis, anchor: .center)
        }
        text.draw(columnTitle, on: canvas, x: left + plotWidth / 2, y: top + plotHeight + 70, size: type.axisTitle, color: .axis, anchor: .center)
        text.draw(rowTitle, on: canvas, x: 40, y: top + plotHeight / 2, size: type.axisTitle, color: .axis, anchor: .center, rotated: true)
        for mark in rowMarks where mark.row >= 0 && mark.row < rows {
            let y = top + (Double(mark.row) + 0.5) * rowHeight
            canvas.line(left - 6, y, left, y, width: 1.5, color: .axis)
            text.draw(mark.text, on: canvas, x: left - 10, y: y + 5.5, size: type.tick, color: .axis, anchor: .right)
        }
        let barLeft = left + plotWidth + 40
        ColorBar.draw(on: canvas, text: text, left: barLeft, top: top, height: plotHeight, range: range)
        text.draw(colorBarTitle, on: canvas, x: barLeft + ColorBar.width + 80, y: top + plotHeight / 2, size: type.tick, color: .axis,
                  anchor: .center, rotated: true)
        return canvas
    }
}
