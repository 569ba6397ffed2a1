import Foundation
import SAEPipeCore

/// Decodes one column chunk: dictionary and data pages (v1 and v2), PLAIN and
/// (RLE_/PLAIN_)DICTIONARY values, RLE/bit-packed definition levels for nulls.
struct ColumnChunkDecoder {
    let file: ParquetFile
    let column: ParquetFile.Column
    let chunk: ParquetFile.Chunk
    var dictionary: [ParquetValue] = []

    init(file: ParquetFile, column: ParquetFile.Column, chunk: ParquetFile.Chunk) {
        self.file = file
        self.column = column
        self.chunk = chunk
    }

    func invalid(_ why: String) -> SAEPipeError {
        SAEPipeError.input("not a valid Parquet file: column `\(column.name)`: \(why)", file: file.path,
                           hint: "re-download the file; it may be corrupt")
    }

    mutating func decode() throws -> [ParquetValue?] {
        let raw = UnsafeRawBufferPointer(start: file.file.bytes, count: file.file.size)
        var cells: [ParquetValue?] = []
        cells.reserveCapacity(chunk.valueCount)
        var position = chunk.start
        while cells.count < chunk.valueCount {
            guard position < chunk.end else { throw invalid("pages end after \(cells.count) of \(chunk.valueCount) values") }
            var reader = ThriftReader(raw, at: position, source: file.path)
            let header = try reader.structure()
            let compressedSize = header[3]?.int ?? -1
            let uncompressedSize = header[2]?.int ?? -1
            let bodyStart = reader.position
            guard uncompressedSize >= 0, uncompressedSize <= ParquetFile.maximumPageBytes else {
                throw invalid("a page claims \(uncompressedSize) uncompressed bytes")
            }
            guard compressedSize >= 0, bodyStart <= chunk.end, compressedSize <= chunk.end - bodyStart else {
                throw invalid("a page runs past its column chunk")
            }
            let body = UnsafeRawBufferPointer(rebasing: raw[bodyStart..<(bodyStart + compressedSize)])
            position = bodyStart + compressedSize
            switch header[1]?.int {
            case 2:  // dictionary page
                let bytes = try ParquetCodec.decompress(body, codec: chunk.codec, expectedSize: uncompressedSize, source: file.path)
                let count = header[7]?[1]?.int ?? 0
                guard count >= 0 else { throw invalid("a dictionary of \(count) values") }
                dictionary = try bytes.withUnsafeBytes { try plainValues($0, count: count) }
            case 0:  // data page v1: levels and values compressed together
                guard let page = header[5] else { throw invalid("data page without its header") }
                let bytes = try ParquetCodec.decompress(body, codec: chunk.codec, expectedSize: uncompressedSize, source: file.path)
                try bytes.withUnsafeBytes { buffer in
                    var offset = 0
                    let count = try pageValueCount(page[1]?.int, decoded: cells.count)
                    var levels: [Int]?
                    if column.optional {
                        guard buffer.count >= 4 else { throw invalid("truncated definition levels") }
                        let length = Int(UInt32(littleEndian: buffer.loadUnaligned(as: UInt32.self)))
                        guard 4 + length <= buffer.count else { throw invalid("truncated definition levels") }
                        levels = try hybrid(UnsafeRawBufferPointer(rebasing: buffer[4..<(4 + length)]), bitWidth: 1, count: count)
                        offset = 4 + length
                    }
                    try append(&cells, values: UnsafeRawBufferPointer(rebasing: buffer[offset...]), encoding: page[2]?.int ?? 0,
                               count: count, levels: levels)
                }
            case 3:  // data page v2: levels stored uncompressed before the (maybe compressed) values
                guard let page = header[8] else { throw invalid("data page v2 without its header") }
                let count = try pageValueCount(page[1]?.int, decoded: cells.count)
                let definitionBytes = page[5]?.int ?? 0
                let repetitionBytes = page[6]?.int ?? 0
                guard definitionBytes >= 0, repetitionBytes >= 0, repetitionBytes <= body.count,
                    definitionBytes <= body.count - repetitionBytes, repetitionBytes + definitionBytes <= uncompressedSize
                else { throw invalid("levels run past the page") }
                var levels: [Int]?
                if column.optional {
                    levels = try hybrid(UnsafeRawBufferPointer(rebasing: body[repetitionBytes..<(repetitionBytes + definitionBytes)]),
                                        bitWidth: 1, count: count)
                }
                let valuesStart = repetitionBytes + definitionBytes
                let compressed = UnsafeRawBufferPointer(rebasing: body[valuesStart...])
                let values = (page[7]?.bool ?? true)
                    ? try ParquetCodec.decompress(compressed, codec: chunk.codec,
                                                  expectedSize: uncompressedSize - valuesStart, source: file.path)
                    : Array(compressed)
                try values.withUnsafeBytes { buffer in
                    try append(&cells, values: buffer, encoding: page[4]?.int ?? 0, count: count, levels: levels)
                }
            default:
                continue  // index pages carry nothing we need
            }
        }
        return cells
    }

    /// A page's value count, which must fit in what its chunk has left.
    private func pageValueCount(_ count: Int?, decoded: Int) throws -> Int {
        let count = count ?? 0
        guard count >= 0, count <= chunk.valueCount - decoded else {
            throw invalid("a page holds \(count) values, more than the \(chunk.valueCount - decoded) its chunk has left")
        }
        return count
    }

    /// Adds `count` cells: non-null values decoded from `values`, nulls where the level is 0.
    private func append(
        _ cells: inout [ParquetValue?], values: UnsafeRawBufferPointer, encoding: Int, count: Int, levels: [Int]?
    ) throws {
        let present = levels.map { $0.reduce(0, +) } ?? count
        let decoded: [ParquetValue]
        switch encoding {
        case 0:
            decoded = try plainValues(values, count: present)
        case 2, 8:
            guard !dictionary.isEmpty || present == 0 else { throw invalid("dictionary-encoded page without a dictionary") }
            guard let width = values.first else {
                decoded = []
                break
            }
            let indices = try hybrid(UnsafeRawBufferPointer(rebasing: values[1...]), bitWidth: Int(width), count: present)
            decoded = try indices.map { index in
                guard index < dictionary.count else { throw invalid("dictionary index \(index) out of range") }
                return dictionary[index]
            }
        default:
            throw SAEPipeError.input(
                "Parquet encoding \(encoding) is not supported (column `\(column.name)`)", file: file.path,
                hint: "saepipe reads PLAIN and dictionary encodings, pyarrow's defaults")
        }
        guard decoded.count == present else { throw invalid("page holds \(decoded.count) of \(present) values") }
        guard let levels else {
            cells.append(contentsOf: decoded.map { Optional($0) })
            return
        }
        var next = 0
        for level in levels {
            if level > 0 {
                cells.append(decoded[next])
                next += 1
            } else {
                cells.append(nil)
            }
        }
    }

    private func plainValues(_ buffer: UnsafeRawBufferPointer, count: Int) throws -> [ParquetValue] {
        var values: [ParquetValue] = []
        // Every value takes at least one bit, so the buffer bounds what is worth reserving.
        values.reserveCapacity(min(count, buffer.count * 8))
        var offset = 0
        func need(_ bytes: Int) throws {
            guard offset + bytes <= buffer.count else { throw invalid("values run past the page") }
        }
        if column.physicalType == 0 { try need((count + 7) / 8) }  // booleans are bit-packed
        for index in 0..<count {
            switch column.physicalType {
            case 0:
                values.append(.bool(buffer[index >> 3] >> (index & 7) & 1 == 1))
            case 1:
                try need(4)
                values.append(.int(Int64(Int32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: Int32.self)))))
                offset += 4
            case 2:
                try need(8)
                values.append(.int(Int64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: Int64.self))))
                offset += 8
            case 4:
                try need(4)
                values.append(.double(Double(Float(bitPattern: UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self))))))
                offset += 4
            case 5:
                try need(8)
                values.append(.double(Double(bitPattern: UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))))
                offset += 8
            case 6:
                try need(4)
                let length = Int(UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                offset += 4
                try need(length)
                values.append(.bytes(Array(buffer[offset..<(offset + length)])))
                offset += length
            default:
                throw SAEPipeError.input(
                    "column `\(column.name)` has Parquet physical type \(column.physicalType), which saepipe does not read",
                    file: file.path, hint: "saepipe reads BOOLEAN, INT32, INT64, FLOAT, DOUBLE and BYTE_ARRAY columns")
            }
        }
        return values
    }

    /// The RLE / bit-packing hybrid: runs of one repeated value and groups of 8 bit-packed values.
    private func hybrid(_ buffer: UnsafeRawBufferPointer, bitWidth: Int, count: Int) throws -> [Int] {
        guard bitWidth <= 32 else { throw invalid("bit width \(bitWidth)") }
        var result: [Int] = []
        result.reserveCapacity(count)  // callers bound count by the chunk's value count
        var reader = ThriftReader(buffer, source: file.path)
        let valueBytes = (bitWidth + 7) / 8
        while result.count < count {
            let header = try reader.varint()
            if header & 1 == 0 {
                let run = Int(header >> 1)  // < 2^63: fits
                var value = 0
                for byte in 0..<valueBytes { value |= Int(try reader.byte()) << (8 * byte) }
                result.append(contentsOf: repeatElement(value, count: min(run, count - result.count)))
            } else {
                let groups = header >> 1
                // Each group of 8 values takes bitWidth bytes.
                guard groups <= UInt64(buffer.count), Int(groups) * bitWidth <= buffer.count - reader.position else {
                    throw invalid("bit-packed run past the page")
                }
                let values = Int(groups) * 8
                let bytes = Int(groups) * bitWidth
                let mask = bitWidth == 0 ? 0 : (1 << bitWidth) - 1
                for index in 0..<min(values, count - result.count) {
                    let bit = index * bitWidth
                    var word = 0
                    for byte in 0..<min(5, (bit % 8 + bitWidth + 7) / 8) where reader.position + bit / 8 + byte < buffer.count {
                        word |= Int(buffer[reader.position + bit / 8 + byte]) << (8 * byte)
                    }
                    result.append((word >> (bit % 8)) & mask)
                }
                reader.position += bytes
            }
        }
        return result
    }
}
