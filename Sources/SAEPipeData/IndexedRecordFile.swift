import CZstd
import Foundation
import SAEPipeCore

/// A file of zstd-compressed records behind an offset index, so a reader loads one record
/// without reading the others (docs/formats.md, "Indexed record files").
///
/// Layout, integers little-endian UInt64: the 8-byte magic `SAEPREC1`; the header's length and
/// the header bytes; the record count n; n + 1 offsets into the record area (the first 0, each
/// no smaller than the one before, the last its size); the record area, each record one zstd frame.
public enum IndexedRecordFile {
    public static let magic = Array("SAEPREC1".utf8)
    /// Limits a reader holds a file to: no header or record inflates past these.
    public static let maxHeaderBytes = 16 << 20
    public static let maxRecordBytes = 64 << 20
    public static let maxRecords = 1 << 26

    /// Writes `header` and `records` to `path` (through a temporary file renamed into place).
    public static func write(header: Data, records: [Data], to path: String, level: Int32 = 9) throws {
        var compressed: [Data] = []
        compressed.reserveCapacity(records.count)
        for record in records { compressed.append(try compress(record, level: level)) }
        var out = Data(magic)
        func append(_ value: Int) { withUnsafeBytes(of: UInt64(value).littleEndian) { out.append(contentsOf: $0) } }
        append(header.count)
        out.append(header)
        append(compressed.count)
        var offset = 0
        append(0)
        for blob in compressed {
            offset += blob.count
            append(offset)
        }
        for blob in compressed { out.append(blob) }
        try FileSystem.writeAtomically(out, to: path)
    }

    /// One zstd frame with its content size and a checksum, so a damaged record fails to inflate
    /// instead of inflating to different bytes.
    static func compress(_ data: Data, level: Int32) throws -> Data {
        guard let context = ZSTD_createCCtx() else { throw SAEPipeError.runtime("zstd could not allocate a compression context") }
        defer { ZSTD_freeCCtx(context) }
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
        let bound = ZSTD_compressBound(data.count)
        var output = Data(count: bound)
        let written = output.withUnsafeMutableBytes { out in
            data.withUnsafeBytes { input in ZSTD_compress2(context, out.baseAddress, bound, input.baseAddress, input.count) }
        }
        guard ZSTD_isError(written) == 0 else {
            throw SAEPipeError.runtime("zstd could not compress a record: \(String(cString: ZSTD_getErrorName(written)))")
        }
        return output.prefix(written)
    }

    /// A file opened for reading records one at a time; the bytes are memory-mapped.
    public struct Reader: Sendable {
        public let path: String
        public let header: Data
        public let count: Int
        let bytes: Data
        /// Where the offsets and the record area start in `bytes`.
        let offsetsStart: Int
        let recordsStart: Int

        public init(path: String) throws {
            let bytes: Data
            do {
                bytes = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
            } catch {
                throw SAEPipeError.input("cannot read \(path): \(error.localizedDescription)", file: path)
            }
            try self.init(bytes: bytes, path: path)
        }

        /// Reads a file's bytes already in memory (`path` names it in errors).
        public init(bytes: Data, path: String) throws {
            self.path = path
            self.bytes = bytes
            func corrupt(_ why: String) -> SAEPipeError {
                SAEPipeError.input("not a readable indexed record file: \(why)", file: path, hint: "rerun the stage that wrote it")
            }
            func integer(at position: Int) throws -> Int {
                guard position >= 0, position <= bytes.count - 8 else { throw corrupt("it ends early (\(bytes.count) bytes)") }
                let value = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: position, as: UInt64.self)) }
                guard value <= UInt64(Int.max) else { throw corrupt("a length of \(value) bytes") }
                return Int(value)
            }
            guard bytes.count >= 8, Array(bytes.prefix(8)) == IndexedRecordFile.magic else { throw corrupt("it does not start with SAEPREC1") }
            let headerLength = try integer(at: 8)
            guard headerLength <= IndexedRecordFile.maxHeaderBytes, headerLength <= bytes.count - 16 else {
                throw corrupt("a header of \(headerLength) bytes in a \(bytes.count)-byte file")
            }
            header = bytes.subdata(in: 16..<(16 + headerLength))
            count = try integer(at: 16 + headerLength)
            guard count <= IndexedRecordFile.maxRecords else { throw corrupt("\(count) records, more than the limit of \(IndexedRecordFile.maxRecords)") }
            offsetsStart = 24 + headerLength
            let (tableBytes, overflow) = (count + 1).multipliedReportingOverflow(by: 8)
            guard !overflow, tableBytes <= bytes.count - offsetsStart else { throw corrupt("an index of \(count + 1) offsets does not fit") }
            recordsStart = offsetsStart + tableBytes
            let last = try integer(at: offsetsStart + count * 8)
            guard last == bytes.count - recordsStart else {
                throw corrupt("the index ends at \(last) but the record area holds \(bytes.count - recordsStart) bytes")
            }
        }

        /// Record `index`, decompressed; an index outside 0..<count, a bad offset or a bad frame throws.
        public func record(_ index: Int) throws -> Data {
            func corrupt(_ why: String) -> SAEPipeError {
                SAEPipeError.input("record \(index) is unreadable: \(why)", file: path, hint: "rerun the stage that wrote it")
            }
            guard index >= 0, index < count else {
                throw SAEPipeError.input("no record \(index): the file holds \(count)", file: path)
            }
            let (start, end) = bytes.withUnsafeBytes { raw in
                (UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offsetsStart + index * 8, as: UInt64.self)),
                 UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offsetsStart + index * 8 + 8, as: UInt64.self)))
            }
            let area = UInt64(bytes.count - recordsStart)
            guard start <= end, end <= area else { throw corrupt("offsets \(start)..<\(end) outside the \(area)-byte record area") }
            let frame = bytes[(recordsStart + Int(start))..<(recordsStart + Int(end))]
            return try frame.withUnsafeBytes { input -> Data in
                let size = ZSTD_getFrameContentSize(input.baseAddress, input.count)
                guard size != ZSTD_CONTENTSIZE_ERROR else { throw corrupt("not a zstd frame") }
                // A frame without its size (written by a streaming compressor) inflates in steps, up to the limit.
                guard size != ZSTD_CONTENTSIZE_UNKNOWN else { return try inflateStreaming(input, corrupt: corrupt) }
                guard size <= UInt64(IndexedRecordFile.maxRecordBytes) else {
                    throw corrupt("it inflates to \(size) bytes, more than the limit of \(IndexedRecordFile.maxRecordBytes)")
                }
                var output = Data(count: Int(size))
                let written = output.withUnsafeMutableBytes { out in ZSTD_decompress(out.baseAddress, Int(size), input.baseAddress, input.count) }
                guard ZSTD_isError(written) == 0, written == Int(size) else {
                    throw corrupt(ZSTD_isError(written) != 0 ? String(cString: ZSTD_getErrorName(written)) : "\(written) of \(size) bytes")
                }
                return output
            }
        }

        func inflateStreaming(_ input: UnsafeRawBufferPointer, corrupt: (String) -> SAEPipeError) throws -> Data {
            guard let stream = ZSTD_createDStream() else { throw corrupt("zstd could not allocate a decompression stream") }
            defer { ZSTD_freeDStream(stream) }
            var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
            var output = Data()
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let (status, produced) = chunk.withUnsafeMutableBytes { out -> (Int, Int) in
                    var target = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                    let status = ZSTD_decompressStream(stream, &target, &source)
                    return (status, target.pos)
                }
                guard ZSTD_isError(status) == 0 else { throw corrupt(String(cString: ZSTD_getErrorName(status))) }
                output.append(contentsOf: chunk[0..<produced])
                guard output.count <= IndexedRecordFile.maxRecordBytes else {
                    throw corrupt("it inflates past the limit of \(IndexedRecordFile.maxRecordBytes) bytes")
                }
                if status == 0 {
                    guard source.pos == source.size else { throw corrupt("bytes after the frame") }
                    return output
                }
                if produced == 0 && source.pos == source.size { throw corrupt("the frame ends early") }
            }
        }
    }
}
