import CFreeType
import Foundation
import SAEPipeCore

/// Anti-aliased text through FreeType with the bundled DejaVu Sans.
public final class TextRenderer: @unchecked Sendable {
    struct Glyph {
        var bitmap: [UInt8]
        var width: Int
        var rows: Int
        var left: Int
        var top: Int
        var advance: Double
    }

    private var library: FT_Library?
    private var face: FT_Face?
    private var cache: [String: Glyph] = [:]
    private let lock = NSLock()

    /// The font shipped with saepipe (DejaVu Sans; license beside it in the bundle).
    public static func bundledFontPath() throws -> String {
        guard let url = Bundle.module.url(forResource: "DejaVuSans", withExtension: "ttf") else {
            throw SAEPipeError.runtime("the bundled font DejaVuSans.ttf is missing", hint: "rebuild saepipe")
        }
        return url.path
    }

    public init(fontPath: String? = nil) throws {
        let path = try fontPath ?? TextRenderer.bundledFontPath()
        guard FT_Init_FreeType(&library) == 0, FT_New_Face(library, path, 0, &face) == 0 else {
            throw SAEPipeError.runtime("FreeType cannot open the font", file: path)
        }
    }

    deinit {
        if let face { FT_Done_Face(face) }
        if let library { FT_Done_FreeType(library) }
    }

    private func glyph(_ scalar: Unicode.Scalar, pixels: Int) -> Glyph {
        let key = "\(scalar.value)/\(pixels)"
        if let cached = cache[key] { return cached }
        FT_Set_Pixel_Sizes(face, 0, FT_UInt(pixels))
        var glyph = Glyph(bitmap: [], width: 0, rows: 0, left: 0, top: 0, advance: Double(pixels) * 0.5)
        if FT_Load_Char(face, FT_ULong(scalar.value), FT_Int32(FT_LOAD_RENDER)) == 0, let slot = face?.pointee.glyph {
            let bitmap = slot.pointee.bitmap
            let (w, h) = (Int(bitmap.width), Int(bitmap.rows))
            var pixelsOut = [UInt8](repeating: 0, count: w * h)
            if let buffer = bitmap.buffer {
                for row in 0..<h { for column in 0..<w { pixelsOut[row * w + column] = buffer[row * Int(bitmap.pitch) + column] } }
            }
            glyph = Glyph(bitmap: pixelsOut, width: w, rows: h, left: Int(slot.pointee.bitmap_left), top: Int(slot.pointee.bitmap_top),
                          advance: Double(slot.pointee.advance.x) / 64)
        }
        cache[key] = glyph
        return glyph
    }

    /// Width of `text` in points at `size` points on a canvas of `scale`.
    public func width(_ text: String, size: Double, scale: Double) -> Double {
        lock.lock()
        defer { lock.unlock() }
        let pixels = Int((size * scale).rounded())
        return text.unicodeScalars.reduce(0) { $0 + glyph($1, pixels: pixels).advance } / scale
    }

    public enum Anchor { case left, center, right }

    /// Draws `text` with its baseline at y (points); `rotated` turns it 90° counter-clockwise
    /// (for y-axis titles), anchored around (x, y).
    public func draw(_ text: String, on canvas: Canvas, x: Double, y: Double, size: Double, color: Color = .black,
                     anchor: Anchor = .left, rotated: Bool = false) {
        lock.lock()
        defer { lock.unlock() }
        let scale = canvas.scale
        let pixels = Int((size * scale).rounded())
        let total = text.unicodeScalars.reduce(0) { $0 + glyph($1, pixels: pixels).advance }
        let shift = anchor == .left ? 0 : anchor == .center ? total / 2 : total
        var pen = 0.0
        let (ox, oy) = (x * scale, y * scale)
        for scalar in text.unicodeScalars {
            let g = glyph(scalar, pixels: pixels)
            for row in 0..<g.rows {
                for column in 0..<g.width {
                    let coverage = Double(g.bitmap[row * g.width + column]) / 255
                    guard coverage > 0 else { continue }
                    // Along the text (u) and across it (v, downward), relative to the anchor.
                    let u = pen - shift + Double(g.left + column), v = Double(row - g.top)
                    let (px, py) = rotated ? (ox + v, oy - u) : (ox + u, oy + v)
                    canvas.blend(Int(px.rounded(.down)), Int(py.rounded(.down)), color, coverage)
                }
            }
            pen += g.advance
        }
    }
}
