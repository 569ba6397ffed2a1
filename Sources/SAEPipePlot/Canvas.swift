import CPNG
import Foundation
import SAEPipeCore

/// An sRGB color with 8-bit channels.
public struct Color: Sendable, Equatable {
    public var r: UInt8, g: UInt8, b: UInt8

    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        (self.r, self.g, self.b) = (r, g, b)
    }

    public init(hex: UInt32) {
        self.init(UInt8((hex >> 16) & 0xFF), UInt8((hex >> 8) & 0xFF), UInt8(hex & 0xFF))
    }

    public static let white = Color(255, 255, 255)
    public static let black = Color(0, 0, 0)
    public static let grid = Color(228, 228, 228)
    public static let axis = Color(90, 90, 90)

    /// The same hue at 60% brightness (whiskers over filled marks).
    public var darker: Color { Color(UInt8(Double(r) * 0.6), UInt8(Double(g) * 0.6), UInt8(Double(b) * 0.6)) }

    /// This color moved `amount` (0…1) of the way toward `other` (shades of one hue for ordered series).
    public func mixed(with other: Color, amount: Double) -> Color {
        let t = min(max(amount, 0), 1)
        func mix(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Double(a) * (1 - t) + Double(b) * t).rounded()) }
        return Color(mix(r, other.r), mix(g, other.g), mix(b, other.b))
    }

    /// Okabe–Ito: distinguishable with the common color-vision deficiencies.
    public static let palette: [Color] = [0x0072B2, 0xE69F00, 0x009E73, 0xCC79A7, 0x56B4E9, 0xD55E00, 0xF0E442, 0x000000]
        .map { Color(hex: $0) }

    /// A perceptually ordered, color-blind-safe ramp (viridis, sampled) for heatmaps; t in 0...1.
    public static func ramp(_ t: Double) -> Color {
        let stops: [UInt32] = [0x440154, 0x3B528B, 0x21918C, 0x5EC962, 0xFDE725]
        let x = min(max(t.isFinite ? t : 0, 0), 1) * Double(stops.count - 1)
        let i = min(Int(x), stops.count - 2), f = x - Double(i)
        let (a, b) = (Color(hex: stops[i]), Color(hex: stops[i + 1]))
        func mix(_ p: UInt8, _ q: UInt8) -> UInt8 { UInt8((Double(p) * (1 - f) + Double(q) * f).rounded()) }
        return Color(mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b))
    }
}

/// An RGB raster with anti-aliased drawing; coordinates are in points, scaled by `scale`
/// (2 gives a high-resolution image of the same layout).
public final class Canvas {
    public let width: Int
    public let height: Int
    public let scale: Double
    public private(set) var pixels: [UInt8]

    public init(width: Int, height: Int, scale: Double = 1, background: Color = .white) {
        self.scale = scale
        self.width = Int((Double(width) * scale).rounded())
        self.height = Int((Double(height) * scale).rounded())
        pixels = [UInt8](repeating: 0, count: self.width * self.height * 3)
        for i in 0..<(self.width * self.height) {
            pixels[3 * i] = background.r
            pixels[3 * i + 1] = background.g
            pixels[3 * i + 2] = background.b
        }
    }

    /// Mixes `color` into one device pixel with coverage `alpha` in 0...1.
    @inline(__always)
    func blend(_ x: Int, _ y: Int, _ color: Color, _ alpha: Double) {
        guard x >= 0, y >= 0, x < width, y < height, alpha > 0 else { return }
        let a = min(alpha, 1), i = 3 * (y * width + x)
        pixels[i] = UInt8((Double(pixels[i]) * (1 - a) + Double(color.r) * a).rounded())
        pixels[i + 1] = UInt8((Double(pixels[i + 1]) * (1 - a) + Double(color.g) * a).rounded())
        pixels[i + 2] = UInt8((Double(pixels[i + 2]) * (1 - a) + Double(color.b) * a).rounded())
    }

    public func pixel(_ x: Int, _ y: Int) -> Color {
        let i = 3 * (y * width + x)
        return Color(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// A filled axis-aligned rectangle (edges anti-aliased by partial coverage).
    /// A negative width or height extends the other way; off-canvas parts are clipped.
    public func fillRect(x: Double, y: Double, width w: Double, height h: Double, color: Color, alpha: Double = 1) {
        guard x.isFinite, y.isFinite, w.isFinite, h.isFinite else { return }
        let (x0, x1) = (min(x, x + w) * scale, max(x, x + w) * scale)
        let (y0, y1) = (min(y, y + h) * scale, max(y, y + h) * scale)
        let (rowStart, rowEnd) = (max(0, Int(y0.rounded(.down))), min(height, Int(y1.rounded(.up))))
        let (columnStart, columnEnd) = (max(0, Int(x0.rounded(.down))), min(width, Int(x1.rounded(.up))))
        guard rowStart < rowEnd, columnStart < columnEnd else { return }
        for py in rowStart..<rowEnd {
            let cy = min(Double(py + 1), y1) - max(Double(py), y0)
            for px in columnStart..<columnEnd {
                let cx = min(Double(px + 1), x1) - max(Double(px), x0)
                blend(px, py, color, alpha * cx * cy)
            }
        }
    }

    /// A line segment of width `lineWidth` points with round caps; coverage from the
    /// distance of each pixel centre to the segment gives the anti-aliasing.
    public func line(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, width lineWidth: Double = 1.5, color: Color, alpha: Double = 1) {
        let (ax, ay, bx, by) = (x0 * scale, y0 * scale, x1 * scale, y1 * scale)
        let half = max(lineWidth * scale, 0.7) / 2
        let (dx, dy) = (bx - ax, by - ay)
        let length2 = dx * dx + dy * dy
        let minX = max(0, Int((min(ax, bx) - half - 1).rounded(.down))), maxX = min(width - 1, Int((max(ax, bx) + half + 1).rounded(.up)))
        let minY = max(0, Int((min(ay, by) - half - 1).rounded(.down))), maxY = min(height - 1, Int((max(ay, by) + half + 1).rounded(.up)))
        guard minX <= maxX, minY <= maxY else { return }
        for py in minY...maxY {
            for px in minX...maxX {
                let (cx, cy) = (Double(px) + 0.5, Double(py) + 0.5)
                let t = length2 > 0 ? min(max(((cx - ax) * dx + (cy - ay) * dy) / length2, 0), 1) : 0
                let (qx, qy) = (ax + t * dx - cx, ay + t * dy - cy)
                let distance = (qx * qx + qy * qy).squareRoot()
                blend(px, py, color, alpha * min(max(half + 0.5 - distance, 0), 1))
            }
        }
    }

    public func polyline(_ points: [(Double, Double)], width: Double = 1.5, color: Color) {
        for (a, b) in zip(points, points.dropFirst()) { line(a.0, a.1, b.0, b.1, width: width, color: color) }
    }

    /// A filled disc (scatter marks).
    public func disc(_ x: Double, _ y: Double, radius: Double, color: Color, alpha: Double = 1) {
        let (cx, cy, r) = (x * scale, y * scale, radius * scale)
        for py in max(0, Int(cy - r - 1))...min(height - 1, Int(cy + r + 1)) {
            for px in max(0, Int(cx - r - 1))...min(width - 1, Int(cx + r + 1)) {
                let distance = ((Double(px) + 0.5 - cx) * (Double(px) + 0.5 - cx) + (Double(py) + 0.5 - cy) * (Double(py) + 0.5 - cy)).squareRoot()
                blend(px, py, color, alpha * min(max(r + 0.5 - distance, 0), 1))
            }
        }
    }

    /// Writes an 8-bit RGB PNG through libpng's simplified API (no timestamps: same pixels,
    /// same bytes), to a temporary file renamed into place.
    public func writePNG(to path: String) throws {
        // A bare file name lives in the working directory, not in "" (nor beside "/").
        let directory = FileSystem.parent(of: path).isEmpty ? "." : FileSystem.parent(of: path)
        try FileSystem.createDirectory(directory)
        let temporary = directory + "/.\(FileSystem.lastComponent(of: path)).tmp-\(FileSystem.ownerTag)"
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = UInt32(PNG_FORMAT_RGB)
        let ok = pixels.withUnsafeBufferPointer { buffer in
            png_image_write_to_file(&image, temporary, 0, buffer.baseAddress, Int32(width * 3), nil)
        }
        guard ok != 0 else {
            let message = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            FileSystem.remove(temporary)
            throw SAEPipeError.runtime("cannot write PNG: \(message)", file: path)
        }
        try FileSystem.rename(from: temporary, to: path)
    }
}
