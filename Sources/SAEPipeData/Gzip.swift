import CZlib
import Foundation
import SAEPipeCore

/// gzip through zlib, for files a browser inflates itself (`DecompressionStream("gzip")`).
public enum Gzip {
    /// The gzip header zlib writes carries no time or name, so the same bytes give the same output.
    public static func compress(_ data: Data, level: Int32 = 9) throws -> Data {
        var stream = z_stream()
        guard deflateInit2_(&stream, level, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw SAEPipeError.runtime("zlib could not start compressing")
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(data.count)))
        var output = Data(count: bound)
        let status = output.withUnsafeMutableBytes { out in
            data.withUnsafeBytes { input -> Int32 in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
                stream.avail_in = uInt(input.count)
                stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(bound)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw SAEPipeError.runtime("zlib could not compress (status \(status))") }
        return output.prefix(Int(stream.total_out))
    }
}
