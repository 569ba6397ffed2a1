import CSnappy
import CZlib
import CZstd
import Foundation
import SAEPipeCore

/// Page decompression through the system codec libraries.
enum ParquetCodec {
    /// Parquet's CompressionCodec ids.
    static func name(_ codec: Int) -> String {
        ["UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"].indices.contains(codec)
            ? ["UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"][codec] : "codec \(codec)"
    }

    static func decompress(_ input: UnsafeRawBufferPointer, codec: Int, expectedSize: Int, source: String) throws -> [UInt8] {
        func corrupt(_ why: String) -> SAEPipeError {
            SAEPipeError.input("a \(name(codec)) page does not decompress: \(why)", file: source,
                               hint: "re-download the file; it may be corrupt")
        }
        var output = [UInt8](repeating: 0, count: expectedSize)
        switch codec {
        case 0:
            guard input.count == expectedSize else { throw corrupt("size \(input.count), header says \(expectedSize)") }
            output.withUnsafeMutableBytes { $0.copyMemory(from: input) }
        case 1:
            var length = expectedSize
            let status = output.withUnsafeMutableBytes { out in
                snappy_uncompress(input.baseAddress?.assumingMemoryBound(to: CChar.self), input.count,
                                  out.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
            }
            guard status == SNAPPY_OK, length == expectedSize else { throw corrupt("snappy status \(status.rawValue)") }
        case 2:
            var stream = z_stream()
            // 16 + MAX_WBITS: a gzip wrapper, as Parquet's GZIP pages carry.
            guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw corrupt("zlib init failed")
            }
            defer { inflateEnd(&stream) }
            let status = output.withUnsafeMutableBytes { out -> Int32 in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
                stream.avail_in = uInt(input.count)
                stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(expectedSize)
                return inflate(&stream, Z_FINISH)
            }
            guard status == Z_STREAM_END, Int(stream.total_out) == expectedSize else { throw corrupt("zlib status \(status)") }
        case 6:
            let written = output.withUnsafeMutableBytes { out in
                ZSTD_decompress(out.baseAddress, expectedSize, input.baseAddress, input.count)
            }
            guard ZSTD_isError(written) == 0, written == expectedSize else {
                throw corrupt(ZSTD_isError(written) != 0 ? String(cString: ZSTD_getErrorName(written)) : "size \(written)")
            }
        default:
            throw SAEPipeError.input(
                "Parquet compression \(name(codec)) is not supported", file: source,
                hint: "saepipe reads uncompressed, SNAPPY, GZIP and ZSTD pages; rewrite the file with one of them")
        }
        return output
    }
}
